"""The demo tenant's help centre: the Markdown articles in kb/demo_helpcentre/, imported and
indexed through the same code as `manage.py kb_import` (idempotent: re-seeding changes only
what changed in the files)."""

from __future__ import annotations

import io
from pathlib import Path

DEMO_HELPCENTRE = Path(__file__).resolve().parent / "demo_helpcentre"


def kb_demo_seed(*, folder: Path = DEMO_HELPCENTRE) -> dict:
    """Import `folder` into the current (demo) tenant; the import's counts. Bad files are
    skipped as the command skips them (listed in the counts' `problems`)."""
    from kb.management.commands.kb_import import help_centre_import

    if not folder.is_dir() or not any(folder.rglob("*.md")):
        return {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0, "indexed": 0, "embedded": 0, "index_failed": 0, "problems": []}
    out, err = io.StringIO(), io.StringIO()
    counts = help_centre_import(folder, stdout=out, stderr=err)
    counts["problems"] = [line for line in err.getvalue().splitlines() if line.strip()]
    return counts
