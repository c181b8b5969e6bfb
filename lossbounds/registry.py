"""Loss definitions: the one place where everything lossbounds knows about a loss lives.

A loss is a subclass of `LossDefinition`, registered with `register`. It
holds the names users type, its options, its reference formula and fast
kernels (through `LossDefinition.plan`), its bounds, and the words `explain`
and `diagnose` use for it. Everything above this module (`lossbounds.loss`,
the bound functions, `explain`, `diagnose`, the command line, the Keras
callback and the plots) asks the definition and never branches on a loss
name, as scipy.stats' distributions override a few hooks of ``rv_continuous``.

`get_loss` finds a definition by any of its names, case- and
separator-insensitively, and suggests the closest names for a typo.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .backends import BACKENDS, Backend, Semantics, get_backend, semantics
from .checks import EPSILON, to_array
from .engine import predictions, targets
from .options import BACKEND, ENVIRONMENT, EPSILON_OPTION, Option
from .text import Note

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from numpy.typing import ArrayLike

    from .engine import Plan

__all__ = [
    "LossDefinition",
    "Plateau",
    "Setting",
    "UndefinedBound",
    "accepted_names",
    "all_losses",
    "available_losses",
    "get_loss",
    "register",
]


class UndefinedBound(ValueError):
    """A bound that does not exist for this loss and these options; the message says why."""


@dataclass(frozen=True)
class Plateau:
    """A value a clipped loss reaches when every sample is confidently wrong."""

    value: float
    what: str  # where it comes from, in words


@dataclass(frozen=True)
class Setting:
    """A loss with its options checked and defaults filled in: what every hook receives.

    Attributes
    ----------
    loss : LossDefinition
    options : Mapping[str, object]
        Every option the call accepted, checked, with its default where not given.
    given : frozenset of str
        The options the caller passed explicitly.
    semantics : Semantics
        The backend, dtype, clip epsilon and logits setting.
    """

    loss: LossDefinition
    options: Mapping[str, Any]
    given: frozenset[str]
    semantics: Semantics

    def __getitem__(self, name: str) -> Any:
        return self.options[name]

    def get(self, name: str, default: Any = None) -> Any:
        """An option's value, or `default` where this loss has no such option."""
        return self.options.get(name, default)

    def replace(self, **changes: Any) -> Setting:
        """The same setting with some options changed (and checked again)."""
        merged = {name: self.options[name] for name in self.given}
        if self.options.get("n_classes") is not None:  # given, or read from the data
            merged["n_classes"] = self.options["n_classes"]
        return self.loss.setting({**merged, **changes}, allowed=tuple(self.options))


class LossDefinition:
    """Everything lossbounds knows about one Keras loss.

    Subclasses set the class attributes and override the hooks; the public
    functions validate the arguments against `options` and call the hooks
    with a checked `Setting`.

    Attributes
    ----------
    name : str
        Keras' function name (``"mean_squared_error"``): the canonical name.
    class_name : str
        Keras' class name (``"MeanSquaredError"``).
    aliases : tuple of str
        Other names: Keras' string aliases and the class's ``name`` (``"mse"``)
        and lossbounds' short forms (``"sparse_cce"``).
    title : str
        The loss in words, for people (``"mean squared error"``).
    keras_options : tuple of Option
        The options of the Keras loss function and class (``from_logits``, ...).
    bound_options : tuple of Option
        What else its bounds take (``n_classes``, ``y_range``, ...).
    data_options : tuple of Option
        What its prior baseline is computed from besides ``y_true``
        (``counts``, ``variance``, ...).
    function : callable
        The public per-sample function, ``lossbounds.<name>``.
    """

    name: ClassVar[str]
    class_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str]
    keras_options: ClassVar[tuple[Option, ...]] = ()
    bound_options: ClassVar[tuple[Option, ...]] = ()
    data_options: ClassVar[tuple[Option, ...]] = ()
    function: ClassVar[Callable[..., Any]]
    #: Integer predictions are accepted (and computed in float32), as Keras does for this loss.
    integer_predictions: ClassVar[bool] = False
    #: Where this loss's float64 differs from its backend's rule (`Backend.float64_rule`):
    #: backend name -> "exact", "float32" or "float32_inside", for float64 inputs to the
    #: function, and for a class with ``dtype="float64"``.
    float64_function: ClassVar[Mapping[str, str]] = {}
    float64_class: ClassVar[Mapping[str, str]] = {}
    #: Where this loss's values differ from TensorFlow's on another backend, in words:
    #: backend name -> a sentence for the docs' table ("Sparse labels >= K raise here;
    #: Keras silently returns 0."). Backends not listed compute TensorFlow's values
    #: (up to float rounding and the float64 rules).
    backend_differences: ClassVar[Mapping[str, str]] = {}
    #: Why a sample's value depends on the rest of its batch (hinge's batch-wide 0/1
    #: conversion, Dice's batch sums, Circle's pairs), or "" where it does not: then
    #: `lossbounds.loss` can compute it chunk by chunk (`lossbounds.chunks`).
    batch_wide: ClassVar[str] = ""
    #: Does legacy tf.keras 2.x (``backend="tf_keras"``) have this loss?
    in_tf_keras: ClassVar[bool] = True
    #: Arrays the function API takes besides `y_true`, `y_pred` and the options
    #: (Circle's reference embeddings), handed to the plan as given.
    function_arrays: ClassVar[tuple[str, ...]] = ()
    #: Boolean targets are accepted (cast to the prediction dtype).
    boolean_targets: ClassVar[bool] = True
    #: Hints for options this loss does not have, shown with the TypeError.
    option_hints: ClassVar[Mapping[str, str]] = {}
    #: Is it a probability loss (cross-entropy): are bits and perplexity meaningful?
    probabilistic: ClassVar[bool] = False
    #: What one term of the mean is: a "sample", or an "output" of a sample.
    per: ClassVar[str] = "sample"
    #: Is the uniform baseline needed to place a value (False: the prior will do, as for MSE)?
    uniform_needed: ClassVar[bool] = True
    #: Data options that, given, ask for the prior baseline (besides ``y_true``).
    prior_keys: ClassVar[tuple[str, ...]] = ()
    #: What the prior baseline is, in a few words ("label entropy").
    prior_name: ClassVar[str] = "best constant prediction"
    #: What predicting the prior means, to follow "the prior baseline 0.56, ...".
    prior_meaning: ClassVar[str] = "the loss of the best constant prediction"
    #: The activation of a last layer whose outputs this loss expects, by what it
    #: computes: "softmax" (rows that sum to 1), "sigmoid" (each in [0, 1]) or None.
    head: ClassVar[str | None] = None

    # -- names and options -------------------------------------------------

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every name this loss is found by."""
        return (cls.name, cls.class_name, *cls.aliases)

    @classmethod
    def option_names(cls, *, data: bool = False) -> tuple[str, ...]:
        """The options its bound functions take (with the prior's data options if `data`)."""
        options = cls.bound_options + cls.keras_options + ENVIRONMENT
        options += cls.data_options if data else ()
        return tuple(option.name for option in options)

    @classmethod
    def all_options(cls) -> tuple[Option, ...]:
        return cls.bound_options + cls.keras_options + ENVIRONMENT + cls.data_options

    def setting(self, options: Mapping[str, Any], *, allowed: Iterable[str] | None = None,
                caller: str | None = None, classes_from_data: bool = False) -> Setting:
        """Check `options` (a TypeError names the options this loss has) and fill defaults.

        With `classes_from_data`, an ``n_classes`` not given is read from the
        data where the loss can (the length of the class counts,
        `classes_in_data`), as `lossbounds.bounds` and `explain` do.
        """
        allowed = tuple(self.option_names(data=True) if allowed is None else allowed)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            close = [match for name in unknown
                     for match in difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)]
            raise TypeError(
                f"{self.name} has no option {', '.join(map(repr, unknown))}"
                + (f" in {caller}" if caller else "") + "."
                + (f" Did you mean {' or '.join(map(repr, close))}?" if close else "")
                + f" Its options are {', '.join(allowed) or 'none'}."
                + "".join(f" {self.option_hints[name]}" for name in unknown
                          if name in self.option_hints)
            )
        by_name = {option.name: option for option in self.all_options()}
        checked = {}
        for name in allowed:
            option = by_name[name]
            checked[name] = option.validate(options.get(name, option.default))
        found = semantics(checked.get("epsilon", EPSILON), checked.get("dtype", "float32"),
                          checked.get("backend", "tensorflow"), checked.get("from_logits", False))
        setting = Setting(self, MappingProxyType(checked), frozenset(options), found)
        if classes_from_data and "n_classes" in checked and checked["n_classes"] is None:
            k = self.classes_in_data(setting)  # K is the length of the class counts
            if k is not None:
                checked["n_classes"] = by_name["n_classes"].validate(k)
                setting = Setting(self, MappingProxyType(checked), frozenset(options), found)
        return setting

    # -- values ------------------------------------------------------------

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        """Checks of the inputs, then a kernel job or the reference (see `lossbounds.engine`).

        This is the value on the TensorFlow backend: `plan_on` with TensorFlow.
        A definition overrides `plan` (every backend computes TensorFlow's
        formula) or `plan_on` (some compute their own); `register` checks that
        it overrides one.
        """
        return self.plan_on(get_backend("tensorflow"), y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        """The plan on `backend`, for inputs `backend` has already cast (`Backend.function_inputs`).

        By default every backend computes TensorFlow's formula (`plan`); a loss
        whose backends compute different values overrides this and says where.
        """
        return self.plan(y_true, y_pred, dtype, **options)

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike, **options: Any) -> np.ndarray:
        """The per-sample losses, ``keras.losses.<name>(y_true, y_pred, **options)``."""
        by_name = {option.name: option
                   for option in self.keras_options + (EPSILON_OPTION, BACKEND)}
        arrays = {name: options.pop(name) for name in self.function_arrays if name in options}
        checked = {name: by_name[name].validate(value) for name, value in options.items()}
        backend = get_backend(checked.pop("backend", BACKEND.default))
        backend.require(self)
        prediction = predictions(y_pred, self.name, allow_int=self.integer_predictions)
        truth = targets(y_true) if self.boolean_targets else to_array(y_true, "y_true")
        given = prediction.dtype
        truth, prediction = backend.function_inputs(self, truth, prediction)
        values = self.plan_on(backend, truth, prediction, prediction.dtype,
                              **arrays, **checked).values()[0]
        return backend.function_result(self, values, given)

    def class_options(self, dtype: np.dtype) -> dict[str, Any]:
        """Extra arguments `plan` takes from Keras' class API (it casts labels, say)."""
        return {}

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        """The lowest value Keras can return for one sample."""
        raise NotImplementedError

    def worst(self, s: Setting) -> float:
        """The highest value Keras can return for one sample with a valid prediction."""
        raise NotImplementedError

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        """The loss of the natural know-nothing prediction; raise `UndefinedBound` if none.

        Most losses' uniform baseline depends on the options alone; a regression
        loss's (predicting 0) may depend on the targets `y_true`, when given.
        """
        raise UndefinedBound(f"{self.name} has no uniform baseline.")

    def prior(self, s: Setting, y_true: Any) -> float:
        """The loss of the best constant prediction, from `y_true` or the data options."""
        raise UndefinedBound(f"{self.name} has no prior baseline.")

    def classes_in_data(self, s: Setting) -> int | None:
        """K as the data options tell it (the length of the class counts), or None."""
        return None

    def notes(self, s: Setting) -> tuple[Note, ...]:
        """What the numbers do not say on their own."""
        return ()

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        """The uniform baseline as a formula (``"ln 10"``)."""
        return "uniform baseline"

    def uniform_meaning(self, s: Setting) -> str:
        """What the uniform baseline predicts, to follow it after a comma."""
        return "the loss of a know-nothing prediction"

    def uniform_missing(self, s: Setting) -> str:
        """Why the uniform baseline is not computed, and what to pass."""
        return f"{self.name} has no uniform baseline with these options"

    def misclassified_floor(self, s: Setting) -> float | None:
        """The least loss of a misclassified sample (None for non-classifiers)."""
        return None

    def double_softmax_floor(self, s: Setting) -> float | None:
        """The least loss a double softmax can reach, or None."""
        return None

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        """Values the loss sits at when every sample is confidently wrong."""
        return ()

    def flags(self, s: Setting) -> tuple[Note, ...]:
        """Warnings about the options themselves (a binary loss on K > 2 classes)."""
        return ()

    def options_from_output(self, shape: tuple[int | None, ...]) -> dict[str, Any]:
        """Bound options a model's output shape tells (batch axis first; None where unknown).

        `lossbounds.keras.bounds_for` asks it; the number of classes of a
        softmax head is read there already. CTC reads its frames and classes.
        """
        return {}

    @classmethod
    def predicts_values(cls) -> bool:
        """Are its targets real values (a regression loss), so that accuracy means nothing?

        `lossbounds.diagnose` asks it before judging an accuracy column. The
        default: a loss whose bounds take a target range (``y_range``) is a
        regression loss; a definition can say otherwise by overriding this.
        """
        return any(option.name == "y_range" for option in cls.bound_options)

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        """What a finite value reveals about its cause, in this loss's terms.

        For example, a mean absolute percentage error of exactly 100 means the
        model predicts 0. The code of each note becomes the flag's kind.
        """
        return ()

    def measures(self, value: float, prior: float | None) -> dict[str, float | None]:
        """The value in this loss's own units (bits, RMSE, ...), as `Explanation` fields."""
        return {}

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        """Sentences on what the value means in this loss's own terms.

        `numbers` are the `measures`; `marks` the yardsticks: ``"floor"`` (no
        sample costs less), ``"wrong"`` (no misclassified sample costs less),
        ``"prior"``, ``"uniform"`` and ``"error_rate_bound"``.
        """
        return []

    def choices(self, s: Setting) -> str:
        """What a perplexity counts, for "hesitates among about 3.2 ..."."""
        return "choices"

    def __repr__(self) -> str:
        return f"<loss {self.name}>"


_REGISTRY: dict[str, LossDefinition] = {}
_LOOKUP: dict[str, LossDefinition] = {}


@functools.lru_cache(maxsize=256)
def _fold(name: str) -> str:
    """Lower-case and drop separators: ``"Sparse-CCE"`` -> ``"sparsecce"``.

    Cached: every `loss()` call looks its name up (a regular expression
    costs 10 us when the caches are cold, as after a pass over a large input).
    """
    return re.sub(r"[\s_\-.]", "", name).lower()


def register(cls: type[LossDefinition]) -> type[LossDefinition]:
    """Class decorator: make a loss definition known by all its names."""
    if cls.plan is LossDefinition.plan and cls.plan_on is LossDefinition.plan_on:
        raise TypeError(f"{cls.__name__} must override plan or plan_on (each defaults to the "
                        "other)")
    definition = cls()
    for name in cls.names():
        folded = _fold(name)
        if folded in _LOOKUP and _LOOKUP[folded].name != cls.name:
            raise RuntimeError(f"loss name {name!r} is taken by {_LOOKUP[folded].name}")
        _LOOKUP[folded] = definition
    _REGISTRY[cls.name] = definition
    return cls


def available_losses() -> list[dict[str, Any]]:
    """Every supported loss: its names and the options its functions take.

    Returns
    -------
    list of dict
        One dict per loss: ``name`` (Keras' function name), ``class_name``,
        ``aliases``, ``title``, ``options`` (the Keras options, name to
        default), ``bound_options`` and ``data_options`` (names),
        ``backends`` (the backends whose Keras has it) and
        ``backend_differences`` (backend name to where its values differ
        from TensorFlow's, in words).

    Examples
    --------
    >>> import lossbounds
    >>> [loss["name"] for loss in lossbounds.available_losses()][:2]
    ['mean_squared_error', 'mean_absolute_error']
    """
    return [
        {"name": loss.name, "class_name": loss.class_name, "aliases": list(loss.aliases),
         "title": loss.title,
         "options": {option.name: option.default for option in loss.keras_options},
         "bound_options": [option.name for option in loss.bound_options],
         "data_options": [option.name for option in loss.data_options],
         "backends": [name for name in BACKENDS if get_backend(name).has_loss(loss)],
         "backend_differences": dict(loss.backend_differences)}
        for loss in all_losses()
    ]


def all_losses() -> tuple[LossDefinition, ...]:
    """Every registered loss, in the order they were defined."""
    return tuple(_REGISTRY.values())


def accepted_names() -> tuple[str, ...]:
    """Every name `get_loss` accepts, sorted."""
    return tuple(sorted({name for loss in all_losses() for name in loss.names()}))


def get_loss(loss: Any, argument: str = "loss") -> LossDefinition:
    """The definition of a loss, found by any of its names.

    Raises
    ------
    TypeError
        If `loss` is not a string.
    ValueError
        If the name is unknown; the message suggests the closest names.
    """
    if isinstance(loss, LossDefinition):
        return loss
    if not isinstance(loss, str):
        raise TypeError(
            f"`{argument}` must be a loss name (str), got {type(loss).__name__}: "
            f"{loss!r}. Accepted names: {', '.join(accepted_names())}."
        )
    found = _LOOKUP.get(_fold(loss))
    if found is None:
        names = accepted_names()
        folded = {_fold(n): n for n in names}
        close = difflib.get_close_matches(_fold(loss), list(folded), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(folded[c]) for c in close)}?" if close else ""
        raise ValueError(f"Unknown loss {loss!r} for `{argument}`.{hint} "
                         f"Accepted names: {', '.join(names)}. A custom loss has no known "
                         "bounds: diagnose its training log without a loss name (trends only).")
    return found

