"""MkDocs hooks of the lossbounds site (``hooks:`` in mkdocs.yml).

* The build runs from the repository root, so that the code on the pages
  (markdown-exec blocks) can read ``tests/data/logs/...`` and
  ``benchmarks/...`` with the same relative paths a reader would use.
* The notebooks live in ``notebooks/``, outside ``docs/``: they are added to
  the site as ``notebooks/<name>.ipynb`` before mkdocs-jupyter renders them.
* Every page in ``docs/losses/`` is in the "Loss reference" section of the
  navigation: pages that mkdocs.yml does not list are added after the listed
  ones, titled by their first heading. A new loss needs its page only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_ROOT: Path | None = None
_CWD: str | None = None


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


def on_post_build(config) -> None:
    if _CWD is not None:
        os.chdir(_CWD)
