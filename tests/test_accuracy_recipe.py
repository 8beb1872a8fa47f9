"""The accuracy benchmark (benchmarks/accuracy.py) and the strong recipe it chose."""

import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "accuracy.py"
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"

# The network docs/accuracy.md documents: 784 -> (Dense 1024 -> BatchNorm -> relu ->
# Dropout 0.5) x 2 -> Dense 10 softmax, Adam 0.001 with cosine decay over 30 epochs of batch 256.
DOCUMENTED = {
    "hidden_layer_sizes": (1024, 1024),
    "activation": "relu",
    "batch_norm": True,
    "dropout": 0.5,
    "l2": 0.0,
    "augment": False,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "lr_schedule": "cosine",
    "epochs": 30,
    "batch_size": 256,
}


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("skfashion_accuracy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "val_loss, patience, expected",
    [
        ([0.9, 0.8, 0.7, 0.6], 2, (4, 4)),  # never stops: runs out of epochs
        ([0.9, 0.5, 0.6, 0.7, 0.4], 2, (4, 2)),  # stops after 2 epochs without improvement
        ([0.9, 0.5, 0.6, 0.4, 0.45, 0.5], 2, (6, 4)),  # an improvement resets the wait
        ([0.5, 0.5, 0.5], 2, (3, 1)),  # equal is no improvement
    ],
)
def test_early_stopping_epochs_on_handwritten_histories(accuracy, val_loss, patience, expected):
    assert accuracy.early_stopping_epochs(val_loss, patience=patience) == expected


def test_early_stopping_epochs_mirrors_fashion_mlp(accuracy, small_xy):
    """The search reads early stopping off a history; FashionMLP must agree epoch for epoch."""
    from skfashion import FashionMLP

    X, y = small_xy
    clf = FashionMLP(
        hidden_layer_sizes="bigger",
        learning_rate=0.01,
        epochs=15,
        validation_fraction=0.3,
        early_stopping=True,
        patience=2,
        random_state=0,
    ).fit(X, y)
    stopped, restored = accuracy.early_stopping_epochs(clf.history_["val_loss"], patience=2)
    assert (stopped, restored) == (clf.n_iter_, clf.best_epoch_)
    assert clf.n_iter_ < 15  # 600 images and a 512+512 network overfit: it did stop early


def _candidate(name, val_accuracy, es_val_accuracy):
    return {
        "name": name,
        "params": {"hidden_layer_sizes": (8,), "epochs": 4},
        "val_accuracy": val_accuracy,
        "early_stopping": {"val_accuracy": es_val_accuracy},
    }


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([_candidate("a", 0.80, 0.79), _candidate("b", 0.85, 0.84)], ("b", False)),
        ([_candidate("a", 0.80, 0.86), _candidate("b", 0.85, 0.84)], ("a", True)),
        ([_candidate("a", 0.85, 0.85)], ("a", False)),  # a tie keeps every training image
    ],
)
def test_choose_takes_best_validation_accuracy(accuracy, rows, expected):
    chosen = accuracy.choose(rows)
    assert (chosen["candidate"], chosen["early_stopping"]) == expected
    assert chosen["params"].get("early_stopping", False) is expected[1]
    best = max(max(r["val_accuracy"], r["early_stopping"]["val_accuracy"]) for r in rows)
    assert chosen["val_accuracy"] == best


def _run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )


def test_quick_needs_out_and_final_needs_search(tmp_path):
    result = _run("--quick")
    assert result.returncode == 2
    assert "--quick needs --out" in result.stderr
    result = _run("--quick", "--stage", "final", "--out", str(tmp_path))
    assert result.returncode != 0
    assert "run --stage search first" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "accuracy.md").exists()


@pytest.mark.slow
def test_quick_run_search_then_final(tmp_path):
    result = _run("--quick", "--stage", "search", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "accuracy.json").read_text())
    assert "final" not in results
    search = results["search"]
    assert search["complete"] and (search["n_fit"], search["n_validation"]) == (2000, 1000)
    candidates = search["candidates"]
    for row in candidates:
        history = row["history"]
        assert len(history["val_accuracy"]) == row["epochs_run"] == 3
        assert row["val_accuracy"] == history["val_accuracy"][-1]
        restored = row["early_stopping"]["restored_epoch"]
        assert row["early_stopping"]["val_accuracy"] == history["val_accuracy"][restored - 1]
        assert np.argmin(history["val_loss"]) + 1 == restored
        assert 0.5 < row["val_accuracy"] <= 1  # three epochs on 2,000 images learn something
    best = max(max(r["val_accuracy"], r["early_stopping"]["val_accuracy"]) for r in candidates)
    assert search["chosen"]["val_accuracy"] == best

    import pandas as pd

    table = pd.read_csv(tmp_path / "accuracy_search.csv")
    assert sorted(table["name"]) == sorted(r["name"] for r in candidates)
    assert table["val_accuracy"].is_monotonic_decreasing
    assert table["rank"].tolist() == sorted(table["rank"])

    result = _run("--quick", "--stage", "search", "--resume", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("reused from the interrupted search") == len(candidates)
    search = json.loads((tmp_path / "accuracy.json").read_text())["search"]
    assert search["candidates"] == candidates

    result = _run("--quick", "--stage", "final", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "accuracy.json").read_text())
    final = results["final"]
    assert results["search"] == search  # the final stage does not touch the search
    assert [run["seed"] for run in final["runs"]] == [0, 1]
    accuracies = [run["test_accuracy"] for run in final["runs"]]
    assert final["test_accuracy_mean"] == pytest.approx(statistics.fmean(accuracies))
    assert final["test_accuracy_std"] == pytest.approx(statistics.stdev(accuracies))
    assert all(0.5 < a <= 1 for a in accuracies)
    assert final["n_train"] == 3000 and final["n_test"] == 1000
    assert final["recipe"]["chosen_candidate"] == search["chosen"]["candidate"]
    assert all(run["fit_time_s"] > 0 and run["load_average"]["mean"] >= 0 for run in final["runs"])
    markdown = (tmp_path / "accuracy.md").read_text()
    assert "--quick mode (NOT the real results)" in markdown
    assert f"{final['test_accuracy_mean']:.4f} ± {final['test_accuracy_std']:.4f}" in markdown


def test_committed_results_use_the_documented_recipe():
    results = json.loads(RESULTS.read_text())
    assert not results["quick"]
    params = results["final"]["recipe"]["params"]
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    assert {key: params[key] for key in DOCUMENTED} == DOCUMENTED
    assert not params.get("early_stopping", False)
    final = results["final"]
    assert final["n_train"] == 60_000 and final["n_test"] == 10_000
    assert [run["seed"] for run in final["runs"]] == [0, 1, 2]
    assert results["search"]["n_fit"] + results["search"]["n_validation"] == 60_000


def test_strong_recipe_builds_the_documented_network(small_xy):
    from skfashion import FashionMLP

    X, y = small_xy
    clf = FashionMLP(**{**DOCUMENTED, "epochs": 1}, random_state=0).fit(X, y)
    layers = clf.model_.layers
    kinds = [type(layer).__name__ for layer in layers]
    assert not any("Conv" in kind for kind in kinds)
    dense = [layer for layer in layers if kind_of(layer) == "Dense"]
    assert [layer.units for layer in dense] == [1024, 1024, 10]
    assert [layer.use_bias for layer in dense] == [False, False, True]  # batch norm's shift
    assert kinds.count("BatchNormalization") == 2
    assert [layer.rate for layer in layers if kind_of(layer) == "Dropout"] == [0.5, 0.5]
    assert all(layer.kernel_regularizer is None for layer in dense)
    trainable = sum(int(np.prod(weight.shape)) for weight in clf.model_.trainable_weights)
    assert trainable == 784 * 1024 + 1024 * 1024 + 1024 * 10 + 10 + 2 * 2 * 1024
    optimizer = clf.model_.optimizer
    assert type(optimizer).__name__ == "Adam"
    schedule = optimizer._learning_rate
    assert type(schedule).__name__ == "CosineDecay"
    assert schedule.initial_learning_rate == 0.001
    assert schedule.decay_steps == int(np.ceil(len(y) / 256))  # one epoch of 600 images


def kind_of(layer):
    return type(layer).__name__


def test_strong_preset_matches_the_recipe():
    import skfashion

    if "strong" not in skfashion.PRESETS:
        pytest.skip("PRESETS['strong'] is not defined yet")
    from skfashion._network import resolve_hidden_layer_sizes

    assert resolve_hidden_layer_sizes("strong") == DOCUMENTED["hidden_layer_sizes"]
