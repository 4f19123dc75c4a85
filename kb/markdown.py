"""An article's Markdown as HTML that is safe to show customers (the widget, the help centre).

Two steps, each doing one job: markdown-it-py renders CommonMark (plus tables and
strikethrough) and passes raw HTML through, so an imported help centre keeps its `<kbd>` and
`<details>`; nh3 (the Rust `ammonia` sanitiser) then keeps only an allow-list of tags and
attributes. Whatever an author or an import puts in the body, no script, style, event handler,
frame, form or `javascript:`/`data:` URL survives, and every link gets
`rel="nofollow noopener"`: articles are written by many hands and imported from elsewhere.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "s", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "code": {"class"},  # "language-python" from fenced code blocks
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

_renderer = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable(["table", "strikethrough"])


def markdown_render(text: str) -> str:
    """Sanitised HTML of the Markdown `text`."""
    return html_sanitise(_renderer.render(text or ""))


def html_sanitise(html: str) -> str:
    return nh3.clean(
        html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel="nofollow noopener",
        strip_comments=True,
    )
