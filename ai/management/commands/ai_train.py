"""manage.py ai_train --account SLUG: train the account's classifier from its examples and
corrections and store it as the newest version (workers use it from their next message)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from accounts.commands import account_get
from ai.training import classifier_train
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Train an account's message classifier from its examples and corrections; stores a new version."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="The account's slug")

    def handle(self, *args, **options):
        account = account_get(options["account"])
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, mininterval=2)
            bar.update(done - bar.n)

        try:
            with tenant_context(account):
                trained = classifier_train(progress=progress)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        finally:
            for bar in bars.values():
                bar.close()
        held_out = trained.metrics.get("held_out") or {}
        estimate = (
            f", held-out accuracy {held_out['accuracy']:.4f} ({held_out['accuracy_with_out_of_scope']:.4f} with out-of-scope)"
            if held_out else ""
        )
        self.stdout.write(
            f"trained {account.schema_name} classifier v{trained.version}: {trained.example_count} examples, "
            f"{len(trained.categories)} categories, {trained.training_seconds:.1f}s"
            f"{estimate}, out-of-scope threshold {trained.out_of_scope_threshold:.4f}"
        )
