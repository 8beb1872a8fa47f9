"""Report tables: hand-written histories, real scikit-learn searches and curves, files."""

import types
from html.parser import HTMLParser

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    learning_curve,
    validation_curve,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from skfashion import report
from skfashion._diagnostics import score_verdict
from skfashion.report._epoch_curve import aggregate_histories

BIGGER = {
    "loss": [0.60, 0.40, 0.30, 0.22, 0.16, 0.12],
    "accuracy": [0.78, 0.86, 0.89, 0.92, 0.94, 0.955],
    "val_loss": [0.52, 0.474, 0.50, 0.58, 0.68, 0.772],
    "val_accuracy": [0.81, 0.835, 0.84, 0.835, 0.83, 0.83],
}
DROPOUT = {
    "loss": [0.9, 0.7, 0.6, 0.55, 0.5, 0.47],
    "accuracy": [0.68, 0.75, 0.79, 0.81, 0.82, 0.83],
    "val_loss": [0.62, 0.55, 0.5, 0.47, 0.45, 0.44],
    "val_accuracy": [0.78, 0.8, 0.82, 0.83, 0.84, 0.845],
}
SMALLER = {
    "loss": [2.2, 1.9, 1.8, 1.78, 1.77, 1.76],
    "accuracy": [0.2, 0.33, 0.37, 0.38, 0.38, 0.38],
    "val_loss": [2.0, 1.85, 1.79, 1.78, 1.77, 1.77],
    "val_accuracy": [0.3, 0.36, 0.38, 0.38, 0.38, 0.39],
}
SCALE = FunctionTransformer(lambda X: np.asarray(X, dtype=np.float64) / 255.0)


class EpochSGD(ClassifierMixin, BaseEstimator):
    """Real epoch-by-epoch training: one SGD pass (partial_fit) over the data per epoch."""

    def __init__(self, epochs=3, random_state=0, record_validation=True):
        self.epochs = epochs
        self.random_state = random_state
        self.record_validation = record_validation

    def fit(self, X, y, validation_data=None, sample_weight=None):
        X = np.asarray(X, dtype=np.float64) / 255.0
        self.classes_ = np.unique(y)
        self.sgd_ = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=self.random_state)
        sets = [("", X, np.asarray(y))]
        if validation_data is not None and self.record_validation:
            X_val, y_val = validation_data
            sets.append(("val_", np.asarray(X_val, dtype=np.float64) / 255.0, np.asarray(y_val)))
        self.history_ = {}
        for _ in range(self.epochs):
            self.sgd_.partial_fit(X, y, classes=self.classes_, sample_weight=sample_weight)
            for prefix, X_set, y_set in sets:
                proba = self.sgd_.predict_proba(X_set)
                loss = log_loss(y_set, proba, labels=self.classes_)
                accuracy = accuracy_score(y_set, self.classes_[proba.argmax(axis=1)])
                self.history_.setdefault(f"{prefix}loss", []).append(loss)
                self.history_.setdefault(f"{prefix}accuracy", []).append(accuracy)
        return self

    def predict(self, X):
        return self.sgd_.predict(np.asarray(X, dtype=np.float64) / 255.0)


# ------------------------------------------------------------------ history_frame


def test_history_frame_columns_values_and_gaps():
    frame = report.history_frame(BIGGER)
    assert frame.index.name == "epoch" and frame.index.tolist() == [1, 2, 3, 4, 5, 6]
    assert list(frame.columns) == [
        "loss", "accuracy", "val_loss", "val_accuracy", "accuracy_gap", "loss_gap"
    ]
    assert frame.loc[6, "accuracy_gap"] == pytest.approx(0.955 - 0.83)
    assert frame.loc[6, "loss_gap"] == pytest.approx(0.772 - 0.12)
    assert frame.loc[2, "val_loss"] == 0.474


def test_history_frame_without_validation_and_with_extra_metrics():
    history = {"top3": [0.9, 0.95], "accuracy": [0.7, 0.8], "loss": [0.9, 0.6]}
    frame = report.history_frame(history)
    assert list(frame.columns) == ["loss", "accuracy", "top3"]


def test_history_frame_of_a_fitted_estimator(small_xy):
    X, y = small_xy
    clf = EpochSGD(epochs=2).fit(X[:400], y[:400], validation_data=(X[400:], y[400:]))
    frame = report.history_frame(clf)
    assert frame.shape == (2, 6)
    np.testing.assert_allclose(frame["val_accuracy"], clf.history_["val_accuracy"])


# ------------------------------------------------------------------ compare


def test_compare_the_lecture_models():
    frame = report.compare({"smaller": SMALLER, "baseline": DROPOUT, "bigger": BIGGER})
    assert frame.index.name == "model"
    assert frame.index.tolist() == ["smaller", "baseline", "bigger"]
    assert list(frame.columns[:8]) == [
        "best_epoch", "best_val_accuracy", "final_train_accuracy", "final_val_accuracy",
        "gap", "verdict", "onset_epoch", "recommended_epochs",
    ]
    assert frame["verdict"].tolist() == ["underfitting", "good fit", "overfitting"]
    assert frame["best_epoch"].tolist() == [5, 6, 2]
    assert frame.loc["bigger", "onset_epoch"] == 2
    assert pd.isna(frame.loc["baseline", "onset_epoch"])
    assert frame.loc["bigger", "gap"] == pytest.approx(0.125)
    assert frame.loc["bigger", "best_val_accuracy"] == pytest.approx(0.835)


def test_compare_forwards_thresholds_and_accepts_diagnoses():
    frame = report.compare(
        {"bigger": BIGGER, "diagnosed": report.diagnose(SMALLER)}, restore_best_weights=True
    )
    assert frame["verdict"].tolist() == ["good fit", "underfitting"]
    assert frame.loc["bigger", "final_train_accuracy"] == pytest.approx(0.86)


@pytest.mark.parametrize("models", [{}, [BIGGER]])
def test_compare_needs_a_mapping(models):
    with pytest.raises(ValueError, match="non-empty mapping"):
        report.compare(models)


# ------------------------------------------------------------------ cv_results_frame


@pytest.fixture(scope="module")
def mlp_search(small_xy):
    X, y = small_xy
    pipeline = make_pipeline(SCALE, MLPClassifier(max_iter=25, random_state=0))
    search = GridSearchCV(
        pipeline,
        {"mlpclassifier__hidden_layer_sizes": [(4, 4), (64, 64)]},
        cv=3,
        return_train_score=True,
    )
    with pytest.warns(ConvergenceWarning):
        return search.fit(X, y)


def test_cv_results_frame_of_a_real_search(mlp_search):
    frame = report.cv_results_frame(mlp_search)
    results = mlp_search.cv_results_
    assert frame.index.name == "candidate"
    assert list(frame.columns) == [
        "mlpclassifier__hidden_layer_sizes", "mean_test_score", "std_test_score",
        "mean_train_score", "std_train_score", "gap", "verdict", "rank_test_score",
        "mean_fit_time",
    ]
    assert frame.index[0] == mlp_search.best_index_
    assert frame["rank_test_score"].is_monotonic_increasing
    assert frame.loc[0, "mlpclassifier__hidden_layer_sizes"] == "4+4"
    assert frame.loc[1, "mlpclassifier__hidden_layer_sizes"] == "64+64"
    for i in (0, 1):
        assert frame.loc[i, "mean_test_score"] == results["mean_test_score"][i]
        gap = results["mean_train_score"][i] - results["mean_test_score"][i]
        assert frame.loc[i, "gap"] == pytest.approx(gap)
        expected = score_verdict(results["mean_train_score"][i], results["mean_test_score"][i])
        assert frame.loc[i, "verdict"] == expected.item()
    # As in the lecture: 64+64 units fit their training folds far better than the held-out
    # fold; 4+4 units on 400 images cannot even fit the training folds.
    assert frame["verdict"].tolist() == ["overfitting", "underfitting"]
    assert frame.loc[1, "gap"] > 0.08
    assert frame.loc[0, "mean_train_score"] < 0.3


def test_cv_results_frame_takes_the_dict_too(mlp_search):
    pd.testing.assert_frame_equal(
        report.cv_results_frame(mlp_search.cv_results_), report.cv_results_frame(mlp_search)
    )


def handmade_results(**extra):
    masked = np.ma.MaskedArray(["bigger", "smaller", None], mask=[False, False, True], dtype=object)
    dropout = np.ma.MaskedArray([None, None, 0.5], mask=[True, True, False], dtype=object)
    return {
        "param_preset": masked,
        "param_dropout": dropout,
        "mean_fit_time": [9.0, 2.0, 10.0],
        **extra,
    }


def test_cv_results_frame_missing_parameters_and_no_train_scores():
    results = handmade_results(
        mean_test_score=[0.84, 0.70, 0.86], std_test_score=[0.01, 0.02, 0.01],
        rank_test_score=[2, 3, 1],
    )
    frame = report.cv_results_frame(results)
    assert frame.index.tolist() == [2, 0, 1]
    assert frame["preset"].tolist() == [None, "bigger", "smaller"]
    assert frame["dropout"].tolist() == [0.5, None, None]
    assert "verdict" not in frame and "gap" not in frame


def test_cv_results_frame_multimetric():
    scores = {
        f"{stat}_{part}_{name}": values
        for name, offset in (("accuracy", 0.0), ("f1", -0.02))
        for part in ("test", "train")
        for stat, values in (
            ("mean", np.array([0.84, 0.70, 0.86]) + offset + (0.1 if part == "train" else 0)),
            ("std", [0.01, 0.01, 0.01]),
        )
    }
    scores |= {"rank_test_accuracy": [2, 3, 1], "rank_test_f1": [1, 3, 2]}
    results = handmade_results(**scores)
    frame = report.cv_results_frame(results, metric="f1")
    assert frame.index.tolist() == [0, 2, 1]
    assert frame.loc[0, "mean_test_score"] == pytest.approx(0.82)
    assert frame["verdict"].tolist() == ["overfitting"] * 3

    class Search:
        cv_results_ = results
        refit = "accuracy"

    assert report.cv_results_frame(Search()).index.tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match=r"several scorers \['accuracy', 'f1'\]"):
        report.cv_results_frame(results)
    with pytest.raises(ValueError, match="metric='recall' is not"):
        report.cv_results_frame(results, metric="recall")


def test_cv_results_frame_unfitted_search():
    with pytest.raises(ValueError, match="call fit"):
        report.cv_results_frame(GridSearchCV(SGDClassifier(), {"alpha": [1e-4]}))
    with pytest.raises(TypeError, match="cv_results_"):
        report.cv_results_frame(42)


# ------------------------------------------------------------------ curve frames


def test_validation_curve_frame_of_a_real_curve(small_xy):
    X, y = small_xy
    depths = [1, 5, 20]
    train, test = validation_curve(
        DecisionTreeClassifier(random_state=0), X, y, param_name="max_depth",
        param_range=depths, cv=3,
    )
    frame = report.validation_curve_frame("max_depth", depths, train, test)
    assert frame.index.name == "max_depth" and frame.index.tolist() == depths
    assert list(frame.columns) == [
        "mean_train_score", "std_train_score", "mean_test_score", "std_test_score", "gap",
        "verdict", "best",
    ]
    np.testing.assert_allclose(frame["mean_test_score"], test.mean(axis=1))
    np.testing.assert_allclose(frame["std_train_score"], train.std(axis=1))
    np.testing.assert_allclose(frame["gap"], train.mean(axis=1) - test.mean(axis=1))
    # A stump cannot separate 10 classes; a depth-20 tree memorises its training folds.
    assert frame["verdict"].tolist() == ["underfitting", "overfitting", "overfitting"]
    assert frame.loc[20, "mean_train_score"] == 1.0
    assert frame["best"].sum() == 1
    assert frame.index[frame["best"]].item() == depths[int(np.argmax(test.mean(axis=1)))]


def test_validation_curve_frame_formats_layer_sizes_and_breaks_ties_first():
    frame = report.validation_curve_frame(
        "hidden_layer_sizes", [(4, 4), (16, 16), (512, 512)],
        train_scores=[[0.40], [0.86], [0.88]], test_scores=[[0.38], [0.85], [0.85]],
    )
    assert frame.index.tolist() == ["4+4", "16+16", "512+512"]
    assert frame["best"].tolist() == [False, True, False]
    assert frame["std_test_score"].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    "train_scores, match", [([[0.9], [0.8]], r"shape \(3, n_folds\)"), ([[[0.9]]] * 3, "shape")]
)
def test_curve_frames_check_shapes(train_scores, match):
    with pytest.raises(ValueError, match=match):
        report.validation_curve_frame("alpha", [1, 2, 3], train_scores, [[0.8]] * 3)


@pytest.mark.parametrize(
    "test_scores, helps",
    [
        ([[0.74], [0.79], [0.82], [0.84]], [pd.NA, True, True, True]),
        ([[0.74], [0.80], [0.83], [0.835]], [pd.NA, True, True, False]),
        ([[0.80], [0.79], [0.80], [0.80]], [pd.NA, False, False, False]),
    ],
    ids=["still-rising", "flattening", "flat"],
)
def test_learning_curve_frame_more_data_helps(test_scores, helps):
    frame = report.learning_curve_frame(
        [600, 1200, 2400, 4800], [[0.99], [0.97], [0.95], [0.93]], test_scores
    )
    assert frame.index.name == "train_size"
    assert frame["more_data_helps"].tolist() == helps
    assert np.isnan(frame["test_gain"].iloc[0])
    assert frame["test_gain"].iloc[-1] == pytest.approx(test_scores[-1][0] - test_scores[-2][0])


def test_learning_curve_frame_of_a_real_curve_sorted_by_size(small_xy):
    X, y = small_xy
    sizes, train, test = learning_curve(
        DecisionTreeClassifier(max_depth=5, random_state=0), X, y, cv=3,
        train_sizes=[0.25, 0.5, 1.0],
    )
    frame = report.learning_curve_frame(sizes[::-1], train[::-1], test[::-1], min_gain=0.02)
    assert frame.index.tolist() == sizes.tolist() == [100, 200, 400]
    np.testing.assert_allclose(frame["mean_test_score"], test.mean(axis=1))
    gain = test[-1].mean() - test[-2].mean()
    assert frame["more_data_helps"].iloc[-1] == (gain > 0.02)
    assert frame.loc[400, "verdict"] == score_verdict(train[-1].mean(), test[-1].mean()).item()


# ------------------------------------------------------------------ epoch_curve


def expected_curve(X, y, n_splits):
    histories = []
    for train, test in StratifiedKFold(n_splits).split(X, y):
        clf = EpochSGD().fit(X[train], y[train], validation_data=(X[test], y[test]))
        histories.append(clf.history_)
    return histories


def test_epoch_curve_mean_and_std_over_folds(small_xy):
    X, y = small_xy
    frame = report.epoch_curve(EpochSGD(), X, y, cv=3)
    histories = expected_curve(X, y, 3)
    assert frame.index.name == "epoch" and frame.index.tolist() == [1, 2, 3]
    assert list(frame.columns) == [
        f"{metric}_{stat}"
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy")
        for stat in ("mean", "std")
    ] + ["n_folds"]
    for metric in ("loss", "val_accuracy"):
        values = np.array([h[metric] for h in histories])
        np.testing.assert_allclose(frame[f"{metric}_mean"], values.mean(axis=0))
        np.testing.assert_allclose(frame[f"{metric}_std"], values.std(axis=0))
    assert frame["n_folds"].tolist() == [3, 3, 3]
    assert frame["val_accuracy_mean"].iloc[-1] > 0.5  # ten classes: chance is 0.1


def test_epoch_curve_in_parallel_and_with_pandas(small_xy):
    X, y = small_xy
    expected = report.epoch_curve(EpochSGD(), X, y, cv=3)
    with joblib.parallel_backend("threading"):
        parallel = report.epoch_curve(EpochSGD(), pd.DataFrame(X), pd.Series(y), cv=3, n_jobs=2)
    pd.testing.assert_frame_equal(parallel, expected)


def test_epoch_curve_with_the_dask_backend(small_xy):
    distributed = pytest.importorskip("distributed")
    X, y = small_xy
    expected = report.epoch_curve(EpochSGD(epochs=2), X, y, cv=2)
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0"
        ) as client,
        distributed.get_task_stream(client) as tasks,
        joblib.parallel_backend("dask"),
    ):
        frame = report.epoch_curve(EpochSGD(epochs=2), X, y, cv=2, n_jobs=2)
    pd.testing.assert_frame_equal(frame, expected)
    assert len(tasks.data) >= 2


def test_epoch_curve_splits_sample_weight_with_the_folds(small_xy):
    X, y = small_xy
    ones = report.epoch_curve(EpochSGD(epochs=1), X, y, cv=2)
    weighted = report.epoch_curve(
        EpochSGD(epochs=1), X, y, cv=2, params={"sample_weight": np.ones(len(y))}
    )
    pd.testing.assert_frame_equal(weighted, ones)


def test_epoch_curve_needs_validation_in_the_history(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="no validation metrics"):
        report.epoch_curve(EpochSGD(record_validation=False), X, y, cv=2)


def test_folds_that_stop_early_drop_out_of_later_epochs():
    frame = aggregate_histories(
        [
            {"loss": [0.9, 0.6, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.65, 0.7]},
            {"loss": [0.8, 0.6], "val_loss": [0.8, 0.7]},
            {"loss": [1.0, 0.7, 0.6], "val_loss": [0.9, 0.8, float("nan")]},
        ]
    )
    assert frame["n_folds"].tolist() == [3, 3, 2, 1]
    np.testing.assert_allclose(frame["loss_mean"], [0.9, 0.6333333, 0.55, 0.4])
    expected_std = [np.std([0.9, 0.8, 1.0]), np.std([0.6, 0.6, 0.7]), 0.05, 0.0]
    np.testing.assert_allclose(frame["loss_std"], expected_std)
    assert np.isnan(frame.loc[3, "val_loss_mean"])  # a NaN (diverged) fold is not hidden
    assert frame.loc[4, "val_loss_mean"] == 0.7


def test_epoch_curve_with_fashion_mlp(small_xy):
    from skfashion import FashionMLP

    X, y = small_xy
    frame = report.epoch_curve(
        FashionMLP(hidden_layer_sizes=(16,), epochs=3, random_state=0), X, y, cv=2
    )
    assert frame.index.tolist() == [1, 2, 3] and frame["n_folds"].tolist() == [2, 2, 2]
    assert frame["loss_mean"].is_monotonic_decreasing
    assert 0.3 < frame["val_accuracy_mean"].iloc[-1] <= 1
    assert (frame.filter(like="_std") >= 0).all().all()


# ------------------------------------------------------------------ save_table


class TableCells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._inside = [], False

    def handle_starttag(self, tag, attrs):
        self._inside = tag in ("td", "th")

    def handle_endtag(self, tag):
        self._inside = False

    def handle_data(self, data):
        if self._inside and data.strip():
            self.cells.append(data.strip())


def read_markdown(text):
    rows = [line.strip("|").split("|") for line in text.strip().splitlines()]
    header, body = [cell.strip() for cell in rows[0]], rows[2:]
    return header, [[cell.strip() for cell in row] for row in body]


@pytest.mark.parametrize("suffix", [".csv", ".md", ".html", ".CSV", ".markdown", ".htm"])
def test_save_table_round_trips(tmp_path, suffix):
    frame = report.compare({"smaller": SMALLER, "bigger": BIGGER})
    path = report.save_table(frame, tmp_path / f"compare{suffix}")
    assert path == tmp_path / f"compare{suffix}"
    text = path.read_text(encoding="utf-8")
    if suffix.lower() == ".csv":
        back = pd.read_csv(path, index_col="model")
        assert back.index.tolist() == ["smaller", "bigger"]
        assert back["verdict"].tolist() == ["underfitting", "overfitting"]
        np.testing.assert_array_equal(back["gap"], frame["gap"])
        assert back["best_epoch"].tolist() == [5, 2]
    elif suffix.lower() in (".md", ".markdown"):
        header, rows = read_markdown(text)
        assert header[:3] == ["model", "best_epoch", "best_val_accuracy"]
        assert [row[0] for row in rows] == ["smaller", "bigger"]
        assert rows[1][header.index("verdict")] == "overfitting"
        assert float(rows[1][header.index("gap")]) == pytest.approx(0.125)
    else:
        parser = TableCells()
        parser.feed(text)
        assert text.lstrip().startswith("<table")
        assert {"model", "verdict", "smaller", "bigger", "overfitting", "0.125"} <= set(
            parser.cells
        )
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_table_series_and_history(tmp_path):
    path = report.save_table(report.history_frame(BIGGER)["val_loss"], tmp_path / "v.csv")
    assert path.read_text().splitlines()[:3] == ["epoch,val_loss", "1,0.52", "2,0.474"]


@pytest.mark.parametrize("name", ["table.xlsx", "table", "table.csv.bak"])
def test_save_table_unknown_suffix(tmp_path, name):
    with pytest.raises(ValueError, match=r"table format.*\.csv"):
        report.save_table(report.history_frame(BIGGER), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_save_table_leaves_the_old_file_whole_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "history.csv"
    path.write_text("old table\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("skfashion._files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report.save_table(report.history_frame(BIGGER), path)
    assert path.read_text() == "old table\n"
    assert list(tmp_path.iterdir()) == [path]


def test_save_table_leaves_nothing_when_formatting_fails(tmp_path, monkeypatch):
    def no_tabulate(self, *args, **kwargs):
        raise ImportError("Missing optional dependency 'tabulate'.")

    monkeypatch.setattr(pd.DataFrame, "to_markdown", no_tabulate)
    with pytest.raises(ImportError, match="tabulate"):
        report.save_table(report.history_frame(BIGGER), tmp_path / "history.md")
    assert list(tmp_path.iterdir()) == []


def test_public_names():
    """__all__ is exactly what the package exposes, and all of it is skfashion's own code."""
    exposed = {
        name
        for name, value in vars(report).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exposed == set(report.__all__)
    for name in report.__all__:
        if name != "VERDICTS":
            assert getattr(report, name).__module__.startswith("skfashion.")


# ------------------------------------------------------------------ several runs


def test_epoch_curve_returns_the_fold_histories_for_one_diagnosis(small_xy):
    X, y = small_xy[0][:300], small_xy[1][:300]
    frame, histories = report.epoch_curve(
        EpochSGD(epochs=2), X, y, cv=2, return_histories=True
    )
    expected = [
        EpochSGD(epochs=2).fit(X[train], y[train], validation_data=(X[test], y[test])).history_
        for train, test in StratifiedKFold(2).split(X, y)
    ]
    assert len(histories) == 2
    for got, want in zip(histories, expected, strict=True):
        np.testing.assert_allclose(got["val_loss"], want["val_loss"])
    pd.testing.assert_frame_equal(frame, aggregate_histories(expected))
    diagnosis = report.diagnose(histories)
    assert diagnosis.n_runs == 2
    assert diagnosis.verdicts == tuple(report.diagnose(h).verdict for h in expected)


def test_fit_seeds_and_seed_curve_vary_only_the_random_state(small_xy):
    X, y = small_xy
    estimator = EpochSGD(epochs=2, random_state=None)
    params = {"validation_data": (X[200:300], y[200:300])}
    fitted = report.fit_seeds(estimator, X[:200], y[:200], seeds=[3, 7], params=params)
    assert [model.random_state for model in fitted] == [3, 7]
    assert estimator.random_state is None and not hasattr(estimator, "history_")
    alone = EpochSGD(epochs=2, random_state=7).fit(X[:200], y[:200], **params)
    np.testing.assert_array_equal(fitted[1].history_["val_loss"], alone.history_["val_loss"])
    assert fitted[0].history_["val_loss"] != fitted[1].history_["val_loss"]
    frame, histories = report.seed_curve(
        estimator, X[:200], y[:200], seeds=[3, 7], params=params, return_histories=True
    )
    assert frame["n_runs"].tolist() == [2, 2]
    np.testing.assert_allclose(
        frame["val_loss_mean"], np.mean([h["val_loss"] for h in histories], axis=0)
    )
    assert report.diagnose(fitted).verdicts == tuple(report.diagnose(f).verdict for f in fitted)
    with pytest.raises(ValueError, match="no validation metrics"):
        report.fit_seeds(estimator, X[:200], y[:200], seeds=1)


@pytest.mark.slow
def test_fit_seeds_of_fashion_mlp_match_single_fits(small_xy):
    from skfashion import FashionMLP

    X, y = small_xy
    estimator = FashionMLP(hidden_layer_sizes=(16,), epochs=2, validation_fraction=0.25)
    fitted = report.fit_seeds(estimator, X, y, seeds=2)
    alone = FashionMLP(**{**estimator.get_params(), "random_state": 1}).fit(X, y)
    np.testing.assert_array_equal(fitted[1].history_["val_loss"], alone.history_["val_loss"])
    assert fitted[0].history_["val_loss"] != fitted[1].history_["val_loss"]
    assert report.diagnose(fitted).n_runs == 2


@pytest.mark.parametrize(
    "seeds, match",
    [(0, "at least 1"), (-2, "at least 1"), ([], "non-empty"), ([1, 1], "distinct"),
     ([0.5], "random states"), (True, "random states"), ("abc", "random states")],
)
def test_bad_seeds_fail_before_any_training(seeds, match):
    class NeverFit(EpochSGD):
        def fit(self, *args, **kwargs):
            raise AssertionError("trained despite bad seeds")

    with pytest.raises(ValueError, match=match):
        report.fit_seeds(NeverFit(), np.zeros((4, 2)), [0, 1, 0, 1], seeds=seeds)
    with pytest.raises(ValueError, match=match):
        report.seed_curve(NeverFit(), np.zeros((4, 2)), [0, 1, 0, 1], seeds=seeds)


def test_fit_seeds_needs_a_random_state():
    with pytest.raises(ValueError, match="no random_state parameter"):
        report.fit_seeds(KNeighborsClassifier(), [[0]], [0])


def test_diagnose_refuses_fitted_runs_of_different_configurations(small_xy):
    X, y = small_xy
    validation = (X[200:300], y[200:300])
    runs = [
        EpochSGD(epochs=1, random_state=0).fit(X[:200], y[:200], validation_data=validation),
        EpochSGD(epochs=2, random_state=1).fit(X[:200], y[:200], validation_data=validation),
    ]
    with pytest.raises(ValueError, match=r"differ in \['epochs'\], not only in random_state"):
        report.diagnose(runs)
    with pytest.raises(ValueError, match="different models"):
        report.diagnose([runs[0], DecisionTreeClassifier()])


def test_compare_with_several_runs_per_model():
    frame = report.compare({"bigger": [BIGGER, BIGGER, DROPOUT], "dropout": DROPOUT})
    assert frame.index.tolist() == ["bigger", "dropout"]
    assert frame.loc["bigger", "verdict"] == "overfitting"
    assert (frame.loc["bigger", "agreement"], frame.loc["bigger", "n_runs"]) == (2, 3)
    assert frame.loc["dropout", "n_runs"] == 1
    assert frame.loc["bigger", "best_epoch_mean"] == pytest.approx(np.mean([2, 2, 6]))
    assert frame.loc["bigger", "verdicts"] == "overfitting, overfitting, good fit"
