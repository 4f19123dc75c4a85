"""The three commands an operator runs to teach a tenant's classifier, through `call_command`:
ai_import_examples (bad rows reported by line and skipped, re-import adds nothing),
ai_train (a summary with the version), ai_evaluate (a per-category table, then the pinned
last line). Tiny data: five categories, eight examples each, from test_local_models."""

from __future__ import annotations

import csv
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from ai.models import Category, ClassifierVersion, TrainingExample
from tests.ai.test_local_models import EXAMPLES, HELD_OUT

PINNED = re.compile(r"^accuracy=\d\.\d{4} macro_f1=\d\.\d{4} n=\d+$")


def _csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _rows(examples=EXAMPLES):
    return [(text, label) for label, texts in examples.items() for text in texts]


def _run(*args, **options):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_import_reports_bad_rows_by_line_keeps_the_good_ones_and_reimport_adds_nothing(alpha, tmp_path):
    path = tmp_path / "history.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])  # line 1
        writer.writerow(["I was charged twice", "billing"])  # 2
        writer.writerow(["", "billing"])  # 3: no text
        writer.writerow(["My parcel is late", ""])  # 4: no label
        writer.writerow(["Where is my refund?", "x" * 51])  # 5: too long for a category name
        writer.writerow(["bad\x00byte", "billing"])  # 6: NUL
        writer.writerow(["three", "columns", "here"])  # 7
        writer.writerow(["The app crashes\non start", "bug"])  # 8-9: a quoted newline is one row
        writer.writerow(["only one column"])  # 10
        writer.writerow(["I was  CHARGED twice ", "Billing"])  # 11: the same example as line 2

    out, err = _run("ai_import_examples", account="alpha", csv=str(path))

    reported = re.findall(r"^history\.csv:(\d+): skipped: (.+)$", err, flags=re.M)
    assert [int(line) for line, _ in reported] == [3, 4, 5, 6, 7, 10]
    assert "label is longer than 50 characters" in dict(reported)["5"]
    assert "found 3" in dict(reported)["7"]
    assert "imported 2 examples into alpha (1 already there, 6 bad rows skipped, 2 new categories" in out
    with tenant_context(alpha):
        assert sorted(Category.objects.values_list("name", flat=True)) == ["billing", "bug"]
        stored = {e.text: e for e in TrainingExample.objects.all()}
        assert set(stored) == {"I was charged twice", "The app crashes\non start"}
        assert all(e.embedding_model == "e5-small" and len(e.embedding) == 384 for e in stored.values())
        assert {e.source for e in stored.values()} == {"import"}

    out, _ = _run("ai_import_examples", account="alpha", csv=str(path))

    assert "imported 0 examples into alpha (3 already there" in out
    with tenant_context(alpha):
        assert TrainingExample.objects.count() == 2


@pytest.mark.django_db
def test_train_then_evaluate_prints_the_table_and_the_pinned_last_line(alpha, tmp_path):
    training = _csv(tmp_path / "train.csv", _rows())
    _run("ai_import_examples", account="alpha", csv=training)

    out, _ = _run("ai_train", account="alpha")

    assert re.search(r"^trained alpha classifier v1: 40 examples, 5 categories, \d+\.\ds", out, flags=re.M)
    out, _ = _run("ai_evaluate", account="alpha", csv=training)
    lines = out.strip().splitlines()
    assert PINNED.match(lines[-1])
    assert lines[-1] == "accuracy=1.0000 macro_f1=1.0000 n=40"
    table = {line.split()[0]: line.split()[1:] for line in lines[1:-2]}
    assert set(table) == set(EXAMPLES)
    assert table["billing"] == ["1.0000", "1.0000", "1.0000", "8"]

    # New wording of the same five problems: the model has learnt the categories, not the rows.
    out, _ = _run("ai_evaluate", account="alpha", csv=_csv(tmp_path / "held_out.csv", HELD_OUT))
    assert out.strip().splitlines()[-1] == "accuracy=1.0000 macro_f1=1.0000 n=5"

    # Every label shifted to the next category: a wrong answer key must score far lower.
    names = list(EXAMPLES)
    shifted = [(text, names[(names.index(label) + 1) % len(names)]) for text, label in _rows()]
    out, _ = _run("ai_evaluate", account="alpha", csv=_csv(tmp_path / "wrong.csv", shifted))
    last = out.strip().splitlines()[-1]
    assert PINNED.match(last)
    accuracy = float(last.split()[0].split("=")[1])
    assert accuracy < 0.2


@pytest.mark.django_db
def test_evaluate_expects_out_of_scope_for_a_label_the_account_does_not_have(alpha, tmp_path):
    _run("ai_import_examples", account="alpha", csv=_csv(tmp_path / "train.csv", _rows()))
    _run("ai_train", account="alpha")
    rows = [("What is a good recipe for banana bread?", "oos"), ("I was charged twice for my subscription this month", "billing")]

    out, _ = _run("ai_evaluate", account="alpha", csv=_csv(tmp_path / "mixed.csv", rows))

    lines = out.strip().splitlines()
    assert lines[-1] == "accuracy=1.0000 macro_f1=1.0000 n=2"
    assert any(line.startswith("(out of scope)") and line.split()[-1] == "1" for line in lines)


@pytest.mark.django_db
def test_bad_input_stops_with_one_readable_line_and_changes_nothing(alpha, tmp_path):
    good = _csv(tmp_path / "good.csv", _rows())
    cases = [
        (("ai_import_examples",), {"account": "nosuch", "csv": good}, "no account 'nosuch'"),
        (("ai_import_examples",), {"account": "public", "csv": good}, "'public' is the platform's own schema, not an account"),
        (("ai_import_examples",), {"account": "alpha", "csv": str(tmp_path / "missing.csv")}, "no such file"),
        (("ai_import_examples",), {"account": "alpha", "csv": _csv(tmp_path / "h.csv", _rows(), header=("message", "category"))}, "header 'text,label'"),
        (("ai_import_examples",), {"account": "alpha", "csv": _csv(tmp_path / "e.csv", [], header=None)}, "header 'text,label'"),
        (("ai_train",), {"account": "alpha"}, "at least two active categories"),
        (("ai_evaluate",), {"account": "alpha", "csv": good}, "no trained classifier yet"),
        (("ai_train",), {"account": "nosuch"}, "no account 'nosuch'"),
    ]
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\nfactura pequeña,billing\n".encode("latin-1"))
    cases.append((("ai_import_examples",), {"account": "alpha", "csv": str(latin1)}, "not UTF-8"))
    for args, options, expected in cases:
        with pytest.raises(CommandError) as raised:
            _run(*args, **options)
        message = str(raised.value)
        assert expected in message, (args, options, message)
        assert "\n" not in message
    with tenant_context(alpha):
        assert not TrainingExample.objects.exists()
        assert not Category.objects.exists()
        assert not ClassifierVersion.objects.exists()


def test_the_real_command_line_exits_1_with_one_line(django_db_setup, tmp_path):
    """What an operator sees in a shell: exit status 1 and one line on stderr, no traceback."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_DIR, database_url_of_test_db

    env = {**os.environ, "DATABASE_URL": database_url_of_test_db()}
    done = subprocess.run(
        [sys.executable, "manage.py", "ai_import_examples", "--account", "nosuch", "--csv", str(tmp_path / "x.csv")],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["CommandError: no account 'nosuch' (the account's slug, as in its schema name)"]
