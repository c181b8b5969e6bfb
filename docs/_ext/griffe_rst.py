"""Griffe extension: render the reStructuredText bits of our numpydoc docstrings.

The docstrings are written for numpydoc (and read in a terminal with
``help()``), so they use a few reStructuredText constructs that Markdown
does not know. mkdocstrings renders docstrings as Markdown; this extension
rewrites, before parsing:

* ``:math:`x``` to arithmatex inline math, ``.. math::`` blocks (and the
  one-line ``.. math:: x``) to display math;
* ``:func:`f```, ``:class:``, ``:meth:``, ``:attr:``, ``:data:``,
  ``:mod:``, ``:doc:`` roles to inline code;
* citations ``[1]_`` to ``[1]`` and their ``.. [1]`` targets to plain text;
* simple tables (``====  ====`` rules) to Markdown tables;
* definition lists (a term, its definition indented below it) to Markdown
  definition lists, in the prose of a docstring (not in its Parameters,
  Returns, ... sections, which numpydoc reads as such lists);
* a paragraph ending in ``::`` followed by an indented block to a code block.

The docstrings themselves are not changed.
"""

from __future__ import annotations

import re
import textwrap

import griffe

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_OTHER_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc|doc|ref):`~?([^`]+)`")
_DOC_TARGET = re.compile(r"^(.*?)\s*<[^>]+>$")
_CITATION = re.compile(r"\[(\d+)\]_")
_CITATION_TARGET = re.compile(r"^(\s*)\.\. \[(\d+)\]\s*")
_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _role(match: re.Match[str]) -> str:
    text = match.group(1)
    label = _DOC_TARGET.match(text)
    return f"`{label.group(1) if label else text}`"


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(lines: list[str]) -> list[str]:
    """Turn ``.. math::`` directives and ``::`` literal blocks into Markdown."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::") and stripped != ".. math::":
            # The one-line form, ".. math:: formula", maybe continued by an indented block.
            line = line[: line.index(".. math::")] + ".. math::"
            lines = [*lines[:i], line, " " * (_indent_of(line) + 4) + stripped[len(".. math::"):].strip(),
                     *lines[i + 1:]]
            stripped = ".. math::"
        is_math = stripped == ".. math::"
        is_literal = stripped.endswith("::") and not stripped.startswith("..") and stripped != "::"
        if is_math or is_literal or stripped == "::":
            base = _indent_of(line)
            j = i + 1
            body: list[str] = []
            while j < len(lines) and (not lines[j].strip() or _indent_of(lines[j]) > base):
                body.append(lines[j])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            block = textwrap.dedent("\n".join(body)).strip("\n")
            pad = " " * base
            if not block:
                out.append(line)
                i += 1
                continue
            if is_math:
                out.extend([pad + "$$", *(pad + b for b in block.splitlines()), pad + "$$", ""])
            else:
                if stripped != "::":
                    out.append(line.rstrip()[:-1])  # "Run it::" reads "Run it:"
                    out.append("")
                out.extend([pad + "```", *(pad + b for b in block.splitlines()), pad + "```", ""])
            i = j
            continue
        out.append(line)
        i += 1
    return out


def _tables(lines: list[str]) -> list[str]:
    """Simple reST tables (rule, header, rule, rows, rule) to Markdown tables."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if _RULE.match(lines[i]) and i + 2 < len(lines) and _RULE.match(lines[i + 2]):
            rule = lines[i]
            spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
            j = i + 3
            rows = [lines[i + 1]]
            while j < len(lines) and not _RULE.match(lines[j]):
                rows.append(lines[j])
                j += 1
            if j == len(lines):  # not a table after all
                out.append(lines[i])
                i += 1
                continue

            def cells(row: str) -> list[str]:
                found = []
                for k, (start, _) in enumerate(spans):
                    end = spans[k + 1][0] if k + 1 < len(spans) else None
                    found.append(row[start:end].strip().replace("|", "\\|"))
                return found

            # A row whose first cell is blank continues the row above it.
            body: list[list[str]] = []
            for row in rows[1:]:
                if not row.strip():
                    continue
                found = cells(row)
                if body and not found[0]:
                    body[-1] = [f"{a} {b}".strip() for a, b in zip(body[-1], found)]
                else:
                    body.append(found)
            pad = " " * _indent_of(rule)
            out.append(pad + "| " + " | ".join(cells(rows[0])) + " |")
            out.append(pad + "|" + "|".join("---" for _ in spans) + "|")
            out.extend(pad + "| " + " | ".join(row) + " |" for row in body)
            i = j + 1
            continue
        out.append(lines[i])
        i += 1
    return out


_SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")
# numpydoc sections whose text is prose, where a definition list may stand.
_PROSE_SECTIONS = {"", "notes", "references", "warnings"}
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#\.)\s")


def _definitions(lines: list[str]) -> list[str]:
    """reST definition lists (a term, then its indented definition) to Markdown's ``def_list``."""
    out: list[str] = []
    section = ""
    after_definition = -1  # the indent of the definition that ended on the line above, if one did
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _SECTION_RULE.match(following):
            section = line.strip().lower()
        is_term = (
            section in _PROSE_SECTIONS
            and line.strip()
            and following.strip()
            and _indent_of(following) > _indent_of(line)
            and (i == 0 or not lines[i - 1].strip() or _SECTION_RULE.match(lines[i - 1])
                 or after_definition == _indent_of(line))
            and not line.rstrip().endswith(":")
            and not line.lstrip().startswith(("..", ">>>", "```", "$$", "|"))
            and not _LIST_ITEM.match(line)
        )
        if not is_term:
            out.append(line)
            after_definition = -1
            i += 1
            continue
        base = _indent_of(line)
        j = i + 1
        body: list[str] = []
        while j < len(lines) and (not lines[j].strip() or _indent_of(lines[j]) > base):
            body.append(lines[j])
            j += 1
        blanks = 0
        while body and not body[-1].strip():
            body.pop()
            blanks += 1
        pad = " " * base
        definition = textwrap.dedent("\n".join(body)).splitlines()
        out.append(line)
        out.append(f"{pad}:   {definition[0]}")
        out.extend(f"{pad}    {d}" if d.strip() else "" for d in definition[1:])
        out.extend([""] * blanks)
        after_definition = -1 if blanks else base
        i = j
    return out


def rst_to_markdown(text: str) -> str:
    """The docstring `text` with its reStructuredText constructs in Markdown."""
    lines = _tables(text.splitlines())
    lines = _blocks(lines)
    lines = _definitions(lines)
    converted = []
    for line in lines:
        line = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", line)
        line = _OTHER_ROLE.sub(_role, line)
        line = _CITATION.sub(r"[\1]", line)
        line = _CITATION_TARGET.sub(r"\1[\2] ", line)
        converted.append(line)
    return "\n".join(converted)


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring before mkdocstrings parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
