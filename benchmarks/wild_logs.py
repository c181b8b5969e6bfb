"""How check-log's diagnosis reads real training logs, against an expert's reading.

Each log in a wild-logs folder (by default ``../shared/wild_logs/`` next to the
repository, or ``tests/data/wild/``) is ``<id>.txt`` (what the user pasted),
``<id>.json`` (the transcribed values, the loss and K when the post gives
them) and ``<id>.expert.json`` (what an experienced practitioner says must be
reported, ``must_report``, and what would be wrong to claim,
``must_not_claim``, in a fixed vocabulary). This script runs what
``lossbounds check-log`` runs, ``read_keras_log`` then ``diagnose`` with the
loss and ``n_classes`` the JSON gives, maps the findings' kinds to the
expert's vocabulary (`VOCABULARY` below), and reports per log and in total:

* how many ``must_report`` items the diagnosis reports;
* how many ``must_not_claim`` items it claims.

Run from the repository root::

    python benchmarks/wild_logs.py                      # ../shared/wild_logs or tests/data/wild
    python benchmarks/wild_logs.py tests/data/wild --json
    python benchmarks/wild_logs.py --inferred           # also use the JSON's loss_inferred

The loss: the JSON's ``loss`` when it is a name lossbounds knows
(``"mse"``, ``"binary_crossentropy"``); a custom loss, a weighted sum or a
class with arguments is passed as no loss (trends only), as a user of
check-log without ``--loss`` would. With ``--inferred`` a null ``loss`` is
replaced by the first word of ``loss_inferred`` when it names a known loss
(a guess from the thread, not something the user typed).

Items the expert wrote as free text (``"claim: epoch 2 is a completed
epoch"``) are not in the vocabulary: they are listed as unscored and not
counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import lossbounds  # noqa: E402
from lossbounds.registry import get_loss  # noqa: E402

#: The expert's vocabulary (README of the wild logs).
EXPERT_KINDS = (
    "nan_or_inf", "rising_loss", "overfitting", "stuck", "at_chance", "worse_than_chance",
    "impossible_value", "mismatch", "regularisation_in_loss", "multi_output_inconsistency",
    "spike", "still_improving", "val_below_train", "healthy",
)

#: Finding kind -> the expert items it reports (or claims). Kinds not listed say
#: nothing in the expert's vocabulary: positions (``better_than_uniform``,
#: ``no_bounds``), how the log was read (``separate_runs``, ``cut_off``,
#: ``unknown_epochs``), ``levelled_off`` (converged after learning: the
#: expert's "not stuck"), ``above_ceiling`` (above the clipped worst case, and
#: how that is possible: no claim of impossibility) and ``perfect_accuracy``
#: (a warning, so no "healthy", but no item of the vocabulary).
#:
#: * A value at or above a baseline is a chance-level claim; a stuck level
#:   (at ln K, at the prior, at a clipping ceiling, at the double-softmax
#:   floor) is also a claim that training is stuck.
#: * ``growing_gap`` said "the first sign of overfitting": an overfitting claim.
#: * Anything that says the loss, its options or the metrics do not fit the
#:   model (``accuracy_vs_loss``, ``bce_on_multiclass``, ``double_softmax``,
#:   ``accuracy_on_regression``, a loss's own value flags) is a mismatch.
VOCABULARY: dict[str, tuple[str, ...]] = {
    "nan": ("nan_or_inf",),
    "inf": ("nan_or_inf",),
    "below_best": ("impossible_value",),
    "above_uniform": ("worse_than_chance",),
    "above_prior": ("worse_than_chance",),
    "at_uniform": ("at_chance", "stuck"),
    "at_prior": ("at_chance", "stuck"),
    "clipping_plateau": ("worse_than_chance", "stuck"),
    "double_softmax": ("mismatch", "stuck"),
    "rising_loss": ("rising_loss",),
    "overfitting": ("overfitting",),
    "growing_gap": ("overfitting",),
    "val_below_train": ("val_below_train",),
    "bce_on_multiclass": ("mismatch",),
    "accuracy_vs_loss": ("mismatch",),
    "accuracy_on_regression": ("mismatch",),
    "stuck": ("stuck",),
    "spike": ("spike",),
    "still_improving": ("still_improving",),
    "regularisation": ("regularisation_in_loss",),
    "multi_output_inconsistency": ("multi_output_inconsistency",),
    "healthy": ("healthy",),
}

#: Kinds defined by a loss's ``value_flags`` (MAPE at 100, ...) say the loss
#: does not fit the data: a mismatch. Everything else of severity "warning" or
#: "error" not in `VOCABULARY` maps to nothing.
VALUE_FLAG_VOCABULARY = ("mismatch",)


#: The kinds diagnose itself defines (its docstring table), so that any other
#: kind is known to come from a loss definition.
_DIAGNOSE_KINDS = {
    "nan", "inf", "below_best", "above_ceiling", "above_uniform", "clipping_plateau",
    "rising_loss", "at_uniform", "at_prior", "above_prior", "overfitting", "double_softmax",
    "bce_on_multiclass", "accuracy_vs_loss", "growing_gap", "val_below_train",
    "far_better_than_uniform", "better_than_uniform", "better_than_prior", "no_bounds",
    "stuck", "spike", "still_improving", "regularisation", "multi_output_inconsistency",
    "accuracy_on_regression", "healthy", "separate_runs", "cut_off", "unknown_epochs",
    "perfect_accuracy", "levelled_off",
}


def expert_items(findings: Iterable[Any]) -> set[str]:
    """The expert vocabulary items a list of findings reports.

    ``healthy`` is reported when nothing of severity "warning" or "error" is
    found (a diagnosis that finds nothing wrong calls the run healthy), or
    when a finding says so explicitly.
    """
    findings = list(findings)
    items: set[str] = set()
    for finding in findings:
        if finding.kind in VOCABULARY:
            items.update(VOCABULARY[finding.kind])
        elif finding.kind not in _DIAGNOSE_KINDS and finding.severity in ("warning", "error"):
            items.update(VALUE_FLAG_VOCABULARY)
    if not any(f.severity in ("warning", "error") for f in findings):
        items.add("healthy")
    return items


def _loss_name(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return get_loss(text.strip()).name
    except (TypeError, ValueError):
        return None


def log_setting(meta: dict[str, Any], inferred: bool) -> tuple[str | None, dict[str, Any]]:
    """The loss and options check-log would be given for this log."""
    loss = _loss_name(meta.get("loss"))
    if loss is None and inferred and isinstance(meta.get("loss_inferred"), str):
        loss = _loss_name(meta["loss_inferred"].split()[0])
    options: dict[str, Any] = {}
    k = meta.get("n_classes")
    # K as the post gives it, as `check-log -k K` would pass it (with or without --loss),
    # unless the loss takes no K.
    if isinstance(k, int) and (loss is None or "n_classes" in get_loss(loss).option_names()):
        options["n_classes"] = k
    return loss, options


def diagnose_text(text: str, loss: str | None, options: dict[str, Any]) -> list[Any]:
    """What check-log runs: read the log, then diagnose it."""
    log = lossbounds.read_keras_log(text)
    return lossbounds.diagnose(log, loss, **options)


def score(folder: Path, inferred: bool = False) -> dict[str, Any]:
    rows = []
    for expert_path in sorted(folder.glob("*.expert.json")):
        name = expert_path.name[: -len(".expert.json")]
        expert = json.loads(expert_path.read_text(encoding="utf-8"))
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        text = (folder / f"{name}.txt").read_text(encoding="utf-8")
        loss, options = log_setting(meta, inferred)
        try:
            findings = diagnose_text(text, loss, options)
            error = None
        except Exception as exc:  # a crash is a result too: nothing reported
            findings, error = [], f"{type(exc).__name__}: {exc}"
        items = expert_items(findings)
        must = [m["kind"] for m in expert["must_report"]]
        must_not = [m["kind"] for m in expert["must_not_claim"]]
        scored_must = [k for k in must if k in EXPERT_KINDS]
        scored_not = [k for k in must_not if k in EXPERT_KINDS]
        rows.append({
            "id": name,
            "loss": loss,
            "options": options,
            "error": error,
            "findings": [f"{f.severity}:{f.kind}" for f in findings],
            "items": sorted(items),
            "must_report": scored_must,
            "reported": [k for k in scored_must if k in items],
            "missed": [k for k in scored_must if k not in items],
            "must_not_claim": scored_not,
            "claimed": [k for k in scored_not if k in items],
            "unscored": [k for k in must + must_not if k not in EXPERT_KINDS],
        })
    total_must = sum(len(r["must_report"]) for r in rows)
    total_reported = sum(len(r["reported"]) for r in rows)
    total_claimed = sum(len(r["claimed"]) for r in rows)
    total_not = sum(len(r["must_not_claim"]) for r in rows)
    return {"folder": str(folder), "logs": len(rows), "must_report": total_must,
            "reported": total_reported, "must_not_claim": total_not,
            "claimed": total_claimed, "rows": rows}


def _default_folder() -> Path:
    for candidate in (ROOT.parent / "shared" / "wild_logs", ROOT / "tests" / "data" / "wild"):
        if candidate.is_dir():
            return candidate
    raise SystemExit("no wild-logs folder found: give one as an argument")


def _report(result: dict[str, Any]) -> str:
    lines = [f"{result['folder']}: {result['logs']} logs", ""]
    width = max(len(r["id"]) for r in result["rows"])
    lines.append(f"{'log':<{width}}  reported  claimed  missed / wrongly claimed")
    for r in result["rows"]:
        notes = []
        if r["missed"]:
            notes.append("missed " + ", ".join(r["missed"]))
        if r["claimed"]:
            notes.append("CLAIMED " + ", ".join(r["claimed"]))
        if r["error"]:
            notes.append("CRASH " + r["error"])
        lines.append(f"{r['id']:<{width}}  {len(r['reported']):>3}/{len(r['must_report']):<3}   "
                     f"{len(r['claimed']):>3}/{len(r['must_not_claim']):<3}  {'; '.join(notes)}")
    share = result["reported"] / result["must_report"] if result["must_report"] else 1.0
    lines += ["", f"must_report reported: {result['reported']} of {result['must_report']} "
                  f"({share:.0%})",
              f"must_not_claim claimed: {result['claimed']} of {result['must_not_claim']}"]
    unscored = sum(len(r["unscored"]) for r in result["rows"])
    if unscored:
        lines.append(f"(free-text items, not scored: {unscored})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="the wild-logs folder")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--inferred", action="store_true",
                        help="use loss_inferred when the JSON's loss is null")
    parser.add_argument("--verbose", "-v", action="store_true", help="list each log's findings")
    args = parser.parse_args(argv)
    result = score(args.folder or _default_folder(), inferred=args.inferred)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_report(result))
        if args.verbose:
            for r in result["rows"]:
                print(f"\n{r['id']} (loss={r['loss']}, {r['options']}): {', '.join(r['findings'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
