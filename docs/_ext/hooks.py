"""MkDocs hooks of the lossbounds site (``hooks:`` in mkdocs.yml).

* The build runs from the repository root, so that the code on the pages
  (markdown-exec blocks) can read ``tests/data/logs/...`` and
  ``benchmarks/...`` with the relative paths that a reader who runs it from
  the source folder uses (the pages say so where they read a log).
* The notebooks live in ``notebooks/``, outside ``docs/``: they are added to
  the site as ``notebooks/<name>.ipynb`` before mkdocs-jupyter renders them.
* Every page in ``docs/losses/`` is in the "Loss reference" section of the
  navigation: pages that mkdocs.yml does not list are added after the listed
  ones, titled by their first heading. A new loss needs its page only.
* Code lines that do not fit wrap (``stylesheets/extra.css``); each line of a
  code block gets its indentation as ``--indent``, so that its continuation
  is indented further than the line itself.
* The math of every page (TeX left by pymdownx.arithmatex, in the pages and
  in the docstrings) becomes MathML here, at build time (``mathml.py`` beside
  this file): the site shows formulas with no script and no network. The
  browser draws MathML with a math font (one with an OpenType MATH table);
  the site ships STIX Two Math (SIL Open Font License, from the ziamath
  package of the ``docs`` extra) as ``stylesheets/fonts/STIXTwoMath.woff``,
  which ``stylesheets/extra.css`` uses.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_ROOT: Path | None = None
_CWD: str | None = None


def _load_mathml():
    """``mathml.py`` beside this file (the hooks are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location("lossbounds_docs_mathml", Path(__file__).with_name("mathml.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MATHML = _load_mathml()


def on_config(config):
    global _ROOT, _CWD
    _ROOT = Path(config.config_file_path).resolve().parent
    _CWD = os.getcwd()
    os.chdir(_ROOT)
    if str(_ROOT) not in sys.path:
        # `import lossbounds` in the page code works from a source checkout.
        sys.path.insert(0, str(_ROOT))
    # Quiet TensorFlow and draw figures without a display.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("MPLBACKEND", "Agg")
    _add_loss_pages(config)
    return config


def _add_loss_pages(config) -> None:
    section = next((entry for entry in config["nav"] or []
                    if isinstance(entry, dict) and "Loss reference" in entry), None)
    if section is None:
        return
    pages = section["Loss reference"]
    listed = {path for entry in pages for path in entry.values()}
    assert _ROOT is not None
    for page in sorted((_ROOT / "docs" / "losses").glob("*.md")):
        path = f"losses/{page.name}"
        if path not in listed:
            first = page.read_text(encoding="utf-8").splitlines()[0]
            pages.append({first.lstrip("# ").strip() or page.stem: path})


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    assert _ROOT is not None
    for notebook in sorted((_ROOT / "notebooks").glob("*.ipynb")):
        # A File whose source directory is the repository root: its path,
        # notebooks/<name>.ipynb, is both where it is and where pages link to.
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(_ROOT),
                          dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files


@event_priority(-100)  # after the other plugins have produced the page's HTML
def on_page_content(html: str, page, config, files) -> str:
    try:
        for item in _toc_items(page.toc):  # headings with math, in the table of contents
            item.title = _MATHML.render_title(item.title)
        return _indent_code_lines(_MATHML.render_math(html))
    except _MATHML.MathError as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None


# A line of a code block (pymdownx.highlight's line_spans), its anchor, and its indentation.
_CODE_LINE = re.compile(r'(<span id="__span-[\d-]+")>((?:<a [^>]*></a>)?(?:<span class="w">)?)( *)')


def _indent_code_lines(html: str) -> str:
    """Each code line says how far it is indented: a wrapped line continues further in (extra.css)."""
    return _CODE_LINE.sub(
        lambda m: f'{m.group(1)} style="--indent: {len(m.group(3))}ch">{m.group(2)}{m.group(3)}', html)


def _toc_items(items):
    for item in items:
        yield item
        yield from _toc_items(item.children)


MATH_FONT = "stylesheets/fonts/STIXTwoMath.woff"


def _write_math_font(site_dir: str) -> None:
    from importlib.resources import files

    from fontTools.ttLib import TTFont

    target = Path(site_dir, MATH_FONT)
    if target.is_file():
        return  # `mkdocs serve` rebuilds into the same folder: written already
    source = files("ziamath") / "fonts" / "STIXTwoMath-Regular.ttf"
    if not source.is_file():
        raise PluginError(f"the math font is not where ziamath kept it: {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as stream:
        font = TTFont(stream)
        font.flavor = "woff"  # the same font, compressed (woff2 would need brotli)
        font.save(target)


def on_post_build(config) -> None:
    _write_math_font(config["site_dir"])
    if _CWD is not None:
        os.chdir(_CWD)
