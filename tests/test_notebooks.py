"""The notebooks run from top to bottom, and are committed with their outputs.

Each notebook in ``notebooks/`` is executed afresh with nbclient, on a
temporary copy (the committed file is never touched), in a Python kernel of
the interpreter running the tests, with this checkout first on the path.
They train small Keras models on tiny data: about 20 s each on one CPU.

To re-execute them and write the outputs back into ``notebooks/`` (what is
committed), run this file as a script::

    python tests/test_notebooks.py            # all notebooks
    python tests/test_notebooks.py 02         # those whose name contains "02"

Writing back also drops TensorFlow's start-up log lines from the outputs and
numbers the cells ``cell-00``, ``cell-01``, ... so that a re-execution gives
a small diff.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: Seconds one cell may take; the slowest cell takes under 15 s.
CELL_TIMEOUT = 300
#: Seconds a whole notebook may take (the brief: under a minute of CPU each).
NOTEBOOK_BUDGET = 120

# TensorFlow's C++ start-up messages: not part of what a notebook shows.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+\] .*"
    r"|To enable the following instructions: .*)$"
)


def _kernel_environment() -> dict[str, str]:
    """The environment the kernel starts in: this checkout first on sys.path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("MPLBACKEND", None)  # figures must reach the notebook (inline backend)
    return env


def execute(path: Path, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute the notebook at `path` with `workdir` as its working directory."""
    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_kernel_environment())  # the kernel inherits it
    try:
        start = time.perf_counter()
        NotebookClient(
            notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
        return notebook, time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def tidy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop TensorFlow's log noise, cell metadata and random cell ids."""
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:02d}"
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = [line for line in output.text.splitlines()
                         if line.strip() and not _NOISE.match(line)]
                if not lines:
                    continue
                output.text = "\n".join(lines) + "\n"
            kept.append(output)
        cell.outputs = kept
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    notebook, seconds = execute(copy, tmp_path)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    assert seconds < NOTEBOOK_BUDGET, f"{path.name} took {seconds:.0f} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_with_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    not_run = [i for i, cell in enumerate(notebook.cells)
               if cell.cell_type == "code" and cell.execution_count is None]
    assert not not_run, f"{path.name}: cells {not_run} were not executed before committing"
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name} was not run top to bottom in one go"
    assert not any(output.output_type == "error" for cell in code for output in cell.outputs)
    assert any("image/png" in output.get("data", {}) for cell in code for output in cell.outputs), (
        f"{path.name} shows no figure")


def test_there_are_three_notebooks_seeded_at_zero():
    names = [path.name for path in NOTEBOOKS]
    assert names == [
        "01-reading-keras-output.ipynb",
        "02-how-high-can-loss-go.ipynb",
        "03-sanity-check-before-training.ipynb",
    ]
    for path in NOTEBOOKS:
        source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
        assert "keras.utils.set_random_seed(0)" in source, path.name


def main(argv: list[str]) -> int:
    """Re-execute the notebooks (those matching `argv`, or all) and save their outputs."""
    chosen = [path for path in NOTEBOOKS if not argv or any(word in path.name for word in argv)]
    for path in chosen:
        notebook, seconds = execute(path, path.parent)
        nbformat.write(tidy(notebook), path)
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
