"""Tests for :mod:`lossbounds.logs` against real and hand-written Keras logs.

Fixtures live in ``tests/data/logs``: ``k3_*``/``tfk_*`` are captured from
real Keras 3 / tf-keras runs by ``generate_logs.py`` with their ``History`` in
``NAME.json``; ``seed_*`` are real logs pasted in Stack Overflow questions;
``hand_*`` follow the code of Keras versions that cannot be installed here.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossbounds import logs
from lossbounds.logs import (
    MAX_UNPARSED_CHARS,
    Epoch,
    TrainingLog,
    read_keras_log,
    read_keras_log_file,
)

DATA = Path(__file__).parent / "data" / "logs"
FIXTURES = sorted(p.stem for p in DATA.glob("*.json"))
REAL_RUNS = [name for name in FIXTURES if name.startswith(("k3_", "tfk_"))]
SEEDS = [name for name in FIXTURES if name.startswith("seed_")]


def _text(name: str) -> str:
    """A fixture's text exactly as stored (``\\r`` kept)."""
    with open(DATA / f"{name}.txt", encoding="utf-8", newline="") as f:
        return f.read()


def _truth(name: str) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return truth


FIXTURE_TEXTS = [_text(name) for name in FIXTURES]


def printed_tolerance(truth: float) -> float:
    """How far a value printed by Keras may be from the exact ``History`` one.

    Keras formats a metric as ``f"{v:.4f}"`` if ``abs(v) > 1e-3``, else as
    ``f"{v:.4e}"`` (``keras/src/utils/progbar.py``,
    ``tf_keras/src/utils/generic_utils.py``; verbose=2 tests ``v > 1e-3``, so
    negatives use ``.4e`` there).  Rounding to the last printed digit errs by
    at most half a unit: 5e-5 absolute for ``.4f``, and 5e-5 * 10**exponent
    <= 5e-5 * abs(v) for ``.4e``.  ``max(1, abs(v))`` covers a negative
    verbose=2 value printed with ``.4e``; 1e-12 absorbs float noise.
    """
    if abs(truth) > 1e-3:
        return 5e-5 * max(1.0, abs(truth)) + 1e-12
    return 5e-5 * abs(truth) + 1e-12


def assert_printed_equal(parsed: float, truth: float) -> None:
    if math.isnan(truth) or math.isinf(truth):
        assert parsed == truth or (math.isnan(parsed) and math.isnan(truth))
    else:
        assert abs(parsed - truth) <= printed_tolerance(truth), (parsed, truth)


# --- every fixture against its ground truth --------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_matches_history(name: str) -> None:
    truth = _truth(name)
    log = read_keras_log_file(DATA / f"{name}.txt")
    history = {k: [float(v) for v in vals] for k, vals in truth["history"].items()}
    n = truth["epochs_run"]
    total = truth["epochs_total"] if truth["header_expected"] else None

    assert len(log) == n
    assert [ep.number for ep in log] == list(range(1, n + 1))
    assert [ep.total for ep in log] == [total] * n
    for i, ep in enumerate(log):
        assert set(ep.metrics) == set(history)
        for key, values in history.items():
            assert_printed_equal(ep.metrics[key], values[i])
        assert ep.unit == truth["unit"]
        assert ep.target == truth["target"]
        assert ep.progress == truth["target"]
        assert ep.complete
    assert log.history().keys() == history.keys()


@pytest.mark.parametrize("name", REAL_RUNS)
def test_real_runs_have_times(name: str) -> None:
    # Every real run ends each epoch with "Ns" and "Nms/step".
    for ep in read_keras_log(_text(name)):
        assert ep.seconds is not None and ep.seconds >= 0
        assert ep.time_per_unit is not None and 0 < ep.time_per_unit < 10


_LOSE_BREAKS = {
    # every line joined with a space (str.splitlines also splits at "\r")
    "splitlines": lambda t: " ".join(t.splitlines()),
    # only "\n" lost: the "\r" and "\b" redraws stay
    "newlines": lambda t: " ".join(t.split("\n")),
    # one flat line, as from a copy out of a web page: no "\r", "\b" or ANSI
    "flat": lambda t: re.sub(r"[\r\n\b]+", " ", re.sub(r"\x1b\[[0-9;]*m", "", t)),
}


@pytest.mark.parametrize("how", sorted(_LOSE_BREAKS))
@pytest.mark.parametrize("name", FIXTURES)
def test_lost_line_breaks(name: str, how: str) -> None:
    text = _text(name)
    joined = _LOSE_BREAKS[how](text)
    assert "\n" not in joined
    assert read_keras_log(joined).epochs == read_keras_log(text).epochs


@pytest.mark.parametrize("name", REAL_RUNS)
def test_real_runs_interleaved_tensorflow_lines_are_unparsed(name: str) -> None:
    log = read_keras_log(_text(name))
    assert any("absl::InitializeLog" in line for line in log.unparsed)
    assert not any("early stopping" in line for line in log.unparsed)
    assert all(0 < len(line) <= MAX_UNPARSED_CHARS for line in log.unparsed)


# --- the seeds ----------------------------------------------------------------


def test_seed_keras1_sample_counter() -> None:
    log = read_keras_log(_text("seed_keras1_what_are_epoch_and_loss"))
    assert len(log) == 20
    assert [ep.number for ep in log] == list(range(1, 21))
    assert {ep.total for ep in log} == {20}
    losses = log.history()["loss"]
    assert losses[0] == 0.1760 and losses[-1] == 0.1949
    assert losses[12] == 0.2104  # the highest, epoch 13
    assert list(log.history()) == ["loss"]
    for ep in log:
        assert (ep.progress, ep.target, ep.unit) == (1213, 1213, "sample")
        assert ep.seconds == 0.0 and ep.time_per_unit is None and ep.complete


def test_seed_tf20_us_per_sample() -> None:
    log = read_keras_log(_text("seed_tf20_highest_possible_loss"))
    assert len(log) == 50
    history = log.history()
    assert list(history) == ["loss", "acc"]
    assert history["loss"][0] == 0.8800 and history["loss"][-1] == 0.1956
    assert history["acc"][0] == 0.7590 and history["acc"][-1] == 0.9071
    assert all(ep.unit == "sample" and ep.target == 1249 for ep in log)
    assert log[0].time_per_unit == pytest.approx(361e-6, rel=1e-12)
    assert log[1].time_per_unit == pytest.approx(90e-6, rel=1e-12)


@pytest.mark.parametrize("name", SEEDS)
def test_seed_whole_page_reads_as_the_extract(name: str) -> None:
    page = read_keras_log_file(DATA / f"{name}.page.txt")
    extract = read_keras_log_file(DATA / f"{name}.txt")
    assert page.epochs == extract.epochs
    assert extract.unparsed == []
    # The question and answers around the log are kept as skipped text.
    assert any("Keras" in line for line in page.unparsed)
    assert all(len(line) <= MAX_UNPARSED_CHARS for line in page.unparsed)


# --- specific formats and situations ---------------------------------------


def test_keras3_single_epoch_has_no_header() -> None:
    (ep,) = read_keras_log(_text("k3_single_epoch"))
    assert (ep.number, ep.total, ep.progress, ep.target) == (1, None, 16, 16)


def test_keras3_unknown_target_then_known() -> None:
    text = _text("k3_unknown_steps")
    assert "/Unknown" in text
    first = read_keras_log(text)[0]
    assert (first.progress, first.target, first.complete) == (8, 8, True)
    # The UserWarning printed into the middle of a progress line is skipped.
    log = read_keras_log(text)
    assert any("Your input ran out of data" in line for line in log.unparsed)


def test_cut_off_unknown_target() -> None:
    log = read_keras_log("      7/Unknown 1s 34ms/step - loss: 0.8223")
    (ep,) = log
    assert (ep.progress, ep.target, ep.complete, ep.seconds) == (7, None, False, 1.0)


def test_early_stopping_logs_stop_before_total() -> None:
    for name in ["k3_early_stopping", "tfk_early_stopping", "hand_keras2_0_tty"]:
        log = read_keras_log(_text(name))
        assert len(log) == 3 < log[0].total  # type: ignore[operator]
        assert not any("early stopping" in line for line in log.unparsed)


def test_nan_inf_and_scientific_notation() -> None:
    line = ("Epoch 1/1\n32/32 [==============================] - 0s 2ms/step - loss: nan"
            " - a: inf - b: -inf - c: 1.2345e-04 - d: -3.0000e+02 - val_e: NaN")
    ep = read_keras_log(line)[0]
    assert math.isnan(ep.metrics["loss"]) and math.isnan(ep.metrics["val_e"])
    assert ep.metrics["a"] == math.inf and ep.metrics["b"] == -math.inf
    assert ep.metrics["c"] == 1.2345e-4 and ep.metrics["d"] == -300.0
    from_file = read_keras_log_file(DATA / "k3_nan.txt")
    assert from_file.epochs == read_keras_log(_text("k3_nan")).epochs  # nan == nan here


def test_multi_output_names_kept_as_printed() -> None:
    ep = read_keras_log(_text("k3_multi_output"))[0]
    assert {"out_a_loss", "out_b_mae", "val_out_a_accuracy"} <= set(ep.metrics)


def test_verbose2_variants() -> None:
    keras1 = read_keras_log("Epoch 1/2\n0s - loss: 0.6931\nEpoch 2/2\n1s - loss: 0.6000\n")
    assert keras1.history() == {"loss": [0.6931, 0.6]}
    assert [ep.seconds for ep in keras1] == [0.0, 1.0]
    assert all(ep.progress is None and ep.complete and ep.unit is None for ep in keras1)
    tf20 = read_keras_log("Epoch 1/1\n1249/1249 - 0s - loss: 0.8800 - acc: 0.7590\n")
    # A bare verbose=2 counter counted samples in TF 2.0-2.1, steps in TF 2.2-2.6.
    assert tf20[0].unit is None and tf20[0].progress == 1249
    tfk = read_keras_log(_text("tfk_v2"))
    assert tfk[0].time_per_unit is not None and tfk[0].time_per_unit < 0.5  # not the /epoch time


def _tf_keras_bar(done: int, target: int, metrics: str) -> str:
    """One tf_keras verbose=1 update, as generic_utils.Progbar draws it."""
    width = int(30 * done / target)
    bar = "=" * (width - 1) + (">" if done < target else "=") + "." * (30 - width)
    info = "ETA: 0s" if done < target else "0s 3ms/step"
    return f"\r{done:{len(str(target))}d}/{target} [{bar}] - {info} - {metrics}"


def test_evaluate_after_fit_is_not_an_epoch() -> None:
    fit = _text("tfk_v1_pty")  # 16 steps per epoch, loss and accuracy
    for steps, first in [(2, 1), (16, 1), (32, 32)]:
        # evaluate's own bar counts again from 1 (or shows only its last
        # step, longer than the epoch's), with the same metric names.
        evaluate = "".join(
            _tf_keras_bar(i, steps, "loss: 0.4000 - accuracy: 0.9000") + "\b" * 90
            for i in range(first, steps + 1)
        ) + "\r\n"
        log = read_keras_log(fit + evaluate)
        assert log.epochs == read_keras_log(fit).epochs
        assert any(line.startswith(f"{steps}/{steps} [") for line in log.unparsed)


def test_cut_off_epoch() -> None:
    log = read_keras_log(
        "Epoch 1/2\n8/8 [==============================] - 0s 2ms/step - loss: 0.5000\n"
        "Epoch 2/2\n3/8 [==========>...................] - ETA: 0s - loss: 0.4000^C\n"
        "Traceback (most recent call last):\nKeyboardInterrupt\nEpoch 3/5\n"
    )
    assert [ep.number for ep in log] == [1, 2]  # no update after "Epoch 3/5"
    cut = log[1]
    assert (cut.progress, cut.target, cut.complete, cut.seconds) == (3, 8, False, None)
    assert cut.unit == "step"  # from the other epoch of the same run
    assert cut.metrics == {"loss": 0.4}
    assert "KeyboardInterrupt" in log.unparsed
    # Keras 3 marks no ETA: before the last step "3s" is the time still to go.
    (ep,) = read_keras_log("Epoch 1/1\n12/32 ━━━━━━━━━━━━━━━━━━━━ 3s 5ms/step - loss: 0.4000\n")
    assert (ep.seconds, ep.time_per_unit, ep.complete) == (None, 0.005, False)


def test_times_are_read_before_the_metrics_only() -> None:
    log = read_keras_log("Epoch 1/1\n4/4 [=====] - loss: 0.5000 took 7s\n")
    assert log[0].seconds is None and log[0].metrics == {"loss": 0.5}
    assert log.unparsed == ["took 7s"]


def test_ansi_codes_lost_in_copy_paste() -> None:
    pasted = ("Epoch 1/3\n[1m32/32[0m [32m━━━━━━━━━━━━━━━━━━━━[0m[37m[0m [1m1s[0m 5ms/step"
              " - accuracy: 0.5000 - loss: 0.6900\n")
    (ep,) = read_keras_log(pasted)
    assert (ep.progress, ep.seconds, ep.time_per_unit) == (32, 1.0, 0.005)
    assert ep.metrics == {"accuracy": 0.5, "loss": 0.69}


def test_keras3_bar_on_a_non_utf8_console() -> None:
    # keras.utils.io_utils replaces "━" by "=" when stdout cannot encode it.
    line = "Epoch 1/2\n32/32 ==================== 0s 2s/step - loss: 0.6900\n"
    ep = read_keras_log(line)[0]
    assert (ep.progress, ep.unit, ep.time_per_unit) == (32, "step", 2.0)


def test_history_fills_missing_with_nan() -> None:
    log = read_keras_log("Epoch 1/2\n1/1 - 0s - a: 1.0000\nEpoch 2/2\n1/1 - 0s - b: 2.0000\n")
    history = log.history()
    assert list(history) == ["a", "b"]
    assert history["a"][0] == 1.0 and math.isnan(history["a"][1])
    assert math.isnan(history["b"][0]) and history["b"][1] == 2.0


def test_sequence_protocol_and_immutability() -> None:
    log = read_keras_log(_text("k3_v2"))
    assert isinstance(log, TrainingLog) and len(log) == 4
    assert list(log) == log.epochs and log[-1].number == 4
    assert [ep.number for ep in log[1:3]] == [2, 3]
    with pytest.raises(TypeError):
        log[0].metrics["loss"] = 0.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        log[0].number = 9  # type: ignore[misc]


def test_non_str_input_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"got bytes; decode it first, e\.g\. data\.decode"):
        read_keras_log(_text("k3_v2").encode())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be str or a path, got NoneType"):
        read_keras_log(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["train.log", "runs/fit.txt", "  C:\\logs\\k3.out\n", "LICENSE"])
def test_a_file_name_is_not_log_text(name: str) -> None:
    # "LICENSE" has no extension but is a file (the tests run from the repository root or
    # the sdist's); the others need not exist.
    if name == "LICENSE" and not Path(name).is_file():
        pytest.skip("not run from the repository root")
    with pytest.raises(ValueError, match=r"looks like a file name, not the text Keras printed: "
                                         r"read the file with read_keras_log_file\("):
        read_keras_log(name)


def test_a_path_object_is_read_as_a_file(tmp_path: Path) -> None:
    assert read_keras_log(DATA / "k3_v2.txt").epochs == read_keras_log(_text("k3_v2")).epochs
    (tmp_path / "train.log").write_text("Epoch 1/1\n4/4 - 0s - loss: 0.25\n")
    assert read_keras_log(tmp_path / "train.log")[0].metrics == {"loss": 0.25}


@pytest.mark.parametrize("text", ["hello", "Epoch 1/1", "loss: 0.5", "see train.log", "v1.2"])
def test_one_line_that_is_no_file_name_is_text(text: str) -> None:
    assert read_keras_log(text).epochs == []


def test_empty_and_blank_text() -> None:
    for text in ["", "\n\r\b  \t", "\x1b[0m"]:
        log = read_keras_log(text)
        assert log.epochs == [] and log.unparsed == []


# --- properties ----------------------------------------------------------------


def _check_invariants(log: TrainingLog) -> None:
    assert isinstance(log, TrainingLog)
    for ep in log:
        assert isinstance(ep, Epoch) and ep.number >= 0
        assert all(isinstance(v, float) for v in ep.metrics.values())
        assert ep.unit in (None, "step", "sample")
        if ep.progress is not None:
            # A "60000/Unknown" line with val_ metrics ended its epoch: validation runs after it.
            ended = ep.target is None and any(name.startswith("val_") for name in ep.metrics)
            assert ep.complete == (ep.progress == ep.target or ended)
    for line in log.unparsed:
        assert line and line == line.strip() and len(line) <= MAX_UNPARSED_CHARS
    log.history()


def _read_unless_file_name(text: str) -> TrainingLog | None:
    """read_keras_log, or None for the one str it refuses: a file name (a ValueError)."""
    try:
        return read_keras_log(text)
    except ValueError as error:
        assert "looks like a file name" in str(error)
        assert "\n" not in text.strip() and "\r" not in text.strip()
        return None


@given(st.text())
def test_never_raises_on_any_text_but_a_file_name(text: str) -> None:
    log = _read_unless_file_name(text)
    if log is not None:
        _check_invariants(log)


# Letters, punctuation and spaces, without digits (no counter or header can
# form) and without "[" and ESC (no terminal code to strip).
_junk = st.text(
    st.characters(categories=("L", "P", "Zs"), exclude_characters="[\x1b"), min_size=1
).filter(lambda s: any(c.isalpha() for c in s))


@given(_junk)
def test_junk_gives_no_epochs_and_is_kept(text: str) -> None:
    log = _read_unless_file_name(text)
    assert log is None or (log.epochs == [] and log.unparsed)


_INJECTIONS = ["\r", "\b" * 7, "\n", "\x1b[1m", "\x1b[0m", "\x1b[32m", "\x1b[", "\x1b",
               "[1m", "\x1b]0;title\x07", "━━━", "Epoch 3/", " - ", ": ", "nan", "/"]


@st.composite
def mutated_logs(draw: st.DrawFn) -> str:
    """A real fixture with chunks deleted, inserted, duplicated and terminal
    control codes injected."""
    text = draw(st.sampled_from(FIXTURE_TEXTS))
    for _ in range(draw(st.integers(0, 10))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 300)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "inject"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.text(max_size=40)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(_INJECTIONS)) + text[i:]
    return text


@settings(max_examples=60)
@given(mutated_logs())
def test_never_raises_on_mutated_real_logs(text: str) -> None:
    _check_invariants(read_keras_log(text))


def _keras_number(v: float, verbose2: bool = False) -> str:
    """A metric as Keras prints it (see :func:`printed_tolerance`)."""
    if (v if verbose2 else abs(v)) > 1e-3:
        return f"{v:.4f}"
    return f"{v:.4e}"


_STYLES = ["keras1", "tf20", "tf_keras", "keras3", "keras3_v2", "tf_keras_v2"]


def _final_line(style: str, target: int, metrics: dict[str, float]) -> str:
    """The last progress line of an epoch in `style`, built from each version's
    Progbar code (bars shortened where their width does not matter)."""
    v2 = style.endswith("_v2")
    pairs = "".join(f" - {k}: {_keras_number(v, v2)}" for k, v in metrics.items())
    counter = f"{target}/{target}"
    return {
        "keras1": f"{counter} [{'=' * 30}] - 3s{pairs}",
        "tf20": f"{counter} [{'=' * 30}] - 3s 361us/sample{pairs}",
        "tf_keras": f"{counter} [{'=' * 30}] - 3s 5ms/step{pairs}",
        "keras3": f"{counter} {'━' * 20} 3s 5ms/step{pairs}",
        "keras3_v2": f"{counter} - 3s - 5ms/step{pairs}",
        "tf_keras_v2": f"{counter} - 3s{pairs} - 40ms/epoch - 5ms/step",
    }[style]


def _update_line(style: str, done: int, target: int, metrics: dict[str, float]) -> str:
    """An intermediate verbose=1 update (with an ETA) in `style`."""
    pairs = "".join(f" - {k}: {_keras_number(v)}" for k, v in metrics.items())
    if style == "keras3":
        return f"{done}/{target} {'━' * 20} 0s 5ms/step{pairs}"
    return f"{done}/{target} [{'=' * 29}>] - ETA: 1:02{pairs}"


_names = st.lists(st.from_regex(r"(val_)?[a-z][a-z0-9_]{0,12}", fullmatch=True),
                  min_size=1, max_size=4, unique=True)


@settings(max_examples=60)
@given(
    style=st.sampled_from(_STYLES),
    names=_names,
    data=st.data(),
    n_epochs=st.integers(1, 4),
    target=st.integers(2, 5000),
    terminal=st.booleans(),
)
def test_formatted_lines_round_trip(style: str, names: list[str], data: st.DataObject,
                                    n_epochs: int, target: int, terminal: bool) -> None:
    """Lines printed the way each Keras version prints them read back exactly,
    also when every update is redrawn on one terminal line."""
    values = st.floats(allow_nan=True, allow_infinity=True)
    epochs = [{k: data.draw(values) for k in names} for _ in range(n_epochs)]
    redraw = terminal and style in ("tf_keras", "keras3", "keras1")
    parts = []
    for n, metrics in enumerate(epochs, 1):
        parts.append(f"Epoch {n}/{n_epochs}\n")
        if redraw:
            early = {k: data.draw(values) for k in names}
            parts.append("\r" + _update_line(style, target // 2, target, early) + "\b" * 80 + "\r")
        parts.append(_final_line(style, target, metrics) + "\n")
    log = read_keras_log("".join(parts))

    assert [ep.number for ep in log] == list(range(1, n_epochs + 1))
    for ep, metrics in zip(log, epochs, strict=True):
        assert list(ep.metrics) == names
        for k, v in metrics.items():
            expected = float(_keras_number(v, style.endswith("_v2")))
            got = ep.metrics[k]
            assert got == expected or (math.isnan(got) and math.isnan(expected))
        assert (ep.progress, ep.target, ep.complete, ep.seconds) == (target, target, True, 3.0)
        assert ep.unit == {"tf20": "sample", "keras1": "sample"}.get(style, "step")
    assert log.unparsed == []


_HUGE_LINES = {
    "digits": "0" * 1_000_000,
    "slashes": "1/" * 500_000,
    "headers": "Epoch 1/1 " * 100_000,
    "metrics": "1/1 [=] " + "- a: 1 " * 150_000,
    "keras3_bar": "1/1 " + "━" * 1_000_000,
    "open_bar": "1/1 [" + "=" * 1_000_000,
    "escapes": "\x1b[" * 500_000,
    "eta": "ETA: " * 200_000,
    "seconds": "1s " * 333_333,
    "epochs": "Epoch 1/1 1/1 - 0s - loss: 1.0 " * 30_000,
    "long_value": "1/1 - a: " + "9" * 1_000_000,
    "long_name": "1/1 - " + "a" * 1_000_000 + ": 1",
}


@pytest.mark.parametrize("name", sorted(_HUGE_LINES))
def test_one_megabyte_lines_finish(name: str) -> None:
    # Runs in well under a second each with the bounded patterns; a pattern
    # that backtracked quadratically would take hours here.
    log = read_keras_log(_HUGE_LINES[name])
    assert all(len(line) <= MAX_UNPARSED_CHARS for line in log.unparsed)
    if name == "epochs":
        assert len(log) == 30_000 and log[-1].metrics == {"loss": 1.0}


def test_one_megabyte_random_token_soup() -> None:
    rng = random.Random(0)
    tokens = ["Epoch ", "1", "/", "12", "Unknown", " ", "-", " - ", "loss", ":", "0.5",
              "e-", "s", "ms/step", "ETA: ", "[", "=", "]", "━", "\x1b[", "m", "\r",
              "\b", "nan", ".", "us/sample"]
    soup = "".join(rng.choice(tokens) for _ in range(350_000))
    _check_invariants(read_keras_log(soup))


def test_evaluate_after_fit_with_validation_same_length() -> None:
    # The evaluate bar is as long as the training bar, but lacks the val_
    # metrics the epoch's final line had: not a redraw of the last epoch.
    fit = _text("tfk_val_pty")
    evaluate = _tf_keras_bar(8, 8, "loss: 0.1000 - accuracy: 0.9000") + "\n"
    log = read_keras_log(fit + evaluate)
    assert log.epochs == read_keras_log(fit).epochs
    assert log.unparsed[-1] == evaluate.strip()  # all of it, as printed


# --- issue 12: what real pastes need ---------------------------------------------


def test_verbose2_lines_quoted_in_markdown() -> None:
    text = ("> Epoch 1/3\n>  - 510s - loss: 0.5000 - acc: 0.8000\n"
            "> Epoch 2/3\n>  - 505s - loss: 0.4000 - acc: 0.8500\n"
            "## Epoch 3/3\n## - 500s - loss: 0.3500 - acc: 0.8600\n")
    log = read_keras_log(text)
    assert [ep.metrics["loss"] for ep in log] == [0.5, 0.4, 0.35]
    assert [ep.seconds for ep in log] == [510.0, 505.0, 500.0] and log.unparsed == []


@pytest.mark.parametrize("wrap", ["glued", "spaced"])
def test_a_final_line_wrapped_onto_a_second_line(wrap: str) -> None:
    line = ("1875/1875 [==============================] - 5s 3ms/step - loss: 0.2900 - "
            "accuracy: 0.8900 - val_loss: 0.3300 - val_accuracy: 0.8800")
    cut = line.index("val_accuracy") + 7 if wrap == "glued" else line.index(" - val_loss")
    text = f"Epoch 1/1\n{line[:cut]}\n{line[cut:]}\n"
    (ep,) = read_keras_log(text)
    assert dict(ep.metrics) == {"loss": 0.29, "accuracy": 0.89, "val_loss": 0.33,
                                "val_accuracy": 0.88}


def test_a_line_after_a_progress_line_is_not_joined_unless_it_continues_it() -> None:
    log = read_keras_log("Epoch 1/1\n4/4 - 0s - loss: 0.5000\nTotal time: 879.5333\n")
    assert dict(log[0].metrics) == {"loss": 0.5} and log.unparsed == ["Total time: 879.5333"]


def test_a_first_line_without_a_header_takes_its_number_from_the_next_header() -> None:
    text = ("100/100 [==============================] - 5s - loss: 0.5000\n"
            "Epoch 53/100\n100/100 [==============================] - 5s - loss: 0.4000\n")
    log = read_keras_log(text)
    assert [(ep.number, ep.number_known) for ep in log] == [(52, True), (53, True)]


def test_without_any_header_the_epoch_numbers_are_unknown() -> None:
    text = ("100/100 [==============================] - 5s - loss: 0.5000\n"
            " 10/100 [==>...........................] - ETA: 4s - loss: 0.4500\n"
            "100/100 [==============================] - 5s - loss: 0.4000\n")
    log = read_keras_log(text)
    assert [(ep.number, ep.number_known) for ep in log] == [(1, False), (2, False)]


def test_an_unknown_length_epoch_with_validation_is_complete() -> None:
    (ep,) = read_keras_log("Epoch 1/12\n  60000/Unknown - 5s 87us/step - loss: 0.3281 - "
                           "val_loss: 0.0761\n")
    assert ep.target is None and ep.complete
    (cut,) = read_keras_log("Epoch 1/12\n  13440/Unknown - 2s - loss: 0.8068\n")
    assert not cut.complete


def test_keras_0_headers_without_a_total() -> None:
    text = ("Epoch 0\n37800/37800 [==============================] - 7s - loss: 0.0385\n"
            "Epoch 1\n37800/37800 [==============================] - 8s - loss: 0.0140\n")
    log = read_keras_log(text)
    assert [(ep.number, ep.total, ep.metrics["loss"]) for ep in log] == [(0, None, 0.0385),
                                                                          (1, None, 0.014)]


def test_skipped_text_that_looks_like_metrics_is_recognised() -> None:
    from lossbounds.logs import looks_like_metrics

    assert looks_like_metrics("val. loss: 0.0160 val. acc.: 0.9136")
    assert not looks_like_metrics("Train on 37800 samples, validate on 4200 samples")
    assert not looks_like_metrics("```")


def test_callback_notes_are_kept_as_events() -> None:
    log = read_keras_log(_text("k3_early_stopping"))
    assert log.events == ["Epoch 3: early stopping"]
    text = ("Epoch 4/9\n4/4 - 0s - loss: 0.5000\n"
            "Epoch 00004: ReduceLROnPlateau reducing learning rate to 0.0005000000237487257.\n")
    assert read_keras_log(text).events == [
        "Epoch 00004: ReduceLROnPlateau reducing learning rate to 0.0005000000237487257."]


# --------------------------------------------------------------------------
# Bounded time and memory, and files that are not plain UTF-8 logs


def test_junk_keeps_a_bounded_number_of_entries():
    log = read_keras_log("\n".join(f"warning {i}" for i in range(5000)))
    assert len(log.unparsed) == logs.MAX_UNPARSED_ENTRIES + 1
    assert log.unparsed[-1] == f"… and {5000 - logs.MAX_UNPARSED_ENTRIES} more skipped pieces of text"


def test_a_log_with_too_many_progress_updates_is_refused(monkeypatch):
    monkeypatch.setattr(logs, "MAX_PROGRESS_UPDATES", 1000)
    read_keras_log("1/1 [" * 1000)  # at the limit: read
    with pytest.raises(ValueError, match="more than 1,000 progress updates.*verbose=2"):
        read_keras_log("1/1 [" * 1001)


def test_a_too_long_text_is_refused(monkeypatch):
    monkeypatch.setattr(logs, "MAX_LOG_CHARS", 100)
    with pytest.raises(ValueError, match="101 characters long.*Hint"):
        read_keras_log("x" * 101)


def test_random_bytes_give_no_epochs(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2_000_000, dtype=np.uint8).tobytes())
    assert read_keras_log_file(path).epochs == []


def test_a_headerless_bar_without_metrics_is_not_an_epoch():
    log = read_keras_log("32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step")  # predict's bar
    assert log.epochs == [] and log.unparsed


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_log_file_with_a_byte_order_mark_is_decoded(tmp_path, codec):
    text = "Epoch 1/1\r\n4/4 - 0s - loss: 0.25\r\n"
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "fit.log").write_bytes(data)
    assert read_keras_log_file(tmp_path / "fit.log").history() == {"loss": [0.25]}


def test_unreadable_log_files_give_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read the log file .*missing.log"):
        read_keras_log_file(tmp_path / "missing.log")
    with pytest.raises(ValueError, match="cannot read the log file"):
        read_keras_log_file(tmp_path)  # a folder
    with pytest.raises(TypeError, match="path must be a file name"):
        read_keras_log_file(0)  # a file descriptor: stdin stays open
