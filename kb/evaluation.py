"""How well the knowledge-base search finds the right article: labelled questions, metrics, the
weight sweep and the relevance floor (`manage.py kb_evaluate`, docs/kb-search.md).

Two sets, each a help centre and questions written as customers write them (typos, two-word
queries, product and error codes, whole questions; not the articles' wording), each labelled
with the slug of the article that answers it:

- `demo`: the demo tenant's help centre (kb/demo_helpcentre/) and kb/evaluation/questions.jsonl.
  The fusion's weights are chosen on this set.
- `heldout`: another business (an e-bike subscription, kb/evaluation/heldout/), never used to
  choose anything: the bar (recall@1 >= 0.88, MRR@10 >= 0.92) is checked here.

kb/evaluation/unanswerable.jsonl holds questions the demo help centre cannot answer; with the
demo set's questions they place `RELEVANCE_FLOOR`.

The set is loaded into the current tenant inside a transaction that the caller rolls back
(`set_loaded`), through kbcore's services (`article_create`, `article_chunks_sync`), so the
chunks and embeddings are exactly what the product builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from ai import calls
from kb import search
from kb.importing import ArticleSource, markdown_file_parse
from kb.models import EMBEDDING_DIMENSIONS, Article
from kb.services import article_chunks_sync, article_create

HERE = Path(__file__).resolve().parent
DEMO_HELPCENTRE = HERE / "demo_helpcentre"
EVALUATION = HERE / "evaluation"


@dataclass(frozen=True)
class EvaluationSet:
    name: str
    articles: Path
    questions: Path


SETS = {
    "demo": EvaluationSet("demo", DEMO_HELPCENTRE, EVALUATION / "questions.jsonl"),
    "heldout": EvaluationSet("heldout", EVALUATION / "heldout" / "articles", EVALUATION / "heldout" / "questions.jsonl"),
}
UNANSWERABLE = EVALUATION / "unanswerable.jsonl"


@dataclass(frozen=True)
class Question:
    text: str
    slug: str
    kind: str  # full, short, typo, code


@dataclass(frozen=True)
class Scores:
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    n: int


def markdown_article_read(path: Path) -> ArticleSource:
    """A help-centre Markdown file as the importer reads it (title, body, front matter)."""
    return markdown_file_parse(path.read_text(encoding="utf-8"), slug=path.stem)


def helpcentre_load(folder: Path) -> list[Article]:
    """Create (published) and index every `<slug>.md` of `folder` in the current tenant."""
    articles = []
    for path in sorted(folder.glob("*.md")):
        source = markdown_article_read(path)
        article = article_create(title=source.title, body=source.body, slug=source.slug, category=source.category, locale=source.locale)
        article_chunks_sync(article=article)
        articles.append(article)
    return articles


def questions_read(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Question(text=r["question"], slug=r.get("slug", ""), kind=r.get("kind", "")) for r in rows]


def set_load(evaluation_set: EvaluationSet) -> list[Question]:
    """Replace the current tenant's articles with the set's help centre (call inside a
    transaction that is rolled back) and return its questions."""
    Article.objects.all().delete()
    helpcentre_load(evaluation_set.articles)
    return questions_read(evaluation_set.questions)


def question_vectors(texts: list[str]) -> list[list[float] | None]:
    """Each question's embedding, computed once (the sweep reuses them)."""
    vectors = calls.embed(texts=texts, purpose="query").value or []
    return [list(v) if v is not None and len(v) == EMBEDDING_DIMENSIONS else None for v in vectors] + [None] * (len(texts) - len(vectors))


def ranks(questions: list[Question], vectors, *, weights: search.Weights = search.DEFAULT_WEIGHTS, lists: str = "vwt") -> list[int | None]:
    """The 1-based place of the right article in each question's results (None: not in the top 10)."""
    found = []
    for question, vector in zip(questions, vectors):
        slugs = [r.slug for r in search.articles_search(query=question.text, vector=vector, weights=weights, lists=lists, limit=10)]
        found.append(slugs.index(question.slug) + 1 if question.slug in slugs else None)
    return found


def scores(places: list[int | None]) -> Scores:
    n = len(places)
    return Scores(
        recall_at_1=sum(1 for p in places if p == 1) / n,
        recall_at_5=sum(1 for p in places if p is not None and p <= 5) / n,
        mrr_at_10=sum(1 / p for p in places if p is not None and p <= 10) / n,
        n=n,
    )


HALVES = {"vector only": "v", "words only": "wt", "fusion": "vwt"}


def sweep_grid() -> list[search.Weights]:
    """The weights tried: the meaning side fixed at 1; the words and typo sides and the RRF
    constant over a grid (k small: first places count much more than later ones)."""
    return [
        search.Weights(vector=1.0, words=words, trigram=trigram, k=k)
        for k in (1, 2, 5, 10, 20, 60)
        for words in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
        for trigram in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    ]


def list_ranks(questions: list[Question], vectors) -> list[dict[str, dict[str, int]]]:
    """Per question, each list's ranking of the articles ({list: {slug: rank}}), from the
    search's own SQL run with one list at a time."""
    out = []
    for question, vector in zip(questions, vectors):
        per_list = {}
        for name in ("v", "w", "t"):
            results = search.articles_search(query=question.text, vector=vector, lists=name, limit=search.CANDIDATES)
            per_list[name] = {r.slug: place for place, r in enumerate(results, start=1)}
        out.append(per_list)
    return out


def fused_places(questions: list[Question], per_question: list[dict[str, dict[str, int]]], weights: search.Weights) -> list[int | None]:
    """The right article's place under `weights`, replaying the SQL's fusion (weighted RRF) on
    the lists' rankings, so hundreds of weightings cost no query; the chosen weights are then
    confirmed by the SQL itself (`ranks`), which prints the same figures."""
    weight = {"v": weights.vector, "w": weights.words, "t": weights.trigram}
    places = []
    for question, lists in zip(questions, per_question):
        fused: dict[str, float] = {}
        for name, ranking in lists.items():
            for slug, rank in ranking.items():
                fused[slug] = fused.get(slug, 0.0) + weight[name] / (weights.k + rank)
        order = sorted((slug for slug, score in fused.items() if score > 0), key=lambda slug: -fused[slug])[:10]
        places.append(order.index(question.slug) + 1 if question.slug in order else None)
    return places


def best_similarities(questions: list[Question], vectors) -> list[float]:
    """The cosine similarity of each question's best passage (what drafts compare with the floor)."""
    out = []
    for question, vector in zip(questions, vectors):
        passages = search.passages_retrieve(query=question.text, vector=vector, limit=1)
        out.append(max((p.similarity for p in passages), default=0.0))
    return out


def floor_table(answerable: list[float], unanswerable: list[float]) -> list[tuple[float, float, float]]:
    """For candidate floors: (floor, share of answerable questions kept, share of unanswerable
    questions let through)."""
    rows = []
    for step in range(70, 96):
        floor = step / 100
        kept = sum(1 for s in answerable if s >= floor) / len(answerable)
        leaked = sum(1 for s in unanswerable if s >= floor) / len(unanswerable)
        rows.append((floor, kept, leaked))
    return rows


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"min={ordered[0]:.3f} p10={ordered[len(ordered) // 10]:.3f} median={median(ordered):.3f} max={ordered[-1]:.3f}"
