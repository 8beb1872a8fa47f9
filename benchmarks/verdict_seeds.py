"""How the overfitting verdicts hold across seeds, checked on the test set.

Trains each model of the study (``skfashion.study.MODELS``: smaller, baseline,
bigger and the remedies of bigger) on the first 6,000 training images for 20
epochs with ``validation_fraction=0.2``, once per seed. A seed
(``random_state``) varies the initial weights, the order of the batches, the
dropout masks and which 1,200 images are held out for validation.

After every epoch the model is also evaluated on the 10,000 test images
(``test_loss``: cross-entropy of ``predict_proba``, without the L2 penalty
that Keras adds to ``loss`` and ``val_loss``; ``test_accuracy``). The test
curves are recorded beside the validation curves and never used to choose
anything: the thresholds of ``skfashion.report.diagnose`` were chosen on
seeds 0-4 from the validation curves alone; seeds 5-9 played no part.

Stages
------
train   Train the given seeds (one invocation per seed is fine: results are
        merged into ``verdicts.json``, written atomically after every model,
        and a (seed, model) already there is skipped). Keeps the per-epoch
        histories, not the models, so verdicts can be re-derived without
        retraining.
report  Re-derive every verdict with the current ``skfashion.report`` code
        and write ``verdicts.md``: a table per seed and the agreement per model.

Usage::

    nice -n 10 python benchmarks/verdict_seeds.py train --seeds 0 1 2 3 4
    python benchmarks/verdict_seeds.py report
"""

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results" / "verdicts.json"
SCHEMA_VERSION = 1

MODEL_NAMES = (
    "smaller",
    "baseline",
    "bigger",
    "bigger+dropout",
    "bigger+l2",
    "bigger+dropout+l2",
    "bigger+augment",
    "bigger+early_stopping",
)
SETTINGS = {
    "n_images": 6_000,
    "epochs": 20,
    "validation_fraction": 0.2,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "n_test_images": 10_000,
}
CHOICE_SEEDS = (0, 1, 2, 3, 4)
HELD_OUT_SEEDS = (5, 6, 7, 8, 9)


def load(path):
    """The results file as a dict (an empty skeleton when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "settings": SETTINGS, "runs": {}}
    results = json.loads(path.read_text(encoding="utf-8"))
    if results.get("settings") != SETTINGS:
        raise SystemExit(f"{path} was written with other settings: {results.get('settings')}")
    return results


def histories(results, seed):
    """Model name -> (history with validation, test curves, restores best weights) of a seed."""
    return {
        name: (run["history"], run["test"], run["restore_best_weights"])
        for name, run in results["runs"].get(str(seed), {}).items()
    }


def _estimator(name, seed):
    from skfashion import FashionMLP
    from skfashion.study import MODELS

    common = {key: SETTINGS[key] for key in ("batch_size", "optimizer", "learning_rate")}
    return FashionMLP(
        **{
            **common,
            **MODELS[name],
            "epochs": SETTINGS["epochs"],
            "validation_fraction": SETTINGS["validation_fraction"],
            "random_state": seed,
        }
    )


def _test_recorder(estimator, X_test, y_test, curves):
    def on_epoch_end(epoch, logs):
        proba = estimator.predict_proba(X_test)
        index = np.searchsorted(estimator.classes_, y_test)
        picked = np.clip(proba[np.arange(len(y_test)), index], 1e-7, 1.0)
        curves["loss"].append(float(-np.mean(np.log(picked))))
        predicted = estimator.classes_[proba.argmax(axis=1)]
        curves["accuracy"].append(float(np.mean(predicted == y_test)))
        curves["load_average"].append(os.getloadavg()[0])

    return on_epoch_end


def train_one(name, seed, data):
    estimator = _estimator(name, seed)
    curves = {"loss": [], "accuracy": [], "load_average": []}
    estimator.fit(
        data["X"], data["y"], on_epoch_end=_test_recorder(estimator, *data["test"], curves)
    )
    load_average = curves.pop("load_average")
    return {
        "history": {key: list(map(float, values)) for key, values in estimator.history_.items()},
        "test": curves,
        "restore_best_weights": bool(estimator.early_stopping),
        "best_epoch_": getattr(estimator, "best_epoch_", None),
        "fit_time": float(estimator.fit_time_),
        "load_average": load_average,
    }


@contextlib.contextmanager
def _locked(path):
    import fcntl

    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _save(results, path):
    from skfashion._environment import machine_info
    from skfashion._files import write_text

    results["machine"] = machine_info()
    write_text(path, json.dumps(results, indent=1) + "\n")


def train(seeds, models, path):
    from skfashion import fetch_fashion_mnist

    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    n = SETTINGS["n_images"]
    data = {"X": X[:n], "y": y[:n], "test": (X_test, y_test)}
    for seed in seeds:
        for name in models:
            results = load(path)  # another invocation may have written meanwhile
            if name in results["runs"].get(str(seed), {}):
                continue
            run = train_one(name, seed, data)
            with _locked(path):  # invocations for other seeds may run at the same time
                results = load(path)
                results["runs"].setdefault(str(seed), {})[name] = run
                _save(results, path)
            print(f"seed {seed} {name}: {run['fit_time']:.0f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=("train", "report"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(CHOICE_SEEDS + HELD_OUT_SEEDS))
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    if args.stage == "train":
        train(args.seeds, args.models, args.results)
    else:
        report(load(args.results), args.results.with_suffix(".md"))
    return 0


def report(results, path):
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
