"""The training loop's pieces: each epoch-end handler on its own, then the loop on real data."""

import numpy as np
import pytest

from skfashion import FashionMLP
from skfashion._training import (
    EarlyStopping,
    PrintEpochTable,
    RecordHistory,
    StopOnDivergence,
    TrainingRun,
    UserCallback,
    epoch_handlers,
)


class _Weights:
    """A stand-in network that only holds weights (the handlers read and write nothing else)."""

    def __init__(self):
        self.weights = [np.zeros(2)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = weights


def _play(handlers, val_losses, history=None):
    """Feed hand-written epochs to the handlers as fit_loop does; return the run and stop epoch."""
    run = TrainingRun(_Weights(), {} if history is None else history, len(val_losses))
    for handler in handlers:
        handler.on_train_begin(run)
    stopped = None
    for epoch, val_loss in enumerate(val_losses, start=run.first_epoch):
        run.model.weights = [np.full(2, float(epoch))]
        logs = {"loss": 1.0 / epoch, "accuracy": 0.5, "val_loss": val_loss, "val_accuracy": 0.4}
        if any([handler.on_epoch_end(run, epoch, logs) for handler in handlers]):
            stopped = epoch
            break
    for handler in handlers:
        handler.on_train_end(run)
    return run, stopped


def test_record_history_appends_and_numbers_epochs_on():
    earlier = {"loss": [2.0], "accuracy": [0.1], "val_loss": [3.0], "val_accuracy": [0.1]}
    run, stopped = _play([RecordHistory()], [0.9, 0.8], history=earlier)
    assert stopped is None and run.epochs_done == 3 and run.first_epoch == 2
    assert run.history["loss"] == [2.0, 0.5, 1 / 3]
    assert run.history["val_loss"] == [3.0, 0.9, 0.8]


def test_early_stopping_waits_patience_epochs_and_restores_the_best():
    stopper = EarlyStopping(patience=2)
    run, stopped = _play([RecordHistory(), stopper], [0.9, 0.7, 0.8, 0.75, 0.6])
    assert stopped == 4 and stopper.best_epoch == 2
    np.testing.assert_array_equal(run.model.weights[0], [2.0, 2.0])  # epoch 2's weights


def test_user_callback_sees_each_epoch_and_can_stop():
    seen = []
    callback = UserCallback(lambda epoch, logs: seen.append((epoch, logs["val_loss"])) or
                            epoch == 2)
    _, stopped = _play([callback], [0.9, 0.8, 0.7])
    assert stopped == 2 and seen == [(1, 0.9), (2, 0.8)]


def test_divergence_stops_with_a_warning():
    run = TrainingRun(_Weights(), {}, 3)
    with pytest.warns(UserWarning, match="diverged at epoch 2 .* Lower learning_rate"):
        assert StopOnDivergence().on_epoch_end(run, 2, {"loss": float("nan")})
    assert not StopOnDivergence().on_epoch_end(run, 1, {"loss": 2.3})


def test_epoch_table_marks_the_best_value_so_far(capsys):
    _play([RecordHistory(), PrintEpochTable()], [0.9, 1.2])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time"]
    assert lines[1].split()[:5] == ["1", "1.0000*", "0.5000*", "0.9000*", "0.4000*"]
    assert lines[2].split()[:5] == ["2", "0.5000*", "0.5000*", "1.2000", "0.4000*"]


def test_handlers_come_in_a_fixed_order_each_when_asked_for():
    def kinds(**options):
        return [type(h).__name__ for h in epoch_handlers(**options)]

    assert kinds(verbose=0) == ["RecordHistory", "StopOnDivergence"]
    assert kinds(verbose=2, patience=3, on_epoch_end=print) == [
        "RecordHistory", "ProgressBar", "PrintEpochTable", "StopOnDivergence", "EarlyStopping",
        "UserCallback"]


def test_a_diverging_fit_stops_and_warns(small_xy):
    X, y = small_xy
    clf = FashionMLP(hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=1e8, epochs=5,
                     random_state=0)
    with pytest.warns(UserWarning, match="diverged at epoch 1"):
        clf.fit(X[:300], y[:300])
    assert clf.n_iter_ == 1 and not np.isfinite(clf.history_["loss"][0])
