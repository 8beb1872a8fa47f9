"""Overfitting diagnostics on hand-written histories: no training."""

import dataclasses

import numpy as np
import pytest

from skfashion._diagnostics import DIAGNOSIS_COLUMNS, Diagnosis, diagnose, score_verdict


def make_history(loss, accuracy, val_loss, val_accuracy):
    return {"loss": loss, "accuracy": accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy}


def bigger_history():
    """Shaped like the measured "bigger" 512+512 run: val loss 0.474 at epoch 3, 0.772 at 20."""
    epochs = np.arange(1, 21)
    loss = 0.75 * 0.87**epochs
    accuracy = np.minimum(0.70 + 0.0125 * epochs, 0.945)
    val_loss = np.array([0.62, 0.51, 0.474] + list(np.linspace(0.49, 0.772, 17)))
    val_accuracy = np.array([0.78, 0.82, 0.835] + [0.84] * 17)
    return make_history(loss, accuracy, val_loss, val_accuracy)


IMPROVING = make_history(
    loss=[1.0, 0.7, 0.55, 0.47, 0.42, 0.39],
    accuracy=[0.65, 0.76, 0.81, 0.83, 0.85, 0.86],
    val_loss=[0.8, 0.62, 0.53, 0.49, 0.47, 0.46],
    val_accuracy=[0.72, 0.79, 0.82, 0.83, 0.84, 0.845],
)
UNDERFITTING = make_history(
    loss=[2.2, 1.9, 1.8, 1.78, 1.77, 1.76],
    accuracy=[0.20, 0.33, 0.37, 0.38, 0.38, 0.38],
    val_loss=[2.0, 1.85, 1.79, 1.78, 1.77, 1.77],
    val_accuracy=[0.30, 0.36, 0.38, 0.38, 0.38, 0.39],
)
# One noisy uptick of 30 % in the middle, then a new minimum.
UPTICK_MIDDLE = make_history(
    loss=[0.9, 0.7, 0.6, 0.5, 0.45, 0.4, 0.36, 0.33],
    accuracy=[0.70, 0.76, 0.79, 0.82, 0.84, 0.85, 0.86, 0.87],
    val_loss=[0.8, 0.65, 0.55, 0.72, 0.52, 0.5, 0.49, 0.48],
    val_accuracy=[0.72, 0.77, 0.80, 0.74, 0.81, 0.82, 0.83, 0.83],
)
# One noisy uptick of 30 % in the very last epoch.
UPTICK_LAST = make_history(
    loss=[0.9, 0.7, 0.6, 0.5, 0.45, 0.4],
    accuracy=[0.70, 0.76, 0.79, 0.82, 0.84, 0.85],
    val_loss=[0.8, 0.65, 0.55, 0.52, 0.5, 0.65],
    val_accuracy=[0.72, 0.77, 0.80, 0.81, 0.82, 0.78],
)
# A small model whose val loss creeps up 3 % over the last epochs.
SMALL_CREEP = make_history(
    loss=[1.2, 0.8, 0.65, 0.58, 0.54, 0.52, 0.51, 0.5, 0.495, 0.49],
    accuracy=[0.6, 0.72, 0.77, 0.79, 0.8, 0.81, 0.815, 0.82, 0.82, 0.823],
    val_loss=[1.0, 0.7, 0.6, 0.56, 0.55, 0.552, 0.556, 0.56, 0.563, 0.5665],
    val_accuracy=[0.68, 0.75, 0.78, 0.79, 0.8, 0.8, 0.8, 0.8, 0.799, 0.798],
)
# Flat at the minimum for epochs 4-6 (within 1 %), then a sustained rise.
PLATEAU_THEN_RISE = make_history(
    loss=[0.9, 0.6, 0.45, 0.38, 0.33, 0.29, 0.25, 0.21, 0.18, 0.15],
    accuracy=[0.70, 0.79, 0.84, 0.86, 0.88, 0.89, 0.91, 0.92, 0.93, 0.94],
    val_loss=[0.7, 0.5, 0.42, 0.40, 0.402, 0.403, 0.43, 0.47, 0.52, 0.58],
    val_accuracy=[0.76, 0.82, 0.85, 0.86, 0.86, 0.86, 0.855, 0.85, 0.85, 0.845],
)
# Early stopping with patience 3: training ended 3 epochs after the best one.
EARLY_STOPPED = make_history(
    loss=[0.9, 0.6, 0.45, 0.36, 0.3, 0.25, 0.21],
    accuracy=[0.70, 0.79, 0.84, 0.87, 0.89, 0.91, 0.93],
    val_loss=[0.7, 0.5, 0.45, 0.42, 0.47, 0.5, 0.53],
    val_accuracy=[0.76, 0.82, 0.84, 0.855, 0.85, 0.85, 0.845],
)
DROPOUT = make_history(  # like "bigger" with dropout 0.5: val loss still at its minimum at the end
    loss=list(np.linspace(0.9, 0.42, 20)),
    accuracy=list(np.linspace(0.68, 0.85, 20)),
    val_loss=list(np.linspace(0.62, 0.44, 20)),
    val_accuracy=list(np.linspace(0.78, 0.845, 20)),
)


def test_bigger_reference_run_overfits():
    d = diagnose(bigger_history())
    assert d.verdict == "overfitting" and d.overfitting
    assert d.best_epoch == 3
    assert d.onset_epoch == 3
    assert d.recommended_epochs == 3
    assert d.best_val_loss == pytest.approx(0.474)
    assert d.best_val_accuracy == pytest.approx(0.835)
    assert d.final_train_accuracy == pytest.approx(0.945)
    assert d.gap == pytest.approx(0.945 - 0.84)
    assert d.val_loss_rise == pytest.approx(0.772 / 0.474 - 1)
    assert d.epochs_run == 20


@pytest.mark.parametrize(
    "history, verdict, best",
    [
        (IMPROVING, "good fit", 6),
        (DROPOUT, "good fit", 20),
        (UNDERFITTING, "underfitting", 5),
        (UPTICK_MIDDLE, "good fit", 8),
        (UPTICK_LAST, "good fit", 5),
        (SMALL_CREEP, "good fit", 5),
    ],
    ids=["improving", "dropout", "underfitting", "uptick-middle", "uptick-last", "creep-3pct"],
)
def test_not_overfitting(history, verdict, best):
    d = diagnose(history)
    assert d.verdict == verdict
    assert d.overfitting is False
    assert d.onset_epoch is None
    assert d.best_epoch == best


def test_small_creep_is_measured_but_below_min_rise():
    d = diagnose(SMALL_CREEP)
    assert d.val_loss_rise == pytest.approx(0.03)
    assert diagnose(SMALL_CREEP, min_rise=0.02, patience=2, tol=0.005).verdict == "overfitting"


def test_plateau_then_rise_onset_is_the_end_of_the_plateau():
    d = diagnose(PLATEAU_THEN_RISE)
    assert (d.verdict, d.best_epoch, d.onset_epoch, d.recommended_epochs) == (
        "overfitting", 4, 6, 4
    )
    # With no tolerance the onset is the best epoch itself.
    assert diagnose(PLATEAU_THEN_RISE, tol=0).onset_epoch == 4


def test_recommended_epochs_is_the_first_epoch_near_the_minimum():
    history = make_history(
        loss=[0.9, 0.6, 0.5, 0.45, 0.42],
        accuracy=[0.7, 0.8, 0.83, 0.85, 0.86],
        val_loss=[0.7, 0.5, 0.497, 0.496, 0.4965],
        val_accuracy=[0.76, 0.82, 0.83, 0.83, 0.83],
    )
    d = diagnose(history)
    assert (d.best_epoch, d.recommended_epochs) == (4, 2)


@pytest.mark.parametrize(
    "patience, verdict", [(1, "overfitting"), (3, "overfitting"), (4, "good fit")]
)
def test_patience_is_the_number_of_final_epochs_that_must_rise(patience, verdict):
    assert diagnose(EARLY_STOPPED, patience=patience).verdict == verdict


def test_rising_val_loss_with_rising_training_loss_is_not_overfitting():
    history = make_history(
        loss=[0.9, 0.6, 0.5, 0.55, 0.6, 0.7, 0.8],
        accuracy=[0.7, 0.8, 0.83, 0.82, 0.81, 0.8, 0.78],
        val_loss=[0.7, 0.55, 0.5, 0.58, 0.62, 0.7, 0.8],
        val_accuracy=[0.76, 0.8, 0.82, 0.8, 0.79, 0.78, 0.76],
    )
    d = diagnose(history)
    assert d.overfitting is False and d.verdict == "good fit"


def test_early_stopped_with_restored_weights_is_judged_at_the_best_epoch():
    d = diagnose(EARLY_STOPPED, restore_best_weights=True)
    assert d.verdict == "good fit" and not d.overfitting and d.onset_epoch is None
    assert d.restored_best_weights is True
    assert d.best_epoch == 4
    assert d.final_train_accuracy == pytest.approx(0.87)
    assert d.final_val_accuracy == pytest.approx(0.855)
    assert d.gap == pytest.approx(0.015)
    assert d.val_loss_rise == 0
    assert "restored the weights of epoch 4" in str(d)
    plain = diagnose(EARLY_STOPPED)
    assert plain.verdict == "overfitting" and plain.final_train_accuracy == pytest.approx(0.93)


@pytest.mark.parametrize(
    "early_stopping, has_best_epoch, restored",
    [(True, True, True), (False, True, False), (True, False, False), (False, False, False)],
)
def test_restored_weights_are_read_off_a_fitted_estimator(early_stopping, has_best_epoch, restored):
    class Fitted:
        history_ = EARLY_STOPPED

    fitted = Fitted()
    fitted.early_stopping = early_stopping
    if has_best_epoch:
        fitted.best_epoch_ = 4
    d = diagnose(fitted)
    assert d.restored_best_weights is restored
    assert d.verdict == ("good fit" if restored else "overfitting")
    assert diagnose(fitted, restore_best_weights=False).verdict == "overfitting"


def test_restored_underfitting_model_stays_underfitting():
    d = diagnose(UNDERFITTING, restore_best_weights=True)
    assert d.verdict == "underfitting"


@pytest.mark.parametrize(
    "threshold, verdict", [(0.3, "good fit"), (0.38, "good fit"), (0.381, "underfitting")]
)
def test_underfit_accuracy_threshold(threshold, verdict):
    assert diagnose(UNDERFITTING, underfit_accuracy=threshold).verdict == verdict


def test_diverged_training():
    nan = float("nan")
    history = make_history(
        loss=[0.9, 0.6, 0.8, nan, nan],
        accuracy=[0.7, 0.8, 0.75, 0.1, 0.1],
        val_loss=[0.7, 0.55, 0.9, nan, nan],
        val_accuracy=[0.76, 0.8, 0.7, 0.1, 0.1],
    )
    d = diagnose(history)
    assert d.verdict == "diverged" and not d.overfitting
    assert d.diverged_epoch == 4
    assert (d.best_epoch, d.best_val_accuracy, d.recommended_epochs) == (2, 0.8, 2)
    assert np.isnan(d.val_loss_rise)
    assert "diverged" in str(d) and "epoch 4" in str(d)
    assert "発散" in d.summary(language="ja")


def test_diverged_from_the_first_epoch_and_infinite_losses():
    inf = float("inf")
    d = diagnose(make_history([inf, inf], [0.1, 0.1], [inf, inf], [0.1, 0.1]))
    assert d.verdict == "diverged" and d.diverged_epoch == 1
    assert d.best_epoch is None and d.recommended_epochs is None
    assert "Best number" not in str(d)


def test_no_validation_is_a_clear_error():
    history = {"loss": [0.9, 0.6], "accuracy": [0.7, 0.8]}
    with pytest.raises(ValueError, match="no validation metrics.*validation_fraction"):
        diagnose(history)


def test_no_accuracy_is_a_clear_error():
    with pytest.raises(ValueError, match="no 'accuracy'"):
        diagnose({"loss": [0.9], "val_loss": [0.8], "val_accuracy": [0.7]})


def test_accepts_an_object_with_history_():
    class Fitted:
        history_ = IMPROVING

    assert diagnose(Fitted()).best_epoch == 6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_rise": 0}, "min_rise"),
        ({"patience": 0}, "patience"),
        ({"patience": 2.5}, "patience"),
        ({"tol": 0.2}, "tol"),
        ({"tol": -0.1}, "tol"),
        ({"underfit_accuracy": 1.5}, "underfit_accuracy"),
    ],
)
def test_invalid_thresholds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagnose(IMPROVING, **kwargs)


def test_diagnosis_is_immutable():
    d = diagnose(IMPROVING)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = "overfitting"
    assert isinstance(d, Diagnosis)


@pytest.mark.parametrize(
    "history, words",
    [
        (bigger_history(), ["Best number of epochs: 3 of 20", "0.835", "Overfitting: yes",
                            "after epoch 3", "Verdict: overfitting"]),
        (DROPOUT, ["Best number of epochs: 20 of 20", "Overfitting: no", "more epochs may",
                   "Verdict: good fit"]),
        (UNDERFITTING, ["Overfitting: no", "Verdict: underfitting", "only 0.380"]),
        (SMALL_CREEP, ["ends 3% above its minimum", "Verdict: good fit"]),
    ],
)
def test_english_summary(history, words):
    text = str(diagnose(history))
    assert text == diagnose(history).summary("en")
    for word in words:
        assert word.lower() in text.lower()


@pytest.mark.parametrize(
    "history, words",
    [
        (bigger_history(), ["最適なエポック数は 3 です", "検証精度は 0.835", "過学習: あり",
                            "ドロップアウト", "判定: 過学習"]),
        (DROPOUT, ["最適なエポック数は 20 です", "過学習: なし", "判定: 良好"]),
        (UNDERFITTING, ["過学習: なし", "判定: 学習不足"]),
    ],
)
def test_japanese_summary(history, words):
    text = diagnose(history).summary(language="ja")
    for word in words:
        assert word in text
    assert "Verdict" not in text


def test_unknown_language():
    with pytest.raises(ValueError, match="language"):
        diagnose(IMPROVING).summary(language="fr")


def test_to_frame():
    frame = diagnose(bigger_history()).to_frame("bigger")
    assert frame.index.tolist() == ["bigger"] and frame.index.name == "model"
    assert tuple(frame.columns) == DIAGNOSIS_COLUMNS
    assert list(frame.columns[:8]) == [
        "best_epoch", "best_val_accuracy", "final_train_accuracy", "final_val_accuracy",
        "gap", "verdict", "onset_epoch", "recommended_epochs",
    ]
    row = frame.loc["bigger"]
    assert (row["best_epoch"], row["onset_epoch"], row["verdict"]) == (3, 3, "overfitting")
    assert str(frame["onset_epoch"].dtype) == "Int64"
    assert diagnose(IMPROVING).to_frame()["onset_epoch"].isna().all()


@pytest.mark.parametrize(
    "train, test, expected",
    [
        (0.95, 0.85, "overfitting"),
        (0.40, 0.38, "underfitting"),
        (0.50, 0.30, "overfitting"),
        (0.88, 0.86, "good fit"),
        (0.88, 0.83, "good fit"),  # a gap of exactly max_gap is allowed
        (float("nan"), 0.8, None),
    ],
)
def test_score_verdict(train, test, expected):
    assert score_verdict(train, test).item() == expected
