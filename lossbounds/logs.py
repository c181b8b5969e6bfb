"""Read the progress text that Keras ``model.fit`` prints into epochs.

Keras has printed several formats over the years; all are read here:

========================  ==================================================
Keras version             final line of an epoch
========================  ==================================================
Keras 1, Keras 2.0        ``1213/1213 [=====] - 0s - loss: 0.1760``
TF 2.0-2.1 ``tf.keras``   ``1249/1249 [=====] - 0s 361us/sample - loss: ...``
TF >= 2.2, ``tf_keras``   ``32/32 [=====] - 0s 2ms/step - loss: 0.69 - ...``
Keras 3                   ``32/32 ━━━━━━━━━━ 1s 5ms/step - accuracy: ...``
verbose=2, Keras 1-2.0    ``0s - loss: 0.69``
verbose=2, Keras 2.1-2.2  ``- 0s - loss: 0.69`` (line starts with a space)
verbose=2, ``tf_keras``   ``32/32 - 0s - loss: 0.69 - 35ms/epoch - 4ms/step``
verbose=2, Keras 3        ``32/32 - 0s - 5ms/step - loss: 0.69``
========================  ==================================================

With ``verbose=1`` Keras rewrites one terminal line many times (``\\b`` and
``\\r``, plus ANSI colours in Keras 3); the last rewrite before the next
``Epoch N/M`` header holds the epoch's values.  Everything that is not Keras
progress (warnings, tracebacks, user prints, prose around a pasted log) is
kept in :attr:`TrainingLog.unparsed`.

Examples
--------
>>> log = read_keras_log('''
... Epoch 1/2
... 32/32 [==============================] - 0s 2ms/step - loss: 0.6931 - accuracy: 0.5000
... Epoch 2/2
... 32/32 [==============================] - 0s 1ms/step - loss: 0.5120 - accuracy: 0.7500
... ''')
>>> len(log)
2
>>> log.history()
{'loss': [0.6931, 0.512], 'accuracy': [0.5, 0.75]}
>>> log[1].number, log[1].unit, log[1].time_per_unit
(2, 'step', 0.001)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

__all__ = ["MAX_LOG_CHARS", "Epoch", "TrainingLog", "looks_like_metrics", "read_keras_log",
           "read_keras_log_file"]

#: Longest entry kept in :attr:`TrainingLog.unparsed`; longer text is clipped.
MAX_UNPARSED_CHARS = 200
#: Most entries kept in :attr:`TrainingLog.unparsed` (and in ``events``); a last
#: entry counts the rest, so that junk of any size costs little memory.
MAX_UNPARSED_ENTRIES = 1000
#: Most counters (``12/32``) read: about ten seconds of parsing. A longer log is
#: refused with a hint; a million progress updates is a thousand epochs of
#: verbose=1 output at a thousand steps each.
MAX_PROGRESS_UPDATES = 1_000_000
#: Longest text read (64 MiB): a longer log is refused with a hint, since reading
#: it would take minutes. Hundreds of epochs of verbose=1 progress fit in a few MiB.
MAX_LOG_CHARS = 2**26

# Every quantifier below is bounded ({m,n}) so that no pattern can backtrack
# quadratically on a long line; numbers use [0-9] so that int()/float() never
# meet a non-ASCII digit they would reject or misread.

# Terminal escapes: CSI (Keras 3 bold/colours "\x1b[1m"), OSC, and two-byte
# escapes; also SGR codes whose ESC byte was lost in a copy-paste ("[1m").
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]{0,32}[ -/]{0,8}[@-~]"
    r"|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?"
    r"|\x1b[@-_]?"
    r"|\[[0-9;]{0,16}m"
)

# Record separators: newlines, "\r" and the "\b" runs Keras writes to erase
# and redraw the progress line; every rewrite becomes its own record.
_RECORD_SEP_RE = re.compile(r"[\r\n\b\v\f\x1c-\x1e\x85\u2028\u2029]+")

# Anchors that start a piece of Keras output inside a record:
# "Epoch 3/10" (header, all versions), "Epoch 3: early stopping" or
# "Epoch 00003: val_loss improved ..." (callback notes), and a step/sample
# counter "32/32" or "7/Unknown" followed by something only a progress bar
# has after it (a bar, " - ", an elapsed time or a Keras 3 ETA).
_ANCHOR_RE = re.compile(
    r"(?P<header>Epoch[ \t]{1,8}(?P<h_num>[0-9]{1,9})[ \t]{0,3}/[ \t]{0,3}"
    r"(?P<h_tot>[0-9]{1,9}))(?![0-9/])"
    r"|(?P<note>Epoch[ \t]{1,8}[0-9]{1,9}:)"
    r"|(?<![\w/.])(?P<prog>[0-9]{1,12})/(?P<tgt>[0-9]{1,12}|Unknown)"
    r"(?=[ \t]{0,8}(?:[\[━=#█\ufffd]|-[ \t]|[0-9]{1,9}s\b|[0-9]{1,3}:[0-9]{2}))"
)

# The bar right after a counter: "[=====>....]" (Keras 1/2), "━━━━" (Keras 3),
# or "====" (Keras 3 on a console that cannot print "━"; at least 4 of them,
# so that prose like "1/2 = 0.5" is not a bar).
_BAR_RE = re.compile(
    r"[ \t]{0,8}(?:\[[=>.\-# ]{0,200}\]"
    r"|━[━=>.#█\ufffd]{0,199}"
    r"|[=#█\ufffd][━=>.#█\ufffd]{3,199})"
)

# "ETA: 3s" / "ETA: 1:02" on Keras 1/2 intermediate updates.
_ETA_RE = re.compile(r"ETA:[ \t]{0,4}[0-9]{1,9}(?::[0-9]{2}){0,2}s?")

# Time per unit: "361us/sample" (TF 2.0-2.1), "2ms/step", "1s/step",
# "35ms/epoch" (tf_keras verbose=2 also prints the epoch time, skipped).
_PER_UNIT_RE = re.compile(
    r"(?<![\w.])(?P<value>[0-9]{1,12}(?:\.[0-9]{1,12})?)[ \t]?"
    r"(?P<scale>us|µs|μs|ms|s)/(?P<unit>step|sample|epoch)\b"
)

# Elapsed whole seconds, "0s" / "12s"; not the "s" of "ms/step".
_ELAPSED_RE = re.compile(r"(?<![\w.:/])(?P<value>[0-9]{1,12})s(?![\w/])")

# A number as Python formats it: "0.1760", "1.2345e-04", "nan", "-inf"; up to
# 320 digits since f"{1e308:.4f}" has 309 before the point.
_NUMBER = (
    r"[-+]?(?:(?:[0-9]{1,320}(?:\.[0-9]{0,320})?|\.[0-9]{1,320})"
    r"(?:[eE][-+]?[0-9]{1,4})?|(?i:nan|inf(?:inity)?))"
)

# One " - name: value" pair; Keras always writes the " - " separator, which
# keeps prose such as "val_loss improved from 0.7 to 0.6" out.
_METRIC_RE = re.compile(
    r"(?:^|(?<=\s))-[ \t]{1,4}(?!ETA:)(?P<name>[^\W\d][\w.\-/]{0,99}):[ \t]{0,4}"
    r"(?P<value>" + _NUMBER + r")(?![\w.])"
)

# A verbose=2 line of Keras 1 ("0s - loss: ...") or Keras 2.0-2.2
# (" - 0s - loss: ..."): elapsed time then metrics, with no counter.
_SUMMARY_RE = re.compile(
    r"[ \t]{0,8}(?:-[ \t]{1,4})?[0-9]{1,9}s(?:[ \t]{1,4}[0-9]{1,12}(?:us|ms|s)/"
    r"(?:step|sample))?[ \t]{1,4}-[ \t]{1,4}[^\W\d]"
)

# What is left of a record once everything Keras printed is taken away, if it
# holds nothing but separators and padding, or the markers a paste adds around
# a log: markdown quotes ("> "), knitr's "## ", code fences.
_DEBRIS_RE = re.compile(r"[\s\->#`]*")

# The markers a paste puts in front of each line: markdown quotes ("> ",
# "> > "), knitr output ("## "), which hide a verbose=2 line's start.
_QUOTE_RE = re.compile(r"[ \t]{0,8}(?:[>#]{1,4}[ \t]{0,8}){1,4}")

# A header without "/M": Keras 0.x printed "Epoch 0", "Epoch 1", ... alone on a line.
_BARE_HEADER_RE = re.compile(r"[ \t]{0,8}(?:[>#]{1,4}[ \t]{0,8}){0,4}Epoch[ \t]{1,8}"
                             r"(?P<num>[0-9]{1,9})[ \t]{0,8}")

# How a wrapped progress line's second part starts: the rest of a metric name (or a
# whole " - name") and its colon, then a number.
_CONTINUATION_RE = re.compile(r"[ \t]{0,8}(?:-[ \t]{1,4})?[\w.\-/]{0,100}:[ \t]{0,4}"
                              r"[-+0-9.]|[ \t]{0,8}(?:-[ \t]{1,4})?[\w.\-/]{0,100}:[ \t]{0,4}(?i:nan|inf)")

# A pair that looks like a metric: what check-log shows when such text was skipped.
_METRIC_LIKE_RE = re.compile(
    r"(?i)(?:val|loss|acc|mae|mse|error|metric)[\w. ]{0,40}:[ \t]{0,4}[-+]?(?:[0-9]|nan|inf)")

_UNITS_PER_SECOND = {"us": 1e6, "µs": 1e6, "μs": 1e6, "ms": 1e3, "s": 1.0}


@dataclass(frozen=True)
class Epoch:
    """One epoch as Keras printed it.

    Parameters
    ----------
    number : int
        ``N`` of the ``Epoch N/M`` header; epochs without a header (Keras 3
        prints none when ``epochs=1``) are numbered 1, 2, ... in order.
    total : int or None
        ``M`` of the header, ``None`` without a header.
    metrics : Mapping[str, float]
        Every ``name: value`` of the epoch's final progress line, keys exactly
        as printed (``loss``, ``val_accuracy``, ``out_a_loss``, ...); ``nan``
        and ``inf`` are read as floats.  Stored read-only.
    progress : int or None
        Steps (or samples) done at the last update, e.g. 1213 in
        ``1213/1213``; ``None`` for verbose=2 lines without a counter.
    target : int or None
        The counter's denominator; ``None`` if unknown (``7/Unknown``).
    unit : str or None
        What the counter counts: ``"sample"`` (Keras 1/2.0, TF 2.0-2.1) or
        ``"step"`` (TF >= 2.2, Keras 3); ``None`` when the log does not tell.
    seconds : float or None
        Elapsed wall time of the epoch (``"2s"``), ``None`` if not printed or
        if the last update only shows an ETA.
    time_per_unit : float or None
        Seconds per step or sample: ``361us/sample`` is ``3.61e-4``.
    complete : bool
        ``progress == target``; ``False`` if the epoch was cut off.  verbose=2
        lines without a counter are printed at epoch end, so they are complete,
        and so is a ``60000/Unknown`` line with ``val_`` metrics (validation
        runs only once the epoch is over).
    number_known : bool
        Whether the log tells the number: ``False`` for lines before any
        ``Epoch N/M`` header and not followed by one (a paste that starts
        mid-run, or Keras 3 with ``epochs=1``), numbered 1, 2, ... in order.
        Headerless lines right before a header ``Epoch N/M`` are numbered
        N - 1, N - 2, ... (known).

    Examples
    --------
    >>> ep = Epoch(number=1, total=2, metrics={"loss": 0.5}, progress=3,
    ...            target=4, unit="step", seconds=None, time_per_unit=None,
    ...            complete=False)
    >>> ep.metrics["loss"]
    0.5
    >>> ep.metrics["loss"] = 1.0
    Traceback (most recent call last):
    ...
    TypeError: 'mappingproxy' object does not support item assignment
    """

    number: int
    total: int | None
    metrics: Mapping[str, float]
    progress: int | None
    target: int | None
    unit: str | None
    seconds: float | None
    time_per_unit: float | None
    complete: bool
    number_known: bool = True

    def __post_init__(self) -> None:
        # A read-only copy: epochs are shared values, like the log they come from.
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))


@dataclass(frozen=True)
class TrainingLog:
    """The epochs read from a Keras log, and the text that was not Keras's.

    Parameters
    ----------
    epochs : list of Epoch
        In the order printed.  An ``Epoch N/M`` header with no progress line
        after it (a run killed right at the header) gives no epoch.
    unparsed : list of str
        Every non-blank piece of text that was skipped: lines that are not
        Keras progress (warnings, tracebacks, prints, surrounding prose), text
        glued onto a progress line, and progress lines that belong to no
        ``fit`` epoch (e.g. ``evaluate`` output after the last epoch).  Each
        entry is whitespace-trimmed and clipped to
        :data:`MAX_UNPARSED_CHARS` characters.
    events : list of str
        The notes callbacks printed, as printed (clipped the same way):
        ``"Epoch 3: early stopping"``, ``"Epoch 4: ReduceLROnPlateau reducing
        learning rate to 0.0005."``, ``"Epoch 00001: val_loss improved from
        inf to 7.38003, saving model to ..."``. `lossbounds.diagnose` reads
        them.

    Notes
    -----
    A log of several ``fit`` calls lists all their epochs, so numbers may
    restart at 1; :meth:`history` then concatenates the runs.

    Examples
    --------
    >>> log = read_keras_log("hello\\nEpoch 1/1\\n4/4 - 0s - loss: 1.5000")
    >>> [ep.number for ep in log], log.unparsed
    ([1], ['hello'])
    >>> log[0].metrics["loss"], log[-1] is log[0]
    (1.5, True)
    """

    epochs: list[Epoch] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def history(self) -> dict[str, list[float]]:
        """Per-metric values over epochs, like ``keras.callbacks.History``.

        Returns
        -------
        dict of str to list of float
            Metrics in order of first appearance; an epoch that lacks a
            metric contributes ``nan``.

        Examples
        --------
        >>> log = read_keras_log("Epoch 1/2\\n1/1 - 0s - loss: 2.0000\\n"
        ...                      "Epoch 2/2\\n1/1 - 0s - loss: 1.0000"
        ...                      " - val_loss: 1.5000")
        >>> log.history()
        {'loss': [2.0, 1.0], 'val_loss': [nan, 1.5]}
        """
        names = list(dict.fromkeys(name for ep in self.epochs for name in ep.metrics))
        return {
            name: [ep.metrics.get(name, math.nan) for ep in self.epochs]
            for name in names
        }

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[Epoch]:
        return iter(self.epochs)

    @overload
    def __getitem__(self, index: int) -> Epoch: ...

    @overload
    def __getitem__(self, index: slice) -> list[Epoch]: ...

    def __getitem__(self, index: int | slice) -> Epoch | list[Epoch]:
        return self.epochs[index]


@dataclass
class _Record:
    """One progress update (one rewrite of the progress line)."""

    progress: int | None
    target: int | None
    metrics: dict[str, float]
    seconds: float | None
    time_per_unit: float | None
    unit: str | None
    shows_eta: bool
    has_bar: bool
    raw: str
    rest: str


@dataclass
class _Draft:
    """An epoch being assembled: its header and its updates so far."""

    number: int
    total: int | None
    last: _Record | None = None
    unit: str | None = None
    known: bool = True  # False: no header came before it


def read_keras_log(text: str | os.PathLike[str]) -> TrainingLog:
    """Parse what Keras ``fit`` printed into a :class:`TrainingLog`.

    Parameters
    ----------
    text : str or os.PathLike
        Captured or pasted output, in any Keras format (see the module
        docstring), with or without ``\\r``/``\\b`` rewrites, ANSI codes,
        interleaved warnings, or lost line breaks.  A path object
        (``pathlib.Path("train.log")``) is read as a file, as by
        :func:`read_keras_log_file`; a ``str`` is always the text itself.

    Returns
    -------
    TrainingLog
        The epochs found (possibly none) and the skipped text.

    Raises
    ------
    TypeError
        If `text` is neither a ``str`` nor a path (for instance ``bytes``).
    ValueError
        If `text` is a file name rather than log text: one line with no
        Keras progress in it that names an existing file or ends in a file
        extension (``"train.log"``).  The message says how to read the file.

    Notes
    -----
    What cannot be told from the text alone:

    * ``evaluate`` output printed right after ``fit`` with a bar as long as
      the training bar, only a final line and the same metric names is read
      as a redraw of the last epoch.  Other ``evaluate``/``predict`` bars go
      to ``unparsed``.
    * Keras 2.1-2.3 printed ``us/step`` while counting samples; ``unit`` is
      the word printed.  A verbose=2 ``N/M - 0s - loss: ...`` line with no
      time per unit gives ``unit=None`` (samples in TF 2.0-2.1, steps later).
    * Lines glued with no separator at all, where digits run together
      (``Epoch 1/201213/1213``), lose those epochs.
    * Without any header, each restart of the bar starts a new epoch numbered
      1, 2, ...; a headerless ``evaluate`` after a one-epoch Keras 3 ``fit``
      becomes a second epoch.

    Examples
    --------
    Keras 1 output pasted on one line still splits into epochs:

    >>> log = read_keras_log("Epoch 1/2 1213/1213 [======] - 0s - loss: 0.1760"
    ...                      " Epoch 2/2 1213/1213 [======] - 0s - loss: 0.1840")
    >>> [(ep.number, ep.total, ep.metrics["loss"], ep.unit) for ep in log]
    [(1, 2, 0.176, 'sample'), (2, 2, 0.184, 'sample')]

    Keras 3 through a terminal, where the last rewrite wins:

    >>> raw = ("\\r\\x1b[1m1/8\\x1b[0m \\x1b[32m━━\\x1b[0m 0s 3ms/step - loss: 0.9000"
    ...        "\\b\\b\\b\\r\\x1b[1m8/8\\x1b[0m \\x1b[32m━━━━\\x1b[0m 1s 2ms/step"
    ...        " - loss: 0.7000\\n")
    >>> ep = read_keras_log(raw)[0]
    >>> ep.number, ep.total, dict(ep.metrics), ep.progress, ep.complete, ep.seconds
    (1, None, {'loss': 0.7}, 8, True, 1.0)

    >>> read_keras_log(b"Epoch 1/1")
    Traceback (most recent call last):
    ...
    TypeError: text must be str, got bytes; decode it first, e.g. data.decode('utf-8', 'replace')

    A file name is not log text:

    >>> read_keras_log("train.log")
    Traceback (most recent call last):
    ...
    ValueError: text is 'train.log', which looks like a file name, ...: read the file with ...

    """
    if isinstance(text, os.PathLike):
        return read_keras_log_file(text)
    _check_text(text)
    builder = _LogBuilder()
    for record in _records(text):
        _read_record(record, builder)
    log = builder.finish()
    if not log.epochs and _is_file_name(text):
        name = text.strip()
        raise ValueError(
            f"text is {name!r}, which looks like a file name, not the text Keras printed: "
            f"read the file with read_keras_log_file({name!r}), or pass a path, "
            f"read_keras_log(pathlib.Path({name!r}))"
        )
    return log


def read_keras_log_file(path: str | os.PathLike[str]) -> TrainingLog:
    """Read a Keras log file and parse it.

    The file is read as UTF-8 with undecodable bytes replaced, or as UTF-16
    or UTF-32 where it starts with their byte-order mark (PowerShell's ``>``
    writes UTF-16). Line ends are kept as they are, since a bare ``\\r`` is
    meaningful in a captured progress bar.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    TrainingLog
        As from :func:`read_keras_log`.

    Raises
    ------
    TypeError
        If `path` is not a str or a path (a file descriptor number is refused).
    ValueError
        If the file cannot be read (missing, a folder, no permission), or is
        longer than :func:`read_keras_log` reads.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp, "fit.log")
    ...     _ = p.write_bytes(b"Epoch 1/1\\r\\n4/4 - 0s - loss: 0.25\\xff\\r\\n")
    ...     log = read_keras_log_file(p)
    >>> log[0].metrics["loss"], log.unparsed
    (0.25, ['�'])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a file name (str) or a path, got {type(path).__name__}: {path!r}. "
            "Hint: for a file already open, pass its text to read_keras_log(f.read())."
        )
    try:
        with open(path, "rb") as f:
            # At most 4 bytes a character: enough to tell a too-long log.
            data = f.read(4 * (MAX_LOG_CHARS + 1))
    except OSError as error:
        raise ValueError(
            f"cannot read the log file {os.fspath(path)!r}: {error.strerror or error}. "
            "Hint: check the path (relative paths start from the current folder)."
        ) from None
    return read_keras_log(_decode(data))


#: Byte-order marks and their codecs, longest first (UTF-32-LE's starts like UTF-16-LE's).
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig"))


def _decode(data: bytes) -> str:
    """The text of a log file's bytes: by its byte-order mark, else UTF-8 (errors replaced)."""
    codec = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    return data.decode(codec, errors="replace")


def looks_like_metrics(text: str) -> bool:
    """Does skipped text hold something like a metric (``val. loss: 0.0160``)?

    `lossbounds check-log` shows such text: values the reader could not place
    in an epoch, so that none are lost silently.

    Examples
    --------
    >>> looks_like_metrics("val. loss: 0.0160 - val. acc.: 0.9136"), looks_like_metrics("```")
    (True, False)
    """
    return bool(_METRIC_LIKE_RE.search(text))


def _check_text(text: object) -> None:
    """Raise a TypeError that says how to fix a non-``str`` argument, a ValueError for a huge one."""
    if isinstance(text, str):
        if len(text) > MAX_LOG_CHARS:
            raise ValueError(
                f"text is {len(text):,} characters long, more than the {MAX_LOG_CHARS:,} "
                "lossbounds reads (reading it would take minutes). Hint: pass the part that "
                "matters, such as the last epochs: text[-MAX_LOG_CHARS:] (or "
                "`tail -c 64M train.log`), or save the log with verbose=2, one line per epoch."
            )
        return
    kind = type(text).__name__
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"text must be str, got {kind}; decode it first, "
            "e.g. data.decode('utf-8', 'replace')"
        )
    raise TypeError(f"text must be str or a path, got {kind}")


_FILE_NAME_RE = re.compile(r"\S{0,4000}\.[A-Za-z][A-Za-z0-9]{0,7}")


def _is_file_name(text: str) -> bool:
    """One line that names an existing file, or reads like one (``runs/train.log``)."""
    name = text.strip()
    if not name or len(name) > 4096 or "\n" in name or "\r" in name:
        return False
    if _FILE_NAME_RE.fullmatch(name):
        return True
    try:
        return os.path.isfile(name)
    except (OSError, ValueError):  # a name the system cannot use (NUL, too long)
        return False


def _records(text: str) -> Iterator[str]:
    """Split the text into records: lines and progress-line rewrites."""
    plain = _ANSI_RE.sub("", text)
    pieces = _RECORD_SEP_RE.split(plain)
    separators = _RECORD_SEP_RE.findall(plain)
    previous: str | None = None
    for i, record in enumerate(pieces):
        if not record or record.isspace():
            continue
        # A line wrapped by a terminal or an editor: a progress line, then a line that only
        # completes its metrics. One line break in between, nothing else.
        if (previous is not None and separators[i - 1].replace("\r", "") == "\n"
                and _completes(previous, record)):
            previous = _joined(previous, record)
            continue
        if previous is not None:
            yield previous
        previous = record
    if previous is not None:
        yield previous


def _tail_metrics(record: str) -> tuple[int, str] | None:
    """(metrics found, leftover text) of a record's last progress update, or None."""
    anchors = list(_ANCHOR_RE.finditer(record))
    if anchors:
        last = anchors[-1]
        if not last.group("prog"):
            return None
        body = record[last.end():]
    else:
        quote = _QUOTE_RE.match(record)
        body = record[quote.end():] if quote else record
        if not _SUMMARY_RE.match(body):
            return None
    parsed = _parse_body(body, progress=None, target=None, raw=body)
    if parsed is None:
        return None
    return len(parsed.metrics), " ".join(w for w in parsed.rest.split() if w != "-")


def _joined(first: str, second: str) -> str:
    """The better of `first` and `second` joined as is (a terminal wrap) or with a space."""
    glued, spaced = first + second, first.rstrip() + " " + second.lstrip()
    a, b = _tail_metrics(glued), _tail_metrics(spaced)
    if a is None:
        return spaced
    if b is None:
        return glued
    return glued if (a[0], -len(a[1])) >= (b[0], -len(b[1])) else spaced


def _completes(first: str, second: str) -> bool:
    """Does `second` only continue the metrics of the progress line `first`?"""
    if len(second) > 2000 or not _CONTINUATION_RE.match(second) or _ANCHOR_RE.search(second):
        return False
    before = _tail_metrics(first)
    if before is None:
        return False
    joined = _tail_metrics(_joined(first, second))
    return joined is not None and joined[0] > before[0] and len(joined[1]) <= len(before[1])


def _read_record(record: str, builder: _LogBuilder) -> None:
    """Feed one record's headers, progress updates and junk to the builder."""
    # One anchor ahead, never the list of all: a line can hold millions.
    anchors = _ANCHOR_RE.finditer(record)
    anchor = next(anchors, None)
    _read_free_text(record[:anchor.start() if anchor else len(record)], builder)
    while anchor is not None:
        following = next(anchors, None)
        body = record[anchor.end():following.start() if following else len(record)]
        if anchor.group("header"):
            builder.header(int(anchor.group("h_num")), int(anchor.group("h_tot")))
            _read_free_text(body, builder)
        elif anchor.group("note"):
            # "Epoch 5: early stopping" and other callback notes: kept as events.
            builder.event(anchor.group("note") + body)
        else:
            builder.count_update()
            _read_counter(anchor, body, builder)
        anchor = following


def _read_free_text(text: str, builder: _LogBuilder) -> None:
    """Text outside a counter: a verbose=2 summary line (perhaps quoted), a bare
    Keras 0.x header, or junk."""
    bare = _BARE_HEADER_RE.fullmatch(text)
    if bare:
        builder.header(int(bare.group("num")), None)
        return
    record = None
    quote = _QUOTE_RE.match(text)
    body = text[quote.end():] if quote else text
    if _SUMMARY_RE.match(body):
        record = _parse_body(body, progress=None, target=None, raw=text)
    if record is None:
        builder.junk(text)
    else:
        builder.record(record)


def _read_counter(anchor: re.Match[str], body: str, builder: _LogBuilder) -> None:
    """A ``N/M`` counter and what follows it: one progress update, or junk."""
    target = anchor.group("tgt")
    raw = anchor.group(0) + body
    record = _parse_body(
        body,
        progress=int(anchor.group("prog")),
        target=None if target == "Unknown" else int(target),
        raw=raw,
    )
    if record is None:  # Nothing a progress bar prints: "3/4 - good".
        builder.junk(raw)
    else:
        builder.record(record)


def _parse_body(
    body: str, progress: int | None, target: int | None, raw: str
) -> _Record | None:
    """Read the bar, times and metrics after a counter into a record.

    Returns ``None`` if `body` holds none of them.  Text that none of them
    explains (e.g. a warning printed into the middle of the line) is kept in
    the record's ``rest``; `raw` is the whole update, kept in case it turns
    out not to belong to an epoch.
    """
    spans: list[tuple[int, int]] = []
    bar = _BAR_RE.match(body)
    if bar:
        spans.append(bar.span())
    metrics: dict[str, float] = {}
    head_end = len(body)
    for m in _METRIC_RE.finditer(body):
        metrics[m.group("name")] = _to_float(m.group("value"))
        spans.append(m.span())
        head_end = min(head_end, m.start())
    # Before the metrics, Keras 1/2 mark an ETA ("ETA: 3s"); otherwise "Ns" is
    # the elapsed time, or, on Keras 3 updates before the last, an unmarked ETA.
    eta = _ETA_RE.search(body, 0, head_end)
    elapsed = None if eta else _ELAPSED_RE.search(body, 0, head_end)
    spans.extend(m.span() for m in (eta, elapsed) if m)
    per_unit = list(_PER_UNIT_RE.finditer(body))
    spans.extend(m.span() for m in per_unit)
    if not spans:
        return None
    step = next((m for m in per_unit if m.group("unit") != "epoch"), None)
    finished = progress is None or target is None or progress >= target
    return _Record(
        progress=progress,
        target=target,
        metrics=metrics,
        seconds=float(elapsed.group("value")) if elapsed and finished else None,
        time_per_unit=_per_unit_seconds(step) if step else None,
        unit=step.group("unit") if step else None,
        shows_eta=eta is not None,
        has_bar=bar is not None,
        raw=raw,
        rest=_outside(body, spans),
    )


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    """The parts of `text` not covered by `spans`, joined by spaces."""
    pieces, pos = [], 0
    for start, end in sorted(spans):
        pieces.append(text[pos:start])
        pos = max(pos, end)
    pieces.append(text[pos:])
    return " ".join(pieces)


def _per_unit_seconds(m: re.Match[str]) -> float:
    """Seconds in a "361us/sample" match (division keeps 361e-6 exact)."""
    return float(m.group("value")) / _UNITS_PER_SECOND[m.group("scale")]


def _to_float(text: str) -> float:
    """A printed metric value as float; every NaN is ``math.nan`` itself, so
    that epochs read twice from the same log compare equal."""
    value = float(text)
    return math.nan if value != value else value


def _clip(text: str) -> str:
    """`text` cut to :data:`MAX_UNPARSED_CHARS` characters, marked with …."""
    if len(text) <= MAX_UNPARSED_CHARS:
        return text
    return text[: MAX_UNPARSED_CHARS - 1] + "…"


def _continues(prev: _Record, rec: _Record) -> bool:
    """Whether `rec` is a later rewrite of the same progress bar as `prev`.

    A bar only counts up, and keeps its target, except that an epoch with
    unknown length (``7/Unknown``) gets its target when it ends.  A full bar
    is redrawn only to add metrics: Keras 3 and tf_keras print the last step
    once more at epoch end, with the ``val_`` metrics; an ``evaluate`` bar of
    the same length without them is not a rewrite.
    """
    if prev.progress is None or rec.progress is None:
        return False  # verbose=2 summaries are one line per epoch.
    same_target = prev.target is None or rec.target == prev.target
    if prev.progress == prev.target and not rec.metrics.keys() >= prev.metrics.keys():
        return False
    return same_target and rec.progress >= prev.progress


def _epoch_unit(last: _Record, draft_unit: str | None, log_unit: str | None) -> str | None:
    """What the counter counts, from the epoch, else the log, else the style.

    Only Keras 1 and 2.0 ended an epoch with a bar, an elapsed time and no
    time per unit (``1213/1213 [===] - 0s - loss: ...``); they counted samples.
    A verbose=2 ``32/32 - 0s - loss: ...`` line without a time per unit may
    count samples (TF 2.0-2.1) or steps (TF 2.2-2.6), so it stays unknown.
    """
    unit = last.unit or draft_unit or log_unit
    keras_1_style = last.has_bar and last.seconds is not None and not last.shows_eta
    if unit is None and keras_1_style:
        unit = "sample"
    return unit


class _LogBuilder:
    """Groups progress updates into epochs as they arrive, in order."""

    def __init__(self) -> None:
        self.drafts: list[_Draft] = []
        self.current: _Draft | None = None
        self.unparsed: list[str] = []
        self.events: list[str] = []
        self.headers_seen = False
        self.dropped = 0  # skipped pieces beyond MAX_UNPARSED_ENTRIES
        self.updates = 0  # progress counters read
        # After the bar of a headed epoch restarts without a new header, the
        # updates are not fit's (evaluate/predict after fit): skip to the next header.
        self.orphaned = False

    def header(self, number: int, total: int | None) -> None:
        """An ``Epoch N/M`` line: close the epoch so far, open a new one."""
        self._close()
        self.current = _Draft(number, total)
        self.headers_seen = True
        self.orphaned = False

    def record(self, rec: _Record) -> None:
        """One progress update: update, start or leave an epoch."""
        if self.orphaned:
            self.junk(rec.raw)
            return
        if self.current is not None and self.current.last is not None:
            if not _continues(self.current.last, rec):
                if self.headers_seen:
                    self.orphaned = True
                    self.junk(rec.raw)
                    return
                self._close()
        if self.current is None:
            # No header (yet): Keras 3 prints none when epochs == 1.
            number = self.drafts[-1].number + 1 if self.drafts else 1
            self.current = _Draft(number, None, known=False)
        self.current.last = rec
        self.current.unit = self.current.unit or rec.unit
        self.junk(" ".join(word for word in rec.rest.split() if word != "-"))

    def count_update(self) -> None:
        """Count one progress counter; refuse a log with more than MAX_PROGRESS_UPDATES."""
        self.updates += 1
        if self.updates > MAX_PROGRESS_UPDATES:
            raise ValueError(
                f"the log holds more than {MAX_PROGRESS_UPDATES:,} progress updates "
                "(N/M counters), more than lossbounds reads (reading them would take "
                "minutes). Hint: pass the part that matters, such as the last epochs, or "
                "train with verbose=2, which prints one line per epoch."
            )

    def event(self, text: str) -> None:
        """A callback's note, such as ``Epoch 5: early stopping``."""
        if len(self.events) < MAX_UNPARSED_ENTRIES:
            self.events.append(_clip(" ".join(text.split())))

    def junk(self, text: str) -> None:
        """Keep a skipped, non-blank piece of text for ``unparsed`` (the first ones)."""
        if not _DEBRIS_RE.fullmatch(text):
            if len(self.unparsed) < MAX_UNPARSED_ENTRIES:
                self.unparsed.append(_clip(text.strip()))
            else:
                self.dropped += 1

    def finish(self) -> TrainingLog:
        """The log: every epoch that saw at least one progress update."""
        self._close()
        self._number_headerless()
        # A bar with no metrics and no "Epoch N/M" is not fit's: predict's bar, or
        # digits in binary junk that happen to read "3/7 -".
        for draft in [d for d in self.drafts if not d.known and d.last and not d.last.metrics]:
            self.drafts.remove(draft)
            self.junk(draft.last.raw if draft.last else "")
        log_unit = next((d.unit for d in self.drafts if d.unit), None)
        if self.dropped:
            self.unparsed.append(f"… and {self.dropped} more skipped pieces of text")
        return TrainingLog([_to_epoch(d, log_unit) for d in self.drafts], self.unparsed,
                           self.events)

    def _close(self) -> None:
        if self.current is not None and self.current.last is not None:
            self.drafts.append(self.current)
        self.current = None

    def _number_headerless(self) -> None:
        """Headerless epochs right before an ``Epoch N/M`` header are N-1, N-2, ..."""
        for i in range(len(self.drafts) - 1, 0, -1):
            after, before = self.drafts[i], self.drafts[i - 1]
            if after.known and not before.known and after.number - 1 >= 0:
                before.number, before.known = after.number - 1, True
                before.total = before.total or after.total


def _to_epoch(draft: _Draft, log_unit: str | None) -> Epoch:
    """The public :class:`Epoch` for a finished draft."""
    last = draft.last
    assert last is not None  # _close keeps only drafts with an update.
    # Validation runs once the epoch is over: a "60000/Unknown" line with val_ metrics ended it.
    complete = (last.progress is None or last.progress == last.target
                or (last.target is None and any(n.startswith("val_") for n in last.metrics)))
    return Epoch(
        number=draft.number,
        total=draft.total,
        metrics=last.metrics,
        progress=last.progress,
        target=last.target,
        unit=_epoch_unit(last, draft.unit, log_unit),
        seconds=last.seconds,
        time_per_unit=last.time_per_unit,
        complete=complete,
        number_known=draft.known,
    )
