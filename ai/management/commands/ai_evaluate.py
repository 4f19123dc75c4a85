"""manage.py ai_evaluate --account SLUG --csv FILE: how well the account's current classifier
labels a `text,label` CSV.

Every row is classified with the model the workers use (the newest version, the tenant's
threshold setting and active categories applied, `classifier_decide`), in batches. Then a
per-category table (precision, recall, F1, support) and, last, one line exactly like
`accuracy=0.9312 macro_f1=0.9288 n=3080`.

Scoring out of scope (the desk's behaviour, not the nearest category's):
- a row whose label is one of the account's categories is right only when that category is
  predicted; "out of scope" for it counts as wrong (the message reaches no team);
- a row whose label is not one of the account's categories (e.g. `oos` in CLINC150) is
  expected to be "out of scope", shown as the row `(out of scope)`.
macro_f1 averages F1 over the labels present in the file, so a label the file never uses
(e.g. "out of scope" on an in-scope-only file) adds no zero to the average; its wrong
predictions still lower the recall of the rows they were taken from.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from accounts.commands import account_get
from ai.management.commands._common import account_csv_arguments, csv_path_check, csv_rows_read
from ai.models import Category
from ai.providers.local import classifier_current, classifier_decide

OUT_OF_SCOPE = "(out of scope)"
_BATCH = 256


def scores(expected: list[str], predicted: list[str]) -> tuple[list[tuple[str, float, float, float, int]], float, float]:
    """Per label (precision, recall, f1, support), accuracy, macro F1 over the expected labels."""
    labels = sorted(set(expected) | set(predicted))
    table = []
    for label in labels:
        true_positive = sum(1 for e, p in zip(expected, predicted) if e == p == label)
        predicted_as = sum(1 for p in predicted if p == label)
        support = sum(1 for e in expected if e == label)
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table.append((label, precision, recall, f1, support))
    accuracy = sum(1 for e, p in zip(expected, predicted) if e == p) / len(expected)
    present = [row[3] for row in table if row[4]]
    return table, accuracy, sum(present) / len(present)


class Command(BaseCommand):
    help = "Score an account's current classifier on a labelled CSV (text,label): per-category table, then accuracy."

    def add_arguments(self, parser):
        account_csv_arguments(parser)

    def handle(self, *args, **options):
        account = account_get(options["account"])
        path = csv_path_check(options["csv"])

        def report(line: int, why: str) -> None:
            self.stderr.write(f"{path.name}:{line}: skipped: {why}")

        rows = csv_rows_read(path, report=report)
        if not rows:
            raise CommandError(f"{path}: no rows to evaluate")
        with tenant_context(account):
            classifier, version = classifier_current()
            if classifier is None:
                raise CommandError(f"account {account.schema_name!r} has no trained classifier yet (run ai_train)")
            # Labels are matched to categories as the import matches them (case-insensitively).
            categories = {name.casefold(): name for name in Category.objects.values_list("name", flat=True)}
            expected = [categories.get(label.casefold(), OUT_OF_SCOPE) for _, _, label in rows]
            predicted: list[str] = []
            with tqdm(total=len(rows), unit="row", desc="classifying", file=sys.stderr, mininterval=2) as bar:
                for start in range(0, len(rows), _BATCH):
                    batch = [text for _, text, _ in rows[start : start + _BATCH]]
                    predicted += [d.category or OUT_OF_SCOPE for d in classifier_decide(classifier, batch)]
                    bar.update(len(batch))

        table, accuracy, macro_f1 = scores(expected, predicted)
        width = max(len("category"), *(len(row[0]) for row in table))
        self.stdout.write(f"{'category':<{width}}  precision  recall      f1  support")
        for label, precision, recall, f1, support in table:
            self.stdout.write(f"{label:<{width}}  {precision:9.4f}  {recall:6.4f}  {f1:6.4f}  {support:7d}")
        rejected = predicted.count(OUT_OF_SCOPE)
        self.stdout.write(
            f"classifier v{version} of {account.schema_name}; {rejected} of {len(rows)} rows predicted out of scope, "
            f"{expected.count(OUT_OF_SCOPE)} rows labelled with no category of the account (expected: out of scope)"
        )
        self.stdout.write(f"accuracy={accuracy:.4f} macro_f1={macro_f1:.4f} n={len(rows)}")
