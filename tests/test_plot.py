"""Display objects: what is drawn, checked on the artists of rendered figures."""

import os
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.collections import PolyCollection
from matplotlib.colors import same_color, to_rgba
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import ValidationCurveDisplay

from skfashion import CLASS_NAMES
from skfashion._plot import (
    EpochCurveDisplay,
    HistoryDisplay,
    PredictionGridDisplay,
    _base,
    style_curve_display,
)

matplotlib.use("Agg")

# Best validation loss: smaller at epoch 6, baseline at 4, bigger at 2 (it overfits).
HISTORIES = {
    "smaller": {
        "loss": [1.40, 1.10, 0.95, 0.88, 0.84, 0.82],
        "accuracy": [0.50, 0.60, 0.66, 0.69, 0.70, 0.71],
        "val_loss": [1.20, 1.00, 0.92, 0.87, 0.85, 0.84],
        "val_accuracy": [0.55, 0.63, 0.67, 0.69, 0.70, 0.71],
    },
    "baseline": {
        "loss": [0.90, 0.60, 0.50, 0.45, 0.41, 0.38],
        "accuracy": [0.70, 0.79, 0.82, 0.84, 0.85, 0.86],
        "val_loss": [0.70, 0.55, 0.50, 0.48, 0.49, 0.51],
        "val_accuracy": [0.75, 0.80, 0.82, 0.83, 0.84, 0.83],
    },
    "bigger": {
        "loss": [0.60, 0.35, 0.25, 0.18, 0.12, 0.08],
        "accuracy": [0.80, 0.87, 0.91, 0.94, 0.96, 0.97],
        "val_loss": [0.48, 0.45, 0.50, 0.58, 0.66, 0.77],
        "val_accuracy": [0.84, 0.86, 0.85, 0.85, 0.84, 0.84],
    },
}
BEST_VAL_LOSS = {"smaller": 6, "baseline": 4, "bigger": 2}
BEST_VAL_ACCURACY = {"smaller": 6, "baseline": 5, "bigger": 2}
NO_VALIDATION = {"loss": [0.9, 0.7, 0.6], "accuracy": [0.7, 0.75, 0.8]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FittedStub:
    """The estimator side of the history contract: fit and a history_."""

    def __init__(self, history=None):
        if history is not None:
            self.history_ = history

    def fit(self, X, y):
        return self


def _legend_texts(display):
    return [text.get_text() for text in display.legend_.get_texts()]


def _curve_lines(display):
    return [line for pair in display.lines_.values() for line in pair if line is not None]


def test_importing_plot_module_does_not_import_matplotlib():
    code = "import sys, skfashion._plot; assert 'matplotlib' not in sys.modules, 'loaded'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_history_display_draws_training_solid_and_validation_dashed_per_model():
    display = HistoryDisplay.from_history(HISTORIES, metric="loss")

    assert list(display.lines_) == list(HISTORIES)
    # two curves per model and one best-epoch marker per model
    assert len(display.ax_.get_lines()) == 3 * 2 + 3
    colors = []
    for name, (training, validation) in display.lines_.items():
        assert training.get_linestyle() == "-"
        assert validation.get_linestyle() == "--"
        assert same_color(training.get_color(), validation.get_color())
        np.testing.assert_allclose(training.get_xdata(), np.arange(1, 7))
        np.testing.assert_allclose(training.get_ydata(), HISTORIES[name]["loss"])
        np.testing.assert_allclose(validation.get_ydata(), HISTORIES[name]["val_loss"])
        colors.append(to_rgba(training.get_color()))
    assert len(set(colors)) == 3


@pytest.mark.parametrize(
    "metric, monitor, best",
    [
        ("loss", "val_loss", BEST_VAL_LOSS),
        ("accuracy", "val_loss", BEST_VAL_LOSS),
        ("accuracy", "val_accuracy", BEST_VAL_ACCURACY),
    ],
)
def test_best_epoch_marker_sits_on_the_validation_curve(metric, monitor, best):
    display = HistoryDisplay.from_history(HISTORIES, metric=metric, monitor=monitor)

    assert display.best_epochs == best
    for name, marker in display.best_epoch_markers_.items():
        epoch = best[name]
        assert marker.get_xdata().tolist() == [epoch]
        assert marker.get_ydata().tolist() == [HISTORIES[name][f"val_{metric}"][epoch - 1]]
        assert marker.get_marker() == "o"
        assert same_color(marker.get_color(), display.lines_[name][1].get_color())


@pytest.mark.parametrize("metric, ylabel", [("accuracy", "Accuracy"), ("loss", "Loss")])
def test_axis_labels_and_integer_epoch_ticks(metric, ylabel):
    display = HistoryDisplay.from_history(HISTORIES, metric=metric)

    assert display.ax_.get_xlabel() == "Epoch"
    assert display.ax_.get_ylabel() == ylabel
    ticks = display.ax_.get_xticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))


def test_full_legend_names_each_model_and_line():
    display = HistoryDisplay.from_history(HISTORIES)

    assert _legend_texts(display) == [
        "smaller (training)",
        "smaller (validation)",
        "baseline (training)",
        "baseline (validation)",
        "bigger (training)",
        "bigger (validation)",
        "best epoch (lowest validation loss)",
    ]


def test_compact_legend_has_one_entry_per_model_and_line_style():
    display = HistoryDisplay.from_history(HISTORIES, legend="compact", monitor="val_accuracy")

    assert _legend_texts(display) == [
        "smaller",
        "baseline",
        "bigger",
        "Training",
        "Validation",
        "best epoch (highest validation accuracy)",
    ]
    handles = display.legend_.legend_handles
    assert [h.get_linestyle() for h in handles[3:5]] == ["-", "--"]
    assert same_color(handles[2].get_color(), display.lines_["bigger"][0].get_color())


def test_no_legend():
    display = HistoryDisplay.from_history(HISTORIES, legend=None)
    assert display.legend_ is None
    assert display.ax_.get_legend() is None


def test_single_history_is_labelled_training_and_validation():
    display = HistoryDisplay.from_history(HISTORIES["bigger"])

    assert list(display.lines_) == [None]
    assert _legend_texts(display)[:2] == ["Training", "Validation"]
    assert display.best_epochs == {None: 2}


def test_named_single_history():
    display = HistoryDisplay.from_history(HISTORIES["bigger"], name="bigger")
    assert _legend_texts(display)[:2] == ["bigger (training)", "bigger (validation)"]


def test_history_without_validation_draws_only_training():
    display = HistoryDisplay.from_history({"plain": NO_VALIDATION, "bigger": HISTORIES["bigger"]})

    assert display.lines_["plain"][1] is None
    assert display.best_epoch_markers_["plain"] is None
    assert display.best_epochs["plain"] is None
    assert display.best_epoch_markers_["bigger"] is not None
    # plain training + bigger training, validation and marker
    assert len(display.ax_.get_lines()) == 4
    assert _legend_texts(display) == [
        "plain (training)",
        "bigger (training)",
        "bigger (validation)",
        "best epoch (lowest validation loss)",
    ]


def test_only_histories_without_validation_have_no_marker_entry():
    display = HistoryDisplay.from_history(NO_VALIDATION, legend="compact")
    assert _legend_texts(display) == ["Training", "Validation"][:1]
    assert len(display.ax_.get_lines()) == 1


def test_diverged_validation_draws_curves_without_marker():
    diverged = {**HISTORIES["bigger"], "val_loss": [np.nan] * 6}
    display = HistoryDisplay.from_history({"diverged": diverged})
    assert display.best_epoch_markers_ == {"diverged": None}
    assert display.lines_["diverged"][1] is not None


def test_histories_of_different_lengths():
    short = {key: values[:3] for key, values in HISTORIES["bigger"].items()}
    display = HistoryDisplay.from_history({"stopped early": short, "full": HISTORIES["bigger"]})
    assert len(display.lines_["stopped early"][0].get_xdata()) == 3
    assert len(display.lines_["full"][0].get_xdata()) == 6


def test_colors_by_name_and_by_position():
    by_name = HistoryDisplay.from_history(
        HISTORIES, colors={"smaller": "red", "baseline": "green", "bigger": "black"}
    )
    assert same_color(by_name.lines_["bigger"][1].get_color(), "black")
    by_position = HistoryDisplay.from_history(HISTORIES, colors=["red", "green"])
    assert same_color(by_position.lines_["bigger"][0].get_color(), "red")


def test_ax_none_makes_a_figure_and_given_ax_is_drawn_into():
    before = plt.get_fignums()
    display = HistoryDisplay.from_history(HISTORIES)
    assert len(plt.get_fignums()) == len(before) + 1
    assert display.figure_ is display.ax_.figure

    figure, (left, right) = plt.subplots(ncols=2)
    display = HistoryDisplay.from_history(HISTORIES, ax=right, metric="loss")
    assert display.ax_ is right
    assert display.figure_ is figure
    assert len(right.get_lines()) == 9
    assert len(left.get_lines()) == 0


def test_plot_returns_self_and_can_redraw_elsewhere():
    display = HistoryDisplay.from_history(HISTORIES)
    _, ax = plt.subplots()
    assert display.plot(ax=ax, legend="compact") is display
    assert display.ax_ is ax


def test_from_estimator_single_and_mapping():
    display = HistoryDisplay.from_estimator(FittedStub(HISTORIES["bigger"]), name="bigger")
    assert list(display.lines_) == ["bigger"]
    assert display.best_epochs == {"bigger": 2}

    estimators = {name: FittedStub(history) for name, history in HISTORIES.items()}
    display = HistoryDisplay.from_estimator(estimators, metric="loss")
    assert display.best_epochs == BEST_VAL_LOSS

    display = HistoryDisplay.from_history(estimators)
    assert list(display.lines_) == list(HISTORIES)


def test_from_estimator_unfitted_raises_not_fitted():
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator(FittedStub())
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator({"a": FittedStub(HISTORIES["bigger"]), "b": FittedStub()})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric": "val_loss"}, "metric must be one of"),
        ({"monitor": "loss"}, "monitor must be one of"),
        ({"legend": "big"}, "legend must be one of"),
        ({"lang": "fr"}, "lang must be one of"),
        ({"name": "x"}, "name labels a single model"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HistoryDisplay.from_history(HISTORIES, **kwargs)


def test_empty_mapping_and_missing_metric_raise():
    with pytest.raises(ValueError, match="empty"):
        HistoryDisplay.from_history({})
    with pytest.raises(ValueError, match="no 'accuracy' values"):
        HistoryDisplay.from_history({"m": {"loss": [1.0, 0.5]}}, metric="accuracy")


def test_rendered_png_and_atomic_save(tmp_path):
    display = HistoryDisplay.from_history(HISTORIES)
    path = display.save(tmp_path / "history.png", dpi=50)

    assert path == tmp_path / "history.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = display.figure_.get_size_inches() * 50
    assert plt.imread(path).shape[:2] == (round(height), round(width))
    assert [p.name for p in tmp_path.iterdir()] == ["history.png"]


def test_save_before_plot_and_failed_save_leave_nothing(tmp_path):
    with pytest.raises(ValueError, match="plot"):
        HistoryDisplay({"m": HISTORIES["bigger"]}).save(tmp_path / "x.png")
    display = HistoryDisplay.from_history(HISTORIES)
    with pytest.raises(ValueError):
        display.save(tmp_path / "x.unknownformat")
    assert list(tmp_path.iterdir()) == []


def test_japanese_labels_use_a_japanese_font(monkeypatch):
    monkeypatch.setattr(_base, "japanese_font_family", lambda: "DejaVu Sans")
    display = HistoryDisplay.from_history(HISTORIES, metric="loss", lang="ja")

    assert display.ax_.get_xlabel() == "エポック"
    assert display.ax_.get_ylabel() == "損失"
    assert display.ax_.xaxis.label.get_fontfamily() == ["DejaVu Sans"]
    texts = display.legend_.get_texts()
    assert [t.get_text() for t in texts[:2]] == ["smaller (訓練)", "smaller (検証)"]
    assert texts[0].get_fontfamily() == ["DejaVu Sans"]

    display = HistoryDisplay.from_history(HISTORIES["bigger"], lang="ja")
    assert display.ax_.get_ylabel() == "精度"
    assert _legend_texts(display)[:2] == ["訓練", "検証"]


def test_japanese_without_a_japanese_font_falls_back_to_english(monkeypatch, recwarn):
    monkeypatch.setattr(_base, "japanese_font_family", lambda: None)
    display = HistoryDisplay.from_history(HISTORIES, lang="ja")
    display.figure_.canvas.draw()

    assert display.ax_.get_xlabel() == "Epoch"
    assert len(recwarn) == 0


def test_japanese_font_family_is_found_among_installed_fonts(monkeypatch):
    fonts = [font_manager.FontEntry(name="DejaVu Sans"), font_manager.FontEntry(name="IPAGothic")]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts)
    assert _base.japanese_font_family() == "IPAGothic"
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts[:1])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: [])
    assert _base.japanese_font_family() is None


def test_japanese_font_installed_after_matplotlib_cached_its_font_list(monkeypatch):
    dejavu = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: ["/x/a.ttf", dejavu])
    monkeypatch.setattr(_base, "JAPANESE_FONT_FILES", (os.path.basename(dejavu),))

    assert _base.japanese_font_family() == "DejaVu Sans"
    assert [font.fname for font in font_manager.fontManager.ttflist] == [dejavu]


def _epoch_frame(history, std=0.02, validation=True):
    columns = {}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if not validation and key.startswith("val_"):
            continue
        columns[f"{key}_mean"] = history[key]
        columns[f"{key}_std"] = np.full(len(history[key]), std)
    index = pd.Index(np.arange(1, len(history["loss"]) + 1), name="epoch")
    return pd.DataFrame(columns, index=index)


def test_epoch_curve_display_draws_mean_lines_and_std_bands():
    frames = {
        "bigger": _epoch_frame(HISTORIES["bigger"]),
        "plain": _epoch_frame(HISTORIES["smaller"], validation=False),
    }
    display = EpochCurveDisplay.from_frame(frames, metric="loss")

    bands = [c for c in display.ax_.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3
    training, validation = display.lines_["bigger"]
    assert (training.get_linestyle(), validation.get_linestyle()) == ("-", "--")
    assert display.lines_["plain"][1] is None
    assert display.fill_between_["plain"][1] is None
    np.testing.assert_allclose(validation.get_ydata(), HISTORIES["bigger"]["val_loss"])
    band_y = display.fill_between_["bigger"][1].get_paths()[0].vertices[:, 1]
    mean = np.asarray(HISTORIES["bigger"]["val_loss"])
    np.testing.assert_allclose([band_y.min(), band_y.max()], [mean.min() - 0.02, mean.max() + 0.02])
    for band, line in zip(display.fill_between_["bigger"], display.lines_["bigger"], strict=True):
        assert same_color(band.get_facecolor()[0][:3], to_rgba(line.get_color())[:3])
    assert display.ax_.get_xlabel() == "Epoch"
    assert display.ax_.get_ylabel() == "Loss"
    assert _legend_texts(display)[-1] == "mean ± standard deviation"


def test_epoch_curve_display_single_frame_with_epoch_column_and_given_ax():
    frame = _epoch_frame(HISTORIES["baseline"]).reset_index()
    _, ax = plt.subplots()
    display = EpochCurveDisplay.from_frame(frame, ax=ax)

    assert display.ax_ is ax
    assert list(display.lines_) == [None]
    np.testing.assert_array_equal(display.lines_[None][0].get_xdata(), np.arange(1, 7))
    assert _legend_texts(display)[:2] == ["Training", "Validation"]
    assert len(ax.collections) == 2


def test_epoch_curve_display_missing_column_raises():
    frame = _epoch_frame(HISTORIES["baseline"]).drop(columns="accuracy_std")
    with pytest.raises(ValueError, match="accuracy_std"):
        EpochCurveDisplay.from_frame(frame, metric="accuracy")


def _validation_curve_display(**plot_kw):
    return ValidationCurveDisplay(
        param_name="units",
        param_range=np.array([4, 16, 512]),
        train_scores=np.array([[0.70, 0.72], [0.86, 0.87], [0.97, 0.98]]),
        test_scores=np.array([[0.69, 0.70], [0.84, 0.85], [0.86, 0.86]]),
        score_name="Accuracy",
    ).plot(score_type="both", **plot_kw)


def test_style_curve_display_gives_sklearn_curves_the_course_look():
    display = style_curve_display(_validation_curve_display(), color="C2")

    training, validation = display.lines_
    assert (training.get_linestyle(), validation.get_linestyle()) == ("-", "--")
    assert same_color(training.get_color(), "C2") and same_color(validation.get_color(), "C2")
    assert [t.get_text() for t in display.ax_.get_legend().get_texts()] == [
        "Training",
        "Validation",
    ]
    for band in display.fill_between_:
        assert same_color(band.get_facecolor()[0][:3], to_rgba("C2")[:3])


def test_style_curve_display_needs_lines():
    with pytest.raises(ValueError, match="fill_between"):
        style_curve_display(_validation_curve_display(std_display_style="errorbar"))


def _grid_inputs():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    y_true = np.array([9, 2, 1, 6])
    y_proba = np.full((4, 10), 0.02)
    for row, predicted in enumerate([9, 2, 3, 0]):  # the last two are wrong
        y_proba[row, predicted] = 0.82
    return images, y_true, y_proba


def test_prediction_grid_labels_and_colours():
    images, y_true, y_proba = _grid_inputs()
    display = PredictionGridDisplay.from_predictions(
        images, y_true, y_proba, class_names=CLASS_NAMES
    )

    assert len(display.axes_) == 4 and len(display.bar_axes_) == 4
    assert [ax.get_xlabel() for ax in display.axes_] == [
        "Ankle boot 82% (Ankle boot)",
        "Pullover 82% (Pullover)",
        "Dress 82% (Trouser)",
        "T-shirt/top 82% (Shirt)",
    ]
    colors = [ax.xaxis.label.get_color() for ax in display.axes_]
    assert colors == ["blue", "blue", "red", "red"]
    np.testing.assert_array_equal(display.correct_, [True, True, False, False])
    np.testing.assert_array_equal(display.axes_[0].get_images()[0].get_array(), images[0])

    wrong_bars = display.bar_axes_[2].patches
    assert len(wrong_bars) == 10
    assert same_color(wrong_bars[3].get_facecolor(), "red")  # predicted Dress
    assert same_color(wrong_bars[1].get_facecolor(), "blue")  # true Trouser
    assert same_color(wrong_bars[0].get_facecolor(), "#777777")
    np.testing.assert_allclose([bar.get_height() for bar in wrong_bars], y_proba[2])


def test_prediction_grid_default_names_are_fashion_mnist_and_flat_images_work():
    images, y_true, y_proba = _grid_inputs()
    display = PredictionGridDisplay.from_predictions(
        images.reshape(4, 784), y_true, y_proba, n_images=2, show_probabilities=False
    )
    assert len(display.axes_) == 2
    assert display.bar_axes_ is None
    assert display.axes_[0].get_xlabel() == "Ankle boot 82% (Ankle boot)"
    assert display.axes_[0].get_images()[0].get_array().shape == (28, 28)


def test_prediction_grid_indices_choose_the_images():
    images, y_true, y_proba = _grid_inputs()
    wrong = np.flatnonzero(y_proba.argmax(axis=1) != y_true)
    display = PredictionGridDisplay.from_predictions(
        images, y_true, y_proba, indices=wrong, class_names=CLASS_NAMES
    )
    assert not display.correct_.any()
    assert [ax.get_xlabel() for ax in display.axes_] == [
        "Dress 82% (Trouser)",
        "T-shirt/top 82% (Shirt)",
    ]


def test_prediction_grid_fills_a_given_subplot(tmp_path):
    images, y_true, y_proba = _grid_inputs()
    figure, (left, right) = plt.subplots(ncols=2, figsize=(8, 3))
    display = PredictionGridDisplay.from_predictions(
        images, y_true, y_proba, ax=right, n_cols=2, class_names=CLASS_NAMES
    )
    assert display.figure_ is figure
    assert display.bounding_ax_ is right and not right.axison
    # the image axes lie inside the right subplot
    for ax in display.axes_:
        assert ax.get_position().x0 >= right.get_position().x0 - 1e-9
    assert len(figure.axes) == 2 + 4 + 4
    path = display.save(tmp_path / "grid.png", dpi=40)
    assert plt.imread(path).shape[:2] == (120, 320)


def test_prediction_grid_accepts_a_trailing_channel_axis():
    images, y_true, y_proba = _grid_inputs()
    display = PredictionGridDisplay.from_predictions(images[..., None], y_true, y_proba)
    np.testing.assert_array_equal(display.axes_[1].get_images()[0].get_array(), images[1])


def test_prediction_grid_string_classes():
    images, _, _ = _grid_inputs()
    display = PredictionGridDisplay.from_predictions(
        images[:2], ["cat", "dog"], [[0.6, 0.4], [0.7, 0.3]], classes=["cat", "dog"]
    )
    assert [ax.get_xlabel() for ax in display.axes_] == ["cat 60% (cat)", "cat 70% (dog)"]


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda i, t, p: (i[:3], t, p, {}), "same length"),
        (lambda i, t, p: (i.reshape(4, -1)[:, :700], t, p, {}), "square number of pixels"),
        (lambda i, t, p: (i.ravel(), t, p, {}), r"shape \(n, 784\)"),
        (lambda i, t, p: (i, np.array([9, 2, 1, 42]), p, {}), "not among the classes"),
        (lambda i, t, p: (i, t, p[:, :9], {}), "10 names for 9 classes"),
        (lambda i, t, p: (i, t, p[:, :9], {"classes": np.arange(10)}), "9 columns for 10"),
        (lambda i, t, p: (i, t, p, {"n_images": 0}), "n_images must be a positive"),
        (lambda i, t, p: (i, t, p, {"indices": []}), "indices must be"),
    ],
)
def test_prediction_grid_bad_inputs(change, match):
    images, y_true, y_proba, kwargs = change(*_grid_inputs())
    with pytest.raises(ValueError, match=match):
        PredictionGridDisplay.from_predictions(
            images, y_true, y_proba, class_names=CLASS_NAMES, **kwargs
        )


class RecordingDummy(DummyClassifier):
    def predict_proba(self, X):
        self.predicted_shape_ = np.shape(X)
        return super().predict_proba(X)


def test_prediction_grid_from_estimator_on_real_images(fashion_test):
    X, y = fashion_test.data, fashion_test.target
    estimator = RecordingDummy(strategy="most_frequent").fit(X[:200], y[:200])
    display = PredictionGridDisplay.from_estimator(estimator, X, y, n_images=6)

    assert estimator.predicted_shape_ == (6, 784)  # only the shown images are predicted
    assert len(display.axes_) == 6
    predicted = fashion_test.target_names[estimator.classes_[np.argmax(estimator.class_prior_)]]
    for ax, label, correct in zip(display.axes_, y[:6], display.correct_, strict=True):
        true = fashion_test.target_names[label]
        assert ax.get_xlabel().startswith(predicted)
        assert ax.get_xlabel().endswith(f"({true})")
        assert ax.xaxis.label.get_color() == ("blue" if correct else "red")
    np.testing.assert_array_equal(display.correct_, y[:6] == estimator.predict(X[:6]))


def test_prediction_grid_from_estimator_unfitted():
    images, y_true, _ = _grid_inputs()
    with pytest.raises(NotFittedError):
        PredictionGridDisplay.from_estimator(DummyClassifier(), images, y_true)


# ------------------------------------------------------------------ several runs: bands


def _seeds(history, shifts=(-0.02, 0.0, 0.05)):
    return [{key: list(np.asarray(values) + shift) for key, values in history.items()}
            for shift in shifts]


def test_history_display_of_several_runs_draws_mean_lines_in_std_bands():
    runs = _seeds(HISTORIES["bigger"])
    display = HistoryDisplay.from_history({"bigger": runs, "smaller": HISTORIES["smaller"]},
                                          metric="loss")
    training, validation = display.lines_["bigger"]
    assert (training.get_linestyle(), validation.get_linestyle()) == ("-", "--")
    values = np.array([run["val_loss"] for run in runs])
    np.testing.assert_allclose(validation.get_ydata(), values.mean(axis=0))
    band = display.fill_between_["bigger"][1].get_paths()[0].vertices[:, 1]
    spread = values.std(axis=0)
    np.testing.assert_allclose(
        [band.min(), band.max()],
        [(values.mean(axis=0) - spread).min(), (values.mean(axis=0) + spread).max()],
    )
    assert same_color(display.fill_between_["bigger"][1].get_facecolor()[0][:3],
                      to_rgba(validation.get_color())[:3])
    assert display.fill_between_["smaller"] == (None, None)
    # The best epoch is marked on the mean validation curve.
    assert display.best_epochs["bigger"] == 2
    marker = display.best_epoch_markers_["bigger"]
    assert marker.get_xdata()[0] == 2
    assert marker.get_ydata()[0] == pytest.approx(values.mean(axis=0)[1])
    assert _legend_texts(display)[-1] == "mean ± standard deviation"


def test_history_display_from_estimator_runs_of_different_lengths():
    runs = [FittedStub(HISTORIES["baseline"]), FittedStub(
        {key: values[:4] for key, values in HISTORIES["baseline"].items()})]
    display = HistoryDisplay.from_estimator(runs, metric="accuracy", name="baseline")
    training, validation = display.lines_["baseline"]
    np.testing.assert_array_equal(training.get_xdata(), np.arange(1, 7))
    expected = [*np.mean([h[:4] for h in [HISTORIES["baseline"]["accuracy"]] * 2], axis=0),
                *HISTORIES["baseline"]["accuracy"][4:]]
    np.testing.assert_allclose(training.get_ydata(), expected)
    assert _legend_texts(display)[:2] == ["baseline (training)", "baseline (validation)"]
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator([FittedStub(), FittedStub(HISTORIES["baseline"])])
