"""TeX to MathML at build time, so that the pages need no script to show math.

pymdownx.arithmatex (generic mode) leaves the TeX of the pages and of the
docstrings as ``<span class="arithmatex">\\(...\\)</span>`` and
``<div class="arithmatex">\\[...\\]</div>``. :func:`render_math` replaces the
TeX inside each by MathML (converted by latex2mathml), which browsers draw
natively: no MathJax, no CDN, nothing to load. The TeX stays in the page as a
MathML annotation (not displayed; used by screen readers and when copying).

latex2mathml's output is adjusted where browsers would draw it differently
from TeX:

* a thin space around function names (``t \\ln p``, ``\\log \\sum``), which
  MathML leaves to the renderer and browsers do not add;
* ``\\sum`` and ``\\prod`` take their limits above and below in display
  math (``munderover``; inline, the browser moves them to the side as TeX
  does), and ``\\max`` is a name (``mi``) as in TeX, not a spaced operator;
* ``\\operatorname{f}`` is read as ``\\mathrm{f}``; accents over a letter
  (``\\hat y``, ``\\bar y``) use the spacing accent glyphs and do not
  stretch; absolute-value bars get no operator spacing; negative spaces
  (``\\!``), which MathML Core cannot express, are dropped.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert

NS = "http://www.w3.org/1998/Math/MathML"
ET.register_namespace("", NS)

_ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.DOTALL
)
_DELIMITERS = {"\\(": "\\)", "\\[": "\\]", "$$": "$$", "$": "$"}
_OPERATORNAME = re.compile(r"\\operatorname\*?\s*\{")

# Upright function names after which TeX puts a thin space before an operand.
_FUNCTIONS = {
    "ln", "log", "exp", "lg", "sin", "cos", "tan", "sinh", "cosh", "tanh",
    "arg", "det", "dim", "gcd", "deg", "hom", "ker", "lim", "max", "min",
    "sup", "inf", "Pr",
}
# Operators whose limits go above and below in display math.
_BIG = {"\u2211", "\u220f", "\u2210", "\u22c3", "\u22c2"}
_OPENING = set("([{\u27e8|\u2016\u230a\u2308")
_SCRIPTED = {"msub": "munder", "msup": "mover", "msubsup": "munderover"}
# Where TeX may break a line of inline math: after these, unless they are unary.
_BREAK_AFTER = set("=\u2260<>\u2264\u2265\u2248\u2208\u226a\u226b\u2192\u2261\u223c+\u2212\u00b1\u00d7\u22c5")
_CLOSING = set(")]}\u27e9|\u2016\u230b\u2309")
# Accents as latex2mathml writes them, and the spacing accent glyphs that browsers place well.
_ACCENTS = {"^": "\u02c6", "\u02c6": "\u02c6", "~": "\u02dc", "\u02dc": "\u02dc", "\u00af": "\u00af",
            "\u02c9": "\u00af", "\u02d9": "\u02d9", "\u00a8": "\u00a8", "\u02c7": "\u02c7"}
_FIXED_ARITY = {
    "msub", "msup", "msubsup", "munder", "mover", "munderover", "mfrac", "mroot", "mmultiscripts",
}


class MathError(ValueError):
    """TeX that latex2mathml cannot convert, with the page that has it."""


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _local(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


def _text(element: ET.Element) -> str:
    return "".join(element.itertext()).strip()


def _function_name(element: ET.Element) -> bool:
    """``ln``, or ``max`` with scripts: an element after which TeX adds a thin space."""
    if _local(element) in _SCRIPTED or _local(element) in _SCRIPTED.values():
        element = element[0] if len(element) else element
    return _local(element) in {"mi", "mo"} and _text(element) in _FUNCTIONS


def _ordinary(element: ET.Element) -> bool:
    """A letter, number, script or closing fence: TeX puts a thin space between it and ``\\ln``."""
    if _local(element) == "mspace":
        return False
    if _local(element) == "mo":
        return _text(element)[-1:] in _CLOSING
    return True


def _opens(element: ET.Element) -> bool:
    """Starts with an opening fence, or is space: no thin space before it."""
    while _local(element) == "mrow" and len(element):
        element = element[0]
    if _local(element) == "mspace":
        return True
    return _local(element) == "mo" and _text(element)[:1] in _OPENING


def _adjust(parent: ET.Element) -> None:
    children = list(parent)
    for child in children:
        _adjust(child)
        name = _local(child)
        if name == "mo" and _text(child).isalpha() and len(_text(child)) > 1:
            child.tag = _q("mi")  # \max: a name, not an operator with operator spacing
        if name in _SCRIPTED and len(child) and _local(child[0]) == "mo" and _text(child[0]) in _BIG:
            child.tag = _q(_SCRIPTED[name])  # limits above and below in display math
        if name == "mover" and len(child) == 2 and _local(child[1]) == "mo" and _text(child[1]) in _ACCENTS:
            if child.get("accent") == "true" or len(list(child[0].iter())) <= 2:
                # \hat y, \bar y: an accent of the letter's width, in its accent glyph.
                child.set("accent", "true")
                child[1].set("stretchy", "false")
                child[1].text = _ACCENTS[_text(child[1])]
        if name == "mo" and _text(child) in {"|", "\u2016"}:
            child.set("lspace", "0")  # |x|: bars, not a relation with space around it
            child.set("rspace", "0")
    if _local(parent) in _FIXED_ARITY:
        return  # msub, mfrac, ...: their children are positions, none can be added or dropped
    rebuilt: list[ET.Element] = []
    for index, child in enumerate(children):
        name = _local(child)
        if name == "mspace" and child.get("width", "").startswith("negative"):
            continue  # \! and friends: no negative space in MathML Core
        if name == "mo" and not _text(child) and not len(child):
            continue  # the empty operator latex2mathml leaves for \operatorname
        if _function_name(child) and rebuilt and _ordinary(rebuilt[-1]):
            rebuilt.append(ET.Element(_q("mspace"), width="0.1667em"))  # t \ln q, (1-t) \ln q
        rebuilt.append(child)
        following = children[index + 1] if index + 1 < len(children) else None
        if following is not None and _function_name(child):
            apply = ET.Element(_q("mo"))
            apply.text = "\u2061"  # function application, for screen readers
            rebuilt.append(apply)
            if not _opens(following):
                rebuilt.append(ET.Element(_q("mspace"), width="0.1667em"))
    if rebuilt != children:
        for child in children:
            parent.remove(child)
        parent.extend(rebuilt)


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """One formula, without delimiters, as a ``<math>`` element.

    Browsers do not break a line inside inline math, so an inline formula is
    cut, as TeX would break it, after each relation or binary operator of its
    top level: several ``<math>`` elements, with a line break allowed between
    them (``<wbr>``). A formula in one piece keeps its TeX as an annotation.
    """
    source = " ".join(tex.split())
    prepared = _OPERATORNAME.sub(r"\\mathrm{", source)
    try:
        converted = convert(prepared, display="block" if display else "inline")
        root = ET.fromstring(converted)
    except Exception as error:  # latex2mathml raises many kinds
        raise MathError(f"cannot convert TeX {source!r} to MathML: {error}") from error
    _adjust(root)
    row = list(root)
    while len(row) == 1 and _local(row[0]) == "mrow":
        row = list(row[0])
    pieces = [row] if display else _pieces(row)
    if len(pieces) > 1:
        return "<wbr>".join(_math(piece, display) for piece in pieces)
    return _math(row, display, source)


def _pieces(row: list[ET.Element]) -> list[list[ET.Element]]:
    """The top-level row cut after relations and binary operators, where TeX may break a line.

    Not inside parentheses, and not after a unary sign (``= -x``, ``(-x``).
    """
    pieces: list[list[ET.Element]] = [[]]
    previous: ET.Element | None = None
    depth = 0  # inside plain parentheses, which TeX could break but a reader would rather not
    for index, child in enumerate(row):
        pieces[-1].append(child)
        if _local(child) == "mo" and _text(child) in {"(", "[", "{"}:
            depth += 1
        elif _local(child) == "mo" and _text(child) in {")", "]", "}"}:
            depth = max(0, depth - 1)
        is_operator = _local(child) == "mo" and _text(child) in _BREAK_AFTER
        unary = previous is None or (_local(previous) == "mo" and _text(previous) not in _CLOSING)
        if is_operator and not unary and depth == 0 and index < len(row) - 1:
            child.set("form", "infix")  # its spacing, though it now ends a <math>
            pieces.append([])
        if _local(child) != "mspace":
            previous = child
    return [piece for piece in pieces if piece]


def _math(children: list[ET.Element], display: bool, tex: str | None = None) -> str:
    root = ET.Element(_q("math"), display="block" if display else "inline")
    body = ET.Element(_q("mrow"))
    body.extend(children)
    if tex is None:
        root.append(body)
    else:
        semantics = ET.SubElement(root, _q("semantics"))
        semantics.append(body)
        annotation = ET.SubElement(semantics, _q("annotation"), encoding="application/x-tex")
        annotation.text = tex
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _replace(match: re.Match[str]) -> str:
    tag, raw = match.group("tag"), html.unescape(match.group("tex")).strip()
    for opening, closing in _DELIMITERS.items():
        if raw.startswith(opening) and raw.endswith(closing) and len(raw) >= len(opening) + len(closing):
            tex, display = raw[len(opening):-len(closing)], opening in {"\\[", "$$"}
            break
    else:
        raise MathError(f"arithmatex output without delimiters: {raw!r}")
    return f'<{tag} class="arithmatex">{tex_to_mathml(tex, display)}</{tag}>'


def render_math(page_html: str) -> str:
    """Every arithmatex element of a page, with its TeX replaced by MathML."""
    return _ARITHMATEX.sub(_replace, page_html)


_INLINE = re.compile(r"\\\((.+?)\\\)", re.DOTALL)


def render_title(title: str) -> str:
    """A table-of-contents entry: the heading's text, whose math is still TeX."""
    return _INLINE.sub(lambda m: tex_to_mathml(html.unescape(m.group(1))), title)
