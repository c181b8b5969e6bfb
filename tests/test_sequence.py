"""CTC against live Keras 3 (TensorFlow), and its bounds.

- Hypothesis drives `lossbounds.ctc` and `lossbounds.loss("ctc", ...)` against
  Keras' function and class (300 examples per API): labels with repeats,
  padding and empty rows, the minimum number of frames, one frame too few
  (TensorFlow's ~707), no frames; normal, uniform, perfectly aligned, integer
  and edge logits (+-1e30, +-inf, NaN); float16/32/64; every reduction,
  weight shape and class dtype.
- Edge cases one by one, each against Keras and, where it is one alignment
  or a sum of logs, an independent numpy computation.
- Each claimed bound is a value Keras returns for a constructed input: 0 for
  confident logits on an alignment, T ln K - ln A for uniform logits, with A
  counted independently (brute force over every frame sequence, and the
  textbook integer recursion of Graves et al.).
- Where Keras computes garbage, lossbounds raises and says why.
"""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function
from strategies import EDGE_LOGITS, class_dtypes, reductions, sample_weights, seeds

import lossbounds
from lossbounds.registry import UndefinedBound, get_loss

F32 = np.float32
RTOL = 1e-5  # the ctc contract (tests/compare.py): TensorFlow adds up T frames in float32
# float16 results are float32 values rounded to float16: two float32 values 1e-5 apart
# can round to neighbouring float16 numbers (2**-11 apart), and sums add a few such steps.
RTOL_FLOAT16 = 4 * 2.0**-11
# -ln(float32(1e-307)): TensorFlow's ln 0 stand-in (ctc_state_log_probs in
# tensorflow/python/ops/ctc_ops.py casts log(1e-307) to float32).
TF_IMPOSSIBLE = -float(np.float32(np.log(1e-307)))


def _needed(label) -> int:
    """Frames a label needs: one per label, one more between equal neighbours."""
    label = list(label)
    return len(label) + sum(a == b for a, b in zip(label, label[1:]))


def _alignment(rng, label, frames) -> list[int]:
    """A random alignment of `label` over `frames` frames (frames >= _needed(label))."""
    path: list[int] = []
    for i, c in enumerate(label):
        if i and label[i - 1] == c:
            path.append(0)
        path.append(c)
    while len(path) < frames:
        if path and rng.random() < 0.5:  # one run a frame longer
            i = int(rng.integers(len(path)))
            path.insert(i, path[i])
        else:  # a blank where it splits no run: at an end, or between two different frames
            places = [i for i in range(len(path) + 1)
                      if i in (0, len(path)) or path[i - 1] != path[i]]
            path.insert(places[int(rng.integers(len(places)))], 0)
    assert _collapse(path) == tuple(label)
    return path


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _textbook_ctc(label, logits) -> float:
    """-ln P by Graves et al.'s forward recursion over 2L + 1 states, in float64.

    Independent of TensorFlow's state machine (no padding states, no 1e-307
    stand-in): the exact value, which TensorFlow matches for feasible labels
    and moderate logits.
    """
    logp = _log_softmax(logits)
    states = [0]
    for c in label:
        states += [c, 0]
    alpha = np.full(len(states), -np.inf)
    if len(logp) == 0:
        return 0.0 if not label else math.inf
    alpha[0] = logp[0, 0]
    if label:
        alpha[1] = logp[0, states[1]]
    for t in range(1, len(logp)):
        new = np.full_like(alpha, -np.inf)
        for s, c in enumerate(states):
            terms = [alpha[s]] + ([alpha[s - 1]] if s >= 1 else [])
            if s >= 2 and c != 0 and states[s - 2] != c:
                terms.append(alpha[s - 2])
            new[s] = np.logaddexp.reduce(terms) + logp[t, c]
        alpha = new
    return -float(np.logaddexp.reduce(alpha[-2:] if label else alpha[-1:]))


def _collapse(frames) -> tuple[int, ...]:
    merged = [c for i, c in enumerate(frames) if i == 0 or frames[i - 1] != c]
    return tuple(c for c in merged if c != 0)


def _graves_count(label, frames) -> int:
    """The number of alignments by the textbook recursion, in exact integers."""
    states = [0]
    for c in label:
        states += [c, 0]
    alpha = [0] * len(states)
    alpha[0] = 1
    if label:
        alpha[1] = 1
    for _ in range(frames - 1):
        alpha = [alpha[s] + (alpha[s - 1] if s >= 1 else 0)
                 + (alpha[s - 2] if s >= 2 and c != 0 and states[s - 2] != c else 0)
                 for s, c in enumerate(states)]
    return sum(alpha[-2:]) if label else alpha[-1]


# --------------------------------------------------------------------------
# Strategies


@st.composite
def ctc_inputs(draw, min_k=1, dtypes=(np.float16, np.float32, np.float64)):
    """(y_true, y_pred): padded labels (repeats, empty rows) and logits at every edge."""
    rng = np.random.default_rng(draw(seeds))
    k = draw(st.sampled_from([k for k in (1, 2, 3, 5, 12, 40) if k >= min_k]))
    n = draw(st.integers(1, 4))
    width = draw(st.integers(1, 4))
    alphabet = draw(st.integers(1, max(1, k - 1)))  # small alphabets: repeated labels
    labels = np.zeros((n, width), np.int64)
    if k > 1:
        for row, length in zip(labels, rng.integers(0, width + 1, n)):
            row[:length] = rng.integers(1, alphabet + 1, length)
    longest = max(_needed(row[row != 0]) for row in labels)
    frames = draw(st.sampled_from(["random", "random", "minimum", "one_short", "none"]))
    t = {"random": lambda: int(rng.integers(1, 7)), "minimum": lambda: max(longest, 1),
         "one_short": lambda: max(longest - 1, 0), "none": lambda: 0}[frames]()
    style = draw(st.sampled_from(
        ["normal", "normal", "uniform", "aligned", "integer", "edges"]))
    if style == "integer":
        logits = rng.integers(-5, 6, (n, t, k)).astype(np.int32)
    else:
        scale = draw(st.sampled_from([0.1, 1.0, 10.0, 100.0, 1e4]))
        logits = rng.standard_normal((n, t, k)) * scale
        if style == "uniform":
            logits = np.full((n, t, k), draw(st.sampled_from([0.0, 3.5, -1e4])))
        elif style == "aligned":  # a margin on one alignment of each feasible label
            margin = draw(st.sampled_from([3.0, 30.0, 1e4]))
            for i, row in enumerate(labels):
                if _needed(row[row != 0]) <= t:
                    logits[i] = 0.0
                    logits[i, np.arange(t), _alignment(rng, list(row[row != 0]), t)] = margin
        elif style == "edges" and logits.size:
            flat = logits.reshape(-1)
            for _ in range(draw(st.integers(1, 3))):
                flat[rng.integers(flat.size)] = draw(st.sampled_from(
                    EDGE_LOGITS + (np.inf, -np.inf, np.nan)))
        with np.errstate(over="ignore"):  # 1e30 is inf in float16, on purpose
            logits = logits.astype(draw(st.sampled_from(dtypes)))
    kind = draw(st.sampled_from([np.int64, np.int32, np.float32, np.uint8]))
    return labels.astype(kind), logits


# --------------------------------------------------------------------------
# Values against Keras


@settings(max_examples=300)
@given(data=ctc_inputs())
def test_function_agrees_with_keras(data):
    y_true, y_pred = data
    kind, expected = keras_function("ctc", y_true, y_pred)
    assert kind == "value", expected
    assert_close(lossbounds.ctc(y_true, y_pred), expected, context="ctc", rtol=RTOL)


@settings(max_examples=300)
@given(data=ctc_inputs(min_k=2), reduction=reductions, dtype=class_dtypes, st_data=st.data())
def test_class_agrees_with_keras(data, reduction, dtype, st_data):
    y_true, y_pred = data
    weight = st_data.draw(sample_weights((y_true.shape[0],)))
    kind, expected = keras_class("ctc", y_true, y_pred, sample_weight=weight,
                                 reduction=reduction, dtype=dtype)
    assert kind == "value", expected
    ours = lossbounds.loss("ctc", y_true, y_pred, sample_weight=weight, reduction=reduction,
                           dtype=dtype)
    rtol = RTOL_FLOAT16 if dtype in ("float16", "mixed_float16") else RTOL
    assert_close(ours, expected, context=f"CTC({reduction}, {dtype})", rtol=rtol)


def test_result_dtypes_follow_keras():
    y_true = np.array([[1, 2]])
    logits = np.random.default_rng(0).standard_normal((1, 4, 3))
    for given_dtype, result in ((np.float16, np.float32), (np.float32, np.float32),
                                (np.float64, np.float64), (np.int32, np.float32)):
        x = logits.astype(given_dtype)
        expected = keras_function("ctc", y_true, x)[1]
        assert expected.dtype == result
        assert_close(lossbounds.ctc(y_true, x), expected, rtol=RTOL)


def test_agrees_with_the_textbook_recursion():
    # For feasible labels and moderate logits TensorFlow's state machine gives
    # the exact -ln P, which Graves et al.'s recursion computes independently.
    rng = np.random.default_rng(5)
    labels = [[1, 2, 3], [2, 2, 0], [1, 0, 0], [0, 0, 0], [3, 3, 3]]
    logits = (rng.standard_normal((5, 7, 4)) * 3).astype(F32)
    expected = [_textbook_ctc([c for c in row if c], x) for row, x in zip(labels, logits)]
    assert_close(lossbounds.ctc(labels, logits), np.array(expected, F32), rtol=RTOL)
    assert_close(keras_function("ctc", np.array(labels), logits)[1], np.array(expected, F32),
                 rtol=RTOL)


# --------------------------------------------------------------------------
# Edge cases


def test_empty_label_is_every_frame_blank():
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((2, 6, 4)) * 2).astype(F32)
    y_true = np.zeros((2, 3), np.int64)
    expected = -_log_softmax(logits)[:, :, 0].sum(axis=1)  # the all-blank path only
    assert_close(keras_function("ctc", y_true, logits)[1], expected.astype(F32), rtol=RTOL)
    assert_close(lossbounds.ctc(y_true, logits), expected.astype(F32), rtol=RTOL)


@pytest.mark.parametrize("label", [[1, 1], [2, 2, 1], [1, 2, 2, 3, 3, 3], [4]])
def test_minimum_frames_leave_one_alignment(label):
    # T = L + (equal neighbours): one alignment, with a blank between equal labels.
    rng = np.random.default_rng(2)
    frames = _needed(label)
    logits = (rng.standard_normal((1, frames, 5)) * 2).astype(F32)
    path = _alignment(rng, label, frames)
    assert len(path) == frames and _collapse(path) == tuple(label)
    expected = -_log_softmax(logits[0])[np.arange(frames), path].sum()
    y_true = np.array([label + [0]])
    assert_close(keras_function("ctc", y_true, logits)[1], np.array([expected], F32), rtol=RTOL)
    assert_close(lossbounds.ctc(y_true, logits), np.array([expected], F32), rtol=RTOL)


@pytest.mark.parametrize("label, frames", [([1, 1], 2), ([1, 2, 1], 2), ([3, 3, 3], 4),
                                           ([1, 2], 1), ([2], 0), ([1, 2, 3, 4], 3)])
def test_a_label_too_long_for_the_frames_costs_about_707(label, frames):
    # No alignment exists: TensorFlow's backward pass starts every state that
    # does not end the label at ln(1e-307), so the value is 706.89 plus the cost of
    # the partial alignments (their probabilities sum to at most 1).
    rng = np.random.default_rng(3)
    y_true = np.array([label + [0]])
    for scale in (0.0, 1.0, 5.0):
        logits = (rng.standard_normal((1, frames, 5)) * scale).astype(F32)
        kind, expected = keras_function("ctc", y_true, logits)
        assert kind == "value" and TF_IMPOSSIBLE - 1e-3 <= expected[0] < TF_IMPOSSIBLE + 50
        assert_close(lossbounds.ctc(y_true, logits), expected, rtol=RTOL)


def test_no_frames():
    y_true = np.array([[1, 2], [0, 0]])
    logits = np.zeros((2, 0, 3), F32)
    expected = keras_function("ctc", y_true, logits)[1]
    assert_close(expected, np.array([TF_IMPOSSIBLE, 0.0], F32), rtol=1e-7)
    assert_close(lossbounds.ctc(y_true, logits), expected, rtol=RTOL)


def test_extreme_logits_cap_feasible_labels_as_keras_does():
    # Logits 1000 apart: the exact -ln P is far above 707, and TensorFlow's
    # 1e-307-weighted partial paths take over. lossbounds gives Keras' value.
    y_true = np.array([[1, 2, 1]])
    logits = np.zeros((1, 5, 3), F32)
    logits[0, :, 0] = 1000.0  # every frame says blank
    exact = _textbook_ctc([1, 2, 1], logits[0])
    expected = keras_function("ctc", y_true, logits)[1]
    assert exact > 2900 and expected[0] < exact - 2000
    assert_close(lossbounds.ctc(y_true, logits), expected, rtol=RTOL)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3e38])
def test_non_finite_logits(bad):
    y_true = np.array([[1, 2], [0, 0], [2, 0]])
    logits = np.random.default_rng(4).standard_normal((3, 4, 3)).astype(F32)
    logits[:, 1, 2] = bad
    logits[1, 2, 0] = -bad if bad == 3e38 else bad
    expected = keras_function("ctc", y_true, logits)[1]
    assert_close(lossbounds.ctc(y_true, logits), expected, rtol=RTOL)


def test_much_padding_and_many_frames_go_negative_as_in_keras():
    # An empty label padded to 100 positions, 3000 frames all confidently blank:
    # TensorFlow's padding positions are states, and 1e-307 times the number of
    # paths into them exceeds 1. Keras 3.15.1 returned -24.436968 (measured once:
    # the call takes 30 s). TensorFlow adds 3000 float32 terms of about 730, so
    # its own rounding is about 5e-4 here.
    y_true = np.zeros((1, 100), np.int64)
    logits = np.zeros((1, 3000, 3), F32)
    logits[..., 0] = 1e4
    assert_close(lossbounds.ctc(y_true, logits), np.array([-24.436968], F32), rtol=5e-5)


def test_empty_batch_is_empty():
    # Keras raises inside TensorFlow; lossbounds returns no losses, as for other losses.
    y_true, logits = np.zeros((0, 2), np.int64), np.zeros((0, 5, 3), F32)
    assert keras_function("ctc", y_true, logits)[0] == "error"
    values = lossbounds.ctc(y_true, logits)
    assert values.shape == (0,) and values.dtype == F32


# --------------------------------------------------------------------------
# Bounds


@pytest.mark.parametrize("label", [[1], [1, 2], [1, 1], [2, 1, 1, 2], []])
def test_best_case_is_reached_by_confident_logits(label):
    rng = np.random.default_rng(6)
    frames = _needed(label) + 3
    logits = np.zeros((1, frames, 4), F32)
    logits[0, np.arange(frames), _alignment(rng, label, frames)] = 1e4
    y_true = np.array([label + [0, 0]])
    expected = keras_function("ctc", y_true, logits)[1]
    assert expected[0] == lossbounds.best_case("ctc") == 0.0
    assert lossbounds.ctc(y_true, logits)[0] == 0.0
    assert lossbounds.worst_case("ctc") == math.inf


# (T, K, label, A): the first seven from the coverage study (A counted there by hand or
# DP), the last two by the recursion of Graves et al. (see _graves_count).
UNIFORM_CASES = [(6, 4, [1, 2], 70), (8, 4, [1, 2, 3], 462), (7, 4, [1, 2, 1], 210),
                 (5, 4, [1, 1], 15), (9, 4, [2, 2, 1], 462), (5, 3, [1, 2], 35),
                 (6, 4, [], 1), (12, 30, [5, 5, 5, 5], 1287), (3, 2, [1, 1], 1)]


@pytest.mark.parametrize("frames, k, label, count", UNIFORM_CASES)
def test_uniform_baseline_is_keras_at_uniform_logits(frames, k, label, count):
    assert _graves_count(label, frames) == count
    y_true = np.array([label + [0]])
    claimed = lossbounds.baseline("ctc", y_true, n_classes=k, input_length=frames)
    assert claimed == pytest.approx(frames * math.log(k) - math.log(count), rel=1e-12)
    for constant in (0.0, 7.25):  # only the differences between logits matter
        logits = np.full((1, frames, k), constant, F32)
        kind, expected = keras_function("ctc", y_true, logits)
        assert kind == "value"
        assert_close(np.array([claimed], F32), expected, rtol=RTOL)
    if all(a != b for a, b in zip(label, label[1:])):  # label_length alone assumes this
        assert lossbounds.baseline("ctc", n_classes=k, input_length=frames,
                                   label_length=len(label)) == pytest.approx(claimed, rel=1e-12)


def test_uniform_baseline_of_a_batch_is_the_class_value():
    rng = np.random.default_rng(7)
    y_true = np.zeros((6, 5), np.int64)
    for row, length in zip(y_true, [0, 1, 3, 5, 5, 2]):
        row[:length] = rng.integers(1, 3, length)  # labels 1 and 2: repeats
    frames, k = 11, 3
    claimed = lossbounds.baseline("ctc", y_true, n_classes=k, input_length=frames)
    kind, expected = keras_class("ctc", y_true, np.zeros((6, frames, k), F32))
    assert kind == "value"
    assert_close(np.asarray(claimed, F32), expected, rtol=RTOL)


def test_alignment_count_against_every_frame_sequence():
    # Brute force: count the K**T frame sequences that collapse to the label.
    k = 3
    for frames in range(1, 8):
        counts: dict[tuple[int, ...], int] = {}
        for sequence in itertools.product(range(k), repeat=frames):
            label = _collapse(sequence)
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            claimed = lossbounds.baseline("ctc", np.array([list(label) + [0]]), n_classes=k,
                                          input_length=frames)
            assert frames * math.log(k) - claimed == pytest.approx(math.log(count), abs=1e-12)


@pytest.mark.parametrize("frames", [1, 7, 40, 300, 5000])
def test_alignment_count_against_the_textbook_recursion(frames):
    rng = np.random.default_rng(frames)
    for _ in range(4):
        label = list(rng.integers(1, 3, int(rng.integers(0, 9))))
        if _needed(label) > frames:
            continue
        count = _graves_count(label, frames)
        claimed = lossbounds.baseline("ctc", np.array([label + [0]]), n_classes=3,
                                      input_length=frames)
        assert frames * math.log(3) - claimed == pytest.approx(math.log(count), rel=1e-12)


def test_alignment_count_of_long_labels_on_long_inputs():
    # Past 2000 label runs lossbounds uses lgamma; the exact count is a 1800-digit integer.
    rng = np.random.default_rng(8)
    label = list(rng.integers(1, 4, 1200))
    repeats = sum(a == b for a, b in zip(label, label[1:]))
    frames = 5000
    claimed = lossbounds.baseline("ctc", np.array([label]), n_classes=4, input_length=frames)
    exact = math.log(math.comb(frames + len(label) - repeats, 2 * len(label)))
    assert frames * math.log(4) - claimed == pytest.approx(exact, rel=1e-12)


def test_uniform_baseline_needs_frames_classes_and_a_label():
    with pytest.raises(UndefinedBound, match="input_length=T"):
        lossbounds.baseline("ctc", n_classes=5, label_length=2)
    with pytest.raises(UndefinedBound, match="n_classes=K"):
        lossbounds.baseline("ctc", input_length=5, label_length=2)
    with pytest.raises(UndefinedBound, match="label_length=L"):
        lossbounds.baseline("ctc", n_classes=5, input_length=5)
    assert lossbounds.bounds("ctc", n_classes=5, input_length=5).uniform is None
    with pytest.raises(UndefinedBound, match="2 pairs of equal neighbours needs at least 6 frames"):
        lossbounds.baseline("ctc", [[1, 1, 2, 2]], n_classes=3, input_length=4)
    with pytest.raises(ValueError, match="row 1 of `y_true` has 1 labels"):
        lossbounds.baseline("ctc", [[1, 2], [1, 0]], n_classes=3, input_length=4,
                            label_length=2)
    b = lossbounds.bounds("ctc", n_classes=5, input_length=3, label_length=4)
    assert b.uniform is None
    assert "label_longer_than_input" in lossbounds.explain(1.0, "ctc", n_classes=5,
                                                           input_length=3, label_length=4).kinds


def test_there_is_no_prior_baseline():
    with pytest.raises(UndefinedBound, match="no constant prediction is a natural baseline"):
        lossbounds.prior_baseline("ctc", [[1, 2]])


@pytest.mark.parametrize("name, value, expected", [
    ("input_length", 2.5, TypeError), ("input_length", 0, ValueError),
    ("label_length", -1, ValueError), ("label_length", "3", TypeError),
    ("n_classes", 0, ValueError)])
def test_bound_options_are_checked(name, value, expected):
    with pytest.raises(expected, match=name):
        lossbounds.bounds("ctc", **{name: value})


# --------------------------------------------------------------------------
# Names and words


def test_names():
    definition = get_loss("ctc")
    for name in ("CTC", "connectionist_temporal_classification", "Ctc"):
        assert get_loss(name) is definition
    assert keras.losses.get("ctc") is keras.losses.ctc
    assert isinstance(keras.losses.get("CTC"), keras.losses.Loss)
    assert keras.losses.CTC().name == "ctc"
    with pytest.raises(TypeError, match="CTC always takes logits"):
        lossbounds.loss("ctc", [[1]], np.zeros((1, 2, 3), F32), from_logits=True)


def test_explain_reads_an_impossible_alignment():
    y_true, logits = np.array([[1, 2, 1]]), np.zeros((1, 2, 3), F32)
    value = float(keras_function("ctc", y_true, logits)[1][0])  # 707.48
    assert "impossible_alignment" in lossbounds.explain(value, "ctc").kinds
    options = {"n_classes": 3, "input_length": 8, "label_length": 3}
    assert "impossible_alignment" in lossbounds.explain(value, "ctc", **options).kinds
    # Not on other backends, and not where uniform logits already cost this much
    assert lossbounds.explain(value, "ctc", backend="torch").kinds == ()
    long = {"n_classes": 40, "input_length": 300, "label_length": 20}
    assert "impossible_alignment" not in lossbounds.explain(value, "ctc", **long).kinds
    assert lossbounds.explain(100.0, "ctc").kinds == ()


def test_explain_reads_a_negative_value():
    # Keras' value for a label beyond K (which lossbounds refuses to compute)
    confident = np.zeros((1, 3, 3), F32)
    confident[0, :, 1] = 10.0
    kind, value = keras_function("ctc", np.array([[1, 5]]), confident)
    assert kind == "value"
    value = float(value[0])
    assert value < 0
    assert {"below_best", "labels_beyond_classes"} <= set(lossbounds.explain(value, "ctc").kinds)


def test_explain_speaks_of_the_whole_sequence_and_of_frames():
    e = lossbounds.explain(2.0, "ctc", n_classes=3, input_length=8, label_length=3)
    assert e.geometric_mean_probability == pytest.approx(math.exp(-2.0))
    text = str(e)
    assert "probability the model gives the whole label sequence" in text
    assert "Per frame that is 2 / 8 = 0.25 nats" in text
    uniform = 8 * math.log(3) - math.log(math.comb(11, 6))
    assert f"{uniform / 8:.4g} for uniform logits" in text


# --------------------------------------------------------------------------
# Garbage in, clear error out


def _keras_silently_scores(y_true, logits) -> None:
    kind, value = keras_function("ctc", np.asarray(y_true), logits)
    assert kind == "value" and np.all(np.isfinite(value)), value


@pytest.mark.parametrize("y_true, match", [
    ([[1, 3]], r"label 3 .* outside \[0, 3\)"),
    ([[1, -1]], r"label -1 .* outside"),
    ([[1, 0, 2]], r"blank 0 at position 1 before label 2"),
    ([[0, 1]], r"blank 0 at position 0 before label 1"),
    ([[1.5, 0.0]], r"integer labels, got 1.5"),
])
def test_labels_keras_scores_wrongly_are_refused(y_true, match):
    logits = np.zeros((1, 4, 3), F32)
    _keras_silently_scores(y_true, logits)
    with pytest.raises(ValueError, match=match) as error:
        lossbounds.ctc(y_true, logits)
    assert "`y_true`" in str(error.value)
    with pytest.raises(ValueError, match=match):
        lossbounds.loss("ctc", np.asarray(y_true), logits)


def test_a_label_beyond_k_makes_keras_negative():
    # TensorFlow's one_hot of a label >= K is all zeros: the label costs nothing.
    kind, value = keras_function("ctc", np.array([[1, 5]]), np.full((1, 3, 3), 0.0, F32))
    assert kind == "value"
    labelled = keras_function("ctc", np.array([[1, 2]]), np.full((1, 3, 3), 0.0, F32))[1]
    assert value[0] < labelled[0]
    confident = np.zeros((1, 3, 3), F32)
    confident[0, :, 1] = 1e4
    assert keras_function("ctc", np.array([[1, 5]]), confident)[1][0] < 0


def test_nan_label_is_refused():
    with pytest.raises(ValueError, match="integer labels, got nan"):
        lossbounds.ctc(np.array([[np.nan, 0.0]]), np.zeros((1, 4, 3), F32))


def test_y_true_without_columns_is_refused():
    # TensorFlow counts the start -> first blank transition twice: ln 2 too low.
    frames, k = 3, 4
    value = keras_function("ctc", np.zeros((2, 0), np.int64), np.zeros((2, frames, k), F32))[1]
    assert_close(value, np.full(2, frames * math.log(k) - math.log(2), F32), rtol=RTOL)
    with pytest.raises(ValueError, match="`y_true` has no columns"):
        lossbounds.ctc(np.zeros((2, 0), np.int64), np.zeros((2, frames, k), F32))


@pytest.mark.parametrize("y_true, y_pred, match", [
    (np.ones((2, 3), int), np.zeros((2, 4), F32), "`y_pred` must have shape"),
    (np.ones((2, 3), int), np.zeros((2, 4, 3, 1), F32), "`y_pred` must have shape"),
    (np.ones(2, int), np.zeros((2, 4, 3), F32), "`y_true` must have shape"),
    (np.ones((2, 3, 1), int), np.zeros((2, 4, 3), F32), "`y_true` must have shape"),
    (np.ones((8, 2), int), np.zeros((5, 4, 3), F32), "8 label sequences but `y_pred` has 5"),
    (np.zeros((1, 2), int), np.zeros((1, 4, 0), F32), "no classes"),
])
def test_shapes_keras_cannot_use_are_refused(y_true, y_pred, match):
    assert keras_function("ctc", y_true, y_pred)[0] == "error"
    with pytest.raises(ValueError, match=match):
        lossbounds.ctc(y_true, y_pred)


def test_one_class_works_in_the_function_but_not_the_class():
    # Keras' class squeezes y_pred (N, T, 1) to (N, T) and then refuses it.
    y_true, y_pred = np.zeros((2, 2), np.int64), np.random.default_rng(0).random((2, 3, 1), F32)
    assert_close(lossbounds.ctc(y_true, y_pred), keras_function("ctc", y_true, y_pred)[1],
                 rtol=RTOL)
    assert keras_class("ctc", y_true, y_pred)[0] == "error"
    with pytest.raises(ValueError, match="squeezes a last axis of length 1"):
        lossbounds.loss("ctc", y_true, y_pred)


def test_junk_kinds_get_a_type_error():
    with pytest.raises(TypeError, match="y_pred"):
        lossbounds.ctc([[1]], "logits")
    with pytest.raises(TypeError, match="y_true"):
        lossbounds.ctc([["a"]], np.zeros((1, 2, 3), F32))
    with pytest.raises(ValueError, match="epsilon"):
        lossbounds.ctc([[1]], np.zeros((1, 2, 3), F32), epsilon=0.7)
