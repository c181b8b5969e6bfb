"""Make the real Keras logs of ``tests/test_wild_logs.py``'s own runs (run once; committed).

Each scenario below builds a small model whose training goes a known way (it
overfits, its loss is frozen, its loss holds L2 penalties, ...), runs
``model.fit`` in a child Python process and captures what Keras printed
(stdout and stderr, through a pipe, as ``python train.py 2>&1 | tee log``
would). For every scenario ``NAME`` it writes, next to this script:

``NAME.txt``
    The captured text, as printed.
``NAME.json``
    ``{"history": ..., "loss": ..., "n_classes": ..., "expected": ...}``:
    ``History.history`` of each fit call, the loss name and K to diagnose
    it with, and what the scenario was built to show, in the wild logs'
    vocabulary (``must_report``, ``must_not_claim``), with the reason. The
    expectations come from how each run was built, not from lossbounds.

Run from the repository root::

    python tests/data/own/make_logs.py            # all
    python tests/data/own/make_logs.py own_frozen  # one

Seeds are fixed; timings in the text differ from run to run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Code shared by the scenarios: data and a fit that records History.history.
PRELUDE = '''
import json, os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np
import keras
from keras import layers
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
HISTORIES = []
def fit(model, *args, **kwargs):
    history = model.fit(*args, **kwargs)
    HISTORIES.append({k: [float(v) for v in vs] for k, vs in history.history.items()})
    return history
'''

EPILOGUE = '''
with open(sys.argv[1], "w") as out:
    json.dump(HISTORIES, out)
'''

SCENARIOS: dict[str, dict] = {
    # A wide network on 90 samples with noisy labels: the training loss keeps
    # falling while val_loss turns up after a few epochs.
    "own_overfit": dict(loss="sparse_categorical_crossentropy", n_classes=3, code='''
x = rng.normal(size=(90, 20)).astype("float32")
y = np.argmax(x[:, :3] + rng.normal(scale=1.0, size=(90, 3)), axis=1)
model = keras.Sequential([keras.Input((20,)), layers.Dense(256, activation="relu"),
                          layers.Dense(256, activation="relu"), layers.Dense(3, activation="softmax")])
model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
fit(model, x, y, epochs=30, batch_size=16, validation_split=0.33, verbose=2)
''', expected=dict(
        must_report=[("overfitting", "val_loss rises after its best epoch while the training "
                      "loss keeps falling: a 256-256 network on 60 training samples with noisy "
                      "labels")],
        must_not_claim=[("rising_loss", "the training loss falls"),
                        ("stuck", "the training loss falls every few epochs"),
                        ("worse_than_chance", "the training loss is far below ln 3")])),
    # L2 penalties larger than the data loss: the printed loss stays above ln 2
    # while the accuracy is near 1 (SGD shrinks the weights slowly).
    "own_l2": dict(loss="categorical_crossentropy", n_classes=2, code='''
x = rng.normal(size=(400, 8)).astype("float32")
y = (x @ rng.normal(size=8) > 0).astype("int64")
reg = keras.regularizers.l2(0.01)
model = keras.Sequential([keras.Input((8,)),
                          layers.Dense(256, activation="relu", kernel_regularizer=reg),
                          layers.Dense(256, activation="relu", kernel_regularizer=reg),
                          layers.Dense(2, activation="softmax", kernel_regularizer=reg)])
model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "categorical_crossentropy",
              metrics=["accuracy"])
fit(model, x, np.eye(2)[y], epochs=8, batch_size=32, validation_split=0.25, verbose=1)
''', expected=dict(
        must_report=[("regularisation_in_loss", "kernel_regularizer=l2(0.01) on 256-unit layers "
                      "adds penalties of several nats to loss and val_loss, while the accuracy "
                      "is above 0.9")],
        must_not_claim=[("worse_than_chance", "the accuracy is far above 0.5"),
                        ("at_chance", "the accuracy is far above 0.5"),
                        ("stuck", "the loss falls every epoch as the penalties shrink")])),
    # A tanh output on targets around 100: the output saturates at 1, the
    # gradients vanish, and the loss prints the same value epoch after epoch.
    "own_frozen": dict(loss="mean_squared_error", n_classes=None, code='''
x = rng.normal(size=(256, 4)).astype("float32")
y = (100 + 10 * x[:, 0]).astype("float32")
model = keras.Sequential([keras.Input((4,)), layers.Dense(16, activation="tanh"),
                          layers.Dense(1, activation="tanh")])
model.compile("rmsprop", "mse")
fit(model, x, y, epochs=8, batch_size=32, verbose=1)
''', expected=dict(
        must_report=[("stuck", "the tanh output is saturated: the loss cannot move")],
        must_not_claim=[("rising_loss", "the loss is constant"),
                        ("still_improving", "the loss is constant"),
                        ("overfitting", "no validation data"),
                        ("healthy", "nothing is learned")])),
    # metrics=["accuracy"] on a continuous target: the MSE falls, accuracy stays ~0.
    "own_regression_accuracy": dict(loss="mean_squared_error", n_classes=None, code='''
x = rng.normal(size=(300, 6)).astype("float32")
y = (x @ rng.normal(size=6) + 0.1 * rng.normal(size=300)).astype("float32")
model = keras.Sequential([keras.Input((6,)), layers.Dense(32, activation="relu"), layers.Dense(1)])
model.compile(keras.optimizers.Adam(1e-2), "mse", metrics=["accuracy"])
fit(model, x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=2)
''', expected=dict(
        must_report=[("mismatch", "accuracy on a continuous regression target counts exact "
                      "matches")],
        must_not_claim=[("stuck", "the MSE falls"), ("at_chance", "no chance level for MSE"),
                        ("worse_than_chance", "no chance level for MSE")])),
    # Two fresh models, one fit each, printed into one log: two separate runs.
    "own_two_runs": dict(loss="binary_crossentropy", n_classes=None, code='''
x = rng.normal(size=(256, 8)).astype("float32")
y = (x @ rng.normal(size=8) > 0).astype("float32")
for seed in (1, 2):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, epochs=6, batch_size=32, validation_split=0.25, verbose=1)
''', expected=dict(
        must_report=[],
        must_not_claim=[("rising_loss", "each run's loss falls; the jump at the restart is a "
                         "new model"),
                        ("spike", "the restart is no spike"),
                        ("overfitting", "both runs' val_loss falls")])),
    # One epoch at a learning rate 200 times too high: the loss jumps a
    # thousandfold and the weights never come back.
    "own_spike": dict(loss="sparse_categorical_crossentropy", n_classes=4, code='''
x = rng.normal(size=(320, 8)).astype("float32")
y = np.argmax(x[:, :4], axis=1)
model = keras.Sequential([keras.Input((8,)), layers.Dense(32, activation="relu"),
                          layers.Dense(4, activation="softmax")])
model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
rate = lambda epoch, lr: 10.0 if epoch == 6 else 0.05
fit(model, x, y, epochs=14, batch_size=32, verbose=2,
    callbacks=[keras.callbacks.LearningRateScheduler(rate)])
''', expected=dict(
        must_report=[("spike", "epoch 7 runs at a learning rate 200 times higher: the loss "
                      "jumps from below 1 to thousands and stays far up")],
        must_not_claim=[("stuck", "the loss falls before and after the jump"),
                        ("still_improving", "the loss is thousands of times its level before "
                         "the jump"),
                        ("healthy", "one epoch wrecked the weights")])),
    # A small learning rate and few epochs: the loss is still falling at the end.
    "own_still_improving": dict(loss="sparse_categorical_crossentropy", n_classes=3, code='''
x = rng.normal(size=(300, 8)).astype("float32")
y = np.argmax(x[:, :3], axis=1)
model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"),
                          layers.Dense(3, activation="softmax")])
model.compile(keras.optimizers.SGD(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
fit(model, x, y, epochs=8, batch_size=32, validation_split=0.2, verbose=1)
''', expected=dict(
        must_report=[("still_improving", "SGD at 0.02 for 8 epochs: both losses still fall")],
        must_not_claim=[("stuck", "the losses fall every epoch"),
                        ("overfitting", "val_loss falls"),
                        ("rising_loss", "the loss falls")])),
    # A learning rate of 0: the loss sits at ln 4 from the first epoch.
    "own_lr_zero": dict(loss="sparse_categorical_crossentropy", n_classes=4, code='''
x = rng.normal(size=(256, 8)).astype("float32")
y = rng.integers(0, 4, size=256)
model = keras.Sequential([keras.Input((8,)), layers.Dense(4, activation="softmax",
                          kernel_initializer="zeros")])
model.compile(keras.optimizers.Adam(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
fit(model, x, y, epochs=5, batch_size=32, verbose=1)
''', expected=dict(
        must_report=[("at_chance", "zero weights predict 1/4 for every class: ln 4, and a "
                      "learning rate of 0 keeps them")],
        must_not_claim=[("still_improving", "nothing changes"),
                        ("rising_loss", "nothing changes"),
                        ("healthy", "nothing is learned")])),
}


def _run(name: str) -> None:
    scenario = SCENARIOS[name]
    truth = HERE / f"{name}.history.tmp"
    code = PRELUDE + scenario["code"] + EPILOGUE
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", code, str(truth)], capture_output=True,
                          env=env, check=False)
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{text}")
    histories = json.loads(truth.read_text())
    truth.unlink()
    (HERE / f"{name}.txt").write_text(text, encoding="utf-8", newline="")
    import keras  # noqa: F401 - for the version only

    meta = {
        "source": "tests/data/own/make_logs.py, scenario " + name,
        "keras": sys.modules["keras"].__version__,
        "loss": scenario["loss"],
        "n_classes": scenario["n_classes"],
        "histories": [{k: [v if math.isfinite(v) else repr(v) for v in vs]
                       for k, vs in h.items()} for h in histories],
        "expected": {key: [{"kind": kind, "why": why} for kind, why in items]
                     for key, items in scenario["expected"].items()},
    }
    (HERE / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"{name}: {sum(len(h.get('loss', [])) for h in histories)} epochs")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(SCENARIOS):
        _run(name)
