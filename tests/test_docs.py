"""The documentation site builds without a warning, and what it says is true.

* ``mkdocs build --strict`` succeeds. Every ``python exec="on"`` block on the
  pages runs during the build (markdown-exec), so a failing example, a broken
  link or a missing page fails this test. The build takes about 15 s.
* The ``>>>`` examples in the Markdown pages pass as doctests.
* Numbers typed in the prose agree with lossbounds.
* The reStructuredText-to-Markdown conversion of docstrings (the griffe
  extension in ``docs/_ext``) does what the API pages rely on.
"""

from __future__ import annotations

import doctest
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lossbounds

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.parts)
BUILD_TIMEOUT = 600  # seconds; the build takes about 15


def _prose() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


_BUILT: dict[str, Path] = {}


def build_site(tmp_path_factory) -> Path:
    """Build the site once per test session, with the command CI and a reader would use.

    tests/test_browser.py opens this same build in a browser.
    """
    if "site" not in _BUILT:
        _BUILT["site"] = _build(tmp_path_factory.mktemp("site"))
    return _BUILT["site"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory)


def _build(out: Path) -> Path:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(NO_MKDOCS_2_WARNING="1", TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
    )
    log = (done.stdout + done.stderr).strip()
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems or log.splitlines()[-40:])
    return out


def _built(site: Path, page: Path) -> Path:
    relative = page.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        return site / relative.parent / "index.html"
    return site / relative / "index.html"


def test_docs_build_strict(site):
    assert (site / "index.html").is_file()
    assert (site / "search" / "search_index.json").is_file()


def test_every_page_is_built(site):
    missing = [str(page.relative_to(DOCS)) for page in PAGES if not _built(site, page).is_file()]
    assert not missing


def test_pages_show_numbers_computed_at_build_time(site):
    def text(page):
        return (site / page / "index.html").read_text(encoding="utf-8")

    assert "16.118095639272223" in text("how-high")  # lossbounds.worst_case, printed in full
    assert "[16.118095 15.942385]" in text("how-high")  # the two binary ceilings
    assert "20000.0" in text("how-high")  # live Keras: cached logits beyond the clip
    assert "1.9459101490553132" in (site / "index.html").read_text(encoding="utf-8")
    assert "<svg" in text("reading-logs")  # plot_history, rendered
    assert "usage: lossbounds check-log" in text("reference/cli")


def test_performance_page_includes_the_benchmark_report(site):
    html = (site / "performance" / "index.html").read_text(encoding="utf-8")
    if not (ROOT / "benchmarks" / "results.md").is_file():
        assert "Not generated yet" in html
        return
    assert "Not generated yet" not in html
    assert "geometric mean" in html  # the report's table
    if (ROOT / "benchmarks" / "results.png").is_file():
        assert "data:image/png;base64" in html  # its figure, inlined


def test_notebooks_are_rendered_with_their_outputs(site):
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = (site / "notebooks" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert "jp-OutputArea" in html and "data:image/png;base64" in html, notebook.name


def test_nav_lists_every_notebook():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.name}" in config


def test_getting_started_shows_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.+?)\n```", readme)[:2]
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert len(commands) == 2
    for command in commands:
        assert f"```bash\n{command}\n```" in index


@pytest.mark.parametrize(
    "page", [p for p in PAGES if ">>> " in p.read_text(encoding="utf-8")],
    ids=lambda p: str(p.relative_to(DOCS)),
)
def test_markdown_doctests(page):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(page), module_relative=False, optionflags=flags, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def _tf_keras_label_zero() -> float:
    """Legacy tf.keras binary cross-entropy of label 0 predicted 1, in float32."""
    eps = np.float32(1e-7)
    return float(-np.log(np.float32(1) - np.float32(1 - 1e-7) + eps))


# (text as typed in the prose, the value it stands for, decimals shown)
PROSE_NUMBERS = [
    ("16.118", lossbounds.worst_case("cce", n_classes=10), 3),
    ("15.942", float(lossbounds.binary_crossentropy([[0.0]], [[1.0]])[0]), 3),
    ("15.425", lossbounds.worst_case("bce", backend="tf_keras"), 3),
    ("15.333", _tf_keras_label_zero(), 3),
    ("0.693", lossbounds.baseline("bce"), 3),
    ("0.6931469", lossbounds.baseline("bce", backend="tf_keras"), 7),
    ("1.0986", lossbounds.baseline("sparse_cce", n_classes=3), 4),
    ("2.3026", lossbounds.baseline("sparse_cce", n_classes=10), 4),
    ("16.1182", lossbounds.worst_case("sparse_cce", n_classes=1000), 4),
    ("87.3365", float(-np.log(np.finfo(np.float32).tiny)), 4),
    ("100", lossbounds.worst_case("bce", backend="torch", dtype="float16"), 0),
    ("1.46", float(lossbounds.sparse_categorical_crossentropy([0], [[1.0] + [0.0] * 9], from_logits=True)[0]), 2),
    ("0.313", float(lossbounds.binary_crossentropy([[1.0]], [[1.0]], from_logits=True)[0]), 3),
    ("0.09", lossbounds.baseline("mse", n_classes=10), 2),
    ("0.5", lossbounds.best_case("cce", n_classes=10, label_smoothing=0.1), 1),
]


@pytest.mark.parametrize("typed, value, decimals", PROSE_NUMBERS, ids=[n[0] for n in PROSE_NUMBERS])
def test_numbers_in_the_prose_are_lossbounds_values(typed, value, decimals):
    assert typed in _prose()
    assert math.isclose(round(value, decimals), float(typed), abs_tol=10.0**-decimals / 2), (typed, value)


def _griffe_extension():
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "_ext" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_math_roles_and_directives_become_arithmatex():
    convert = _griffe_extension().rst_to_markdown
    text = "Loss :math:`-\\ln p` here.\n\n.. math::\n\n    \\ell = -\\ln p\n\nAfter [1]_.\n\n.. [1] A book."
    assert convert(text) == (
        "Loss $-\\ln p$ here.\n\n$$\n\\ell = -\\ln p\n$$\n\nAfter [1].\n\n[1] A book."
    )


def test_docstring_roles_literal_blocks_and_tables_become_markdown():
    convert = _griffe_extension().rst_to_markdown
    assert convert("See :func:`lossbounds.bounds` and :doc:`the page <keras-semantics>`.") == (
        "See `lossbounds.bounds` and `the page`."
    )
    assert convert("Run it::\n\n    python x.py\n") == "Run it:\n\n```\npython x.py\n```\n"
    table = "=====  =====\nname   value\n=====  =====\na      1\n       more\nb      2\n=====  =====\n"
    assert convert(table) == "| name | value |\n|---|---|\n| a | 1 more |\n| b | 2 |"


def _mathml_module():
    spec = importlib.util.spec_from_file_location("mathml", DOCS / "_ext" / "mathml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tex_becomes_mathml_at_build_time():
    mathml = _mathml_module()
    page = ('<p><span class="arithmatex">\\(1/K &lt; \\epsilon\\)</span></p>'
            '<div class="arithmatex">\\[\n\\ell = -\\sum_{k=1}^{K} y_k \\ln p_k\n\\]</div>')
    html = mathml.render_math(page)
    assert "\\(" not in html and "\\[" not in html
    first, second, display = re.findall(r"<math [^>]*>.*?</math>", html)  # the inline one in two pieces
    assert 'display="inline"' in first and '<mo form="infix">&lt;</mo>' in first and "\u03f5" in second
    assert 'display="block"' in display and "<munderover><mo>\u2211</mo>" in display  # limits below and above
    assert '<annotation encoding="application/x-tex">\\ell = -\\sum_{k=1}^{K} y_k \\ln p_k</annotation>' in display


def test_mathml_spacing_accents_and_line_breaks():
    convert = _mathml_module().tex_to_mathml
    # \ln is a function name: thin spaces around it, the invisible function application after it.
    assert "<mi>t</mi><mspace width=\"0.1667em\" /><mi>ln</mi><mo>\u2061</mo><mspace" in convert(r"t \ln q")
    assert "<mi>ln</mi><mo>\u2061</mo><mo stretchy=\"false\">(</mo>" in convert(r"\ln(1 - p)")
    assert '<mover accent="true"><mi>y</mi><mo stretchy="false">\u02c6</mo></mover>' in convert(r"\hat y")
    assert "<mi>max</mi>" in convert(r"\ell_{\max}")
    assert "<mi mathvariant=\"normal\">l</mi>" in convert(r"\operatorname{log1p}(x)")
    # A long inline formula is cut after its top-level relations and operators, not inside parentheses.
    pieces = convert(r"\ell \le (1 - a)(-\ln \epsilon) + a").split("<wbr>")
    assert len(pieces) == 3 and all(p.startswith("<math ") for p in pieces)
    assert 'form="infix">\u2264</mo></mrow></math>' in pieces[0]


def test_built_site_has_no_tex_left_no_other_host_and_its_math_font(site):
    from test_browser import PAGES  # every page, the loss pages added by the hooks included

    for path in PAGES:
        html = (site / path / "index.html").read_text(encoding="utf-8")
        assert 'class="arithmatex">\\(' not in html and 'class="arithmatex">\\[' not in html, path
        assert "<math " in html or "arithmatex" not in html, path
        external = re.findall(r'<(?:script|link|img|iframe)\b[^>]*?(?:src|href)="(https?:)?//', html)
        assert not external, (path, external)
    assert (site / "stylesheets" / "fonts" / "STIXTwoMath.woff").stat().st_size > 100_000
    assert "fonts.googleapis" not in (site / "index.html").read_text(encoding="utf-8")


def test_docstring_definition_lists_become_markdown_outside_numpydoc_sections():
    convert = _griffe_extension().rst_to_markdown
    text = "Intro:\n\n``a``\n    First,\n    more.\n``b``\n    Second.\n\nAfter.\n\nParameters\n----------\nx : int\n    The x."
    assert convert(text) == (
        "Intro:\n\n``a``\n:   First,\n    more.\n``b``\n:   Second.\n\nAfter.\n\n"
        "Parameters\n----------\nx : int\n    The x."
    )
    assert convert("Text.\n\n.. math:: a \\le b\n\nMore.") == "Text.\n\n$$\na \\le b\n$$\n\nMore."
