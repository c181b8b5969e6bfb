"""Speed and memory of ``lossbounds.loss()`` against Keras eager, for every loss lossbounds supports.

Run from the repository root, in an environment with the ``test`` extra::

    python benchmarks/all_losses.py                # all 22 losses (~8 min): writes all_losses.md
    python benchmarks/all_losses.py --only hinge   # cases whose id contains "hinge", printed only

What it measures, for each case (loss, N x K; float32 inputs, class labels
int64, Keras' default options and ``sum_over_batch_size`` reduction):

* **lossbounds**: ``lossbounds.loss(name, y_true, y_pred)``, the reduced
  value, and the tracemalloc peak of one call (memory beyond the inputs);
* **Keras eager**: ``keras.losses.<Class>()(y_true, y_pred)`` on the same
  numpy arrays, on the TensorFlow backend.

Five cases are timed again with one weight a sample (``sample_weight``,
U(0, 2)): MSE, Huber and BCE on 10**7 x 1, CCE and sparse CCE on 10**6 x 10.

Shapes: 10**5 x 100 for every loss; 10**7 x 1 where a single column makes
sense (regression, Poisson, hinge, binary and segmentation losses); K = 10,
1000 and 32,000 at N x K of about 10**7 for the categorical ones (rows of
probabilities: cross-entropies, focal, generalised CE, categorical hinge, KL
divergence). Circle is O(N**2): 2000 embeddings of width 100. CTC: 1000
sequences of 50 frames over 30 classes, 10 labels each.

The method is run.py's, and so are its timing and machine helpers: each
library runs in its own subprocess on inputs regenerated from the same seed;
a time is the fastest of 3 to 25 calls (about 1.5 s of calls) after a
warm-up call. Read the speed-ups, which are steadier than the times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import fmt, gmean, machine, time_call  # noqa: E402  (run.py's helpers)

SEED = 20261122
F32 = np.float32
MEMORY_BOUND_MIB = 32


# --------------------------------------------------------------------------
# Inputs: the kinds tests/loss_table.py uses, made fast at scale


def probabilities(rng, n, k):
    """Rows of softmax(2 z), z standard normal: neither flat nor one-hot (as run.py)."""
    out = rng.standard_normal((n, k), dtype=F32)
    step = max(1, 2**22 // k)
    for start in range(0, n, step):
        block = out[start : start + step]
        block *= F32(2)
        block -= block.max(axis=1, keepdims=True)
        np.exp(block, out=block)
        block /= block.sum(axis=1, keepdims=True)
    return out


def onehot(rng, n, k):
    y = np.zeros((n, k), F32)
    y[np.arange(n), rng.integers(0, k, n)] = 1
    return y


def embeddings(rng, n, d, classes=100):
    """Labels (n,) and unit embeddings (n, d) scattered around one centre per class."""
    labels = rng.integers(0, classes, n)
    x = rng.standard_normal((classes, d))[labels] + rng.standard_normal((n, d))
    return labels, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(F32)


def sequences(rng, n, t, k, length):
    """Labels (n, length) in 1..k-1 (0 is the blank) and logits (n, t, k)."""
    return rng.integers(1, k, (n, length)), (2 * rng.standard_normal((n, t, k), dtype=F32))


INPUTS = {  # kind -> (rng, n, k) -> (y_true, y_pred)
    "values": lambda rng, n, k: (rng.standard_normal((n, k), F32), rng.standard_normal((n, k), F32)),
    "positive": lambda rng, n, k: (rng.uniform(0.5, 2.0, (n, k)).astype(F32),
                                   rng.uniform(0.0, 3.0, (n, k)).astype(F32)),
    "counts": lambda rng, n, k: (rng.poisson(rng.uniform(0, 5, (n, 1)), (n, k)).astype(F32),
                                 rng.uniform(0.0, 10.0, (n, k)).astype(F32)),
    "bits, probs": lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32), rng.random((n, k), F32)),
    "bits, scores": lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32),
                                       rng.uniform(-1, 1, (n, k)).astype(F32)),
    "signs, scores": lambda rng, n, k: (rng.choice(np.array([-1, 1], F32), (n, k)),
                                        rng.uniform(-1, 1, (n, k)).astype(F32)),
    "masks, probs": lambda rng, n, k: ((rng.random((n, k), F32) < 0.25).astype(F32), rng.random((n, k), F32)),
    "probs, probs": lambda rng, n, k: (probabilities(rng, n, k), probabilities(rng, n, k)),
    "one-hot, probs": lambda rng, n, k: (onehot(rng, n, k), probabilities(rng, n, k)),
    "labels, probs": lambda rng, n, k: (rng.integers(0, k, n), probabilities(rng, n, k)),
    "labels, unit embeddings": lambda rng, n, d: embeddings(rng, n, d),
    "labels, logits": lambda rng, n, tk: sequences(rng, n, *tk, length=10),
}

COLUMN = ((10**7, 1), (10**5, 100))
WIDE = ((10**5, 100),)
CATEGORICAL = ((10**6, 10), (10**5, 100), (10**4, 1000), (300, 32000))

LOSSES = {  # name -> (Keras class, input kind, shapes)
    "mean_squared_error": ("MeanSquaredError", "values", COLUMN),
    "mean_absolute_error": ("MeanAbsoluteError", "values", COLUMN),
    "mean_absolute_percentage_error": ("MeanAbsolutePercentageError", "positive", COLUMN),
    "mean_squared_logarithmic_error": ("MeanSquaredLogarithmicError", "positive", COLUMN),
    "huber": ("Huber", "values", COLUMN),
    "log_cosh": ("LogCosh", "values", COLUMN),
    "poisson": ("Poisson", "counts", COLUMN),
    "kl_divergence": ("KLDivergence", "probs, probs", CATEGORICAL),
    "cosine_similarity": ("CosineSimilarity", "values", WIDE),
    "hinge": ("Hinge", "bits, scores", COLUMN),
    "squared_hinge": ("SquaredHinge", "signs, scores", COLUMN),
    "categorical_hinge": ("CategoricalHinge", "one-hot, probs", CATEGORICAL),
    "binary_crossentropy": ("BinaryCrossentropy", "bits, probs", COLUMN),
    "categorical_crossentropy": ("CategoricalCrossentropy", "one-hot, probs", CATEGORICAL),
    "sparse_categorical_crossentropy": ("SparseCategoricalCrossentropy", "labels, probs", CATEGORICAL),
    "binary_focal_crossentropy": ("BinaryFocalCrossentropy", "bits, probs", COLUMN),
    "categorical_focal_crossentropy": ("CategoricalFocalCrossentropy", "one-hot, probs", CATEGORICAL),
    "categorical_generalized_cross_entropy": ("CategoricalGeneralizedCrossEntropy", "labels, probs",
                                              CATEGORICAL),
    "dice": ("Dice", "masks, probs", COLUMN),
    "tversky": ("Tversky", "masks, probs", COLUMN),
    "circle": ("Circle", "labels, unit embeddings", ((2000, 100),)),
    "ctc": ("CTC", "labels, logits", ((1000, (50, 30)),)),  # N, (T, K); 10 labels each
}


def shape_id(n, k) -> str:
    return f"{n}x{k[0]}x{k[1]}" if isinstance(k, tuple) else f"{n}x{k}"


#: Cases also timed with one weight a sample (U(0, 2), `sample_weight`): the weighted path.
WEIGHTED = ("mean_squared_error/10000000x1", "huber/10000000x1", "binary_crossentropy/10000000x1",
            "categorical_crossentropy/1000000x10", "sparse_categorical_crossentropy/1000000x10")

CASES = {f"{name}/{shape_id(n, k)}": (name, n, k, False)
         for name, (_, _, shapes) in LOSSES.items() for n, k in shapes}
CASES.update({f"{case_id}/weighted": (*CASES[case_id][:3], True) for case_id in WEIGHTED})


def make_inputs(case_id):
    """(y_true, y_pred, sample_weight or None) of a case, the same in every process."""
    name, n, k, weighted = CASES[case_id]
    y_true, y_pred = INPUTS[LOSSES[name][1]](np.random.default_rng(SEED), n, k)
    weight = np.random.default_rng(SEED + 1).uniform(0, 2, n).astype(F32) if weighted else None
    return y_true, y_pred, weight


# --------------------------------------------------------------------------
# The two libraries, each in its own process


def run_lossbounds(case_id, y_true, y_pred, weight):
    sys.path.insert(0, str(ROOT))
    import lossbounds

    name = CASES[case_id][0]
    seconds, value = time_call(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=weight))
    tracemalloc.start()
    lossbounds.loss(name, y_true, y_pred, sample_weight=weight)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"seconds": seconds, "value": value, "peak_mib": peak}


def run_keras(case_id, y_true, y_pred, weight):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    loss_object = getattr(keras.losses, LOSSES[CASES[case_id][0]][0])()
    seconds, value = time_call(lambda: float(loss_object(y_true, y_pred, sample_weight=weight)))
    return {"seconds": seconds, "value": value}


def spawn(peer: str, case_id: str) -> dict | None:
    """Run one peer on one case in a fresh process; "numpy-only" is lossbounds without its accelerator."""
    env = dict(os.environ, LOSSBOUNDS_ACCELERATOR="off" if peer == "numpy-only" else "on")
    worker = "lossbounds" if peer == "numpy-only" else peer
    process = subprocess.run([sys.executable, __file__, "--worker", worker, case_id],
                             capture_output=True, text=True, cwd=ROOT, env=env)
    if process.returncode != 0:
        print(f"  {peer} failed on {case_id}: {process.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(process.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Report


def table(results) -> list[str]:
    lines = ["| case | inputs | lossbounds ms | numpy only ms | Keras eager ms | speed-up | "
             "speed-up, numpy only | peak MiB | rel. diff |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case_id, (lb, numpy_only, ke) in results.items():
        name, _, _, weighted = CASES[case_id]
        cells = [f"`{case_id}`", LOSSES[name][1] + (", weights" if weighted else "")]
        cells += [fmt(run["seconds"] * 1e3) if run else "failed" for run in (lb, numpy_only, ke)]
        cells += [f"{ke['seconds'] / run['seconds']:.2g}x" if run and ke else "" for run in (lb, numpy_only)]
        cells.append(f"{lb['peak_mib']:.1f}" if lb else "")
        diff = abs(lb["value"] - ke["value"]) / max(1.0, abs(ke["value"])) if lb and ke else None
        cells.append("" if diff is None else f"{diff:.1e}")
        lines.append("| " + " | ".join(cells) + " |")
    means = [gmean([ke["seconds"] / run["seconds"] for run, ke in pairs if run and ke])
             for pairs in ([(lb, ke) for lb, _, ke in results.values()],
                           [(n, ke) for _, n, ke in results.values()])]
    lines.append(f"| **geometric mean** | | | | | **{means[0]:.2g}x** | **{means[1]:.2g}x** | | |")
    return lines


def flagged(results) -> list[str]:
    """The cases that matter: lossbounds slower than Keras eager, or above 32 MiB."""
    def slower(index):
        return [f"`{c}` ({runs[2]['seconds'] / runs[index]['seconds']:.2f}x)"
                for c, runs in results.items()
                if runs[index] and runs[2] and runs[index]["seconds"] > runs[2]["seconds"]]

    heavy = [f"`{c}` ({lb['peak_mib']:.1f} MiB)"
             for c, (lb, _, _) in results.items() if lb and lb["peak_mib"] > MEMORY_BOUND_MIB]
    failed = [f"`{c}`" for c, runs in results.items() if not all(runs)]
    lines = [f"- lossbounds (accelerator on) slower than Keras eager: {', '.join(slower(0)) or 'none'}",
             f"- lossbounds, numpy only, slower than Keras eager: {', '.join(slower(1)) or 'none'}",
             f"- lossbounds peak above {MEMORY_BOUND_MIB} MiB: {', '.join(heavy) or 'none'}"]
    if failed:
        lines.append(f"- failed: {', '.join(failed)}")
    return lines


def write_report(results, info, minutes) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return f"""# lossbounds.loss() against Keras eager, all losses

Written by `python benchmarks/all_losses.py` ({info['date']}, {minutes:.1f} minutes); numbers
from that run, not edited. Rerun the whole table with `python benchmarks/all_losses.py`,
or a subset (printed only) with `python benchmarks/all_losses.py --only <text in the case id>`.

lossbounds at commit {info['commit']}.
Machine: {info['cpu']}, {info['cores']} cores; {versions}.
Load average at start {info['load_start'][0]:.2f}, at end {info['load'][0]:.2f} (a shared machine:
expect 10-30 % noise in single times).

Each case is `loss/N x K` (CTC: `N x T x K`, 10 labels per sequence), float32 inputs,
class labels int64, Keras' default options. lossbounds is `lossbounds.loss(name, y_true, y_pred)`,
with its fused accelerator (numba, {info['versions'].get('numba', 'not installed')}) and with numpy only
(`LOSSBOUNDS_ACCELERATOR=off`); Keras eager is `keras.losses.<Class>()(y_true, y_pred)` on the
same numpy arrays (TensorFlow backend); all return the `sum_over_batch_size` value. Each runs in its own subprocess; a time
is the fastest of 3 to 25 calls after a warm-up call. "speed-up" is Keras' time over
lossbounds' (> 1: lossbounds is faster); "peak MiB" is the tracemalloc peak of one
`lossbounds.loss()` call beyond its inputs; "rel. diff" is
|lossbounds - Keras| / max(1, |Keras|) on the benchmark inputs.

Inputs (y_true, y_pred): "values" standard normal; "positive" U(0.5, 2) against U(0, 3);
"counts" Poisson counts against rates U(0, 10); "bits" 0/1, "signs" -1/+1, "masks" 0/1 with
1/4 foreground; "scores" U(-1, 1); "probs" U(0, 1) against bits and masks, otherwise rows of
softmax(2 z), z standard normal; "labels" class indices; circle's 2000 embeddings come from
100 classes. Cases ending `/weighted` pass one weight a sample, U(0, 2), as `sample_weight`
to both.

{chr(10).join(table(results))}

## Cases to look at

{chr(10).join(flagged(results))}
"""


def lossbounds_commit() -> str:
    """The commit of the lossbounds under test, "+changes" if its files differ from it (read-only git)."""
    def git(*args):
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("" if git("diff", "--quiet", "HEAD", "--", "lossbounds").returncode == 0
                                  else "+changes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("PEER", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--only", help="run only cases whose id contains this text; prints, writes nothing")
    args = parser.parse_args()
    if args.worker:
        peer, case_id = args.worker
        run = run_lossbounds if peer == "lossbounds" else run_keras
        print(json.dumps(run(case_id, *make_inputs(case_id))))
        return

    sys.path.insert(0, str(ROOT))
    import lossbounds

    supported = {entry["name"] for entry in lossbounds.available_losses()}
    if supported != set(LOSSES):
        sys.exit(f"LOSSES is out of date: missing {supported - set(LOSSES)}, extra {set(LOSSES) - supported}")
    info = machine()
    keep = ("python", "numpy", "numba", "keras", "tensorflow-cpu")
    info["versions"] = {"lossbounds": lossbounds.__version__, **{k: info["versions"][k] for k in keep}}
    info["load_start"] = info["load"]
    info["commit"] = lossbounds_commit()
    start = time.perf_counter()
    results = {}
    for case_id in CASES:
        if args.only and args.only not in case_id:
            continue
        lb, numpy_only, ke = results[case_id] = (
            spawn("lossbounds", case_id), spawn("numpy-only", case_id), spawn("keras", case_id))
        print(f"{case_id:52s} lossbounds {fmt(lb['seconds'] * 1e3) if lb else '-':>6} ms"
              f"  numpy only {fmt(numpy_only['seconds'] * 1e3) if numpy_only else '-':>6} ms"
              f"  keras {fmt(ke['seconds'] * 1e3) if ke else '-':>6} ms"
              f"  peak {lb['peak_mib'] if lb else float('nan'):5.1f} MiB", flush=True)
    minutes = (time.perf_counter() - start) / 60
    print("\n" + "\n".join(table(results) + [""] + flagged(results)))
    print(f"\n{len(results)} cases in {minutes:.1f} minutes")
    if not args.only:
        info["load"] = os.getloadavg()
        if lossbounds_commit() != info["commit"]:
            info["commit"] += f" (changed during the run, to {lossbounds_commit()}: rerun)"
        (HERE / "all_losses.md").write_text(write_report(results, info, minutes))
        print(f"wrote {HERE / 'all_losses.md'}")


if __name__ == "__main__":
    main()
