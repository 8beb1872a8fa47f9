"""FashionMLP as a scikit-learn classifier, on small slices of the real Fashion-MNIST data."""

import pickle
import re
import signal
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import ClassifierMixin, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    check_cv,
    learning_curve,
    validation_curve,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfashion import PRESETS, FashionMLP

FAST = dict(hidden_layer_sizes=(16,), epochs=3, random_state=0)


@pytest.fixture(scope="module")
def fitted(small_xy):
    X, y = small_xy
    return FashionMLP(**FAST, validation_fraction=0.2).fit(X[:500], y[:500])


# --------------------------------------------------------------------------- contract
def test_is_a_classifier_with_current_tags():
    clf = FashionMLP()
    assert is_classifier(clf)
    tags = get_tags(clf)
    assert tags.estimator_type == "classifier"
    assert tags.target_tags.required
    assert not tags.input_tags.allow_nan
    # so CV on a classifier is stratified, unlike plain scikeras under sklearn >= 1.6
    assert isinstance(check_cv(3, np.array([0, 1] * 10), classifier=is_classifier(clf)),
                      StratifiedKFold)


def test_init_stores_parameters_unchanged():
    params = dict(hidden_layer_sizes=[32, 16], dropout=0.25, epochs=7, random_state=3)
    clf = FashionMLP(**params)
    for name, value in params.items():
        assert getattr(clf, name) is value
    assert clf.get_params()["hidden_layer_sizes"] == [32, 16]
    with pytest.raises(TypeError):
        FashionMLP((16,))  # keyword-only


def test_set_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="Invalid parameter 'units'"):
        FashionMLP().set_params(units=3)


def test_has_no_base_class_it_does_not_use():
    # scikit-learn's mixin first, as scikit-learn's own classifiers do; nothing from scikeras
    bases = [cls for cls in FashionMLP.__mro__ if cls not in (FashionMLP, object)]
    assert bases[0] is ClassifierMixin
    assert {cls.__module__.split(".")[0] for cls in bases} == {"sklearn"}
    assert not hasattr(FashionMLP, "_more_tags")


# Every check runs. check_array_api_input runs because conftest.py sets SCIPY_ARRAY_API=1
# before SciPy is imported (scikit-learn skips it otherwise). The only expected failures:
SAMPLE_WEIGHT_EQUIVALENCE = (
    "Weights are not repeated samples for minibatch training: an integer weight k scales a "
    "sample's loss inside its one shuffled batch, while k copies of it land in k different "
    "batches of a longer epoch, with other steps and other batch orders. scikit-learn runs "
    "this check on its own MLPClassifier only with the full-batch 'lbfgs' solver."
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_EQUIVALENCE,
}


@parametrize_with_checks(
    [FashionMLP(hidden_layer_sizes=(32,), epochs=20, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- behaviour
def test_fitted_attributes(fitted, small_xy):
    X, y = small_xy
    assert fitted.n_features_in_ == 784
    np.testing.assert_array_equal(fitted.classes_, np.arange(10))
    assert fitted.n_iter_ == 3
    assert set(fitted.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in fitted.history_.values())
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]
    assert not fitted.interrupted_
    assert not hasattr(fitted, "best_epoch_")
    assert [layer.units for layer in fitted.model_.layers if hasattr(layer, "units")] == [16, 10]
    proba = fitted.predict_proba(X[500:])
    assert proba.shape == (100, 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict(X[500:]), proba.argmax(axis=1))
    assert 0.5 < fitted.score(X[500:], y[500:]) <= 1.0


def test_history_without_validation_has_training_keys_only(small_xy):
    X, y = small_xy
    clf = FashionMLP(**FAST).fit(X, y)
    assert set(clf.history_) == {"loss", "accuracy"}


def test_validation_data_is_recorded_and_never_trained_on(small_xy):
    X, y = small_xy
    clf = FashionMLP(**FAST).fit(X[:400], y[:400], validation_data=(X[400:], y[400:]))
    assert len(clf.history_["val_loss"]) == 3
    # the recorded validation loss of the last epoch is the loss of the final model
    expected = log_loss(y[400:], clf.predict_proba(X[400:]), labels=clf.classes_)
    assert clf.history_["val_loss"][-1] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "fraction, validation, counts",
    [(0.0, False, (300, 0)), (0.2, False, (240, 60)), (0.101, False, (269, 31)),
     (0.2, True, (300, 50))],
)
def test_train_and_validation_sample_counts(small_xy, fraction, validation, counts):
    X, y = small_xy
    given = (X[300:350], y[300:350]) if validation else None
    clf = FashionMLP(hidden_layer_sizes=(4,), epochs=1, validation_fraction=fraction,
                     random_state=0).fit(X[:300], y[:300], validation_data=given)
    assert (clf.n_train_samples_, clf.n_validation_samples_) == counts
    # the counts are the data the network saw: one optimizer step per batch of 32
    assert int(clf.model_.optimizer.iterations) == -(-counts[0] // 32)
    if counts[1]:
        val_acc = np.array(clf.history_["val_accuracy"]) * counts[1]
        np.testing.assert_allclose(val_acc, np.round(val_acc), atol=1e-3)


def test_validation_fraction_is_a_stratified_holdout(small_xy):
    X, y = small_xy
    seen = {}

    def record(epoch, logs):
        seen[epoch] = logs

    clf = FashionMLP(**FAST, validation_fraction=0.2).fit(X, y, on_epoch_end=record)
    assert sorted(seen) == [1, 2, 3]
    assert seen[3]["val_accuracy"] == clf.history_["val_accuracy"][-1]
    # 600 * 0.2 = 120 held-out images: accuracies are multiples of 1/120
    val_acc = np.array(clf.history_["val_accuracy"]) * 120
    np.testing.assert_allclose(val_acc, np.round(val_acc), atol=1e-3)


def test_on_epoch_end_can_stop_training(small_xy):
    X, y = small_xy
    clf = FashionMLP(**{**FAST, "epochs": 10}).fit(X, y, on_epoch_end=lambda e, logs: e == 2)
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2


@pytest.mark.parametrize(
    "preset, units", [(name, list(sizes)) for name, sizes in PRESETS.items()]
)
def test_presets_build_the_lecture_networks(small_xy, preset, units):
    X, y = small_xy
    clf = FashionMLP(hidden_layer_sizes=preset, epochs=1, random_state=0).fit(X[:200], y[:200])
    dense = [layer.units for layer in clf.model_.layers if hasattr(layer, "units")]
    assert dense == units + [10]


def test_images_and_flat_pixels_and_dtypes_agree(small_xy):
    X, y = small_xy
    flat = FashionMLP(**FAST).fit(X, y)
    images = FashionMLP(**FAST).fit(X.reshape(-1, 28, 28), y)
    floats = FashionMLP(**FAST).fit(X.astype(np.float64), y)
    reference = flat.predict_proba(X[:50])
    np.testing.assert_array_equal(images.predict_proba(X[:50].reshape(-1, 28, 28)), reference)
    np.testing.assert_array_equal(floats.predict_proba(X[:50].astype(np.float64)), reference)
    np.testing.assert_array_equal(flat.predict_proba(X[:50].reshape(-1, 28, 28)), reference)


def test_pandas_input_and_string_labels(small_xy):
    X, y = small_xy
    names = np.array(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"])
    frame = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(784)])
    labels = pd.Series(names[y])
    clf = FashionMLP(**FAST).fit(frame, labels)
    np.testing.assert_array_equal(clf.classes_, np.sort(names))
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    predicted = clf.predict(frame.iloc[:20])
    assert set(predicted) <= set(names)
    assert (predicted == labels.iloc[:20]).mean() > 0.5


def test_arbitrary_numeric_features_are_scaled_by_the_network(rng, small_xy):
    _, y = small_xy
    # one noisy indicator feature per class, on scales from 1e-4 to 1e4: unscaled, the
    # small ones would vanish next to the large ones
    scales = np.logspace(-4, 4, 10)
    X = (np.eye(10)[y] + rng.normal(0, 0.2, (len(y), 10))) * scales
    clf = FashionMLP(hidden_layer_sizes=(32,), epochs=10, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95


# --------------------------------------------------------------------------- reproducibility
def test_same_random_state_gives_bitwise_identical_results(small_xy):
    X, y = small_xy
    params = dict(hidden_layer_sizes=(32, 16), dropout=0.3, epochs=3, random_state=0,
                  validation_fraction=0.2)
    first = FashionMLP(**params).fit(X, y)
    second = FashionMLP(**params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.history_ == second.history_
    other = FashionMLP(**{**params, "random_state": 1}).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def test_seeded_fit_leaves_no_global_state(small_xy):
    X, y = small_xy
    np_state = np.random.get_state()[1].copy()
    FashionMLP(**FAST, dropout=0.5).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    from tensorflow.python.framework import config, random_seed

    assert not config.is_op_determinism_enabled()

    assert random_seed.get_seed(None) == (None, None)
    # unseeded fits afterwards still work and differ from each other
    a = FashionMLP(hidden_layer_sizes=(16,), epochs=1, dropout=0.5).fit(X, y)
    b = FashionMLP(hidden_layer_sizes=(16,), epochs=1, dropout=0.5).fit(X, y)
    assert not np.array_equal(a.predict_proba(X[:20]), b.predict_proba(X[:20]))


def test_random_state_instance_is_used_and_advanced(small_xy):
    X, y = small_xy
    rs = np.random.RandomState(0)
    a = FashionMLP(hidden_layer_sizes=(16,), epochs=1, random_state=rs).fit(X, y)
    b = FashionMLP(hidden_layer_sizes=(16,), epochs=1, random_state=rs).fit(X, y)
    assert not np.array_equal(a.predict_proba(X[:20]), b.predict_proba(X[:20]))
    c = FashionMLP(hidden_layer_sizes=(16,), epochs=1,
                   random_state=np.random.RandomState(0)).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X[:20]), c.predict_proba(X[:20]))


# --------------------------------------------------------------------------- persistence
DATA = Path(__file__).parent / "data"

def test_pickle_joblib_and_clone(fitted, small_xy, tmp_path):
    X, _ = small_xy
    expected = fitted.predict_proba(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    joblib.dump(fitted, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(X),
                                  expected)
    assert restored.history_ == fitted.history_
    assert (restored.n_train_samples_, restored.n_validation_samples_) == (400, 100)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


def test_classifier_saved_by_0_1_0_still_loads(fashion_test):
    # tests/data/fashion_mlp_0.1.0.joblib: FashionMLP(hidden_layer_sizes="smaller", epochs=1,
    # random_state=0) fitted by skfashion 0.1.0 on the first 300 training images and saved as
    # `skfashion train --save` does (joblib.dump); the .npy holds its predict_proba of the
    # first 20 test images, computed by 0.1.0. Its network was pickled through scikeras.
    clf = joblib.load(DATA / "fashion_mlp_0.1.0.joblib")
    expected = np.load(DATA / "fashion_mlp_0.1.0_proba.npy")
    X = fashion_test.data[:20]
    # 0.1.0 normalised the network's float32 softmax; now it is the float64 softmax of the logits
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(clf.predict(X), expected.argmax(axis=1))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(expected), rtol=1e-5)
    assert clf.n_iter_ == 1 and clf.get_params()["hidden_layer_sizes"] == "smaller"
    # saved again, it is written in the current format (no scikeras needed to read it)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


# --------------------------------------------------------------------------- training loop
def test_history_is_what_keras_reports_with_a_partial_last_batch_and_penalties(small_xy):
    # 480 training images in batches of 50: 9 full batches and one of 30. With a learning
    # rate too small to move the weights, the epoch's running mean of the batch losses
    # (weighted by batch size, L2 penalty included) is Keras' own evaluate() on the data.
    X, y = small_xy
    X_train, y_train, X_val, y_val = X[:480], y[:480], X[480:], y[480:]
    clf = FashionMLP(hidden_layer_sizes=(32,), l2=1e-2, epochs=1, batch_size=50,
                     learning_rate=1e-12, random_state=0)
    clf.fit(X_train, y_train, validation_data=(X_val, y_val))
    train_loss, train_accuracy = clf.model_.evaluate(X_train, y_train, verbose=0)
    val_loss, val_accuracy = clf.model_.evaluate(X_val, y_val, verbose=0)
    penalty = 1e-2 * sum(float(np.sum(np.square(w))) for w in clf.model_.get_weights()[2::2])
    assert penalty > 0.01  # large enough to be seen in the loss
    assert clf.history_["loss"][0] == pytest.approx(train_loss, rel=1e-5)
    assert clf.history_["accuracy"][0] == pytest.approx(train_accuracy, abs=1e-6)
    assert clf.history_["val_loss"][0] == pytest.approx(val_loss, rel=1e-5)
    assert clf.history_["val_accuracy"][0] == pytest.approx(val_accuracy, abs=1e-6)


def test_dropout_penalty_and_early_stopping_are_reproducible(small_xy):
    X, y = small_xy
    params = dict(hidden_layer_sizes="baseline", epochs=3, batch_size=50, validation_fraction=0.2,
                  early_stopping=True, patience=1, l2=1e-3, dropout=0.2, random_state=0)
    seen = []
    first = FashionMLP(**params).fit(X, y, on_epoch_end=lambda epoch, logs: seen.append(epoch))
    again = FashionMLP(**params).fit(X, y)
    assert first.history_ == again.history_
    assert seen == list(range(1, first.n_iter_ + 1))
    assert first.best_epoch_ == 1 + int(np.argmin(first.history_["val_loss"]))
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert np.all(np.diff(first.history_["loss"]) < 0)


@pytest.mark.slow
def test_compiled_training_on_many_images(fashion_train):
    # From 10,000 training images on, the loop over batches is compiled by XLA.
    X, y = fashion_train.data[:11_000], fashion_train.target[:11_000]
    params = dict(hidden_layer_sizes="baseline", epochs=2, random_state=0)
    first = FashionMLP(**params).fit(X[:10_000], y[:10_000],
                                      validation_data=(X[10_000:], y[10_000:]))
    again = FashionMLP(**params).fit(X[:10_000], y[:10_000],
                                      validation_data=(X[10_000:], y[10_000:]))
    assert first.history_ == again.history_
    np.testing.assert_array_equal(first.predict_proba(X[10_000:]),
                                  again.predict_proba(X[10_000:]))
    val_loss, val_accuracy = first.model_.evaluate(X[10_000:], y[10_000:], verbose=0)
    assert first.history_["val_loss"][-1] == pytest.approx(val_loss, rel=1e-4)
    assert first.history_["val_accuracy"][-1] == pytest.approx(val_accuracy, abs=1e-6)
    assert first.history_["val_accuracy"][-1] > 0.8
    assert first.score(X[10_000:], y[10_000:]) == pytest.approx(val_accuracy, abs=2e-3)


def test_verbose_2_shows_a_progress_bar_per_epoch(small_xy, capsys):
    X, y = small_xy
    FashionMLP(hidden_layer_sizes=(8,), epochs=2, verbose=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "19/19" in out  # 600 images in batches of 32: 18 full and a partial one
    assert re.search(r"accuracy: 0\.\d{4}", out)


# --------------------------------------------------------------------------- early stopping
@pytest.mark.slow  # up to 30 epochs of the 512+512 network on 2,000 real images
def test_early_stopping_restores_the_best_epoch(fashion_train):
    X, y = fashion_train.data[:2000], fashion_train.target[:2000]
    X_val, y_val = fashion_train.data[2000:2500], fashion_train.target[2000:2500]
    clf = FashionMLP(hidden_layer_sizes="bigger", epochs=30, early_stopping=True, patience=3,
                     random_state=0)
    clf.fit(X, y, validation_data=(X_val, y_val))
    val_loss = np.array(clf.history_["val_loss"])
    assert clf.n_iter_ < 30, "the overfitting 512+512 network should stop early"
    assert clf.best_epoch_ == int(np.argmin(val_loss)) + 1
    assert clf.n_iter_ == clf.best_epoch_ + 3
    # the restored weights are those of the best epoch: same validation loss (Keras computes
    # it from the logits, exact even for saturated softmax outputs) and the same accuracy
    restored_loss, _ = clf.model_.evaluate(X_val, y_val, verbose=0)
    assert restored_loss == pytest.approx(val_loss.min(), rel=1e-4)
    best_accuracy = clf.history_["val_accuracy"][clf.best_epoch_ - 1]
    assert clf.score(X_val, y_val) == pytest.approx(best_accuracy, abs=1e-6)


def test_early_stopping_without_validation_is_a_clear_error(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="early_stopping=True .* set validation_fraction"):
        FashionMLP(early_stopping=True).fit(X, y)


# --------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_stops_training_cleanly(small_xy):
    X, y = small_xy

    def press_ctrl_c(epoch, logs):
        if epoch == 2:
            signal.raise_signal(signal.SIGINT)  # a real SIGINT, as from the keyboard

    clf = FashionMLP(hidden_layer_sizes=(16,), epochs=50, random_state=0)
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) after 2 of 50 epochs"):
        clf.fit(X, y, on_epoch_end=press_ctrl_c)
    assert clf.interrupted_
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2
    assert clf.predict(X[:10]).shape == (10,)
    assert clf.score(X, y) > 0.5
    # and the estimator can be fitted again normally
    assert not clf.set_params(epochs=1).fit(X, y).interrupted_


# --------------------------------------------------------------------------- bad input
BAD_INPUT = [
    ("nan", lambda X, y: (np.where(np.arange(784) == 3, np.nan, X[:20].astype(float)), y[:20]),
     ValueError, "Input X contains NaN"),
    ("inf", lambda X, y: (np.where(np.arange(784) == 3, np.inf, X[:20].astype(float)), y[:20]),
     ValueError, "Input X contains infinity"),
    ("1-D X", lambda X, y: (X[0], y[:1]), ValueError, "Expected 2D array, got 1D array"),
    ("empty X", lambda X, y: (X[:0], y[:0]), ValueError, "0 sample"),
    ("length mismatch", lambda X, y: (X[:20], y[:19]), ValueError,
     "inconsistent numbers of samples"),
    ("single class", lambda X, y: (X[:20], np.zeros(20, int)), ValueError,
     "only one class"),
    ("wrong image shape", lambda X, y: (X[:20].reshape(20, 28, 28)[:, :27, :], y[:20]),
     ValueError, "batch of 28x28 images"),
    ("continuous y", lambda X, y: (X[:20], np.linspace(0, 1, 20)), ValueError,
     "Unknown label type"),
    ("strings in X", lambda X, y: (np.array([["a"] * 784] * 20), y[:20]), ValueError,
     "could not convert|dtype"),
]


@pytest.mark.parametrize("case, make, error, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_training_data_gives_clear_errors(small_xy, case, make, error, message):
    X, y = make(*small_xy)
    with pytest.raises(error, match=message) as info:
        FashionMLP(epochs=1).fit(X, y)
    assert "tensorflow" not in str(info.value).lower()


BAD_PARAMS = [
    (dict(hidden_layer_sizes="huge"), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes=(16, 0)), "positive integers"),
    (dict(hidden_layer_sizes=(-4,)), "positive integers"),
    (dict(hidden_layer_sizes=0), "hidden_layer_sizes"),
    (dict(dropout=1.0), "'dropout' parameter .* range \\[0.0, 1.0\\)"),
    (dict(dropout=-0.1), "'dropout' parameter"),
    (dict(epochs=0), "'epochs' parameter"),
    (dict(validation_fraction=1.0), "'validation_fraction' parameter"),
    (dict(validation_fraction=-0.2), "'validation_fraction' parameter"),
    (dict(l2=-1.0), "'l2' parameter"),
    (dict(batch_size=0), "'batch_size' parameter"),
    (dict(optimizer="adamax"), "'optimizer' parameter"),
    (dict(activation="softplus2"), "'activation' parameter"),
    (dict(learning_rate=0), "'learning_rate' parameter"),
]


@pytest.mark.parametrize("params, message", BAD_PARAMS, ids=[str(p) for p, _ in BAD_PARAMS])
def test_bad_parameters_fail_fast_with_clear_errors(small_xy, params, message):
    X, y = small_xy
    with pytest.raises(ValueError, match=message):
        FashionMLP(**params).fit(X, y)


def test_unknown_preset_names_the_choices(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="huge") as info:
        FashionMLP(hidden_layer_sizes="huge").fit(X, y)
    for name in PRESETS:
        assert name in str(info.value)


def test_predict_checks_features_and_fit(fitted, small_xy):
    X, _ = small_xy
    with pytest.raises(ValueError, match="X has 100 features, but FashionMLP is expecting 784"):
        fitted.predict(X[:5, :100])
    with pytest.raises(ValueError, match="batch of 28x28 images"):
        fitted.predict(X[:5].reshape(5, 4, 196))
    with pytest.raises(NotFittedError):
        FashionMLP().predict_proba(X[:5])


def test_augment_needs_images(rng):
    X = rng.normal(size=(40, 10))
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="augment=True .* 784 features"):
        FashionMLP(augment=True).fit(X, y)


def test_validation_data_with_unknown_labels(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="labels not seen in y"):
        FashionMLP(**FAST).fit(X[:300], y[:300], validation_data=(X[300:310], y[300:310] + 10))


def test_tiny_validation_fraction_is_explained(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="validation_fraction=0.01 .* too few samples"):
        FashionMLP(validation_fraction=0.01).fit(X[:100], y[:100])


# --------------------------------------------------------------------------- model selection
@pytest.mark.slow
def test_grid_search_over_units_and_dropout(small_xy):
    X, y = small_xy
    search = GridSearchCV(
        FashionMLP(epochs=4, random_state=0),
        {"hidden_layer_sizes": ["smaller", "baseline"], "dropout": [0.0, 0.5]},
        cv=3,
        return_train_score=True,
    ).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    assert np.all(results["mean_test_score"] > 0.1)  # 10 classes: chance is 0.1
    # one baseline fit on 400 images for 4 epochs scores 0.53 to 0.66 on 200 others (seeds 0-4)
    assert search.best_score_ > 0.5
    # training scores are higher than held-out scores on average
    assert np.mean(results["mean_train_score"]) > np.mean(results["mean_test_score"])
    assert search.best_estimator_.n_iter_ == 4


@pytest.mark.slow
def test_validation_curve_over_dropout_and_learning_curve(small_xy):
    X, y = small_xy
    base = FashionMLP(hidden_layer_sizes=(64,), epochs=6, random_state=0)
    train, test = validation_curve(base, X, y, param_name="dropout", param_range=[0.0, 0.8],
                                   cv=3)
    assert train.shape == test.shape == (2, 3)
    assert np.all(test > 0.4)
    # heavy dropout narrows the gap between training and held-out accuracy
    gap = train.mean(axis=1) - test.mean(axis=1)
    assert gap[1] < gap[0]
    sizes, train, test = learning_curve(base, X, y, train_sizes=[0.3, 1.0], cv=3)
    assert list(sizes) == [120, 400]
    assert test.mean(axis=1)[1] > test.mean(axis=1)[0]  # more data helps


def test_in_a_pipeline(small_xy):
    X, y = small_xy
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z.reshape(-1, 28, 28)), FashionMLP(**FAST))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.6


# --------------------------------------------------------------------------- quiet
def test_strong_recipe_is_a_complete_fashion_mlp_setting(small_xy):
    from skfashion import RECIPES

    X, y = small_xy
    clf = FashionMLP(**{**RECIPES["strong"], "epochs": 1}, random_state=0).fit(X[:300], y[:300])
    dense = [layer.units for layer in clf.model_.layers if hasattr(layer, "units")]
    assert dense == [1024, 1024, 10]
    assert clf.get_params()["batch_norm"] and clf.get_params()["dropout"] == 0.5
    with pytest.raises(TypeError):
        RECIPES["strong"]["epochs"] = 3  # read-only, so nobody changes the documented recipe


# --------------------------------------------------------------------------- sample weights
def _recall(clf, X, y, label):
    predicted = clf.predict(X)
    return float(np.mean(predicted[y == label] == label))


def test_weight_2_on_one_class_raises_its_recall(fashion_train, fashion_test):
    X, y = fashion_train.data[:1000], fashion_train.target[:1000]
    X_test, y_test = fashion_test.data[:1000], fashion_test.target[:1000]
    clf = FashionMLP(hidden_layer_sizes=(16,), epochs=3, random_state=0)
    plain = _recall(clf.fit(X, y), X_test, y_test, label=6)  # 6: Shirt, the hardest class
    weighted = _recall(clf.fit(X, y, sample_weight=np.where(y == 6, 2.0, 1.0)),
                       X_test, y_test, label=6)
    assert weighted > plain + 0.1


def test_balanced_class_weight_raises_a_rare_class_recall(fashion_train, fashion_test):
    X, y = fashion_train.data[:3000], fashion_train.target[:3000]
    rare = np.flatnonzero(y == 0)
    keep = np.ones(len(y), bool)
    keep[rare[len(rare) // 10:]] = False  # class 0 keeps a tenth of its images
    X, y = X[keep], y[keep]
    counts = np.bincount(y)
    assert counts[0] * 10 <= counts[1:].min() + 10
    X_test, y_test = fashion_test.data[:1000], fashion_test.target[:1000]
    params = dict(hidden_layer_sizes=(16,), epochs=3, random_state=0)
    plain = _recall(FashionMLP(**params).fit(X, y), X_test, y_test, label=0)
    balanced = _recall(FashionMLP(**params, class_weight="balanced").fit(X, y),
                       X_test, y_test, label=0)
    assert balanced > plain + 0.3


def test_class_weight_dict_is_a_sample_weight_per_class(small_xy):
    X, y = small_xy[0][:300], small_xy[1][:300]
    params = dict(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    by_class = FashionMLP(**params, class_weight={3: 4.0, 7: 0.5}).fit(X, y)
    by_sample = FashionMLP(**params).fit(
        X, y, sample_weight=np.select([y == 3, y == 7], [4.0, 0.5], 1.0))
    np.testing.assert_array_equal(by_class.predict_proba(X), by_sample.predict_proba(X))
    assert by_class.history_ == by_sample.history_


def test_zero_weight_samples_do_not_change_the_training_loss(small_xy):
    # Samples of weight 0 count in a batch's size (Keras' sum_over_batch_size) but their
    # labels reach neither the loss nor the gradients: give them other labels, and every
    # batch's loss and the trained network stay the same, bit for bit.
    X, y = small_xy[0][:300], small_xy[1][:300]
    weights = np.ones(300)
    weights[::3] = 0
    other_X, other_y = X, y.copy()
    other_y[::3] = (y[::3] + 5) % 10
    batch_losses = {}

    def record(name):
        return lambda epoch, logs: batch_losses.setdefault(name, []).append(logs["loss"])

    params = dict(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    first = FashionMLP(**params).fit(X, y, sample_weight=weights, on_epoch_end=record("a"))
    second = FashionMLP(**params).fit(other_X, other_y, sample_weight=weights,
                                      on_epoch_end=record("b"))
    assert batch_losses["a"] == batch_losses["b"]
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    unweighted = FashionMLP(**params).fit(X, y)
    assert unweighted.history_["loss"] != first.history_["loss"]


def test_validation_metrics_are_weighted_like_keras(small_xy):
    X, y = small_xy
    w_val = np.linspace(0.0, 2.0, 100)
    clf = FashionMLP(hidden_layer_sizes=(16,), epochs=1, random_state=0)
    clf.fit(X[:500], y[:500], validation_data=(X[500:], y[500:], w_val))
    proba = clf.predict_proba(X[500:])
    losses = -np.log(proba[np.arange(100), y[500:]])
    assert clf.history_["val_loss"][0] == pytest.approx(np.sum(w_val * losses) / 100, rel=1e-5)
    hits = proba.argmax(axis=1) == y[500:]
    assert clf.history_["val_accuracy"][0] == pytest.approx(np.sum(w_val * hits) / w_val.sum())
    # the validation_fraction hold-out carries the weights of its samples
    heavy = FashionMLP(hidden_layer_sizes=(16,), epochs=1, validation_fraction=0.2,
                       random_state=0)
    light = clone(heavy)
    heavy.fit(X, y, sample_weight=np.full(600, 3.0))
    light.fit(X, y)
    assert heavy.history_["val_loss"][0] > 2 * light.history_["val_loss"][0]


def test_sample_weight_is_routed_through_searches(small_xy):
    from sklearn import config_context
    from sklearn.model_selection import KFold, cross_validate

    X, y = small_xy[0][:300], small_xy[1][:300]
    weights = np.where(y < 5, 0.2, 3.0)
    base = FashionMLP(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    cv = KFold(2)
    with config_context(enable_metadata_routing=True):
        routed = base.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        results = cross_validate(routed, X, y, cv=cv, params={"sample_weight": weights},
                                 return_estimator=True)
        search = GridSearchCV(routed, {"batch_size": [16, 32]}, cv=cv).fit(
            X, y, sample_weight=weights)
    for estimator, (train, _) in zip(results["estimator"], cv.split(X), strict=True):
        direct = clone(base).fit(X[train], y[train], sample_weight=weights[train])
        np.testing.assert_array_equal(estimator.predict_proba(X), direct.predict_proba(X))
    refit = clone(base).set_params(**search.best_params_).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(search.best_estimator_.predict_proba(X),
                                  refit.predict_proba(X))
    unweighted = clone(base).set_params(**search.best_params_).fit(X, y)
    assert not np.array_equal(unweighted.predict_proba(X), refit.predict_proba(X))


# --------------------------------------------------------------------------- warm start
WARM = dict(hidden_layer_sizes=(16,), dropout=0.2, batch_size=64, validation_fraction=0.2,
            random_state=0)


def test_warm_start_five_plus_five_epochs_is_one_ten_epoch_fit(small_xy):
    X, y = small_xy[0][:300], small_xy[1][:300]
    once = FashionMLP(**WARM, epochs=10).fit(X, y)
    twice = FashionMLP(**WARM, epochs=5, warm_start=True).fit(X, y)
    twice = pickle.loads(pickle.dumps(twice))  # a round trip between fits changes nothing
    seen = []
    twice.fit(X, y, on_epoch_end=lambda epoch, logs: seen.append(epoch))
    assert seen == [6, 7, 8, 9, 10] and twice.n_iter_ == 10
    assert twice.history_ == once.history_
    np.testing.assert_array_equal(twice.predict_proba(X), once.predict_proba(X))
    assert int(twice.model_.optimizer.iterations) == int(once.model_.optimizer.iterations)


def test_warm_start_keeps_the_split_with_an_unseeded_fit(small_xy):
    # A learning rate too small to move a weight: the validation loss stays the same
    # exactly when the same images are held out again.
    X, y = small_xy
    clf = FashionMLP(hidden_layer_sizes=(16,), epochs=1, learning_rate=1e-12,
                     validation_fraction=0.3, warm_start=True).fit(X, y)
    clf.fit(X, y)
    assert clf.history_["val_loss"][1] == clf.history_["val_loss"][0]
    assert (clf.n_train_samples_, clf.n_validation_samples_) == (420, 180)
    fresh = clone(clf).set_params(warm_start=False).fit(X, y)
    assert fresh.history_["val_loss"][0] != clf.history_["val_loss"][0]


def test_partial_fit_three_calls_is_a_three_epoch_fit(small_xy):
    X, y = small_xy[0][:300], small_xy[1][:300]
    params = dict(hidden_layer_sizes=(16,), dropout=0.2, random_state=0)
    clf = FashionMLP(**params)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.arange(10), validation_data=(X[:50], y[:50]))
    assert clf.n_iter_ == 3
    assert {key: len(values) for key, values in clf.history_.items()} == {
        "loss": 3, "accuracy": 3, "val_loss": 3, "val_accuracy": 3}
    fitted = FashionMLP(**params, epochs=3).fit(X, y, validation_data=(X[:50], y[:50]))
    assert clf.history_ == fitted.history_
    np.testing.assert_array_equal(clf.predict_proba(X), fitted.predict_proba(X))


def test_cosine_schedule_ended_warns_on_a_warm_fit(small_xy):
    X, y = small_xy[0][:200], small_xy[1][:200]
    clf = FashionMLP(hidden_layer_sizes=(8,), epochs=1, lr_schedule="cosine", warm_start=True,
                     random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.warns(UserWarning, match="cosine learning-rate schedule ended"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 2


# --------------------------------------------------------------------------- log-probabilities
def test_predict_log_proba_is_finite_where_probabilities_round_to_zero(fitted, small_xy):
    X = small_xy[0][500:]
    log_proba = fitted.predict_log_proba(X)
    np.testing.assert_allclose(log_proba, np.log(fitted.predict_proba(X)), rtol=1e-12)
    saturated = pickle.loads(pickle.dumps(fitted))
    for weight in saturated.model_.get_layer("logits").weights:
        weight.assign(weight * 1000.0)  # logits a thousand times larger: a saturated softmax
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(saturated.predict_proba(X))).any()
    log_proba = saturated.predict_log_proba(X)
    assert np.isfinite(log_proba).all() and log_proba.min() < -1000
    np.testing.assert_array_equal(log_proba.argmax(axis=1), fitted.predict(X))


# --------------------------------------------------------------------------- classifier API errors
BAD_WEIGHTS = [
    ("negative weight", dict(sample_weight=np.r_[-1.0, np.ones(99)]), {},
     "Negative values in data passed to `sample_weight`"),
    ("NaN weight", dict(sample_weight=np.r_[np.nan, np.ones(99)]), {},
     "sample_weight.* NaN"),
    ("wrong length", dict(sample_weight=np.ones(99)), {}, r"sample_weight.shape == \(99,\)"),
    ("unknown class", {}, dict(class_weight={3: 2.0, 12: 1.0}),
     r"class_weight has labels that are not classes of y: \[12\]"),
    ("negative class weight", {}, dict(class_weight={3: -2.0}),
     "class_weight values must be finite and non-negative"),
    ("class weight name", {}, dict(class_weight="even"), "'class_weight' parameter"),
]


@pytest.mark.parametrize("case, fit_params, params, message", BAD_WEIGHTS,
                         ids=[c[0] for c in BAD_WEIGHTS])
def test_bad_weights_give_clear_errors(small_xy, case, fit_params, params, message):
    X, y = small_xy[0][:100], small_xy[1][:100]
    clf = FashionMLP(epochs=1, **params)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y, **fit_params)
    assert not hasattr(clf, "model_")


def test_warm_start_and_partial_fit_errors(small_xy):
    X, y = small_xy[0][:200], small_xy[1][:200]
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        FashionMLP().partial_fit(X, y)
    with pytest.raises(ValueError, match=r"y has labels that are not in classes: \[9\]"):
        FashionMLP().partial_fit(X, y, classes=np.arange(9))
    clf = FashionMLP(hidden_layer_sizes=(8,), epochs=1, warm_start=True, random_state=0)
    clf.fit(X[y < 8], y[y < 8])
    weights = [w.copy() for w in clf.model_.get_weights()]
    with pytest.raises(ValueError, match=r"y has classes the fitted network does not know: "
                                         r"\[8, 9\]"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes changed from \(8,\) to \(16,\)"):
        clf.set_params(hidden_layer_sizes=(16,)).fit(X[y < 8], y[y < 8])
    with pytest.raises(ValueError, match="dropout changed from 0.0 to 0.5"):
        clf.set_params(hidden_layer_sizes=[8], dropout=0.5).partial_fit(X[y < 8], y[y < 8])
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] differs from the classes"):
        clf.set_params(dropout=0.0).partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    for before, after in zip(weights, clf.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # no failed call trained anything
    assert clf.n_iter_ == 1
    assert clf.partial_fit(X[y < 8], y[y < 8]).n_iter_ == 2  # [8] is the same network as (8,)
