"""Hypothesis strategies that reach the edges of Keras' loss semantics.

Arrays are built by numpy from a drawn seed and *style* (fast even at
K = 1000), and then exact edge values are injected at drawn positions:
probabilities of exactly 0 and 1, eps and 1 - eps, logits of +-1e4 and
+-1e30, rows that do not sum to 1.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

DTYPES = (np.float16, np.float32, np.float64)
EPS = 1e-7
EDGE_PROBABILITIES = (0.0, 1.0, EPS, 1.0 - EPS, 0.5, 1e-30, 2.0**-24, 1.0 - 2.0**-23)
EDGE_LOGITS = (0.0, 1e4, -1e4, 1e30, -1e30, 88.0, -104.0, 20.0)
LABEL_SMOOTHING = st.one_of(st.sampled_from([0.0, 0.1, 0.2, 1.0]), st.floats(0.0, 1.0))
EPSILONS = st.sampled_from([1e-7, 1e-7, 1e-7, 1e-3, 1e-12])

dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def class_counts(draw):
    return draw(st.one_of(st.sampled_from([1, 2, 3, 10, 1000]), st.integers(1, 40)))


@st.composite
def class_shapes(draw, min_rank=1):
    """``(K,)``, ``(N, K)`` or ``(N, T, K)``, kept small when K is large."""
    k = draw(class_counts())
    rank = draw(st.sampled_from([r for r in (1, 2, 2, 2, 3) if r >= min_rank]))
    n = draw(st.integers(1, 6 if k < 100 else 3))
    t = draw(st.integers(1, 4 if k < 100 else 2))
    return {1: (k,), 2: (n, k), 3: (n, t, k)}[rank]


def _inject(draw, rng, array, edges):
    """Put up to four exact edge values at drawn positions."""
    flat = array.reshape(-1)
    for _ in range(draw(st.integers(0, 4))):
        flat[rng.integers(flat.size)] = draw(st.sampled_from(edges))
    return array


@st.composite
def probabilities(draw, shape, dtype):
    """Probability-like predictions: normalised or not, one-hot, outside [0, 1]."""
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(
        ["softmax", "softmax", "peaked", "raw", "onehot", "uniform", "outside", "tiny"]))
    k = shape[-1]
    if style in ("softmax", "peaked"):
        z = rng.standard_normal(shape) * (3.0 if style == "softmax" else 40.0)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
    elif style == "raw":  # rows that do not sum to 1
        p = rng.random(shape)
    elif style == "onehot":
        p = np.eye(k)[rng.integers(k, size=shape[:-1])]
    elif style == "uniform":
        p = np.full(shape, 1.0 / k)
    elif style == "outside":
        p = rng.uniform(-0.2, 1.3, shape)
    else:
        p = rng.random(shape) * 1e-9
    return _inject(draw, rng, p, EDGE_PROBABILITIES).astype(dtype)


@st.composite
def logits(draw, shape, dtype):
    rng = np.random.default_rng(draw(seeds))
    scale = draw(st.sampled_from([1.0, 10.0, 100.0, 1e4, 1e30]))
    z = rng.standard_normal(shape) * scale
    with np.errstate(over="ignore"):  # 1e30 is inf in float16, on purpose
        return _inject(draw, rng, z, EDGE_LOGITS).astype(dtype)


@st.composite
def predictions(draw, shape, dtype, from_logits):
    if from_logits:
        return draw(logits(shape, dtype))
    return draw(probabilities(shape, dtype))


@st.composite
def binary_targets(draw, shape, dtype):
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(["hard", "hard", "soft", "edges"]))
    if style == "hard":
        y = rng.integers(0, 2, shape).astype(np.float64)
    elif style == "soft":
        y = rng.random(shape)
    else:
        y = rng.choice([0.0, 1.0, 0.5, EPS, 1 - EPS], shape)
    return y.astype(dtype)


@st.composite
def categorical_targets(draw, shape, dtype):
    rng = np.random.default_rng(draw(seeds))
    k = shape[-1]
    style = draw(st.sampled_from(["onehot", "onehot", "soft", "multihot"]))
    if style == "onehot":
        y = np.eye(k)[rng.integers(k, size=shape[:-1])]
    elif style == "soft":
        y = rng.random(shape)
        y /= y.sum(axis=-1, keepdims=True)
    else:
        y = rng.integers(0, 2, shape).astype(np.float64)
    return y.astype(dtype)


@st.composite
def sparse_labels(draw, shape, *, ignore_class=None):
    """Integer labels for predictions of `shape`, as ints or whole floats."""
    rng = np.random.default_rng(draw(seeds))
    k = shape[-1]
    labels = rng.integers(0, k, size=shape[:-1])
    if ignore_class is not None and labels.size:
        labels = np.where(rng.random(labels.shape) < 0.3, ignore_class, labels)
    if draw(st.booleans()) and len(shape) >= 2:
        labels = labels[..., None]  # (N, 1) labels
    kind = draw(st.sampled_from([np.int64, np.int32, np.float32]))
    return labels.astype(kind)


@st.composite
def regression_pair(draw, dtype):
    """MSE inputs: same shapes, (N,) vs (N, 1), broadcasting, huge values."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 6))
    d = draw(st.sampled_from([1, 2, 3, 10]))
    scale = draw(st.sampled_from([1.0, 1e-3, 100.0, 1e19]))
    layout = draw(st.sampled_from(["same", "same", "n_vs_n1", "n1_vs_n", "vector", "broadcast"]))
    shapes = {
        "same": ((n, d), (n, d)),
        "n_vs_n1": ((n,), (n, 1)),
        "n1_vs_n": ((n, 1), (n,)),
        "vector": ((d,), (d,)),
        "broadcast": ((d,), (n, d)),
    }[layout]
    y_true = rng.standard_normal(shapes[0]) * scale
    y_pred = rng.standard_normal(shapes[1]) * scale
    edges = (0.0, 1.0, -1.0, 65504.0, 1e19, -1e19)
    with np.errstate(over="ignore"):  # 1e19 is inf in float16, on purpose
        return (_inject(draw, rng, y_true, edges).astype(dtype),
                _inject(draw, rng, y_pred, edges).astype(dtype))


@st.composite
def sample_weights(draw, loss_shape):
    """Every weight shape Keras 3 accepts for per-sample losses of `loss_shape`."""
    rng = np.random.default_rng(draw(seeds))
    choices = [None, (), (1,)]
    if len(loss_shape) >= 1:
        n = loss_shape[0]
        choices += [(n,), (n, 1)]
    if len(loss_shape) == 2:
        n, t = loss_shape
        choices += [(n, t), (n, t, 1), (t,)]
    shape = draw(st.sampled_from(choices))
    if shape is None:
        return None
    style = draw(st.sampled_from(["random", "ones", "zeros", "mixed", "negative"]))
    values = {
        "random": lambda: rng.random(shape) * 3,
        "ones": lambda: np.ones(shape),
        "zeros": lambda: np.zeros(shape),
        "mixed": lambda: rng.choice([0.0, 1.0, 2.5], shape),
        # All of one sign: weights of both signs can cancel in a reduced sum,
        # and then no float32 implementation can promise 1e-6 of the result
        # unless it adds in TensorFlow's exact order.
        "negative": lambda: rng.uniform(-3, -0.1, shape),
    }[style]()
    kind = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    return np.asarray(values).astype(kind) if kind is not np.int64 else np.round(values).astype(kind)


reductions = st.sampled_from(
    ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None])
class_dtypes = st.sampled_from([None, None, "float32", "float16", "float64", "mixed_float16"])
