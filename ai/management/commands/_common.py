"""What the AI commands share: the `--account`/`--csv` arguments and the `text,label` CSV reader.
Anything unusable is one readable line and a non-zero exit (CommandError)."""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import CommandError

from ai.examples import example_problem


def account_csv_arguments(parser) -> None:
    """The two arguments every example command takes."""
    parser.add_argument("--account", required=True, help="The account's slug")
    parser.add_argument("--csv", required=True, help="CSV file with the header text,label")


def csv_path_check(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"no such file: {path}")
    return file


HEADER = ["text", "label"]


def csv_rows_read(path, *, report) -> list[tuple[int, str, str]]:
    """(line number, text, label) of every good row of a `text,label` CSV; `report(line, why)`
    for each bad one. Raises CommandError when the file itself is unusable."""
    rows = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            try:
                header = next(reader, None)
            except csv.Error as error:
                raise CommandError(f"{path}: unreadable header ({error})") from error
            if header is None or [h.strip().casefold() for h in header] != HEADER:
                raise CommandError(f"{path}: the first line must be the header 'text,label' (found {','.join(header or [])[:80]!r})")
            line = reader.line_num
            while True:
                start = line + 1  # a quoted field may span lines: report where the row starts
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    report(start, f"unreadable CSV ({error})")
                    line = reader.line_num
                    continue
                line = reader.line_num
                if not row or row == [""]:
                    continue  # a blank line
                if len(row) != len(HEADER):
                    report(start, f"expected 2 columns (text,label), found {len(row)}")
                    continue
                text, label = row
                problem = example_problem(text=text, label=label)
                if problem:
                    report(start, problem)
                    continue
                rows.append((start, text.strip(), label.strip()))
    except UnicodeDecodeError as error:
        raise CommandError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    return rows
