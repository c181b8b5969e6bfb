"""The README's set-up commands are what CI runs, and what the package provides."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first, second = readme_commands()[:2]
    assert text.index(first) < text.index("##")  # before any section
    assert first == "python -m pip install . && lossbounds bounds sparse_cce --n-classes 7"
    assert second == 'python -m pip install -e ".[test]" && python -m pytest'


def test_ci_runs_the_second_command_verbatim():
    second = readme_commands()[1]
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in lines


def test_test_extra_installs_keras_and_tensorflow():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["numpy>=1.24", "scipy>=1.10"]
    extras = project["optional-dependencies"]
    assert extras["keras"] == ["keras>=3", "tensorflow-cpu>=2.16"]
    assert "lossbounds[keras,plot,docs]" in extras["test"]
    assert project["scripts"]["lossbounds"] == "lossbounds.cli:main"


def test_import_does_not_pull_in_keras_tensorflow_or_matplotlib():
    import subprocess
    import sys

    code = ("import sys, lossbounds; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'matplotlib', 'torch', 'jax') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_readme_command_line_examples_print_what_it_shows(capsys):
    import doctest
    import shlex

    from lossbounds.cli import main

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.+?)\n```", text, flags=re.S)
    assert blocks
    checker = doctest.OutputChecker()
    for block in blocks:
        for command, shown in re.findall(r"^\$ (.+)\n((?:(?!\$ ).*\n?)*)", block, flags=re.M):
            argv = shlex.split(command)
            assert argv[0] == "lossbounds", command
            assert main(argv[1:]) == 0, command
            printed = capsys.readouterr().out
            assert checker.check_output(shown.rstrip("\n") + "\n", printed, doctest.ELLIPSIS), (
                f"{command}:\n{printed}")
