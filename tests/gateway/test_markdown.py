"""Markdown sent to a helpdesk carries no raw HTML and no link other than http(s)/mailto,
whatever the person typed, and reads back exactly as typed.

Checked with two real renderers set up as a careless helpdesk would: markdown-it-py
(CommonMark, raw HTML on, its own link check off) and Python-Markdown (Gruber's
dialect, raw HTML passed through).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from html.parser import HTMLParser

import markdown
import pytest
from markdown_it import MarkdownIt

from bot.gateway.markdown import from_markdown, to_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<b>bold</b> <a href='javascript:alert(1)'>x</a>",
    "[click](javascript:alert(1))",
    "[click]( JAVASCRIPT:alert(1) )",
    "[click](<javascript:alert(1)>)",
    "![pic](javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "[click](//evil.example/x)",
    "[click](/admin/delete)",
    "[click][ref]\n\n[ref]: javascript:alert(1)",
    "[ref]\n\n[ref]:\n  javascript:alert(1)",
    "- [ref]\n\n- [ref]: javascript:alert(1)",
    "[a\nb]: javascript:alert(1)\n\n[a b]",
    "[a\\]b]: javascript:alert(1)\n\n[a\\]b]",
    "<javascript:alert(1)>",
    "<https://ok.example>",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "&lt;script&gt;",
    "[x](&#106;avascript:alert(1))",
    "[x]\\(javascript:alert(1))",
    "\\[x](javascript:alert(1))",
    '[x](javascript:alert(1) "title")',
    "`<b>`  and ```\n<script>\n```",
    "> [x](javascript:alert(1))",
]
ALLOWED_HREF = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def careless_commonmark(text: str) -> str:
    renderer = MarkdownIt("commonmark", {"html": True})
    renderer.validateLink = lambda url: True  # type: ignore[method-assign]
    return str(renderer.render(text))


def careless_gruber(text: str) -> str:
    return str(markdown.markdown(text))


RENDERERS = [careless_commonmark, careless_gruber]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.targets += [v or "" for k, v in attrs if k in ("href", "src")]


def links_and_tags(html: str) -> tuple[list[str], list[str]]:
    """The link targets and the elements a browser would see in `html`."""
    parser = _Elements()
    parser.feed(html)
    return parser.targets, parser.tags


@pytest.mark.parametrize("render", RENDERERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_no_html_and_no_unsafe_link(
    render: Callable[[str], str], text: str
) -> None:
    html = render(to_markdown(text))
    targets, tags = links_and_tags(html)
    assert [t for t in targets if not ALLOWED_HREF.match(t)] == [], html
    assert set(tags) <= {"p", "code", "pre", "ul", "li", "a", "em", "strong", "br"}, html


def test_the_same_text_unescaped_would_have_been_dangerous() -> None:
    """The renderers above are careless indeed: without to_markdown they let it through."""
    dangerous = 0
    for text in HOSTILE:
        targets, tags = links_and_tags(careless_commonmark(text) + careless_gruber(text))
        unsafe = [t for t in targets if not ALLOWED_HREF.match(t)]
        dangerous += bool(unsafe or {"script", "img", "b"} & set(tags))
    assert dangerous >= 15


@pytest.mark.parametrize("render", RENDERERS, ids=lambda r: r.__name__)
def test_formatting_and_safe_links_survive(render: Callable[[str], str]) -> None:
    text = (
        "*Printer* is **down**, see [the log](https://logs.example/1?a=1&b=2) "
        "or mail [us](mailto:it@example.com)"
    )
    html = render(to_markdown(text))
    assert "<em>Printer</em>" in html and "<strong>down</strong>" in html
    assert 'href="https://logs.example/1?a=1&amp;b=2"' in html
    assert 'href="mailto:it@example.com"' in html


def test_it_reads_back_exactly_as_typed() -> None:
    samples = [*HOSTILE, 'a < b && c > d, it\'s "fine" — perché?', "C:\\Users\\(x)\\:y\\\\(z)"]
    alphabet = "\\[]():<>&;#ltgamp x\n"
    chosen = random.Random(11)
    samples += ["".join(chosen.choices(alphabet, k=30)) for _ in range(3000)]
    assert [s for s in samples if from_markdown(to_markdown(s)) != s] == []
