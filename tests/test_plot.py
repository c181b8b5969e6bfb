"""lossbounds.plot.plot_history: curves, reference lines, scale and findings.

The figures are inspected through their artists: each curve, reference line
and finding marker carries a ``gid`` ("lossbounds-curve-loss",
"lossbounds-ref-uniform", "lossbounds-finding-rising_loss").
"""

import math
import pathlib
import subprocess
import sys
import types

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

import lossbounds
from lossbounds.interpret import diagnose
from lossbounds.logs import read_keras_log, read_keras_log_file
from lossbounds.plot import LOG_SCALE_RATIO, plot_history

LOGS = pathlib.Path(__file__).parent / "data" / "logs"
ROOT = pathlib.Path(__file__).parent.parent

HISTORY = {"loss": [2.4, 1.5, 1.1, 0.9, 0.8], "val_loss": [2.3, 1.6, 1.3, 1.2, 1.15]}
# Rises steadily from epoch 1: a rising_loss warning.
RISING = {"loss": [0.50, 0.52, 0.55, 0.60, 0.66, 0.70, 0.75, 0.80]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def artists(fig, prefix):
    """gid -> artist for the lines of the figure's axes whose gid starts with `prefix`."""
    ax = fig.axes[0]
    return {a.get_gid(): a for a in ax.get_lines() if (a.get_gid() or "").startswith(prefix)}


def legend_texts(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


# --------------------------------------------------------------------------
# Curves


def test_train_and_val_curves_are_drawn_per_epoch():
    fig = plot_history(HISTORY, "sparse_cce", n_classes=10)
    curves = artists(fig, "lossbounds-curve-")
    assert set(curves) == {"lossbounds-curve-loss", "lossbounds-curve-val_loss"}
    train, val = curves["lossbounds-curve-loss"], curves["lossbounds-curve-val_loss"]
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(train.get_ydata(), HISTORY["loss"])
    np.testing.assert_array_equal(val.get_ydata(), HISTORY["val_loss"])
    assert train.get_label() == "loss" and val.get_label() == "val_loss"
    assert fig.axes[0].get_xlabel() == "epoch"


@pytest.mark.parametrize("kind", ["dict", "training_log", "history_object"])
def test_accepts_a_dict_a_training_log_and_an_object_with_history(kind):
    text = "".join(
        f"Epoch {i + 1}/5\n4/4 - 0s - loss: {a:.4f} - val_loss: {b:.4f}\n"
        for i, (a, b) in enumerate(zip(HISTORY["loss"], HISTORY["val_loss"]))
    )
    given = {
        "dict": HISTORY,
        "training_log": read_keras_log(text),
        "history_object": types.SimpleNamespace(history=HISTORY, epoch=[0, 1, 2, 3, 4]),
    }[kind]
    fig = plot_history(given, "sparse_cce", n_classes=10)
    train = artists(fig, "lossbounds-curve-")["lossbounds-curve-loss"]
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(train.get_ydata(), HISTORY["loss"])


def test_keras_history_epochs_keep_their_numbers_after_initial_epoch():
    # fit(initial_epoch=3) logs epochs 3, 4 (0-based): Keras prints "Epoch 4/5", "Epoch 5/5".
    history = types.SimpleNamespace(history={"loss": [0.9, 0.8]}, epoch=[3, 4])
    train = artists(plot_history(history, "bce"), "lossbounds-curve-")["lossbounds-curve-loss"]
    np.testing.assert_array_equal(train.get_xdata(), [4, 5])


def test_a_log_of_two_fit_calls_is_renumbered():
    text = "Epoch 1/2\n1/1 - 0s - loss: 0.9\nEpoch 2/2\n1/1 - 0s - loss: 0.8\n" * 2
    train = artists(plot_history(read_keras_log(text), "bce"), "lossbounds-curve-")
    np.testing.assert_array_equal(train["lossbounds-curve-loss"].get_xdata(), [1, 2, 3, 4])


def test_validation_every_other_epoch_is_placed_on_its_epochs():
    # validation_freq=2: Keras' History holds val_loss for epochs 2 and 4 only.
    fig = plot_history({"loss": [1.0, 0.9, 0.8, 0.7], "val_loss": [0.95, 0.85]}, "bce")
    val = artists(fig, "lossbounds-curve-")["lossbounds-curve-val_loss"]
    np.testing.assert_array_equal(val.get_ydata(), [np.nan, 0.95, np.nan, 0.85])


def test_draws_into_a_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_history(HISTORY, "sparse_cce", n_classes=10, ax=ax) is fig
    assert artists(fig, "lossbounds-curve-")


# --------------------------------------------------------------------------
# Reference lines


def test_reference_lines_sit_at_the_bounds_and_are_labelled_with_their_values():
    counts = [500, 300, 150, 50, 0, 0, 0, 0, 0, 0]
    fig = plot_history(HISTORY, "sparse_cce", n_classes=10, counts=counts)
    b = lossbounds.bounds("sparse_cce", n_classes=10, counts=counts)
    refs = artists(fig, "lossbounds-ref-")
    uniform = refs["lossbounds-ref-uniform"]
    assert uniform.get_ydata()[0] == pytest.approx(lossbounds.baseline("sparse_cce", n_classes=10))
    assert uniform.get_label() == f"uniform ln 10 = {math.log(10):.4g}" == "uniform ln 10 = 2.303"
    prior = refs["lossbounds-ref-prior"]
    assert prior.get_ydata()[0] == pytest.approx(b.prior)
    assert prior.get_label() == f"prior (label entropy) {b.prior:.4g}"
    # The worst case, 16.12, is far above curves that end at 0.8: marked at the top edge
    # with its value instead of squashing them (issue 12); on TensorFlow fit() can exceed
    # it, as explain and check-log say.
    worst = refs["lossbounds-ref-worst"]
    assert len(worst.get_xdata()) == 0
    worst_label = "worst 16.12 (clipped; fit() can exceed it), above the axis"
    assert worst.get_label() == worst_label
    edge = [t for t in fig.axes[0].texts if t.get_gid() == "lossbounds-ref-edge-worst"]
    assert [t.get_text() for t in edge] == ["▲ worst 16.12"]
    # The legend reads top-down, as the lines lie.
    assert legend_texts(fig)[2:] == [worst_label, "uniform ln 10 = 2.303",
                                     f"prior (label entropy) {b.prior:.4g}",
                                     f"best {b.best:.3g}"]


def test_binary_cross_entropy_uniform_is_ln_2():
    fig = plot_history({"loss": [0.9, 0.7]}, "bce")
    assert artists(fig, "lossbounds-ref-")["lossbounds-ref-uniform"].get_label() == "uniform ln 2 = 0.6931"
    assert fig.axes[0].get_title() == "binary_crossentropy"


def test_title_states_the_loss_and_k():
    assert plot_history(HISTORY, "cce", n_classes=10).axes[0].get_title() == (
        "categorical_crossentropy, K = 10")


def test_unbounded_worst_case_is_not_drawn_but_named():
    fig = plot_history(HISTORY, "sparse_cce", n_classes=10, from_logits=True)
    worst = artists(fig, "lossbounds-ref-")["lossbounds-ref-worst"]
    assert len(worst.get_xdata()) == 0  # a legend entry, no line
    assert "worst: unbounded" in legend_texts(fig)
    assert fig.axes[0].get_title().endswith("worst: unbounded")
    assert fig.axes[0].get_yscale() == "linear"
    assert all(math.isfinite(y) for y in fig.axes[0].get_ylim())


def test_mean_squared_error_without_ranges_has_no_uniform_and_unbounded_worst():
    fig = plot_history({"loss": [3.0, 2.0, 1.5]}, "mse", variance=2.5)
    refs = artists(fig, "lossbounds-ref-")
    assert "lossbounds-ref-uniform" not in refs
    assert refs["lossbounds-ref-prior"].get_label() == "prior (target variance) 2.5"
    assert "worst: unbounded" in legend_texts(fig)


# --------------------------------------------------------------------------
# Scale


def test_the_axis_fits_the_curves_and_marks_a_far_worst_case_at_its_edge():
    # Issue 12: a linear axis up to 16.12 squashed these curves into its bottom tenth.
    fig = plot_history({"loss": [0.9, 0.5, 0.3]}, "sparse_cce", n_classes=10)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "loss"
    low, high = ax.get_ylim()
    # The curves and the nearby baselines (ln 10 = 2.303, the best case ~0), not 16.12.
    assert low < 0 and 2.303 < high < 3
    assert (0.9 - 0.3) / (math.log(10) - 0) >= 0.25  # with the lines, the curves fill a quarter
    refs = artists(fig, "lossbounds-ref-")
    assert refs["lossbounds-ref-uniform"].get_ydata()[0] == pytest.approx(math.log(10))
    assert len(refs["lossbounds-ref-worst"].get_xdata()) == 0
    assert [t.get_text() for t in ax.texts if t.get_gid() == "lossbounds-ref-edge-worst"] == [
        "▲ worst 16.12"]


def test_log_scale_when_the_curves_span_orders_of_magnitude():
    fig = plot_history({"loss": [2.0, 0.5, 0.15]}, "sparse_cce", n_classes=10)
    assert 2.0 / 0.15 > LOG_SCALE_RATIO
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "loss (log scale)"
    low, high = ax.get_ylim()
    # The ~1e-7 best case would add decades the curves never visit: marked at the edge;
    # 16.12 is one decade above 2.0 and stays in view.
    assert 0.1 < low < 0.15 and high > 16.1181
    best = artists(fig, "lossbounds-ref-")["lossbounds-ref-best"]
    assert len(best.get_xdata()) == 0 and best.get_label().endswith("below the axis")


def test_linear_scale_when_the_curves_reach_near_the_worst_case():
    fig = plot_history({"loss": [8.0, 5.0, 3.0]}, "sparse_cce", n_classes=10)
    assert 16.1181 / 8.0 < LOG_SCALE_RATIO
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    low, high = ax.get_ylim()
    assert low < 0 < 16.1181 < high  # the best case (~0) and the worst case are in view


# --------------------------------------------------------------------------
# Findings


def test_a_rising_loss_is_circled_and_labelled():
    findings = [f for f in diagnose(RISING, "sparse_cce", n_classes=10) if f.kind == "rising_loss"]
    assert findings, "the fixture must rise"
    fig = plot_history(RISING, "sparse_cce", n_classes=10)
    marker = artists(fig, "lossbounds-finding-")["lossbounds-finding-rising_loss"]
    np.testing.assert_array_equal(marker.get_xdata(), findings[0].epochs)
    np.testing.assert_allclose(marker.get_ydata(), [RISING["loss"][e - 1] for e in findings[0].epochs])
    # A warning, in a colour no curve uses: the validation curve is orange (issue 12).
    assert marker.get_markeredgecolor() == "tab:brown"
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "rising_loss" in labels


def test_overfitting_is_marked_on_the_validation_curve():
    history = {"loss": [2.4, 1.5, 1.1, 0.9, 0.8, 0.7, 0.6, 0.55],
               "val_loss": [2.3, 1.6, 1.3, 1.35, 1.5, 1.7, 1.9, 2.2]}
    fig = plot_history(history, "sparse_cce", n_classes=10)
    marker = artists(fig, "lossbounds-finding-")["lossbounds-finding-overfitting"]
    np.testing.assert_array_equal(marker.get_xdata(), [3, 4, 5, 6, 7, 8])
    np.testing.assert_allclose(marker.get_ydata(), history["val_loss"][2:])


def test_info_findings_are_marked_only_when_asked():
    assert not artists(plot_history(HISTORY, "sparse_cce", n_classes=10), "lossbounds-finding-")
    marked = artists(plot_history(HISTORY, "sparse_cce", n_classes=10, findings="info"),
                     "lossbounds-finding-")
    assert "lossbounds-finding-far_better_than_uniform" in marked
    assert not artists(plot_history(RISING, "sparse_cce", n_classes=10, findings="none"),
                       "lossbounds-finding-")


def test_findings_without_a_loss_name_still_mark_trends():
    fig = plot_history(RISING)
    assert "lossbounds-finding-rising_loss" in artists(fig, "lossbounds-finding-")
    assert not artists(fig, "lossbounds-ref-")
    assert fig.axes[0].get_title() == "loss (no bounds: pass loss=...)"


# --------------------------------------------------------------------------
# Output files


def test_saves_a_valid_png(tmp_path):
    path = tmp_path / "history.png"
    plot_history(HISTORY, "sparse_cce", n_classes=10).savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image.std() > 0.05  # not a blank canvas


@pytest.mark.parametrize("name, loss, options", [
    ("seed_tf20_highest_possible_loss.txt", "sparse_cce", {"n_classes": 10}),
    ("seed_keras1_what_are_epoch_and_loss.txt", "bce", {}),
])
def test_seed_logs_render(tmp_path, name, loss, options):
    log = read_keras_log_file(LOGS / name)
    fig = plot_history(log, loss, **options)
    train = artists(fig, "lossbounds-curve-")["lossbounds-curve-loss"]
    assert len(train.get_xdata()) == len(log) and train.get_xdata()[-1] == log[-1].number
    # Losses of 0.2 against a worst case of 16.1: the axis fits the losses, 16.1 is at its edge.
    low, high = fig.axes[0].get_ylim()
    assert high < 16.1181 and "lossbounds-ref-edge-worst" in [t.get_gid() for t in fig.axes[0].texts]
    path = tmp_path / (name + ".png")
    fig.savefig(path)
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_keras1_seed_log_marks_its_rising_loss():
    # The loss of the Keras 1 question rises from 0.176 to 0.195 over 20 epochs.
    fig = plot_history(read_keras_log_file(LOGS / "seed_keras1_what_are_epoch_and_loss.txt"), "bce")
    assert "lossbounds-finding-rising_loss" in artists(fig, "lossbounds-finding-")


# --------------------------------------------------------------------------
# Bad input


def test_unknown_metric_names_the_metrics_present():
    with pytest.raises(ValueError, match=r"`metric` 'acc' is not in the history; it has 'loss', 'val_loss'"):
        plot_history(HISTORY, "bce", metric="acc")


def test_bounds_of_a_loss_do_not_apply_to_accuracy():
    with pytest.raises(ValueError, match="not a loss"):
        plot_history({"loss": [1.0], "accuracy": [0.5]}, "bce", metric="accuracy")
    fig = plot_history({"loss": [1.0, 0.8], "accuracy": [0.5, 0.6]}, metric="accuracy")
    assert artists(fig, "lossbounds-curve-")["lossbounds-curve-accuracy"].get_label() == "accuracy"


def test_bounds_options_without_a_loss_are_refused():
    with pytest.raises(ValueError, match="without a `loss`"):
        plot_history(HISTORY, n_classes=10)


def test_not_a_history_is_a_type_error():
    with pytest.raises(TypeError, match="`history_or_log` must be a lossbounds TrainingLog"):
        plot_history([0.5, 0.4], "bce")
    with pytest.raises(TypeError, match="History entry 'loss' must be a list of numbers"):
        plot_history({"loss": ["a", object()]}, "bce")


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="'val_loss' has 2 values for 3 epochs"):
        plot_history({"loss": [1.0, 0.9, 0.8], "val_loss": [1.0, 0.9]}, "bce")


def test_bad_findings_option():
    with pytest.raises(ValueError, match="`findings` must be one of"):
        plot_history(HISTORY, "bce", findings="all")


def test_bounds_options_are_checked_by_lossbounds_bounds():
    with pytest.raises(ValueError, match="needs `n_classes`"):
        plot_history(HISTORY, "sparse_cce")


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(ImportError, match=r"python -m pip install matplotlib"):
        plot_history(HISTORY, "bce")


def test_importing_lossbounds_plot_is_cheap_and_leaves_pyplot_alone():
    code = (
        "import sys, lossbounds.plot\n"
        "assert 'matplotlib' not in sys.modules, 'import lossbounds.plot loaded matplotlib'\n"
        "lossbounds.plot.plot_history({'loss': [1.0, 0.5]}, 'bce')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'plot_history loaded pyplot'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --------------------------------------------------------------------------
# Readable plots (issue 12)


def test_finding_labels_at_one_epoch_do_not_collide():
    # A loss frozen at the clipping ceiling: several findings start at the same epoch.
    history = {"loss": [2.5, 16.1181, 16.1181, 16.1181, 16.1181],
               "val_loss": [2.4, 16.1181, 16.1181, 16.1181, 16.1181]}
    fig = plot_history(history, "sparse_cce", n_classes=10, findings="info")
    labels = [t for t in fig.axes[0].texts
              if (t.get_gid() or "").startswith("lossbounds-finding-label-")]
    assert len(labels) >= 2
    placed = [(t.xy, t.xyann) for t in labels]
    same_anchor = [(a, b) for i, a in enumerate(placed) for b in placed[i + 1:] if a[0] == b[0]]
    assert all(a[1] != b[1] for a, b in same_anchor)  # stacked, never on top of each other


def test_finding_colours_clash_with_no_curve_or_line():
    fig = plot_history(RISING, "sparse_cce", n_classes=10)
    used = {line.get_color() for line in fig.axes[0].get_lines()
            if (line.get_gid() or "").startswith(("lossbounds-curve-", "lossbounds-ref-"))}
    marker = artists(fig, "lossbounds-finding-")["lossbounds-finding-rising_loss"]
    assert marker.get_markeredgecolor() not in used


def test_findings_of_separate_runs_land_on_their_run():
    def run(losses):
        return "".join(f"Epoch {e}/{len(losses)}\n4/4 - 0s - loss: {v:.4f}\n"
                       for e, v in enumerate(losses, start=1))
    text = run([1.0, 0.8, 0.7, 0.65, 0.6]) + run([1.0, 0.8, 0.7, 2.6, 0.6, 0.58])
    log = read_keras_log(text)
    spike = [f for f in diagnose(log) if f.kind == "spike"]
    assert [(f.run, f.epochs) for f in spike] == [(2, (4,))]
    fig = plot_history(log, findings="warning")
    marker = artists(fig, "lossbounds-finding-")["lossbounds-finding-spike"]
    # Run 2's epoch 4 is the ninth epoch of the plot.
    np.testing.assert_array_equal(marker.get_xdata(), [9])
    np.testing.assert_allclose(marker.get_ydata(), [2.6])
