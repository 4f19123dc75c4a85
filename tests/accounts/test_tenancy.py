"""Each tenant's data lives in its own schema and is reached by host or by path prefix."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Membership
from analytics.models import JobStatus
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db


def _job_in(schema: str, job: str) -> JobStatus:
    with schema_context(schema):
        return JobStatus.objects.create(job=job, last_started_at=timezone.now())


def test_rows_of_one_tenant_are_invisible_from_another_schema(alpha, beta):
    _job_in("alpha", "alpha-only-job")

    with schema_context("alpha"):
        assert list(JobStatus.objects.values_list("job", flat=True)) == ["alpha-only-job"]
    with schema_context("beta"):
        assert JobStatus.objects.count() == 0
        assert not JobStatus.objects.filter(job="alpha-only-job").exists()


def test_rows_of_one_tenant_are_invisible_in_another_tenants_admin(alpha, beta, alpha_client, beta_client):
    alpha_job = _job_in("alpha", "alpha-secret-job")
    # beta holds its own row under the very same primary key, so a leak across schemas would
    # show up as alpha's row on the page that should show beta's.
    with schema_context("beta"):
        JobStatus.objects.create(pk=alpha_job.pk, job="beta-visible-job", last_started_at=timezone.now())
    member = MembershipFactory(account=beta, role=Membership.Role.ADMIN).user
    admin_login(beta_client, member.email, PASSWORD)

    listing = beta_client.get("/admin/analytics/jobstatus/")
    assert listing.status_code == 200
    assert b"beta-visible-job" in listing.content
    assert b"alpha-secret-job" not in listing.content

    # alpha's real row id typed into beta's admin: beta's own row at that id answers.
    direct = beta_client.get(f"/admin/analytics/jobstatus/{alpha_job.pk}/change/")
    assert direct.status_code == 200
    assert b"beta-visible-job" in direct.content
    assert b"alpha-secret-job" not in direct.content


def test_vector_and_trigram_extensions_live_in_public_and_work_in_tenant_tables(alpha):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname IN ('vector', 'pg_trgm') ORDER BY e.extname"
        )
        assert cursor.fetchall() == [("pg_trgm", "public"), ("vector", "public")]

    with schema_context("alpha"), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE kb_probe (id serial PRIMARY KEY, title text, embedding vector(3))")
        cursor.execute(
            "INSERT INTO kb_probe (title, embedding) VALUES ('refund policy', '[1,0,0]'), ('shipping times', '[0,1,0]')"
        )
        cursor.execute("SELECT title FROM kb_probe ORDER BY embedding <-> '[0.9,0.1,0]' LIMIT 1")
        assert cursor.fetchone() == ("refund policy",)
        cursor.execute("SELECT title FROM kb_probe WHERE title % 'refund polcy'")
        assert cursor.fetchall() == [("refund policy",)]
        cursor.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'kb_probe'")
        assert cursor.fetchall() == [("alpha",)]


def test_tenant_is_found_by_host_name(alpha_client, beta_client, public_client):
    assert b"Hearth \xc2\xb7 Alpha Corp" in alpha_client.get("/admin/login/").content
    assert b"Hearth \xc2\xb7 Beta Inc" in beta_client.get("/admin/login/").content
    assert b"Hearth platform" in public_client.get("/admin/login/").content


def test_tenant_is_found_by_path_prefix_and_links_keep_the_prefix(alpha, public_client):
    page = public_client.get("/t/alpha/admin/login/")
    assert page.status_code == 200
    assert b"Hearth \xc2\xb7 Alpha Corp" in page.content
    assert b'action="/t/alpha/admin/login/"' in page.content

    # The admin's redirect to its login page stays under the prefix.
    index = public_client.get("/t/beta/admin/")
    assert index.status_code == 302
    assert index["Location"] == "/t/beta/admin/login/?next=/t/beta/admin/"


def test_path_prefix_edge_cases(alpha, public_client, alpha_client):
    assert public_client.get("/t/nosuchtenant/admin/").status_code == 404
    assert public_client.get("/t/public/admin/").status_code == 404  # the platform is not a tenant
    bare = public_client.get("/t/alpha")
    assert bare.status_code == 301 and bare["Location"] == "/t/alpha/"
    # A tenant's own host does not switch tenants by path.
    assert alpha_client.get("/t/beta/admin/login/").status_code == 404


def test_cache_keys_are_per_tenant(alpha, beta):
    with schema_context("alpha"):
        cache.set("greeting", "hello from alpha", 30)
    with schema_context("beta"):
        assert cache.get("greeting") is None
        cache.set("greeting", "hello from beta", 30)
    with schema_context("alpha"):
        assert cache.get("greeting") == "hello from alpha"
        cache.delete("greeting")
    with schema_context("beta"):
        cache.delete("greeting")
