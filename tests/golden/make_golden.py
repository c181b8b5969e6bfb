"""Regenerate ``tests/golden/keras_losses.json`` from real Keras 3 (TF backend).

Run from the repository root::

    pip install -e ".[keras]"          # needs the `keras` extra (keras + tensorflow-cpu)
    python tests/golden/make_golden.py

The script builds a curated table of loss cases (function API and class API
of MSE, BCE, CCE and sparse CCE), calls Keras on each one and records either
the returned values or the name of the exception Keras raised.  The output is
deterministic: every random input comes from a fixed seed, and the backend
environment variables are pinned below before Keras is imported.

Each case builder states the outcome it expects (``raises=``) and, for the
``bounds/`` cases, the documented value (``approx=``); the script refuses to
write the file if Keras disagrees, so a Keras upgrade that changes behaviour
is noticed rather than silently baked into the golden file.

Section numbers (§) in the comments refer to the research notes keras-semantics.md (in the
shared research folder).  Keras is imported lazily (inside ``main``) so
that ``pytest --doctest-modules`` can import this file without Keras.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("keras_losses.json")
EPS = 1e-7
F16, F32, F64 = "float16", "float32", "float64"
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
SHORT = {
    "mean_squared_error": "mse",
    "binary_crossentropy": "bce",
    "categorical_crossentropy": "cce",
    "sparse_categorical_crossentropy": "scce",
}
CLASS_NAMES = {
    "mean_squared_error": "MeanSquaredError",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}
MSE, BCE, CCE, SCCE = SHORT  # loss names, in SHORT's order
LOSSES = (MSE, BCE, CCE, SCCE)

# Reference values (float32, default eps) used to self-check the bounds/ cases.
L_MAX = 16.11809539794922  # -log(f32(eps))
L_Y0P1 = 15.942384719848633  # -log(1 - f32(1-eps)) = 23 ln 2
L_MIN = 1.1920928955078125e-07  # -log(f32(1-eps)), +-1 ulp
LN2 = math.log(2.0)


# --------------------------------------------------------------------------
# array helpers


def arr(data, dtype=F32, shape=None):
    a = np.asarray(data, dtype=dtype)
    return a if shape is None else a.reshape(shape)


def onehot(labels, k, dtype=F32):
    return np.eye(k, dtype=dtype)[np.asarray(labels)]


def rand_probs(seed, shape, dtype=F32):
    """Softmax of seeded normals over the last axis (rows sum to ~1)."""
    z = np.random.default_rng(seed).normal(size=shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


def rand_logits(seed, shape, dtype=F32, scale=3.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(dtype)


def rand_unit(seed, shape, dtype=F32):
    return np.random.default_rng(seed).uniform(size=shape).astype(dtype)


def rand_labels(seed, shape, k, dtype="int64"):
    return np.random.default_rng(seed).integers(0, k, size=shape).astype(dtype)


def encode(a):
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        data = [int(v) for v in a.ravel()]
    else:
        data = [float(v) for v in a.ravel()]
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": data}


# --------------------------------------------------------------------------
# case constructors.  `raises` is the Keras exception the case is built to
# trigger (None: must succeed); `approx` is a documented value every element of
# the Keras result must match (1e-6 relative) -- both are checked, not stored.
# Policy markers for tests/test_golden.py (stored as "lossbounds": ...), use sparingly:
#   accepts=True  Keras raises only because of an input-type quirk lossbounds accepts;
#   rejects=True  Keras silently accepts garbage that lossbounds deliberately refuses
#                 with ValueError (the Keras value is still recorded).


def fcase(id, loss, y_true, y_pred, *, note=None, raises=None, approx=None, accepts=False, rejects=False,
          **options):
    return dict(id=id, api="function", loss=loss, y_true=y_true, y_pred=y_pred, options=options,
                sample_weight=None, reduction=None, dtype=None, note=note,
                _raises=raises, _approx=approx, _accepts=accepts, _rejects=rejects)


def ccase(id, loss, y_true, y_pred, *, reduction="sum_over_batch_size", sample_weight=None,
          dtype=None, note=None, raises=None, approx=None, accepts=False, rejects=False, **options):
    return dict(id=id, api="class", loss=loss, y_true=y_true, y_pred=y_pred, options=options,
                sample_weight=sample_weight, reduction=reduction, dtype=dtype, note=note,
                _raises=raises, _approx=approx, _accepts=accepts, _rejects=rejects)


def rname(reduction):
    return "None" if reduction is None else reduction


# --------------------------------------------------------------------------
# 1. function API, dtype sweep: each loss in float16/32/64 (§2: output dtype is
#    y_pred's dtype; y_true cast to it)


def dtype_sweep():
    for dt in (F16, F32, F64):
        yield fcase(f"mse/function/random/{dt}", MSE, rand_unit(1, (4, 5), dt), rand_unit(2, (4, 5), dt))
        yield fcase(f"bce/function/random/{dt}", BCE,
                    (rand_unit(3, (4, 5)) > 0.5).astype(dt), rand_unit(4, (4, 5), dt))
        yield fcase(f"bce/function/random-logits/{dt}", BCE,
                    (rand_unit(5, (4, 5)) > 0.5).astype(dt), rand_logits(6, (4, 5), dt), from_logits=True)
        yield fcase(f"cce/function/random/{dt}", CCE, onehot([0, 2, 1, 4], 5, dt), rand_probs(7, (4, 5), dt))
        yield fcase(f"cce/function/random-logits/{dt}", CCE,
                    onehot([3, 2, 0, 4], 5, dt), rand_logits(8, (4, 5), dt), from_logits=True)
        yield fcase(f"scce/function/random/{dt}", SCCE, rand_labels(9, (4,), 5), rand_probs(10, (4, 5), dt))
        yield fcase(f"scce/function/random-logits/{dt}", SCCE,
                    rand_labels(11, (4,), 5), rand_logits(12, (4, 5), dt), from_logits=True)
    # mixed input dtypes: y_true is cast to y_pred's dtype (result dtype = y_pred's)
    yield fcase("mse/function/mixed-dtypes/f64-true-f32-pred", MSE, rand_unit(1, (2, 3), F64), rand_unit(2, (2, 3), F32))
    yield fcase("mse/function/mixed-dtypes/f32-true-f16-pred", MSE, rand_unit(1, (2, 3), F32), rand_unit(2, (2, 3), F16))
    yield fcase("bce/function/mixed-dtypes/int-true-f64-pred", BCE,
                arr([[0, 1, 1]], "int32"), rand_unit(2, (1, 3), F64))
    yield fcase("cce/function/mixed-dtypes/int-true-f16-pred", CCE,
                arr([[0, 1, 0]], "int64"), rand_probs(3, (1, 3), F16))
    yield fcase("scce/function/labels-int32/f64-pred", SCCE, arr([2, 0], "int32"), rand_probs(4, (2, 3), F64))


# --------------------------------------------------------------------------
# 2. edge probabilities / labels


# Each edge value is its own sample (shape (N,1)) so a NaN only poisons its row.
P_EDGES = [0.0, 1.0, EPS, 1.0 - EPS, 0.5, -0.1, 1.2, float("inf"), float("-inf"), float("nan")]


def bce_edges():
    for dt in (F16, F32, F64):
        n = len(P_EDGES)
        yt = arr([0.0] * n + [1.0] * n, dt, (2 * n, 1))
        yp = arr(P_EDGES * 2, dt, (2 * n, 1))
        yield fcase(f"bce/function/probs/edges/{dt}", BCE, yt, yp,
                    note="clip(p, eps, 1-eps) before the logs; +-inf clipped; NaN propagates; "
                         "float16: 1-eps rounds to 1 -> y=0,p=1 inf and y=1,p=1 NaN")
    # soft labels and labels outside [0,1] are used as given (§7.2)
    yield fcase("bce/function/probs/soft-labels/float32", BCE,
                arr([[0.3, 0.7, 0.5, 0.0]]), arr([[0.3, 0.7, 0.2, 0.9]]))
    yield fcase("bce/function/probs/labels-outside-01/float32", BCE,
                arr([[1.5, -0.5, 2.0]]), arr([[0.9, 0.2, 0.5]]), note="labels not validated")
    yield fcase("bce/function/probs/nan-label/float32", BCE, arr([[float("nan"), 1.0]]), arr([[0.5, 0.5]]))
    yield fcase("bce/function/probs/1d/float32", BCE, arr([0.0, 1.0, 1.0]), arr([0.2, 0.6, 0.9]),
                note="1-D input -> 0-d result")


# rows: label k with prediction row; K = 3
CCE_EDGE_ROWS = [
    (0, [1.0, 0.0, 0.0], "one-hot right"),
    (1, [1.0, 0.0, 0.0], "one-hot wrong"),
    (1, [EPS, 1 - EPS, 0.0], "eps / 1-eps"),
    (0, [0.5, 0.5, 0.0], "half"),
    (0, [2.0, 1.0, 1.0], "rows not summing to 1"),
    (0, [0.0, 0.0, 0.0], "all-zero row"),
    (0, [-0.5, 1.0, 0.5], "negative entry"),
    (2, [-0.1, 1.2, 0.0], "outside [0,1]"),
    (1, [float("nan"), 0.5, 0.5], "NaN in y_pred"),
    (2, [0.2, 0.3, 0.1], "sum 0.6"),
    (1, [float("inf"), 0.5, 0.5], "inf in y_pred"),
]


def cce_edges():
    labels = [r[0] for r in CCE_EDGE_ROWS]
    rows = [r[1] for r in CCE_EDGE_ROWS]
    what = "; ".join(f"row {i}: {r[2]}" for i, r in enumerate(CCE_EDGE_ROWS))
    for dt in (F16, F32, F64):
        yield fcase(f"cce/function/probs/edges/{dt}", CCE, onehot(labels, 3, dt), arr(rows, dt),
                    note="CCE normalises p/sum(p) then clips, no renormalisation; all-zero row NaN. " + what)
        yield fcase(f"scce/function/probs/edges/{dt}", SCCE, arr(labels, "int64"), arr(rows, dt),
                    note="TF sparse CCE clips, logs, then renormalises (logsumexp); all-zero row -> log K; "
                         "[2,1,1] -> log 3. " + what)
    yield fcase("cce/function/probs/nan-label/float32", CCE, arr([[float("nan"), 1.0, 0.0]]), arr([[0.2, 0.5, 0.3]]))
    yield fcase("cce/function/probs/1d/float32", CCE, arr([0.0, 1.0, 0.0]), arr([0.2, 0.5, 0.3]),
                note="1-D input -> 0-d result")
    yield fcase("scce/function/probs/0d-label-1d-pred/float32", SCCE, arr(1, "int64"), arr([0.2, 0.5, 0.3]),
                note="0-d label with 1-D y_pred -> 0-d result")


def mse_edges():
    yield fcase("mse/function/1d/float32", MSE, arr([0.0, 1.0, 2.0]), arr([0.5, 1.0, 4.0]), note="1-D -> 0-d result")
    yield fcase("mse/function/rank-fix/true-n-pred-n1/float32", MSE, arr([0.0, 1.0, 2.0]), arr([[0.5], [1.0], [4.0]]),
                note="Keras 3 squeezes (N,1) against (N,): result (N,), not (N,N)")
    yield fcase("mse/function/rank-fix/true-n1-pred-n/float32", MSE, arr([[0.0], [1.0], [2.0]]), arr([0.5, 1.0, 4.0]))
    yield fcase("mse/function/broadcast/2x3-vs-3/float32", MSE, rand_unit(20, (2, 3)), rand_unit(21, (3,)),
                note="broadcastable shapes accepted silently")
    yield fcase("mse/function/broadcast/3-vs-2x3/float32", MSE, rand_unit(22, (3,)), rand_unit(23, (2, 3)))
    yield fcase("mse/function/overflow/float32", MSE, arr([[0.0, 1e20], [0.0, 1e19]]), arr([[0.0, -1e20], [0.0, 0.0]]),
                note="(y-p)^2 overflows float32 -> inf")
    yield fcase("mse/function/overflow/float16", MSE, arr([[100.0, 300.0]], F16), arr([[0.0, 0.0]], F16),
                note="300^2 is inf in float16 (function API keeps float16)")
    yield fcase("mse/function/overflow/float64", MSE, arr([[0.0, 1e20]], F64), arr([[0.0, -1e20]], F64))
    yield fcase("mse/function/int-inputs/int32", MSE, arr([[1, 2, 3]], "int32"), arr([[0, 0, 5]], "int32"),
                note="integer inputs -> float32 result")
    yield fcase("mse/function/int-inputs/int64", MSE, arr([[1, 2, 3]], "int64"), arr([[0, 0, 5]], "int64"))
    yield fcase("mse/function/int-true-f64-pred", MSE, arr([[1, 2, 3]], "int64"), arr([[0.5, 0.0, 5.0]], F64))
    yield fcase("mse/function/nan-inf/float32", MSE, arr([[0.0, 1.0], [0.0, 1.0]]),
                arr([[float("nan"), 1.0], [float("inf"), 0.0]]))
    yield fcase("mse/function/3d/float32", MSE, rand_unit(24, (2, 3, 4)), rand_unit(25, (2, 3, 4)))


# --------------------------------------------------------------------------
# 3. logits (from_logits=True): no clipping, unbounded; TF flushes subnormals


LOGIT_EDGES = [0.0, 1.0, -1.0, 100.0, -100.0, 1e4, -1e4, 1e30, -1e30, 3.4e38, -3.4e38]


def logit_edges():
    n = len(LOGIT_EDGES)
    for dt in (F32, F64):
        yield fcase(f"bce/function/logits/edges/{dt}", BCE, arr([0.0] * n + [1.0] * n, dt, (2 * n, 1)),
                    arr(LOGIT_EDGES * 2, dt, (2 * n, 1)), from_logits=True,
                    note="max(x,0)-x*y+log1p(exp(-|x|)): unbounded, y=1,x=100 exactly 0 (TF flushes subnormals)")
    f16 = [0.0, 10.0, -10.0, 1e4, -1e4, 6e4, -6e4]
    yield fcase("bce/function/logits/edges/float16", BCE, arr([0.0] * 7 + [1.0] * 7, F16, (14, 1)),
                arr(f16 * 2, F16, (14, 1)), from_logits=True)
    yield fcase("bce/function/logits/inf/float32", BCE, arr([[0.0], [1.0], [0.0], [1.0]]),
                arr([[float("inf")], [float("inf")], [-float("inf")], [-float("inf")]]), from_logits=True,
                note="x=+inf gives NaN for y=0 and y=1 on TF")
    rows = [
        (0, [1e4, -1e4, 0.0]), (1, [1e4, -1e4, 0.0]), (2, [1e4, -1e4, 0.0]),
        (0, [1e30, -1e30, 0.0]), (1, [-1e30, 1e30, 0.0]), (0, [-1e30, 1e30, 0.0]),
        (0, [0.0, 0.0, 0.0]), (1, [5.0, -3.0, 200.0]), (2, [-1e4, 1e4, 1e4]),
    ]
    labels = [r[0] for r in rows]
    x = [r[1] for r in rows]
    for dt in (F32, F64):
        yield fcase(f"cce/function/logits/edges/{dt}", CCE, onehot(labels, 3, dt), arr(x, dt), from_logits=True,
                    note="stable log-softmax, unbounded (loss = logit gap)")
        yield fcase(f"scce/function/logits/edges/{dt}", SCCE, arr(labels, "int64"), arr(x, dt), from_logits=True)
    x16 = [[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0], [6e4, -6e4, 0.0]]
    yield fcase("cce/function/logits/edges/float16", CCE, onehot([0, 0, 1, 1], 3, F16), arr(x16, F16), from_logits=True)
    yield fcase("scce/function/logits/edges/float16", SCCE, arr([0, 0, 1, 1], "int64"), arr(x16, F16), from_logits=True)
    big = [[-3.4e38, 3.4e38], [-1e38, 1e38], [float("inf"), 0.0]]
    yield fcase("cce/function/logits/gap-overflow/float32", CCE, onehot([0, 0, 1], 2), arr(big), from_logits=True,
                note="gap > float32 max -> inf; inf logit -> NaN")
    yield fcase("scce/function/logits/gap-overflow/float32", SCCE, arr([0, 0, 1], "int64"), arr(big), from_logits=True)


# --------------------------------------------------------------------------
# 4. number of classes K


def k_sweep():
    for k in (1, 2, 3, 10, 1000):
        n = 2 if k == 1000 else 3
        labels = [i % k for i in range(n)]
        note = "K=1: p/p=1 -> clipped, ~L_min, SyntaxWarning only" if k == 1 else None
        yield fcase(f"cce/function/K{k}/probs/float32", CCE, onehot(labels, k), rand_probs(100 + k, (n, k)), note=note)
        yield fcase(f"cce/function/K{k}/logits/float32", CCE, onehot(labels, k), rand_logits(200 + k, (n, k)),
                    from_logits=True)
        yield fcase(f"scce/function/K{k}/probs/float32", SCCE, arr(labels, "int64"), rand_probs(300 + k, (n, k)))
        yield fcase(f"scce/function/K{k}/logits/float32", SCCE, arr(labels, "int64"), rand_logits(400 + k, (n, k)),
                    from_logits=True)


# --------------------------------------------------------------------------
# 5. label smoothing (BCE: y(1-a)+a/2; CCE: y(1-a)+a/K).  0 is skipped by
#    Python truthiness; a is not validated (1.5, -0.1 accepted).


SMOOTHING = (0.0, 0.1, 0.2, 1.0)


def label_smoothing():
    hard = arr([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    soft = arr([[0.2, 0.9, 0.5, 0.0], [1.0, 0.35, 0.6, 0.1]])
    p = rand_unit(30, (2, 4))
    x = rand_logits(31, (2, 4))
    for a in SMOOTHING + (1.5, -0.1):
        # a outside [0,1]: Keras computes with weights < 0 or > 1; lossbounds refuses
        out = dict(rejects=True, note="Keras accepts label_smoothing outside [0,1]") if a not in SMOOTHING else {}
        yield fcase(f"bce/function/smoothing{a}/hard/probs/float32", BCE, hard, p, label_smoothing=a, **out)
        yield fcase(f"bce/function/smoothing{a}/hard/logits/float32", BCE, hard, x, label_smoothing=a,
                    from_logits=True, **out)
        if a in SMOOTHING:
            yield fcase(f"bce/function/smoothing{a}/soft/probs/float32", BCE, soft, p, label_smoothing=a)
    yield fcase("bce/function/smoothing0.1/float16", BCE, arr(hard, F16), arr(p, F16), label_smoothing=0.1)
    yield fcase("bce/function/smoothing0.1/float64", BCE, arr(hard, F64), arr(p, F64), label_smoothing=0.1)

    onehot_y = onehot([0, 2, 1], 3)
    soft_y = arr([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.3, 0.3, 0.4]])
    multi = arr([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])  # sums 2, 3, 0: used as given
    pp = rand_probs(32, (3, 3))
    xx = rand_logits(33, (3, 3))
    for a in SMOOTHING + (1.5,):
        out = dict(rejects=True, note="Keras accepts label_smoothing outside [0,1]") if a not in SMOOTHING else {}
        yield fcase(f"cce/function/smoothing{a}/onehot/probs/float32", CCE, onehot_y, pp, label_smoothing=a, **out)
        yield fcase(f"cce/function/smoothing{a}/onehot/logits/float32", CCE, onehot_y, xx,
                    label_smoothing=a, from_logits=True, **out)
        if a in SMOOTHING:
            yield fcase(f"cce/function/smoothing{a}/soft/probs/float32", CCE, soft_y, pp, label_smoothing=a)
            yield fcase(f"cce/function/smoothing{a}/multi-hot/probs/float32", CCE, multi, pp, label_smoothing=a,
                        note="multi-hot / zero labels not validated; loss scales with sum(y)")
            yield fcase(f"cce/function/smoothing{a}/multi-hot/logits/float32", CCE, multi, xx,
                        label_smoothing=a, from_logits=True)
    yield fcase("cce/function/smoothing0.1/float16", CCE, arr(onehot_y, F16), arr(pp, F16), label_smoothing=0.1)
    yield fcase("cce/function/smoothing0.1/float64", CCE, arr(onehot_y, F64), arr(pp, F64), label_smoothing=0.1)
    yield fcase("cce/function/smoothing0.1/K1000/float32", CCE, onehot([5, 999], 1000), rand_probs(34, (2, 1000)),
                label_smoothing=0.1)


# --------------------------------------------------------------------------
# 6. axis variants


def axis_variants():
    yt3 = (rand_unit(40, (2, 3, 4)) > 0.5).astype(F32)
    p3 = rand_unit(41, (2, 3, 4))
    for ax in (0, 1, -1, 2):
        yield fcase(f"bce/function/axis{ax}/3d/float32", BCE, yt3, p3, axis=ax,
                    note="BCE axis is only the axis of the final mean")
    yield fcase("bce/function/axis0/3d/logits/float32", BCE, yt3, rand_logits(42, (2, 3, 4)), axis=0, from_logits=True)

    # CCE axis=1 on (2,3,4): class axis has 3 entries, but smoothing uses K = shape[-1] = 4
    lab = rand_labels(43, (2, 4), 3)
    yt = np.moveaxis(onehot(lab, 3), -1, 1)  # (2,3,4), one-hot along axis 1
    p = np.moveaxis(rand_probs(44, (2, 4, 3)), -1, 1)
    x = rand_logits(45, (2, 3, 4))
    for a in (0.0, 0.1):
        yield fcase(f"cce/function/axis1/3d/smoothing{a}/probs/float32", CCE, yt, p, axis=1, label_smoothing=a,
                    note="quirk: smoothing K taken from y_true.shape[-1]=4, not the class axis (3)")
        yield fcase(f"cce/function/axis1/3d/smoothing{a}/logits/float32", CCE, yt, x, axis=1, label_smoothing=a,
                    from_logits=True)
    yield fcase("cce/function/axis0/2d/float32", CCE, onehot([0, 1, 1], 2).T.copy(), rand_probs(46, (2, 3)), axis=0)
    yield fcase("cce/function/axis-True/float32", CCE, onehot([0], 3), rand_probs(47, (1, 3)), axis=True,
                raises="ValueError", note="bool axis rejected explicitly")
    yield fcase("scce/function/axis1/float32", SCCE, arr([[0, 1, 2]], "int64"), rand_probs(48, (1, 3, 3)), axis=1,
                raises="ValueError", note="TF: Only axis=-1 is currently supported")
    yield fcase("scce/function/axis1/2d/float32", SCCE, arr([0, 2, 1], "int64"), rand_probs(49, (3, 3)), axis=0,
                raises="ValueError")
    yield fcase("scce/function/axis-last-positive/3d/float32", SCCE, rand_labels(50, (2, 3), 4),
                rand_probs(51, (2, 3, 4)), axis=2, note="axis == ndim-1 is accepted")


# --------------------------------------------------------------------------
# 7. sparse CCE specifics


def sparse_specifics():
    p = rand_probs(60, (4, 3))
    x = rand_logits(61, (4, 3))
    lab = [2, 0, 1, 1]
    yield fcase("scce/function/labels-int64/float32", SCCE, arr(lab, "int64"), p)
    yield fcase("scce/function/labels-int32/float32", SCCE, arr(lab, "int32"), p)
    yield fcase("scce/function/labels-float/float32", SCCE, arr(lab, F32), p)
    yield fcase("scce/function/labels-float-truncate/float32", SCCE, arr([1.7, -0.5, 2.9, 0.99]), p, rejects=True,
                note="Keras truncates float labels toward 0: [1.7,-0.5,2.9,0.99] -> [1,0,2,0]; lossbounds refuses")
    yield fcase("scce/function/labels-n1/float32", SCCE, arr(lab, "int64", (4, 1)), p, note="(N,1) labels squeezed")
    yield fcase("scce/function/labels-n1/logits/float32", SCCE, arr(lab, "int64", (4, 1)), x, from_logits=True)
    yield fcase("scce/function/3d/probs/float32", SCCE, rand_labels(62, (2, 3), 4), rand_probs(63, (2, 3, 4)))
    yield fcase("scce/function/3d/logits/float32", SCCE, rand_labels(64, (2, 3), 4), rand_logits(65, (2, 3, 4)),
                from_logits=True)
    yield fcase("scce/function/3d/labels-nt1/float32", SCCE, rand_labels(66, (2, 3, 1), 4), rand_probs(67, (2, 3, 4)))
    # ignore_class (§2.4): ignored rows' y_pred zeroed, result 0 there
    lab_ig = arr([2, -1, 1, -1], "int64")
    yield fcase("scce/function/ignore_class-1/some/float32", SCCE, lab_ig, p, ignore_class=-1)
    yield fcase("scce/function/ignore_class-1/some/logits/float32", SCCE, lab_ig, x, ignore_class=-1, from_logits=True)
    yield fcase("scce/function/ignore_class-1/all/float32", SCCE, arr([-1, -1], "int64"), p[:2], ignore_class=-1)
    yield fcase("scce/function/ignore_class0/float32", SCCE, arr(lab, "int64"), p, ignore_class=0,
                note="ignoring a real class")
    yield fcase("scce/function/ignore_class-1/none-ignored/float32", SCCE, arr(lab, "int64"), p, ignore_class=-1)
    yield fcase("scce/function/ignore_class255/3d/float32", SCCE, arr([[0, 255, 3], [255, 255, 1]], "int64"),
                rand_probs(68, (2, 3, 4)), ignore_class=255)
    yield fcase("scce/function/ignore_class-1/labels-n1/float32", SCCE, arr([2, -1, 1, -1], "int64", (4, 1)), p,
                ignore_class=-1)
    # out-of-range labels raise on TF
    yield fcase("scce/function/label-ge-K/float32", SCCE, arr([0, 3], "int64"), p[:2], raises="InvalidArgumentError")
    yield fcase("scce/function/label-negative/float32", SCCE, arr([0, -1], "int64"), p[:2],
                raises="InvalidArgumentError")
    yield fcase("scce/function/label-ge-K/logits/float32", SCCE, arr([5, 0], "int64"), x[:2], from_logits=True,
                raises="InvalidArgumentError")
    yield fcase("scce/function/label-nan/float32", SCCE, arr([0.0, float("nan")]), p[:2],
                raises="InvalidArgumentError", note="NaN label casts to INT64_MIN")
    yield fcase("scce/function/label-float-3.5/float32", SCCE, arr([0.0, 3.5]), p[:2], raises="InvalidArgumentError",
                note="3.5 truncates to 3 == K")


# --------------------------------------------------------------------------
# 8. function-API errors (§7.1)


def function_errors():
    p23 = rand_probs(70, (2, 3))
    yield fcase("mse/function/error/shape-mismatch", MSE, arr(np.zeros((2, 3))), arr(np.zeros((2, 4))),
                raises="InvalidArgumentError")
    yield fcase("mse/function/error/0d", MSE, arr(1.0), arr(0.5), raises="InvalidArgumentError")
    yield fcase("bce/function/error/shape-mismatch", BCE, arr(np.zeros((1, 3))), arr(np.full((1, 2), 0.5)),
                raises="ValueError")
    yield fcase("bce/function/error/rank-mismatch", BCE, arr([0.0, 1.0, 1.0]), arr([[0.5], [0.5], [0.5]]),
                raises="ValueError", note="function API has no rank fix for BCE (the class has)")
    yield fcase("bce/function/error/0d", BCE, arr(1.0), arr(0.5), raises="InvalidArgumentError")
    yield fcase("bce/function/error/int-y_pred", BCE, arr([[0, 1]], "int32"), arr([[0, 1]], "int32"),
                raises="TypeError", note="TF: Cannot convert 0.9999999 to EagerTensor of dtype int32")
    yield fcase("cce/function/error/shape-mismatch", CCE, onehot([0, 1], 3), rand_probs(71, (2, 4)),
                raises="ValueError")
    yield fcase("cce/function/error/rank-mismatch", CCE, onehot([0, 1], 3), rand_probs(72, (1, 2, 3)),
                raises="ValueError")
    yield fcase("cce/function/error/0d", CCE, arr(1.0), arr(0.5), raises="IndexError",
                note="0-d y_pred: IndexError (shape[-1]) on TF")
    yield fcase("cce/function/error/int-y_pred", CCE, arr([[0, 1]], "int32"), arr([[0, 1]], "int32"),
                raises="InvalidArgumentError")
    yield fcase("scce/function/error/shape-mismatch", SCCE, arr([0, 1, 2], "int64"), p23, raises="ValueError")
    yield fcase("scce/function/error/label-rank", SCCE, arr([[0, 1]], "int64"), p23, raises="ValueError")
    yield fcase("scce/function/error/0d", SCCE, arr(0, "int64"), arr(0.5), raises="IndexError",
                note="0-d y_pred: IndexError tuple index out of range")


# --------------------------------------------------------------------------
# 9. class API


def class_reductions_2d():
    """Every reduction x every accepted (N,)-loss weight shape, all 4 losses."""
    n = 4
    w = [1.0, 0.5, 0.0, 2.0]
    weights = {
        "none": None,
        "scalar": arr(0.5),
        "w1": arr([2.0]),
        "wN": arr(w),
        "wN1": arr(w, shape=(n, 1)),
    }
    inputs = {
        MSE: (rand_unit(80, (n, 3)), rand_unit(81, (n, 3))),
        BCE: ((rand_unit(82, (n, 3)) > 0.5).astype(F32), rand_unit(83, (n, 3))),
        CCE: (onehot([0, 2, 1, 2], 3), rand_probs(84, (n, 3))),
        SCCE: (arr([1, 0, 2, 2], "int64"), rand_probs(85, (n, 3))),
    }
    for loss, (yt, yp) in inputs.items():
        for red in REDUCTIONS:
            for wname, sw in weights.items():
                note = None
                if wname == "scalar" and red == "mean_with_sample_weight":
                    note = "divisor is sum of the (un-broadcast) weight tensor: sum(l*w)/w"
                if wname == "wN1" and red in ("none", None):
                    note = "quirk: (N,) losses are expanded to (N,1) to match the weights -> result shape (N,1)"
                yield ccase(f"{SHORT[loss]}/class/2d/{rname(red)}/sw-{wname}", loss, yt, yp,
                            reduction=red, sample_weight=sw, note=note)


def class_reductions_3d():
    """3-D inputs (N,T,K) -> losses (N,T): weights (N,T), (N,T,1), (T,), (N,1)."""
    n, t, k = 2, 3, 4
    wnt = arr([[1.0, 0.0, 2.0], [0.5, 1.0, 3.0]])
    weights = {
        "none": None,
        "wNT": wnt,
        "wNT1": wnt.reshape(n, t, 1),
        "wT": arr([1.0, 0.0, 3.0]),
        "wN1": arr([[2.0], [0.5]]),
    }
    inputs = {
        MSE: (rand_unit(90, (n, t, k)), rand_unit(91, (n, t, k))),
        BCE: ((rand_unit(92, (n, t, k)) > 0.5).astype(F32), rand_unit(93, (n, t, k))),
        CCE: (onehot(rand_labels(94, (n, t), k), k), rand_probs(95, (n, t, k))),
        SCCE: (rand_labels(96, (n, t), k), rand_probs(97, (n, t, k))),
    }
    for loss, (yt, yp) in inputs.items():
        # weighting/reduction is loss-independent once per-sample losses exist:
        # full cross for the two CE losses, two reductions for MSE/BCE
        reds = REDUCTIONS if loss in (CCE, SCCE) else ("sum_over_batch_size", "none")
        for red in reds:
            for wname, sw in weights.items():
                yield ccase(f"{SHORT[loss]}/class/3d/{rname(red)}/sw-{wname}", loss, yt, yp,
                            reduction=red, sample_weight=sw,
                            note="sum_over_batch_size divides by N*T" if red == "sum_over_batch_size" else None)
        # (N,) weights against (N,T) losses with T != N: broadcast error (tf_keras expanded to (N,1))
        yield ccase(f"{SHORT[loss]}/class/3d/error/sw-wN", loss, yt, yp, sample_weight=arr([1.0, 2.0]),
                    raises="InvalidArgumentError", note="Keras 3 does not expand (N,) weights to (N,1)")
    # T == N: (N,) weights silently weight the T axis
    yt = onehot(rand_labels(98, (3, 3), 4), 4)
    yp = rand_probs(99, (3, 3, 4))
    for red in ("sum_over_batch_size", "none"):
        yield ccase(f"cce/class/3d/T-eq-N/{red}/sw-wN", CCE, yt, yp, reduction=red, sample_weight=arr([1.0, 0.0, 2.0]),
                    note="quirk: (N,) weights broadcast along T when T == N")


def class_weight_values():
    """Zero, all-zero, negative and zero-sum weights; int and float64 weights."""
    yt, yp = onehot([0, 2, 1, 2], 3), rand_probs(110, (4, 3))
    weights = {
        "all-zero": arr([0.0, 0.0, 0.0, 0.0]),
        "negative": arr([1.0, -0.5, 2.0, -3.0]),
        "zero-sum": arr([1.0, -1.0, 2.0, -2.0]),
        "scalar-zero": arr(0.0),
        "int": arr([1, 0, 2, 3], "int64"),
        "float64": arr([0.1, 0.2, 0.3, 0.4], F64),
    }
    for wname, sw in weights.items():
        # "mean" == "sum_over_batch_size" and None == "none" (same code); covered elsewhere
        reds = REDUCTIONS if wname == "all-zero" else ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none")
        for red in reds:
            yield ccase(f"cce/class/weights-{wname}/{rname(red)}", CCE, yt, yp, reduction=red, sample_weight=sw,
                        note="divide_no_nan: zero divisor gives 0" if wname in ("all-zero", "zero-sum") else None)
    yield ccase("bce/class/weights-negative/sum", BCE, (rand_unit(111, (4, 2)) > 0.5).astype(F32),
                rand_unit(112, (4, 2)), reduction="sum", sample_weight=arr([1.0, -0.5, 2.0, -3.0]))
    yield ccase("mse/class/weights-all-zero/mean_with_sample_weight", MSE, rand_unit(113, (4, 2)),
                rand_unit(114, (4, 2)), reduction="mean_with_sample_weight", sample_weight=arr([0.0] * 4))


def class_ignore_class():
    """ignore_class combined with each reduction and with weights (§3.1 mask)."""
    p = rand_probs(120, (4, 3))
    some = arr([1, -1, 2, -1], "int64")
    allign = arr([-1, -1, -1, -1], "int64")
    w = arr([1.0, 5.0, 2.0, 0.5])
    for red in REDUCTIONS:
        r = rname(red)
        yield ccase(f"scce/class/ignore/some/{r}/sw-none", SCCE, some, p, reduction=red, ignore_class=-1,
                    note="mean/sum_over_batch_size: mask weights total/valid")
        yield ccase(f"scce/class/ignore/some/{r}/sw-wN", SCCE, some, p, reduction=red, ignore_class=-1,
                    sample_weight=w)
        yield ccase(f"scce/class/ignore/some/{r}/sw-wN1", SCCE, some, p, reduction=red, ignore_class=-1,
                    sample_weight=w.reshape(4, 1))
        yield ccase(f"scce/class/ignore/all/{r}/sw-none", SCCE, allign, p, reduction=red, ignore_class=-1,
                    note="all ignored -> 0.0 (divide_no_nan); tf_keras gives NaN")
        yield ccase(f"scce/class/ignore/some/{r}/logits", SCCE, some, rand_logits(121, (4, 3)), reduction=red,
                    ignore_class=-1, from_logits=True)
    yield ccase("scce/class/ignore/all/sum_over_batch_size/sw-wN", SCCE, allign, p, ignore_class=-1, sample_weight=w)
    lab3 = arr([[0, 255, 3], [255, 255, 1]], "int64")
    p3 = rand_probs(122, (2, 3, 4))
    for red in REDUCTIONS:
        yield ccase(f"scce/class/ignore/3d/{rname(red)}", SCCE, lab3, p3, reduction=red, ignore_class=255)
    yield ccase("scce/class/ignore/3d/sum_over_batch_size/sw-wNT", SCCE, lab3, p3, ignore_class=255,
                sample_weight=arr([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    yield ccase("scce/class/ignore/3d/mean_with_sample_weight/sw-wN1", SCCE, lab3, p3, ignore_class=255,
                reduction="mean_with_sample_weight", sample_weight=arr([[2.0], [0.5]]))


def class_dtypes():
    """Class dtype= (compute dtype) and input dtypes different from floatx."""
    inputs = {
        MSE: (rand_unit(130, (3, 4), F64), rand_unit(131, (3, 4), F64)),
        BCE: ((rand_unit(132, (3, 4)) > 0.5).astype(F64), rand_unit(133, (3, 4), F64)),
        CCE: (onehot([0, 3, 1], 4, F64), rand_probs(134, (3, 4), F64)),
        SCCE: (arr([0, 3, 1], "int64"), rand_probs(135, (3, 4), F64)),
    }
    for loss, (yt, yp) in inputs.items():
        s = SHORT[loss]
        yield ccase(f"{s}/class/float64-inputs/default-dtype", loss, yt, yp,
                    note="inputs cast to floatx (float32) -> float32 result")
        yield ccase(f"{s}/class/float64-inputs/default-dtype/none", loss, yt, yp, reduction="none")
        yield ccase(f"{s}/class/float16-inputs/default-dtype", loss, arr(yt, F16) if loss != SCCE else yt,
                    arr(yp, F16), reduction="none")
        for dt in (F16, F64, "mixed_float16"):
            for red in ("sum_over_batch_size", "none"):
                yield ccase(f"{s}/class/dtype-{dt}/{red}", loss, yt, yp, reduction=red, dtype=dt,
                            note="computed in the class dtype (mixed_float16 -> float16)")
        yield ccase(f"{s}/class/dtype-float16/sw-wN", loss, yt, yp, dtype=F16, sample_weight=arr([1.0, 2.0, 3.0]))
    # float16 extremes through the class
    yield ccase("mse/class/float16-inputs/overflow/default-dtype", MSE, arr([[100.0, 300.0]], F16), arr([[0.0, 0.0]], F16),
                note="class casts float16 inputs to float32: 50000.0, not inf (function API gives inf)")
    yield ccase("mse/class/overflow/dtype-float16", MSE, arr([[100.0, 300.0]]), arr([[0.0, 0.0]]), dtype=F16)
    yield ccase("bce/class/dtype-float16/extremes", BCE, arr([[0.0], [1.0], [1.0], [0.0]]),
                arr([[1.0], [1.0], [0.0], [0.0]]), dtype=F16, reduction="none",
                note="float16: 1-eps == 1, so y=0,p=1 -> inf and y=1,p=1 -> NaN")
    yield ccase("bce/class/dtype-mixed_float16/extremes", BCE, arr([[0.0], [1.0], [1.0], [0.0]]),
                arr([[1.0], [1.0], [0.0], [0.0]]), dtype="mixed_float16", reduction="none")
    yield ccase("cce/class/dtype-float16/extremes", CCE, onehot([0, 1], 3), arr([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                dtype=F16, reduction="none")
    yield ccase("scce/class/dtype-float16/extremes", SCCE, arr([0, 1], "int64"), arr([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                dtype=F16, reduction="none")
    # integer y_pred works through the class (cast to float32 first)
    yield ccase("bce/class/int-y_pred", BCE, arr([[0, 1], [1, 1]], "int32"), arr([[0, 1], [0, 1]], "int32"),
                reduction="none", note="class casts inputs to float32, so integer y_pred is fine here")
    yield ccase("cce/class/int-y_pred", CCE, arr([[0, 1], [1, 0]], "int64"), arr([[0, 1], [0, 1]], "int64"),
                reduction="none")
    yield ccase("mse/class/int-inputs", MSE, arr([[1, 2], [3, 4]], "int64"), arr([[0, 2], [5, 4]], "int64"))


def class_shapes():
    """Empty batch, 1-D inputs, rank fix, (N,1) labels, options through the class."""
    for red in ("sum_over_batch_size", "sum", "mean_with_sample_weight", None):
        r = rname(red)
        yield ccase(f"cce/class/empty-batch/{r}", CCE, np.zeros((0, 3), F32), np.zeros((0, 3), F32), reduction=red,
                    note="empty batch returns the empty (0,) array, not 0.0")
        yield ccase(f"scce/class/empty-batch/{r}", SCCE, np.zeros((0,), "int64"), np.zeros((0, 3), F32), reduction=red)
    yield ccase("bce/class/empty-batch/sum_over_batch_size", BCE, np.zeros((0, 2), F32), np.zeros((0, 2), F32))
    yield ccase("mse/class/empty-batch/sum", MSE, np.zeros((0, 2), F32), np.zeros((0, 2), F32), reduction="sum")
    yield ccase("cce/class/empty-batch/sw-w0", CCE, np.zeros((0, 3), F32), np.zeros((0, 3), F32),
                sample_weight=np.zeros((0,), F32))
    # 1-D inputs -> 0-d per-sample loss, returned unchanged; (N,) weights broadcast it: loss*mean(w)
    w = arr([1.0, 0.0, 3.0])
    for loss, yt, yp in ((BCE, arr([0.0, 1.0, 1.0]), arr([0.3, 0.8, 0.6])),
                         (MSE, arr([0.0, 1.0, 2.0]), arr([0.5, 1.0, 4.0])),
                         (CCE, arr([0.0, 1.0, 0.0]), arr([0.2, 0.5, 0.3]))):
        for red in (REDUCTIONS if loss != CCE else ("sum_over_batch_size", "none")):
            yield ccase(f"{SHORT[loss]}/class/1d/{rname(red)}/sw-none", loss, yt, yp, reduction=red,
                        note="0-d per-sample loss returned unchanged by every reduction")
            yield ccase(f"{SHORT[loss]}/class/1d/{rname(red)}/sw-wN", loss, yt, yp, reduction=red, sample_weight=w,
                        note="0-d loss broadcast against (N,) weights: loss*mean(w) for mean-type reductions")
    # rank fix in the class (§3.2)
    yield ccase("bce/class/rank-fix/true-n-pred-n1", BCE, arr([0.0, 1.0, 1.0]), arr([[0.2], [0.7], [0.4]]),
                reduction="none", note="class expands y_true (N,) to (N,1); the function raises")
    yield ccase("mse/class/rank-fix/true-n-pred-n1", MSE, arr([0.0, 1.0, 2.0]), arr([[0.5], [1.0], [4.0]]),
                reduction="none")
    yield ccase("mse/class/rank-fix/true-n1-pred-n", MSE, arr([[0.0], [1.0], [2.0]]), arr([0.5, 1.0, 4.0]),
                reduction="none")
    yield ccase("mse/class/broadcast/2x3-vs-3", MSE, rand_unit(140, (2, 3)), rand_unit(141, (3,)), reduction="none")
    yield ccase("scce/class/labels-n1", SCCE, arr([[2], [0], [1]], "int64"), rand_probs(142, (3, 3)), reduction="none")
    yield ccase("scce/class/labels-float-truncate", SCCE, arr([1.7, -0.5, 2.9]), rand_probs(143, (3, 3)),
                reduction="none", rejects=True, note="Keras truncates float labels; lossbounds refuses")
    # options through the class
    yt, yp, x = (rand_unit(144, (3, 4)) > 0.5).astype(F32), rand_unit(145, (3, 4)), rand_logits(146, (3, 4))
    yield ccase("bce/class/logits", BCE, yt, x, from_logits=True)
    yield ccase("bce/class/smoothing0.2/logits/sum", BCE, yt, x, from_logits=True, label_smoothing=0.2, reduction="sum")
    yield ccase("bce/class/smoothing0.1/probs/none", BCE, yt, yp, label_smoothing=0.1, reduction="none")
    yield ccase("bce/class/axis0/none", BCE, yt, yp, axis=0, reduction="none")
    yield ccase("bce/class/axis0/sum_over_batch_size/sw-wK", BCE, yt, yp, axis=0, sample_weight=arr([1.0, 2.0, 0.0, 1.0]),
                note="axis=0 -> losses of shape (K,); weights of shape (K,)")
    yc, pc, xc = onehot([1, 0, 2], 3), rand_probs(147, (3, 3)), rand_logits(148, (3, 3))
    yield ccase("cce/class/logits", CCE, yc, xc, from_logits=True)
    yield ccase("cce/class/smoothing0.1/probs/none", CCE, yc, pc, label_smoothing=0.1, reduction="none")
    yield ccase("cce/class/smoothing0.2/logits/mean_with_sample_weight", CCE, yc, xc, label_smoothing=0.2,
                from_logits=True, reduction="mean_with_sample_weight", sample_weight=arr([1.0, 2.0, 3.0]))
    y3 = np.moveaxis(onehot(rand_labels(149, (2, 4), 3), 3), -1, 1)
    yield ccase("cce/class/axis1/3d/smoothing0.1", CCE, y3, np.moveaxis(rand_probs(150, (2, 4, 3)), -1, 1), axis=1,
                label_smoothing=0.1, reduction="none", note="smoothing K from last axis (4)")
    yield ccase("scce/class/logits", SCCE, arr([1, 0, 2], "int64"), xc, from_logits=True)
    yield ccase("scce/class/edges/none", SCCE, arr([r[0] for r in CCE_EDGE_ROWS], "int64"),
                arr([r[1] for r in CCE_EDGE_ROWS]), reduction="none")
    yield ccase("cce/class/edges/none", CCE, onehot([r[0] for r in CCE_EDGE_ROWS], 3),
                arr([r[1] for r in CCE_EDGE_ROWS]), reduction="none")
    yield ccase("cce/class/edges/sum_over_batch_size", CCE, onehot([r[0] for r in CCE_EDGE_ROWS], 3),
                arr([r[1] for r in CCE_EDGE_ROWS]), note="NaN rows make the reduced value NaN")
    yield ccase("bce/class/edges/none", BCE, arr([0.0] * 10 + [1.0] * 10, shape=(20, 1)), arr(P_EDGES * 2, shape=(20, 1)),
                reduction="none")


def class_errors():
    p = rand_probs(160, (2, 3))
    yield ccase("mse/class/error/shape-mismatch", MSE, np.zeros((2, 3), F32), np.zeros((2, 4), F32),
                raises="InvalidArgumentError")
    yield ccase("bce/class/error/shape-mismatch", BCE, np.zeros((2, 3), F32), np.full((2, 4), 0.5, F32),
                raises="ValueError")
    yield ccase("bce/class/error/rank-mismatch", BCE, np.zeros((2, 3), F32), np.full((2, 3, 2), 0.5, F32),
                raises="ValueError", note="rank differs by 1 but last dim != 1: no rank fix")
    yield ccase("cce/class/error/shape-mismatch", CCE, onehot([0, 1], 3), rand_probs(161, (2, 4)), raises="ValueError")
    yield ccase("cce/class/error/rank-mismatch", CCE, onehot([0, 1], 3), rand_probs(162, (1, 2, 3)), raises="ValueError")
    yield ccase("cce/class/error/axis-True", CCE, onehot([0, 1], 3), p, axis=True, raises="ValueError")
    yield ccase("scce/class/error/shape-mismatch", SCCE, arr([0, 1, 2], "int64"), p, raises="ValueError")
    yield ccase("scce/class/error/label-ge-K", SCCE, arr([0, 3], "int64"), p, raises="InvalidArgumentError")
    yield ccase("scce/class/error/label-negative", SCCE, arr([-1, 0], "int64"), p, raises="InvalidArgumentError")
    yield ccase("scce/class/error/axis1", SCCE, arr([[0, 1, 2]], "int64"), rand_probs(163, (1, 3, 3)), axis=1,
                raises="ValueError")
    for loss, yt, yp in ((MSE, np.zeros((2, 3), F32), p), (BCE, np.zeros((2, 3), F32), p),
                         (CCE, onehot([0, 1], 3), p), (SCCE, arr([0, 1], "int64"), p)):
        s = SHORT[loss]
        yield ccase(f"{s}/class/error/reduction-auto", loss, yt, yp, reduction="auto", raises="ValueError",
                    note="Keras 2's 'auto' is rejected in Keras 3")
        yield ccase(f"{s}/class/error/sample_weight-no-broadcast", loss, yt, yp, sample_weight=arr([1.0, 2.0, 3.0]),
                    raises="InvalidArgumentError")
    yield ccase("mse/class/error/sample_weight-wN1-mismatch", MSE, np.zeros((4, 3), F32), np.ones((4, 3), F32),
                sample_weight=arr(np.ones((3, 1))), raises="InvalidArgumentError")
    yield ccase("cce/class/error/0d", CCE, arr(1.0), arr(0.5), raises="IndexError")
    yield ccase("mse/class/error/0d", MSE, arr(1.0), arr(0.5), raises="InvalidArgumentError")
    yield ccase("bce/class/error/0d", BCE, arr(1.0), arr(0.5), raises="InvalidArgumentError")
    yield ccase("scce/class/error/0d", SCCE, arr(0, "int64"), arr(0.5), raises="IndexError")


# --------------------------------------------------------------------------
# 10. bound attainment (float32, default eps): §6 of keras-semantics.md


def sparse_best(k):
    e, one_m = np.float32(EPS), np.float32(1 - EPS)
    return math.log1p((k - 1) * float(e) / float(one_m))


def sparse_worst(k):
    e, one_m = float(np.float32(EPS)), float(np.float32(1 - EPS))
    return L_MAX + math.log(one_m + (k - 1) * e)


def sparse_unnormalised(k):
    # p = [0, 1, ..., 1], label 0: clip -> [eps, 1-eps, ...]; logsumexp - log(eps).
    # (keras-semantics.md writes log(1+(K-1)(1-eps)); its numbers match this formula)
    e, one_m = float(np.float32(EPS)), float(np.float32(1 - EPS))
    return L_MAX + math.log(e + (k - 1) * one_m)


def bounds():
    f = fcase
    yield f("bounds/bce/y1-p0", BCE, arr([[1.0]]), arr([[0.0]]), approx=L_MAX, note="-log(eps), BCE worst")
    yield f("bounds/bce/y0-p1", BCE, arr([[0.0]]), arr([[1.0]]), approx=L_Y0P1, note="-log(1-f32(1-eps)) = 23 ln 2")
    yield f("bounds/bce/y1-p1", BCE, arr([[1.0]]), arr([[1.0]]), approx=L_MIN, note="-log(1-eps), BCE best")
    yield f("bounds/bce/y0-p0", BCE, arr([[0.0]]), arr([[0.0]]), approx=L_MIN)
    yield f("bounds/bce/p-half", BCE, arr([[0.0, 1.0, 0.3]]), arr([[0.5, 0.5, 0.5]]), approx=LN2,
            note="uniform baseline ln 2 for any y")
    yield f("bounds/bce/y1-p0/vector", BCE, arr(np.ones((1, 64))), arr(np.zeros((1, 64))), approx=L_MAX,
            note="same bound through TF's vectorised log path")
    yield f("bounds/bce/y1-p1/vector", BCE, arr(np.ones((1, 64))), arr(np.ones((1, 64))), approx=L_MIN)
    for a, worst1, worst0 in ((0.1, 15.312190055847168, 15.145265579223633), (0.2, 14.50628662109375, None)):
        yield f(f"bounds/bce/smoothing{a}/y1-p0", BCE, arr([[1.0]]), arr([[0.0]]), label_smoothing=a, approx=worst1,
                note="(1-a/2)*L_max + (a/2)*L_min")
        approx0 = worst0 if worst0 is not None else (1 - a / 2) * L_Y0P1 + (a / 2) * L_MIN
        yield f(f"bounds/bce/smoothing{a}/y0-p1", BCE, arr([[0.0]]), arr([[1.0]]), label_smoothing=a, approx=approx0)
        best = -((1 - a / 2) * math.log(1 - a / 2) + (a / 2) * math.log(a / 2))
        yield f(f"bounds/bce/smoothing{a}/best", BCE, arr([[1.0, 0.0]]), arr([[1 - a / 2, a / 2]]), label_smoothing=a,
                approx=best, note="H(1-a/2) at p = smoothed label")
    yield f("bounds/bce/float64/y1-p0", BCE, arr([[1.0]], F64), arr([[0.0]], F64), approx=16.11809565095832)
    yield f("bounds/bce/float64/y0-p1", BCE, arr([[0.0]], F64), arr([[1.0]], F64), approx=16.118095651484676)

    for k in (2, 3, 10, 1000):
        yield f(f"bounds/cce/K{k}/onehot-wrong", CCE, onehot([0], k), onehot([k - 1], k), approx=L_MAX)
        yield f(f"bounds/cce/K{k}/onehot-right", CCE, onehot([0], k), onehot([0], k), approx=L_MIN)
        yield f(f"bounds/cce/K{k}/uniform", CCE, onehot([0], k), arr(np.full((1, k), 1.0 / k)), approx=math.log(k),
                note="ln K")
        yield f(f"bounds/scce/K{k}/onehot-right", SCCE, arr([0], "int64"), onehot([0], k), approx=sparse_best(k),
                note="TF renormalises after clipping: log(1+(K-1)eps/(1-eps))")
        yield f(f"bounds/scce/K{k}/onehot-wrong", SCCE, arr([0], "int64"), onehot([k - 1], k), approx=sparse_worst(k),
                note="-log(eps) + log((1-eps)+(K-1)eps)")
        yield f(f"bounds/scce/K{k}/uniform", SCCE, arr([0], "int64"), arr(np.full((1, k), 1.0 / k)),
                approx=math.log(k))
        if k >= 3:
            p = np.ones((1, k), F32)
            p[0, 0] = 0.0
            yield f(f"bounds/scce/K{k}/unnormalised-zero-then-ones", SCCE, arr([0], "int64"), p,
                    approx=sparse_unnormalised(k), note="exceeds -log eps: -log eps + log(eps+(K-1)(1-eps)) ~ L_max + log(K-1)")
    # CCE with smoothing: worst (1-a/K)L_max + (a/K)L_min, best = entropy of smoothed label
    for k, a in ((2, 0.1), (3, 0.1), (10, 0.1), (1000, 0.2), (3, 0.2)):
        worst = (1 - a / k) * L_MAX + (a / k) * L_MIN
        yield f(f"bounds/cce/K{k}/smoothing{a}/worst", CCE, onehot([0], k), onehot([k - 1], k), label_smoothing=a,
                approx=worst)
        ys = np.full((1, k), a / k)
        ys[0, 0] += 1 - a
        best = -float(np.sum(ys * np.log(ys)))
        yield f(f"bounds/cce/K{k}/smoothing{a}/best", CCE, onehot([0], k), arr(ys), label_smoothing=a, approx=best,
                note="entropy of the smoothed label at p = smoothed label")
    yield f("bounds/mse/worst-unit", MSE, arr([[0.0, 1.0]]), arr([[1.0, 0.0]]), approx=1.0)
    yield f("bounds/mse/uniform-binary", MSE, arr([[0.0, 1.0, 1.0, 0.0]]), arr([[0.5] * 4]), approx=0.25)
    yield f("bounds/mse/best", MSE, arr([[0.0, 1.0, 0.3]]), arr([[0.0, 1.0, 0.3]]), approx=0.0)


GROUPS = (dtype_sweep, bce_edges, cce_edges, mse_edges, logit_edges, k_sweep, label_smoothing, axis_variants,
          sparse_specifics, function_errors, class_reductions_2d, class_reductions_3d, class_weight_values,
          class_ignore_class, class_dtypes, class_shapes, class_errors, bounds)


# --------------------------------------------------------------------------
# running Keras


def call_keras(keras, case):
    """Call Keras exactly as the case records; return (result ndarray | None, error name | None)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CCE K=1 SyntaxWarning etc.
            if case["api"] == "function":
                out = getattr(keras.losses, case["loss"])(case["y_true"], case["y_pred"], **case["options"])
            else:
                kwargs = dict(case["options"], reduction=case["reduction"])
                if case["dtype"] is not None:
                    kwargs["dtype"] = case["dtype"]
                call_kwargs = {} if case["sample_weight"] is None else {"sample_weight": case["sample_weight"]}
                obj = getattr(keras.losses, CLASS_NAMES[case["loss"]])(**kwargs)
                out = obj(case["y_true"], case["y_pred"], **call_kwargs)
        return np.asarray(keras.ops.convert_to_numpy(out)), None
    except Exception as exc:  # noqa: BLE001 -- we record which exception Keras raised
        return None, type(exc).__name__


def check(case, result, error):
    """Self-check the case against what its builder declared; return problems."""
    problems = []
    if error != case["_raises"]:
        problems.append(f"expected error {case['_raises']!r}, Keras gave {error!r}")
    if case["_approx"] is not None and result is not None:
        want = case["_approx"]
        got = result.astype(np.float64)
        if not np.all(np.abs(got - want) <= 1e-6 * max(1.0, abs(want))):
            problems.append(f"bound {want!r} not attained: Keras gave {got.ravel().tolist()}")
    return problems


def to_record(case, result, error):
    rec = {
        "id": case["id"],
        "api": case["api"],
        "loss": case["loss"],
        "y_true": encode(case["y_true"]),
        "y_pred": encode(case["y_pred"]),
        "options": dict(case["options"]),
        "sample_weight": None if case["sample_weight"] is None else encode(case["sample_weight"]),
        "reduction": case["reduction"],
        "dtype": case["dtype"],
        "expected": None if result is None else encode(result),
        "error": error,
    }
    assert not (case["_accepts"] and case["_rejects"]), case["id"]
    assert not case["_accepts"] or error is not None, f"{case['id']}: accepts= needs a Keras error"
    assert not case["_rejects"] or error is None, f"{case['id']}: rejects= needs a Keras result"
    if case["_accepts"]:
        rec["lossbounds"] = "accepts"
    if case["_rejects"]:
        rec["lossbounds"] = "rejects"
    if case["note"]:
        rec["note"] = case["note"]
    return rec


def build_cases():
    cases = [c for group in GROUPS for c in group()]
    ids = [c["id"] for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SystemExit(f"duplicate case ids: {dupes}")
    for c in cases:  # Keras must be fed numpy arrays, never lists
        for key in ("y_true", "y_pred", "sample_weight"):
            assert c[key] is None or isinstance(c[key], np.ndarray), (c["id"], key)
    return cases


def main():
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("Keras must run on the tensorflow backend")
    if keras.config.epsilon() != EPS or keras.config.floatx() != F32:
        raise SystemExit("Keras epsilon/floatx are not the defaults (check ~/.keras/keras.json)")

    records, problems = [], []
    for case in build_cases():
        result, error = call_keras(keras, case)
        problems += [f"{case['id']}: {p}" for p in check(case, result, error)]
        records.append(to_record(case, result, error))
    if problems:
        raise SystemExit("Keras disagrees with the case table:\n  " + "\n  ".join(problems))

    meta = {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "epsilon": keras.config.epsilon(),
        "generator": "tests/golden/make_golden.py",
    }
    # one case per line keeps diffs of the golden file reviewable
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    with OUT.open("w") as fh:
        fh.write('{"meta":' + json.dumps(meta) + ',\n"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {len(records)} cases to {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
