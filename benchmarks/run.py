"""Speed and memory of lossbounds against Keras 3, torch, torch.compile, jax.jit and sklearn.

Run from the repository root, in an environment with the ``bench`` extra
(``pip install -e ".[bench]"``: the ``test`` extra, optax and scikit-learn;
a missing peer leaves its column blank)::

    python benchmarks/run.py                  # everything (~30 min): writes results.md, results.png
    python benchmarks/run.py --only mse,kld --peers lossbounds,torch_compile,jax   # a subset, printed only

What it measures, for each case (loss, prediction kind, N x K, all float32,
labels int64, one-hot and binary targets float32):

* **read-once floor**: the fastest pure-numpy pass that reads every input
  once (``np.sum`` or ``np.max`` over each, on one or two threads): the
  memory-bound floor as numpy sees it. **np.exp pass** (logits cases): the
  fastest numpy pass computing ``np.exp`` of every prediction once (into a
  reused cache-sized buffer, one or two threads): the compute floor of a
  loss that needs one exponential per logit. Both are timed in turn with
  the lossbounds calls, so that all see the same machine load.
* **lossbounds**: ``lossbounds.loss(name, y_true, y_pred, **options)``, the
  reduced value (Keras' default ``sum_over_batch_size``), with the fused
  numba accelerator (``lossbounds[fast]``; its compilation is done in
  warm-up calls, not timed), the per-sample function
  (``lossbounds.sparse_categorical_crossentropy(...)`` etc.) and the
  tracemalloc peak of the reduced call; and **lossbounds, numpy only**: the
  same ``loss()`` call in a process with ``LOSSBOUNDS_ACCELERATOR=off``.
* **Keras eager**: ``keras.losses.<Class>(**options)(y_true, y_pred)`` on the
  same numpy arrays (TensorFlow backend); **Keras XLA**: the same call inside
  ``tf.function(jit_compile=True)`` (compiled in the warm-up call).
* **torch** (2 threads): one function per case computing Keras' TensorFlow
  formula (``torch.nn.functional`` where it has the same formula, plain
  tensor code for Keras' clipped probability losses), and **torch.compile**:
  the same function compiled by ``torch.compile`` (inductor, C++ via gcc;
  compiled in warm-up calls, not timed).
* **jax.jit**: optax's losses where they are Keras' formula
  (``softmax_cross_entropy``, ``softmax_cross_entropy_with_integer_labels``,
  ``sigmoid_binary_cross_entropy``, ``squared_error``, ``huber_loss``,
  ``log_cosh``, ``kl_divergence``), a few lines of jnp for Keras' clipped
  probability losses, all in ``jax.jit`` (inputs put on the device first).
* **sklearn** ``log_loss`` (probabilities only; skipped above 10**8
  elements, where it needs several GB).

Every peer's value is checked against Keras eager's on the benchmark inputs
(relative difference, flagged above 1e-5), so that like is compared with like.

Each library runs in its own subprocess (clean memory, no shared thread
pools; Keras eager and XLA share one, as do torch and torch.compile), on the
same inputs (generated once per case from a fixed seed and handed over
through a temporary directory); lossbounds, torch and jax each run in three
such processes, far apart in time, and keep the fastest (`RACED`). A time is
the fastest of several calls after
warm-up calls: lossbounds and the floors in turn, 3 to 25 rounds (about 3 s),
each call timed right after an untimed call of itself, as a peer's calls follow
one another (part of the inputs is then still in the cache, for all alike);
a peer 3 to 25 calls (about 1.5 s; 2 above 0.5 s a call, 1 above 2 s). On a
shared machine other processes only add time, so the fastest call is the
least disturbed (timeit's advice). Expect 10-30 % run-to-run variation all
the same, and read the ratios, which are more stable than the times.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20261122
EPS = 1e-7  # keras.config.epsilon()
REL_TOL = 1e-5  # a peer further than this from Keras eager (relative) is flagged
PEAK_MIB = 32  # the memory target of one loss() call

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
] + [
    ("mae", "values", 10**7, 1),
    ("huber", "values", 10**7, 1),
    ("logcosh", "values", 10**7, 1),
    ("kld", "probs", 10**5, 100),
]
PEERS = ("lossbounds", "lossbounds_numpy", "keras", "keras_xla", "torch", "torch_compile", "jax", "sklearn")
LABELS = {
    "lossbounds": "lossbounds", "lossbounds_numpy": "lossbounds, numpy only", "keras": "Keras eager",
    "keras_xla": "Keras XLA", "torch": "torch", "torch_compile": "torch.compile", "jax": "jax.jit",
    "sklearn": "sklearn log_loss",
}
COMPILED = ("keras_xla", "torch_compile", "jax")  # the compiled peers lossbounds must beat
NAMES = {
    "scce": ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    "cce": ("categorical_crossentropy", "CategoricalCrossentropy"),
    "bce": ("binary_crossentropy", "BinaryCrossentropy"),
    "mse": ("mean_squared_error", "MeanSquaredError"),
    "mae": ("mean_absolute_error", "MeanAbsoluteError"),
    "huber": ("huber", "Huber"),
    "logcosh": ("log_cosh", "LogCosh"),
    "kld": ("kl_divergence", "KLDivergence"),
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
    if loss == "kld":  # two rows of probabilities, softmax(2 z) each
        y_true = _softmax_rows(np.float32(2.0) * rng.standard_normal((n, k), dtype=np.float32))
        y_pred = _softmax_rows(np.float32(2.0) * rng.standard_normal((n, k), dtype=np.float32))
        return y_true, y_pred, {}
    y_true = rng.standard_normal((n, k), dtype=np.float32)
    y_pred = rng.standard_normal((n, k), dtype=np.float32)
    return y_true, y_pred, {}


def save_inputs(case, directory: Path) -> None:
    """Write a case's inputs once, for every worker to load (instead of regenerating them)."""
    y_true, y_pred, options = make_inputs(case)
    np.save(directory / "y_true.npy", y_true)
    np.save(directory / "y_pred.npy", y_pred)
    (directory / "options.json").write_text(json.dumps(options))


def load_inputs(case, directory: str | None):
    if directory is None:
        return make_inputs(case)
    d = Path(directory)
    return (np.load(d / "y_true.npy"), np.load(d / "y_pred.npy"),
            json.loads((d / "options.json").read_text()))


# --------------------------------------------------------------------------
# Timing


def repeats_for(first: float) -> int:
    """Timed calls for a call that took `first` seconds: about 1.5 s of them, 3 to 25 (1 above 4 s)."""
    return 1 if first > 4 else max(3, min(25, math.ceil(1.5 / first)))


def time_call(call) -> tuple[float, float]:
    """(fastest seconds, value) of `repeats_for` calls after a warm-up call (all_losses.py's timer).

    The number of calls follows the first timed call, not the warm-up: that one imports and
    loads (numba's kernels: 0.3 s and more), and would leave 3 calls where the rest take
    milliseconds.
    """
    call()
    start = time.perf_counter()
    value = call()
    times = [time.perf_counter() - start]
    for _ in range(repeats_for(times[0]) - 1):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return float(min(times)), float(value)


def time_peer(call, warmups: int = 1) -> tuple[float, float]:
    """(fastest seconds, value) of a peer's calls after `warmups` warm-up calls.

    The calls after the warm-up: one, then more for about 1.5 s in all (2 to 24 more);
    fewer for slow calls (one more above 0.5 s, none above 2 s: such peers are far from the
    race, and their calls would take most of the run). The minimum, as timeit advises: on
    this shared machine other processes only ever add time, so the fastest call is the one
    least disturbed. Compiled peers (XLA, inductor) compile in the warm-up calls.
    """
    for _ in range(warmups):
        call()
    start = time.perf_counter()
    value = call()
    times = [time.perf_counter() - start]
    more = 0 if times[0] > 2 else 1 if times[0] > 0.5 else max(2, min(24, math.ceil(1.5 / times[0])))
    for _ in range(more):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return float(min(times)), float(value)


def _on_two_threads(work):
    """Run work(0) here and work(1) on a helper thread (numpy releases the GIL in both)."""
    helper = threading.Thread(target=work, args=(1,))
    helper.start()
    work(0)
    helper.join()


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
            _on_two_threads(half)

        calls[f"{reduce.__name__}/1"] = one_thread
        calls[f"{reduce.__name__}/2"] = two_threads
    return calls


EXP_BLOCK = 2**16  # elements: 256 KiB of float32, stays in L2 while y_pred streams through


def exp_pass_calls(y_pred):
    """The ways numpy can take np.exp of every prediction once, on 1 or 2 threads: into a reused
    L2-sized buffer, so that nothing is written back to memory (the floor of a loss needing one
    exponential per logit)."""
    flat = y_pred.reshape(-1)
    buffers = [np.empty(EXP_BLOCK, flat.dtype) for _ in range(2)]

    def exp_range(lo, hi, buffer):
        for start in range(lo, hi, EXP_BLOCK):
            stop = min(start + EXP_BLOCK, hi)
            np.exp(flat[start:stop], out=buffer[: stop - start])

    def one_thread():
        exp_range(0, flat.size, buffers[0])

    def two_threads():
        m = flat.size // 2 // EXP_BLOCK * EXP_BLOCK
        _on_two_threads(lambda i: exp_range(0, m, buffers[0]) if i == 0 else exp_range(m, flat.size, buffers[1]))

    return {"exp/1": one_thread, "exp/2": two_threads}


def time_interleaved(calls: dict, budget: float = 3.0) -> dict:
    """Fastest seconds of each call, timed in turn (floor and loss see the same machine load).

    Two warm-up rounds (numba compiles in the first), then rounds of every call until about
    `budget` seconds have gone (3 to 25 rounds; one round if a round takes over 8 s). In a
    round each call runs twice in a row and the second is timed: a peer is timed in calls
    that follow its own (`time_peer`), which find part of their inputs still in the 32 MiB
    cache; a call timed right after another function's would not (MSE 1e7 x 1: 1.3 ms
    after itself, up to 2.1 after the per-sample function).
    """
    for _ in range(2):
        for call in calls.values():
            call()
    start = time.perf_counter()
    times = {name: [] for name in calls}
    rounds = 0
    while True:
        for name, call in calls.items():
            call()
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
        elapsed = time.perf_counter() - start
        if rounds >= 25 or (rounds >= 3 and elapsed > budget) or elapsed > 8:
            break
    return {name: float(min(t)) for name, t in times.items()}


def tracemalloc_peak(call) -> float:
    """tracemalloc peak (MiB) of one call: the memory it allocates beyond its inputs."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------
# Peers (each runs in its own process)


def run_lossbounds(case, y_true, y_pred, options):
    sys.path.insert(0, str(ROOT))
    import lossbounds

    loss, kind, _, _ = case
    name = NAMES[loss][0]
    function = getattr(lossbounds, name)
    reads = read_once_calls([y_true, y_pred])
    exps = exp_pass_calls(y_pred) if kind == "logits" else {}
    # the per-sample function, the floors and loss() in turn: the same load for all
    times = time_interleaved({
        "fn": lambda: function(y_true, y_pred, **options),
        **reads, **exps,
        "loss": lambda: lossbounds.loss(name, y_true, y_pred, **options),
    })
    floor_method = min(reads, key=times.__getitem__)
    result = {"floor": times[floor_method], "floor_method": floor_method, "seconds": times["loss"],
              "fn_seconds": times["fn"],
              "value": float(lossbounds.loss(name, y_true, y_pred, **options)),
              "peak_mib": tracemalloc_peak(lambda: lossbounds.loss(name, y_true, y_pred, **options)),
              "accelerator": lossbounds.accelerator_enabled()}
    if exps:
        exp_method = min(exps, key=times.__getitem__)
        result.update(exp=times[exp_method], exp_method=exp_method)
    return result


def run_lossbounds_numpy(case, y_true, y_pred, options):
    """loss() with the numpy kernels only (the parent sets LOSSBOUNDS_ACCELERATOR=off for this process)."""
    sys.path.insert(0, str(ROOT))
    import lossbounds

    name = NAMES[case[0]][0]
    reads = read_once_calls([y_true, y_pred])
    times = time_interleaved({"loss": lambda: lossbounds.loss(name, y_true, y_pred, **options), **reads})
    floor = min(times[key] for key in reads)
    return {"seconds": times["loss"], "floor": floor,
            "value": float(lossbounds.loss(name, y_true, y_pred, **options)),
            "peak_mib": tracemalloc_peak(lambda: lossbounds.loss(name, y_true, y_pred, **options)),
            "accelerator": lossbounds.accelerator_enabled()}


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
    seconds, value = time_peer(call, warmups=2 if xla else 1)
    return {"seconds": seconds, "value": value}


def torch_loss(case):
    """A function (y_true, y_pred) -> reduced loss computing Keras' TensorFlow-backend formula in torch.

    torch.nn.functional where it has the same formula; tensor code for Keras' clipped
    probability losses (clip to [eps, 1 - eps]; CCE first rescales rows to sum 1; sparse
    CCE on probabilities clips, logs and renormalises: -log q_y + log sum_k q_k).
    """
    import torch.nn.functional as F

    loss, kind, _, _ = case
    logits = kind == "logits"
    ln2 = math.log(2.0)

    def mse(t, p):
        return F.mse_loss(p, t)

    def mae(t, p):
        return F.l1_loss(p, t)

    def huber(t, p):
        return F.huber_loss(p, t, delta=1.0)

    def logcosh(t, p):
        x = p - t
        return (x + F.softplus(-2.0 * x) - ln2).mean()

    def kld(t, p):
        t = t.clamp(EPS, 1.0)
        return (t * (t / p.clamp(EPS, 1.0)).log()).sum(dim=-1).mean()

    def bce(t, p):
        if logits:
            return F.binary_cross_entropy_with_logits(p, t)
        return F.binary_cross_entropy(p.clamp(EPS, 1 - EPS), t)

    def cce(t, p):
        if logits:
            return F.cross_entropy(p, t)  # one-hot (probability) targets
        q = (p / p.sum(dim=-1, keepdim=True)).clamp(EPS, 1 - EPS)
        return -(t * q.log()).sum(dim=-1).mean()

    def scce(t, p):
        if logits:
            return F.cross_entropy(p, t)  # class indices
        q = p.clamp(EPS, 1 - EPS)
        return (q.sum(dim=-1).log() - q.gather(1, t[:, None])[:, 0].log()).mean()

    return {"mse": mse, "mae": mae, "huber": huber, "logcosh": logcosh, "kld": kld, "bce": bce,
            "cce": cce, "scce": scce}[loss]


def run_torch(case, y_true, y_pred, options, compiled=False):
    import torch

    torch.set_num_threads(2)
    t, p = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    function = torch_loss(case)
    if compiled:
        function = torch.compile(function, dynamic=False)  # one shape per process: specialise
    with torch.no_grad():
        seconds, value = time_peer(lambda: float(function(t, p)), warmups=3 if compiled else 1)
    return {"seconds": seconds, "value": value}


def jax_loss(case):
    """A jittable (y_true, y_pred) -> reduced loss in Keras' formula: optax where it has it, else jnp."""
    import jax.numpy as jnp
    import optax

    loss, kind, _, _ = case
    logits = kind == "logits"

    def mse(t, p):
        return jnp.mean(optax.squared_error(p, t))

    def mae(t, p):
        return jnp.mean(jnp.abs(p - t))

    def huber(t, p):
        return jnp.mean(optax.huber_loss(p, t, delta=1.0))

    def logcosh(t, p):
        return jnp.mean(optax.log_cosh(p, t))

    def kld(t, p):
        return jnp.mean(optax.kl_divergence(jnp.log(jnp.clip(p, EPS, 1.0)), jnp.clip(t, EPS, 1.0)))

    def bce(t, p):
        if logits:
            return jnp.mean(optax.sigmoid_binary_cross_entropy(p, t))
        q = jnp.clip(p, EPS, 1 - EPS)
        return -jnp.mean(t * jnp.log(q) + (1 - t) * jnp.log(1 - q))

    def cce(t, p):
        if logits:
            return jnp.mean(optax.softmax_cross_entropy(p, t))
        q = jnp.clip(p / jnp.sum(p, axis=-1, keepdims=True), EPS, 1 - EPS)
        return jnp.mean(-jnp.sum(t * jnp.log(q), axis=-1))

    def scce(t, p):
        if logits:
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(p, t))
        q = jnp.clip(p, EPS, 1 - EPS)
        picked = jnp.take_along_axis(q, t[:, None], axis=-1)[:, 0]
        return jnp.mean(jnp.log(jnp.sum(q, axis=-1)) - jnp.log(picked))

    return {"mse": mse, "mae": mae, "huber": huber, "logcosh": logcosh, "kld": kld, "bce": bce,
            "cce": cce, "scce": scce}[loss]


def run_jax(case, y_true, y_pred, options):
    import jax

    if y_true.dtype == np.int64:
        y_true = y_true.astype(np.int32)  # jax's default integers (x64 off)
    if case[3] == 1:  # XLA on CPU is 10-50x slower on (N, 1) arrays than on (N,): give it (N,)
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    t, p = jax.device_put(y_true), jax.device_put(y_pred)  # on the device before timing, as in use
    function = jax.jit(jax_loss(case))
    seconds, value = time_peer(lambda: float(function(t, p)), warmups=2)
    return {"seconds": seconds, "value": value}


def sklearn_applies(case) -> bool:
    """log_loss takes probabilities of one label per sample, and copies them to float64:
    not for logits, regression, multi-label BCE, or above 10**8 elements (several GB)."""
    loss, kind, n, k = case
    return loss in ("bce", "cce", "scce") and kind == "probs" and n * k <= 10**8 and not (loss == "bce" and k > 1)


def run_sklearn(case, y_true, y_pred, options):
    from sklearn.metrics import log_loss

    loss, kind, n, k = case
    if not sklearn_applies(case):
        return None
    if loss == "bce":
        call = lambda: log_loss(y_true.ravel(), y_pred.ravel())  # noqa: E731
    elif loss == "scce":
        call = lambda: log_loss(y_true, y_pred, labels=np.arange(k))  # noqa: E731
    else:
        call = lambda: log_loss(y_true, y_pred)  # noqa: E731
    seconds, value = time_peer(call)
    return {"seconds": seconds, "value": value}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def worker(peer: str, case, inputs: str | None = None) -> dict | None:
    needs = {"torch": "torch", "torch_compile": "torch", "jax": "optax", "sklearn": "sklearn"}
    if peer in needs and not _installed(needs[peer]):
        return None
    y_true, y_pred, options = load_inputs(case, inputs)
    if peer == "lossbounds":
        return run_lossbounds(case, y_true, y_pred, options)
    if peer == "lossbounds_numpy":
        return run_lossbounds_numpy(case, y_true, y_pred, options)
    if peer in ("keras", "keras_xla"):
        return run_keras(case, y_true, y_pred, options, xla=peer == "keras_xla")
    if peer in ("torch", "torch_compile"):
        return run_torch(case, y_true, y_pred, options, compiled=peer == "torch_compile")
    if peer == "jax":
        return run_jax(case, y_true, y_pred, options)
    if peer == "sklearn":
        return run_sklearn(case, y_true, y_pred, options)
    raise ValueError(peer)


#: Peers timed in one process, one after the other (the same library: Keras eager then XLA,
#: torch eager then compiled); every other peer has a process of its own.
GROUPS = (("lossbounds",), ("lossbounds_numpy",), ("keras", "keras_xla"), ("torch", "torch_compile"),
          ("jax",), ("sklearn",))


#: Groups timed in `--processes` processes each, in turn (every other round in reverse order),
#: keeping each peer's fastest: lossbounds and the fastest compiled peers, which the targets
#: race. This machine's memory bandwidth switches between two levels every few seconds (a
#: two-thread np.sum of 1.28 GB: 26 or 34 ms, in the same process), and each process's copy
#: of the inputs lands on pages of their own speed (six arrays of 80 MB in one process kept
#: their sums at 2.5-2.8 ms or at 3.0-4.8 ms for 9 s): enough to decide the memory-bound
#: cases. A library timed in three processes far apart in time is less at the mercy of one
#: (with two, one run drew a 7.0 ms floor beside lossbounds' 11.6 and torch.compile's 7.2
#: and 12.2). Keras XLA, the other compiled peer, is far behind in every case and runs once.
RACED = (("lossbounds",), ("torch", "torch_compile"), ("jax",))


def keep_fastest(kept: dict, results: dict) -> None:
    """Merge one process's {peer: result} into `kept`, each peer's fastest result kept whole
    (lossbounds' with the floors of the same process), and its times in ``"process_seconds"``
    (lossbounds' floors in ``"process_floors"``)."""
    for peer, result in results.items():
        if result is None:  # (not applicable, or failed)
            kept.setdefault(peer, None)
            continue
        before = kept.get(peer) or {}
        times = before.get("process_seconds", []) + [result["seconds"]]
        floors = before.get("process_floors", []) + ([result["floor"]] if "floor" in result else [])
        if not before or result["seconds"] < before["seconds"]:
            kept[peer] = dict(result)
        kept[peer]["process_seconds"], kept[peer]["process_floors"] = times, floors


def run_group(peers: list[str], case, inputs: str | None = None) -> dict:
    """{peer: result} for peers run in turn in this process: None where the peer does not apply
    or is not installed, {"error": message} where it failed."""
    import traceback

    results = {}
    for peer in peers:
        try:
            results[peer] = worker(peer, case, inputs)
        except Exception as error:  # noqa: BLE001 - report it, let the others run
            traceback.print_exc()
            results[peer] = {"error": f"{type(error).__name__}: {error}"[:300]}
    return results


def spawn(peers: list[str], case, inputs: Path | None = None) -> dict:
    """{peer: result or None} of peers (one of GROUPS, or part of one) in a fresh process."""
    env = dict(os.environ)
    env.pop("LOSSBOUNDS_ACCELERATOR", None)  # "lossbounds" is the default: the accelerator on
    if "lossbounds_numpy" in peers:
        env["LOSSBOUNDS_ACCELERATOR"] = "off"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = [sys.executable, __file__, "--worker", ",".join(peers), case_id(case)]
    if inputs is not None:
        command += ["--inputs", str(inputs)]
    process = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    try:
        results = json.loads(process.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        error = [line for line in process.stderr.strip().splitlines() if line.strip()][-1:]
        results = {peer: {"error": f"process exited with {process.returncode}: {error}"} for peer in peers}
    for peer, result in results.items():
        if result and "error" in result:
            print(f"  {peer} failed on {case_id(case)}: {result['error']}", file=sys.stderr)
            results[peer] = None
    return results


# --------------------------------------------------------------------------
# Memory: the reduced loss at growing N


MEMORY_ELEMENTS = (4 * 10**6, 4 * 10**7, 2 * 10**8)  # N x K; all big enough for two threads


def memory_table() -> list[tuple[str, int, float]]:
    """tracemalloc peak (MiB) of lossbounds.loss(...) beyond its inputs, at growing N.

    Each case is first run on a small slice, so that numba's compilation (whose Python
    objects tracemalloc would count) is done before the traced call.
    """
    sys.path.insert(0, str(ROOT))
    import lossbounds

    rows = []
    for loss, kind, k in (("scce", "logits", 10), ("scce", "probs", 10), ("cce", "probs", 10),
                          ("cce", "logits", 10), ("bce", "probs", 1), ("bce", "logits", 1),
                          ("mse", "values", 1)):
        for elements in MEMORY_ELEMENTS:
            n = elements // k
            y_true, y_pred, options = make_inputs((loss, kind, n, k))
            warm = 2**21 // k  # two threads' worth of rows
            lossbounds.loss(NAMES[loss][0], y_true[:warm], y_pred[:warm], **options)
            peak = tracemalloc_peak(functools.partial(lossbounds.loss, NAMES[loss][0], y_true, y_pred, **options))
            rows.append((f"{loss}/{kind}/Nx{k}", elements, peak))
            del y_true, y_pred
    return rows


# --------------------------------------------------------------------------
# Report


def _gcc_version() -> str:
    try:
        out = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


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
    for package in ("numba", "keras", "tensorflow-cpu", "torch", "jax", "jaxlib", "optax", "scikit-learn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    versions["gcc (torch.compile)"] = _gcc_version()
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions,
            "date": datetime.datetime.now().isoformat(timespec="minutes"),
            "load": os.getloadavg()}


def lossbounds_commit() -> str:
    """The commit of the lossbounds under test, "+changes" if its files differ from it (read-only git)."""
    def git(*args):
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short", "HEAD")
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("" if git("diff", "--quiet", "HEAD", "--", "lossbounds").returncode == 0
                                  else "+changes")


def gmean(values) -> float:
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def fmt(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def rel_diff(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference) if reference else abs(value - reference)


def reference_value(r: dict) -> float | None:
    """Keras eager's value, or lossbounds' where Keras did not run."""
    for peer in ("keras", "lossbounds"):
        if r.get(peer):
            return r[peer]["value"]
    return None


def disagreements(r: dict) -> dict[str, float]:
    """Peers whose value is further than REL_TOL (relative) from Keras eager's."""
    ref = reference_value(r)
    if ref is None:
        return {}
    return {peer: d for peer in PEERS if r.get(peer) and peer != "keras"
            for d in [rel_diff(r[peer]["value"], ref)] if not d <= REL_TOL}


def fastest_compiled(r: dict) -> tuple[str, float] | None:
    """(peer, seconds) of the fastest compiled peer in a case's results."""
    timed = [(peer, r[peer]["seconds"]) for peer in COMPILED if r.get(peer)]
    return min(timed, key=lambda pair: pair[1]) if timed else None


def _is_logits_ce(c) -> bool:
    return c[0] in ("scce", "cce", "bce") and c[1] == "logits"


def _is_memory_bound(c) -> bool:
    return (c[0] == "mse" or (c[0] == "bce" and c[1] == "probs")
            or (c[0] in ("scce", "cce") and c[1] == "probs" and c[3] >= 1000))


def evaluate_targets(results, peer: str = "lossbounds") -> list[str]:
    """The performance targets, each with its numbers and PASS/MISS, for `peer`'s loss() times
    ("lossbounds": with the accelerator; "lossbounds_numpy": numpy only, for reference)."""
    rows = {c: r for c, r in results.items() if r.get(peer)}
    lines = []
    ratios = {c: fastest_compiled(r)[1] / r[peer]["seconds"] for c, r in rows.items() if fastest_compiled(r)}
    if ratios:
        g = gmean(ratios.values())
        slower = [f"{case_id(c)} {x:.2f}x" for c, x in ratios.items() if x <= 1]
        lines.append(f"- faster than the fastest compiled peer ({', '.join(LABELS[p] for p in COMPILED)}) "
                     f"in every case and in geometric mean: {'PASS' if g > 1 and not slower else 'MISS'} "
                     f"(geometric mean {g:.2f}x; {len(ratios) - len(slower)} of {len(ratios)} cases faster"
                     + (f"; not faster: {', '.join(slower)}" if slower else "") + ")")
    groups = [
        ("memory-bound cases (MSE, BCE on probabilities, probability cross-entropies at K >= 1000) "
         "within 1.2x the read-once floor", _is_memory_bound, "floor", 1.2),
        ("cross-entropies on logits (sparse CCE, CCE, BCE) within 1.3x one np.exp pass",
         _is_logits_ce, "exp", 1.3),
    ]
    for label, chosen, base, limit in groups:
        xs = [(case_id(c), r[peer]["seconds"] / r["lossbounds"][base]) for c, r in rows.items()
              if chosen(c) and r.get("lossbounds") and r["lossbounds"].get(base)]
        if xs:
            worst = max(x for _, x in xs)
            detail = ", ".join(f"{c} {x:.2f}x" for c, x in xs)
            lines.append(f"- {label}: {'PASS' if worst <= limit else 'MISS'} ({detail})")
    peaks = [(case_id(c), r[peer]["peak_mib"]) for c, r in rows.items()]
    if peaks:
        heavy = [f"{c} {p:.1f}" for c, p in peaks if p > PEAK_MIB]
        lines.append(f"- peak extra memory of one call at most {PEAK_MIB} MiB: "
                     f"{'PASS' if not heavy else 'MISS'} (largest {max(p for _, p in peaks):.1f} MiB"
                     + (f"; above: {', '.join(heavy)}" if heavy else "") + ")")
    return lines


def earlier_targets(results) -> list[str]:
    """Issue 5's targets against Keras (kept for comparison with earlier reports)."""
    lines = []
    for peer, label in (("keras", "Keras eager"), ("keras_xla", "Keras XLA")):
        xs = [r[peer]["seconds"] / r["lossbounds"]["seconds"] for r in results.values() if r.get(peer)]
        if not xs:
            continue
        g = gmean(xs)
        if peer == "keras":
            ok = g >= 3 and min(xs) >= 1.3
            lines.append(f"- vs {label}: geometric mean {g:.2f}x (target >= 3x), slowest case "
                         f"{min(xs):.2f}x (target >= 1.3x): {'PASS' if ok else 'MISS'}")
        else:
            lines.append(f"- vs {label}: geometric mean {g:.2f}x (target > 1x): {'PASS' if g > 1 else 'MISS'}")
    return lines


def main_table(results) -> list[str]:
    timed = ("lossbounds_numpy", "keras", "keras_xla", "torch", "torch_compile", "jax")
    header = ("| case | read-once floor ms | np.exp pass ms | lossbounds ms (x floor; x exp) "
              "| peak MiB | " + " | ".join(f"{LABELS[p]} ms (ratio)" for p in timed)
              + " | fastest compiled / lossbounds | values |")
    lines = [header, "|---|" + "---:|" * (4 + len(timed) + 1) + "---|"]
    for case, r in results.items():
        lb = r["lossbounds"]
        floor, ms = lb["floor"] * 1e3, lb["seconds"] * 1e3
        exp = lb.get("exp")
        x = f"{ms / floor:.2f}x floor" + (f"; {ms / (exp * 1e3):.2f}x exp" if exp else "")
        cells = [case_id(case), fmt(floor), fmt(exp * 1e3) if exp else "", f"{fmt(ms)} ({x})",
                 f"{lb['peak_mib']:.1f}"]
        for peer in timed:
            if r.get(peer):
                t = r[peer]["seconds"] * 1e3
                cells.append(f"{fmt(t)} ({t / ms:.2f})")
            else:
                cells.append("")
        best = fastest_compiled(r)
        cells.append(f"**{best[1] / lb['seconds']:.2f}** ({LABELS[best[0]]})" if best else "")
        bad = disagreements(r)
        cells.append("agree" if not bad else
                     "WARNING " + ", ".join(f"{LABELS[p]} {d:.1e}" for p, d in bad.items()))
        lines.append("| " + " | ".join(cells) + " |")

    def g(peer):
        return gmean([r[peer]["seconds"] / r["lossbounds"]["seconds"] for r in results.values() if r.get(peer)])

    floors = gmean([r["lossbounds"]["seconds"] / r["lossbounds"]["floor"] for r in results.values()])
    best = gmean([fastest_compiled(r)[1] / r["lossbounds"]["seconds"]
                  for r in results.values() if fastest_compiled(r)])
    lines.append(f"| **geometric mean** | | | ({floors:.2f}x floor) | | "
                 + " | ".join(f"({g(p):.2f})" for p in timed) + f" | **{best:.2f}** | |")
    return lines


def process_table(results) -> list[str]:
    """Each raced library's time in each of its processes, in the order they ran: the spread
    the kept (fastest) times hide."""
    raced = [peer for group in RACED for peer in group]
    lines = ["| case | " + " | ".join(f"{LABELS[p]} ms" for p in raced) + " |",
             "|---|" + "---:|" * len(raced)]
    for case, r in results.items():
        cells = []
        for peer in raced:
            times = (r.get(peer) or {}).get("process_seconds", [])
            cell = " / ".join(fmt(t * 1e3) for t in times)
            floors = r[peer].get("process_floors", []) if times else []
            if floors:
                cell += " (" + " / ".join(f"{t / f:.2f}x" for t, f in zip(times, floors)) + " floor)"
            cells.append(cell)
        lines.append(f"| {case_id(case)} | " + " | ".join(cells) + " |")
    return lines


def other_table(results) -> list[str]:
    """Per-sample function, sklearn, and every peer's relative difference from Keras eager."""
    checked = [p for p in PEERS if p != "keras"]
    lines = ["| case | per-sample fn ms (x floor) | sklearn log_loss ms (ratio) | "
             + " | ".join(f"{LABELS[p]}" for p in checked) + " |",
             "|---|---:|---:|" + "---:|" * len(checked)]
    for case, r in results.items():
        lb = r["lossbounds"]
        fn = lb["fn_seconds"] * 1e3
        cells = [case_id(case), f"{fmt(fn)} ({fn / (lb['floor'] * 1e3):.2f}x)"]
        sk = r.get("sklearn")
        cells.append(f"{fmt(sk['seconds'] * 1e3)} ({sk['seconds'] / lb['seconds']:.1f})" if sk else "")
        ref = r["keras"]["value"] if r.get("keras") else None
        for peer in checked:
            if r.get(peer) and ref is not None:
                d = rel_diff(r[peer]["value"], ref)
                cells.append(f"{d:.1e}" + (" (!)" if not d <= REL_TOL else ""))
            else:
                cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(results, memory, info) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    accelerator = ("on (numba kernels, compiled in warm-up calls)" if info["accelerator"]
                   else "OFF: numba is not installed or LOSSBOUNDS_ACCELERATOR is set, so the "
                        "\"lossbounds\" column is numpy only too")
    text = f"""# lossbounds benchmark results

Written by `python benchmarks/run.py` ({info['date']}; the run took {info['minutes']:.0f} minutes);
numbers from that run, not edited. lossbounds at commit {info['commit']}; its accelerator
{accelerator}.

Machine: {info['cpu']}, {info['cores']} cores; {versions}.
Load average at start {info['load_start'][0]:.2f}, at end {info['load'][0]:.2f} (a shared machine:
other processes compete for the 2 cores; expect 10-30 % noise in single times).

Inputs float32 (labels int64, one-hot and binary targets float32), every call
returns the reduced mean (`sum_over_batch_size`). Each library runs in its own
process; lossbounds, torch and jax in {info['processes']} processes each, in turn, and the
fastest is kept (this machine's memory bandwidth switches between two levels every
few seconds, up to 1.3x apart). A time is the fastest of several calls after warm-up calls: lossbounds and
the floors are called in turn, 3 to 25 rounds (about 3 s), each timed right after an
untimed call of itself (as a peer's calls follow one another); a peer 1 + about 1.5 s of
calls (3 to 25; 2 calls above 0.5 s, 1 above 2 s). Compilation (numba, XLA, inductor)
happens in the warm-up calls and is not timed; jax.jit gets its inputs on the device
beforehand, and (N, 1) inputs as (N,) (XLA on CPU is 10-50x slower on (N, 1)).
"x floor" is lossbounds' time over the read-once floor (the fastest numpy pass
reading every input once); "x exp" its time over one np.exp pass over the
predictions (logits cases). A peer's ratio is its time over lossbounds' (with
the accelerator; > 1: lossbounds is faster). "fastest compiled / lossbounds" is
the time of the fastest of {', '.join(LABELS[p] for p in COMPILED)} over
lossbounds'. "peak MiB" is the tracemalloc peak of one `loss()` call. "values":
every peer's result agrees with Keras eager's to {REL_TOL:.0e} relative, or the
peers that do not (all relative differences are in the second table).

{chr(10).join(main_table(results))}

![Time relative to the read-once floor, per case and library](results.png)

Each process's time, for the libraries timed in {info['processes']} (the tables above keep the
fastest; lossbounds' time over the floor measured in the same process):

{chr(10).join(process_table(results))}

## Targets

For `lossbounds.loss(...)` with the accelerator:

{chr(10).join(evaluate_targets(results))}

For reference, the same checks for lossbounds with numpy only (`LOSSBOUNDS_ACCELERATOR=off`):

{chr(10).join(evaluate_targets(results, "lossbounds_numpy"))}

Earlier targets (issue 5), against Keras, for lossbounds with the accelerator:

{chr(10).join(earlier_targets(results))}

## Per-sample functions, sklearn, and agreement with Keras

The per-sample function must also write an N-element result into fresh memory (whose
first touch costs the kernel a page-zeroing pass: at 10**7 x 1 about one read-once floor).
The other columns are |peer - Keras eager| / |Keras eager| on the benchmark inputs
((!) above {REL_TOL:.0e}). The torch and jax peers compute Keras' TensorFlow formulas
(sparse CCE on probabilities renormalises after clipping, as TensorFlow does, not before
as Keras' torch backend does); sklearn clips at float32's machine epsilon, not Keras'
1e-7. A peer flagged here may differ in rounding rather than formula: a float32 sum of
10**7 terms in another order (Keras XLA's, for instance) can move the fourth digit.

{chr(10).join(other_table(results))}

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
             "comes. Below 2**20 elements only one thread runs, so smaller inputs peak lower. "
             "tracemalloc sees numpy's allocations, not the few scalars numba's kernels keep on "
             "their stacks.\n")
    (HERE / "results.md").write_text(text)


def plot(results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [p for p in PEERS if any(r.get(p) for r in results.values())]
    cases = list(results)
    width = 0.85 / len(peers)
    fig, ax = plt.subplots(figsize=(20, 7))
    colors = plt.get_cmap("tab10").colors
    for i, peer in enumerate(peers):
        xs, ys = [], []
        for j, case in enumerate(cases):
            r = results[case]
            if r.get(peer):
                xs.append(j + (i - len(peers) / 2 + 0.5) * width)
                ys.append(r[peer]["seconds"] / r["lossbounds"]["floor"])
        ax.bar(xs, ys, width, label=LABELS[peer], color=colors[i % len(colors)])
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlim(-0.6, len(cases) - 0.4)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([case_id(c) for c in cases], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("time / read-once floor (log scale)")
    ax.set_title("Time relative to the memory-bound floor (lower is better), float32, 2 cores")
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(HERE / "results.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("PEERS", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--only", help="run only cases whose id contains this text (comma-separated: any of "
                        "them); prints, writes nothing")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ", ".join(PEERS)
                        + " (lossbounds always runs: it measures the floors); a subset prints, writes nothing")
    parser.add_argument("--processes", type=int, default=3, metavar="N",
                        help="processes in which lossbounds, torch and jax are each timed, in turn, "
                        "keeping the fastest (default 3)")
    args = parser.parse_args()
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    if args.worker:
        print(json.dumps(run_group(args.worker[0].split(","), parse_case(args.worker[1]), args.inputs)))
        return
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {', '.join(PEERS)}")
    if "lossbounds" not in peers:
        peers.insert(0, "lossbounds")
    only = [text for text in (args.only or "").split(",") if text]
    info = machine()
    info["load_start"] = info["load"]
    info["processes"] = args.processes
    info["commit"] = lossbounds_commit()
    start = time.perf_counter()
    results = {}
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="lossbounds-bench-", dir=shm if shm.is_dir() else None))
    try:
        for case in CASES:
            if only and not any(text in case_id(case) for text in only):
                continue
            save_inputs(case, scratch)
            results[case] = {}
            raced = [g for g in GROUPS if g in RACED]
            rounds = [GROUPS] + [raced[::-1] if i % 2 == 0 else raced for i in range(args.processes - 1)]
            for groups in rounds:
                for group in groups:
                    chosen = [peer for peer in group
                              if peer in peers and (peer != "sklearn" or sklearn_applies(case))]
                    if chosen:
                        keep_fastest(results[case], spawn(chosen, case, scratch))
            lb = results[case]["lossbounds"]
            if lb is None:
                print(f"{case_id(case):26s} lossbounds failed", flush=True)
                del results[case]
                continue
            line = f"{case_id(case):26s} floor {lb['floor'] * 1e3:7.2f} ms"
            if lb.get("exp"):
                line += f"  exp {lb['exp'] * 1e3:7.2f} ms"
            line += f"  lossbounds {lb['seconds'] * 1e3:7.2f} ms ({lb['seconds'] / lb['floor']:.2f}x floor"
            if len(lb["process_seconds"]) > 1:
                line += "; processes " + ", ".join(f"{t * 1e3:.2f}" for t in lb["process_seconds"])
            line += ")"
            for peer in peers[1:]:
                if results[case].get(peer):
                    line += f"  {peer} {results[case][peer]['seconds'] * 1e3:.1f}"
            best = fastest_compiled(results[case])
            if best:
                line += f"  | fastest compiled {best[0]}: {best[1] / lb['seconds']:.2f}x"
            bad = disagreements(results[case])
            if bad:
                line += "  | WARNING values differ from Keras: " + ", ".join(f"{p} {d:.1e}" for p, d in bad.items())
            print(line, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info["minutes"] = (time.perf_counter() - start) / 60
    if only or set(peers) != set(PEERS):
        if results:
            print("\n" + "\n".join(main_table(results)))
            print("\nTargets:\n" + "\n".join(evaluate_targets(results)))
        print(f"\n{len(results)} cases in {info['minutes']:.1f} minutes (a subset: printed, nothing written)")
        return
    memory = memory_table()
    info.update(load=os.getloadavg(), accelerator=all(r["lossbounds"].get("accelerator") for r in results.values()))
    info["minutes"] = (time.perf_counter() - start) / 60
    if lossbounds_commit() != info["commit"]:
        info["commit"] += f" (changed during the run, to {lossbounds_commit()}: rerun)"
    write_report(results, memory, info)
    plot(results)
    print(f"wrote {HERE / 'results.md'} and {HERE / 'results.png'} ({info['minutes']:.1f} minutes)")


if __name__ == "__main__":
    main()
