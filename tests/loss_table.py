"""The table of losses every generic test runs on: one row per loss, one section per family.

Each row says how to make valid inputs for one loss (whose Keras values lie
within its bounds), which options to try, and which bound options describe
the inputs. tests/test_losses_table.py runs the TensorFlow properties on it,
tests/on_backend.py the same comparisons on every other Keras backend.
Keras is not imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

F32 = np.float32


def _one_hot_rows(labels: np.ndarray, k: int, dtype: type = F32) -> np.ndarray:
    """Rows of k classes, 1 at each label (without np.eye(k): k**2 values)."""
    rows = np.zeros((labels.size, k), dtype)
    rows[np.arange(labels.size), labels] = 1
    return rows


def _probabilities(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    rows = rng.dirichlet(np.full(k, 0.5), n)
    rows[rng.random(n) < 0.2] = _one_hot_rows(rng.integers(0, k, 1), k, np.float64)  # some one-hot
    return rows.astype(F32)


def _onehot(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return _one_hot_rows(rng.integers(0, k, n), k)


@dataclass(frozen=True)
class Row:
    """How to exercise one loss."""

    name: str
    #: (rng, n, k) -> (y_true, y_pred): valid inputs, whose values lie within the bounds.
    inputs: Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]
    #: Keras options to try (each with the per-sample function and the class).
    options: tuple[dict[str, Any], ...] = ({},)
    #: (k) -> the bound options that describe the inputs (n_classes, ranges).
    bound_options: Callable[[int], dict[str, Any]] = field(default=lambda k: {})
    #: Smallest K the loss takes.
    min_k: int = 1
    #: The exactness contract (see compare.assert_close): 1e-6 relative unless Keras is noisier.
    rtol: float = 1e-6
    atol: float = 0.0
    #: Does the loss have a prior baseline (a best constant prediction)?
    has_prior: bool = True
    #: Exact values the backend tests mix into y_pred (None: probability or logit edges).
    edge_values: tuple[float, ...] | None = None
    #: Inputs among which Keras attains the best and the worst case, per options:
    #: ((options, y_true, y_pred), ...), one row per candidate (see `extremes` below).
    extremes: tuple[tuple[dict[str, Any], np.ndarray, np.ndarray], ...] = ()

    def edges(self, options: dict[str, Any]) -> tuple[float, ...]:
        """The edge values for `y_pred` under these options."""
        if self.edge_values is not None:
            return self.edge_values
        return LOGIT_EDGES if options.get("from_logits") else PROBABILITY_EDGES


def _binary_extremes() -> tuple[tuple[dict[str, Any], np.ndarray, np.ndarray], ...]:
    """Targets 0 and 1 against every edge probability, and against saturated logits."""
    targets = np.repeat([0.0, 1.0], 5)[:, None].astype(F32)
    probabilities = np.tile([0.0, 1e-7, 0.5, 1 - 1e-7, 1.0], 2)[:, None].astype(F32)
    logits = np.tile([-1e4, -100.0, 0.0, 100.0, 1e4], 2)[:, None].astype(F32)
    return (({}, targets, probabilities), ({"from_logits": True}, targets, logits))


#: Three-class predictions for a target of class 0: right, wrong, unsure, rows with zeros.
_ROWS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0],
                  [1 - 2e-7, 1e-7, 1e-7], [1e-7, 1 - 2e-7, 1e-7]], F32)
_LOGIT_ROWS = np.array([[1e4, 0, 0], [0, 1e4, 0], [0, 0, 0], [-1e4, 1e4, 1e4], [100, -100, 0]],
                       F32)


def _categorical_extremes(sparse: bool, logits: bool = True):
    """Class 0 (one-hot, or the label 0) against `_ROWS`, and against `_LOGIT_ROWS`."""
    def targets(n):
        return np.zeros(n, np.int64) if sparse else np.eye(3, dtype=F32)[np.zeros(n, int)]
    cases = [({}, targets(len(_ROWS)), _ROWS)]
    if logits:
        cases.append(({"from_logits": True}, targets(len(_LOGIT_ROWS)), _LOGIT_ROWS))
    return tuple(cases)


#: Exact 0 and 1, and the clip bounds eps and 1 - eps.
PROBABILITY_EDGES = (0.0, 1.0, 1e-7, 1.0 - 1e-7)
#: Saturated logits: float32's exp over- and underflows, float16's 1e30 is inf.
LOGIT_EDGES = (-1e4, 1e4, -1e30, 1e30, 0.0)


# One section per family module; each loss adds its row to its family's section.
TABLE = (
    # -- regression (families/regression.py)
    Row("mean_squared_error",
        lambda rng, n, k: (rng.random((n, k)).astype(F32), rng.random((n, k)).astype(F32)),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)}),
    # With n_classes the regression losses' uniform baseline is 1/K on one-hot targets (as for
    # MSE): one-hot targets keep the prior below it. Their own tests use numeric targets.
    Row("mean_absolute_error",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)}),
    # Targets away from 0: predicting 0 then scores exactly 100, the uniform baseline.
    Row("mean_absolute_percentage_error",
        lambda rng, n, k: (rng.uniform(0.5, 2.0, (n, k)).astype(F32),
                           rng.uniform(0.0, 3.0, (n, k)).astype(F32)),
        bound_options=lambda k: {"y_range": (0.5, 2.0), "pred_range": (0.0, 3.0)}),
    Row("mean_squared_logarithmic_error",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)}),
    Row("huber",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        options=({}, {"delta": 0.5}, {"delta": 2.0}),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)}),
    # Keras' own float32 cancellation near 0: the contract is 2e-7 absolute.
    Row("log_cosh",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)},
        atol=2e-7),
    # -- probabilistic (families/probabilistic.py)
    # Counts up to 10 against rates in [0, 10]: with both ranges every bound is finite.
    Row("poisson",
        lambda rng, n, k: (rng.poisson(rng.uniform(0.0, 5.0, (n, 1)), (n, k)).clip(0, 10)
                           .astype(F32), rng.uniform(0.0, 10.0, (n, k)).astype(F32)),
        bound_options=lambda k: {"y_range": (0.0, 10.0), "pred_range": (0.0, 10.0)}),
    Row("kl_divergence",
        lambda rng, n, k: (_probabilities(rng, n, k), _probabilities(rng, n, k)),
        bound_options=lambda k: {"n_classes": k}),
    # -- similarity (families/similarity.py)
    Row("cosine_similarity",
        lambda rng, n, k: (rng.standard_normal((n, k)).astype(F32),
                           rng.standard_normal((n, k)).astype(F32)),
        options=({}, {"axis": -2})),  # the batch axis (numpy backend Keras reads 0 as -1)
    # -- hinge (families/hinge.py)
    # 0/1 labels (Keras converts them to -1/+1, batch by batch) against tanh-range scores
    Row("hinge",
        lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32),
                           rng.uniform(-1, 1, (n, k)).astype(F32)),
        bound_options=lambda k: {"pred_range": (-1.0, 1.0)}),
    Row("squared_hinge",
        lambda rng, n, k: (rng.choice(np.array([-1, 1], F32), (n, k)),
                           rng.uniform(-1, 1, (n, k)).astype(F32)),
        bound_options=lambda k: {"pred_range": (-1.0, 1.0)}),
    Row("categorical_hinge",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        bound_options=lambda k: {"n_classes": k, "pred_range": (0.0, 1.0)}, min_k=2),
    # -- crossentropy (families/crossentropy.py)
    Row("binary_crossentropy",
        lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32), rng.random((n, k)).astype(F32)),
        options=({}, {"label_smoothing": 0.2}, {"from_logits": True}),
        extremes=_binary_extremes()),
    Row("categorical_crossentropy",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        options=({}, {"label_smoothing": 0.1}, {"from_logits": True}),
        bound_options=lambda k: {"n_classes": k}, min_k=2,
        extremes=_categorical_extremes(sparse=False)),
    Row("sparse_categorical_crossentropy",
        lambda rng, n, k: (rng.integers(0, k, n), _probabilities(rng, n, k)),
        options=({}, {"from_logits": True}, {"ignore_class": 0}),
        bound_options=lambda k: {"n_classes": k}, min_k=2,
        extremes=_categorical_extremes(sparse=True)),
    # -- focal (families/focal.py)
    # (their from_logits rows get as_logits' log(p), negative logits: valid ones)
    Row("binary_focal_crossentropy",
        lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32), rng.random((n, k)).astype(F32)),
        options=({}, {"label_smoothing": 0.2}, {"from_logits": True},
                 {"apply_class_balancing": True, "alpha": 0.4}, {"gamma": 0.5}),
        extremes=_binary_extremes()),
    Row("categorical_focal_crossentropy",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        options=({}, {"label_smoothing": 0.1}, {"from_logits": True}, {"alpha": 1.0, "gamma": 0.0}),
        bound_options=lambda k: {"n_classes": k}, min_k=2,
        extremes=_categorical_extremes(sparse=False)),
    # Keras' function requires q: every row passes it
    Row("categorical_generalized_cross_entropy",
        lambda rng, n, k: (rng.integers(0, k, n), _probabilities(rng, n, k)),
        options=({"q": 0.5}, {"q": 0.2}, {"q": 0.9}),
        bound_options=lambda k: {"n_classes": k}, min_k=2,
        extremes=tuple(({"q": q}, cases[1], cases[2])
                       for cases in _categorical_extremes(sparse=True, logits=False)
                       for q in (0.5, 0.2))),
    # -- segmentation (families/segmentation.py)
    # One value per batch (axis=None): two equal halves, each with exactly 1/4 foreground, so
    # that the running mean of the halves (LossMeter) is the batch value.
    Row("dice",
        lambda rng, n, k: tuple(np.concatenate([a, a]) for a in (
            (rng.permutation(n // 2 * k) < n // 2 * k // 4).reshape(n // 2, k).astype(F32),
            rng.random((n // 2, k)).astype(F32))),
        options=({}, {"axis": (1,)}),
        bound_options=lambda k: {"foreground": 0.25}),
    Row("tversky",
        lambda rng, n, k: tuple(np.concatenate([a, a]) for a in (
            (rng.permutation(n // 2 * k) < n // 2 * k // 4).reshape(n // 2, k).astype(F32),
            rng.random((n // 2, k)).astype(F32))),
        options=({}, {"alpha": 0.3, "beta": 0.7, "axis": 1}),
        bound_options=lambda k: {"foreground": 0.25}),
    # -- metric_learning (families/metric_learning.py)
    # Labels and embeddings only: ref_labels, ref_embeddings and remove_diagonal=False (whose
    # random baseline lies below its prior) are tested in test_segmentation.py. Labels
    # [0, 0, 1, 1] on unit vectors in the plane of axes 0-1, [2, 2, 3, 3] in the plane of 2-3:
    # each sample has 1 positive and 6 negative pairs; negatives within a half are close (logits
    # above 18), across halves orthogonal (-12.8), so each half alone scores what it scores in
    # the batch, and the running mean of the halves is the batch value.
    Row("circle",
        lambda rng, n, k: (np.repeat(np.arange(4), 2), (lambda t: np.pad(np.concatenate([
            np.stack([np.cos(t[:4]), np.sin(t[:4]), 0 * t[:4], 0 * t[:4]], 1),
            np.stack([0 * t[4:], 0 * t[4:], np.cos(t[4:]), np.sin(t[4:])], 1)]),
            ((0, 0), (0, k - 4))).astype(F32))(
            np.repeat(rng.uniform(0, 2 * np.pi, 2), 4) + rng.uniform(-0.15, 0.15, 8)
            + np.tile([0.0, 0.0, 1.0, 1.0], 2) * np.repeat(rng.uniform(0.4, 0.9, 2), 4))),
        options=({}, {"gamma": 32.0, "margin": 0.25}),
        bound_options=lambda k: {"n_positives": 1, "n_negatives": 6}, min_k=4,
        # JAX and PyTorch add the products of their float32 matmul in their own orders
        # (by width, through BLAS or XLA); with gamma = 80 one unit in the last place
        # of a cosine moves the loss by about 1.1e-6 relative.
        rtol=2e-6),
    # -- sequence (families/sequence.py)
    # 3 labels in 1..K-1 per sequence, padded with the blank 0 to width 5, against logits
    # for 8 frames (enough for [1, 1, 1] at K = 2). No prior baseline: bounds(ctc, y_true)
    # raises UndefinedBound from the prior until bounds() treats it as None.
    Row("ctc",
        lambda rng, n, k: (np.pad(rng.integers(1, k, (n, 3)), ((0, 0), (0, 2))),
                           (rng.standard_normal((n, 8, k)) * 2).astype(F32)),
        bound_options=lambda k: {"n_classes": k, "input_length": 8, "label_length": 3},
        min_k=2, rtol=1e-5, has_prior=False, edge_values=LOGIT_EDGES),
)
ROWS = {row.name: row for row in TABLE}
CASES = [(row.name, i) for row in TABLE for i in range(len(row.options))]


def inputs(name: str, seed: int, k: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    row = ROWS[name]
    return row.inputs(np.random.default_rng(seed), n, max(k, row.min_k))


def row_cases() -> list[tuple[str, int]]:
    """The cases whose rows stand alone (not batch-wide), with targets of the predictions' shape
    (not integer labels) and the class axis last: a 1-d input is one such row."""
    cases = []
    for name, index in CASES:
        if name not in ("dice", "tversky", "circle", "ctc") and ROWS[name].options[index].get(
                "axis", -1) == -1:
            y_true, y_pred = inputs(name, seed=0, k=3, n=1)
            if y_true.shape == y_pred.shape:
                cases.append((name, index))
    return cases


def as_logits(name: str, y_pred: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if name == "binary_crossentropy":
            return np.clip(np.log(y_pred) - np.log1p(-y_pred), -1e4, 1e4).astype(F32)
        return np.clip(np.log(y_pred), -1e4, 1e4).astype(F32)


def case_inputs(name: str, index: int, seed: int, k: int):
    options = ROWS[name].options[index]
    y_true, y_pred = inputs(name, seed, k)
    if options.get("from_logits"):
        y_pred = as_logits(name, y_pred)
    return y_true, y_pred, options


def assert_within_bounds(name: str, values: np.ndarray, k: int, options: dict[str, Any],
                         backend: str = "tensorflow") -> None:
    """Keras' `values` on the table's inputs (K = `k`) lie within the bounds on `backend`."""
    import lossbounds  # here, not at the top: the table itself needs no lossbounds

    bound_options = {**ROWS[name].bound_options(k), **options, "backend": backend}
    bound_options.pop("ignore_class", None)
    best = lossbounds.best_case(name, **{k: v for k, v in bound_options.items() if k != "axis"})
    worst = lossbounds.worst_case(name, **bound_options)
    values = values.astype(np.float64)
    slack = 1e-6 * np.maximum(1.0, np.abs(values))
    assert np.all(values >= best - slack), (values.min(), best)
    assert np.all(values <= worst + slack), (values.max(), worst)
