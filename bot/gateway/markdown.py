"""Text sent to a helpdesk that renders it as Markdown: formatting yes, HTML and
dangerous links no.

A reply typed in Slack keeps its `*bold*`, lists and `http(s)`/`mailto` links, but
whatever a Markdown renderer would turn into markup of its own is neutralised:

- `<` and `>` become `&lt;` and `&gt;`: no raw HTML, no `<script>`, no `<javascript:…>`
  autolink; an `&` that would start an entity becomes `&amp;`, so text shows as typed;
- a link (`[x](…)`, `![x](…)`) or a link reference definition (`[x]: …`) whose target
  is not `http:`, `https:` or `mailto:` loses its meaning: `](` becomes `]\\(` and `]:`
  becomes `]\\:`, which every Markdown dialect reads as literal characters;
- a backslash before `\\`, `(` or `:` is doubled, so that `from_markdown` can undo all
  this exactly: the bot recognises its own replies when it reads them back.
"""

from __future__ import annotations

import re

SAFE_TARGET = re.compile(r"\s*(?:https?://|mailto:)", re.IGNORECASE)
#: `](` opens a link's target, `]:` a reference definition's
LINK_TARGET = re.compile(r"\](?=[(:])")
ENTITY_START = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
OUR_BACKSLASH = re.compile(r"\\(?=[\\(:])")
OUR_ESCAPES = re.compile(r"\\([\\(:])|&(lt|gt|amp);")
ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}


def to_markdown(text: str) -> str:
    """`text` as Markdown that shows it, its formatting and its safe links, and nothing else."""
    text = OUR_BACKSLASH.sub(r"\\\\", text)
    text = ENTITY_START.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return LINK_TARGET.sub(_link_target, text)


def from_markdown(text: str) -> str:
    """What `to_markdown` was given: its escapes undone, everything else as it is."""
    return OUR_ESCAPES.sub(_unescape, text)


def _link_target(found: re.Match[str]) -> str:
    text, after = found.string, found.end() + 1  # past the "(" or ":"
    return "]" if SAFE_TARGET.match(text, after) else "]\\"


def _unescape(found: re.Match[str]) -> str:
    return found.group(1) or ENTITIES[found.group(2)]
