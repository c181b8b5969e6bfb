r"""Keras 3 losses reproduced in numpy, on every Keras backend.

The four per-sample functions take Keras' names, argument order and defaults
and return what ``keras.losses.<same name>`` returns: the same values (to
float32 precision), dtype and shape. `loss` returns what a Keras loss *class*
instance returns, reductions and sample weights included, and `LossMeter`
keeps the running mean Keras' progress bar shows during ``fit``.

Where Keras silently computes garbage we raise instead (sparse labels that are
not integers or lie outside ``[0, K)``, ``label_smoothing`` outside [0, 1]);
where Keras computes a defined value from odd but legal input (probabilities
outside [0, 1], rows that do not sum to 1) we return Keras' value. See
:doc:`the Keras semantics page <keras-semantics>` for every quirk reproduced.

The per-sample functions are defined with their losses (`lossbounds.families`);
`loss` and `LossMeter` work for every registered loss, asking its definition
for the options it takes and the plan that computes it. `loss` reduces each
block as soon as it is computed (`lossbounds.engine`), so its memory stays
flat whatever the batch size.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import families
from .backends import Backend, get_backend
from .checks import EPSILON, check_epsilon, to_array
from .chunks import BlockSums, combine, is_chunked, per_block, row_blocks
from .engine import Plan, reduce_weighted, same_rank, stream_reduce

# Each family module exports its losses' per-sample functions (its __all__):
# a new loss needs no line here.
from .families.crossentropy import *  # noqa: F403
from .families.focal import *  # noqa: F403
from .families.hinge import *  # noqa: F403
from .families.metric_learning import *  # noqa: F403
from .families.probabilistic import *  # noqa: F403
from .families.regression import *  # noqa: F403
from .families.segmentation import *  # noqa: F403
from .families.sequence import *  # noqa: F403
from .families.similarity import *  # noqa: F403
from .halfreduce import reduce_half
from .registry import LossDefinition, get_loss

__all__ = ["LossMeter", "loss"]
__all__ += families.regression.__all__
__all__ += families.probabilistic.__all__
__all__ += families.similarity.__all__
__all__ += families.hinge.__all__
__all__ += families.crossentropy.__all__
__all__ += families.focal.__all__
__all__ += families.segmentation.__all__
__all__ += families.metric_learning.__all__
__all__ += families.sequence.__all__

_F32 = np.float32



def loss(
    name: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: Any = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: Any = None,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
    **options: Any,
) -> float | np.ndarray:
    r"""The value a Keras loss class instance returns, such as ``keras.losses.MeanSquaredError()``.

    ``lossbounds.loss(name, y_true, y_pred, sample_weight=w, reduction=r,
    dtype=d, **options)`` equals
    ``keras.losses.<Class>(reduction=r, dtype=d, **options)(y_true, y_pred, sample_weight=w)``.

    Parameters
    ----------
    name : str
        A loss name: Keras' (``"binary_crossentropy"``), its aliases
        (``"mse"``, ``"bce"``), the class name (``"BinaryCrossentropy"``) or
        the short forms ``"cce"`` and ``"sparse_cce"``; case and separators
        do not matter.
    y_true, y_pred : array_like
        Targets and predictions, as for the per-sample function. Both are
        first cast to `dtype`.
    sample_weight : array_like, optional
        Weights that broadcast against the per-sample losses after Keras' rank
        fix: a scalar, ``(N,)``, ``(N, 1)``, or for 3-D inputs ``(N, T)``,
        ``(N, T, 1)`` or ``(T,)``.
    reduction : str or None, default "sum_over_batch_size"
        ``"sum_over_batch_size"`` and ``"mean"`` give
        :math:`\sum_i w_i \ell_i / n` where :math:`n` counts *all* per-sample
        losses (zero weights included; only ``ignore_class`` removes
        entries); ``"sum"`` gives :math:`\sum_i w_i \ell_i`;
        ``"mean_with_sample_weight"`` gives
        :math:`\sum_i w_i \ell_i / \sum_i w_i`; ``"none"`` and ``None``
        return the weighted per-sample losses.
    dtype : str, optional
        Keras' compute dtype: ``"float32"`` (default), ``"float16"``,
        ``"float64"`` or ``"mixed_float16"``.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce; ``"tf_keras"`` is legacy
        tf.keras 2.x. See :doc:`backends`.
    **options
        The loss's own options: ``from_logits``, ``label_smoothing``,
        ``axis``, ``ignore_class``.

    Returns
    -------
    float or numpy.ndarray
        A Python float for a reduced value; an array in `dtype` for
        ``reduction="none"`` (and, as in Keras, for an empty batch).

    See Also
    --------
    mean_squared_error, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy : the per-sample losses.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.loss("sparse_cce", [0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    0.2676540...
    >>> lossbounds.loss("bce", [1.0, 0.0], [[0.9], [0.2]], sample_weight=[1.0, 3.0],
    ...                 reduction="mean_with_sample_weight")
    0.19370...
    """
    definition = get_loss(name, "name")
    keras_options = {option.name: option for option in definition.keras_options}
    unknown = sorted(set(options) - set(keras_options))
    if unknown:
        raise TypeError(
            f"{definition.class_name} has no option {', '.join(map(repr, unknown))}; its "
            f"options are {', '.join(keras_options) or 'none'} (plus sample_weight, "
            "reduction, dtype, epsilon and backend)."
            + "".join(f" {definition.option_hints[name]}" for name in unknown
                      if name in definition.option_hints)
        )
    found = get_backend(backend)
    found.require(definition)
    reduction = found.reduction(reduction)
    kwargs = {name: option.validate(options.get(name, option.default))
              for name, option in keras_options.items()}
    kwargs["epsilon"] = check_epsilon(epsilon)
    if is_chunked(y_true, y_pred, sample_weight):
        return _chunked_loss(definition, found, y_true, y_pred, sample_weight, reduction, dtype,
                             kwargs)
    plan, compute_dtype = _class_plan(definition, found, y_true, y_pred, dtype, kwargs)
    values_dtype = found.class_values_dtype(definition, dtype, compute_dtype)
    if plan.job is not None and reduction not in (None, "none") and values_dtype == compute_dtype:
        found.check_weights(plan.job.ignore_class is not None, sample_weight)
        if plan.job.dtype == np.float16:  # adds in TensorFlow's order, to the bit
            streamed = reduce_half(plan.job, sample_weight, reduction,
                                   fit_values=found.fits_values_to_weights)
        else:
            streamed = stream_reduce(plan.job, sample_weight, reduction)
        if streamed is not None:
            return float(found.class_result(definition, streamed, dtype, reduction))
    values, mask = plan.values()
    found.check_weights(mask is not None, sample_weight)
    result = reduce_weighted(values, sample_weight, mask, reduction, values_dtype,
                             fit_values=found.fits_values_to_weights)
    result = found.class_result(definition, result, dtype, reduction)
    if np.ndim(result) == 0:
        return float(result)
    return result


def _class_plan(definition: LossDefinition, found: Backend, y_true: Any, y_pred: Any,
                dtype: Any, kwargs: dict[str, Any]) -> tuple[Plan, np.dtype]:
    """The plan of a Keras loss class's values, and the dtype it computes in."""
    # Keras casts both inputs to the compute dtype; the kernels do it block
    # by block, so a float64 or int input costs no full-size copy.
    prediction = to_array(y_pred, "y_pred", allow_bool=True)
    truth = to_array(y_true, "y_true", allow_bool=True)
    compute_dtype = found.class_dtype(definition, dtype, prediction.dtype)
    options = {**kwargs, **definition.class_options(compute_dtype)}
    truth, prediction = same_rank(truth, prediction)
    return definition.plan_on(found, truth, prediction, compute_dtype, **options), compute_dtype


def _chunked_loss(definition: LossDefinition, found: Backend, y_true: Any, y_pred: Any,
                  sample_weight: Any, reduction: str | None, dtype: Any,
                  kwargs: dict[str, Any]) -> float:
    """`loss` of Dask arrays: each chunk of rows reduced where it lives (`lossbounds.chunks`)."""
    if definition.batch_wide:
        raise ValueError(
            f"{definition.name}: a sample's loss depends on the rest of its batch "
            f"({definition.batch_wide}), so it cannot be computed chunk by chunk. Hint: "
            "compute it batch by batch on numpy arrays, with lossbounds.LossMeter.")
    if reduction in (None, "none"):
        raise ValueError(
            "reduction='none' on Dask arrays: the per-sample losses are as large as the input. "
            "Hint: map the per-sample function over the chunks, y_pred.map_blocks(...), or "
            "choose a reduction.")

    def block_sums(t: Any, p: Any, w: Any) -> BlockSums:
        # On the worker that holds the block: its weighted sum, count and weight sum.
        plan, compute_dtype = _class_plan(definition, found, t, p, dtype, kwargs)
        values, mask = plan.values()
        found.check_weights(mask is not None, w)
        values_dtype = found.class_values_dtype(definition, dtype, compute_dtype)
        weights = reduce_weighted(np.ones_like(values, dtype=values_dtype), w, mask, "none",
                                  values_dtype, fit_values=found.fits_values_to_weights)
        weighted = reduce_weighted(values, w, mask, "none", values_dtype,
                                   fit_values=found.fits_values_to_weights)
        counted = values.size if mask is None else int(np.count_nonzero(mask))
        return (math.fsum(np.asarray(weighted, np.float64).ravel()), counted,
                math.fsum(np.asarray(weights, np.float64).ravel()))

    parts = per_block(block_sums, row_blocks(y_true, y_pred, sample_weight,
                                             name=definition.name, axis=kwargs.get("axis", -1)))
    given = np.dtype(getattr(y_pred, "dtype", np.float32))
    compute = found.class_dtype(definition, dtype, given)
    value = combine(parts, reduction, found.class_values_dtype(definition, dtype, compute))
    return float(found.class_result(definition, value, dtype, reduction))


# --------------------------------------------------------------------------
# Streaming over batches


class LossMeter:
    r"""The running training loss, as Keras' progress bar shows it.

    ``LossMeter(loss_name, **options)`` takes `loss`'s arguments (``from_logits``,
    ``reduction``, ``dtype``, ``epsilon``, ``backend``, ...). Each ``update(y_true, y_pred,
    sample_weight=None)`` computes one batch's loss exactly as the Keras loss
    class does and adds it; ``result()`` is then the value ``fit`` would print.

    Why the printed training loss is a running mean: ``model.fit`` keeps a
    ``keras.metrics.Mean`` loss tracker and, after every batch, calls
    ``tracker.update_state(batch_loss, sample_weight=batch_size)``. The bar,
    and ``history.history["loss"]`` at the end of the epoch, show
    ``total / count`` with ``total = sum_b loss_b * n_b`` and
    ``count = sum_b n_b`` over the batches *so far in this epoch* (the tracker
    is reset when an epoch starts). So the displayed loss is the mean of
    per-batch losses weighted by batch size, each computed with the weights
    the model had *at that batch*: it lags behind the current model, and it
    is not the loss of the final weights on the training set, which
    ``model.evaluate`` would report (usually lower while the model is still
    improving). A short last batch counts for its size only.

    As in Keras, `total` and `count` are float32 variables, added to in
    float32 (`count` stops being exact after 2**24 samples in an epoch, in
    Keras as here); `count` on this object is the exact number of samples.

    Examples
    --------
    >>> import lossbounds
    >>> meter = lossbounds.LossMeter("sparse_cce")
    >>> meter.update([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    0.1642520...
    >>> meter.update([1], [[0.5, 0.5]])
    0.6931471...
    >>> meter.result(), meter.count  # (2 * 0.164252 + 1 * 0.693147) / 3
    (0.3405504..., 3)
    """

    def __init__(self, loss_name: str, **options: Any):
        self._loss = get_loss(loss_name, "loss_name")
        reduction = get_backend(options.get("backend", "tensorflow")).reduction(
            options.get("reduction", "sum_over_batch_size"))
        if reduction in (None, "none"):
            raise ValueError(
                "LossMeter needs a reduced batch loss; reduction=None/'none' gives "
                "per-sample values. Hint: keep Keras' default 'sum_over_batch_size'."
            )
        if "sample_weight" in options:
            raise TypeError("Pass `sample_weight` to update(), once per batch.")
        names = [option.name for option in self._loss.keras_options]
        unknown = sorted(set(options) - set(names) - {"reduction", "dtype", "epsilon", "backend"})
        if unknown:
            raise TypeError(
                f"{self._loss.class_name} has no option {', '.join(map(repr, unknown))}; its "
                f"options are {', '.join(names) or 'none'} (plus reduction, dtype, epsilon "
                "and backend)."
            )
        self._options = options
        self._lock = threading.Lock()  # updates from several threads must not be lost
        self.reset()

    def reset(self) -> None:
        """Forget every batch (Keras resets its tracker at the start of each epoch)."""
        self._total = _F32(0)
        self._weight = _F32(0)
        self._samples = 0

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float | np.ndarray:
        """Add one batch; returns its loss, ``loss(loss_name, y_true, y_pred, ...)``."""
        value = loss(self._loss.name, y_true, y_pred, sample_weight=sample_weight, **self._options)
        shape = np.shape(y_pred)
        batch_size = shape[0] if shape else 1  # Keras: the batch's first dimension
        if batch_size == 0:
            return value  # an empty batch weighs nothing: the running mean is unchanged
        with self._lock, np.errstate(over="ignore", invalid="ignore"):
            # Mean.update_state(loss, sample_weight=batch_size), in float32
            size = _F32(batch_size)
            self._total = _F32(self._total + _F32(value) * size)
            self._weight = _F32(self._weight + size)
            self._samples += batch_size
        return value

    def result(self) -> float:
        """The running mean ``total / count`` (0 before any batch), as Keras displays it."""
        if self._weight == 0:
            return 0.0
        with np.errstate(all="ignore"):
            return float(self._total / self._weight)

    @property
    def count(self) -> int:
        """Samples seen since the last reset."""
        return self._samples

    def __repr__(self) -> str:
        return f"LossMeter({self._loss.name!r}, result={self.result():.6g}, count={self.count})"

