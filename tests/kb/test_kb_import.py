"""`manage.py kb_import` and `kb_reindex` as an operator runs them: a folder with a broken file
(reported, the rest imported), re-import updates without duplicates and embeds only what
changed, CSV/JSON exports, one readable line for bad arguments, a resumable reindex; and the
demo help centre loaded through the same code."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import tenant_context

from kb.demo import kb_demo_seed
from kb.models import Article, Chunk

HELPCENTRE = Path(__file__).parent / "data" / "helpcentre"


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "helpcentre"
    shutil.copytree(HELPCENTRE, target)
    (target / "no-title.md").write_text("Just some words, no heading.\n")
    (target / "latin1.md").write_bytes("# Caf\xe9\n\nCr\xe8me".encode("latin-1"))
    return target


@pytest.mark.django_db
def test_a_folder_is_imported_broken_files_reported_and_re_import_updates_only_what_changed(alpha, folder):
    out, err = _run("kb_import", "--account", "alpha", str(folder))
    assert "skipped no-title.md: no '# ' title heading" in err
    assert "skipped latin1.md: not UTF-8 text" in err
    assert "alpha: 3 new, 0 updated, 0 unchanged, 2 skipped; 3 articles indexed, 5 passages embedded" in out
    with tenant_context(alpha):
        refunds = Article.objects.get(slug="refunds")
        assert (refunds.title, refunds.status, refunds.category, refunds.tags) == ("Refunds", "published", "Billing", ["refunds", "payments"])
        assert refunds.body.startswith("We refund any order") and "<h2>Card payments</h2>" in refunds.body_html
        assert Article.objects.get(slug="reset-password").source_url == "https://help.example.com/articles/reset-password"
        assert Article.objects.filter(indexed_version=1).count() == 3
        kept = Chunk.objects.get(article=refunds, heading_path="Refunds > Card payments")

    (folder / "refunds.md").write_text((folder / "refunds.md").read_text().replace("24 hours", "two days"))
    out, _ = _run("kb_import", "--account", "alpha", str(folder))
    assert "alpha: 0 new, 1 updated, 2 unchanged, 2 skipped; 1 articles indexed, 1 passages embedded" in out
    with tenant_context(alpha):
        assert Article.objects.count() == 3
        refunds = Article.objects.get(slug="refunds")
        assert refunds.version == 2 and "two days" in refunds.body
        assert Chunk.objects.get(article=refunds, heading_path="Refunds > Card payments").pk == kept.pk


@pytest.mark.django_db
def test_csv_and_json_exports_with_a_bad_row(alpha, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(
        "title,body,url,category\n"
        "Change your plan,Go to **Billing** and pick a plan.,https://help.example.com/hc/articles/123-change-plan,Billing\n"
        ",A body without a title,,\n"
        "Cancel,Cancel any time from Settings.,not a url,Billing\n"
    )
    out, err = _run("kb_import", "--account", "alpha", str(export))
    assert "skipped export.csv row 3: no title" in err and "skipped export.csv row 4: url 'not a url'" in err
    assert "1 new" in out and "2 skipped" in out
    data = tmp_path / "export.json"
    data.write_text(json.dumps({"articles": [
        {"title": "Change your plan", "body": "Go to Billing, then Plans.", "url": "https://help.example.com/hc/articles/123-change-plan"},
        {"title": "Invoices", "body": "Invoices are emailed monthly.", "url": "", "locale": "fr", "tags": ["billing"]},
        ["not", "an", "object"],
    ]}))
    out, err = _run("kb_import", "--account", "alpha", str(data))
    assert "skipped export.json item 3: not an object" in err
    assert "1 new, 1 updated" in out
    with tenant_context(alpha):
        assert sorted(Article.objects.values_list("slug", flat=True)) == ["123-change-plan", "invoices"]
        assert Article.objects.get(slug="invoices").locale == "fr"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nobody", "{folder}"], "no account 'nobody'"),
        (["--account", "alpha", "{folder}/missing"], "no such file or folder"),
        (["--account", "alpha", "{folder}/notes.txt"], "expected a folder of .md files, a .csv or a .json export"),
        (["--account", "alpha", "{folder}/bad.csv"], "the header must name the columns title, body and url (missing: body, url)"),
        (["--account", "alpha", "{folder}/bad.json"], "not JSON"),
    ],
)
def test_bad_arguments_are_one_readable_line(alpha, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "bad.csv").write_text("title\nx\n")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CommandError) as error:
        _run("kb_import", *[a.format(folder=tmp_path) for a in args])
    assert message in str(error.value) and "\n" not in str(error.value)
    with tenant_context(alpha):
        assert not Article.objects.exists()


@pytest.mark.django_db
def test_reindex_skips_what_is_current_and_resumes_the_rest(alpha, beta):
    _run("kb_import", "--account", "alpha", str(HELPCENTRE))
    out, _ = _run("kb_reindex", "--account", "alpha")
    assert "alpha: 0 of 0 articles reindexed with e5-small, 0 passages embedded" in out

    with tenant_context(alpha):
        # An interrupted rebuild (never indexed), and a passage from another model.
        Article.objects.filter(slug="refunds").update(indexed_version=None)
        Chunk.objects.filter(article__slug="shipping-times").update(embedding_model="old-model")
    out, _ = _run("kb_reindex", "--all")
    assert "alpha: 2 of 2 articles reindexed with e5-small, 1 passages embedded" in out
    assert "beta: 0 of 0 articles" in out
    with tenant_context(alpha):
        assert not Chunk.objects.exclude(embedding_model="e5-small").exists()

    with pytest.raises(CommandError, match="alpha embeds its knowledge base with e5-small, not text-embedding-3-small"):
        _run("kb_reindex", "--account", "alpha", "--model", "text-embedding-3-small")
    with pytest.raises(CommandError):
        _run("kb_reindex")  # neither --account nor --all


@pytest.mark.django_db
def test_the_demo_help_centre_loads_through_the_import_and_is_idempotent(alpha):
    with tenant_context(alpha):
        counts = kb_demo_seed(folder=HELPCENTRE)
        assert (counts["created"], counts["skipped"], counts["problems"]) == (3, 0, [])
        assert Chunk.objects.filter(embedding__isnull=False).count() == 5
        counts = kb_demo_seed(folder=HELPCENTRE)
        assert (counts["created"], counts["unchanged"], counts["embedded"]) == (0, 3, 0)
        assert Article.objects.count() == 3
