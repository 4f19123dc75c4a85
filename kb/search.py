"""Searching the tenant's knowledge base: passages for drafts, articles for people.

Hybrid, in one SQL statement per search (docs/kb-search.md has the measurements):

- meaning: the chunks nearest the question's embedding, over the HNSW index (cosine), with
  `hnsw.ef_search` set for the statement (SET LOCAL) and iterative scans so that the locale,
  category and published filters do not starve the index scan;
- words: full text with each row's own configuration (`websearch_to_tsquery(search_config, q)`),
  its terms joined by OR so a long question still matches the passages sharing its rare
  words, ranked by `ts_rank_cd`;
- typos: pg_trgm `word_similarity` of each query word against article titles (the trigram
  index on titles), which finds "refnud" in "Refunds";

fused by weighted reciprocal rank fusion: score = sum over the three lists of
weight / (RRF_K + rank). The weights are not guessed: `kb_evaluate --sweep` measures them on
the labelled questions in kb/evaluation/ and the chosen ones are `DEFAULT_WEIGHTS`.

`articles_search` gives one result per article (its best passage as a `ts_headline` snippet);
`passages_retrieve` gives chunks, with each chunk's cosine `similarity` to the question, which
drafts compare with `RELEVANCE_FLOOR`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from django.db import connection, transaction

from kb.embedding import query_embed
from kb.models import EMBEDDING_DIMENSIONS, Article, search_config_for

# A passage whose cosine similarity to the question is below this answers nothing: drafts say
# so ("no source") and record a knowledge gap. Measured with E5-small on the demo help centre
# (`kb_evaluate --floor`, docs/kb-search.md): the best passage of 185 answerable questions
# scored 0.824-0.925, of 30 questions no article answers 0.778-0.856; 0.82 keeps every
# answerable one and stops 73% of the others (0.83: 98% and 80%). Lower, a draft cites a
# passage that does not answer; higher, real questions become "no source" and false gaps.
RELEVANCE_FLOOR = 0.82

# Longest query searched; the APIs refuse longer ones with a 400 (a question, not a document).
QUERY_MAX_LENGTH = 500


@dataclass(frozen=True)
class Weights:
    """Weights of the three ranked lists in the fusion, and the RRF constant."""

    vector: float
    words: float
    trigram: float
    k: int = 60


# Chosen by `manage.py kb_evaluate --sweep` on kb/evaluation/questions.jsonl (the sweep's table
# is in docs/kb-search.md) and checked on the held-out help centre.
DEFAULT_WEIGHTS = Weights(vector=1.0, words=0.15, trigram=0.05, k=5)

# How many chunks each list contributes before fusion; ef_search must be at least the number
# of neighbours asked for (bench/kb_search.py measures recall@10 against exact search).
CANDIDATES = 60
EF_SEARCH = 200  # with the index's m=32: recall@10 0.96 at 100,000 chunks (docs/performance.md)
# Most matching passages the words list reads and ranks. A long question's OR query matches
# tens of thousands of chunks at 100,000 (bench/kb_search.py), and fetching and ranking 3,000 of
# them took 170 ms; a help centre of a few hundred articles never reaches the cap, and above
# it the words list (weight 0.15) ranks a sample of the matches while meaning ranks them all.
WORDS_SCAN_MAX = 500
# A query word this similar (pg_trgm word_similarity) to a title counts as a typo of it.
TRIGRAM_THRESHOLD = 0.5
# Words shorter than this are not typo-matched (too many titles share their trigrams).
TRIGRAM_MIN_WORD = 4
# ts_headline markers: control characters no article contains; the headline is HTML-escaped,
# then they become <mark> tags, so a snippet is safe to show as HTML.
_MARK_START, _MARK_STOP = "\x02", "\x03"


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    article_id: int
    slug: str
    title: str
    heading_path: str
    text: str
    score: float  # the fused score: only for ordering
    similarity: float  # cosine similarity of question and passage, 0..1: compare with RELEVANCE_FLOOR


@dataclass(frozen=True)
class SearchResult:
    article_id: int
    slug: str
    title: str
    snippet: str  # the best passage, words of the query highlighted (<mark>), HTML-escaped otherwise
    score: float
    locale: str
    category: str
    heading_path: str


class InvalidQuery(ValueError):
    """The query cannot be searched (empty, too long, NUL): the APIs answer 400."""


def query_clean(query: str) -> str:
    """The query as searched, or InvalidQuery saying why not."""
    if not isinstance(query, str):
        raise InvalidQuery("the query must be text")
    if "\x00" in query:
        raise InvalidQuery("the query contains a NUL character")
    query = " ".join(query.split())
    if not query:
        raise InvalidQuery("the query is empty")
    if len(query) > QUERY_MAX_LENGTH:
        raise InvalidQuery(f"the query is longer than {QUERY_MAX_LENGTH} characters")
    return query


def query_vector(query: str, *, conversation=None, message=None) -> list[float] | None:
    """The question's embedding by the model the passages were embedded with
    (kb.embedding.query_embed), or None when it does not fit the stored chunks (search then
    runs on words alone). `conversation`/`message` link the ledger row to what was answered."""
    embedded = query_embed(query, conversation=conversation, message=message)
    vector = embedded.vectors[0] if embedded.vectors else None
    return list(vector) if vector is not None and len(vector) == EMBEDDING_DIMENSIONS else None


def _trigram_words(query: str) -> list[str]:
    words = {w.strip(".,;:!?()[]\"'").upper() for w in query.split()}
    return sorted(w for w in words if len(w) >= TRIGRAM_MIN_WORD)[:8]


def _configs(locale: str | None) -> list[str]:
    """Text search configurations to parse the query with: one per language searched."""
    if locale:
        return [search_config_for(locale)]
    locales = Article.objects.filter(status=Article.Status.PUBLISHED).values_list("locale", flat=True).distinct()
    return sorted({search_config_for(loc) for loc in locales}) or ["simple"]


# The candidates of each list, ranked; `level` below turns them into chunk or article results.
# Parameters: vec, q, configs (array), words (array), locale, category, n.
_CANDIDATES_SQL = """
WITH published AS MATERIALIZED (
    -- One array, computed once: a plain filter on each chunk, so the planner keeps the HNSW
    -- index scan (a join here makes it sort every chunk by distance instead).
    SELECT COALESCE(array_agg(id), '{}') AS ids FROM kb_article
    WHERE status = 'published'
      AND (%(locale)s::text IS NULL OR locale = %(locale)s)
      AND (%(category)s::text IS NULL OR category = %(category)s)
),
queries AS (
    -- websearch_to_tsquery joins terms with AND; OR lets a question match the passages that
    -- share its rarest words (ts_rank_cd ranks those with more of them higher).
    SELECT cfg AS config,
           NULLIF(replace(websearch_to_tsquery(cfg::regconfig, %(q)s)::text, ' & ', ' | '), '')::tsquery AS tsq
    FROM unnest(%(configs)s::text[]) AS cfg
),
vec AS (
    SELECT id, article_id, row_number() OVER (ORDER BY distance, id) AS rank FROM (
        SELECT c.id, c.article_id, c.embedding <=> %(vec)s::vector AS distance
        FROM kb_chunk c
        WHERE %(vec)s::vector IS NOT NULL AND c.embedding IS NOT NULL
          -- "+ 0": not the article_id index (the planner would then sort every chunk of the
          -- published articles by distance); the HNSW scan filters as it walks.
          AND c.article_id + 0 = ANY((SELECT ids FROM published)::bigint[])
        ORDER BY c.embedding <=> %(vec)s::vector
        LIMIT %(n)s
    ) d
),
words AS (
    SELECT id, article_id, row_number() OVER (ORDER BY r DESC, id) AS rank FROM (
        SELECT m.id, m.article_id, ts_rank_cd(m.search_vector, m.tsq) AS r FROM (
            -- Ranking reads every matching row's vector: at most WORDS_SCAN_MAX of them, so a
            -- question full of common words costs the same in a large help centre.
            SELECT c.id, c.article_id, c.search_vector, qq.tsq
            FROM kb_chunk c JOIN queries qq ON qq.config = c.search_config
            WHERE qq.tsq IS NOT NULL AND c.search_vector @@ qq.tsq
              AND c.article_id + 0 = ANY((SELECT ids FROM published)::bigint[])
            LIMIT %(scan)s
        ) m
        ORDER BY r DESC, m.id
        LIMIT %(n)s
    ) w
),
trigram AS (
    -- Per query word, the titles containing a word like it; an article's score is the sum
    -- over the query's words, so "cancle subscribtion" prefers the title with both.
    SELECT a.id AS article_id, row_number() OVER (ORDER BY sum(word_similarity(w, upper(a.title))) DESC, a.id) AS rank
    FROM kb_article a JOIN unnest(%(words)s::text[]) AS w ON w <%% upper(a.title)
    WHERE a.id = ANY((SELECT ids FROM published)::bigint[])
    GROUP BY a.id
    ORDER BY rank
    LIMIT %(n)s
)
"""

_ARTICLES_SQL = _CANDIDATES_SQL + """,
ranked AS (
    SELECT article_id, min(rank) AS rank, 'vec' AS list FROM vec GROUP BY article_id
    UNION ALL SELECT article_id, min(rank), 'words' FROM words GROUP BY article_id
    UNION ALL SELECT article_id, rank, 'trigram' FROM trigram
),
per_list AS (
    -- An article's rank in a list is its best chunk's place among the list's articles.
    SELECT article_id, list, row_number() OVER (PARTITION BY list ORDER BY rank) AS rank FROM ranked
),
fused AS (
    SELECT article_id, sum(CASE list WHEN 'vec' THEN %(w_vec)s WHEN 'words' THEN %(w_words)s ELSE %(w_trgm)s END
                           / (%(k)s + rank)) AS score
    FROM per_list GROUP BY article_id
    ORDER BY score DESC, article_id
    LIMIT %(limit)s
),
best_chunk AS (
    -- The passage shown: the article's best chunk by meaning, else by words, else its first.
    SELECT f.article_id, f.score, COALESCE(
        (SELECT v.id FROM vec v WHERE v.article_id = f.article_id ORDER BY v.rank LIMIT 1),
        (SELECT w.id FROM words w WHERE w.article_id = f.article_id ORDER BY w.rank LIMIT 1),
        (SELECT c.id FROM kb_chunk c WHERE c.article_id = f.article_id ORDER BY c.position LIMIT 1)
    ) AS chunk_id
    FROM fused f
)
SELECT a.id, a.slug, a.title, a.locale, a.category, b.score, COALESCE(c.heading_path, ''),
       CASE WHEN c.id IS NULL THEN '' ELSE ts_headline(
           c.search_config::regconfig, c.text,
           COALESCE((SELECT tsq FROM queries WHERE config = c.search_config), ''::tsquery),
           %(headline)s) END
FROM best_chunk b JOIN kb_article a ON a.id = b.article_id LEFT JOIN kb_chunk c ON c.id = b.chunk_id
ORDER BY b.score DESC, a.id
"""

_PASSAGES_SQL = _CANDIDATES_SQL + """,
ranked AS (
    SELECT id, rank, 'vec' AS list FROM vec
    UNION ALL SELECT id, rank, 'words' FROM words
),
fused AS (
    -- Chunk level: a title match lifts every chunk of its article.
    SELECT c.id, sum(CASE r.list WHEN 'vec' THEN %(w_vec)s ELSE %(w_words)s END / (%(k)s + r.rank))
           + COALESCE(max(%(w_trgm)s / (%(k)s + t.rank)), 0) AS score
    FROM ranked r JOIN kb_chunk c ON c.id = r.id LEFT JOIN trigram t ON t.article_id = c.article_id
    GROUP BY c.id
    ORDER BY score DESC, c.id
    LIMIT %(limit)s
)
SELECT c.id, a.id, a.slug, a.title, c.heading_path, c.text, f.score,
       CASE WHEN %(vec)s::vector IS NULL OR c.embedding IS NULL THEN 0
            ELSE 1 - (c.embedding <=> %(vec)s::vector) END
FROM fused f JOIN kb_chunk c ON c.id = f.id JOIN kb_article a ON a.id = c.article_id
ORDER BY f.score DESC, c.id
"""


def search_settings(cursor, *, neighbours: int) -> None:
    """The statement's planner settings (SET LOCAL: until the end of the transaction)."""
    cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(EF_SEARCH, neighbours)])
    # Filters (published, locale, category) are applied while walking the graph, and the scan
    # goes on until enough rows pass them.
    cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    # The planner cannot tell how many chunks the filters keep and would rather sort the whole
    # table by distance than walk the index with a filter: measured 10x slower at 100,000
    # chunks (bench/kb_search.py). Every list here has an index to use.
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("SET LOCAL pg_trgm.word_similarity_threshold = %s", [TRIGRAM_THRESHOLD])


def _run(sql: str, params: dict) -> list[tuple]:
    # The atomic block is the search's own (a savepoint when the caller is already in one),
    # so the SET LOCALs end with it.
    with transaction.atomic(), connection.cursor() as cursor:
        search_settings(cursor, neighbours=params["n"])
        cursor.execute(sql, params)
        return cursor.fetchall()


def _params(*, query: str, vector, locale, category, weights: Weights, limit: int, lists: str) -> dict:
    """`lists`: which lists take part ("vwt" all; "v" meaning only; "wt" words only), for the
    evaluation of each half; the product always uses all three."""
    return {
        "q": query,
        "vec": _vector_literal(vector) if "v" in lists else None,
        "configs": _configs(locale) if "w" in lists else [],
        "words": _trigram_words(query) if "t" in lists else [],
        "locale": locale or None,
        "category": category or None,
        "n": CANDIDATES,
        "scan": WORDS_SCAN_MAX,
        "w_vec": weights.vector,
        "w_words": weights.words,
        "w_trgm": weights.trigram,
        "k": weights.k,
        "limit": limit,
        "headline": f"StartSel={_MARK_START}, StopSel={_MARK_STOP}, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=\" … \"",
    }


def _vector_literal(vector) -> str | None:
    return None if vector is None else "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _snippet(headline: str) -> str:
    return html.escape(headline).replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")


def _score(raw: float, weights: Weights) -> float:
    """The fused score as a share of the best possible (first in every list): 0..1."""
    best = (weights.vector + weights.words + weights.trigram) / (weights.k + 1)
    return round(float(raw) / best, 4) if best else 0.0


def passages_retrieve(
    *, query: str, locale: str | None = None, limit: int = 5, vector: list[float] | None = None,
    weights: Weights = DEFAULT_WEIGHTS, conversation=None, message=None,
) -> list[Passage]:
    """The passages of published articles best matching `query`, best first. `vector`: the
    query's embedding when the caller has it already (else it is computed here). A customer's
    long message is searched by its first QUERY_MAX_LENGTH characters, not refused."""
    try:
        query = query_clean(" ".join(query.replace("\x00", " ").split())[:QUERY_MAX_LENGTH])
    except InvalidQuery:
        return []
    if vector is None:
        vector = query_vector(query, conversation=conversation, message=message)
    rows = _run(_PASSAGES_SQL, _params(query=query, vector=vector, locale=locale, category=None, weights=weights, limit=limit, lists="vwt"))
    return [
        Passage(chunk_id=cid, article_id=aid, slug=slug, title=title, heading_path=heading, text=text,
                score=_score(score, weights), similarity=round(float(similarity), 4))
        for cid, aid, slug, title, heading, text, score, similarity in rows
    ]


def articles_search(
    *, query: str, locale: str | None = None, category: str | None = None, limit: int = 10,
    vector: list[float] | None = None, weights: Weights = DEFAULT_WEIGHTS, lists: str = "vwt",
) -> list[SearchResult]:
    """One result per published article, best first. Raises InvalidQuery for an empty, too
    long or NUL-containing query. `vector`, `weights` and `lists` are for the evaluation (the
    sweep reuses one embedding per question and measures each half alone)."""
    query = query_clean(query)
    if vector is None and "v" in lists:
        vector = query_vector(query)
    rows = _run(_ARTICLES_SQL, _params(query=query, vector=vector, locale=locale, category=category, weights=weights, limit=limit, lists=lists))
    return [
        SearchResult(article_id=aid, slug=slug, title=title, snippet=_snippet(headline), score=_score(score, weights),
                     locale=loc, category=cat, heading_path=heading)
        for aid, slug, title, loc, cat, score, heading, headline in rows
    ]
