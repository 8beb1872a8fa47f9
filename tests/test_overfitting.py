"""The lecture's overfitting comparison on real data: 6,000 training images, 20 epochs.

"bigger" (512+512) overfits: validation loss rises well above its minimum while
training loss keeps falling. Dropout 0.5 on the same network cuts that rise to a
fraction (by epoch 20 its validation loss may creep up some 10-20% over its
minimum, depending on the seed), and "smaller" (4+4) does not overfit at all.
"""

import numpy as np
import pytest

from skfashion import FashionMLP, report

pytestmark = pytest.mark.slow

SETTINGS = dict(epochs=20, validation_fraction=0.2, random_state=0)
MODELS = {
    "smaller": dict(hidden_layer_sizes="smaller"),
    "bigger": dict(hidden_layer_sizes="bigger"),
    "bigger+dropout": dict(hidden_layer_sizes="bigger", dropout=0.5),
}


@pytest.fixture(scope="module")
def histories(fashion_train):
    X, y = fashion_train.data[:6000], fashion_train.target[:6000]
    return {
        name: FashionMLP(**params, **SETTINGS).fit(X, y).history_
        for name, params in MODELS.items()
    }


def test_bigger_overfits_like_the_lecture(histories):
    h = {k: np.asarray(v) for k, v in histories["bigger"].items()}
    best = int(np.argmin(h["val_loss"]))
    assert best < 10, "validation loss should bottom out early"
    assert h["val_loss"][-1] > 1.3 * h["val_loss"][best], "...and rise well above its minimum"
    assert h["loss"][-1] < 0.5 * h["loss"][best], "while training loss keeps falling"
    assert h["accuracy"][-1] > 0.93
    assert h["accuracy"][-1] - h["val_accuracy"][-1] > 0.05


def _rise(history):
    """How far the last validation loss is above the lowest, relative to the lowest."""
    val_loss = np.asarray(history["val_loss"])
    return val_loss[-1] / val_loss.min() - 1


def test_dropout_cuts_the_overfitting_of_bigger(histories):
    bigger, dropout = histories["bigger"], histories["bigger+dropout"]
    assert _rise(dropout) < 0.25
    assert _rise(dropout) < 0.4 * _rise(bigger)
    assert dropout["val_loss"][-1] < bigger["val_loss"][-1]
    gap = {name: h["accuracy"][-1] - h["val_accuracy"][-1] for name, h in histories.items()}
    assert gap["bigger+dropout"] < 0.5 * gap["bigger"]
    assert np.argmin(dropout["val_loss"]) > np.argmin(bigger["val_loss"])  # overfits later


def test_diagnosis_measures_the_cut(histories):
    bigger, dropout = (report.diagnose(histories[name]) for name in ("bigger", "bigger+dropout"))
    assert dropout.val_loss_rise < 0.4 * bigger.val_loss_rise
    assert dropout.gap < 0.5 * bigger.gap
    assert dropout.best_epoch > bigger.best_epoch


@pytest.mark.parametrize("name, overfitting", [("bigger", True), ("smaller", False)])
def test_diagnosis_on_real_histories(histories, name, overfitting):
    diagnosis = report.diagnose(histories[name])
    assert diagnosis.overfitting is overfitting
    assert (diagnosis.verdict == "overfitting") is overfitting
    if overfitting:
        assert diagnosis.onset_epoch is not None
        assert diagnosis.best_epoch < 10
        assert diagnosis.recommended_epochs <= diagnosis.best_epoch


def test_compare_table_is_the_course_table(histories):
    table = report.compare(histories)
    assert list(table.index) == list(MODELS)
    assert table.loc["bigger", "verdict"] == "overfitting"
    assert table.loc["bigger", "gap"] > table.loc["bigger+dropout", "gap"]
