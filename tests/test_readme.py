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


def test_test_extra_installs_keras_and_every_backend():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["numpy>=1.24", "scipy>=1.10"]
    extras = project["optional-dependencies"]
    assert extras["keras"] == ["keras>=3", "tensorflow-cpu>=2.16"]
    assert "lossbounds[keras,backends,plot,docs,fast]" in extras["test"]
    assert extras["fast"] == ["numba>=0.60"]  # the accelerator is under test too
    backends = {requirement.split("[")[0].split("=")[0].split(">")[0]
                for requirement in extras["backends"]}
    assert backends == {"lossbounds", "jax", "torch", "tf_keras"}
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


def test_lossbounds_keras_without_keras_says_what_to_install():
    import subprocess
    import sys

    code = ("import sys; sys.modules['keras'] = None\n"  # import keras -> ModuleNotFoundError
            "try:\n    import lossbounds.keras\n"
            "except ModuleNotFoundError as error:\n    print(error.name, '|', error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    name, message = done.stdout.strip().split(" | ")
    assert name == "keras"
    assert message.startswith("lossbounds.keras needs Keras 3 and a backend: python -m pip install keras")
    assert '".[keras]"' in message and "pip install lossbounds" not in message


def test_install_hints_do_not_name_a_package_index_release():
    # lossbounds is not on PyPI: no hint may say `pip install lossbounds[...]`.
    for path in [*ROOT.joinpath("lossbounds").rglob("*.py"), ROOT / "README.md",
                 *ROOT.joinpath("docs").rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install lossbounds\b(?!`? does not)", text), path


def test_sdist_carries_what_the_tests_read():
    # An sdist runs its own tests (the docs build and the browser test included): it carries the
    # docs, the notebooks, mkdocs.yml, the benchmark report and CI, not the tests' screenshots.
    import tomllib

    sdist = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["sdist"]
    for needed in ["lossbounds", "tests", "docs", "notebooks", "benchmarks", ".ci", "mkdocs.yml",
                   "README.md", "LICENSE", "pyproject.toml"]:
        assert needed in sdist["include"] and (ROOT / needed).exists(), needed
    assert "tests/artifacts" in sdist["exclude"]
    assert "tests/artifacts/" in (ROOT / ".gitignore").read_text().splitlines()
