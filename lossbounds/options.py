"""The options losses share, declared once: name, default, check, help and command-line flag.

A loss definition lists the options it has (`lossbounds.registry.LossDefinition`);
the public functions accept exactly those, and the command line builds its
flags from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backends import DTYPES, get_backend
from .checks import (
    EPSILON,
    check_bool,
    check_epsilon,
    check_ignore_class,
    check_label_smoothing,
    check_n_classes,
    check_range,
)

__all__ = [
    "AXIS", "BACKEND", "COUNT", "COUNTS", "DTYPE", "ENVIRONMENT", "EPSILON_OPTION",
    "FROM_LOGITS",
    "IGNORE_CLASS", "LABEL_SMOOTHING", "MEAN", "N_CLASSES", "Option", "PRED_RANGE",
    "SAMPLE_WEIGHT", "VARIANCE", "Y_RANGE", "Y_TRUE", "parse_counts",
]


@dataclass(frozen=True)
class Option:
    """One option a loss (or its bounds) takes.

    Attributes
    ----------
    name : str
        The keyword argument, Keras' name where Keras has the option.
    default : object
        Its default, Keras' where Keras has one.
    check : callable
        Validates a value and returns it normalised; raises `TypeError` or
        `ValueError` naming the argument.
    help : str
        One line for the command line's ``--help`` and the docs.
    flag : str, optional
        The command-line flag (``"--n-classes"``); None where the command
        line does not take it.
    short : str, optional
        A one-letter alias of the flag (``"-k"``).
    parse : callable, optional
        Turns the flag's text into a value (``int``, ``float``); None for a
        switch (``--from-logits``).
    metavar : str, optional
        How ``--help`` shows the flag's value.
    """

    name: str
    default: Any
    check: Callable[[Any], Any]
    help: str
    flag: str | None = None
    short: str | None = None
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None

    def validate(self, value: Any) -> Any:
        """`check` the value; None stays None where None is the default (not given)."""
        return None if value is None and self.default is None else self.check(value)


def _unchecked(value: Any) -> Any:
    """For options checked where they are used (arrays, an axis against the input's rank)."""
    return value


def _check_dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", dtype)
    if isinstance(name, type):
        name = name.__name__
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(
            f"Unknown `dtype` {dtype!r}; expected one of {', '.join(map(repr, DTYPES))} "
            "(the dtype Keras computes the loss in; float32 unless you set it)."
        )
    return name


def parse_counts(text: str) -> list[float]:
    """``"900,100"`` -> ``[900.0, 100.0]``, for ``--counts``."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"expected comma-separated class counts such as 900,100, got {text!r}") from None


FROM_LOGITS = Option("from_logits", False, lambda v: check_bool(v, "from_logits"),
                     "the model outputs logits", flag="--from-logits")
LABEL_SMOOTHING = Option("label_smoothing", 0.0, check_label_smoothing,
                         "Keras label smoothing in [0, 1] (default 0)",
                         flag="--label-smoothing", parse=float, metavar="A")
AXIS = Option("axis", -1, _unchecked, "the class (or averaged) axis")
IGNORE_CLASS = Option("ignore_class", None, check_ignore_class,
                      "a label value left out of the loss (padding)")
N_CLASSES = Option("n_classes", None, lambda v: check_n_classes(v, minimum=1),
                   "number of classes K", flag="--n-classes", short="-k", parse=int,
                   metavar="K")
Y_RANGE = Option("y_range", None, lambda v: check_range(v, "y_range"),
                 "(low, high) range of the targets")
PRED_RANGE = Option("pred_range", None, lambda v: check_range(v, "pred_range"),
                    "(low, high) range of the predictions")
EPSILON_OPTION = Option("epsilon", EPSILON, check_epsilon, "Keras clip epsilon (default 1e-7)",
                        flag="--epsilon", parse=float, metavar="E")
DTYPE = Option("dtype", "float32", _check_dtype,
               "Keras compute dtype: float16, float32 or float64 (default float32)",
               flag="--dtype", parse=str, metavar="DTYPE")
BACKEND = Option("backend", "tensorflow", lambda v: get_backend(v).name,
                 "tensorflow, jax, torch, numpy or tf_keras (default tensorflow)",
                 flag="--backend", parse=str, metavar="B")
#: The Keras configuration every loss is computed under.
ENVIRONMENT = (EPSILON_OPTION, DTYPE, BACKEND)

Y_TRUE = Option("y_true", None, _unchecked, "the targets, for the prior baseline")
SAMPLE_WEIGHT = Option("sample_weight", None, _unchecked, "weights of the targets `y_true`")
COUNTS = Option("counts", None, _unchecked,
                "class counts, for the prior baseline (for bce: negatives,positives)",
                flag="--counts", parse=parse_counts, metavar="N0,N1,...")
COUNT = Option("count", None, _unchecked, "number of targets (sufficient statistics)")
MEAN = Option("mean", None, _unchecked, "mean of the targets (sufficient statistics)")
VARIANCE = Option("variance", None, _unchecked,
                  "variance of the targets: the prior baseline, and R² = 1 - loss / V",
                  flag="--variance", parse=float, metavar="V")
