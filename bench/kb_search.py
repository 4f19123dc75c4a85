"""Knowledge-base search benchmark: 100,000 chunks in one tenant, in one run (a few minutes).

    HEARTH_AI_THREADS=1 .venv/bin/python bench/kb_search.py [--chunks 100000] [--queries 100]
    ... --reuse [--m 32 --ef-construction 128]   # same chunks, the HNSW index rebuilt

Prints:
- embedding throughput on this machine: passages per second (E5-small, batches of 32) and the
  latency of embedding one query;
- HNSW search p50/p95 against exact search (a sequential scan: `enable_indexscan` off) for the
  10 nearest chunks, and recall@10 of HNSW against exact, over a curve of `hnsw.ef_search`;
- hybrid search p50/p95 (`kb.search.articles_search`: HNSW + full text + title trigrams, fused,
  with snippets), the query's embedding excluded (it is measured above).

The corpus: the demo help centre and the held-out one (kb/demo_helpcentre, kb/evaluation/
heldout) cut into paragraphs, each embedded once for real; then `--chunks` vectors made as
noisy normalised mixes of three real passages (Dirichlet weights, plus Gaussian noise of norm
about 0.5), each row carrying its dominant passage's text, so neighbourhoods are as
clustered as a real help centre's and full-text queries match realistic numbers of rows.
Loaded with COPY into 1,000 published articles, then the indexes are built as in production
(HNSW m=32, ef_construction=128; GIN full text; GIN trigram). The queries are the labelled demo
questions (kb/evaluation/questions.jsonl), embedded for real.

Same database and tenant as the other benches (`hearth_bench`, tenant `bench`); the bench
tenant's knowledge base is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HEARTH_AI_THREADS", "1")

import numpy as np  # noqa: E402

from bench.widget_api import SLUG, bench_env, percentile, prepare  # noqa: E402

ARTICLES = 1000
EF_CURVE = (10, 20, 40, 64, 100, 200, 400, 800)


def paragraphs() -> list[str]:
    out = []
    for folder in (REPO / "kb" / "demo_helpcentre", REPO / "kb" / "evaluation" / "heldout" / "articles"):
        for path in sorted(folder.glob("*.md")):
            for block in path.read_text(encoding="utf-8").split("\n\n"):
                block = block.strip()
                if len(block) > 60 and not block.startswith(("#", "---")):  # headings, front matter
                    out.append(block)
    return out


def synthesise(base: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` unit vectors, each a random convex mix of three real passages (Dirichlet 0.5:
    usually one dominates) plus Gaussian noise of norm about 0.5; the row's text is its
    dominant passage's."""
    picks = rng.integers(0, len(base), (count, 3))
    weights = rng.dirichlet([0.5, 0.5, 0.5], count)
    vectors = np.einsum("nk,nkd->nd", weights, base[picks])
    vectors += rng.normal(0, 0.5 / np.sqrt(base.shape[1]), vectors.shape)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    main = picks[np.arange(count), weights.argmax(axis=1)]
    return vectors.astype(np.float32), main


def literal(vector) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in vector) + "]"


def load(cursor, texts: list[str], vectors: np.ndarray, main: np.ndarray) -> None:
    from kb.models import search_config_for

    schema = SLUG
    cursor.execute(f'SET search_path TO "{schema}", public')
    cursor.execute("TRUNCATE kb_chunk, kb_article RESTART IDENTITY CASCADE")
    for index in ("kb_chunk_embedding_hnsw", "kb_chunk_text_trgm", "kb_chunk_search_vector"):
        cursor.execute(f"DROP INDEX IF EXISTS {index}")
    with cursor.copy("COPY kb_article (title, slug, body, body_html, status, locale, category, tags, source_url, version, "
                     "created_at, updated_at, published_at, indexed_version) FROM STDIN") as copy:
        for a in range(ARTICLES):
            copy.write_row([f"Article {a}", f"article-{a}", "", "", "published", "en", ["Billing", "Shipping", "Technical", "Account"][a % 4],
                            "{}", "", 1, "now", "now", "now", 1])
    per_article = len(vectors) // ARTICLES
    config = search_config_for("en")
    with cursor.copy("COPY kb_chunk (article_id, position, heading_path, text, content_hash, token_count, search_config, "
                     "embedding, embedding_model, created_at) FROM STDIN") as copy:
        for i, vector in enumerate(vectors):
            copy.write_row([i // per_article + 1, i % per_article, f"Article {i // per_article}", texts[main[i]], f"{i:064x}", 100,
                            config, literal(vector), "multilingual-e5-small-q4", "now"])
    started = time.perf_counter()
    cursor.execute("UPDATE kb_chunk SET search_vector = setweight(to_tsvector('english', heading_path), 'A') || "
                   "setweight(to_tsvector('english', text), 'B')")
    cursor.execute("SET maintenance_work_mem = '512MB'")
    cursor.execute("CREATE INDEX kb_chunk_search_vector ON kb_chunk USING gin (search_vector)")
    cursor.execute("CREATE INDEX kb_chunk_text_trgm ON kb_chunk USING gin (upper(text) gin_trgm_ops)")
    print(f"  full-text vectors and GIN indexes: {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    cursor.execute("CREATE INDEX kb_chunk_embedding_hnsw ON kb_chunk USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128)")
    print(f"  HNSW index (m=32, ef_construction=128): {time.perf_counter() - started:.0f} s")
    cursor.execute("ANALYZE kb_chunk")
    cursor.execute("ANALYZE kb_article")


def nearest(cursor, query: str, *, exact: bool, ef: int = 40) -> tuple[list[int], float]:
    cursor.execute("BEGIN")
    if exact:
        cursor.execute("SET LOCAL enable_indexscan = off")
    else:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {ef}")
    started = time.perf_counter()
    cursor.execute("SELECT id FROM kb_chunk ORDER BY embedding <=> %s::vector LIMIT 10", [query])
    ids = [row[0] for row in cursor.fetchall()]
    elapsed = time.perf_counter() - started
    cursor.execute("COMMIT")
    return ids, elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--m", type=int, default=0, help="With --reuse: rebuild the HNSW index with this m (and --ef-construction)")
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--reuse", action="store_true", help="Keep the bench tenant's chunks if it already has --chunks of them")
    args = parser.parse_args()

    env = bench_env()
    print("preparing the bench database...", flush=True)
    prepare(env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django_tenants.utils import schema_context

    from ai.local.embedders import embedder_get
    from kb import evaluation, search

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, HEARTH_AI_THREADS={os.environ['HEARTH_AI_THREADS']}")
    embedder = embedder_get("e5-small")
    texts = paragraphs()
    embedder.encode(texts[:8])  # load and warm
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{SLUG}".kb_chunk')
        reuse = args.reuse and cursor.fetchone()[0] == args.chunks
    if not reuse:
        started = time.perf_counter()
        base = embedder.encode(texts)
        elapsed = time.perf_counter() - started
        print(f"embedding throughput: {len(texts) / elapsed:.1f} passages/s ({len(texts)} passages, batches of 32)")
    questions = evaluation.questions_read(evaluation.SETS["demo"].questions)[: args.queries]
    single = []
    for q in questions[:30]:
        started = time.perf_counter()
        embedder.encode([q.text])
        single.append(time.perf_counter() - started)
    print(f"one query embedded: p50 {ms(percentile(single, 50))}, p95 {ms(percentile(single, 95))}")
    query_vectors = embedder.encode([q.text for q in questions])

    with connection.cursor() as django_cursor:
        raw = django_cursor.cursor
        if reuse:
            print(f"reusing the bench tenant's {args.chunks} chunks (--reuse)")
            raw.execute(f'SET search_path TO "{SLUG}", public')
            if args.m:
                started = time.perf_counter()
                raw.execute("DROP INDEX IF EXISTS kb_chunk_embedding_hnsw")
                raw.execute("SET maintenance_work_mem = '512MB'")
                raw.execute(f"CREATE INDEX kb_chunk_embedding_hnsw ON kb_chunk USING hnsw (embedding vector_cosine_ops) "
                            f"WITH (m = {args.m}, ef_construction = {args.ef_construction})")
                print(f"  HNSW index rebuilt (m={args.m}, ef_construction={args.ef_construction}): {time.perf_counter() - started:.0f} s", flush=True)
        else:
            vectors, main_of = synthesise(base, args.chunks, np.random.default_rng(10))
            print(f"loading {args.chunks} chunks into {ARTICLES} articles (COPY, then indexes)...", flush=True)
            started = time.perf_counter()
            load(raw, texts, vectors, main_of)
            print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)

        literals = [literal(v) for v in query_vectors]
        exact_ids, exact_times = [], []
        for q in literals:
            ids, elapsed = nearest(raw, q, exact=True)
            exact_ids.append(ids)
            exact_times.append(elapsed)
        print(f"exact (sequential) top-10: p50 {ms(percentile(exact_times, 50))}, p95 {ms(percentile(exact_times, 95))}")
        print(f"HNSW top-10 (m={args.m or 32}, ef_construction={args.ef_construction if args.m else 128}):")
        for ef in EF_CURVE:
            times, hits = [], 0
            for q, truth in zip(literals, exact_ids):
                ids, elapsed = nearest(raw, q, exact=False, ef=ef)
                times.append(elapsed)
                hits += len(set(ids) & set(truth))
            p95 = percentile(times, 95)
            print(f"  ef_search={ef:<4} p50 {ms(percentile(times, 50)):>9}  p95 {ms(p95):>9}  recall@10 {hits / (10 * len(literals)):.3f}  "
                  f"p95 vs exact {p95 / percentile(exact_times, 95):.3f}")

    with schema_context(SLUG):
        for q, v in zip(questions[:5], query_vectors[:5]):  # warm
            search.articles_search(query=q.text, vector=list(map(float, v)))
        times = []
        for q, v in zip(questions, query_vectors):
            started = time.perf_counter()
            search.articles_search(query=q.text, vector=list(map(float, v)))
            times.append(time.perf_counter() - started)
        print(f"hybrid search (articles_search, ef_search={search.EF_SEARCH}, {search.CANDIDATES} candidates per list, snippets): "
              f"p50 {ms(percentile(times, 50))}, p95 {ms(percentile(times, 95))} over {len(times)} queries (embedding excluded)")
        times = []
        for q, v in zip(questions, query_vectors):
            started = time.perf_counter()
            search.passages_retrieve(query=q.text, vector=list(map(float, v)))
            times.append(time.perf_counter() - started)
        print(f"passages_retrieve (drafts): p50 {ms(percentile(times, 50))}, p95 {ms(percentile(times, 95))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
