"""Account export and import at a big tenant's size: desk_scale's tenant (100,000
conversations, ~1,000,000 messages, 20,000 contacts).

    .venv/bin/python bench/account_portability.py [--rebuild] [--zip FILE]

Builds (or reuses) the tenant of bench/desk_scale.py in its own database, exports it with
`account_export`, imports the zip as a new account with `account_import`, checks the counts
and drops the copy. Prints rows per second, the zip's size, and this process's resident
memory sampled as the rows go by (at 10%, 50% and 100% of them): constant memory means the
last figure is about the first one, whatever the tenant's size. The baseline is the same
process's memory just before the export starts. `--zip FILE` keeps the export there, and a
later run with the same FILE imports it again without exporting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import desk_scale  # noqa: E402
from bench.bulk_tenant import bench_account_drop, bench_database_url, configure_django  # noqa: E402

COPY = "scalecopy"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """A progress bar that records resident memory at 10%, 50% and 100% of the rows."""

    def __init__(self):
        self.samples: dict[str, float] = {}
        self.total = 0

    def __call__(self, total: int):
        self.total, self.done, self.samples = total, 0, {}

        @contextlib.contextmanager
        def bar():
            yield self
            self.samples["100%"] = rss_mb()

        return bar()

    def update(self, n: int) -> None:
        self.done += n
        for mark, share in (("10%", 0.1), ("50%", 0.5)):
            if mark not in self.samples and self.done >= share * self.total:
                self.samples[mark] = rss_mb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--zip", type=Path, help="keep the export here; import this file if it exists")
    args = parser.parse_args()
    configure_django(bench_database_url(desk_scale.BENCH_DB), host=desk_scale.HOST, cache_prefix="hearth-portability")
    print("building the desk_scale tenant if needed ...", flush=True)
    desk_scale.build(rebuild=args.rebuild)

    from accounts.models import Account
    from django_tenants.utils import schema_context

    from accounts.portability import account_export, account_import, catalog

    bench_account_drop(COPY)
    account = Account.objects.get(schema_name=desk_scale.SLUG)
    sampler = Sampler()
    print(f"\n{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        out = args.zip or Path(folder) / "scale.zip"
        if not out.exists():
            baseline = rss_mb()
            started = time.monotonic()
            exported = account_export(account=account, out=out, progress=sampler)
            seconds = time.monotonic() - started
            rows = sum(exported.counts.values())
            print(f"export: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), zip {exported.size_bytes / 2**20:.1f} MB")
            print(f"  resident memory MB: before {baseline:.0f}, " + ", ".join(f"at {k} {v:.0f}" for k, v in sampler.samples.items()))

        baseline = rss_mb()
        started = time.monotonic()
        imported = account_import(archive_path=out, slug=COPY, progress=sampler)
        seconds = time.monotonic() - started
        rows = sum(imported.counts.values())
        print(f"import: {rows:,} tenant rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), load {os.getloadavg()[0]:.2f}")
        print(f"  resident memory MB: before {baseline:.0f}, " + ", ".join(f"at {k} {v:.0f}" for k, v in sampler.samples.items()))
        with schema_context(desk_scale.SLUG):
            source = {model._meta.label: model._base_manager.count() for model in catalog.tenant_models()}
        print(f"  counts equal per model: {source == imported.counts}; peak RSS of the run {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    bench_account_drop(COPY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
