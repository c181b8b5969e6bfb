"""LossMeter: the running loss Keras' progress bar shows.

``model.fit`` feeds each batch's loss to a ``keras.metrics.Mean`` weighted by
the batch size; LossMeter must give the same running value, batch after
batch, and the same epoch loss as ``history.history["loss"]``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from compare import assert_close
from keras_reference import CLASS_NAMES

import lossbounds
from lossbounds.registry import get_loss

N = 250


def batches(n, batch_size):
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def data(name, options, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((N, 4)).astype(np.float32) * 2
    if name == "mean_squared_error":
        return rng.standard_normal((N, 3)).astype(np.float32), logits[:, :3]
    if name == "binary_crossentropy":
        targets = rng.integers(0, 2, (N, 4)).astype(np.float32)
        return targets, (logits if options.get("from_logits") else 1 / (1 + np.exp(-logits)))
    labels = rng.integers(0, 4, N)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predictions = logits if options.get("from_logits") else probabilities
    if name == "categorical_crossentropy":
        return np.eye(4, dtype=np.float32)[labels], predictions
    return labels, predictions


CASES = [
    ("sparse_categorical_crossentropy", {"from_logits": True}),
    ("sparse_categorical_crossentropy", {}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("binary_crossentropy", {"from_logits": True}),
    ("mean_squared_error", {}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
@pytest.mark.parametrize("batch_size", [1, 7, 32, 100])
def test_meter_follows_keras_mean_batch_by_batch(name, options, batch_size):
    y_true, y_pred = data(name, options)
    keras_loss = getattr(keras.losses, CLASS_NAMES[name])(**options)
    tracker = keras.metrics.Mean(name="loss")  # model.fit's loss tracker
    meter = lossbounds.LossMeter(name, **options)
    for rows in batches(N, batch_size):
        batch_loss = keras_loss(y_true[rows], y_pred[rows])
        # keras/src/backend/tensorflow/trainer.py: train_step
        tracker.update_state(batch_loss, sample_weight=y_pred[rows].shape[0])
        assert_close(meter.update(y_true[rows], y_pred[rows]), np.asarray(batch_loss))
        assert_close(meter.result(), np.asarray(tracker.result()))
    assert meter.count == N


def test_same_batch_losses_give_the_same_float32_totals():
    # fed the same batch losses, meter and keras.metrics.Mean agree bit for bit
    y_true, y_pred = data("sparse_categorical_crossentropy", {})
    tracker = keras.metrics.Mean()
    meter = lossbounds.LossMeter("sparse_cce")
    for rows in batches(N, 9):
        value = meter.update(y_true[rows], y_pred[rows])
        tracker.update_state(np.float32(value), sample_weight=y_pred[rows].shape[0])
        assert meter.result() == float(tracker.result())


def test_sample_weights_weight_the_batch_loss_not_the_running_mean():
    y_true, y_pred = data("sparse_categorical_crossentropy", {})
    weights = np.random.default_rng(1).random(N) * 3
    keras_loss = keras.losses.SparseCategoricalCrossentropy()
    tracker = keras.metrics.Mean()
    meter = lossbounds.LossMeter("sparse_cce")
    for rows in batches(N, 32):
        batch_loss = keras_loss(y_true[rows], y_pred[rows], sample_weight=weights[rows])
        tracker.update_state(batch_loss, sample_weight=y_pred[rows].shape[0])
        meter.update(y_true[rows], y_pred[rows], sample_weight=weights[rows])
    assert_close(meter.result(), np.asarray(tracker.result()))


def fit_setup(seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((203, 5)).astype(np.float32)
    y = rng.integers(0, 4, 203)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    return x, y, model


def test_meter_reproduces_the_epoch_loss_of_fit():
    x, y, model = fit_setup()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    logits = model.predict(x, verbose=0)  # the weights never moved
    meter = lossbounds.LossMeter("sparse_cce", from_logits=True)
    for epoch in range(2):
        meter.reset()  # Keras resets its tracker when an epoch starts
        for rows in batches(len(x), 16):
            meter.update(y[rows], logits[rows])
        assert_close(meter.result(), np.float32(history.history["loss"][epoch]))


def test_training_loss_is_a_running_mean_over_changing_weights():
    # while the model learns, fit's loss averages each batch's loss under the
    # weights of that moment: not the final model's loss, which evaluate gives
    x, y, model = fit_setup(1)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []

    class Capture(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rows = batches(len(x), 16)[batch]
            seen.append((rows, np.asarray(self.model(x[rows], training=False))))

    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                        callbacks=[Capture()])
    meter = lossbounds.LossMeter("sparse_cce", from_logits=True)
    for rows, logits in seen:
        meter.update(y[rows], logits)
    assert_close(meter.result(), np.float32(history.history["loss"][0]))
    final = model.evaluate(x, y, batch_size=len(x), verbose=0)
    assert final < meter.result() - 0.01


def test_reset_count_and_empty_result():
    meter = lossbounds.LossMeter("mse")
    assert meter.result() == 0.0 and meter.count == 0  # Keras: divide_no_nan
    meter.update([[1.0], [2.0]], [[1.0], [1.0]])
    assert meter.result() == 0.5 and meter.count == 2
    meter.reset()
    assert meter.result() == 0.0 and meter.count == 0
    assert "mean_squared_error" in repr(meter)


@pytest.mark.parametrize(("options", "error"), [
    ({"reduction": "none"}, ValueError),
    ({"reduction": None}, ValueError),
    ({"ignore_class": 1}, TypeError),  # not a BCE option
    ({"sample_weight": [1.0]}, TypeError),
])
def test_bad_meter_options(options, error):
    with pytest.raises(error):
        lossbounds.LossMeter("bce", **options)


@pytest.mark.parametrize("name", ["mean_squared_logarithmic_error", "log_cosh", "kl_divergence",
                                  "poisson", "hinge", "squared_hinge", "categorical_hinge",
                                  "mean_absolute_error", "mean_absolute_percentage_error",
                                  "huber", "cosine_similarity", "binary_focal_crossentropy",
                                  "categorical_focal_crossentropy"])
@pytest.mark.parametrize("width", [3, 10, 40])
def test_row_wise_losses_stream_bit_for_bit(name, width):
    # Several blocks of rows, whose sizes (rows x width) keep TensorFlow's 8-element packets
    # where the whole array has them: every per-sample value equals the whole-array one.
    rng = np.random.default_rng(width)
    n = 1_200_007 // width
    y_true = rng.random((n, width), dtype=np.float32)
    if name == "mean_absolute_percentage_error":
        y_true += np.float32(0.5)  # targets away from 0
    if name in ("hinge", "squared_hinge"):
        y_true = np.round(y_true)  # 0/1 labels: converted to -1/+1 for the whole array
    y_pred = rng.random((n, width), dtype=np.float32)
    with lossbounds.accelerator(False):  # the numpy kernels (the fused ones: test_accelerator.py)
        plan = get_loss(name).plan(y_true, y_pred, np.dtype(np.float32))
    assert plan.job is not None and plan.job.n_rows > plan.job.block_rows
    np.testing.assert_array_equal(plan.values()[0], plan.reference()[0])


@pytest.mark.parametrize("k", [3, 1000])
def test_generalized_cross_entropy_streams_bit_for_bit(k):
    rng = np.random.default_rng(k)
    n = 1_200_007 // k
    labels, y_pred = rng.integers(0, k, n), rng.random((n, k), dtype=np.float32)
    plan = get_loss("categorical_generalized_cross_entropy").plan(
        labels, y_pred, np.dtype(np.float32), q=0.5)
    assert plan.job is not None and plan.job.n_rows > plan.job.block_rows
    np.testing.assert_array_equal(plan.values()[0], plan.reference()[0])
