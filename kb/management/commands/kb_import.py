"""manage.py kb_import --account SLUG PATH: a help centre into an account's knowledge base.

PATH is a folder of Markdown files or a CSV/JSON export (kb/importing.py says what each must
hold). Idempotent by slug: importing again updates, never duplicates. A broken file or row is
reported and skipped; the others are imported. The passages are embedded here, before the
command ends (no worker needed), and only those whose text changed.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from config.errors import ApplicationError
from kb import importing, services
from kb.embedding import passage_model
from accounts.commands import account_get
from kb.management.commands._common import articles_index
from kb.selectors import articles_to_index


def help_centre_import(path, *, stdout, stderr, style=None) -> dict:
    """Import `path` into the current tenant and index what changed; the counts. Shared by the
    command and the demo's help centre (kb/demo.py)."""
    counts = {services.IMPORT_CREATED: 0, services.IMPORT_UPDATED: 0, services.IMPORT_UNCHANGED: 0, "skipped": 0}
    try:
        reads = importing.sources_read(path)
        total = importing.sources_count(path)
    except importing.SourceUnreadable as error:
        raise CommandError(str(error)) from None
    seen: dict[str, str] = {}
    imported: list[int] = []
    with tqdm(total=total, desc="importing", unit="article", file=stderr, disable=None, leave=False) as bar:
        for read in reads:
            bar.update(1)
            problem = read.problem
            if not problem and read.article.slug in seen:
                problem = f"the same slug ({read.article.slug}) as {seen[read.article.slug]}"
            if not problem:
                try:
                    article, outcome = services.article_import(source=read.article, index_later=False)
                except ApplicationError as error:
                    problem = error.message
            if problem:
                counts["skipped"] += 1
                bar.write(f"skipped {read.where}: {problem}", file=stderr)
                continue
            seen[read.article.slug] = read.where
            counts[outcome] += 1
            imported.append(article.pk)
    pending = articles_to_index(model=passage_model()).filter(pk__in=imported)
    indexed, embedded, problems = articles_index(list(pending), total=pending.count(), stderr=stderr, label="indexing")
    for problem in problems:
        stderr.write(problem)
    counts.update(indexed=indexed, embedded=embedded, index_failed=len(problems))
    return counts


class Command(BaseCommand):
    help = "Import a help centre (a folder of .md files, or a CSV/JSON export with title, body, url) into an account."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="The account's slug")
        parser.add_argument("path", help="A folder of .md files, or a .csv/.json export")

    def handle(self, *args, **options):
        account = account_get(options["account"])
        with tenant_context(account):
            counts = help_centre_import(options["path"], stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(
            f"{account.schema_name}: {counts['created']} new, {counts['updated']} updated, {counts['unchanged']} unchanged, "
            f"{counts['skipped']} skipped; {counts['indexed']} articles indexed, {counts['embedded']} passages embedded"
            + (f"; {counts['index_failed']} could not be indexed (run kb_reindex)" if counts["index_failed"] else "")
        )
        if counts["index_failed"]:
            raise CommandError(f"{counts['index_failed']} article(s) imported but not indexed; run kb_reindex --account {account.schema_name}")
