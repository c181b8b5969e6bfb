"""lossbounds.keras against live Keras 3 (TensorFlow backend): bounds_for and BoundsCallback.

Every model is tiny (a few hundred samples, 1-3 epochs) and seeded with
keras.utils.set_random_seed, so each test runs in a second or two.
"""

import math
import pathlib
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from keras import layers

import lossbounds
from lossbounds.keras import (
    BoundsCallback,
    LossBoundsWarning,
    bounds_for,
    check_init_loss,
    loss_on_batch,
)

K = 5
D = 8
CACHED = "inside fit/evaluate Keras computes this loss from the cached logits"


@pytest.fixture(scope="module")
def data():
    """300 samples whose labels a linear model can learn: y = argmax(x W)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, D)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(D, K)), axis=1)
    return x, y


def classifier(activation="softmax", loss="sparse_categorical_crossentropy", *, bias=0.0,
               kernel_std=0.01, units=K, learning_rate=0.01, **dense):
    """Dense(16, relu) then a Dense(units) head with small weights and the given bias."""
    keras.utils.set_random_seed(1)
    head_bias = np.zeros(units, "float32")
    head_bias[0] = bias  # a large bias on one class: confidently wrong at init
    model = keras.Sequential([
        keras.Input((D,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(units, activation=activation,
                     kernel_initializer=keras.initializers.RandomNormal(stddev=kernel_std),
                     bias_initializer=keras.initializers.Constant(head_bias), **dense),
    ])
    model.compile(keras.optimizers.Adam(learning_rate), loss)
    return model


def lossbounds_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, LossBoundsWarning)]


def fit(model, x, y, callback, **kwargs):
    """Fit with warnings recorded; returns (History, LossBoundsWarning messages)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=32, verbose=0, callbacks=[callback], **kwargs)
    return history, lossbounds_warnings(record)


# --------------------------------------------------------------------------
# bounds_for: what it reads from the model


def test_softmax_head_with_a_string_loss():
    b = bounds_for(classifier("softmax", "sparse_categorical_crossentropy"))
    assert b.loss == "sparse_categorical_crossentropy"
    assert b.options["n_classes"] == K  # from the output shape
    assert "from_logits" not in b.options  # the default, False
    assert b.uniform == pytest.approx(math.log(K))
    assert b.worst == lossbounds.worst_case("sparse_cce", n_classes=K)
    assert b.best == lossbounds.best_case("sparse_cce", n_classes=K)
    cached = [n for n in b.notes if CACHED in n]
    assert len(cached) == 1 and "softmax" in cached[0] and "not bounded by the clipped worst" in cached[0]
    # bounds()' conditional wording is replaced, not repeated.
    assert not any("when the model's last layer is a softmax or sigmoid" in n for n in b.notes)


def test_linear_head_with_from_logits_loss_instance():
    model = classifier(None, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    b = bounds_for(model)
    assert b.options["from_logits"] is True and b.options["n_classes"] == K
    assert b.worst == math.inf and b.best == 0.0
    assert not any(CACHED in n for n in b.notes)
    assert not any("look like logits" in n for n in b.notes)


def test_sigmoid_head_with_label_smoothing():
    model = classifier("sigmoid", keras.losses.BinaryCrossentropy(label_smoothing=0.1), units=1)
    b = bounds_for(model)
    assert b.loss == "binary_crossentropy"
    assert b.options["label_smoothing"] == pytest.approx(0.1)
    assert "n_classes" not in b.options  # BCE: the uniform baseline is ln 2
    assert b.uniform == pytest.approx(math.log(2))
    assert b.best == pytest.approx(lossbounds.best_case("bce", label_smoothing=0.1))
    assert b.worst == pytest.approx(lossbounds.worst_case("bce", label_smoothing=0.1))
    assert any(CACHED in n and "sigmoid" in n for n in b.notes)


def test_several_sigmoid_outputs_keep_the_ln_2_baseline():
    b = bounds_for(classifier("sigmoid", "binary_crossentropy", units=4))
    assert b.uniform == pytest.approx(math.log(2))
    assert any("averages over 4 outputs" in n for n in b.notes)


def test_mean_squared_error():
    b = bounds_for(classifier(None, "mse", units=3))
    assert b.loss == "mean_squared_error"
    assert b.uniform is None and b.best == 0.0 and b.worst == math.inf
    assert not any(CACHED in n for n in b.notes)  # MSE never uses the cached logits


def test_mean_squared_error_on_a_sigmoid_head_is_bounded_with_a_target_range():
    b = bounds_for(classifier("sigmoid", "mse", units=3), y_range=(0, 1))
    assert b.options["pred_range"] == (0.0, 1.0) and b.worst == 1.0


def test_linear_head_with_a_probability_loss_is_noted():
    b = bounds_for(classifier(None, "sparse_categorical_crossentropy"))
    assert any("outputs look like logits but the loss treats them as probabilities" in n
               for n in b.notes)


def test_double_softmax_is_noted():
    b = bounds_for(classifier("softmax", keras.losses.CategoricalCrossentropy(from_logits=True)))
    note = next(n for n in b.notes if "double softmax" in n)
    assert "from_logits=True" in note
    assert not any(CACHED in n for n in b.notes)


@pytest.mark.parametrize("second", [layers.Activation("softmax"), layers.Softmax()], ids=["Activation", "Softmax"])
def test_stacked_softmax_layers_are_noted_with_their_floor(second):
    # Dense(softmax) then a softmax layer: the second softmax sees inputs in [0, 1]. Its
    # best case is a one-hot input, e/(e + K - 1) on the label: loss ln(1 + (K-1)/e).
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((D,)),
        layers.Dense(K, activation="softmax", kernel_initializer="zeros",
                     bias_initializer=keras.initializers.Constant([60.0] + [0.0] * (K - 1))),
        layers.Identity(),
        second,
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    floor = math.log1p((K - 1) / math.e)
    note = next(n for n in bounds_for(model).notes if "double softmax" in n)
    assert f"{floor:.4g}" in note and "give dense" in note
    # Keras reaches the floor on that input, and no label does better
    x = np.ones((4, D), "float32")
    assert model.evaluate(x, np.zeros(4, int), verbose=0) == pytest.approx(floor, abs=1e-6)
    assert model.evaluate(x, np.ones(4, int), verbose=0) > floor


def test_stacked_sigmoid_layers_are_noted():
    model = keras.Sequential([keras.Input((D,)), layers.Dense(1, activation="sigmoid"),
                              layers.Activation("sigmoid")])
    model.compile("adam", "binary_crossentropy")
    note = next(n for n in bounds_for(model).notes if "double sigmoid" in n)
    assert "[0.5, 0.7311]" in note and "ln 2" in note


def test_only_identity_layers_are_looked_past_for_a_double_softmax():
    # A relu in between is no double softmax; dropout rescales in training, so the floor would not hold.
    for middle in (layers.Dense(K, activation="relu"), layers.Dropout(0.2)):
        model = keras.Sequential([keras.Input((D,)), layers.Dense(K, activation="softmax"), middle,
                                  layers.Activation("softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        assert not any("double softmax" in n for n in bounds_for(model).notes)


def test_functional_model_with_a_softmax_layer_and_a_loss_function():
    inputs = keras.Input((D,))
    outputs = layers.Softmax()(layers.Dense(K)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.sparse_categorical_crossentropy)
    b = bounds_for(model)
    assert b.loss == "sparse_categorical_crossentropy" and b.options["n_classes"] == K
    assert any(CACHED in n for n in b.notes)


def test_loss_dtype_and_regularisation_are_read():
    model = classifier("softmax", keras.losses.SparseCategoricalCrossentropy(dtype="float64"),
                       kernel_regularizer="l2")
    b = bounds_for(model)
    assert b.options["dtype"] == "float64"
    assert b.worst == lossbounds.worst_case("sparse_cce", n_classes=K, dtype="float64")
    assert any("regularisation penalty" in n for n in b.notes)


def test_loss_weights_are_noted():
    model = classifier()
    model.compile("adam", "sparse_categorical_crossentropy", loss_weights=2.0)
    assert any("loss_weights=2.0" in n for n in bounds_for(model).notes)


def test_overrides_win():
    b = bounds_for(classifier(), counts=[50, 20, 10, 10, 10], backend="jax")
    assert b.prior == pytest.approx(lossbounds.prior_baseline("sparse_cce", counts=[50, 20, 10, 10, 10],
                                                              backend="jax"))
    assert b.options["backend"] == "jax"


def test_a_custom_loss_function_can_be_named():
    def my_loss(y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    model = classifier("softmax", my_loss)
    with pytest.raises(ValueError, match=r"my_loss\(\) is not one lossbounds knows.*name it"):
        bounds_for(model)
    assert bounds_for(model, loss="sparse_cce").uniform == pytest.approx(math.log(K))


class ContrastiveLoss(keras.losses.Loss):
    """A loss lossbounds does not know (Huber and Hinge, used here before, are known now)."""

    def call(self, y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)


def test_unknown_keras_loss_is_named():
    with pytest.raises(ValueError, match=r"ContrastiveLoss\(.*\) is not one lossbounds knows; it "
                                         r"bounds mean_squared_error, mean_absolute_error"):
        bounds_for(classifier(None, ContrastiveLoss(), units=1))


def test_crossentropy_shortcut_needs_the_loss_named():
    with pytest.raises(ValueError, match="lets Keras pick binary, categorical or sparse"):
        bounds_for(classifier("softmax", "crossentropy"))


def test_model_not_compiled():
    model = keras.Sequential([keras.Input((D,)), layers.Dense(K)])
    with pytest.raises(ValueError, match=r"is not compiled with a loss.*model\.compile"):
        bounds_for(model)


def test_not_a_model_and_unknown_options():
    with pytest.raises(TypeError, match="`model` must be a keras.Model, got str"):
        bounds_for("sparse_cce")
    with pytest.raises(TypeError, match="unexpected option.*'classes'"):
        bounds_for(classifier(), classes=5)


def test_unbuilt_model_needs_n_classes():
    model = keras.Sequential([layers.Dense(K, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="no known output shape.*n_classes=K"):
        bounds_for(model)
    assert bounds_for(model, n_classes=K).uniform == pytest.approx(math.log(K))


def test_multi_output_models_are_refused():
    inputs = keras.Input((D,))
    model = keras.Model(inputs, [layers.Dense(K, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    model.compile("adam", {"a": "sparse_categorical_crossentropy", "b": "mse"})
    with pytest.raises(ValueError, match="has 2 losses"):
        bounds_for(model)


# --------------------------------------------------------------------------
# The init check


def test_init_loss_is_what_evaluate_reports(data):
    x, y = data
    model = classifier(bias=3.0, kernel_std=0.5)
    expected = model.evaluate(x[:64], y[:64], batch_size=64, verbose=0)
    callback = BoundsCallback(x[:64], y[:64], verbose=0)
    fit(model, x, y, callback, epochs=1)
    assert callback.init_loss == pytest.approx(expected, rel=1e-6)
    assert loss_on_batch(classifier(bias=3.0, kernel_std=0.5), x[:64], y[:64]) == pytest.approx(
        expected, rel=1e-6)


def test_a_large_final_bias_is_flagged(data, capsys):
    x, y = data
    callback = BoundsCallback(x[:64], y[:64])
    history, warned = fit(classifier(bias=10.0), x, y, callback, epochs=1)
    assert callback.init_check.kind == "above_uniform"
    assert callback.init_loss > 2 * math.log(K)
    # Said once (issue 12): printed with verbose=1, not also a LossBoundsWarning.
    assert not warned
    init = [line for line in capsys.readouterr().out.splitlines() if "init loss" in line]
    assert len(init) == 1 and init[0].startswith("[lossbounds] init loss")
    assert "above the uniform baseline ln 5 = 1.609" in init[0]
    assert "a final-layer bias that is not zero" in init[0]
    # verbose=0: the same words as a warning, nothing printed
    quiet = BoundsCallback(x[:64], y[:64], verbose=0)
    _, warned = fit(classifier(bias=10.0), x, y, quiet, epochs=1)
    assert [w for w in warned if w.startswith("init loss")] == [callback.init_check.message]
    assert capsys.readouterr().out == ""


def test_a_healthy_init_is_not_flagged(data, capsys):
    x, y = data
    callback = BoundsCallback(x[:64], y[:64])
    history, warned = fit(classifier(), x, y, callback, epochs=2)
    assert callback.init_check.kind == "near_uniform"
    assert callback.init_loss == pytest.approx(math.log(K), rel=0.02)
    assert not [w for w in warned if w.startswith("init loss")]
    assert "close to the uniform baseline ln 5 = 1.609" in capsys.readouterr().out


def test_a_head_that_does_not_fit_the_loss_is_warned_before_training(data):
    x, y = data
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((D,)), layers.Dense(K, activation="softmax"),
                              layers.Activation("softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    _, warned = fit(model, x, y, BoundsCallback(verbose=0), epochs=1)
    assert [w for w in warned if w.startswith("model: ")] == [
        "model: " + next(n for n in bounds_for(model).notes if "double softmax" in n)]
    # ...and a healthy head gets no such warning
    _, warned = fit(classifier(), x, y, BoundsCallback(verbose=0), epochs=1)
    assert not [w for w in warned if w.startswith("model: ")]


def test_without_a_batch_the_first_training_batch_is_checked(data):
    x, y = data
    callback = BoundsCallback(verbose=0)
    _, warned = fit(classifier(bias=10.0), x, y, callback, epochs=1)
    assert callback.init_check.kind == "above_uniform"
    assert any(w.startswith("init loss") for w in warned)
    healthy = BoundsCallback(verbose=0)
    _, warned = fit(classifier(), x, y, healthy, epochs=1)
    assert healthy.init_check.kind == "near_uniform"
    assert not any(w.startswith("init loss") for w in warned)


def test_weights_that_already_know_the_labels_are_flagged():
    # The inputs are the one-hot labels and the weights map them to their class:
    # a leak, or pretrained weights. The loss at init is far below the prior.
    y = np.arange(200) % K
    x = np.eye(K, dtype="float32")[y]
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((K,)), layers.Dense(
        K, activation="softmax", kernel_initializer=keras.initializers.Constant(8 * np.eye(K)))])
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = BoundsCallback(x[:50], y[:50], verbose=0)
    _, warned = fit(model, x, y, callback, epochs=1)
    assert callback.init_check.kind == "below_prior"
    assert any("labels may leak" in w for w in warned)


def test_a_trained_model_is_not_checked_again(data, capsys):
    x, y = data
    model = classifier(bias=10.0)
    model.fit(x, y, epochs=1, verbose=0)
    callback = BoundsCallback(x[:64], y[:64])
    _, warned = fit(model, x, y, callback, epochs=1)
    assert callback.init_check is None and callback.init_loss is None
    assert "no init check: the model has already taken" in capsys.readouterr().out


@pytest.mark.parametrize("init, kind, severity", [
    (1.61, "near_uniform", "info"),
    (2.95, "above_uniform", "warning"),
    (0.30, "below_uniform", "warning"),
    (math.nan, "not_finite", "warning"),
])
def test_check_init_loss_verdicts(init, kind, severity):
    verdict = check_init_loss(init, lossbounds.bounds("sparse_cce", n_classes=K))
    assert (verdict.kind, verdict.severity) == (kind, severity)


def test_check_init_loss_with_a_prior():
    b = lossbounds.bounds("bce", counts=[900, 100])  # prior H(0.1) = 0.325
    assert check_init_loss(0.33, b).kind == "near_prior"
    assert check_init_loss(0.5, b).kind == "between_prior_and_uniform"
    below = check_init_loss(0.05, b)
    assert below.kind == "below_prior" and "labels may leak" in below.message
    assert check_init_loss(0.95, b, tolerance=0.5).kind == "near_uniform"
    with pytest.raises(ValueError, match="needs a uniform baseline"):
        check_init_loss(1.0, lossbounds.bounds("mse"))


# --------------------------------------------------------------------------
# Epoch ends


def test_loss_vs_uniform_is_logged(data):
    x, y = data
    history, _ = fit(classifier(), x, y, BoundsCallback(verbose=0), epochs=2,
                     validation_data=(x[:60], y[:60]))
    logged = history.history
    np.testing.assert_allclose(logged["loss_vs_uniform"], np.array(logged["loss"]) / math.log(K))
    np.testing.assert_allclose(logged["val_loss_vs_uniform"],
                               np.array(logged["val_loss"]) / math.log(K))
    assert logged["loss_vs_uniform"][-1] < 1  # the model learns


def test_a_finding_is_warned_once(data):
    # A learning rate of 0 keeps the loss at ln K: diagnose finds "at_uniform" every epoch.
    x, y = data
    callback = BoundsCallback(x[:64], y[:64], verbose=0)
    _, warned = fit(classifier(learning_rate=0.0), x, y, callback, epochs=3)
    at_uniform = [w for w in warned if w.startswith("at_uniform")]
    assert len(at_uniform) == 1 and "uniform baseline ln 5 = 1.609" in at_uniform[0]
    assert [f.kind for f in callback.findings] == ["at_uniform"]
    assert [ep.number for ep in callback.log] == [1, 2, 3]
    assert "loss_vs_uniform" not in callback.log.history()


def test_mse_has_no_uniform_ratio(data, capsys):
    x, y = data
    history, warned = fit(classifier(None, "mse", units=1), x, y.astype("float32"),
                          BoundsCallback(x[:64], y[:64]), epochs=1)
    assert "loss_vs_uniform" not in history.history
    assert "no init check and no loss_vs_uniform" in capsys.readouterr().out


def test_callback_argument_errors():
    with pytest.raises(ValueError, match="both `x_batch` and `y_batch`.*got only x_batch"):
        BoundsCallback(np.zeros((2, D)))
    with pytest.raises(ValueError, match=r"`tolerance` must lie in \(0, 1\), got 0"):
        BoundsCallback(tolerance=0)
    with pytest.raises(TypeError, match="`tolerance` must be a number, got str"):
        BoundsCallback(tolerance="0.1")
    with pytest.raises(TypeError, match="`verbose` must be 0, 1 or 2, got bool"):
        BoundsCallback(verbose=True)
    with pytest.raises(TypeError, match="unexpected option.*'nclasses'"):
        BoundsCallback(nclasses=3)
    with pytest.raises(ValueError, match="Unknown loss 'contrastive'"):  # hinge is known now
        BoundsCallback(loss="contrastive")


# --------------------------------------------------------------------------
# With the plot, and the import promise


def test_plot_history_reads_the_bounds_from_a_keras_history(data):
    from lossbounds.plot import plot_history

    x, y = data
    history = classifier().fit(x, y, epochs=2, batch_size=32, verbose=0)
    fig = plot_history(history)
    assert fig.axes[0].get_title() == f"sparse_categorical_crossentropy, K = {K}"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"uniform ln {K} = {math.log(K):.4g}" in labels
    # A softmax head on TensorFlow: the logged loss is not bounded by the clipped worst case.
    # Far above these curves, it is marked at the edge of the axis (issue 12).
    assert "worst 16.12 (clipped; fit() can exceed it), above the axis" in labels


def test_plot_history_of_an_unknown_loss_says_how_to_plot_the_curves(data):
    from lossbounds.plot import plot_history

    x, y = data
    model = classifier(None, ContrastiveLoss(), units=1)  # Huber is known now
    history = model.fit(x, y.astype("float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="ContrastiveLoss.*pass history.history instead"):
        plot_history(history)
    assert plot_history(history.history).axes[0].get_title() == "loss (no bounds: pass loss=...)"


def test_import_lossbounds_does_not_import_keras():
    code = ("import sys, lossbounds\n"
            "assert 'keras' not in sys.modules and 'lossbounds.keras' not in sys.modules\n"
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).parent.parent)


# --------------------------------------------------------------------------
# The callback says what explain says, once, on its own line (issue 12)


def test_bce_on_one_hot_labels_is_flagged_as_explain_flags_it(data):
    x, y = data
    onehot = np.eye(K, dtype="float32")[y]
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((D,)), layers.Dense(K, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    callback = BoundsCallback(x[:64], onehot[:64], verbose=0)
    history, warned = fit(model, x, onehot, callback, epochs=2)
    flagged = [w for w in warned if w.startswith("bce_on_multiclass")]
    assert len(flagged) == 1  # said once, though diagnose finds it every epoch
    assert lossbounds.explain(0.3, "bce", n_classes=K).kinds == ("bce_on_multiclass",)
    # The ratio is to H_b(1/K), the guessing baseline explain uses for these labels.
    uniform = lossbounds.baseline("bce", n_classes=K)
    np.testing.assert_allclose(history.history["loss_vs_uniform"],
                               np.array(history.history["loss"]) / uniform)


def test_one_based_labels_get_the_hint_not_tensorflow_s_error(data, capsys):
    x, y = data
    callback = BoundsCallback(x[:64], y[:64] + 1)  # labels 1..K
    with pytest.raises(Exception):  # noqa: B017 - fit itself fails, as it must, in TensorFlow
        classifier().fit(x, y + 1, epochs=1, verbose=0, callbacks=[callback])
    out = capsys.readouterr().out
    assert "[lossbounds] labels:" in out and "shift 1-based labels down by one" in out
    assert "InvalidArgumentError" not in out


def test_each_thing_is_said_once_on_its_own_line_after_the_progress_bar(data, capsys):
    x, y = data
    callback = BoundsCallback()  # verbose=1: printed, never also warned
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        classifier(learning_rate=0.0).fit(x, y, epochs=3, batch_size=32, verbose=1,
                                          callbacks=[callback])
    assert not lossbounds_warnings(record)
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "[lossbounds]" in line]
    assert said and all(line.startswith("[lossbounds]") for line in said)  # never mid-bar
    assert len(said) == len(set(said))
    assert sum("at_uniform" in line for line in said) == 1


def test_after_one_epoch_no_final_level_and_no_dropout_advice(data, capsys):
    x, y = data
    callback = BoundsCallback(verbose=2)
    classifier(bias=10.0).fit(x, y, epochs=1, batch_size=32, verbose=0,
                              validation_data=(x[:60], y[:60]), callbacks=[callback])
    out = capsys.readouterr().out
    assert "final level" not in out and "100% of the epochs" not in out
    assert "with dropout on" not in out


# --------------------------------------------------------------------------
# A sum or a weighted mean is not compared with per-sample bounds


@pytest.mark.parametrize("weights", ["class_weight", "sample_weight", "sum", "weighted=True"])
def test_weighted_or_summed_losses_raise_no_false_alarms(data, weights):
    x, y = data
    kwargs, options = {}, {}
    loss = "sparse_categorical_crossentropy"
    if weights == "class_weight":
        kwargs["class_weight"] = {k: 20.0 for k in range(K)}  # every loss 20 times larger
    elif weights == "sample_weight":
        kwargs["sample_weight"] = np.full(len(y), 20.0)
    elif weights == "sum":
        loss = keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    else:
        options["weighted"] = True
    callback = BoundsCallback(verbose=0, **options)
    history, said = fit(classifier(loss=loss), x, y, callback, epochs=2, **kwargs)
    assert callback.init_check is None and said == [], said
    assert "loss_vs_uniform" not in history.history
    if weights != "sum":
        assert callback.weighted_fit


def test_an_unweighted_fit_is_not_read_as_weighted(data):
    x, y = data
    callback = BoundsCallback(verbose=0)
    fit(classifier(), x, y, callback, epochs=1)
    assert not callback.weighted_fit and callback.init_check is not None


def test_ctc_reads_its_frames_and_classes_from_the_output():
    model = keras.Sequential([keras.Input((50, 4)), layers.Dense(30)])
    model.compile(loss="ctc")
    found = bounds_for(model, label_length=10)
    assert (found.options["n_classes"], found.options["input_length"]) == (30, 50)
    expected = lossbounds.baseline("ctc", n_classes=30, input_length=50, label_length=10)
    assert found.uniform == expected
