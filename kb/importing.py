"""Reading a help centre from elsewhere: a folder of Markdown files, or a CSV/JSON export.

- Folder: every `*.md` file below it. The title is the first `# ` heading (the body is what
  follows it), the slug the file name without `.md`. An optional front matter block between
  `---` lines sets `category`, `locale`, `tags` (comma-separated) and `url`.
- CSV (header row) or JSON (a list of objects, or {"articles": [...]}): `title`, `body` and
  `url` (may be empty), optionally `slug`, `locale`, `category`, `tags`. The slug is `slug`,
  else the last part of the URL's path, else the title's.

Each source yields an `ArticleSource` or a problem, one per file or row, so one broken file is
reported and skipped while the rest are imported. Writing is kb.services.article_import.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.text import slugify

MAX_BODY_CHARS = 200_000
MAX_TITLE_CHARS = 300
MAX_SLUG_CHARS = 200
MAX_FILE_BYTES = 20_000_000  # a CSV/JSON export, read whole
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(\n|\Z)", re.S)
_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$")


@dataclass(frozen=True)
class ArticleSource:
    title: str
    body: str
    slug: str
    source_url: str = ""
    locale: str = "en"
    category: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Read:
    """One file or row: `article`, or why not (`problem`)."""

    where: str  # "billing/refunds.md", "export.csv line 4", "export.json item 3"
    article: ArticleSource | None = None
    problem: str = ""


class SourceUnreadable(Exception):
    """The path as a whole cannot be read (not the fault of one article in it)."""


def sources_read(path: str | Path) -> Iterator[Read]:
    path = Path(path)
    if path.is_dir():
        return _folder_read(path)
    if not path.is_file():
        raise SourceUnreadable(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceUnreadable(f"{path}: larger than {MAX_FILE_BYTES // 1_000_000} MB")
        # Read whole here, so an unusable export fails before anything is imported.
        return iter(list(_csv_read(path) if suffix == ".csv" else _json_read(path)))
    if suffix == ".md":
        return _folder_read(path.parent, only=path)
    raise SourceUnreadable(f"{path}: expected a folder of .md files, a .csv or a .json export")


def sources_count(path: str | Path) -> int | None:
    """How many files a folder holds (for a progress bar); None when unknown up front."""
    path = Path(path)
    return sum(1 for _ in path.rglob("*.md")) if path.is_dir() else None


def _problem(source: ArticleSource) -> str:
    if not source.title.strip():
        return "no title"
    if len(source.title) > MAX_TITLE_CHARS:
        return f"the title is longer than {MAX_TITLE_CHARS} characters"
    if not source.body.strip():
        return "no body"
    if len(source.body) > MAX_BODY_CHARS:
        return f"the body is longer than {MAX_BODY_CHARS:,} characters"
    if not source.slug:
        return "no slug can be made of its name (letters or digits needed)"
    if any("\x00" in value for value in (source.title, source.body, source.category, source.source_url, *source.tags)):
        return "contains a NUL character"
    if not _LOCALE.match(source.locale):
        return f"locale {source.locale[:20]!r} is not a language code such as en or pt-BR"
    if len(source.category) > 100 or any(len(tag) > 50 for tag in source.tags):
        return "category (100) or a tag (50 characters) too long"
    if source.source_url:
        try:
            URLValidator(schemes=["http", "https"])(source.source_url)
        except ValidationError:
            return f"url {source.source_url[:100]!r} is not an http(s) address"
        if len(source.source_url) > 500:
            return "url longer than 500 characters"
    return ""


def _checked(where: str, source: ArticleSource) -> Read:
    problem = _problem(source)
    return Read(where=where, problem=problem) if problem else Read(where=where, article=source)


def _tags(value) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value or "").split(",")
    return tuple(dict.fromkeys(str(tag).strip() for tag in items if str(tag).strip()))


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[match.end():]


def markdown_file_parse(text: str, *, slug: str) -> ArticleSource:
    fields, text = _front_matter(text.replace("\r\n", "\n").lstrip("\ufeff"))
    lines = text.split("\n")
    title, body = "", text
    for index, line in enumerate(lines):
        match = _TITLE.match(line)
        if match:
            title, body = match.group(1).strip(), "\n".join(lines[index + 1:])
            break
    return ArticleSource(
        title=title, body=body.strip(), slug=slug, source_url=fields.get("url", fields.get("source_url", "")),
        locale=fields.get("locale", "en") or "en", category=fields.get("category", ""), tags=_tags(fields.get("tags")),
    )


def _folder_read(folder: Path, *, only: Path | None = None) -> Iterator[Read]:
    files = [only] if only else sorted(folder.rglob("*.md"))
    for file in files:
        where = str(file.relative_to(folder))
        try:
            if file.stat().st_size > MAX_BODY_CHARS * 4:
                yield Read(where=where, problem="file too large")
                continue
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            yield Read(where=where, problem="not UTF-8 text")
            continue
        except OSError as error:
            yield Read(where=where, problem=f"unreadable ({error.strerror or error})")
            continue
        source = markdown_file_parse(text, slug=slugify(file.stem)[:MAX_SLUG_CHARS])
        if not source.title:
            yield Read(where=where, problem="no '# ' title heading")
            continue
        yield _checked(where, source)


def _slug_of(record: dict) -> str:
    slug = str(record.get("slug") or "").strip()
    if not slug and record.get("url"):
        slug = urlsplit(str(record["url"])).path.rstrip("/").rpartition("/")[2]
    if not slug:
        slug = str(record.get("title") or "")
    return slugify(slug)[:MAX_SLUG_CHARS]


def _record_read(where: str, record) -> Read:
    if not isinstance(record, dict):
        return Read(where=where, problem="not an object with title, body and url")
    record = {str(key).strip().lower(): value for key, value in record.items()}
    for key in ("title", "body", "url", "slug", "locale", "category"):
        if record.get(key) is not None and not isinstance(record[key], (str, int, float)):
            return Read(where=where, problem=f"{key} is not text")
    source = ArticleSource(
        title=str(record.get("title") or "").strip(), body=str(record.get("body") or "").strip(), slug=_slug_of(record),
        source_url=str(record.get("url") or "").strip(), locale=str(record.get("locale") or "en").strip() or "en",
        category=str(record.get("category") or "").strip(), tags=_tags(record.get("tags")),
    )
    return _checked(where, source)


def _csv_read(path: Path) -> Iterator[Read]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            rows = list(csv.reader(file))
    except UnicodeDecodeError:
        raise SourceUnreadable(f"{path}: not UTF-8 text") from None
    except csv.Error as error:
        raise SourceUnreadable(f"{path}: not a CSV file ({error})") from None
    if not rows:
        raise SourceUnreadable(f"{path}: empty")
    header = [column.strip().lower() for column in rows[0]]
    missing = [column for column in ("title", "body", "url") if column not in header]
    if missing:
        raise SourceUnreadable(f"{path}: the header must name the columns title, body and url (missing: {', '.join(missing)})")
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Read(where=f"{path.name} row {number}", problem=f"{len(row)} columns where the header has {len(header)}")
            continue
        yield _record_read(f"{path.name} row {number}", dict(zip(header, row)))


def _json_read(path: Path) -> Iterator[Read]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SourceUnreadable(f"{path}: not JSON ({str(error)[:120]})") from None
    except RecursionError:
        raise SourceUnreadable(f"{path}: JSON nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if not isinstance(data, list):
        raise SourceUnreadable(f"{path}: expected a list of articles (or {{\"articles\": [...]}})")
    for number, record in enumerate(data, start=1):
        yield _record_read(f"{path.name} item {number}", record)
