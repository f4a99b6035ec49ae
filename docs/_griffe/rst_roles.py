"""A griffe extension: render the reST bits of fastapi-nova's docstrings as Markdown.

Most docstrings are Markdown already; some use reST roles (``:class:`~fastapi_nova.Pid```),
``.. code-block:: python`` directives and ``::`` literal blocks, which mkdocstrings would
print as they are. Roles become code spans (``~`` keeps the last name, as in Sphinx),
directives and literal blocks become fenced code. Attributes documented with Sphinx's ``#:``
comments (which griffe does not read) get those comments as their docstring.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from griffe import Docstring, Extension, Object

_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):`(~?)([^`]+)`")
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block::[ \t]*(?P<lang>\w*)[ \t]*$")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _indented_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented block that starts after blank lines at ``start``; (block, next index)."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    return block, i


def markdown(text: str) -> str:
    """``text`` with reST roles, code-block directives and ``::`` blocks made Markdown."""
    text = _ROLE.sub(_role, text)
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        literal = line.rstrip().endswith("::") and not line.strip().startswith("..")
        if directive or literal:
            block, after = _indented_block(lines, i + 1)
            if block:
                if directive:
                    lang = directive.group("lang") or "python"
                else:
                    out.append(line.rstrip()[:-1])  # "text::" reads "text:"
                    lang = "python"
                out += ["", f"```{lang}", *textwrap.dedent("\n".join(block)).splitlines(), "```"]
                i = after
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def comment_docstring(obj: Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's assignment, if any."""
    if not obj.is_attribute or not obj.lineno or not isinstance(obj.filepath, Path):
        return None
    lines = obj.filepath.read_text(encoding="utf-8").splitlines()
    comment: list[str] = []
    index = obj.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(comment) or None


class RstRoles(Extension):
    """Rewrite every docstring once it is loaded."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            text = comment_docstring(obj)
            if text is not None:
                obj.docstring = Docstring(text, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
