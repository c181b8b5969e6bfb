"""The command line: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import lossbounds
from lossbounds.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_bounds_table(capsys):
    status, out, err = run(capsys, "bounds", "sparse_cce", "--n-classes", "7")
    assert status == 0 and err == ""
    assert out.splitlines()[0] == "sparse_categorical_crossentropy (n_classes=7)"
    assert "uniform  1.94591" in out and "worst    16.1181" in out


def test_bounds_json_round_trips(capsys):
    status, out, _ = run(capsys, "bounds", "cce", "-k", "10", "--label-smoothing", "0.1", "--json")
    payload = json.loads(out)
    expected = lossbounds.bounds("cce", n_classes=10, label_smoothing=0.1)
    assert status == 0
    assert payload["uniform"] == expected.uniform == math.log(10)
    assert payload["best"] == expected.best and payload["worst"] == expected.worst
    assert payload["options"] == {"n_classes": 10, "label_smoothing": 0.1}


def test_baseline_prints_one_number(capsys):
    status, out, _ = run(capsys, "baseline", "sparse_cce", "--n-classes", "7")
    assert status == 0 and float(out) == math.log(7)


def test_legacy_backend_and_logits(capsys):
    _, out, _ = run(capsys, "bounds", "bce", "--backend", "tf_keras", "--json")
    assert json.loads(out)["worst"] == pytest.approx(15.424948692321777, rel=1e-6)
    _, out, _ = run(capsys, "bounds", "bce", "--from-logits", "--json")
    assert json.loads(out)["worst"] == math.inf


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bounds", "sparse_ce", "-k", "3"], "Did you mean 'sparse_cce'"),
        (["bounds", "cce", "--n-classes", "x"], "invalid int value"),
        (["bounds", "cce", "--n-classes", "0"], "n_classes"),
        (["bounds", "bce", "--n-classes", "1"], "n_classes"),
        (["bounds", "cce", "-k", "3", "--label-smoothing", "2"], "label_smoothing"),
        (["bounds", "cce", "-k", "3", "--epsilon", "0.7"], "epsilon"),
        (["bounds", "cce", "-k", "3", "--backend", "pytroch"], "Did you mean 'torch'"),
        (["baseline", "mse"], "prior_baseline"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, argv, needle):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and needle in err
    assert "Traceback" not in err


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2 and "bounds" in out


@pytest.mark.parametrize("entry", [["-m", "lossbounds"]])
def test_python_dash_m_runs_the_cli(entry):
    done = subprocess.run([sys.executable, *entry, "baseline", "cce", "-k", "2"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and float(done.stdout) == math.log(2)
    done = subprocess.run([sys.executable, *entry, "bounds", "nope"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
