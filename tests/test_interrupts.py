"""Ctrl-C is held while Keras works and raised where nothing is left half-done."""

import pickle
import signal
import threading

import numpy as np
import pytest

from skfashion import FashionMLP, _estimator
from skfashion._interrupts import checkpoint, held


def press_ctrl_c():
    signal.raise_signal(signal.SIGINT)  # a real SIGINT, as from the keyboard


def test_a_ctrl_c_inside_held_work_is_raised_once_the_work_is_whole():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with held():
            press_ctrl_c()
            steps.append("finished after Ctrl-C")
            with held():  # nested blocks hold it too, until the outermost ends
                steps.append("inner")
            steps.append("outer again")
    assert steps == ["finished after Ctrl-C", "inner", "outer again"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with held():  # nothing left over from the Ctrl-C above
        steps.append("next")
    assert steps[-1] == "next"


def test_a_checkpoint_raises_the_held_ctrl_c_and_a_second_press_stops_at_once():
    steps = []
    with held():
        checkpoint()  # nothing pressed: nothing raised
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
            steps.append("held")
            checkpoint()
        steps.append("the block goes on")
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
            press_ctrl_c()  # pressed again: raised here
            steps.append("never")
        checkpoint()  # the second press raised and cleared it
    assert steps == ["held", "the block goes on"]


def test_another_handler_and_another_thread_are_left_alone():
    seen = []

    def own_handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, own_handler)
    try:
        with held():
            assert signal.getsignal(signal.SIGINT) is own_handler
            press_ctrl_c()
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)

    handlers = []

    def in_a_thread():
        with held():
            handlers.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert handlers == [signal.default_int_handler]


def test_ctrl_c_while_the_network_is_built_stops_before_the_first_epoch(small_xy, monkeypatch):
    X, y = small_xy
    real = _estimator.assemble_network
    built = []

    def build_and_press(*args, **kwargs):
        press_ctrl_c()
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(_estimator, "assemble_network", build_and_press)
    clf = FashionMLP(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) after 0 of 3 epochs") as caught:
        clf.fit(X[:300], y[:300])
    assert caught[0].filename == __file__  # the warning names the caller's line
    assert clf.interrupted_ and clf.n_iter_ == 0 and clf.model_ is built[0]
    assert clf.history_ == {}


def test_ctrl_c_while_pickling_finishes_the_keras_file_then_stops(small_xy, monkeypatch):
    X, y = small_xy
    clf = FashionMLP(hidden_layer_sizes=(8,), epochs=1, random_state=0).fit(X[:300], y[:300])
    real = _estimator._model_to_bytes
    written = []

    def save_and_press(model):
        press_ctrl_c()
        written.append(real(model))
        return written[-1]

    monkeypatch.setattr(_estimator, "_model_to_bytes", save_and_press)
    with pytest.raises(KeyboardInterrupt):
        pickle.dumps(clf)
    assert len(written) == 1 and written[0][:2] == b"PK"  # the whole .keras (zip) file
    monkeypatch.undo()
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X[:50]), clf.predict_proba(X[:50]))
