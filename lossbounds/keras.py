r"""Bounds for a compiled Keras 3 model, and a callback that checks training.

`bounds_for` reads what ``model.compile`` was given (the loss, its options,
the number of classes, the last layer's activation, the dtype and the
backend) and returns `lossbounds.bounds` for it, with notes on what the model
changes: a softmax or sigmoid head on TensorFlow, logits fed to a loss that
expects probabilities, a double softmax, regularisation penalties.

`BoundsCallback` runs the classic "verify the loss at init" check [1]_ before
training, adds ``loss_vs_uniform`` to the epoch logs, and warns about what
`lossbounds.interpret.diagnose` finds in the history so far.

This module imports Keras; ``import lossbounds`` does not import it.

References
----------
.. [1] A. Karpathy, "A Recipe for Training Neural Networks", 2019,
   https://karpathy.github.io/2019/04/25/recipe/ ("verify loss @ init").

Examples
--------
The init check alone needs no model:

>>> import lossbounds
>>> from lossbounds.keras import check_init_loss
>>> b = lossbounds.bounds("sparse_cce", n_classes=10)
>>> print(check_init_loss(2.95, b).message)  # doctest: +NORMALIZE_WHITESPACE
init loss 2.95 is 28% above the uniform baseline ln 10 = 2.303: a final-layer
bias that is not zero, a very large init scale, or the wrong loss.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import sys
import warnings
from typing import Any, NamedTuple, cast

try:
    import keras
except ModuleNotFoundError as _missing:
    # Say what to install, as lossbounds.plot does for matplotlib.
    if _missing.name == "keras":
        _need = "lossbounds.keras needs Keras 3 and a backend"
    elif _missing.name in {"tensorflow", "jax", "torch"}:
        _need = f"lossbounds.keras needs Keras' backend {_missing.name} (or another: KERAS_BACKEND)"
    else:
        raise
    raise ModuleNotFoundError(
        f"{_need}: python -m pip install keras tensorflow-cpu, or, in the lossbounds source "
        'folder, python -m pip install ".[keras]"',
        name=_missing.name,
    ) from _missing
import numpy as np

from .bounds import Bounds, prior_baseline
from .bounds import bounds as compute_bounds
from .checks import check_n_classes
from .diagnose import diagnose
from .logs import Epoch, TrainingLog
from .losses import loss as compute_loss
from .registry import LossDefinition, accepted_names, all_losses, get_loss
from .text import Note, for_python
from .yardstick import uniform_text

__all__ = [
    "BoundsCallback",
    "InitCheck",
    "LossBoundsWarning",
    "bounds_for",
    "check_init_loss",
    "loss_on_batch",
]

#: Default relative tolerance of the init check; see `check_init_loss`.
DEFAULT_TOLERANCE = 0.25

# What bounds_for notes when fit() computes the loss from cached logits: the
# clipped worst case then does not bound the curve.
CACHED_LOGITS = "inside fit/evaluate Keras computes this loss from the cached logits"


class LossBoundsWarning(UserWarning):
    """A training loss that lossbounds finds suspicious (init check, findings)."""


# --------------------------------------------------------------------------
# Reading the model


@dataclasses.dataclass(frozen=True)
class _ModelLoss:
    """What `bounds_for` reads from a compiled model."""

    definition: LossDefinition
    loss_options: dict  # from_logits, label_smoothing, ignore_class, axis
    outputs: int | None  # size of the class axis (BCE: number of outputs)
    activation: str | None  # name of the last layer's activation
    kind: str  # "softmax", "sigmoid", "probabilities", "logits", "other", "unknown"
    layer: str  # name of the layer that produces the output
    feeding: tuple[str, str] | None  # (kind, name) of a layer of the head's own kind below it
    loss_dtype: str
    compute_dtype: str
    backend: str
    epsilon: float
    reduction: str | None
    penalties: int  # regularisation terms added to the loss
    loss_weight: Any
    output_shape: tuple[int | None, ...] | None = None  # the model's output, batch axis first


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a keras.Model, got {type(model).__name__}: {model!r}. "
            "Hint: for a loss name without a model, use lossbounds.bounds(loss, ...)."
        )
    if not getattr(model, "compiled", False) or model.loss is None:
        raise ValueError(
            f"`model` {model.name!r} is not compiled with a loss, so there is no loss to "
            "bound. Hint: call model.compile(optimizer, loss=...) first, or use "
            "lossbounds.bounds(loss, n_classes=K) directly."
        )


def _single_loss(model: Any) -> Any:
    """The compiled loss of a single-output model (lists and dicts of one unwrapped)."""
    loss = model.loss
    if isinstance(loss, dict) or (isinstance(loss, (list, tuple))):
        entries = [v for v in (loss.values() if isinstance(loss, dict) else loss) if v is not None]
        if len(entries) != 1:
            raise ValueError(
                f"`model` {model.name!r} has {len(entries)} losses ({loss!r}); bounds_for "
                "handles one output. Hint: call lossbounds.bounds(name, n_classes=K) "
                "for each output."
            )
        loss = entries[0]
    return loss


def _loss_name(loss: Any) -> str:
    """lossbounds' name of a compiled loss."""
    if isinstance(loss, str):
        return _resolve(loss, repr(loss))
    if isinstance(loss, keras.losses.Loss):
        cls = type(loss).__name__
        described = f"{cls}({_kwargs_text(_loss_settings(loss)[0])})"
        # A bare LossFunctionWrapper (what compile() makes of a function) is named by its function.
        label = getattr(loss.fn, "__name__", cls) if cls == "LossFunctionWrapper" else cls
        return _resolve(label, described)
    if callable(loss):
        name = getattr(loss, "__name__", type(loss).__name__)
        return _resolve(name, f"{name}()")
    raise TypeError(
        f"The model's loss must be a str, a keras.losses.Loss or a function, got "
        f"{type(loss).__name__}: {loss!r}."
    )


def _loss_settings(loss: Any) -> tuple[dict, str | None, str | None]:
    """(options, dtype, reduction) of a compiled loss; strings and functions use Keras' defaults."""
    if not isinstance(loss, keras.losses.Loss):
        return {}, None, "sum_over_batch_size"
    # get_config omits some constructor arguments (SparseCategoricalCrossentropy
    # drops `axis`); the wrapped function's kwargs hold them all.
    merged = {**getattr(loss, "_fn_kwargs", {}), **loss.get_config()}
    options = {k: merged[k] for k in ("from_logits", "label_smoothing", "ignore_class", "axis")
               if k in merged}
    return options, loss.dtype, loss.reduction


def _kwargs_text(options: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _resolve(name: str, described: str) -> str:
    if name.lower() in ("crossentropy", "ce"):
        raise ValueError(
            f"The model's loss {described} lets Keras pick binary, categorical or sparse "
            "cross-entropy from the labels, which bounds_for cannot see. Hint: pass "
            "loss='sparse_categorical_crossentropy' (or the one you mean) to bounds_for."
        )
    try:
        return get_loss(name).name
    except ValueError:
        known = [loss.name for loss in all_losses()]
        close = difflib.get_close_matches(name.lower(), accepted_names(), n=1, cutoff=0.75)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"The model's loss {described} is not one lossbounds knows; it bounds "
            f"{', '.join(known[:-1])} and {known[-1]}. {hint}Hint: if your loss computes "
            "one of these, name it: bounds_for(model, loss='sparse_categorical_crossentropy')."
        ) from None


def _output_layer(model: Any) -> Any:
    """The layer that produces the model's (single) output."""
    try:
        history = model.outputs[0]._keras_history
        return history.operation
    except (AttributeError, IndexError, ValueError):
        return model.layers[-1] if model.layers else None


#: Layers that pass their input through unchanged, in training too, looked past
#: when asking what feeds the output layer (dropout is not: it rescales in training).
_PASS_THROUGH = ("Identity", "ActivityRegularization")


def _feeding_layer(model: Any) -> Any:
    """The layer whose output the output layer transforms (past identity layers), or None."""
    try:
        history = model.outputs[0]._keras_history
        node = history.operation._inbound_nodes[history.node_index]
        for _ in range(len(model.layers) + 1):
            if len(node.input_tensors) != 1:
                return None
            upstream = node.input_tensors[0]._keras_history
            if type(upstream.operation).__name__ not in _PASS_THROUGH:
                return upstream.operation
            node = upstream.operation._inbound_nodes[upstream.node_index]
    except (AttributeError, IndexError, ValueError):
        pass
    return None


def _activation_name(layer: Any) -> str | None:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    return getattr(function, "__name__", type(function).__name__)


def _output_kind(activation: str | None) -> str:
    """What the outputs are: probabilities (and whether Keras caches their logits) or logits."""
    if activation is None:
        return "unknown"
    name = activation.lower()
    if name.startswith("log_") or name == "linear":
        return "logits"  # log_softmax scores are logits shifted by a constant
    if "softmax" in name:  # "softmax", tf.nn.softmax's "softmax_v2"
        return "softmax"
    if name == "sigmoid":
        return "sigmoid"
    if name == "hard_sigmoid":
        return "probabilities"
    return "other"


def _class_axis_size(model: Any, axis: int, needed: bool) -> int | None:
    try:
        shape = model.outputs[0].shape
    except (AttributeError, IndexError, ValueError):
        shape = None
    if shape is None or len(shape) < 2 or shape[axis] is None:
        if needed:
            raise ValueError(
                f"`model` {model.name!r} has no known output shape, so the number of classes "
                "is unknown. Hint: give the model an input shape (keras.Input((d,)) or "
                "model.build((None, d))), or pass n_classes=K to bounds_for."
            )
        return None
    return int(shape[axis])


def _inspect(model: Any, loss: Any = None, n_classes_given: bool = False) -> _ModelLoss:
    _check_model(model)
    compiled = _single_loss(model)
    definition = get_loss(_loss_name(compiled) if loss is None else loss)
    options, dtype, reduction = _loss_settings(compiled)
    layer = _output_layer(model)
    activation = _activation_name(layer)
    kind = _output_kind(activation)
    if kind in ("softmax", "sigmoid"):
        activation = kind  # tf.nn.softmax is named "softmax_v2"
    feeding = None
    if kind in ("softmax", "sigmoid"):
        upstream = _feeding_layer(model)
        if _output_kind(_activation_name(upstream)) == kind:
            feeding = (kind, getattr(upstream, "name", "?"))
    axis = options.get("axis", -1)
    if not isinstance(axis, int):
        axis = -1
    outputs = _class_axis_size(model, axis, needed=_has_class_axis(definition)
                               and not n_classes_given)
    # compile(loss_weights=...) as given; get_compile_config() would serialise the loss.
    weight = getattr(getattr(model, "_compile_loss", None), "_user_loss_weights", None)
    return _ModelLoss(
        definition=definition, loss_options=options, outputs=outputs,
        activation=activation, kind=kind,
        layer=getattr(layer, "name", "?"), feeding=feeding,
        loss_dtype=dtype or keras.config.floatx(),
        compute_dtype=model.dtype_policy.compute_dtype,
        backend=keras.backend.backend(), epsilon=keras.config.epsilon(),
        reduction=reduction, penalties=len(model.losses), loss_weight=weight,
        output_shape=_output_shape(model),
    )


def _output_shape(model: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(model.outputs[0].shape)
    except (AttributeError, IndexError, ValueError, TypeError):
        return None


def _has_class_axis(definition: LossDefinition) -> bool:
    """Does the loss read K classes off the output's class axis (a softmax head)?"""
    return definition.head == "softmax"


#: The range of each bounded activation's outputs, for regression losses' `pred_range`.
_OUTPUT_RANGES = {"softmax": (0.0, 1.0), "sigmoid": (0.0, 1.0), "probabilities": (0.0, 1.0),
                  "tanh": (-1.0, 1.0)}


def _bounds_kwargs(found: _ModelLoss) -> dict:
    """The lossbounds.bounds options that describe the compiled loss."""
    takes = set(found.definition.option_names())
    kwargs: dict[str, Any] = dict(epsilon=found.epsilon, dtype=found.loss_dtype,
                                  backend=found.backend)
    for name in ("from_logits", "label_smoothing", "ignore_class"):
        value = found.loss_options.get(name)
        if name in takes and value is not None:
            kwargs[name] = float(value) if name == "label_smoothing" else value
    if "from_logits" in takes:
        kwargs["from_logits"] = bool(found.loss_options.get("from_logits", False))
    if _has_class_axis(found.definition) and found.outputs is not None:
        kwargs["n_classes"] = found.outputs
    if found.output_shape is not None:
        kwargs.update(found.definition.options_from_output(found.output_shape))
    if "pred_range" in takes:
        # Bounded activations bound the predictions; with y_range the worst case is finite.
        kwargs["pred_range"] = _OUTPUT_RANGES.get(
            found.activation if found.activation == "tanh" else found.kind)
    return kwargs


# --------------------------------------------------------------------------
# Notes on what the model changes


def _model_notes(found: _ModelLoss, options: dict, result: Bounds, mistakes: list[Note]) -> list[Note]:
    """What the model changes about the bounds: the cached logits, its `mistakes`, the loss scale."""
    notes: list[Note] = []
    from_logits = bool(options.get("from_logits", False))
    single_class = _has_class_axis(found.definition) and found.outputs == 1
    if (found.definition.probabilistic and not from_logits and not single_class
            and found.kind in ("softmax", "sigmoid") and found.backend == "tensorflow"):
        worst = "" if math.isinf(result.worst) else f" ({result.worst:.7g})"
        notes.append(Note("cached_logits_head",
            f"On TensorFlow, the last layer ({found.layer}) is a {found.activation}: "
            f"{CACHED_LOGITS}, so training losses are not bounded by the clipped worst case"
            f"{worst}; a confidently wrong prediction costs its logit gap, without limit."
        ))
    notes.extend(mistakes)
    several_outputs = (found.outputs or 1) > 1
    if found.definition.head == "sigmoid" and several_outputs and "n_classes" not in options:
        notes.append(Note("outputs_averaged",
            f"{found.definition.name} averages over {found.outputs} outputs; the uniform baseline "
            "ln 2 is predicting 0.5 on each, what a sigmoid head with zero bias does at init."
        ))
    notes.extend(_scale_notes(found))
    return notes


def _model_mistakes(found: _ModelLoss, options: dict) -> list[Note]:
    """Notes on a head and loss that do not fit together (`BoundsCallback` warns about them)."""
    mistakes: list[Note] = []
    cross_entropy = found.definition.probabilistic
    from_logits = bool(options.get("from_logits", False))
    head = f"the last layer ({found.layer}) is a {found.activation}"
    Head = head[0].upper() + head[1:]  # noqa: N806 - the same words, starting a sentence
    if cross_entropy and not from_logits and found.kind == "logits":
        mistakes.append(Note("logits_as_probabilities",
            f"The last layer ({found.layer}) is {found.activation}: outputs look like logits "
            "but the loss treats them as probabilities (from_logits=False), clipping them "
            f"to [{found.epsilon:g}, 1 - {found.epsilon:g}]. Hint: compile with "
            "from_logits=True, or end the model with a softmax/sigmoid."
        ))
    if cross_entropy and from_logits and found.kind in ("softmax", "sigmoid"):
        fix = ("On TensorFlow Keras warns and uses the cached logits inside fit/evaluate, "
               "but on other backends and on model.predict outputs"
               if found.backend == "tensorflow" else "The loss")
        mistakes.append(Note("double_activation",
            f"from_logits=True but {head}: a double {found.kind}. {fix} applies a second "
            f"{found.kind} to probabilities, squeezing every loss towards the uniform "
            "baseline. Hint: drop from_logits=True or make the last layer linear."
        ))
    if found.feeding is not None:
        mistakes.append(Note("stacked_activation", _stacked_activation_note(found, from_logits)))
    if cross_entropy and found.kind == "other":
        mistakes.append(Note("head_not_probabilities",
            f"{Head}, which gives neither probabilities nor logits. "
            "Hint: end with softmax/sigmoid, or a linear layer and from_logits=True."
        ))
    if _has_class_axis(found.definition) and found.kind == "sigmoid" and not from_logits:
        mistakes.append(Note("sigmoid_under_softmax_loss",
            f"{Head} but {found.definition.name} expects rows that sum to 1 "
            "(a softmax). Hint: use softmax, or binary_crossentropy for multi-label targets."
        ))
    if _has_class_axis(found.definition) and found.outputs == 1:
        mistakes.append(Note("single_output_unit",
            f"The model has a single output unit: {found.definition.name} over one class is always "
            "about 0. Hint: for two classes with one sigmoid output use binary_crossentropy."
        ))
    return mistakes


def _stacked_activation_note(found: _ModelLoss, from_logits: bool) -> str:
    """Two softmax (sigmoid) layers in a row: the second sees inputs in [0, 1], which caps its outputs."""
    assert found.feeding is not None  # called only for a head fed by its own kind
    kind, feeding = found.feeding
    text = (f"The last layer ({found.layer}) applies {kind} to the output of {feeding}, which is "
            f"already a {kind}: a double {kind}. ")
    if kind == "softmax" and found.outputs and found.outputs >= 2:
        k = found.outputs
        top = math.e / (math.e + k - 1)
        text += (f"Its inputs lie in [0, 1], so no output exceeds e/(e + K - 1) = {top:.4g} "
                 f"(K = {k})")
        if _has_class_axis(found.definition) and not from_logits:
            floor = math.log1p((k - 1) / math.e)
            text += (f" and the loss cannot go below ln(1 + (K-1)/e) = {floor:.4g} "
                     "(without label smoothing), however long it trains")
        text += ". "
    elif kind == "sigmoid":
        high = 1 / (1 + math.exp(-1))
        text += (f"Its inputs lie in [0, 1], so its outputs lie in [0.5, {high:.4g}]: every "
                 "prediction says class 1")
        if found.definition.head == "sigmoid" and not from_logits:
            text += ", and each label 0 costs at least ln 2 = 0.6931"
        text += ". "
    return text + (f"Hint: give {feeding} no activation (activation=None), so that only "
                   f"{found.layer} applies {kind}.")


def _scale_notes(found: _ModelLoss) -> list[Note]:
    """Notes on what makes the logged loss differ from a per-sample mean."""
    notes: list[Note] = []
    if found.reduction not in ("sum_over_batch_size", "mean"):
        notes.append(Note("reduction",
            f"The loss uses reduction={found.reduction!r}: logged values are not per-sample "
            "means, so compare them with these bounds only after dividing accordingly."
        ))
    if isinstance(found.loss_weight, numbers.Real) and found.loss_weight != 1:
        notes.append(Note("loss_weights", f"compile(loss_weights={found.loss_weight!r}) scales "
                          "the logged loss "
                     "by that factor."))
    if found.penalties:
        notes.append(Note("regularisation",
            f"The model adds {found.penalties} regularisation penalt"
            f"{'y' if found.penalties == 1 else 'ies'} to the logged loss: it can exceed the "
            "worst case and never reaches the best case."
        ))
    if found.compute_dtype != found.loss_dtype:
        notes.append(Note("mixed_precision",
            f"The model computes in {found.compute_dtype} but the loss in {found.loss_dtype}: "
            f"outputs are rounded to {found.compute_dtype} first; the bounds are those of "
            f"{found.loss_dtype}."
        ))
    return notes


def bounds_for(model: Any, **overrides: Any) -> Bounds:
    r"""The bounds of a compiled Keras model's loss, with notes on the model.

    Reads from `model`: the loss (a name such as ``"mse"``, a
    ``keras.losses.Loss`` instance or a loss function) and its options
    (``from_logits``, ``label_smoothing``, ``ignore_class``, ``axis``); the
    number of classes K (the size of the output's class axis); whether the
    last layer outputs probabilities (softmax, sigmoid) or logits (linear);
    the loss dtype, ``keras.config.epsilon()`` and the backend.

    Parameters
    ----------
    model : keras.Model
        A compiled single-output model.
    **overrides
        Any option of `lossbounds.bounds`, which wins over what is read from
        the model: ``n_classes``, ``y_true`` or ``counts`` (for the prior
        baseline), ``from_logits``, ``label_smoothing``, ``y_range``, ... and
        ``loss``, a loss name to use instead of the compiled one (for a custom
        loss that computes a known one).

    Returns
    -------
    lossbounds.Bounds
        ``lossbounds.bounds(name, **options)``, whose ``notes`` also say what
        the model changes. Above all: on TensorFlow, with a softmax or sigmoid
        last layer, ``fit`` and ``evaluate`` compute a cross-entropy from the
        cached logits, so logged losses are *not* bounded by ``worst``.

    Raises
    ------
    TypeError
        If `model` is not a ``keras.Model``.
    ValueError
        If the model is not compiled, its loss is not one lossbounds knows, or
        the number of classes cannot be read (give ``n_classes``).

    Notes
    -----
    For binary cross-entropy K is not passed on: the uniform baseline is then
    :math:`\ln 2`, what predicting 0.5 on every output scores, which is what
    a sigmoid head with a zero bias does at init. For mean squared error a
    softmax or sigmoid (tanh) head gives ``pred_range=(0, 1)`` (``(-1, 1)``):
    add ``y_range`` for a finite worst case.

    A softmax layer fed by another softmax layer (say ``Dense(K,
    activation="softmax")`` then ``Activation("softmax")``) is noted with its
    floor: the second softmax sees inputs in [0, 1], so no output exceeds
    :math:`e/(e + K - 1)` and the cross-entropy cannot go below
    :math:`\ln(1 + (K-1)/e)`, 1.461 for K = 10. Two sigmoids in a row are
    noted the same way. Only identity layers are looked past in between.

    See Also
    --------
    lossbounds.bounds : the same bounds from a loss name.
    BoundsCallback : checks a training run against these bounds.

    Examples
    --------
    >>> import keras, lossbounds.keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> b = lossbounds.keras.bounds_for(model)
    >>> b.loss, b.options["n_classes"], round(b.uniform, 4), b.worst
    ('sparse_categorical_crossentropy', 10, 2.3026, inf)
    """
    loss = overrides.pop("loss", None)
    _check_options(overrides, "bounds_for", extra="`loss` and ")
    return bounds_and_options(model, loss, overrides)[0]


def _check_options(options: dict, caller: str, extra: str = "") -> None:
    names = {name for loss in all_losses() for name in loss.option_names(data=True)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(
            f"{caller} got unexpected option(s) {', '.join(map(repr, unknown))}; it takes "
            f"{extra}the options of lossbounds.bounds: {', '.join(sorted(names))}."
        )


def bounds_and_options(model: Any, loss: Any, overrides: dict) -> tuple[Bounds, dict]:
    """`bounds_for`, and the lossbounds.bounds options it used (`lossbounds.plot` draws with them)."""
    return _model_bounds(model, loss, overrides)[:2]


def _model_bounds(model: Any, loss: Any, overrides: dict) -> tuple[Bounds, dict, list[Note]]:
    """`bounds_for`, the lossbounds.bounds options it used, and the model's mistakes."""
    found = _inspect(model, loss, n_classes_given=overrides.get("n_classes") is not None)
    options = {**_bounds_kwargs(found), **overrides}
    result = compute_bounds(found.definition.name, **options)
    mistakes = _model_mistakes(found, options)
    given = overrides.get("n_classes")
    if given is not None and found.outputs is not None and _has_class_axis(found.definition) \
            and given != found.outputs:
        mistakes.append(Note("n_classes_mismatch", (
            f"n_classes={given} was given, but the model's output has {found.outputs} classes: "
            f"the bounds are those of {given} classes. Hint: leave n_classes out, lossbounds "
            "reads K from the model.")))
    notes = _model_notes(found, options, result, mistakes)
    if found.backend == "tensorflow" and found.definition.probabilistic:
        # bounds() says "when the last layer is a softmax or sigmoid"; we know
        # whether it is, and said so in our notes.
        kept = tuple(n for n in result.notes if getattr(n, "code", None) != "cached_logits")
    else:
        kept = result.notes
    if found.kind == "softmax":
        # A softmax head's rows sum to 1: the note on rows that do not is moot.
        kept = tuple(n for n in kept if getattr(n, "code", None) != "unnormalised_rows")
    return dataclasses.replace(result, notes=kept + tuple(notes)), options, mistakes


# --------------------------------------------------------------------------
# The init check


class InitCheck(NamedTuple):
    """The verdict of `check_init_loss`.

    Attributes
    ----------
    kind : str
        ``"near_uniform"``, ``"near_prior"``, ``"between_prior_and_uniform"``
        (these three are fine), ``"above_uniform"``, ``"below_uniform"``,
        ``"below_prior"`` or ``"not_finite"``.
    severity : str
        ``"info"`` or ``"warning"``.
    message : str
    """

    kind: str
    severity: str
    message: str


def check_init_loss(
    init_loss: float,
    bounds: Bounds,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    prior: float | None = None,
) -> InitCheck:
    r"""Judge a loss measured before training against the uniform and prior baselines.

    An untrained classifier whose last layer has small weights and a zero
    bias predicts about :math:`1/K` for every class and scores the uniform
    baseline, :math:`\ln K` [1]_. Much higher means it starts out confidently
    wrong; much lower means it already knows something about the labels.

    Parameters
    ----------
    init_loss : float
        The loss before any weight update.
    bounds : lossbounds.Bounds
        The bounds of the loss; ``bounds.uniform`` must be known.
    tolerance : float, default 0.25
        How far, relative to a baseline, still counts as "at" it.
    prior : float, optional
        The prior baseline (label entropy); ``bounds.prior`` if not given.

    Returns
    -------
    InitCheck
        ``severity="warning"`` when the loss is more than `tolerance` above
        the uniform baseline, below it and not near the prior baseline, or
        not finite; otherwise ``"info"``.

    Notes
    -----
    Why 0.25: with random logits of standard deviation :math:`\sigma` the
    expected loss exceeds :math:`\ln K` by about :math:`\sigma^2/2`, so the
    tolerance allows logits of scale up to about 1 for K = 10. Keras'
    default (Glorot) initialisation, measured on small MLPs with
    standardised inputs, starts within 0-30% of :math:`\ln K` for K >= 10
    and 1-3 hidden layers, but up to 30-130% above it for K <= 3 with 784
    inputs and one hidden layer: there the warning is right that the init
    wastes the first steps (a zero or down-scaled final layer removes it),
    and `tolerance` can be raised. A final-layer bias of a few units, or a
    loss that does not match the outputs, lands far beyond. A model whose
    predictions do not depend on its inputs cannot, on average, score below
    the prior baseline (Gibbs' inequality), so a loss below it before
    training means the inputs already reveal the labels.

    See Also
    --------
    BoundsCallback : runs this check when training starts.

    Examples
    --------
    >>> import lossbounds
    >>> from lossbounds.keras import check_init_loss
    >>> b = lossbounds.bounds("bce", counts=[900, 100])
    >>> check_init_loss(0.70, b).kind
    'near_uniform'
    >>> check_init_loss(0.33, b).kind  # the bias encodes the 10% positives
    'near_prior'
    >>> check_init_loss(0.01, b).severity
    'warning'
    """
    if not isinstance(bounds, Bounds):
        raise TypeError(
            f"`bounds` must be a lossbounds.Bounds, got {type(bounds).__name__}: {bounds!r}. "
            "Hint: check_init_loss(loss, lossbounds.bounds('sparse_cce', n_classes=10))."
        )
    init_loss = _real(init_loss, "init_loss")
    prior = None if prior is None else _real(prior, "prior")
    _check_tolerance(tolerance)
    uniform = bounds.uniform
    if uniform is None or not uniform > 0:
        raise ValueError(
            f"The init check needs a uniform baseline, and {bounds.loss} has none here "
            f"(bounds.uniform={uniform!r}). Hint: give n_classes for one-hot targets."
        )
    prior = bounds.prior if prior is None else prior
    if not math.isfinite(init_loss):
        return InitCheck("not_finite", "warning", (
            f"init loss is {init_loss}: NaN or inf in the inputs or labels, a division by "
            "zero or log of a non-positive number in a custom layer or loss, or overflow."))
    value, baseline = f"{init_loss:.4g}", uniform_text(bounds)
    gap = init_loss / uniform - 1
    if abs(gap) <= tolerance:
        return InitCheck("near_uniform", "info", (
            f"init loss {value} is close to the uniform baseline {baseline} ({gap:+.1%}), "
            "as expected for an untrained model."))
    if prior is not None and prior > 0 and abs(init_loss / prior - 1) <= tolerance:
        return InitCheck("near_prior", "info", (
            f"init loss {value} is near the prior baseline {prior:.4g} (the label entropy), "
            f"{-gap:.0%} below the uniform {baseline}: the output bias already encodes the "
            "class frequencies (Karpathy's 'init well')."))
    if gap > 0:
        return InitCheck("above_uniform", "warning", (
            f"init loss {value} is {gap:.0%} above the uniform baseline {baseline}: a "
            "final-layer bias that is not zero, a very large init scale, or the wrong loss."))
    if prior is not None and init_loss > prior:
        return InitCheck("between_prior_and_uniform", "info", (
            f"init loss {value} lies between the prior baseline {prior:.4g} and the uniform "
            f"{baseline}: the output bias partly encodes the class frequencies."))
    if prior is not None:
        return InitCheck("below_prior", "warning", (
            f"init loss {value} is below even the prior baseline {prior:.4g}: before "
            "training the model already predicts the labels from the inputs. The labels "
            "may leak into the inputs, or the weights are pretrained."))
    return InitCheck("below_uniform", "warning", (
        f"init loss {value} is {-gap:.0%} below the uniform baseline {baseline}: labels may "
        "leak or the output bias already encodes the prior (pass counts= to tell which)."))


# --------------------------------------------------------------------------
# The callback


class BoundsCallback(keras.callbacks.Callback):
    r"""Check a Keras training run against the bounds of its loss.

    * **Before training** it warns about a head that does not fit the loss,
      as `bounds_for` notes it (logits fed to a loss that expects
      probabilities, a double softmax or sigmoid, a sigmoid under a
      categorical loss, a single output unit); with ``y_batch`` it runs the
      checks `lossbounds.explain` runs on labels (labels outside ``[0, K)``,
      with the hint to shift 1-based labels; binary cross-entropy on one-hot
      labels, whose guessing baseline is then :math:`H_b(1/K)`, not
      :math:`\ln 2`); and it checks the loss at init [1]_
      (`check_init_loss`):
      on ``(x_batch, y_batch)`` if given, computed exactly as
      ``model.evaluate`` would; otherwise on the first training batch, whose
      logged loss Keras computes before the first weight update (in training
      mode, so with dropout, if the model has any). A suspicious value is
      reported.
    * **At each epoch end** it adds ``loss_vs_uniform`` (and
      ``val_loss_vs_uniform``) to the logs, so History and the progress bar
      show the loss as a fraction of the uniform baseline (below 1 means
      better than guessing), and runs `lossbounds.interpret.diagnose` on the
      history so far, reporting once each new kind of finding of severity
      ``"warning"`` or ``"error"``.

    Each thing is said once, on its own line: with ``verbose >= 1`` as a
    printed ``[lossbounds]`` line, with ``verbose=0`` as a `LossBoundsWarning`
    (never both). Lines found during an epoch are printed when it is over,
    after Keras' progress bar, so they never land in the middle of it.

    Parameters
    ----------
    x_batch, y_batch : array_like, optional
        One batch of inputs and labels for the init check; give both or
        neither. With labels of a classification loss, their entropy is the
        prior baseline of the check.
    loss : str, optional
        A loss name, for a compiled loss lossbounds cannot identify.
    n_classes : int, optional
        K, if the model's output shape does not tell.
    tolerance : float, default 0.25
        Relative distance from a baseline that still counts as "at" it.
    verbose : int, default 1
        0: a `LossBoundsWarning` for each problem, nothing printed; 1: print
        each problem and the init verdict as a ``[lossbounds]`` line instead;
        2: also print ``"info"`` findings.
    weighted : bool, optional
        Whether ``fit`` weighs the samples (``class_weight``, ``sample_weight``,
        or a dataset that yields weights). The logged loss is then a weighted
        mean whose scale depends on the weights, not comparable with the
        bounds: only its trends are judged, and there is no init check.
        By default the callback reads ``class_weight`` and ``sample_weight``
        from the ``fit`` call; a dataset's weights it cannot see, so pass
        ``weighted=True`` for them.
    strict : bool, default False
        A monitoring callback must never stop training: by default anything
        that goes wrong inside it (a loss it cannot bound, labels it cannot
        read) is reported once as a `LossBoundsWarning` and training goes on.
        With ``strict=True`` the error is raised instead.
    **bounds_options
        Options of `lossbounds.bounds` (``counts``, ``label_smoothing``, ...),
        passed to `bounds_for` and to `lossbounds.interpret.diagnose`.

    Attributes
    ----------
    bounds : lossbounds.Bounds or None
        Set when training starts.
    weighted_fit : bool
        Whether the current ``fit`` weighs its samples (`weighted`, or read
        from the ``fit`` call).
    init_loss : float or None
        The loss at init, once measured.
    init_check : InitCheck or None
        Its verdict.
    log : lossbounds.logs.TrainingLog
        The epochs so far, as Keras logged them (without the added
        ``*_vs_uniform`` keys); ``log.history()`` is the dict.
    findings : list
        Every `lossbounds.interpret.Finding` warned about.

    See Also
    --------
    bounds_for, check_init_loss, lossbounds.interpret.diagnose

    Examples
    --------
    >>> import keras, numpy as np
    >>> from lossbounds.keras import BoundsCallback
    >>> x, y = np.random.rand(256, 8), np.random.randint(0, 3, 256)
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> check = BoundsCallback(x[:64], y[:64])
    >>> history = model.fit(x, y, epochs=2, callbacks=[check])  # doctest: +SKIP
    [lossbounds] init loss 1.1 is close to the uniform baseline ln 3 = 1.099 (+0.1%), ...
    >>> history.history["loss_vs_uniform"]  # doctest: +SKIP
    [0.99..., 0.97...]
    """

    #: Keras may run the batch hook in a worker thread: it only reads the first batch's loss.
    async_safe = True

    def __init__(
        self,
        x_batch: Any = None,
        y_batch: Any = None,
        *,
        loss: str | None = None,
        n_classes: int | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        verbose: int = 1,
        weighted: bool | None = None,
        strict: bool = False,
        **bounds_options: Any,
    ) -> None:
        super().__init__()
        if (x_batch is None) != (y_batch is None):
            raise ValueError(
                "BoundsCallback needs both `x_batch` and `y_batch` for the init check, or "
                f"neither (then the first training batch is used); got only "
                f"{'x_batch' if y_batch is None else 'y_batch'}."
            )
        _check_tolerance(tolerance)
        # cast: to typeshed no int is an Integral, so mypy would think the rest unreachable
        if isinstance(verbose, bool) or not isinstance(cast(object, verbose), numbers.Integral):
            raise TypeError(
                f"`verbose` must be 0, 1 or 2, got {type(verbose).__name__}: {verbose!r}.")
        _check_options(bounds_options, "BoundsCallback")
        self.x_batch, self.y_batch = x_batch, y_batch
        self.loss = None if loss is None else get_loss(loss).name
        self.n_classes = None if n_classes is None else check_n_classes(n_classes, minimum=1)
        self.tolerance = float(tolerance)
        self.verbose = int(verbose)
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"`strict` must be True or False, got {type(strict).__name__}: "
                            f"{strict!r}.")
        self.strict = bool(strict)
        if weighted is not None and not isinstance(weighted, (bool, np.bool_)):
            raise TypeError(f"`weighted` must be True, False or None, got "
                            f"{type(weighted).__name__}: {weighted!r}.")
        self.weighted = None if weighted is None else bool(weighted)
        self.weighted_fit = False
        self._broken = False  # set when a check failed: later hooks stay quiet
        self.bounds_options = dict(bounds_options)
        self.bounds: Bounds | None = None
        self.init_loss: float | None = None
        self.init_check: InitCheck | None = None
        self.log = TrainingLog()
        self.findings: list[Any] = []
        self._options: dict[str, Any] = {}
        self._seen_kinds: set[str] = set()
        self._first_batch_pending = False
        self._queued: list[str] = []  # lines said during an epoch: printed once it is over
        self._in_epoch = False

    # -- Keras hooks ------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._broken, self.bounds = False, None
        self.log, self._first_batch_pending, self._seen_kinds = TrainingLog(), False, set()
        self._queued, self._in_epoch = [], False
        self._guarded("at the start of training", self._train_begin)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # Keras' progress bar (a callback after this one) has ended the last epoch's line.
        self._flush()
        self._in_epoch = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._guarded("after the first batch", self._train_batch_end, batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            self.log.epochs.append(_as_epoch(epoch, logs))  # kept even when checks fail
        self._guarded(f"at the end of epoch {epoch + 1}", self._epoch_end, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._in_epoch = False
        self._flush()

    def _guarded(self, when: str, hook: Any, *args: Any) -> None:
        """Run a check; a failure warns once (or raises, with strict=True), never stops fit."""
        if self._broken:
            return
        try:
            hook(*args)
        except Exception as error:
            if self.strict:
                raise
            self._broken = True
            self._warn(f"could not check the loss {when}, so it stops checking (training goes "
                       f"on): {type(error).__name__}: {error}")

    def _train_begin(self) -> None:
        overrides = dict(self.bounds_options)
        if self.n_classes is not None:
            overrides["n_classes"] = self.n_classes
        self.bounds, self._options, mistakes = _model_bounds(self.model, self.loss, overrides)
        one_hot = self._one_hot_classes()
        if one_hot is not None and "n_classes" not in overrides:
            # Binary cross-entropy on one-hot labels: K yes/no questions, as explain reads it.
            overrides["n_classes"] = one_hot
            self.bounds, self._options, mistakes = _model_bounds(self.model, self.loss, overrides)
        for mistake in mistakes:
            self._warn(f"model: {mistake}")
        self.weighted_fit = _fit_is_weighted() if self.weighted is None else self.weighted
        if self.weighted_fit:
            self._say("the samples are weighted (class_weight or sample_weight): the logged "
                      "loss is a weighted mean, not comparable with the bounds; only its "
                      "trends are judged, and there is no init check.")
        for flag in self._loss_flags():
            self._seen_kinds.add(flag.code)  # said now: diagnose finds it again each epoch
            self._warn(f"{flag.code}: {flag[0].upper()}{flag[1:]}")
        labels_ok = self._check_labels()
        if self.bounds.uniform is None:
            self._say(f"no init check and no loss_vs_uniform: {self.bounds.loss} has no "
                      "uniform baseline here (give n_classes for one-hot targets).")
            return
        if not self._per_sample_mean():
            if not self.weighted_fit:  # a sum over the batch, or a weighted sum of outputs
                note = next(n for n in self.bounds.notes if n.code in ("reduction", "loss_weights"))
                self._say(f"no init check: {note}")
            return
        steps = _optimizer_steps(self.model)
        if steps:
            # The weights are trained already: this is not an init.
            self._say(f"no init check: the model has already taken {steps} optimizer steps.")
        elif self.x_batch is not None:
            if labels_ok:
                self.init_loss = loss_on_batch(self.model, self.x_batch, self.y_batch)
                self._judge_init(self._batch_prior())
        else:
            self._first_batch_pending = True

    def _train_batch_end(self, batch: int, logs: dict | None) -> None:
        if not self._first_batch_pending or batch != 0:
            return
        self._first_batch_pending = False
        loss = (logs or {}).get("loss")
        if loss is not None:
            self.init_loss = float(loss)
            self._judge_init(None)

    def _epoch_end(self, logs: dict | None) -> None:
        if logs is None or self.bounds is None:
            return
        if self._first_batch_pending:
            # With steps_per_execution > 1 Keras reports no batch 0.
            self._first_batch_pending = False
            self._say("no init check: give BoundsCallback(x_batch, y_batch) to run it.")
        self._add_ratios(logs)
        if "loss" in logs:
            self._diagnose()

    # -- helpers ----------------------------------------------------------

    def _per_sample_mean(self) -> bool:
        """Is the logged loss a per-sample mean, comparable with the bounds?"""
        codes = {getattr(note, "code", None) for note in (self.bounds.notes if self.bounds else ())}
        return not self.weighted_fit and not codes & {"reduction", "loss_weights"}

    def _add_ratios(self, logs: dict) -> None:
        uniform = self.bounds.uniform if self.bounds else None
        if not uniform or not self._per_sample_mean():
            return
        for key in ("loss", "val_loss"):
            if isinstance(logs.get(key), numbers.Real):
                logs[f"{key}_vs_uniform"] = float(logs[key]) / uniform

    def _diagnose(self) -> None:
        # cast: on_train_begin sets the bounds before Keras ends an epoch
        # A sum or a weighted loss is not a per-sample mean: only its trends are judged.
        comparable = self._per_sample_mean()
        loss = cast(Bounds, self.bounds).loss if comparable else None
        for finding in diagnose(self.log, loss=loss, **(self._options if comparable else {})):
            if finding.kind in self._seen_kinds:
                continue
            if finding.severity in ("warning", "error"):
                self._seen_kinds.add(finding.kind)
                self.findings.append(finding)
                self._warn(f"{finding.kind}: {finding.message}")
            elif self.verbose >= 2:
                self._seen_kinds.add(finding.kind)
                self._say(f"{finding.kind}: {finding.message}")

    def _one_hot_classes(self) -> int | None:
        """K when `y_batch` is one-hot over K > 2 outputs of a loss that scores each output
        on its own (binary cross-entropy), else None."""
        if self.y_batch is None or self.bounds is None:
            return None
        definition = get_loss(self.bounds.loss)
        if definition.head != "sigmoid" or "n_classes" not in definition.option_names():
            return None
        try:
            labels = np.asarray(self.y_batch, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if labels.ndim < 2 or labels.shape[-1] <= 2 or labels.size == 0:
            return None
        one_hot = np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=-1) == 1)
        return int(labels.shape[-1]) if one_hot else None

    def _loss_flags(self) -> tuple[Any, ...]:
        """What `lossbounds.explain` flags about the loss and its options (bce_on_multiclass)."""
        assert self.bounds is not None
        definition = get_loss(self.bounds.loss)
        takes = set(definition.option_names())
        setting = definition.setting({k: v for k, v in self._options.items() if k in takes},
                                     allowed=definition.option_names())
        return tuple(definition.flags(setting))

    def _check_labels(self) -> bool:
        """Run `lossbounds.loss` on `y_batch`: labels it refuses get its hint, not TensorFlow's
        InvalidArgumentError. Returns whether the labels are usable."""
        if self.y_batch is None or self.bounds is None:
            return True
        definition = get_loss(self.bounds.loss)
        keras_names = {option.name for option in definition.keras_options} | {"epsilon"}
        options = {k: v for k, v in self._options.items() if k in keras_names}
        try:
            y_pred = keras.ops.convert_to_numpy(self.model(self.x_batch, training=False))
            compute_loss(definition.name, self.y_batch, y_pred, **options)
        except ValueError as error:
            self._warn(f"labels: {for_python(str(error))}")
            return False
        except Exception:  # shapes lossbounds cannot read: Keras will say what is wrong
            return True
        return True

    def _batch_prior(self) -> float | None:
        """The label entropy of `y_batch`, the prior baseline of the init check."""
        assert self.bounds is not None  # called by on_train_begin once it has the bounds
        definition = get_loss(self.bounds.loss)
        if self.bounds.prior is not None or not definition.probabilistic:
            return None  # bounds() has one already / regression has no init baseline here
        takes = set(definition.option_names()) - {"y_range", "pred_range"}
        options = {k: v for k, v in self._options.items() if k in takes}
        try:
            return prior_baseline(self.bounds.loss, np.asarray(self.y_batch), **options)
        except (TypeError, ValueError):
            return None  # labels lossbounds cannot count (soft, nested): no prior, no harm

    def _judge_init(self, prior: float | None) -> None:
        # called right after the init loss is measured, and only once the bounds are set
        assert self.init_loss is not None and self.bounds is not None
        self.init_check = check_init_loss(self.init_loss, self.bounds, tolerance=self.tolerance,
                                          prior=prior)
        if self.init_check.severity == "warning":
            self._warn(self.init_check.message)
        else:
            self._say(self.init_check.message)

    def _warn(self, message: str) -> None:
        """A problem, said once: printed (verbose >= 1) or a LossBoundsWarning (verbose=0)."""
        if self.verbose:
            self._say(message)
        else:
            warnings.warn(message, LossBoundsWarning, stacklevel=3)

    def _say(self, message: str) -> None:
        if not self.verbose:
            return
        line = f"[lossbounds] {message}"
        if self._in_epoch:
            self._queued.append(line)  # the progress bar is drawing: after it
        else:
            print(line)

    def _flush(self) -> None:
        for line in self._queued:
            print(line)
        self._queued = []


def _fit_is_weighted() -> bool:
    """Does the ``fit`` call running this callback pass ``class_weight`` or ``sample_weight``?

    Keras gives callbacks no view of them, so the frames up the stack are
    read: the first ``fit`` frame that has both arguments is Keras' own.
    """
    frame = sys._getframe(1)
    while frame is not None:
        names = frame.f_locals
        if frame.f_code.co_name == "fit" and "class_weight" in names and "sample_weight" in names:
            return names["class_weight"] is not None or names["sample_weight"] is not None
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _real(value: Any, argument: str) -> float:
    """A real number (NaN and inf allowed: a loss can be either)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(cast(object, value), numbers.Real):
        raise TypeError(f"`{argument}` must be a real number, got {type(value).__name__}: "
                        f"{value!r}.")
    return float(value)


def _check_tolerance(tolerance: Any) -> None:
    # cast: kept Any, as typeshed's numbers.Real has no `>` for the range check below
    if isinstance(tolerance, bool) or not isinstance(cast(object, tolerance), numbers.Real):
        raise TypeError(
            f"`tolerance` must be a number, got {type(tolerance).__name__}: {tolerance!r}.")
    if not 0 < tolerance < 1:
        raise ValueError(
            f"`tolerance` must lie in (0, 1), got {tolerance!r}: it is the relative distance "
            "from a baseline that still counts as 'at' it; 0.25 is the default."
        )


def _optimizer_steps(model: Any) -> int:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def _as_epoch(epoch: int, logs: dict) -> Epoch:
    """One epoch's logs as a `lossbounds.logs.Epoch`, numbered from 1 as Keras prints it."""
    metrics = {key: float(value) for key, value in logs.items()
               if isinstance(value, numbers.Real) and not key.endswith("_vs_uniform")}
    return Epoch(number=epoch + 1, total=None, metrics=metrics, progress=None, target=None,
                 unit=None, seconds=None, time_per_unit=None, complete=True)


def loss_on_batch(model: Any, x: Any, y: Any, sample_weight: Any = None) -> float:
    """The loss `model.evaluate` reports on one batch, regularisation included.

    Runs the model in inference mode and ``model.compute_loss``, the code
    ``evaluate`` runs, without touching the model's metrics.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    x, y : array_like
        One batch of inputs and targets.
    sample_weight : array_like, optional

    Returns
    -------
    float

    Examples
    --------
    >>> import keras, numpy as np
    >>> from lossbounds.keras import loss_on_batch
    >>> head = keras.layers.Dense(1, kernel_initializer="zeros")
    >>> model = keras.Sequential([keras.Input((2,)), head])
    >>> model.compile(loss="mse")
    >>> loss_on_batch(model, np.ones((4, 2)), np.full(4, 2.0))  # predictions 0, targets 2
    4.0
    """
    _check_model(model)
    y_pred = model(x, training=False)
    value = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                               training=False)
    return float(keras.ops.convert_to_numpy(value))
