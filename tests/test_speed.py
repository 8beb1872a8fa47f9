"""Compiled programs shared across fits of one shape, and the XLA choice (skfashion._programs)."""

import numpy as np
import pytest

import skfashion._estimator as estimator_module
from skfashion import FashionMLP, build_network
from skfashion import _programs as programs
from skfashion._training import CompiledEpoch, make_evaluator

# Dropout, L2 and a validation split: every kind of state a program reads (seed
# generators, penalties, input statistics) is in play.
PARAMS = dict(hidden_layer_sizes=(8,), dropout=0.2, l2=1e-3, epochs=2, batch_size=50,
              validation_fraction=0.2)


def _fit(X, y, random_state, **params):
    return FashionMLP(**{**PARAMS, **params}, random_state=random_state).fit(X, y)


def _same(first, second, X):
    weights_equal = all(
        np.array_equal(a, b)
        for a, b in zip(first.model_.get_weights(), second.model_.get_weights(), strict=True)
    )
    return (first.history_ == second.history_ and weights_equal
            and np.array_equal(first.predict_proba(X), second.predict_proba(X)))


def _own_programs(monkeypatch):
    """Make FashionMLP trace its programs on its own network, as before the cache."""
    monkeypatch.setattr(estimator_module, "SharedEpoch", CompiledEpoch)
    monkeypatch.setattr(estimator_module, "shared_evaluator", make_evaluator)


@pytest.fixture
def fresh_cache():
    programs.clear_programs()
    yield programs.CACHE
    programs.clear_programs()


@pytest.mark.parametrize("xla", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_reused_program_gives_the_bits_of_a_fit_that_compiled_its_own(
    small_xy, fresh_cache, monkeypatch, xla
):
    X, y = small_xy
    monkeypatch.setattr(estimator_module, "use_xla", lambda *args, **kwargs: xla)
    first = _fit(X, y, 0)  # compiles the shape's programs
    other_seed = _fit(X, y, 1)  # runs them
    reused = _fit(X, y, 0)  # runs them again, after another fit moved the template
    with monkeypatch.context() as patch:
        _own_programs(patch)
        own = _fit(X, y, 0)
    assert _same(first, reused, X)
    assert _same(first, own, X)
    assert not _same(first, other_seed, X)


def test_a_second_fit_of_the_same_shape_does_not_trace(small_xy, fresh_cache):
    X, y = small_xy
    before = fresh_cache.traces
    first = _fit(X[:300], y[:300], 0)
    built = fresh_cache.traces - before
    template = fresh_cache.template(first.model_)
    (epoch,) = [p for key, p in template.programs.items() if key[0] == "epoch"]
    traced = epoch._run_batches.experimental_get_tracing_count()
    _fit(X[300:], y[300:], 1)  # another fold of the same size, another seed
    assert (built, traced) == (2, 1)  # a training and an evaluation program
    assert fresh_cache.traces - before == built
    assert epoch._run_batches.experimental_get_tracing_count() == traced


@pytest.mark.parametrize(
    "xla, params, sizes",
    [
        (False, {}, (300, 450)),
        # Batch means over 50 samples, and last batches of 40, none and 10.
        pytest.param(False, {"batch_norm": True}, (300, 313, 450), marks=pytest.mark.slow),
        pytest.param(True, {}, (300, 313, 450), marks=pytest.mark.slow),
    ],
)
def test_folds_of_different_sizes_share_one_program_and_keep_their_own_bits(
    small_xy, fresh_cache, monkeypatch, xla, params, sizes
):
    # 300, 313 and 450 samples train on 240, 250 and 360 (a 20 % hold-out). One program
    # trains them all, its batches padded under XLA; each fit must give the bits of a
    # program built for it alone, called once per epoch, with nothing padded.
    X, y = small_xy
    monkeypatch.setattr(estimator_module, "use_xla", lambda *args, **kwargs: xla)
    shared = {n: _fit(X[:n], y[:n], 0, **params) for n in sizes}
    template = fresh_cache.template(shared[sizes[0]].model_)
    (epoch,) = [p for key, p in template.programs.items() if key[0] == "epoch"]
    assert epoch._run_batches.experimental_get_tracing_count() == 1
    with monkeypatch.context() as patch:
        _own_programs(patch)
        for n, fit in shared.items():
            full_batches = fit.n_train_samples_ // PARAMS["batch_size"]
            patch.setattr(estimator_module, "STEPS_PER_CALL", full_batches)
            assert _same(fit, _fit(X[:n], y[:n], 0, **params), X), n


def test_a_reused_program_trains_on_the_fit_s_own_data_and_scaling(
    small_xy, fresh_cache, monkeypatch
):
    # The input statistics differ between the two halves: the second fit must not
    # keep the first's (they are constants of the network, variables of the template).
    X, y = small_xy
    _fit(X[:300], y[:300], 0)
    built = fresh_cache.traces
    second_half = _fit(X[300:], y[300:], 0)
    assert fresh_cache.traces == built
    with monkeypatch.context() as patch:
        _own_programs(patch)
        alone = _fit(X[300:], y[300:], 0)
    assert _same(second_half, alone, X)


def test_copies_are_eager_until_the_threshold_then_compiled_with_the_same_bits(
    small_xy, fresh_cache, monkeypatch
):
    # A fit copies its state into the template, and back after each epoch: eagerly at
    # first (a single fit never pays the trace), compiled once the process has made
    # _EAGER_COPIES copies. Which way a fit copied must not change one bit of it.
    X, y = small_xy
    monkeypatch.setattr(programs, "_COPY", None)
    monkeypatch.setattr(programs, "_copies", 0)
    monkeypatch.setattr(programs, "_EAGER_COPIES", 10**9)
    eager = _fit(X, y, 0)
    assert programs._COPY is None
    copies = programs._copies
    assert copies == 1 + PARAMS["epochs"]  # the fit's state in once, out after each epoch
    monkeypatch.setattr(programs, "_EAGER_COPIES", copies + 1)
    compiled = _fit(X, y, 0)
    assert programs._copies == copies + 1  # one more eager copy, then the compiled call
    assert programs._COPY is not None
    assert _same(eager, compiled, X)


def test_fits_in_threads_share_a_program_and_keep_their_own_results(small_xy, fresh_cache):
    from concurrent.futures import ThreadPoolExecutor

    X, y = small_xy
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda seed: _fit(X, y, seed), [0, 1]))
    built = fresh_cache.traces
    alone = [_fit(X, y, seed) for seed in (0, 1)]
    assert fresh_cache.traces == built
    assert all(_same(a, b, X) for a, b in zip(together, alone, strict=True))


def test_programs_are_shared_by_shape_not_by_seed():
    def shape(**params):
        model = build_network(784, 10, **{"hidden_layer_sizes": (8,), **params})
        return programs.program_shape(model)

    assert shape(seed=0) == shape(seed=1)
    assert shape(seed=0, augment=True) == shape(seed=5, augment=True)
    assert shape(input_mean=np.zeros(784), input_scale=np.ones(784)) == shape(
        input_mean=np.full(784, 3.0), input_scale=np.full(784, 2.0)
    )
    for change in ({"dropout": 0.5}, {"l2": 1e-3}, {"hidden_layer_sizes": (9,)},
                   {"learning_rate": 0.01}, {"optimizer": "sgd"}, {"batch_norm": True}):
        assert shape() != shape(**change), change


TUTORIAL = 784 * 128 + 128 * 10
BIGGER = 784 * 512 + 512 * 512 + 512 * 10
SMALLER = 784 * 4 + 4 * 4 + 4 * 10


@pytest.mark.parametrize(
    "n_weights, n_samples, epochs, batch_size, expected",
    [
        (TUTORIAL, 60_000, 5, 32, True),  # the course's program: 183 GFLOP
        (BIGGER, 4_800, 20, 32, True),  # the study's 512+512 fits (augmented too): 385 GFLOP
        (SMALLER, 4_800, 20, 32, False),  # 3,000 steps of 1.8 GFLOP
        (SMALLER, 60_000, 5, 32, True),  # 9,375 steps: the steps alone pay
        (SMALLER, 60_000, 5, 256, False),  # 1,175 steps
        (10, 3_200_000, 3, 32, True),  # 300,000 steps of nearly nothing
        (10_000_000, 100, 1, 100, False),  # one step, 6 GFLOP: under the 1.5 s
    ],
)
def test_xla_is_chosen_by_expected_work(n_weights, n_samples, epochs, batch_size, expected):
    assert programs.use_xla(n_weights, n_samples, epochs, batch_size) is expected


def test_xla_pays_exactly_from_the_compile_time():
    # 9,375 steps save 9,375 * 0.16 ms = 1.5 s, the compile time, without arithmetic.
    steps = programs.XLA_COMPILE_SECONDS / programs.XLA_SECONDS_SAVED_PER_STEP
    assert programs.use_xla(0, round(steps) * 32, 1, 32)
    assert not programs.use_xla(0, (round(steps) - 1) * 32, 1, 32)


def test_kernel_weights_count_the_dense_kernels():
    model = build_network(784, 10, hidden_layer_sizes=(16, 16), batch_norm=True)
    assert programs.kernel_weights(model) == 784 * 16 + 16 * 16 + 16 * 10


def test_a_warm_fit_starts_from_the_network_as_changed_since_its_last_epoch(
    small_xy, fresh_cache
):
    # After a fit, the template still holds its network's last state; a warm fit of
    # the same network must copy the network again (here halved weights), not reuse it.
    import copy

    X, y = small_xy
    kept = _fit(X, y, 0, warm_start=True)
    twin = copy.deepcopy(kept)  # another network object with the same state
    halved = [w * 0.5 for w in kept.model_.get_weights()]
    for estimator in (kept, twin):
        estimator.model_.set_weights(halved)
    kept.fit(X, y)  # same network object the template held
    twin.fit(X, y)  # another object, copied in any case
    assert _same(kept, twin, X)
    assert not np.array_equal(kept.model_.get_weights()[0], halved[0])
