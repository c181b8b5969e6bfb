"""The command line: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_bounds_with_data_prints_the_prior(capsys):
    # The prior baseline is the entropy of the label frequencies (MSE: the target variance).
    status, out, _ = run(capsys, "bounds", "sparse_cce", "--counts", "900,90,10", "--json")
    frequencies = [0.9, 0.09, 0.01]
    assert status == 0
    assert json.loads(out)["prior"] == pytest.approx(-sum(p * math.log(p) for p in frequencies), rel=1e-12)
    _, out, _ = run(capsys, "bounds", "mse", "--variance", "2")
    assert "prior    2" in out


def test_baseline_says_what_the_number_is(capsys):
    # Issue 12: a bare number said nothing; it is now a sentence, and --value prints the
    # number alone for scripts.
    status, out, _ = run(capsys, "baseline", "sparse_cce", "--n-classes", "7")
    assert status == 0 and out.startswith("The uniform baseline of sparse_categorical_crossentropy"
                                          " (--n-classes 7) is ln 7 = 1.9459101490553132")
    assert "predicting 1/7 for every class" in out
    status, out, _ = run(capsys, "baseline", "sparse_cce", "--n-classes", "7", "--value")
    assert status == 0 and float(out) == math.log(7)


def test_legacy_backend_and_logits(capsys):
    _, out, _ = run(capsys, "bounds", "bce", "--backend", "tf_keras", "--json")
    assert json.loads(out)["worst"] == pytest.approx(15.424948692321777, rel=1e-6)
    _, out, _ = run(capsys, "bounds", "bce", "--from-logits", "--json")
    assert json.loads(out)["worst"] == "inf"  # standard JSON has no Infinity: a string


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bounds", "sparse_ce", "-k", "3"], "Did you mean 'sparse_cce'"),
        (["bounds", "cce", "--n-classes", "x"], "invalid int value"),
        (["bounds", "cce", "--n-classes", "0"], "--n-classes must be"),
        (["bounds", "bce", "--n-classes", "1"], "--n-classes must be"),
        (["bounds", "cce", "-k", "3", "--label-smoothing", "2"], "--label-smoothing must"),
        (["bounds", "cce", "-k", "3", "--epsilon", "0.7"], "epsilon"),
        (["bounds", "cce", "-k", "3", "--backend", "pytroch"], "Did you mean 'torch'"),
        (["baseline", "mse"], "lossbounds bounds mse"),
        (["baseline", "sparse_cce"], "lossbounds baseline sparse_categorical_crossentropy "
                                     "--n-classes 10"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, argv, needle):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and needle in err
    assert "Traceback" not in err
    assert "n_classes=" not in err and "lossbounds.baseline(" not in err  # flags, not Python


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2 and "bounds" in out


@pytest.mark.parametrize("entry", [["-m", "lossbounds"]])
def test_python_dash_m_runs_the_cli(entry):
    done = subprocess.run([sys.executable, *entry, "baseline", "cce", "-k", "2", "--value"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and float(done.stdout) == math.log(2)
    done = subprocess.run([sys.executable, *entry, "bounds", "nope"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# explain and check-log

LOGS = Path(__file__).parent / "data" / "logs"
SEED_GOOD = str(LOGS / "seed_tf20_highest_possible_loss.txt")
SEED_RISING = str(LOGS / "seed_keras1_what_are_epoch_and_loss.txt")


def test_explain_prints_sentences(capsys):
    status, out, err = run(capsys, "explain", "0.1956", "--loss", "sparse_cce", "-k", "10")
    assert status == 0 and err == ""
    assert out.startswith("0.1956 is 8.5% of the uniform baseline ln 10 = 2.303")
    assert "Perplexity exp(0.1956) = 1.216" in out and "At most 28%" in out


def test_explain_takes_the_loss_after_the_value_too(capsys):
    by_option = run(capsys, "explain", "0.1956", "--loss", "sparse_cce", "-k", "10")
    assert run(capsys, "explain", "0.1956", "sparse_cce", "-k", "10") == by_option
    assert run(capsys, "explain", "-0.5", "mse")[1] == run(capsys, "explain", "-0.5", "-l", "mse")[1]


def test_explain_json(capsys):
    status, out, _ = run(capsys, "explain", "16.1181", "--loss", "bce", "--json")
    payload = json.loads(out)
    assert status == 0 and payload["loss"] == "binary_crossentropy"
    assert [f["kind"] for f in payload["flags"]] == ["clipping_plateau", "worse_than_uniform"]
    assert payload["bounds"]["uniform"] == math.log(2)


def test_explain_negative_value_and_data_options(capsys):
    status, out, _ = run(capsys, "explain", "-0.5", "--loss", "mse")
    assert status == 0 and "Flag below_best" in out
    _, out, _ = run(capsys, "explain", "0.25", "--loss", "mse", "--variance", "1", "--json")
    assert json.loads(out)["r2"] == 0.75
    _, out, _ = run(capsys, "explain", "0.3251", "--loss", "bce", "--counts", "900,100")
    assert "Flag at_prior" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["explain", "0.5"], "the loss is missing"),
    (["explain", "0.5", "cce", "--loss", "bce"], "two losses given"),
    (["explain", "high", "--loss", "cce"], "invalid float value"),
    (["explain", "0.5", "--loss", "cce", "--counts", "a,b"], "comma-separated"),
    (["explain", "0.5", "--loss", "sparse_ce"], "Did you mean"),
])
def test_explain_usage_errors(capsys, argv, needle):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "" and err.count("\n") == 1 and needle in err


def test_check_log_seed_far_better_than_guessing(capsys):
    status, out, err = run(capsys, "check-log", SEED_GOOD, "--loss", "sparse_cce", "-k", "10")
    assert status == 0 and err == ""
    lines = out.splitlines()
    # Issue 12: a plain verdict first, then the findings, then the numbers.
    assert lines[1].startswith("The training loss fell 78% (0.88 to 0.1956)")
    assert out.index("Findings") < out.index("The numbers:") < out.index("0.8800")
    reference = lines.index("The numbers:") + 1
    assert lines[reference] == (
        "loss: sparse_categorical_crossentropy (--n-classes 10): best 9e-07, uniform ln 10 = "
        "2.303, worst 16.12 with clipped probabilities (unbounded in fit() on TensorFlow with a "
        "softmax or sigmoid last layer)")
    assert lines[reference + 1].split() == ["epoch", "loss", "%", "uniform", "acc", "note"]
    assert lines[reference + 2].split() == ["1", "0.8800", "38.2%", "0.7590"]
    assert lines[reference + 51].split() == ["50", "0.1956", "8.5%", "0.9071"]
    assert "[info] far_better_than_uniform (epoch 50)" in out and "rising_loss" not in out
    assert "8.5% of" in out.replace("\n      ", " ")


def test_check_log_seed_rising_is_a_warning(capsys):
    status, out, _ = run(capsys, "check-log", SEED_RISING)
    assert status == 0  # a warning: the log is worth a look, training did not break
    assert "[warning] rising_loss (epochs 1-20)" in out
    assert "no loss name given" in out.lower() and "could not" in out


def test_check_log_says_why_bounds_are_missing_with_accuracy(capsys):
    _, out, _ = run(capsys, "check-log", SEED_GOOD)
    flat = " ".join(out.split())
    assert "the log shows accuracy ('acc')" in flat
    assert "--n-classes K to compare it with ln K" in flat


def test_check_log_errors_give_status_1(capsys):
    status, out, _ = run(capsys, "check-log", str(LOGS / "k3_nan.txt"), "--loss", "mse")
    assert status == 1 and "[error] nan (epochs 1-3)" in out and "loss NaN" in out


def test_check_log_json(capsys):
    status, out, _ = run(capsys, "check-log", SEED_RISING, "--loss", "mse", "--json")
    payload = json.loads(out)
    assert status == payload["exit_status"] == 0
    assert payload["loss"] == "mean_squared_error" and len(payload["epochs"]) == 20
    assert payload["epochs"][0] == {"epoch": 1, "metrics": {"loss": 0.176},
                                    "fraction_of_uniform": None}
    assert [f["kind"] for f in payload["findings"]] == ["rising_loss", "no_bounds"]


def test_check_log_from_stdin(capsys, monkeypatch):
    import io

    data = Path(SEED_GOOD).read_bytes() + b"\xff"  # a stray byte is replaced, not fatal
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="ascii"))
    status, out, _ = run(capsys, "check-log", "-", "--loss", "sparse_cce", "-k", "10")
    assert status == 0 and out.startswith("standard input: 50 epochs")
    # One epoch above ln 2 is too early to call broken (issue 12): a warning, status 0.
    monkeypatch.setattr(sys, "stdin", io.StringIO("Epoch 1/1\n4/4 - 0s - loss: 0.9000\n"))
    status, out, _ = run(capsys, "check-log", "-", "--loss", "bce")
    assert status == 0 and "above_uniform" in out and "after one epoch" in out
    flat = "".join(f"Epoch {e}/6\n4/4 - 0s - loss: {v:.4f}\n"
                   for e, v in enumerate([0.9, 0.81, 0.8, 0.81, 0.8, 0.8], start=1))
    monkeypatch.setattr(sys, "stdin", io.StringIO(flat))
    status, out, _ = run(capsys, "check-log", "-", "--loss", "bce")
    assert status == 1 and "[error] above_uniform" in out


def test_check_log_stdin_through_the_entry_point():
    with open(SEED_RISING, "rb") as log:
        done = subprocess.run([sys.executable, "-m", "lossbounds", "check-log", "-"], stdin=log,
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "rising_loss" in done.stdout and done.stderr == ""


@pytest.mark.parametrize("make", ["missing", "directory", "junk", "empty"])
def test_check_log_unusable_input_is_one_line_status_2(capsys, tmp_path, make):
    path = tmp_path / "fit.log"
    if make == "directory":
        path.mkdir()
    elif make == "junk":
        path.write_bytes(b"\x00\x01 hello world\nloss is low\n" * 50)
    elif make == "empty":
        path.write_text("")
    status, out, err = run(capsys, "check-log", str(path))
    assert status == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    needle = "no Keras epochs found" if make in ("junk", "empty") else "cannot read"
    assert needle in err


def test_check_log_long_logs_are_elided(capsys, tmp_path):
    path = tmp_path / "long.log"
    epochs = (f"Epoch {e}/100\n8/8 - 0s - loss: {1 / e:.4f}\n" for e in range(1, 101))
    path.write_text("".join(epochs))
    status, out, _ = run(capsys, "check-log", str(path), "--loss", "bce")
    assert status == 0 and "40 epochs not shown" in out
    assert "  100  0.0100" in out


def test_check_log_plot_writes_a_png(capsys, tmp_path):
    path = tmp_path / "curve.png"
    status, out, err = run(capsys, "check-log", SEED_GOOD, "--loss", "sparse_cce", "-k", "10",
                           "--plot", str(path))
    assert status == 0 and err == "" and "far_better_than_uniform" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, _ = run(capsys, "check-log", SEED_RISING, "--plot", str(path))  # no loss name
    assert status == 0


def test_check_log_plot_without_matplotlib(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    status, out, err = run(capsys, "check-log", SEED_GOOD, "--plot", str(tmp_path / "x.png"))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "python -m pip install matplotlib" in err  # lossbounds itself is not on PyPI yet


def test_check_log_plot_unwritable(capsys, tmp_path):
    status, out, err = run(capsys, "check-log", SEED_GOOD, "--plot",
                           str(tmp_path / "no" / "such" / "dir.png"))
    assert status == 2 and err.count("\n") == 1 and "cannot write" in err


# --------------------------------------------------------------------------
# check-log on real pastes (issue 12)

WILD = Path(__file__).parent / "data" / "wild"


def test_check_log_shows_skipped_metric_text_and_marks_cut_off_epochs(capsys):
    status, out, _ = run(capsys, "check-log", str(WILD / "k0_epoch0_dotted_names_keras103.txt"))
    assert status == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line[:5].strip().isdigit()}
    assert "cut off at 10960/37800" in rows["2"] and "lowest" not in rows["2"]
    skipped = out[out.index("Skipped text that looks like metrics"):]
    assert "val. loss: 0.0160 val. acc.: 0.9136" in skipped
    assert "Train on 37800 samples" not in skipped


def test_check_log_k_without_loss_is_used_and_said(capsys):
    status, out, _ = run(capsys, "check-log", str(WILD / "k20_v2_blank_lines_so45100045.txt"),
                         "-k", "2")
    flat = " ".join(out.split())
    assert status == 0 and "--n-classes 2 sets the accuracy's chance level, 1/2" in flat
    assert "[info] regularisation" in out  # -k 2 and the accuracy explain the loss above ln 2


def test_check_log_loss_options_without_loss_are_a_usage_error(capsys):
    status, out, err = run(capsys, "check-log", str(WILD / "k20_v2_blank_lines_so45100045.txt"),
                           "--label-smoothing", "0.1")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "--label-smoothing belongs to a loss: give it with --loss" in err


def test_check_log_splits_runs_and_marks_the_restarts(capsys):
    status, out, _ = run(capsys, "check-log", str(WILD / "k208_eta_final_runs_pr8169.txt"),
                         "--loss", "cce", "-k", "10")
    assert status == 0
    assert out.splitlines()[0].endswith(": 8 epochs, 4 separate runs")
    assert out.splitlines()[1].startswith("This log holds 4 separate training runs")
    table = out[out.index("The numbers:"):]
    assert table.count("epoch numbers restart") == 3 and "[info] run 1 cut_off (epoch 3)" in out


def test_check_log_json_has_the_verdict_runs_and_skipped_text(capsys):
    status, out, _ = run(capsys, "check-log", str(WILD / "k0_epoch0_dotted_names_keras103.txt"),
                         "--json")
    payload = json.loads(out)
    assert payload["verdict"].startswith("The training loss fell 64%")
    assert payload["runs"] == 1 and payload["epochs"][2]["cut_off"] == "10960/37800"
    assert "val. loss: 0.0160 val. acc.: 0.9136" in payload["skipped"]
    assert all("evidence" in f for f in payload["findings"])


def test_check_log_speaks_flags(capsys):
    _, out, _ = run(capsys, "check-log", SEED_RISING)
    assert "diagnose(log" not in out and "--loss binary_crossentropy" in " ".join(out.split())


def test_explain_a_value_above_the_clipped_ceiling(capsys):
    # Issue 12: 301.5, printed by a softmax model with a large init, was told "the highest
    # Keras can print is 16.12".
    status, out, _ = run(capsys, "explain", "301.5", "sparse_cce", "-k", "5")
    assert status == 0 and "the highest Keras can print is 16.12" not in out
    assert "has no upper limit" in out and "Flag above_worst" in out


def test_keras_arguments_in_a_message_stay_as_written(capsys):
    # "a loss with from_logits=True" describes the user's Keras code, not a flag to type.
    _, out, _ = run(capsys, "explain", "1.4612", "sparse_cce", "-k", "10")
    assert "from_logits=True" in out and "--from-logits True" not in out


# --------------------------------------------------------------------------
# Junk on the command line: a status, one line on stderr, standard JSON


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which standard JSON has not."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


_WORDS = st.sampled_from([
    "bounds", "baseline", "explain", "check-log", "losses", "sparse_cce", "cce", "bce", "mse",
    "ctc", "circle", "dice", "hinge", "nope", "--n-classes", "-k", "--from-logits",
    "--label-smoothing", "--epsilon", "--dtype", "--backend", "--counts", "--variance",
    "--json", "--loss", "-", "0.5", "-1", "1e400", "nan", "inf", "3", "10**400", "0",
    "float16", "jax", "torch", "tf_keras", "1,2,3", ",", "", "é≠²", "\x00",
])
_ARGV = st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=7)


@given(_ARGV)
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_command_line_gets_a_status_and_at_most_one_error_line(capsys, monkeypatch, argv):
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("Epoch 1/1\n4/4 - loss: 0.5\n"))
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's --help
        status = exit_.code
    out, err = capsys.readouterr()
    assert status in (0, 1, 2), (argv, status)
    assert "Traceback" not in err and "Traceback" not in out
    if status == 2:
        assert err.count("\n") <= 1 or err.startswith("usage:"), (argv, err)
    if status in (0, 1) and "--json" in argv and out.strip():
        _strict_json(out)
