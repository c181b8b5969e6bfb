"""How lossbounds writes numbers and notes: one place for every format.

Loss values are written as Keras would print them, derived numbers to four
significant digits, fractions as percentages or "N times", and epoch lists as
ranges. A `Note` is a sentence with a stable code, so programs can test for
it without searching the text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "BASELINE_RTOL", "FLOAT32_RTOL", "PLATEAU_ATOL", "PRINT_ATOL", "Note", "bound_value",
    "epoch_ranges", "for_python", "loss_value", "number", "percent", "printed", "share",
]

#: Half a unit of the 4th decimal Keras prints: how far a printed value can be
#: from the value Keras computed.
PRINT_ATOL = 5e-5
#: Relative rounding of a float32 mean of many per-sample losses.
FLOAT32_RTOL = 1e-6
#: ``at_uniform`` / ``at_prior``: within 1% of the baseline.
BASELINE_RTOL = 0.01
#: ``clipping_plateau``: within 1e-3 of a ceiling Keras can print.
PLATEAU_ATOL = 1e-3


class Note(str):
    """A note: its text (it is a `str`) with a stable `code` such as ``"cached_logits"``.

    `severity` says how a log's diagnosis reports it when a value shows it:
    ``"warning"`` (probably a problem) or ``"info"`` (how to read the value,
    such as a negative Poisson loss, which is normal).
    """

    code: str
    severity: str

    def __new__(cls, code: str, text: str, severity: str = "warning") -> Note:
        note = super().__new__(cls, text)
        note.code = code
        note.severity = severity
        return note

    def __reduce__(self) -> tuple[type[Note], tuple[str, str, str]]:
        return (Note, (self.code, str(self), self.severity))

    def as_dict(self) -> dict[str, str]:
        """``{"code": ..., "text": ...}``."""
        return {"code": self.code, "text": str(self)}


def loss_value(value: float) -> str:
    """A loss value as Keras would print it, without trailing zeros."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def printed(value: float) -> str:
    """A value as Keras prints it in a log (4 decimals, or a 4-decimal mantissa below
    1e-3), without trailing zeros: ``16771.4619``, ``0.33``, ``6.1347e-04``."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.4e}"
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# A command-line flag with its value's placeholder, as loss definitions mention them
# next to the keyword: "n_classes=K (--n-classes K)", "(variance=..., or --variance)".
_FLAG = r"--[a-z][a-z0-9-]*(?: [A-Z][A-Za-z]{0,2}\b)?"
_FLAG_ONLY = re.compile(r" ?\((?:" + _FLAG + r"[ ,]*)+\)")
_FLAG_FIRST = re.compile(r"\((?:" + _FLAG + r" ?)+; ")
_OR_FLAG = re.compile(r",? or " + _FLAG)


def for_python(text: str) -> str:
    """`text` without the command-line flags it mentions beside Python keywords.

    Messages of the Python API name keyword arguments (``n_classes=K``); the
    command line translates them to flags. Loss definitions sometimes name
    both, "n_classes=K (--n-classes K)": this keeps the keyword.

    >>> for_python("pass n_classes=K (--n-classes K), the number of units")
    'pass n_classes=K, the number of units'
    >>> for_python("pass the target variance (variance=..., or --variance) to compare")
    'pass the target variance (variance=...) to compare'
    """
    text = _FLAG_FIRST.sub("(", text)
    text = _FLAG_ONLY.sub("", text)
    return _OR_FLAG.sub("", text)


def number(value: float) -> str:
    """A derived number, 4 significant digits."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def bound_value(value: float) -> str:
    """A bound in a table: 7 significant digits, small values in scientific notation."""
    if math.isinf(value):
        return "inf (unbounded)" if value > 0 else "-inf (unbounded)"
    return f"{value:.7g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.6e}"


def percent(fraction: float) -> str:
    """``0.085`` -> ``"8.5%"``; 2 and above -> ``"23.3 times"``."""
    if fraction >= 2:
        return f"{fraction:.3g} times"
    value = 100 * fraction
    if value >= 10 or value == 0:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value >= 0.1 else f"{value:.2g}%"


def share(fraction: float) -> str:
    """"8.5% of" or "23.3 times", to stand before "the uniform baseline"."""
    text = percent(fraction)
    return text if text.endswith("times") else f"{text} of"


def epoch_ranges(epochs: Sequence[int]) -> str:
    """``(1, 2, 3, 7)`` -> ``"epochs 1-3, 7"``."""
    runs: list[list[int]] = []
    for epoch in epochs:
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(epoch)
        else:
            runs.append([epoch])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)
    return ("epoch " if len(epochs) == 1 else "epochs ") + text
