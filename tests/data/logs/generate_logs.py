"""Regenerate the real Keras ``fit`` logs used by ``tests/test_logs.py``.

Each configuration in :data:`CONFIGS` runs a tiny ``model.fit`` (256 random
samples, 1-6 epochs, a few seconds) in a *subprocess*, so the captured text is
exactly what Keras wrote: through a pseudo-terminal (``pty``: ``\\r``, ``\\b``,
ANSI codes, ``\\r\\n`` line ends) or through a pipe.  stderr is merged into the
capture, as in a terminal or ``python train.py 2>&1 | tee log``, so TensorFlow's
absl ``I0000``/``W0000``/``E0000`` lines are interleaved as in real logs.

For every configuration ``NAME`` two files are written next to this script:

``NAME.txt``
    The raw capture, decoded as UTF-8 with ``errors="replace"`` and written
    with ``newline=""`` so that no ``\\r`` is translated.
``NAME.json``
    The ground truth from the ``History`` object returned by ``fit``::

        {"history": {metric: [value, ...]}, "epochs_run": n,
         "epochs_total": M, "steps": steps_per_epoch, "target": steps_per_epoch,
         "unit": "step", "header_expected": bool, "source": "...", ...}

    Non-finite values are stored as the strings ``"nan"``, ``"inf"`` and
    ``"-inf"`` so that the file stays standard JSON (read them with
    ``float``).

How to run (needs network access to a package index only for the install)::

    python3 -m venv /tmp/venv-logs
    /tmp/venv-logs/bin/pip install keras tensorflow-cpu tf-keras numpy
    /tmp/venv-logs/bin/python tests/data/logs/generate_logs.py          # all
    /tmp/venv-logs/bin/python tests/data/logs/generate_logs.py k3_v2    # one

The other fixtures here are not made by this script: ``seed_*`` are real logs
copied from ``shared/seeds`` (``*.page.txt`` is the whole page), ``hand_*``
are hand-written in formats that cannot be installed any more (their JSON
says so).

Versions used for the committed fixtures: Python 3.11.7, keras 3.15.1,
tensorflow-cpu 2.21.0, tf-keras 2.21.0, numpy 2.4.6, on Linux x86_64.
Timings in the logs differ from run to run; metric values are seeded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pty
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: name -> options of one fit run.  ``backend`` is "keras3" (``import keras``,
#: TF backend) or "tf_keras" (Keras 2, ``import tf_keras``); ``capture`` is
#: "pty" or "pipe"; ``sleep`` slows each batch so that verbose=1 really prints
#: intermediate (ETA) updates (Keras throttles them to one per 0.05 s).
CONFIGS: dict[str, dict[str, Any]] = {
    # --- Keras 3 ---------------------------------------------------------
    "k3_v1_pty": dict(backend="keras3", capture="pty", verbose=1, epochs=3,
                      batch_size=16, sleep=0.03),
    "k3_v1_pipe": dict(backend="keras3", capture="pipe", verbose=1, epochs=3,
                       batch_size=16, sleep=0.03),
    "k3_v2": dict(backend="keras3", capture="pipe", verbose=2, epochs=4),
    "k3_val_pty": dict(backend="keras3", capture="pty", verbose=1, epochs=3,
                       batch_size=32, sleep=0.03, validation=True),
    "k3_multi_output": dict(backend="keras3", capture="pipe", verbose=1,
                            epochs=3, model="multi_output", validation=True),
    "k3_early_stopping": dict(backend="keras3", capture="pty", verbose=1,
                              epochs=6, early_stopping=True),
    "k3_nan": dict(backend="keras3", capture="pipe", verbose=1, epochs=3,
                   model="diverge"),
    "k3_single_epoch": dict(backend="keras3", capture="pty", verbose=1,
                            epochs=1, batch_size=16, sleep=0.03),
    "k3_sparse": dict(backend="keras3", capture="pipe", verbose=1, epochs=3,
                      model="sparse"),
    "k3_unknown_steps": dict(backend="keras3", capture="pty", verbose=1,
                             epochs=2, data="generator", sleep=0.03),
    # --- tf-keras (Keras 2) ----------------------------------------------
    "tfk_v1_pty": dict(backend="tf_keras", capture="pty", verbose=1, epochs=3,
                       batch_size=16, sleep=0.03),
    "tfk_v1_pipe": dict(backend="tf_keras", capture="pipe", verbose=1,
                        epochs=3, batch_size=16, sleep=0.03),
    "tfk_v2": dict(backend="tf_keras", capture="pipe", verbose=2, epochs=4,
                   validation=True),
    "tfk_val_pty": dict(backend="tf_keras", capture="pty", verbose=1,
                        epochs=3, batch_size=32, sleep=0.03, validation=True),
    "tfk_early_stopping": dict(backend="tf_keras", capture="pipe", verbose=1,
                               epochs=6, early_stopping=True),
}

N_SAMPLES = 256
N_FEATURES = 8


def _child(name: str, truth_path: str) -> None:
    """Run one configuration in this (child) process; write its truth JSON."""
    cfg = CONFIGS[name]
    import numpy as np

    if cfg["backend"] == "keras3":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
    else:
        import tf_keras as keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype("float32")
    w = rng.normal(size=(N_FEATURES,)).astype("float32")
    y = (x @ w + 0.5 * rng.normal(size=N_SAMPLES) > 0).astype("float32")
    model_kind = cfg.get("model", "binary")
    batch_size = cfg.get("batch_size", 32)
    layers = keras.layers

    inputs = keras.Input(shape=(N_FEATURES,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    if model_kind == "multi_output":
        out_a = layers.Dense(1, activation="sigmoid", name="out_a")(hidden)
        out_b = layers.Dense(1, name="out_b")(hidden)
        model = keras.Model(inputs, [out_a, out_b])
        model.compile(
            optimizer="adam",
            loss={"out_a": "binary_crossentropy", "out_b": "mse"},
            metrics={"out_a": ["accuracy"], "out_b": ["mae"]},
        )
        targets: Any = {"out_a": y, "out_b": x[:, :1] * 2.0}
    elif model_kind == "sparse":
        labels = np.digitize(x @ w, [-1.0, 1.0]).astype("int64")  # 3 classes
        outputs = layers.Dense(3, activation="softmax")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        targets = labels
    elif model_kind == "diverge":
        # A regression with an absurd learning rate: the weights overflow to
        # inf within the first epoch and the loss becomes nan.
        outputs = layers.Dense(1)(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12),
                      loss="mse")
        targets = y * 1000.0
    else:
        outputs = layers.Dense(1, activation="sigmoid")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="binary_crossentropy",
                      metrics=["accuracy"])
        targets = y

    callbacks: list[Any] = []
    if cfg.get("sleep"):
        delay = cfg["sleep"]
        callbacks.append(keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: time.sleep(delay)))
    if cfg.get("early_stopping"):
        # min_delta far above any real improvement: no epoch counts as an
        # improvement, so training stops after 1 + patience epochs.
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="loss", min_delta=10.0, patience=2, verbose=1))

    fit_kwargs: dict[str, Any] = dict(epochs=cfg["epochs"], verbose=cfg["verbose"],
                                      callbacks=callbacks)
    if cfg.get("validation"):
        fit_kwargs["validation_data"] = (
            x[:64], {k: v[:64] for k, v in targets.items()}
            if isinstance(targets, dict) else targets[:64])
    if cfg.get("data") == "generator":
        # A dataset from a generator has unknown cardinality: Keras shows
        # "N/Unknown" during the first epoch.
        def batches():
            for start in range(0, N_SAMPLES, batch_size):
                yield x[start:start + batch_size], targets[start:start + batch_size]

        ds = tf.data.Dataset.from_generator(
            batches,
            output_signature=(
                tf.TensorSpec((None, N_FEATURES), tf.float32),
                tf.TensorSpec((None,), tf.float32),
            ),
        )
        history = model.fit(ds, **fit_kwargs)
    else:
        history = model.fit(x, targets, batch_size=batch_size, **fit_kwargs)

    def encode(v: float) -> float | str:
        v = float(v)
        return v if math.isfinite(v) else repr(v)

    hist = {k: [encode(v) for v in vals] for k, vals in history.history.items()}
    steps = math.ceil(N_SAMPLES / batch_size)
    backend = cfg["backend"]
    version = keras.__version__
    truth = {
        "history": hist,
        "epochs_run": len(next(iter(hist.values()))),
        "epochs_total": cfg["epochs"],
        "steps": steps,
        "target": steps,  # what the progress counter counts up to
        "unit": "step",
        # Keras 3 prints no "Epoch 1/1" header when epochs == 1; tf-keras does.
        "header_expected": cfg["epochs"] > 1 or backend == "tf_keras",
        "source": (f"{'keras' if backend == 'keras3' else 'tf-keras'} {version} "
                   f"tf {tf.__version__} verbose={cfg['verbose']} "
                   f"{cfg['capture']}"),
        "config": cfg,
        "python": platform.python_version(),
        "generated_by": "tests/data/logs/generate_logs.py",
    }
    Path(truth_path).write_text(json.dumps(truth, indent=1) + "\n",
                                encoding="utf-8")


def _capture_pty(cmd: list[str], env: dict[str, str]) -> bytes:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal; return bytes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end of the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    if proc.wait() != 0:
        raise RuntimeError(f"{cmd} failed:\n{b''.join(chunks).decode(errors='replace')}")
    return b"".join(chunks)


def _capture_pipe(cmd: list[str], env: dict[str, str]) -> bytes:
    """Run ``cmd`` with stdout and stderr merged into one pipe; return bytes."""
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout.decode(errors='replace')}")
    return proc.stdout


def generate(name: str) -> None:
    """Run configuration ``name`` in a subprocess and write NAME.txt/.json."""
    cfg = CONFIGS[name]
    env = dict(os.environ, PYTHONUNBUFFERED="1", KERAS_BACKEND="tensorflow",
               CUDA_VISIBLE_DEVICES="-1")
    with tempfile.TemporaryDirectory() as tmp:
        truth_path = os.path.join(tmp, "truth.json")
        cmd = [sys.executable, __file__, "--child", name, truth_path]
        capture = _capture_pty if cfg["capture"] == "pty" else _capture_pipe
        raw = capture(cmd, env)
        truth = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    text = raw.decode("utf-8", errors="replace")
    has_header = "Epoch 1/" in text
    if has_header != truth["header_expected"]:
        raise RuntimeError(f"{name}: header printed={has_header}, "
                           f"expected {truth['header_expected']}")
    with open(HERE / f"{name}.txt", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    (HERE / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n",
                                       encoding="utf-8")
    print(f"{name}: {len(raw)} bytes, {truth['epochs_run']} epochs, {truth['source']}")


def main(argv: list[str] | None = None) -> None:
    """Command line: regenerate all configurations, or the ones named."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="configurations (default: all)")
    parser.add_argument("--child", nargs=2, metavar=("NAME", "TRUTH_JSON"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    for name in args.names or CONFIGS:
        generate(name)


if __name__ == "__main__":
    main()
