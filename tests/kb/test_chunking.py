"""Articles cut into passages: by headings (kept as a path), paragraphs packed up to the size
limit in the embedder's own tokens (never over what the embedder reads), long sections
overlapping, and Markdown/HTML hostile or not reduced to plain words. Plus the sanitiser."""

from __future__ import annotations

import re

import pytest

from ai.local.embedders import MAX_TOKENS, embedder_get
from kb.chunking import MAX_CHUNK_TOKENS, article_split, content_hash, tokens_estimate
from kb.markdown import markdown_render


def _e5_count(text: str) -> int:
    return embedder_get("e5-small").count_tokens(text, purpose="passage")


LONG = " ".join(f"Sentence {i} explains how the bank processes a card refund over several days." for i in range(80))


def test_headings_become_the_path_and_code_is_not_a_heading():
    body = "# Refunds\n\nIntro.\n\n## Card payments\n\nFive days.\n\n```\n# not a heading\n```\n\n### Chargebacks\n\nAsk your bank.\n\n## PayPal\n\nInstant."
    chunks = article_split(title="Refunds", body=body)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ("Refunds", "Intro."),
        ("Refunds > Card payments", "Five days.\n# not a heading"),
        ("Refunds > Card payments > Chargebacks", "Ask your bank."),
        ("Refunds > PayPal", "Instant."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert chunks[1].content_hash == content_hash(heading_path="Refunds > Card payments", text="Five days.\n# not a heading")


def test_small_paragraphs_share_a_passage_and_a_long_section_is_cut_with_overlap():
    body = "## Timing\n\nFirst short paragraph.\n\nSecond short paragraph.\n\n" + LONG
    chunks = article_split(title="Refunds", body=body, count_tokens=_e5_count)
    assert chunks[0].text.startswith("First short paragraph.\nSecond short paragraph.")
    assert len(chunks) >= 4
    for previous, chunk in zip(chunks, chunks[1:]):
        # The next passage begins with the end of the previous one.
        first_sentence = chunk.text.split(". ")[0]
        assert first_sentence in previous.text and not chunk.text.startswith(previous.text[:60])
    # Every sentence is somewhere; nothing is lost at a cut.
    everything = "\n".join(c.text for c in chunks)
    assert all(f"Sentence {i} explains" in everything for i in range(80))


def test_nothing_embedded_is_longer_than_the_embedder_reads():
    word_soup = "supercalifragilistic " * 600  # one "sentence" of 600 long words, no full stop
    chunks = article_split(title="A title that is quite long > with separators", body=LONG + "\n\n" + word_soup, count_tokens=_e5_count)
    for chunk in chunks:
        counted = _e5_count(chunk.embedding_text)
        assert counted == chunk.token_count
        assert counted <= MAX_CHUNK_TOKENS < MAX_TOKENS


def test_the_estimate_is_not_below_the_real_count_on_ordinary_text():
    for text in (LONG, "Réinitialisez votre mot de passe depuis la page de connexion.", "Error E-4012: card_declined (code 51)"):
        assert tokens_estimate(text) >= _e5_count(text) * 0.9


def test_plain_text_only_no_markup():
    chunks = article_split(title="T", body="Click **Save** and see [the guide](https://x.example/guide).\n\n<script>steal()</script><b onclick=x>Bold</b>")
    assert chunks[0].text == "Click Save and see the guide.\nBold"


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        "<style>body{display:none}</style>",
        '<iframe src="https://evil.example"></iframe>',
        '<div style="background:url(javascript:alert(1))" onmouseover="alert(1)">x</div>',
        "<svg><script>alert(1)</script></svg>",
        '<form action="https://evil.example"><input name=p></form>',
    ],
)
def test_rendered_html_keeps_no_script_style_handler_or_javascript_url(hostile):
    html = markdown_render(f"Hello\n\n{hostile}\n\n[ok](https://help.example.com)").lower()
    for forbidden in ("<script", "alert(1)</", "onerror", "onclick", "onmouseover", "<style", "<iframe", "<form", "<input", "style=", "<svg"):
        assert forbidden not in html, (hostile, html)
    # A dangerous URL may remain as visible text, never as a link or source.
    assert not re.search(r"(href|src|action)\s*=\s*[\"']?\s*(javascript|data):", html), html
    assert '<a href="https://help.example.com" rel="nofollow noopener">ok</a>' in html


def test_markdown_renders_what_help_centres_use():
    html = markdown_render("## Steps\n\n1. Open **Settings**\n2. Press <kbd>Save</kbd>\n\n| Plan | Price |\n|---|---|\n| Pro | 10 |\n\n`code`")
    assert "<h2>Steps</h2>" in html and "<ol>" in html and "<strong>Settings</strong>" in html
    assert "<kbd>Save</kbd>" in html and "<table>" in html and "<code>code</code>" in html
