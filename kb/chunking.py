"""An article cut into passages for search and drafts: by headings, then paragraphs.

Each passage carries its heading path ("Refunds > Card payments": the article's title, then
the headings above it), so a passage read alone still says what it is about, and what is
embedded is that path plus the passage's text. The size limit is in the embedder's tokens:
the local E5 reads at most 512 and the MiniLM half of the classifier's embedder truncates at
256 (ai/local/embedders.py MAX_TOKENS); MAX_CHUNK_TOKENS stays below both with room for the
"passage: " prefix, so nothing embedded is ever cut off. A paragraph too long for one passage
is cut between sentences (between words as a last resort). Consecutive passages of one
section overlap by up to OVERLAP_TOKENS (the previous passage's last sentences), so an answer
that straddles a cut is still found whole in one of them. A new heading starts afresh.

The text kept is plain (Markdown syntax and HTML removed): it is what full-text search
indexes, what snippets show and what a draft quotes.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Callable

import nh3

from kb.markdown import _renderer

MAX_CHUNK_TOKENS = 220
OVERLAP_TOKENS = 40
HEADING_SEPARATOR = " > "

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_TOKENISH = re.compile(r"\w+|[^\w\s]", re.UNICODE)

TokenCounter = Callable[[str], int]


def tokens_estimate(text: str) -> int:
    """A fair over-estimate of a subword tokenizer's count (words split into pieces, each
    punctuation mark a token, two specials), for when the embedder's own is not at hand."""
    return 2 + sum(1 + len(piece) // 4 for piece in _TOKENISH.findall(text))


@dataclass(frozen=True)
class ChunkText:
    position: int
    heading_path: str
    text: str
    token_count: int  # of `embedding_text`, with the counter the split used
    content_hash: str

    @property
    def embedding_text(self) -> str:
        return chunk_embedding_text(heading_path=self.heading_path, text=self.text)


def chunk_embedding_text(*, heading_path: str, text: str) -> str:
    """What is embedded for a passage (and hashed: the same words keep their embedding)."""
    return f"{heading_path}\n\n{text}" if heading_path else text


def content_hash(*, heading_path: str, text: str) -> str:
    return hashlib.sha256(chunk_embedding_text(heading_path=heading_path, text=text).encode("utf-8", "surrogatepass")).hexdigest()


def markdown_plain(markdown: str) -> str:
    """The words of a Markdown fragment, without syntax or tags; one line per block."""
    text = html.unescape(nh3.clean(_renderer.render(markdown), tags=set(), clean_content_tags={"script", "style"}))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def _sections(title: str, body: str) -> list[tuple[str, list[str]]]:
    """(heading path, Markdown blocks) per section, in order. Headings inside fenced code are
    code; an H1 repeating the title adds nothing to the path."""
    sections: list[tuple[str, list[str]]] = []
    stack: list[tuple[int, str]] = []
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False

    def path() -> str:
        return HEADING_SEPARATOR.join([title.strip(), *(name for _, name in stack)]) if title.strip() else HEADING_SEPARATOR.join(name for _, name in stack)

    def block_end():
        if current and any(line.strip() for line in current):
            blocks.append("\n".join(current))
        current.clear()

    def section_end():
        block_end()
        if blocks:
            sections.append((path(), list(blocks)))
        blocks.clear()

    for line in (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            current.append(line)
            continue
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            section_end()
            level, name = len(heading.group(1)), markdown_plain(heading.group(2)).replace("\n", " ")
            while stack and stack[-1][0] >= level:
                stack.pop()
            if not (level == 1 and not stack and name.casefold() == title.strip().casefold()) and name:
                stack.append((level, name))
        elif not line.strip() and not in_fence:
            block_end()
        else:
            current.append(line)
    section_end()
    return sections


def _pieces(text: str, *, budget: int, count: TokenCounter) -> list[str]:
    """`text` as pieces of at most `budget` tokens: whole if it fits, else its sentences, a
    sentence too long in word windows."""
    if count(text) <= budget:
        return [text]
    pieces = []
    for sentence in _SENTENCE_END.split(text):
        if count(sentence) <= budget:
            pieces.append(sentence)
            continue
        words: list[str] = []
        for word in sentence.split():
            if words and count(" ".join([*words, word])) > budget:
                pieces.append(" ".join(words))
                words = []
            words.append(word)
        if words:
            pieces.append(" ".join(words))
    return pieces


def _joined(pieces: list[tuple[str, bool]]) -> str:
    """Pieces (text, starts a paragraph) as text: paragraphs on their own lines, the sentences
    of one paragraph side by side."""
    out = ""
    for text, starts in pieces:
        out += (("\n" if starts else " ") if out else "") + text
    return out


def _overlap(pieces: list[tuple[str, bool]], *, budget: int, count: TokenCounter) -> list[tuple[str, bool]]:
    """The last sentences of `pieces` that fit in `budget` tokens (none if even the last does not)."""
    sentences: list[tuple[str, bool]] = []
    for text, starts in pieces:
        parts = _SENTENCE_END.split(text)
        sentences += [(part, starts and i == 0) for i, part in enumerate(parts)]
    taken: list[tuple[str, bool]] = []
    for sentence in reversed(sentences):
        if count(_joined([sentence, *taken])) > budget:
            break
        taken.insert(0, sentence)
    if taken:
        taken[0] = (taken[0][0], True)
    return taken


def article_split(
    *, title: str, body: str, count_tokens: TokenCounter = tokens_estimate,
    max_tokens: int = MAX_CHUNK_TOKENS, overlap_tokens: int = OVERLAP_TOKENS,
) -> list[ChunkText]:
    """The article's passages, in reading order."""
    chunks: list[ChunkText] = []
    for heading_path, blocks in _sections(title, body):
        # Room left for the text once the heading path (embedded with it) is counted.
        budget = max(max_tokens - count_tokens(heading_path + "\n\n"), max_tokens // 4)
        pieces: list[tuple[str, bool]] = []
        for block in blocks:
            plain = markdown_plain(block)
            if plain:
                pieces.extend((piece, i == 0) for i, piece in enumerate(_pieces(plain, budget=budget, count=count_tokens)))
        current: list[tuple[str, bool]] = []

        def emit():
            text = _joined(current).strip()
            if text:
                chunks.append(ChunkText(
                    position=len(chunks), heading_path=heading_path, text=text,
                    token_count=count_tokens(chunk_embedding_text(heading_path=heading_path, text=text)),
                    content_hash=content_hash(heading_path=heading_path, text=text),
                ))

        for piece in pieces:
            if current and count_tokens(_joined([*current, piece])) > budget:
                emit()
                carried = _overlap(current, budget=overlap_tokens, count=count_tokens)
                current = carried if carried and count_tokens(_joined([*carried, piece])) <= budget else []
            current.append(piece)
        emit()
    return chunks
