"""Shared fixtures: the real Fashion-MNIST data, in small slices where speed matters."""

import os

# SciPy reads this once, when first imported: with it, scikit-learn's estimator checks run
# check_array_api_input (array API dispatch with NumPy input) instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fashion_train():
    """The 60,000 real training images (verified), loaded once per session."""
    from skfashion import fetch_fashion_mnist

    return fetch_fashion_mnist(subset="train")


@pytest.fixture(scope="session")
def fashion_test():
    """The 10,000 real test images (verified), loaded once per session."""
    from skfashion import fetch_fashion_mnist

    return fetch_fashion_mnist(subset="test")


@pytest.fixture(scope="session")
def small_xy(fashion_train):
    """The first 600 real training images as (X, y), X of shape (600, 784) uint8."""
    return fashion_train.data[:600], fashion_train.target[:600]


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session", autouse=True)
def _private_result_cache(tmp_path_factory):
    """The study's cache of finished fits lives in a folder of this test session only, so
    that no test trains less because an earlier session (or the user) cached its models."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKFASHION_CACHE", str(tmp_path_factory.mktemp("skfashion_cache")))
        yield


def pytest_configure(config):
    """Ctrl-C is Python's KeyboardInterrupt here, as in a user's program.

    pytest-xdist's worker processes ignore SIGINT (the controller stops them), and an
    ignored signal stays ignored in every program they start: the tests that press
    Ctrl-C, in this process or in a command they run, need Python's own handler.
    """
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


# The test files that take longest, longest first (CPU seconds of `pytest -m "not slow"` on the
# project's 2-core machine): xdist gives each worker whole files (`--dist loadfile`), and
# starting with the longest ones keeps both workers busy to the end. The rest keep their order.
LONGEST_FILES = (
    "test_estimator.py",
    "test_study.py",
    "test_dask.py",
    "test_fresh_interpreter.py",
    "test_cli.py",
    "test_speed.py",
    "test_report.py",
    "test_cache.py",
    "test_datasets.py",
    "test_augment.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file
