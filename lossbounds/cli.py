"""The ``lossbounds`` command line.

``lossbounds bounds LOSS [options]`` prints the bounds table (or JSON);
``lossbounds baseline LOSS [options]`` prints the uniform baseline alone;
``lossbounds explain VALUE LOSS [options]`` explains one loss value;
``lossbounds check-log FILE|- [--loss LOSS] [options]`` reads a Keras log and
prints an annotated table of its epochs and what `lossbounds.diagnose` finds.

Exit status: 0 on success, 1 when ``check-log`` finds something of severity
"error" (NaN, an impossible value, worse than guessing, a clipping plateau;
warnings such as a rising loss keep 0), 2 on a usage error. Errors print one
line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np

from . import __version__
from .bounds import baseline, bounds
from .diagnose import Diagnosis, LogColumns, diagnose, output_losses, read_columns
from .explain import explain
from .logs import TrainingLog, looks_like_metrics, read_keras_log
from .options import ENVIRONMENT, Option
from .registry import all_losses, available_losses
from .text import PLATEAU_ATOL, epoch_ranges
from .yardstick import Yardstick, all_plateaus, caches_logits, relative, yardstick

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

#: Longest table printed in full; longer logs show their first and last epochs.
MAX_ROWS = 60
#: Metrics shown besides loss and val_loss; the rest are named in a note.
MAX_METRIC_COLUMNS = 4


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class _UsageError(Exception):
    pass


_LOSS_HELP = "loss name, e.g. sparse_cce, categorical_crossentropy, bce, mse"


def _add_bounds_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("loss", help=_LOSS_HELP)
    _add_option_flags(parser)


def _flag_options(*, data: bool) -> list[Option]:
    """The options of every loss that have a flag: the loss options, or the prior's data."""
    found: dict[str, Option] = {}
    for loss in all_losses():
        options = loss.data_options if data else loss.bound_options + loss.keras_options
        for option in options:
            if option.flag is not None:
                found.setdefault(option.name, option)
    if not data:
        for option in ENVIRONMENT:  # the Keras configuration every loss shares
            found.setdefault(option.name, option)
    return list(found.values())


def _add_flags(parser: argparse.ArgumentParser, options: list[Option]) -> None:
    # Only the options given are passed on: each loss accepts its own (default=SUPPRESS).
    for option in options:
        assert option.flag is not None  # `_flag_options` keeps only the options with a flag
        names = [option.flag] + ([option.short] if option.short else [])
        if option.parse is None:
            parser.add_argument(*names, dest=option.name, action="store_true",
                                default=argparse.SUPPRESS, help=option.help)
        else:
            parser.add_argument(*names, dest=option.name, type=_parser_type(option),
                                metavar=option.metavar, default=argparse.SUPPRESS,
                                help=option.help)


def _parser_type(option: Option) -> Any:
    parse = option.parse
    if parse in (int, float, str):
        return parse  # argparse's own message: "invalid int value: 'x'"

    def convert(text: str) -> Any:
        try:
            return parse(text)  # type: ignore[misc]
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, "__name__", "value")  # argparse names it in errors
    return convert


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    _add_flags(parser, _flag_options(data=False))


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    _add_flags(parser, _flag_options(data=True))


def _all_flags() -> dict[str, str]:
    """Option name -> command-line flag, for every option that has one."""
    return {option.name: option.flag for option in _flag_options(data=False)
            + _flag_options(data=True) if option.flag is not None}


_FLAGS = _all_flags()
# Keras' own loss arguments: "a loss with from_logits=True" describes the user's Keras code,
# not a lossbounds call, so a bare mention of one stays as written.
_KERAS_ARGUMENTS = {option.name for loss in all_losses() for option in loss.keras_options}
# A call of the Python API in a message: "lossbounds.baseline('mse', n_classes=10)",
# "diagnose(log, 'mse', variance=V)".
_CALL_RE = re.compile(r"(?:lossbounds\.)?(?P<func>bounds|baseline|explain|diagnose|prior_baseline|"
                      r"best_case|worst_case)\((?P<args>[^()]{0,300})\)")
# "n_classes=K (--n-classes K)": the flag is there already.
_BOTH_RE = re.compile(r"\b[a-z_]{1,40}=[^\s,;()]{1,40} \((--[a-z][a-z0-9-]*(?: [A-Z]\w{0,2}\b)?)\)")
# "(variance=..., or --variance)"
_KEYWORD_OR_FLAG_RE = re.compile(r"\b[a-z_]{1,40}=\.\.\.,? or (--[a-z][a-z0-9-]*)")
_KEYWORD_RE = re.compile(r"(?<![\w.-])(?P<name>[a-z_]{1,40})=(?P<value>[^\s,;()]{1,40})")
_QUOTED_NAME_RE = re.compile(r"`(?P<name>[a-z_]{1,40})`")


def cli_words(text: str) -> str:
    """A message of the Python API as the command line says it: flags, not keywords.

    >>> cli_words("Example: lossbounds.baseline('sparse_cce', n_classes=10).")
    'Example: lossbounds baseline sparse_cce --n-classes 10.'
    >>> cli_words("pass n_classes=K (--n-classes K), the number of units")
    'pass --n-classes K, the number of units'
    >>> cli_words("as in diagnose(log, 'mse', variance=V)")
    'as in --loss mse --variance V'
    """
    text = _BOTH_RE.sub(lambda m: m.group(1), text)
    text = _KEYWORD_OR_FLAG_RE.sub(lambda m: m.group(1), text)
    text = _CALL_RE.sub(_call_words, text)
    text = _KEYWORD_RE.sub(lambda m: (f"{_FLAGS[m['name']]} {m['value']}"
                                      if m["name"] in _FLAGS and m["name"] not in _KERAS_ARGUMENTS
                                      else m.group(0)), text)
    return _QUOTED_NAME_RE.sub(lambda m: (_FLAGS[m["name"]] if m["name"] in _FLAGS
                                          else m.group(0)), text)


def _call_words(match: re.Match[str]) -> str:
    func = match["func"]
    words: list[str] = []
    for argument in (a.strip() for a in match["args"].split(",")):
        name, _, value = argument.partition("=")
        if value:
            words.append(f"{_FLAGS[name]} {value}" if name in _FLAGS else argument)
        elif argument[:1] in "'\"" and argument:
            loss = argument.strip("'\"")
            words.append(f"--loss {loss}" if func == "diagnose" else loss)
        elif func == "explain" and argument.lower() in ("value", "v"):
            words.append("VALUE")
    if func == "diagnose":
        return " ".join(words)
    command = {"prior_baseline": "bounds", "best_case": "bounds", "worst_case": "bounds"}.get(
        func, func)
    return " ".join(["lossbounds", command, *words])


def _options(args: argparse.Namespace) -> dict:
    """The loss options given on the command line."""
    names = {option.name for option in _flag_options(data=False) + _flag_options(data=True)}
    return {name: value for name, value in vars(args).items() if name in names}


def _json(value: Any) -> str:
    """Standard JSON (RFC 8259 has no Infinity or NaN): those numbers become "inf", "-inf", "nan"."""
    return json.dumps(_finite_json(value), indent=2, allow_nan=False)


def _finite_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(item) for item in value]
    return value


def _cmd_bounds(args: argparse.Namespace) -> int:
    result = bounds(args.loss, **_options(args))
    if args.json:
        print(_json(result.as_dict()))
    else:
        print(result)
    return EXIT_OK


def _cmd_baseline(args: argparse.Namespace) -> int:
    options = _options(args)
    value = baseline(args.loss, **options)
    if args.value:
        print(repr(value))
        return EXIT_OK
    ys = yardstick(args.loss, options)
    given = " ".join(_flag_text(name, v) for name, v in options.items())
    print(f"The uniform baseline of {ys.loss.name}{f' ({given})' if given else ''} is "
          f"{ys.loss.uniform_formula(ys.setting)} = {value!r}: "
          f"{ys.uniform_meaning()}. (--value prints the number alone.)")
    return EXIT_OK


def _flag_text(name: str, value: Any) -> str:
    flag = _FLAGS.get(name)
    if flag is None:
        return f"{name}={value!r}"
    if value is True:
        return flag
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f"{flag} {value}"


def _cmd_explain(args: argparse.Namespace) -> int:
    # The loss may come after VALUE, as in explain(value, loss), or as --loss.
    given = [name for name in (args.loss_name, args.loss) if name is not None]
    if len(given) != 1:
        problem = "the loss is missing" if not given else f"two losses given, {given[0]!r} and {given[1]!r}"
        raise _UsageError(f"lossbounds explain: {problem}: give one, after VALUE or as --loss "
                          "(e.g. lossbounds explain 0.1956 sparse_cce -k 10)")
    result = explain(args.value, given[0], **_options(args))
    print(_json(result.as_dict()) if args.json else cli_words(str(result)))
    return EXIT_OK


# --------------------------------------------------------------------------
# check-log


def _cmd_check_log(args: argparse.Namespace) -> int:
    plot = _plot_module() if args.plot else None  # fail before printing anything
    options = _options(args)
    if args.loss is None and set(options) - {"n_classes"}:
        given = ", ".join(_FLAGS.get(name, name) for name in options if name != "n_classes")
        raise _UsageError(
            f"lossbounds check-log: {given} belong{'s' if ',' not in given else ''} to a loss: "
            "give it with --loss (e.g. --loss mse --variance 2.5), or leave "
            f"{'it' if ',' not in given else 'them'} out")
    log, source = _read_log_argument(args.file)
    if not len(log):
        raise _UsageError(
            f"lossbounds: error: no Keras epochs found in {source} (expected model.fit "
            "output: lines like 'Epoch 1/10' and '... - loss: 0.1234')")
    findings = diagnose(log, args.loss, **options)
    ref = None if args.loss is None else yardstick(args.loss, options)
    status = EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK
    data = read_columns(log)
    skipped = [text for text in log.unparsed if looks_like_metrics(text)]
    if args.json:
        print(_json(_report(source, data, ref, findings, status, skipped)))
    else:
        print(_report_text(source, data, ref, findings, skipped))
    if plot is not None:
        _save_plot(plot, log, args.loss, options, args.plot)
    return status


def _read_log_argument(path: str) -> tuple[TrainingLog, str]:
    if path == "-":
        stream = sys.stdin
        if stream is None or stream.closed:
            raise _UsageError("lossbounds: error: standard input is closed: give a log file, "
                              "or pipe the output of model.fit into check-log -")
        # Bytes, decoded like a file: a pasted log may hold stray non-UTF-8 bytes.
        buffer = getattr(stream, "buffer", None)
        try:
            text = _decode(buffer.read()) if buffer is not None else stream.read()
        except OSError as error:
            raise _UsageError("lossbounds: error: cannot read standard input: "
                              f"{error.strerror or error}") from None
        return read_keras_log(text), "standard input"
    try:
        with open(path, "rb") as file:
            return read_keras_log(_decode(file.read(MAX_LOG_BYTES + 1))), path
    except OSError as error:
        raise _UsageError(
            f"lossbounds: error: cannot read {path!r}: {error.strerror or error}") from None


#: The largest log check-log reads (a million epochs of Keras output is ~200 MB).
MAX_LOG_BYTES = 256 * 2**20


def _decode(data: bytes) -> str:
    """A log's text: UTF-16/32 with a byte-order mark (a PowerShell redirect), else UTF-8."""
    if len(data) > MAX_LOG_BYTES:
        raise _UsageError(f"lossbounds: error: the log is larger than {MAX_LOG_BYTES >> 20} MiB; "
                          "give its last part (tail -c 100M train.log | lossbounds check-log -)")
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
                       (codecs.BOM_UTF8, "utf-8-sig")):
        if data.startswith(bom):
            return data.decode(codec, "replace")
    return data.decode("utf-8", "replace")


def _plot_module() -> Any:
    missing = "lossbounds: error: --plot needs matplotlib: python -m pip install matplotlib"
    try:
        import matplotlib
    except ImportError:
        raise _UsageError(missing) from None
    matplotlib.use("Agg")  # a command writes a file; it never opens a window
    try:
        from . import plot
    except ImportError as error:
        if (error.name or "").startswith("matplotlib"):
            raise _UsageError(missing) from None
        raise _UsageError("lossbounds: error: --plot is not available in this version "
                          "of lossbounds") from None
    return plot


def _save_plot(plot: Any, log: TrainingLog, loss: str | None, options: dict, path: str) -> None:
    # Without a loss name there are no bounds, so no options to pass.
    figure = plot.plot_history(log, loss=loss, **(options if loss is not None else {}))
    try:
        figure.savefig(path, dpi=100)
    except OSError as error:
        raise _UsageError(
            f"lossbounds: error: cannot write {path!r}: {error.strerror or error}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def _report(source: str, data: LogColumns, ref: Yardstick | None, findings: Diagnosis,
            status: int, skipped: list[str]) -> dict[str, Any]:
    """The JSON form of check-log's output."""
    uniform = _table_uniform(data, ref)
    epochs = []
    for row, number in enumerate(data.numbers):
        metrics = {name: float(column[row]) for name, column in data.columns.items()
                   if data.present[name][row]}
        loss = metrics.get("loss", math.nan)
        fraction = loss / uniform if uniform and math.isfinite(loss) else None
        epoch = {"epoch": int(number), "metrics": metrics, "fraction_of_uniform": fraction}
        if not data.complete[row]:
            epoch["cut_off"] = data.progress[row] or True
        if not data.known[row]:
            epoch["number_known"] = False
        epochs.append(epoch)
    return {
        "source": source,
        "loss": None if ref is None else ref.loss.name,
        "bounds": None if ref is None or ref.bounds is None else ref.bounds.as_dict(),
        "verdict": cli_words(findings.verdict),
        "runs": findings.runs,
        "epochs": epochs,
        "findings": [{**finding.as_dict(), "message": cli_words(finding.message)}
                     for finding in findings],
        "skipped": skipped,
        "exit_status": status,
    }


#: Width of check-log's text.
WIDTH = 100


def _report_text(source: str, data: LogColumns, ref: Yardstick | None,
                 findings: Diagnosis, skipped: list[str]) -> str:
    """The verdict first, then the findings, then the numbers."""
    count = data.numbers.size
    runs = f", {findings.runs} separate runs" if findings.runs > 1 else ""
    lines = [f"{source}: {count} epoch{'s' if count != 1 else ''}{runs}"]
    lines.extend(textwrap.wrap(cli_words(findings.verdict), width=WIDTH))
    lines.append("")
    if findings:
        lines.append("Findings, the most likely cause first:")
        for finding in findings:
            shown = _finding_text(finding)
            lines.append(textwrap.fill(shown, width=WIDTH, initial_indent="  ",
                                       subsequent_indent="      "))
            if finding.evidence:
                lines.append(textwrap.fill(f"evidence: {finding.evidence}", width=WIDTH,
                                           initial_indent="      ",
                                           subsequent_indent="      "))
    else:
        lines.append("Findings: none.")
    lines += ["", "The numbers:", _reference_line(ref)]
    lines.extend(_epoch_table(data, ref))
    if skipped:
        lines += ["", "Skipped text that looks like metrics (read into no epoch: check it "
                      "by eye):"]
        lines.extend(f"  {text}" for text in skipped[:MAX_SKIPPED])
        if len(skipped) > MAX_SKIPPED:
            lines.append(f"  ... and {len(skipped) - MAX_SKIPPED} more (see --json)")
    return "\n".join(lines)


#: Skipped lines shown in check-log's text; --json lists them all.
MAX_SKIPPED = 10


def _finding_text(finding: Any) -> str:
    """`str(finding)` without its evidence (printed on its own line), in flags."""
    where = f" ({epoch_ranges(finding.epochs)})" if finding.epochs else ""
    run = f" run {finding.run}" if finding.run is not None else ""
    return f"[{finding.severity}]{run} {finding.kind}{where}: {cli_words(finding.message)}"


def _reference_line(ref: Yardstick | None) -> str:
    if ref is None:
        return "loss: not given (--loss): no baselines to compare with"
    b = ref.bounds
    if b is None:
        return f"loss: {ref.loss.name}; bounds unknown without --n-classes"
    shown = " ".join(_flag_text(key, value) for key, value in b.options.items())
    parts = [f"best {b.best:.4g}"]
    if b.prior is not None:
        parts.append(f"prior {b.prior:.4g}")
    if b.uniform is not None:
        parts.append(f"uniform {ref.uniform_text()}")
    if math.isinf(b.worst):
        parts.append("worst unbounded")
    elif caches_logits(ref):
        # The one answer to "what is the highest loss?" that explain and the plots give too.
        parts.append(f"worst {b.worst:.4g} with clipped probabilities (unbounded in fit() on "
                     "TensorFlow with a softmax or sigmoid last layer)")
    else:
        parts.append(f"worst {b.worst:.4g}")
    return f"loss: {b.loss}" + (f" ({shown})" if shown else "") + ": " + ", ".join(parts)


def _table_uniform(data: LogColumns, ref: Yardstick | None) -> float | None:
    """The baseline the 'loss' column is compared with (none for multi-output models)."""
    if ref is None or ref.uniform is None or not ref.uniform > 0 or output_losses(data):
        return None
    return ref.uniform


def _epoch_table(data: LogColumns, ref: Yardstick | None) -> list[str]:
    """One row per epoch: loss, % of uniform, val_loss and gap, other metrics, notes."""
    uniform = _table_uniform(data, ref)
    others = [name for name in data.columns if name not in ("loss", "val_loss")]
    shown, hidden = others[:MAX_METRIC_COLUMNS], others[MAX_METRIC_COLUMNS:]
    header = ["epoch", "loss"]
    header += ["% uniform"] if uniform else []
    header += ["val_loss", "val - loss"] if "val_loss" in data.columns else []
    header += shown + ["note"]
    notes = _epoch_notes(data, ref, uniform)
    rows = []
    for i, number in enumerate(data.numbers):
        loss, val = _value(data, "loss", i), _value(data, "val_loss", i)
        row = [str(number), _cell(loss)]
        if uniform:
            row.append(f"{100 * loss / uniform:.1f}%" if _finite(loss) else "-")
        if "val_loss" in data.columns:
            row += [_cell(val), f"{val - loss:+.4f}" if _finite(loss) and _finite(val) else "-"]
        row += [_cell(_value(data, name, i)) for name in shown]
        rows.append(row + [", ".join(notes[i])])
    lines = _align([header] + _elide(rows))
    if hidden:
        lines.append(f"({len(hidden)} more metric(s) not shown: {', '.join(hidden)}; see --json)")
    return lines


def _value(data: LogColumns, name: str, row: int) -> float | None:
    """The metric at `row`; None where that epoch did not print it."""
    if name not in data.columns or not data.present[name][row]:
        return None
    return float(data.columns[name][row])


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _cell(value: float | None) -> str:
    """A value as Keras prints it: 4 decimals, or 4 digits after the point below 1e-3."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"


def _epoch_notes(data: LogColumns, ref: Yardstick | None, uniform: float | None) -> list[list[str]]:
    plateaus = all_plateaus() if ref is None else ref.plateaus
    notes: list[list[str]] = [[] for _ in data.numbers]
    for i, number in enumerate(data.numbers):
        if i and number <= data.numbers[i - 1]:
            notes[i].append("epoch numbers restart")
        if not data.complete[i]:
            notes[i].append(f"cut off at {data.progress[i]}" if data.progress[i] else "cut off")
        if not data.known[i]:
            notes[i].append("number unknown (no header)")
    for name in ("loss", "val_loss"):
        if name not in data.columns:
            continue
        values = data.columns[name]
        for i, value in enumerate(values):
            if math.isnan(value) and data.present[name][i]:
                notes[i].append(f"{name} NaN")
            elif any(abs(value - p.value) <= PLATEAU_ATOL for p in plateaus):
                notes[i].append(f"{name} at clipping plateau")
        # The lowest of the complete epochs: a cut-off epoch's value is a partial mean.
        usable = np.isfinite(values) & data.complete
        if usable.sum() >= 2:
            notes[int(np.nanargmin(np.where(usable, values, np.nan)))].append(f"lowest {name}")
    if uniform:
        for i, value in enumerate(data.columns["loss"]):
            where = relative(value, uniform) if math.isfinite(value) else None
            if where is not None and where >= 0:
                notes[i].append("at uniform" if where == 0 else "above uniform")
    return notes


def _elide(rows: list[list[str]]) -> list[list[str]]:
    if len(rows) <= MAX_ROWS:
        return rows
    keep = MAX_ROWS // 2
    gap = [["..."] + [""] * (len(rows[0]) - 2) + [f"{len(rows) - 2 * keep} epochs not shown"]]
    return rows[:keep] + gap + rows[-keep:]


def _align(table: list[list[str]]) -> list[str]:
    """Right-align every column but the last (the notes)."""
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]) - 1)]
    return [("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
            .rstrip() for row in table]


def _cmd_losses(args: argparse.Namespace) -> int:
    if args.json:
        print(_json(available_losses()))
        return EXIT_OK
    rows = [["name", "also", "options (a flag here, else a Python keyword)"]]
    for loss in all_losses():
        options = [option.flag or f"{option.name}=" for option in
                   loss.keras_options + loss.bound_options]
        rows.append([loss.name, ", ".join([loss.class_name, *loss.aliases]),
                     " ".join(options) or "-"])
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lossbounds",
        description="What a Keras loss value means: exact bounds and baselines.",
        epilog="Example: lossbounds bounds sparse_cce --n-classes 7",
    )
    parser.add_argument("--version", action="version", version=f"lossbounds {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    command = commands.add_parser(
        "bounds", help="best, uniform, prior and worst values of a loss",
        epilog="Example: lossbounds bounds sparse_cce --counts 900,90,10")
    _add_bounds_options(command)
    _add_data_options(command)
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command.set_defaults(run=_cmd_bounds)
    command = commands.add_parser("losses", help="the losses lossbounds knows, with their options")
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command.set_defaults(run=_cmd_losses)
    command = commands.add_parser("baseline", help="the uniform baseline (ln K for K classes)")
    _add_bounds_options(command)
    command.add_argument("--value", action="store_true",
                         help="print the number alone (for scripts)")
    command.set_defaults(run=_cmd_baseline)
    command = commands.add_parser(
        "explain", help="what a loss value means, in plain sentences",
        epilog="Example: lossbounds explain 0.1956 sparse_cce --n-classes 10")
    command.add_argument("value", type=float, metavar="VALUE", help="the loss value, e.g. 0.1956")
    command.add_argument("loss_name", nargs="?", metavar="LOSS", help=_LOSS_HELP + " (or --loss)")
    command.add_argument("--loss", "-l", help="the same, as an option")
    _add_option_flags(command)
    _add_data_options(command)
    command.add_argument("--json", action="store_true", help="print JSON instead of sentences")
    command.set_defaults(run=_cmd_explain)
    command = commands.add_parser(
        "check-log", help="read a Keras training log and say what it shows",
        epilog="Example: python train.py 2>&1 | lossbounds check-log - --loss sparse_cce -k 10")
    command.add_argument("file", metavar="FILE",
                         help="the printed output of model.fit, or - for stdin")
    command.add_argument("--loss", "-l", help=_LOSS_HELP + " (optional: without it, trends only)")
    _add_option_flags(command)
    _add_data_options(command)
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command.add_argument("--plot", metavar="OUT.png",
                         help="also save a plot of the curves with their baselines")
    command.set_defaults(run=_cmd_check_log)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    for stream in (sys.stdout, sys.stderr):
        # A console that cannot show "≠" or "²" (cp1252) shows "?" rather than losing the text.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        status = args.run(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return status
    except _UsageError as error:
        return _error(str(error))
    except (ValueError, TypeError) as error:
        return _error(f"lossbounds: error: {cli_words(str(error))}")
    except BrokenPipeError:  # `lossbounds ... | head`: stop quietly
        _silence_stdout()
        return EXIT_OK
    except OSError as error:  # writing the output failed: a full disk, a closed terminal
        _silence_stdout()
        return _error(f"lossbounds: error: cannot write the output: {error.strerror or error}")


def _error(message: str) -> int:
    """Print one line on stderr (if there is one) and return the usage status."""
    try:
        print(message.replace("\n", " "), file=sys.stderr)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_USAGE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
