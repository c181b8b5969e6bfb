"""Tests for :mod:`lossbounds.interpret`: `explain` and `diagnose`.

The error-rate bound is checked against real argmax errors of random
predictions, with the mean loss computed by `lossbounds.loss`; the trend test
against random noisy curves; `diagnose` against the real logs in
``tests/data/logs`` and a synthetic history for each finding.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lossbounds
from lossbounds import Explanation, Finding, diagnose, explain
from lossbounds.interpret import (
    BASELINE_RTOL,
    PLATEAU_ATOL,
    Flag,
)
from lossbounds.logs import read_keras_log, read_keras_log_file

DATA = Path(__file__).parent / "data" / "logs"
SEED_RISING = DATA / "seed_keras1_what_are_epoch_and_loss.txt"
SEED_GOOD = DATA / "seed_tf20_highest_possible_loss.txt"
F32_EPS = float(np.float32(1e-7))
F32_HIGH = float(np.float32(1 - 1e-7))

# Float32 rounding of the mean loss; the bound itself is exact. With label
# smoothing, c - b can be small, so those tests compute in float64.
ROUNDING = {"float32": 1e-6, "float64": 1e-12}


def kinds(findings):
    return [f.kind for f in findings]


# --------------------------------------------------------------------------
# explain: the numbers


def test_seed_value_against_ln_10():
    e = explain(0.1956, "sparse_categorical_crossentropy", n_classes=10)
    assert e.fraction_of_uniform == 0.1956 / math.log(10)
    assert e.bits == 0.1956 / math.log(2)
    assert e.perplexity == math.exp(0.1956)
    assert e.geometric_mean_probability == math.exp(-0.1956)
    assert e.error_rate_bound == pytest.approx(0.1956 / math.log(2), rel=1e-5)
    assert e.flags == () and e.rmse is None and e.r2 is None
    text = str(e)
    assert "0.1956 is 8.5% of the uniform baseline ln 10 = 2.303" in text
    assert "far better than guessing" in text
    assert "At most 28% of the samples can be misclassified" in text


@pytest.mark.parametrize("k", [2, 3, 10, 100, 1000])
def test_fraction_of_uniform_for_any_k(k):
    e = explain(0.1956, "sparse_cce", n_classes=k)
    assert e.fraction_of_uniform == pytest.approx(0.1956 / math.log(k))
    assert f"ln {k} = {math.log(k):.4g}" in str(e)


def test_numbers_are_python_floats():
    e = explain(np.float32(0.5), "cce", n_classes=3)
    for name in ("value", "fraction_of_uniform", "bits", "perplexity",
                 "geometric_mean_probability", "error_rate_bound"):
        assert type(getattr(e, name)) is float, name


def test_explanation_is_frozen_and_json_ready():
    e = explain(0.5, "bce", counts=[30, 70])
    with pytest.raises(AttributeError):
        e.value = 1.0  # type: ignore[misc]
    payload = json.loads(json.dumps(e.as_dict()))
    assert payload["value"] == 0.5 and payload["bounds"]["prior"] == e.bounds.prior
    assert payload["text"] == str(e)


def test_prior_baseline_is_placed():
    e = explain(0.3, "sparse_cce", counts=[500, 300, 150, 50])
    assert e.bounds.prior == pytest.approx(1.1421, abs=1e-4)
    assert e.fraction_of_prior == 0.3 / e.bounds.prior
    assert "Predicting the class frequencies alone scores 1.142" in str(e)


def test_sparse_without_k_still_explains():
    e = explain(0.5, "sparse_cce")
    assert e.bounds is None and e.fraction_of_uniform is None
    assert e.error_rate_bound == pytest.approx(0.5 / math.log(2))
    assert "pass n_classes=K" in str(e)


def test_mse_rmse_and_r2():
    e = explain(0.25, "mse", variance=1.0)
    assert (e.rmse, e.r2, e.bits, e.error_rate_bound) == (0.5, 0.75, None, None)
    from_targets = explain(0.25, "mse", y_true=[1.0, 2.0, 3.0, 4.0])  # variance 1.25
    assert from_targets.r2 == pytest.approx(0.8)
    assert "R² = 1 - 0.25 / 1.25 = 0.8" in str(from_targets)
    assert "pass the target variance" in str(explain(3.0, "mse"))


def test_bce_is_per_output():
    e = explain(0.2, "bce")
    assert e.fraction_of_uniform == 0.2 / math.log(2)
    assert "wrong side of 0.5" in str(e) and "per output" in str(e)


# --------------------------------------------------------------------------
# explain: the error-rate bound against real errors


@st.composite
def classification(draw, *, logits=False):
    k = draw(st.integers(2, 8))
    n = draw(st.integers(1, 30))
    if logits:
        scores = draw(hnp.arrays(np.float32, (n, k), elements=st.floats(-30, 30, width=32)))
    else:  # non-negative rows, ties and zeros included; Keras rescales rows
        scores = draw(hnp.arrays(np.float32, (n, k), elements=st.sampled_from(
            [0.0, 0.25, 0.5, 1.0]) | st.floats(0, 1, width=32)))
        assume(np.all(scores.sum(axis=1) > 0))
        if draw(st.booleans()):
            scores = (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return k, labels, scores


def argmax_error(labels, scores):
    return float(np.mean(np.argmax(scores, axis=1) != labels))


@given(classification(), st.booleans())
def test_error_bound_holds_for_sparse_cce(data, logits):
    k, labels, scores = data
    mean = lossbounds.loss("sparse_cce", labels, scores, from_logits=logits)
    bound = explain(mean, "sparse_cce", n_classes=k, from_logits=logits).error_rate_bound
    assert argmax_error(labels, scores) <= bound + ROUNDING["float32"]


@given(classification(logits=True) | classification(),
       st.sampled_from([0.0, 0.0, 0.1, 0.5, 1e-9, 5e-324]) | st.floats(0, 1))
def test_error_bound_holds_for_cce_with_smoothing(data, smoothing):
    k, labels, scores = data
    logits = bool(np.any(scores < 0))
    onehot = np.eye(k)[labels]
    options = dict(from_logits=logits, label_smoothing=smoothing, dtype="float64")
    mean = lossbounds.loss("cce", onehot, scores.astype(np.float64), **options)
    assume(math.isfinite(mean))
    bound = explain(mean, "cce", n_classes=k, **options).error_rate_bound
    if bound is None:  # smoothing near 1: the labels carry (almost) no information
        assert smoothing > 0.9
    else:
        assert argmax_error(labels, scores) <= bound + ROUNDING["float64"]


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                  elements=st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 1, width=32)),
       st.data(), st.sampled_from([0.0, 0.0, 0.2]) | st.floats(0, 1))
def test_error_bound_holds_for_bce_per_output(p, data, smoothing):
    y = data.draw(hnp.arrays(np.float64, p.shape, elements=st.sampled_from([0.0, 1.0])))
    options = dict(label_smoothing=smoothing, dtype="float64")
    mean = lossbounds.loss("bce", y, p.astype(np.float64), **options)
    bound = explain(mean, "bce", **options).error_rate_bound
    wrong = float(np.mean((p > 0.5) != (y == 1)))  # Keras' binary_accuracy threshold
    if bound is None:  # smoothing near 1: the labels carry (almost) no information
        assert smoothing > 0.9
    else:
        assert wrong <= bound + ROUNDING["float64"]


@given(hnp.arrays(np.float32, (7, 3), elements=st.floats(0, 1, width=32)), st.data())
def test_error_bound_holds_for_bce_in_float32(p, data):
    y = data.draw(hnp.arrays(np.float32, p.shape, elements=st.sampled_from([0.0, 1.0])))
    bound = explain(lossbounds.loss("bce", y, p), "bce").error_rate_bound
    assert float(np.mean((p > 0.5) != (y == 1))) <= bound + ROUNDING["float32"]


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("n", [2, 5])
def test_error_bound_is_reached(smoothing, n):
    """One sample at the cheapest misclassification, the rest at the best case."""
    k = 4
    true, other = 1 - smoothing + smoothing / k, smoothing / k
    pair = true + other
    wrong = np.full(k, other if smoothing else 1e-30)
    wrong[:2] = pair / 2  # class 0 ties the true class 1: argmax picks 0
    best = np.full(k, other if smoothing else 1e-30)
    best[1] = true
    logits = np.log(np.stack([wrong] + [best] * (n - 1))).astype(np.float64)
    onehot = np.eye(k)[[1] * n]
    mean = lossbounds.loss("cce", onehot, logits, from_logits=True, label_smoothing=smoothing,
                           dtype="float64")
    bound = explain(mean, "cce", n_classes=k, from_logits=True, label_smoothing=smoothing,
                    dtype="float64").error_rate_bound
    assert argmax_error(np.ones(n, int), logits) == 1 / n
    assert bound == pytest.approx(1 / n, rel=1e-6)


# --------------------------------------------------------------------------
# explain: flags


def test_at_uniform_and_worse_than_uniform():
    assert explain(2.3026, "cce", n_classes=10).kinds == ("at_uniform",)
    near = math.log(10) * (1 + BASELINE_RTOL / 2)
    assert explain(near, "cce", n_classes=10).kinds == ("at_uniform",)
    assert explain(math.log(10) * (1 + 2 * BASELINE_RTOL), "cce", n_classes=10).kinds == (
        "worse_than_uniform",)
    assert explain(math.log(10) * (1 - 2 * BASELINE_RTOL), "cce", n_classes=10).kinds == ()


def keras_ceilings():
    """The four ceilings from their formulas (float32 clip bounds, exact logs)."""
    return {
        "keras 3, -ln eps": -math.log(F32_EPS),
        "keras 3, 23 ln 2": -math.log(1 - F32_HIGH),
        "tf.keras, -ln 2 eps": -math.log(float(np.float32(F32_EPS) + np.float32(F32_EPS))),
        "tf.keras, label 0": -math.log(float(np.float32(1 - F32_HIGH) + np.float32(F32_EPS))),
    }


def test_ceiling_formulas_match_keras_printed_values():
    # The values Keras prints in float32 (keras#15249, tensorflow#31930).
    assert list(keras_ceilings().values()) == pytest.approx(
        [16.118095, 15.942385, 15.424949, 15.333239], abs=1e-6)
    assert keras_ceilings()["keras 3, 23 ln 2"] == pytest.approx(23 * math.log(2))


@pytest.mark.parametrize("name", list(keras_ceilings()))
def test_clipping_plateaus_as_keras_prints_them(name):
    printed = round(keras_ceilings()[name], 4)
    assert "clipping_plateau" in explain(printed, "bce").kinds
    assert "clipping_plateau" not in explain(printed + 2 * PLATEAU_ATOL, "bce").kinds


def test_categorical_plateau_and_its_label_smoothing_variant():
    assert "clipping_plateau" in explain(16.1181, "sparse_cce", n_classes=10).kinds
    assert "clipping_plateau" not in explain(15.9424, "sparse_cce", n_classes=10).kinds
    smoothed = lossbounds.worst_case("cce", n_classes=10, label_smoothing=0.1)
    assert "clipping_plateau" in explain(smoothed, "cce", n_classes=10, label_smoothing=0.1).kinds


@pytest.mark.parametrize("k", [2, 7, 10, 1000])
def test_double_softmax_floor_is_what_keras_computes(k):
    onehot = np.eye(k, dtype=np.float32)[:1]  # a softmax output, certain of class 0
    floor = lossbounds.loss("sparse_cce", [0], onehot, from_logits=True)
    assert floor == pytest.approx(math.log1p((k - 1) / math.e), rel=1e-6)
    assert "double_softmax" in explain(floor, "sparse_cce", n_classes=k).kinds
    assert "double_softmax" not in explain(floor * 0.9, "sparse_cce", n_classes=k).kinds


@given(hnp.arrays(np.float64, st.integers(2, 12), elements=st.floats(0, 1)), st.data())
def test_no_softmax_output_goes_below_the_double_softmax_floor(p, data):
    assume(p.sum() > 0)
    p = p / p.sum()
    label = data.draw(st.integers(0, p.size - 1))
    value = lossbounds.loss("sparse_cce", [label], p[None], from_logits=True, dtype="float64")
    assert value >= math.log1p((p.size - 1) / math.e) - 1e-12


def test_bce_on_multiclass():
    e = explain(0.2, "bce", n_classes=10)
    assert e.kinds == ("bce_on_multiclass",)
    assert e.bounds.uniform == pytest.approx(0.325083, abs=1e-6)
    assert "H_b(1/10) = 0.3251" in str(e) and "90%" in str(e)


def test_nan_and_inf():
    nan = explain(float("nan"), "cce")
    assert nan.kinds == ("nan",) and nan.bits is None and nan.error_rate_bound is None
    inf = explain(math.inf, "cce", from_logits=True)
    assert inf.kinds == ("inf",) and inf.perplexity == math.inf


@pytest.mark.parametrize(("value", "loss", "options"), [
    (-1.78e-06 * 100, "bce", {}),  # targets above 1 (tensorflow#71638)
    (0.15, "bce", {"label_smoothing": 0.2}),  # below H_b(0.1) = 0.325
    (0.4, "cce", {"n_classes": 10, "label_smoothing": 0.1}),  # below 0.5003
    (-0.5, "mse", {}),
])
def test_below_best(value, loss, options):
    e = explain(value, loss, **options)
    assert e.kinds[0] == "below_best"
    assert str(e).startswith(f"{value:.6g} is impossible")


def test_printed_zero_is_not_below_best():
    assert explain(0.0, "sparse_cce", n_classes=10).kinds == ()
    assert explain(0.0, "cce").kinds == ()


def test_prior_flags_for_imbalanced_labels():
    # tensorflow#12287: stuck at ln 2 with 9:1 labels is worse than the class balance.
    assert explain(0.6931, "bce", counts=[900, 100]).kinds == ("at_uniform", "worse_than_prior")
    assert explain(0.3251, "bce", counts=[900, 100]).kinds == ("at_prior",)
    # Balanced labels: the prior is the uniform baseline, one flag only.
    assert explain(0.6931, "bce", counts=[50, 50]).kinds == ("at_uniform",)


@pytest.mark.parametrize(("value", "error"), [
    ("0.5", TypeError), (True, TypeError), (None, TypeError), ([0.5], TypeError)])
def test_explain_rejects_non_numbers(value, error):
    with pytest.raises(error, match="`value` must be a real number"):
        explain(value, "cce")


def test_explain_rejects_unknown_options_and_names():
    with pytest.raises(TypeError, match="has no option 'n_class'.*Did you mean 'n_classes'"):
        explain(0.5, "cce", n_class=3)
    with pytest.raises(ValueError, match="Did you mean"):
        explain(0.5, "sparse_ce", n_classes=3)


def test_explain_says_what_smoothing_needs():
    # With label smoothing the bounds depend on K: without it, no bounds, and a sentence
    # that says what to pass (as for sparse CCE on TensorFlow without K).
    e = explain(0.5, "cce", label_smoothing=0.1)
    assert e.bounds is None and e.error_rate_bound is None
    assert "Not computed: the uniform baseline ln K of categorical_crossentropy needs" in str(e)


# --------------------------------------------------------------------------
# diagnose: the seeds and real logs


def test_seed_good_is_far_better_than_guessing_and_not_rising():
    log = read_keras_log_file(SEED_GOOD)
    findings = diagnose(log, "sparse_categorical_crossentropy", n_classes=10)
    # The last epochs move within their noise (0.195-0.198): levelled off, said as
    # information, and nothing is wrong.
    assert kinds(findings) == ["levelled_off", "far_better_than_uniform"]
    assert findings.healthy and findings.verdict.startswith("The training loss fell 78%")
    finding = findings[1]
    assert finding.severity == "info" and finding.epochs == (50,)
    assert "0.1956 (epoch 50) is 8.5% of the uniform baseline ln 10 = 2.303" in finding.message
    assert finding.values["fraction_of_uniform"] == pytest.approx(0.1956 / math.log(10))


@pytest.mark.parametrize("k", [2, 3, 5, 10, 100, 1000])
def test_seed_good_for_several_k(k):
    findings = diagnose(read_keras_log_file(SEED_GOOD), "sparse_cce", n_classes=k)
    assert kinds(findings) == ["levelled_off", "far_better_than_uniform"]  # as above
    assert f"ln {k} = {math.log(k):.4g}" in findings[1].message


def test_seed_good_without_loss_name_says_what_is_missing():
    findings = diagnose(read_keras_log_file(SEED_GOOD))
    assert kinds(findings) == ["levelled_off", "no_bounds"]  # levelled off: see above
    assert "accuracy ('acc')" in findings[1].message and "ln K" in findings[1].message


def test_seed_rising_is_flagged():
    for loss in (None, "mse"):
        findings = diagnose(read_keras_log_file(SEED_RISING), loss)
        rising = [f for f in findings if f.kind == "rising_loss"]
        assert len(rising) == 1 and rising[0].severity == "warning"
        assert rising[0].epochs == tuple(range(1, 21))
        assert rising[0].values["rise"] > 3 * rising[0].values["noise"]
        assert "learning rate" in rising[0].message


def test_k3_nan_fixture():
    findings = diagnose(read_keras_log_file(DATA / "k3_nan.txt"), "mse")
    assert findings[0].kind == "nan" and findings[0].severity == "error"
    assert findings[0].epochs == (1, 2, 3)


def test_multi_output_loss_is_not_compared_with_one_loss():
    findings = diagnose(read_keras_log_file(DATA / "k3_multi_output.txt"), "bce")
    assert "above_uniform" not in kinds(findings)
    assert any(f.kind == "no_bounds" and "out_a_loss" in f.message for f in findings)


def test_epoch_numbers_are_those_printed():
    log = read_keras_log("".join(f"Epoch {e}/20\n4/4 - 0s - loss: nan\n" for e in (11, 12)))
    assert diagnose(log)[0].epochs == (11, 12)


def test_history_object_and_dict_are_accepted():
    class History:  # what model.fit returns, without importing Keras
        history = {"loss": [0.5, float("nan")]}

    assert kinds(diagnose(History())) == kinds(diagnose(History.history)) == ["nan", "no_bounds"]
    assert kinds(diagnose({"loss": ["nan", "0.5"]}))[0] == "nan"  # JSON-stored values


@pytest.mark.parametrize(("log", "error", "match"), [
    ("loss: 0.5", TypeError, "read_keras_log"),
    ({}, ValueError, "no epochs"),
    ({"accuracy": [0.5]}, ValueError, "no 'loss' column"),
    ({"loss": ["high"]}, TypeError, r"log\['loss'\]"),
    ({"loss": 0.5}, TypeError, "list of numbers"),
])
def test_diagnose_rejects_bad_logs(log, error, match):
    with pytest.raises(error, match=match):
        diagnose(log)


# --------------------------------------------------------------------------
# diagnose: one synthetic history per finding


def the(findings, kind):
    (found,) = [f for f in findings if f.kind == kind]
    return found


def test_plateau_at_16_1181():
    history = {"loss": [2.5, 16.1181, 16.1181, 16.1181]}
    found = the(diagnose(history), "clipping_plateau")  # no loss name needed
    assert found.severity == "error" and found.epochs == (2, 3, 4)
    with_loss = diagnose(history, "sparse_cce", n_classes=10)
    # The plateau names the cause; "above the uniform baseline" would say it again, less well.
    assert kinds(with_loss) == ["clipping_plateau"]
    left = the(diagnose({"loss": [16.1181, 9.0, 3.0, 1.0]}), "clipping_plateau")
    assert left.severity == "warning" and left.epochs == (1,)


def test_at_uniform():
    history = {"loss": [2.35, 2.3031, 2.3027, 2.3026, 2.3026]}  # 2.35 is 2% above ln 10
    found = the(diagnose(history, "cce", n_classes=10), "at_uniform")
    assert found.severity == "warning" and found.epochs == (2, 3, 4, 5)
    assert found.values["uniform"] == math.log(10)


def test_above_uniform():
    # Falling every epoch: still above guessing, but falling is a warning, not "stays above"
    # (issue 12: a loss still falling was told to lower its learning rate).
    falling = the(diagnose({"loss": [0.9, 0.85, 0.83, 0.8]}, "bce"), "above_uniform")
    assert falling.severity == "warning" and falling.epochs == (1, 2, 3, 4)
    assert "still above the uniform baseline ln 2 = 0.6931" in falling.message
    flat = the(diagnose({"loss": [0.9, 0.81, 0.8, 0.81, 0.8, 0.8]}, "bce"), "above_uniform")
    assert flat.severity == "error" and "stays above the uniform baseline ln 2" in flat.message


def test_above_uniform_but_falling_is_a_warning():
    found = the(diagnose({"loss": [1.5, 1.3, 1.1, 0.95, 0.85, 0.8]}, "bce"), "above_uniform")
    assert found.severity == "warning" and "still falling" in found.message


def test_at_and_above_prior():
    at = the(diagnose({"loss": [0.5, 0.35, 0.326, 0.3251]}, "bce", counts=[900, 100]),
             "at_prior")
    assert at.severity == "warning" and "class balance" in at.message
    stuck = diagnose({"loss": [0.6931] * 4}, "bce", counts=[900, 100])
    assert kinds(stuck) == ["at_uniform", "above_prior"]


def test_overfitting():
    loss = [1.0, 0.8, 0.65, 0.55, 0.47, 0.41, 0.36, 0.32, 0.29, 0.26, 0.24, 0.22]
    val = [1.0, 0.85, 0.75, 0.7, 0.68, 0.7, 0.73, 0.77, 0.8, 0.86, 0.9, 0.95]
    found = the(diagnose({"loss": loss, "val_loss": val}), "overfitting")
    assert found.severity == "warning" and found.epochs == tuple(range(5, 13))
    assert found.values["best_epoch"] == 5 and "restore_best_weights" in found.message


def test_no_overfitting_when_both_curves_fall():
    loss = [1.0, 0.8, 0.65, 0.55, 0.47, 0.41, 0.36]
    val = [1.1, 0.9, 0.75, 0.66, 0.6, 0.55, 0.52]
    assert "overfitting" not in kinds(diagnose({"loss": loss, "val_loss": val}))


def test_val_below_train():
    history = {"loss": [0.9, 0.7, 0.6, 0.55], "val_loss": [0.8, 0.6, 0.52, 0.5]}
    found = the(diagnose(history), "val_below_train")
    assert found.severity == "info" and "dropout" in found.message
    assert "val_below_train" not in kinds(diagnose({"loss": [0.5, 0.4], "val_loss": [0.6, 0.5]}))


def test_growing_gap():
    loss = [1.0, 0.8, 0.65, 0.55, 0.47, 0.41, 0.36]
    val = [1.0, 0.85, 0.75, 0.69, 0.64, 0.61, 0.6]
    assert the(diagnose({"loss": loss, "val_loss": val}), "growing_gap").severity == "info"


def test_diagnose_below_best():
    found = the(diagnose({"loss": [0.5, 0.3, 0.2]}, "bce", label_smoothing=0.2), "below_best")
    assert found.severity == "error" and found.epochs == (2, 3)
    assert found.values["best"] == pytest.approx(0.325083, abs=1e-6)
    assert the(diagnose({"loss": [0.1, -0.01]}, "mse"), "below_best").epochs == (2,)


def test_double_softmax():
    floor = math.log1p(9 / math.e)
    history = {"loss": [2.2, 1.8, 1.6, 1.5, floor + 0.006, floor + 0.004, floor + 0.003]}
    found = the(diagnose(history, "cce", n_classes=10), "double_softmax")
    assert found.epochs == (5, 6, 7) and found.severity == "warning"
    below = {"loss": [2.2, 1.8, 1.6, 1.5, floor - 0.1, floor + 0.003, floor + 0.003]}
    assert "double_softmax" not in kinds(diagnose(below, "cce", n_classes=10))


def test_bce_on_multiclass_finding():
    found = the(diagnose({"loss": [0.3, 0.25, 0.2]}, "bce", n_classes=10), "bce_on_multiclass")
    assert found.severity == "warning" and found.values["uniform"] == pytest.approx(0.325083,
                                                                                    abs=1e-6)


def test_accuracy_that_the_loss_cannot_allow():
    history = {"loss": [0.2, 0.15, 0.1], "accuracy": [0.5, 0.5, 0.5]}
    found = the(diagnose(history, "sparse_cce", n_classes=10), "accuracy_vs_loss")
    assert found.epochs == (1, 2, 3)
    consistent = {"loss": [0.2, 0.15, 0.1], "accuracy": [0.8, 0.9, 0.95]}
    assert "accuracy_vs_loss" not in kinds(diagnose(consistent, "sparse_cce", n_classes=10))


def test_no_bounds_without_k():
    found = the(diagnose({"loss": [0.5, 0.4]}, "sparse_cce"), "no_bounds")
    assert "n_classes" in found.message and found.severity == "info"


def test_findings_are_sorted_by_severity():
    history = {"loss": [0.3, 0.25, 0.2, float("nan")], "accuracy": [0.9, 0.9, 0.9, 0.9]}
    severities = [f.severity for f in diagnose(history)]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_finding_checks_severity_and_freezes_values():
    with pytest.raises(ValueError, match="severity"):
        Finding("x", "fatal", (), {}, "")
    finding = Finding("x", "info", (np.int64(3),), {"a": np.float32(0.5)}, "m")
    assert finding.epochs == (3,) and type(finding.values["a"]) is float
    with pytest.raises(TypeError):
        finding.values["a"] = 1.0  # type: ignore[index]
    assert str(finding) == "[info] x (epoch 3): m"
    assert json.loads(json.dumps(finding.as_dict()))["values"] == {"a": 0.5}


def test_flag_and_explanation_types_are_exported():
    assert isinstance(explain(0.1, "bce", n_classes=3).flags[0], Flag)
    assert isinstance(explain(0.1, "bce"), Explanation)


# --------------------------------------------------------------------------
# diagnose: the trend test is noise-aware


@st.composite
def curve(draw, *, rising, min_epochs, noise, spread):
    """A monotone curve with per-epoch steps in [d, (1 + spread) d], plus noise in ±noise d."""
    n = draw(st.integers(min_epochs, 60))
    d = draw(st.floats(1e-4, 0.1))
    steps = draw(hnp.arrays(np.float64, n - 1, elements=st.floats(0, spread)))
    shake = draw(hnp.arrays(np.float64, n, elements=st.floats(-noise, noise)))
    base = np.concatenate([[0.0], np.cumsum(d * (1 + steps))])
    return 2.0 + (base if rising else -base) + d * shake


@given(curve(rising=False, min_epochs=2, noise=1.9, spread=9))
def test_decreasing_noisy_curves_never_rise(y):
    """Noise up to twice the smallest decrease: epochs wiggle up, the trend never does."""
    assert "rising_loss" not in kinds(diagnose({"loss": list(y)}))


@given(curve(rising=True, min_epochs=8, noise=1.0, spread=3))
def test_rising_noisy_curves_are_found(y):
    """Noise up to the smallest increase: single epochs may drop, the trend rises."""
    found = the(diagnose({"loss": list(y)}), "rising_loss")
    assert found.values["rise"] > 3 * found.values["noise"]


def test_rise_after_the_minimum_is_found():
    down = [1.0, 0.7, 0.5, 0.4, 0.35, 0.33]
    up = [0.36, 0.4, 0.39, 0.45, 0.5, 0.52, 0.6]
    found = the(diagnose({"loss": down + up}), "rising_loss")
    assert found.epochs == tuple(range(6, 14))
    assert "rose from its lowest value, 0.33 (epoch 6), to 0.6 (epoch 13)" in found.message


@pytest.mark.parametrize("n", [10, 30, 60])
def test_flat_noise_rarely_looks_rising(n):
    """False alarms on a flat curve with Gaussian noise: at most 1% of 200 fixed seeds."""
    flagged = sum("rising_loss" in kinds(diagnose({"loss": list(
        0.2 + 0.003 * np.random.default_rng(seed).standard_normal(n))})) for seed in range(200))
    assert flagged <= 2


def test_one_bad_epoch_is_not_a_trend():
    y = [0.9, 0.7, 0.6, 0.55, 0.52, 0.9, 0.5, 0.49, 0.48]
    assert "rising_loss" not in kinds(diagnose({"loss": y}))


# --------------------------------------------------------------------------
# diagnose: issue 12, what real logs need


def test_a_loss_frozen_at_any_level_is_stuck_for_any_loss():
    frozen = {"loss": [2.4, 2.1] + [1.9105] * 10}
    for loss, options in ((None, {}), ("mse", {}), ("sparse_cce", {"n_classes": 10})):
        found = the(diagnose(frozen, loss, **options), "stuck")
        assert found.severity == "warning" and found.epochs == tuple(range(3, 13))
        assert "printed the same value, 1.9105" in found.message


def test_a_flat_noisy_loss_after_learning_rate_cuts_is_stuck_and_says_so():
    rng = np.random.default_rng(3)
    loss = [0.25, 0.17, 0.16] + list(0.156 + 0.002 * rng.standard_normal(20))
    rate = [1e-3] * 3 + [1e-3 / 2 ** (i // 2) for i in range(20)]
    found = diagnose({"loss": loss, "learning_rate": rate})
    stuck = the(found, "stuck")
    assert "without helping" in stuck.message and "lowered 9 times" in stuck.message
    assert "still_improving" not in kinds(found)


def test_a_loss_that_fell_far_and_levelled_off_is_converged_not_stuck():
    loss = [2.0, 1.0, 0.5, 0.3, 0.2] + [0.15, 0.151, 0.149, 0.15, 0.152, 0.15]
    found = diagnose({"loss": loss}, "sparse_cce", n_classes=10)
    assert "stuck" not in kinds(found) and the(found, "levelled_off").severity == "info"
    assert "levelled off after about epoch 6" in found.verdict and found.healthy


def test_a_spike_that_comes_back():
    loss = [1.2, 0.9, 0.7, 0.6, 0.55, 2.4, 0.52, 0.5, 0.48]
    spike = the(diagnose({"loss": loss}), "spike")
    assert spike.epochs == (6,) and "came back to 0.52 (epoch 7)" in spike.message
    assert "rising_loss" not in kinds(diagnose({"loss": loss}))
    # A 10% bump is a noisy step, not a spike.
    assert "spike" not in kinds(diagnose({"loss": [1.0, 0.9, 0.85, 0.94, 0.8, 0.78, 0.77]}))


def test_still_improving_says_train_longer():
    log = read_keras_log("".join(f"Epoch {e}/30\n4/4 - 0s - loss: {1 / e:.4f}\n"
                                 for e in range(1, 6)))
    found = the(diagnose(log, "mse"), "still_improving")
    assert found.severity == "info" and "The log stops at epoch 5 of 30" in found.message


def test_overfitting_from_the_gap_when_val_loss_stalls():
    loss = [1.0, 0.7, 0.5, 0.38, 0.3, 0.24, 0.2, 0.17]
    val = [0.95, 0.72, 0.58, 0.52, 0.5, 0.51, 0.505, 0.515]
    found = the(diagnose({"loss": loss, "val_loss": val}), "overfitting")
    assert found.values["best_epoch"] == 5 and "val_loss - loss grew" in found.evidence


def test_no_first_sign_of_overfitting_while_val_loss_is_below_and_falling():
    loss = [1.0, 0.8, 0.65, 0.55, 0.47, 0.41, 0.36]
    val = [0.6, 0.52, 0.46, 0.42, 0.39, 0.37, 0.355]  # below loss, falling
    found = diagnose({"loss": loss, "val_loss": val})
    assert not {"overfitting", "growing_gap"} & set(kinds(found))
    assert "val_below_train" in kinds(found)


def test_val_loss_above_guessing_with_high_accuracy_is_overfitting_first():
    # Issue 12: 3 classes, val_accuracy 0.73 and a rising val_loss got "worse than guessing,
    # check the labels" first.
    history = {"loss": [0.9, 0.6, 0.4, 0.3, 0.22, 0.17], "accuracy": [0.6, 0.75, 0.85, 0.9, 0.93, 0.95],
               "val_loss": [0.85, 0.8, 0.9, 1.05, 1.2, 1.35],
               "val_accuracy": [0.66, 0.71, 0.73, 0.73, 0.72, 0.73]}
    found = diagnose(history, "sparse_cce", n_classes=3)
    assert [f.kind for f in found if f.severity != "info"] == ["overfitting"]
    assert "not wrong labels" in found[0].message and "val_accuracy is 0.73" in found[0].message


def test_multi_output_totals_that_are_not_the_sum_of_their_parts():
    history = {"loss": [2.1, 1.8, 1.6], "out_a_loss": [1.0, 0.9, 0.8], "out_b_loss": [1.1, 0.9, 0.8],
               "val_loss": [1.9, 1.85, 1.80], "val_out_a_loss": [20000, 21000, 22000],
               "val_out_b_loss": [21000, 21500, 22000]}
    found = the(diagnose(history), "multi_output_inconsistency")
    assert found.severity == "warning" and "add up to 42500" in found.message
    consistent = dict(history, val_out_a_loss=[0.9, 0.9, 0.9], val_out_b_loss=[1.0, 0.95, 0.9])
    assert "multi_output_inconsistency" not in kinds(diagnose(consistent))


def test_accuracy_on_a_regression_target_with_the_loss_named():
    history = {"loss": [3.0, 1.5, 0.8, 0.5], "accuracy": [0.0, 0.004, 0.0, 0.004]}
    found = the(diagnose(history, "mse"), "accuracy_on_regression")
    assert "regression loss" in found.message
    # A classifier trained with MSE on one-hot targets gets most samples right: no finding.
    classifier = {"loss": [0.08, 0.04, 0.02, 0.015], "accuracy": [0.6, 0.8, 0.9, 0.93]}
    assert "accuracy_on_regression" not in kinds(diagnose(classifier, "mse"))


def test_nothing_is_measured_after_an_impossible_value():
    found = diagnose({"loss": [0.5, 0.2, -0.7, -0.7]}, "sparse_cce", n_classes=10)
    assert kinds(found) == ["below_best"]
    assert "perplexity" not in str(found) and "%" not in found[0].message


def test_the_verdict_comes_first_and_statistics_after_the_sentence():
    found = diagnose(read_keras_log_file(SEED_RISING))
    assert str(found).splitlines()[0] == found.verdict
    assert found.verdict.startswith("The training loss rose 11% (0.176 to 0.1949)")
    rising = the(found, "rising_loss")
    assert "Kendall" not in rising.message and "Kendall τ = 0.48" in rising.evidence
    assert str(rising).endswith("p = 0.0012]")


def test_one_epoch_is_not_a_final_level():
    found = diagnose({"loss": [0.9], "val_loss": [0.8]}, "bce")
    text = str(found)
    assert "final level" not in text and "100%" not in text
    assert all("after one epoch" in f.message for f in found if f.kind == "above_uniform")


def test_n_classes_without_a_loss_sets_the_chance_level_and_says_so():
    found = the(diagnose({"loss": [0.9, 0.8], "accuracy": [0.5, 0.6]}, n_classes=10), "no_bounds")
    assert "n_classes=10 sets the accuracy's chance level, 1/10" in found.message
    assert "--" not in found.message  # the Python API speaks keyword arguments


def test_loss_options_without_a_loss_are_a_type_error_naming_them():
    with pytest.raises(TypeError, match="'label_smoothing' without a loss"):
        diagnose({"loss": [0.5]}, label_smoothing=0.1)


def test_falling_through_the_uniform_baseline_is_not_stuck_at_it():
    found = diagnose({"loss": [0.9, 0.85, 0.8, 0.75, 0.6931]}, "bce")
    assert "at_uniform" not in kinds(found) and "stuck" not in kinds(found)


def test_explain_answers_the_highest_loss_with_the_logits_path():
    e = explain(301.5, "sparse_cce", n_classes=5)
    assert "above_worst" in e.kinds
    text = str(e)
    assert "the highest Keras can print is 16.12" not in text
    assert "no sample costs more than 16.12 with clipped probabilities" in text
    assert "from the logits" in dict(zip(e.kinds, (f.reason for f in e.flags)))["above_worst"]



def test_explain_names_caffe_s_ceiling():
    e = explain(87.3365, "sparse_cce", n_classes=10)
    assert e.kinds[0] == "clipping_plateau" and "FLT_MIN" in e.flags[0].reason


def test_explain_speaks_the_loss_s_own_words():
    text = str(explain(-0.5, "mse"))
    assert "label smoothing" not in text and "cross-entropy" not in text
    assert "--" not in str(explain(3.0, "mse"))  # Python speaks keyword arguments


def test_early_stopping_while_still_falling_says_so():
    found = the(diagnose(read_keras_log_file(Path(__file__).parent / "data" / "logs" /
                                             "k3_early_stopping.txt")), "still_improving")
    assert "EarlyStopping ended training at epoch 3" in found.message


def test_learning_rate_cuts_printed_as_notes_count_too():
    text = "".join(
        f"Epoch {e}/30\n4/4 [==============================] - 1s - loss: {v:.4f}\n"
        + (f"Epoch {e:05d}: ReduceLROnPlateau reducing learning rate to {0.001 / 2 ** e}.\n"
           if e > 3 else "")
        for e, v in enumerate([0.9, 0.85, 0.84, 0.841, 0.839, 0.84, 0.842, 0.84, 0.839, 0.841,
                               0.84, 0.84], start=1))
    stuck = the(diagnose(read_keras_log(text)), "stuck")
    assert "The learning rate was lowered 9 times (to 2.441e-07) without helping" in stuck.message
