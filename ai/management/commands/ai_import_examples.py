"""manage.py ai_import_examples --account SLUG --csv FILE: labelled history into training examples.

The CSV has a header `text,label`. Bad rows (a missing text or label, a label too long for a
category name, a NUL character, the wrong number of columns) are reported on stderr with their
line numbers and skipped; the good rows are imported, embedded once (the slow part: a progress
bar shows it), and a summary line ends the run. Re-importing the same file adds nothing.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from ai.examples import examples_import
from accounts.commands import account_get
from ai.management.commands._common import account_csv_arguments, csv_path_check, csv_rows_read
from config.errors import ApplicationError

class Command(BaseCommand):
    help = "Import labelled examples (CSV with header text,label) into an account; unknown labels become categories."

    def add_arguments(self, parser):
        account_csv_arguments(parser)

    def handle(self, *args, **options):
        account = account_get(options["account"])
        path = csv_path_check(options["csv"])
        bad = []

        def report(line: int, why: str) -> None:
            bad.append(line)
            self.stderr.write(f"{path.name}:{line}: skipped: {why}")

        rows = csv_rows_read(path, report=report)
        started = time.perf_counter()
        with tenant_context(account), tqdm(total=len(rows), unit="row", desc="embedding", file=sys.stderr, mininterval=2) as bar:
            try:
                summary = examples_import(((text, label) for _, text, label in rows), progress=bar.update)
            except ApplicationError as error:
                raise CommandError(error.message) from error
        self.stdout.write(
            f"imported {summary.created} examples into {account.schema_name} "
            f"({summary.duplicates} already there, {len(bad)} bad rows skipped, "
            f"{summary.categories_created} new categories, embedded with {summary.embedding_model}) "
            f"in {time.perf_counter() - started:.1f}s"
        )
