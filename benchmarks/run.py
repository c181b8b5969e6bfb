"""Speed and memory of lossbounds against Keras 3 (eager and XLA), torch and sklearn.

Run from the repository root, in an environment with the ``test`` extra
(torch and scikit-learn are optional; missing peers are left blank)::

    python benchmarks/run.py                  # everything (~15 min): writes results.md, results.png
    python benchmarks/run.py --only scce/logits --peers lossbounds   # a subset, printed only

What it measures, for each case (loss, prediction kind, N x K, all float32,
labels int64, one-hot and binary targets float32):

* **read-once floor**: the fastest pure-numpy pass that reads every input
  once (``np.sum`` or ``np.max`` over each, on one or two threads): the
  memory-bound floor as numpy sees it. It is timed in turn with the
  lossbounds calls, so that both see the same machine load.
* **lossbounds**: ``lossbounds.loss(name, y_true, y_pred, **options)``, the
  reduced value (Keras' default ``sum_over_batch_size``), and the per-sample
  function (``lossbounds.sparse_categorical_crossentropy(...)`` etc.), with
  the tracemalloc peak of the reduced call.
* **Keras eager**: ``keras.losses.<Class>(**options)(y_true, y_pred)`` on the
  same numpy arrays; **Keras XLA**: the same call inside
  ``tf.function(jit_compile=True)`` (compiled in the warm-up call).
* **torch** (2 threads; ``torch.nn.functional``, the formula Keras' torch
  backend uses) and **sklearn** ``log_loss`` (probabilities only; skipped
  above 10**8 elements, where it needs several GB).

Each library runs in its own subprocess (clean memory, no shared thread
pools), on inputs regenerated from the same seed. A time is the fastest of
3 to 25 calls (about 1.5 s of calls; 1 call above 4 s) after a warm-up call,
for every library alike: on a shared machine other processes only add time,
so the fastest call is the least disturbed (timeit's advice). Expect 10-30 %
run-to-run variation all the same, and read the ratios, which are more stable
than the times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20261122
EPS = 1e-7

# (loss, kind, N, K)
CASES = [
    (loss, kind, n, k)
    for n, k in ((10**6, 10), (10**5, 1000), (10**4, 32000), (10**7, 2))
    for loss in ("scce", "cce")
    for kind in ("probs", "logits")
] + [
    (loss, kind, n, k)
    for n, k in ((10**7, 1), (10**5, 100))
    for loss, kind in (("bce", "probs"), ("bce", "logits"), ("mse", "values"))
]
PEERS = ("lossbounds", "keras", "keras_xla", "torch", "sklearn")
NAMES = {
    "scce": ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    "cce": ("categorical_crossentropy", "CategoricalCrossentropy"),
    "bce": ("binary_crossentropy", "BinaryCrossentropy"),
    "mse": ("mean_squared_error", "MeanSquaredError"),
}


def case_id(case) -> str:
    loss, kind, n, k = case
    return f"{loss}/{kind}/{n}x{k}"


def parse_case(text: str):
    loss, kind, shape = text.split("/")
    n, k = shape.split("x")
    return loss, kind, int(n), int(k)


# --------------------------------------------------------------------------
# Inputs


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    """Softmax of float32 logits, a block of rows at a time (no N x K float64 temporaries)."""
    out = np.empty_like(z)
    step = max(1, 2**22 // z.shape[1])
    for start in range(0, len(z), step):
        block = z[start : start + step]
        e = np.exp(block - block.max(axis=1, keepdims=True))
        out[start : start + step] = e / e.sum(axis=1, keepdims=True)
    return out


def make_inputs(case):
    """(y_true, y_pred, options) for a case, the same in every process."""
    loss, kind, n, k = case
    rng = np.random.default_rng(SEED)
    if loss in ("scce", "cce"):
        z = rng.standard_normal((n, k), dtype=np.float32)
        z *= np.float32(2.0)  # softmax neither flat nor one-hot
        labels = rng.integers(0, k, n)
        y_pred = z if kind == "logits" else _softmax_rows(z)
        if loss == "cce":
            y_true = np.zeros((n, k), np.float32)
            y_true[np.arange(n), labels] = 1
        else:
            y_true = labels
        return y_true, y_pred, {"from_logits": kind == "logits"}
    if loss == "bce":
        y_true = rng.integers(0, 2, (n, k)).astype(np.float32)
        if kind == "logits":
            y_pred = rng.standard_normal((n, k), dtype=np.float32)
        else:
            y_pred = rng.random((n, k), dtype=np.float32)
        return y_true, y_pred, {"from_logits": kind == "logits"}
    y_true = rng.standard_normal((n, k), dtype=np.float32)
    y_pred = rng.standard_normal((n, k), dtype=np.float32)
    return y_true, y_pred, {}


# --------------------------------------------------------------------------
# Timing


def repeats_for(first: float) -> int:
    """Timed calls for a call that took `first` seconds: about 1.5 s of them, 3 to 25 (1 above 4 s)."""
    return 1 if first > 4 else max(3, min(25, math.ceil(1.5 / first)))


def time_call(call) -> tuple[float, float]:
    """(fastest seconds, value) of `repeats_for` calls after a warm-up call.

    The minimum, as timeit advises: on this shared machine other processes
    only ever add time, so the fastest call is the one least disturbed.
    """
    start = time.perf_counter()
    value = call()
    first = time.perf_counter() - start
    repeats = repeats_for(first)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return float(min(times)), float(value)


def read_once_calls(arrays):
    """The ways numpy can read every input once: np.sum or np.max over each, on 1 or 2 threads."""
    calls = {}
    for reduce in (np.sum, np.max):
        def one_thread(reduce=reduce):
            for a in arrays:
                reduce(a)

        def two_threads(reduce=reduce):
            def half(i):
                for a in arrays:
                    m = len(a) // 2
                    reduce(a[:m] if i == 0 else a[m:])
            helper = threading.Thread(target=half, args=(1,))
            helper.start()
            half(0)
            helper.join()

        calls[f"{reduce.__name__}/1"] = one_thread
        calls[f"{reduce.__name__}/2"] = two_threads
    return calls


def time_interleaved(calls: dict) -> dict:
    """Fastest seconds of each call, timed in turn (floor and loss see the same machine load)."""
    for call in calls.values():
        call()
    start = time.perf_counter()
    next(iter(calls.values()))()
    first = time.perf_counter() - start
    repeats = repeats_for(first)
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(min(t)) for name, t in times.items()}


# --------------------------------------------------------------------------
# Peers (each runs in its own process)


def run_lossbounds(case, y_true, y_pred, options):
    sys.path.insert(0, str(ROOT))
    import lossbounds

    loss, _, _, _ = case
    name = NAMES[loss][0]
    function = getattr(lossbounds, name)
    reads = read_once_calls([y_true, y_pred])
    fastest = min(reads, key=lambda key: time_call(lambda: reads[key]() or 0.0)[0])
    # the floor, loss() and the per-sample function in turn: the same load for all three
    times = time_interleaved({
        "loss": lambda: lossbounds.loss(name, y_true, y_pred, **options),
        "floor": reads[fastest],
        "fn": lambda: function(y_true, y_pred, **options),
    })
    value = lossbounds.loss(name, y_true, y_pred, **options)
    tracemalloc.start()
    lossbounds.loss(name, y_true, y_pred, **options)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"floor": times["floor"], "floor_method": fastest, "seconds": times["loss"],
            "value": float(value), "fn_seconds": times["fn"], "peak_mib": peak}


def run_keras(case, y_true, y_pred, options, xla=False):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    loss_object = getattr(keras.losses, NAMES[case[0]][1])(**options)
    if xla:
        compiled = tf.function(lambda a, b: loss_object(a, b), jit_compile=True)
        call = lambda: float(compiled(y_true, y_pred))  # noqa: E731
    else:
        call = lambda: float(loss_object(y_true, y_pred))  # noqa: E731
    seconds, value = time_call(call)
    return {"seconds": seconds, "value": value}


def run_torch(case, y_true, y_pred, options):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    loss, kind, _, _ = case
    t, p = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    logits = options.get("from_logits", False)

    def call():
        if loss == "mse":
            return F.mse_loss(p, t)
        if loss == "bce":
            if logits:
                return F.binary_cross_entropy_with_logits(p, t)
            return F.binary_cross_entropy(p.clamp(EPS, 1 - EPS), t)
        if logits:
            return F.cross_entropy(p, t)  # class indices or one-hot probabilities
        # Keras' torch backend: normalise, clip, log
        q = (p / p.sum(dim=1, keepdim=True)).clamp(EPS, 1 - EPS).log()
        if loss == "scce":
            return F.nll_loss(q, t)
        return -(t * q).sum(dim=1).mean()

    with torch.no_grad():
        seconds, value = time_call(lambda: float(call()))
    return {"seconds": seconds, "value": value}


def run_sklearn(case, y_true, y_pred, options):
    from sklearn.metrics import log_loss

    loss, kind, n, k = case
    if kind != "probs" or loss == "mse" or n * k > 10**8 or (loss == "bce" and k > 1):
        return None  # logits, regression, multi-label, or several GB of float64 copies
    if loss == "bce":
        call = lambda: log_loss(y_true.ravel(), y_pred.ravel())  # noqa: E731
    elif loss == "scce":
        call = lambda: log_loss(y_true, y_pred, labels=np.arange(k))  # noqa: E731
    else:
        call = lambda: log_loss(y_true, y_pred)  # noqa: E731
    seconds, value = time_call(call)
    return {"seconds": seconds, "value": value}


def worker(peer: str, case) -> dict | None:
    y_true, y_pred, options = make_inputs(case)
    if peer == "lossbounds":
        return run_lossbounds(case, y_true, y_pred, options)
    if peer in ("keras", "keras_xla"):
        return run_keras(case, y_true, y_pred, options, xla=peer == "keras_xla")
    if peer == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            return None
        return run_torch(case, y_true, y_pred, options)
    if peer == "sklearn":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            return None
        return run_sklearn(case, y_true, y_pred, options)
    raise ValueError(peer)


def spawn(peer: str, case) -> dict | None:
    process = subprocess.run(
        [sys.executable, __file__, "--worker", peer, case_id(case)],
        capture_output=True, text=True, cwd=ROOT,
    )
    if process.returncode != 0:
        print(f"  {peer} failed: {process.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(process.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Memory: the reduced loss at growing N


MEMORY_ELEMENTS = (4 * 10**6, 4 * 10**7, 2 * 10**8)  # N x K; all big enough for two threads


def memory_table() -> list[tuple[str, int, float]]:
    """tracemalloc peak (MiB) of lossbounds.loss(...) beyond its inputs, at growing N."""
    sys.path.insert(0, str(ROOT))
    import lossbounds

    rows = []
    for loss, kind, k in (("scce", "logits", 10), ("scce", "probs", 10), ("cce", "probs", 10),
                          ("cce", "logits", 10), ("bce", "probs", 1), ("bce", "logits", 1),
                          ("mse", "values", 1)):
        for elements in MEMORY_ELEMENTS:
            n = elements // k
            y_true, y_pred, options = make_inputs((loss, kind, n, k))
            tracemalloc.start()
            lossbounds.loss(NAMES[loss][0], y_true, y_pred, **options)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            rows.append((f"{loss}/{kind}/Nx{k}", elements, peak))
            del y_true, y_pred
    return rows


# --------------------------------------------------------------------------
# Report


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for package in ("keras", "tensorflow-cpu", "torch", "scikit-learn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions,
            "date": datetime.datetime.now().isoformat(timespec="minutes"),
            "load": os.getloadavg()}


def gmean(values) -> float:
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def fmt(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


FLOOR_TARGETS = [  # (group, which cases, the largest allowed time over the read-once floor)
    ("MSE", lambda c: c[0] == "mse", 2),
    ("sparse CCE on probabilities, K >= 1000", lambda c: c[0] == "scce" and c[1] == "probs" and c[3] >= 1000, 3),
    ("cross-entropies on logits, K >= 1000 or K = 2",
     lambda c: c[0] in ("scce", "cce") and c[1] == "logits" and (c[3] >= 1000 or c[3] == 2), 6),
    ("BCE", lambda c: c[0] == "bce", 8),
]


def evaluate_targets(results, key: str = "seconds") -> list[str]:
    """Issue 5's targets, each with its numbers and PASS/MISS, for `loss()` (key "seconds")
    or, for reference, the per-sample functions (key "fn_seconds")."""
    lines = []
    eager = [r["keras"]["seconds"] / r["lossbounds"][key] for r in results.values() if r.get("keras")]
    xla = [r["keras_xla"]["seconds"] / r["lossbounds"][key] for r in results.values() if r.get("keras_xla")]
    if eager:
        g, worst = gmean(eager), min(eager)
        lines.append(f"- vs Keras eager: geometric mean {g:.2f}x (target >= 3x), slowest case {worst:.2f}x "
                     f"(target >= 1.3x): {'PASS' if g >= 3 and worst >= 1.3 else 'MISS'}")
    if xla:
        gx = gmean(xla)
        lines.append(f"- vs Keras XLA: geometric mean {gx:.2f}x (target > 1x): {'PASS' if gx > 1 else 'MISS'}")
    for label, chosen, limit in FLOOR_TARGETS:
        xs = [(case_id(c), r["lossbounds"][key] / r["lossbounds"]["floor"])
              for c, r in results.items() if chosen(c)]
        if xs:
            worst = max(x for _, x in xs)
            detail = ", ".join(f"{c} {x:.1f}x" for c, x in xs)
            lines.append(f"- {label}: within {limit}x of the floor? "
                         f"{'PASS' if worst <= limit else 'MISS'} ({detail})")
    return lines


def write_report(results, memory, info) -> None:
    header = ("| case | read-once floor ms | lossbounds loss() ms (x floor) | per-sample fn ms (x floor) "
              "| peak MiB | Keras eager ms (ratio) | Keras XLA ms (ratio) | torch ms (ratio) "
              "| sklearn log_loss ms (ratio) | rel. diff vs Keras |")
    lines = [header, "|" + "---|" * 10]
    for case, r in results.items():
        lb = r["lossbounds"]
        floor, ms = lb["floor"] * 1e3, lb["seconds"] * 1e3
        cells = [case_id(case), fmt(floor), f"{fmt(ms)} ({ms / floor:.1f}x)",
                 f"{fmt(lb['fn_seconds'] * 1e3)} ({lb['fn_seconds'] * 1e3 / floor:.1f}x)",
                 f"{lb['peak_mib']:.1f}"]
        for peer in ("keras", "keras_xla", "torch", "sklearn"):
            peer_result = r.get(peer)
            if peer_result is None:
                cells.append("")
            else:
                t = peer_result["seconds"] * 1e3
                cells.append(f"{fmt(t)} ({t / ms:.1f})")
        keras_value = r.get("keras", {}) or {}
        if keras_value:
            diff = abs(lb["value"] - keras_value["value"]) / max(1.0, abs(keras_value["value"]))
            cells.append(f"{diff:.1e}")
        else:
            cells.append("")
        lines.append("| " + " | ".join(cells) + " |")

    def g(peer, key="seconds"):
        return gmean([r[peer]["seconds"] / r["lossbounds"][key] for r in results.values() if r.get(peer)])

    floors = gmean([r["lossbounds"]["seconds"] / r["lossbounds"]["floor"] for r in results.values()])
    fn_floors = gmean([r["lossbounds"]["fn_seconds"] / r["lossbounds"]["floor"] for r in results.values()])
    lines.append(f"| **geometric mean** | | ({floors:.1f}x) | ({fn_floors:.1f}x) | | ({g('keras'):.1f}) "
                 f"| ({g('keras_xla'):.1f}) | ({g('torch'):.1f}) | ({g('sklearn'):.1f}) | |")
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    text = f"""# lossbounds benchmark results

Written by `python benchmarks/run.py` ({info['date']}); numbers from that run, not edited.

Machine: {info['cpu']}, {info['cores']} cores; {versions}.
Load average at start {info['load_start'][0]:.2f}, at end {info['load'][0]:.2f} (a shared machine:
other processes compete for the 2 cores; expect 10-30 % noise in single times).

Inputs float32 (labels int64, one-hot and binary targets float32), every call
returns the reduced mean (`sum_over_batch_size`). A time is the fastest of 3 to
25 calls after a warm-up call (one call above 4 s), for every library alike. "x floor" is the time over the
read-once floor (the fastest numpy pass reading every input once). A peer's
ratio is its time over lossbounds `loss()` (> 1: lossbounds is faster). "peak
MiB" is the tracemalloc peak of one `loss()` call. "rel. diff" is
|lossbounds - Keras eager| / max(1, |Keras|) on the benchmark inputs.

{chr(10).join(lines)}

## Targets (issue 5)

The issue's targets are for `lossbounds.loss(...)`, the reduced value:

{chr(10).join(evaluate_targets(results))}

For reference, the same checks for the per-sample functions (not targets: they must
also write an N-element result into fresh memory, whose first touch costs the kernel
a page-zeroing pass; at 10**7 x 1 that alone is about one read-once floor):

{chr(10).join(evaluate_targets(results, "fn_seconds"))}

## Memory of the reduced loss at growing N

tracemalloc peak of one `lossbounds.loss(...)` call (allocations beyond the inputs), in MiB,
as the inputs grow 50-fold (N x K elements; float32 inputs of 16 MB to 800 MB each):

| case | {' | '.join(f'N x K = {n:.0e}' for n in MEMORY_ELEMENTS)} |
|---|{'---|' * len(MEMORY_ELEMENTS)}
"""
    by_case: dict[str, list[float]] = {}
    for name, _, peak in memory:
        by_case.setdefault(name, []).append(peak)
    for name, peaks in by_case.items():
        text += f"| {name} | " + " | ".join(f"{p:.1f}" for p in peaks) + " |\n"
    text += ("\nThe peak does not grow with N: blocks of 2**18-2**19 elements go through a few "
             "reused buffers per thread (2 MiB each at most), and each block's sum is added as it "
             "comes. Below 2**20 elements only one thread runs, so smaller inputs peak lower.\n")
    (HERE / "results.md").write_text(text)


def plot(results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [("lossbounds", "seconds", "lossbounds loss()"), ("lossbounds", "fn_seconds", "lossbounds per-sample"),
             ("keras", "seconds", "Keras eager"), ("keras_xla", "seconds", "Keras XLA"),
             ("torch", "seconds", "torch"), ("sklearn", "seconds", "sklearn log_loss")]
    cases = list(results)
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(16, 6))
    for i, (peer, key, label) in enumerate(peers):
        xs, ys = [], []
        for j, case in enumerate(cases):
            r = results[case]
            if r.get(peer):
                xs.append(j + (i - len(peers) / 2 + 0.5) * width)
                ys.append(r[peer][key] / r["lossbounds"]["floor"])
        ax.bar(xs, ys, width, label=label)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([case_id(c) for c in cases], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("time / read-once floor (log scale)")
    ax.set_title("Time relative to the memory-bound floor (lower is better), float32, 2 cores")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(HERE / "results.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("PEER", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--only", help="run only cases whose id contains this text; prints, writes nothing")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ", ".join(PEERS))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], parse_case(args.worker[1]))))
        return
    peers = [p for p in args.peers.split(",") if p]
    if "lossbounds" not in peers:
        peers.insert(0, "lossbounds")
    info = machine()
    info["load_start"] = info["load"]
    results = {}
    for case in CASES:
        if args.only and args.only not in case_id(case):
            continue
        results[case] = {peer: spawn(peer, case) for peer in peers}
        lb = results[case]["lossbounds"]
        line = f"{case_id(case):26s} floor {lb['floor'] * 1e3:7.2f} ms  loss {lb['seconds'] * 1e3:7.2f} ms " \
               f"({lb['seconds'] / lb['floor']:.1f}x)  fn {lb['fn_seconds'] * 1e3:7.2f} ms"
        for peer in peers[1:]:
            if results[case].get(peer):
                line += f"  {peer} {results[case][peer]['seconds'] * 1e3:.1f}"
        print(line, flush=True)
    if args.only or set(peers) != set(PEERS):
        return
    memory = memory_table()
    info.update(load=os.getloadavg())
    write_report(results, memory, info)
    plot(results)
    print(f"wrote {HERE / 'results.md'} and {HERE / 'results.png'}")


if __name__ == "__main__":
    main()
