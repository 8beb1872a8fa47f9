"""Diagnosing the models people already have: Keras, scikeras, Keras' own scikit-learn
wrapper and scikit-learn's MLPClassifier, each trained for real on Fashion-MNIST images."""

import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier

from skfashion import report
from skfashion._diagnostics import VERDICTS
from skfashion._history import as_history
from skfashion._tf import import_tensorflow

matplotlib.use("Agg")

N_IMAGES = 1200  # 960 to train on, 240 to validate (validation_split=0.2)
EPOCHS = 3


@pytest.fixture(scope="module")
def images(fashion_train):
    """The first real training images, scaled to [0, 1] as a Keras user scales them."""
    X = fashion_train.data[:N_IMAGES].astype(np.float32) / 255.0
    return X, fashion_train.target[:N_IMAGES]


def _network(n_classes=10, loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
    """The course's Keras program: Dense(32, relu) -> Dense(10, softmax), Adam."""
    _, keras = import_tensorflow()
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return model


def _one_hot_network(X, y):
    """What keras.wrappers.SKLearnClassifier calls: it one-hot encodes the labels."""
    return _network(y.shape[1], loss="categorical_crossentropy")


def _check_diagnosis_and_figure(fitted):
    """A diagnosis and a history figure, both read from the real per-epoch values."""
    values = as_history(fitted)
    best = int(np.argmin(values["val_loss"])) + 1
    diagnosis = report.diagnose(fitted)
    assert diagnosis.verdict in VERDICTS
    assert diagnosis.epochs_run == EPOCHS
    assert diagnosis.best_epoch == best
    assert diagnosis.best_val_accuracy == pytest.approx(values["val_accuracy"][best - 1])
    assert diagnosis.final_train_accuracy == pytest.approx(values["accuracy"][-1])
    assert 0.3 < diagnosis.final_val_accuracy <= 1  # 3 epochs on 960 real images learn a lot

    for metric in ("accuracy", "loss"):
        display = report.HistoryDisplay.from_history(fitted, metric=metric)
        training, validation = display.lines_[None]
        assert training.get_linestyle() == "-" and validation.get_linestyle() == "--"
        np.testing.assert_allclose(training.get_ydata(), values[metric])
        np.testing.assert_allclose(validation.get_ydata(), values[f"val_{metric}"])
        assert display.best_epochs == {None: best}
        plt.close(display.figure_)
    return values


# ----------------------------------------------------------------------------------- Keras
@pytest.mark.slow
def test_keras_history_from_model_fit(images):
    X, y = images
    history = _network().fit(X, y, validation_split=0.2, epochs=EPOCHS, batch_size=32, verbose=0)
    read = _check_diagnosis_and_figure(history)
    assert sorted(read) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_array_equal(read["val_loss"], history.history["val_loss"])
    assert read.source == "Keras History"
    frame = report.history_frame(history)
    assert list(frame.index) == [1, 2, 3]
    np.testing.assert_allclose(frame["accuracy_gap"], read["accuracy"] - read["val_accuracy"])


@pytest.mark.slow
def test_keras_sparse_categorical_accuracy_is_read_as_accuracy(images):
    X, y = images
    model = _network(metrics=("sparse_categorical_accuracy",))
    history = model.fit(X[:400], y[:400], validation_split=0.2, epochs=2, verbose=0)
    read = as_history(history)
    assert sorted(read) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_array_equal(
        read["val_accuracy"], history.history["val_sparse_categorical_accuracy"]
    )


@pytest.mark.slow
def test_keras_history_without_validation_tells_keras_users_how(images):
    X, y = images
    history = _network().fit(X[:300], y[:300], epochs=1, verbose=0)
    advice = r"Keras History .*model\.fit\(X, y, validation_split=0\.2"
    with pytest.raises(ValueError, match=advice):
        report.diagnose(history)


# ------------------------------------------------------------------------------- scikeras
def _scikeras(**params):
    from scikeras.wrappers import KerasClassifier

    return KerasClassifier(
        model=_network,
        epochs=EPOCHS,
        batch_size=32,
        verbose=0,
        random_state=0,
        **params,
    )


@pytest.mark.slow
def test_scikeras_classifier(images):
    X, y = images
    clf = _scikeras(validation_split=0.2).fit(X, y)
    read = _check_diagnosis_and_figure(clf)
    assert dict(clf.history_).keys() == read.keys()
    assert read.source == "KerasClassifier"
    np.testing.assert_allclose(
        report.HistoryDisplay.from_estimator(clf).lines_[None][1].get_ydata(),
        clf.history_["val_accuracy"],
    )
    plt.close("all")


@pytest.mark.slow
def test_scikeras_without_validation_tells_scikeras_users_how(images):
    X, y = images
    clf = _scikeras().set_params(epochs=1).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match=r"KerasClassifier\(\.\.\., validation_split=0\.2\)"):
        report.diagnose(clf)


# -------------------------------------------------------- keras.wrappers.SKLearnClassifier
def _keras_wrapper(**fit_kwargs):
    _, keras = import_tensorflow()
    return keras.wrappers.SKLearnClassifier(
        model=_one_hot_network, fit_kwargs={"epochs": EPOCHS, "verbose": 0, **fit_kwargs}
    )


@pytest.mark.slow
def test_keras_wrapper_whose_history_is_a_history_object(images):
    X, y = images
    clf = _keras_wrapper(validation_split=0.2).fit(X, y)
    assert not isinstance(clf.history_, dict)  # a keras.callbacks.History: read through it
    read = _check_diagnosis_and_figure(clf)
    np.testing.assert_array_equal(read["val_loss"], clf.history_.history["val_loss"])
    assert read.source == "SKLearnClassifier"
    table = report.compare({"keras wrapper": clf})
    assert table.loc["keras wrapper", "best_epoch"] == int(np.argmin(read["val_loss"])) + 1


@pytest.mark.slow
def test_keras_wrapper_without_validation_tells_its_users_how(images):
    X, y = images
    clf = _keras_wrapper(epochs=1).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match=r"fit_kwargs=\{'validation_split': 0\.2\}"):
        report.diagnose(clf)


# ------------------------------------------------------------------ scikit-learn's MLP
def _mlp(X, y, **params):
    params = {"hidden_layer_sizes": (32,), "max_iter": 40, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short runs on purpose
        return MLPClassifier(**params).fit(X, y)


@pytest.fixture(scope="module")
def early_stopped_mlp(images):
    """An MLPClassifier that stopped early on real images and restored its best epoch."""
    X, y = images
    # A high learning rate, little patience: it stops after 15 epochs, holding epoch 12's.
    return _mlp(
        X, y, early_stopping=True, validation_fraction=0.2, n_iter_no_change=2,
        learning_rate_init=0.01,
    )


def test_mlp_classifier_history_is_its_loss_and_validation_accuracy(early_stopped_mlp):
    mlp = early_stopped_mlp
    history = as_history(mlp)
    assert sorted(history) == ["loss", "val_accuracy"]  # no training accuracy, no val loss
    np.testing.assert_array_equal(history["loss"], mlp.loss_curve_)
    np.testing.assert_array_equal(history["val_accuracy"], mlp.validation_scores_)
    assert len(history["loss"]) == mlp.n_iter_ < 40  # it stopped early
    # it keeps the weights of its best validation accuracy (the first such epoch)
    assert history.restored_epoch == int(np.argmax(mlp.validation_scores_)) + 1
    assert history.source == "MLPClassifier" and history.kind == "sklearn-mlp"
    assert history.restored_epoch < mlp.n_iter_


def test_mlp_classifier_holds_the_weights_of_its_restored_epoch(early_stopped_mlp, images):
    """What restored_epoch claims, checked: the same run cut at that epoch has the same weights."""
    X, y = images
    restored = as_history(early_stopped_mlp).restored_epoch
    cut = _mlp(X, y, **{**early_stopped_mlp.get_params(), "max_iter": restored})
    assert cut.validation_scores_ == early_stopped_mlp.validation_scores_[:restored]
    for ours, theirs in zip(cut.coefs_, early_stopped_mlp.coefs_, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_mlp_classifier_history_figure(early_stopped_mlp):
    history = as_history(early_stopped_mlp)
    display = report.HistoryDisplay.from_history(early_stopped_mlp, metric="loss")
    training, validation = display.lines_[None]
    assert training.get_linestyle() == "-"
    np.testing.assert_allclose(training.get_ydata(), history["loss"])
    assert validation is None  # scikit-learn records no validation loss
    plt.close(display.figure_)
    frame = report.history_frame(early_stopped_mlp)
    assert list(frame.columns) == ["loss", "val_accuracy"]
    assert list(frame.index) == list(range(1, early_stopped_mlp.n_iter_ + 1))


def test_mlp_classifier_diagnosis_at_its_restored_epoch(early_stopped_mlp):
    """diagnose reads partial signals: loss and val_accuracy only (needs the partial
    diagnose of skfashion._diagnostics: see issue #13)."""
    history = as_history(early_stopped_mlp)
    diagnosis = report.diagnose(early_stopped_mlp)
    assert diagnosis.verdict in VERDICTS
    assert diagnosis.restored_best_weights
    assert diagnosis.best_epoch == history.restored_epoch
    assert diagnosis.epochs_run == early_stopped_mlp.n_iter_
    best = max(early_stopped_mlp.validation_scores_)
    assert diagnosis.best_val_accuracy == pytest.approx(best)
    assert diagnosis.final_val_accuracy == pytest.approx(best)  # judged at the restored epoch
    assert not diagnosis.overfitting


def test_mlp_classifier_without_early_stopping_tells_its_users_how(images):
    X, y = images
    mlp = _mlp(X[:300], y[:300], max_iter=2)
    assert sorted(as_history(mlp)) == ["loss"]
    with pytest.raises(
        ValueError, match=r"MLPClassifier\(early_stopping=True, validation_fraction=0\.1\)"
    ):
        report.diagnose(mlp)


def test_unfitted_and_lbfgs_mlp_classifiers_get_errors_that_say_so(images):
    X, y = images
    with pytest.raises(NotFittedError, match="call fit first"):
        report.history_frame(MLPClassifier())
    lbfgs = _mlp(X[:300], y[:300], solver="lbfgs", max_iter=2)
    with pytest.raises(ValueError, match=r"solver='lbfgs'.*solver='adam'"):
        report.history_frame(lbfgs)


# ------------------------------------------------------------------- hand-written mappings
@pytest.mark.parametrize(
    "keys",
    [("acc", "val_acc"), ("categorical_accuracy", "val_categorical_accuracy")],
)
def test_keras_accuracy_names_are_read_as_accuracy(keys):
    history = as_history({"loss": [0.9, 0.5], keys[0]: [0.6, 0.7], keys[1]: [0.5, 0.6]})
    assert sorted(history) == ["accuracy", "loss", "val_accuracy"]
    np.testing.assert_array_equal(history["val_accuracy"], [0.5, 0.6])
    assert history.source is None and history.restored_epoch is None


def test_anything_else_is_a_type_error_naming_what_is_accepted():
    with pytest.raises(TypeError, match="MLPClassifier.*model.fit returns"):
        as_history([0.9, 0.5])


def test_require_validation_accepts_either_signal_when_asked_to():
    from skfashion._history import EpochHistory, require_validation

    mlp_like = EpochHistory(
        {"loss": [0.9, 0.6], "val_accuracy": [0.7, 0.8]}, source="MLPClassifier",
        kind="sklearn-mlp",
    )
    require_validation(mlp_like, complete=False)
    with pytest.raises(ValueError, match=r"records \['val_accuracy'\] but not \['val_loss'\]"):
        require_validation(mlp_like)
    with pytest.raises(ValueError, match="no validation metrics.*validation_fraction"):
        require_validation(as_history({"loss": [0.9, 0.6]}), complete=False)
