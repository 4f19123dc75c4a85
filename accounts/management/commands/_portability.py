"""What the account_export / account_import / account_delete commands share."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(what: str):
    """A tqdm bar on stderr (hidden when stderr is not a terminal), made once the total is known."""
    return lambda total: tqdm(total=total, desc=what, unit="row", file=sys.stderr, disable=None, mininterval=1, leave=False)


def size_text(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
