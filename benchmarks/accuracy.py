"""Choose an MLP recipe on validation data, then measure it once on the test set.

The question: can a plain multilayer perceptron (no convolutions), trained on
the 60,000 Fashion-MNIST training images on a 2-core CPU within 15 minutes,
beat every classical baseline (scikit-learn's MLPClassifier 0.871, SVC 0.897)?

Stages
------
search  Hold out 10,000 of the 60,000 training images (stratified, fixed
        seed), train each candidate recipe on the other 50,000 and record its
        validation accuracy after every epoch. Each candidate is read two ways:
        as trained (a cosine schedule ends at its best point more often than
        not) and as early stopping on validation loss (patience 5) would have
        restored it; the history holds both exactly, since stopping changes
        neither the schedule nor the epochs before it. The recipe with the
        highest validation accuracy wins. The test images are not loaded.
        Writes ``accuracy_search.csv`` and ``accuracy_search.md`` (the table
        of ``skfashion.report.cv_results_frame``, where "test" means the
        hold-out) and the ``search`` section of ``accuracy.json``.
final   Train the chosen recipe on all 60,000 training images (a recipe with
        early stopping holds out its own ``validation_fraction`` of them) with
        seeds 0, 1 and 2, and evaluate each model once on the 10,000 test
        images; also train ``FashionMLP()`` (the tutorial network, 5 epochs)
        once for comparison. Writes ``accuracy.json`` and ``accuracy.md``:
        per-seed accuracy, mean and standard deviation, training time, the load
        average while training and the table against the published references.
all     search, then final.

Times are wall-clock seconds of ``FashionMLP.fit_time_`` on whatever machine
runs this; the one-minute load average is sampled after every epoch so that a
reader can tell a busy machine from a slow recipe.

Usage::

    python benchmarks/accuracy.py --stage all
    python benchmarks/accuracy.py --quick --out /tmp/accuracy   # a one-minute smoke run
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from skfashion import _environment, _files

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
SCHEMA_VERSION = 1

HOLDOUT_SIZE = 10_000
HOLDOUT_SEED = 0
FINAL_SEEDS = (0, 1, 2)
PATIENCE = 5
MAX_FIT_MINUTES = 15

# Every candidate shares these; the search varies the rest. The search ran in order: the
# augmentation and L2 candidates build on the dropout rate that was better on validation.
COMMON = {
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 0.001,
    "lr_schedule": "cosine",
    "epochs": 30,
    "batch_size": 256,
}
CANDIDATES = {
    "1024x2 bn drop0.3": {"hidden_layer_sizes": (1024, 1024), "batch_norm": True, "dropout": 0.3},
    "1024x2 bn drop0.5": {"hidden_layer_sizes": (1024, 1024), "batch_norm": True, "dropout": 0.5},
    "1024x2 bn drop0.3 augment": {
        "hidden_layer_sizes": (1024, 1024),
        "batch_norm": True,
        "dropout": 0.3,
        "augment": True,
    },
    "1024x2 bn drop0.5 l2": {
        "hidden_layer_sizes": (1024, 1024),
        "batch_norm": True,
        "dropout": 0.5,
        "l2": 1e-4,
    },
}
DEFAULTS = {"dropout": 0.0, "l2": 0.0, "batch_norm": False, "augment": False}

QUICK = {
    "n_train": 3_000,
    "holdout_size": 1_000,
    "n_test": 1_000,
    "seeds": (0, 1),
    "common": {**COMMON, "epochs": 3, "batch_size": 128},
    "candidates": {
        "64 bn drop0.2": {"hidden_layer_sizes": (64,), "batch_norm": True, "dropout": 0.2},
        "32 plain": {"hidden_layer_sizes": (32,)},
    },
}
FULL = {
    "n_train": None,
    "holdout_size": HOLDOUT_SIZE,
    "n_test": None,
    "seeds": FINAL_SEEDS,
    "common": COMMON,
    "candidates": CANDIDATES,
}

REFERENCES = [
    {
        "model": "scikit-learn MLPClassifier, relu (100,)",
        "test_accuracy": 0.871,
        "source": "Fashion-MNIST paper (Xiao, Rasul, Vollgraf 2017), Table 3",
    },
    {
        "model": "TensorFlow classification tutorial, Dense(128), 10 epochs",
        "test_accuracy": 0.885,
        "source": "TensorFlow tutorial (about 0.884-0.886)",
    },
    {
        "model": "MLP 256-128-100",
        "test_accuracy": 0.8833,
        "source": "Fashion-MNIST README benchmark table",
    },
    {
        "model": "SVC(C=10, kernel='rbf'), best classical model",
        "test_accuracy": 0.897,
        "source": "Fashion-MNIST paper (Xiao, Rasul, Vollgraf 2017), Table 3",
    },
]


# ----------------------------------------------------------------------------- helpers
def recipe_params(params, common):
    """Full FashionMLP parameters of a candidate (lists made tuples, defaults filled in)."""
    full = {**common, **DEFAULTS, **params}
    full["hidden_layer_sizes"] = tuple(full["hidden_layer_sizes"])
    return full


def early_stopping_epochs(val_loss, patience=PATIENCE):
    """Where FashionMLP's early stopping would stop and which epoch it would restore.

    Mirrors ``FashionMLP(early_stopping=True)``: an epoch improves when its
    validation loss is strictly below the best so far; training stops after
    ``patience`` epochs without improvement.

    Returns
    -------
    stopped, restored : int
        1-based epoch after which training stops, and the best epoch.
    """
    best, best_epoch, waited = np.inf, 0, 0
    for epoch, loss in enumerate(val_loss, start=1):
        if loss < best:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return epoch, best_epoch
    return len(val_loss), best_epoch


class LoadSampler:
    """``on_epoch_end`` hook recording the one-minute load average after each epoch."""

    def __init__(self):
        self.samples = [os.getloadavg()[0]]

    def __call__(self, epoch, logs):
        self.samples.append(os.getloadavg()[0])
        return False

    def summary(self):
        return {
            "mean": round(statistics.fmean(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def fit_timed(params, X, y, *, random_state, validation_data=None):
    """Fit one FashionMLP; return it with the load average seen while it trained."""
    from skfashion import FashionMLP

    clf = FashionMLP(**params, random_state=random_state)
    sampler = LoadSampler()
    clf.fit(X, y, validation_data=validation_data, on_epoch_end=sampler)
    return clf, sampler.summary()


def write_text(path, text):
    """Replace ``path`` atomically with ``text``, making its folder when missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _files.write_text(path, text)


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def machine_info():
    versions = _environment.package_versions(
        ("skfashion", "tensorflow", "keras", "scikit-learn", "numpy")
    )
    return {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "note": "shared machine: other processes ran alongside; see the load averages",
    }


def read_results(out):
    path = Path(out) / "accuracy.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


# ----------------------------------------------------------------------------- search
def holdout_split(settings):
    """The training images split into (X_fit, y_fit, X_val, y_val); test images untouched."""
    from sklearn.model_selection import train_test_split

    from skfashion import fetch_fashion_mnist

    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    if settings["n_train"] is not None:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=settings["holdout_size"], stratify=y, random_state=HOLDOUT_SEED
    )
    return X_fit, y_fit, X_val, y_val


def run_candidate(name, params, X_fit, y_fit, X_val, y_val):
    clf, load = fit_timed(params, X_fit, y_fit, random_state=0, validation_data=(X_val, y_val))
    history = clf.history_
    stopped, restored = early_stopping_epochs(history["val_loss"])
    return {
        "name": name,
        "params": params,
        "history": history,
        "epochs_run": clf.n_iter_,
        "val_accuracy": history["val_accuracy"][-1],
        "train_accuracy": float(clf.score(X_fit, y_fit)),
        "early_stopping": {
            "patience": PATIENCE,
            "stopped_epoch": stopped,
            "restored_epoch": restored,
            "val_accuracy": history["val_accuracy"][restored - 1],
        },
        "fit_time_s": clf.fit_time_,
        "seconds_per_epoch": clf.fit_time_ / clf.n_iter_,
        "load_average": load,
    }


def choose(candidates):
    """The best recipe by validation accuracy: as trained, or with early stopping.

    Ties go to the recipe without early stopping, which trains on every image.
    """
    options = []
    for row in candidates:
        options.append((row["val_accuracy"], 1, row["name"], False))
        options.append((row["early_stopping"]["val_accuracy"], 0, row["name"], True))
    val_accuracy, _, name, early = max(options)
    row = next(r for r in candidates if r["name"] == name)
    params = dict(row["params"])
    if early:
        params.update(early_stopping=True, patience=PATIENCE)
    return {
        "candidate": name,
        "early_stopping": early,
        "val_accuracy": val_accuracy,
        "params": params,
        "rule": "highest validation accuracy on the hold-out, at the last epoch or at the "
        "epoch early stopping (patience 5, validation loss) would restore; ties prefer "
        "no early stopping",
    }


def search_frame(candidates):
    """The search as ``report.cv_results_frame`` sees it, plus early stopping and load."""
    import pandas as pd
    from scipy.stats import rankdata

    from skfashion.report import cv_results_frame

    keys = sorted({key for row in candidates for key in row["params"]})
    scores = np.array([row["val_accuracy"] for row in candidates])
    cv_results = {f"param_{key}": [row["params"].get(key) for row in candidates] for key in keys}
    cv_results.update(
        mean_test_score=scores,
        std_test_score=np.full(len(candidates), np.nan),  # one hold-out split: no spread
        mean_train_score=[row["train_accuracy"] for row in candidates],
        std_train_score=np.full(len(candidates), np.nan),
        rank_test_score=rankdata(-scores, method="min").astype(int),
        mean_fit_time=[row["fit_time_s"] for row in candidates],
    )
    frame = cv_results_frame(cv_results)
    constant = [key for key in keys if frame[key].astype(str).nunique() == 1]
    frame = frame.drop(columns=constant + ["std_test_score", "std_train_score"])
    extra = pd.DataFrame(
        {
            "es_restored_epoch": [row["early_stopping"]["restored_epoch"] for row in candidates],
            "es_stopped_epoch": [row["early_stopping"]["stopped_epoch"] for row in candidates],
            "es_val_accuracy": [row["early_stopping"]["val_accuracy"] for row in candidates],
            "seconds_per_epoch": [row["seconds_per_epoch"] for row in candidates],
            "load_average": [row["load_average"]["mean"] for row in candidates],
        }
    )
    frame = frame.join(extra)
    frame.insert(0, "name", [candidates[i]["name"] for i in frame.index])
    frame = frame.rename(
        columns={
            "mean_test_score": "val_accuracy",
            "mean_train_score": "train_accuracy",
            "rank_test_score": "rank",
            "mean_fit_time": "fit_time_s",
        }
    )
    return frame.round(4), {key: frame_value(candidates[0]["params"][key]) for key in constant}


def frame_value(value):
    from skfashion.report._tables import format_param_value

    return format_param_value(value)


def write_search(out, settings, split_sizes, candidates, *, complete):
    from skfashion.report import save_table

    frame, constant = search_frame(candidates)
    save_table(frame, Path(out) / "accuracy_search.csv")
    save_table(frame, Path(out) / "accuracy_search.md")
    results = read_results(out)
    results.update(
        schema_version=SCHEMA_VERSION,
        quick=settings is QUICK,
        machine=machine_info(),
        search={
            "protocol": (
                f"stratified hold-out of {split_sizes[1]} of the training images "
                f"(train_test_split, random_state={HOLDOUT_SEED}); candidates trained on the "
                f"other {split_sizes[0]} with random_state=0; the test images are not loaded"
            ),
            "n_fit": split_sizes[0],
            "n_validation": split_sizes[1],
            "shared_params": constant,
            "complete": complete,
            "candidates": candidates,
            "chosen": choose(candidates) if complete else None,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        },
    )
    results.pop("final", None)  # a new search invalidates an old final evaluation
    write_text(Path(out) / "accuracy.json", json.dumps(jsonable(results), indent=2) + "\n")
    return frame


def finished_candidates(out, settings, split_sizes):
    """Candidates of an earlier, interrupted search in ``out`` with the same protocol."""
    search = read_results(out).get("search")
    if (
        not search
        or read_results(out).get("quick") != (settings is QUICK)
        or (search["n_fit"], search["n_validation"]) != split_sizes
    ):
        return {}
    return {row["name"]: row for row in search["candidates"]}


def stage_search(settings, out, *, resume=False):
    X_fit, y_fit, X_val, y_val = holdout_split(settings)
    split_sizes = (len(y_fit), len(y_val))
    log(f"search: {len(y_fit)} training images, {len(y_val)} validation images")
    earlier = finished_candidates(out, settings, split_sizes) if resume else {}
    candidates = []
    names = list(settings["candidates"])
    for i, name in enumerate(names, start=1):
        params = recipe_params(settings["candidates"][name], settings["common"])
        if name in earlier and earlier[name]["params"] == jsonable(params):
            log(f"candidate {i}/{len(names)} {name}: reused from the interrupted search")
            candidates.append(earlier[name])
            continue
        log(f"candidate {i}/{len(names)} {name}: {params}")
        row = run_candidate(name, params, X_fit, y_fit, X_val, y_val)
        candidates.append(row)
        log(
            f"  val_accuracy {row['val_accuracy']:.4f} (early stopping: "
            f"{row['early_stopping']['val_accuracy']:.4f} at epoch "
            f"{row['early_stopping']['restored_epoch']}), {row['fit_time_s']:.0f} s, "
            f"load {row['load_average']['mean']}"
        )
        write_search(out, settings, split_sizes, candidates, complete=False)
    frame = write_search(out, settings, split_sizes, candidates, complete=True)
    log("search table:\n" + frame.to_string())
    return read_results(out)["search"]["chosen"]


# ----------------------------------------------------------------------------- final
def stage_final(settings, out):
    from skfashion import fetch_fashion_mnist

    results = read_results(out)
    chosen = (results.get("search") or {}).get("chosen")
    if not chosen:
        raise SystemExit(
            f"No completed search in {Path(out) / 'accuracy.json'}: run --stage search first."
        )
    if results.get("quick", False) != (settings is QUICK):
        raise SystemExit("The search in --out was run with a different --quick setting.")
    params = recipe_params(chosen["params"], {})
    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    X, y, X_test, y_test = train.data, train.target, test.data, test.target
    if settings["n_train"] is not None:
        X, y = X[: settings["n_train"]], y[: settings["n_train"]]
        X_test, y_test = X_test[: settings["n_test"]], y_test[: settings["n_test"]]
    if params.get("early_stopping"):
        params["validation_fraction"] = settings["holdout_size"] / (
            settings["holdout_size"] + results["search"]["n_fit"]
        )
    runs = []
    for seed in settings["seeds"]:
        log(f"final: seed {seed}, {len(y)} training images, {params}")
        clf, load = fit_timed(params, X, y, random_state=seed)
        accuracy = float(clf.score(X_test, y_test))
        runs.append(
            {
                "seed": seed,
                "test_accuracy": accuracy,
                "fit_time_s": clf.fit_time_,
                "epochs_run": clf.n_iter_,
                "best_epoch": getattr(clf, "best_epoch_", None),
                "final_train_loss": clf.history_["loss"][-1],
                "load_average": load,
            }
        )
        log(f"  test accuracy {accuracy:.4f}, {clf.fit_time_:.0f} s, load {load['mean']}")
    accuracies = [run["test_accuracy"] for run in runs]
    times = [run["fit_time_s"] for run in runs]

    tutorial_params = {}  # FashionMLP() as it is: the tutorial network, 5 epochs, batch 32
    log("final: FashionMLP() defaults, seed 0")
    tutorial, tutorial_load = fit_timed(tutorial_params, X, y, random_state=0)
    tutorial_row = {
        "params": "FashionMLP() defaults: hidden_layer_sizes='tutorial' (128,), 5 epochs, "
        "batch_size=32, adam 0.001",
        "seed": 0,
        "test_accuracy": float(tutorial.score(X_test, y_test)),
        "fit_time_s": tutorial.fit_time_,
        "load_average": tutorial_load,
    }
    log(f"  test accuracy {tutorial_row['test_accuracy']:.4f}")

    results["final"] = {
        "protocol": (
            f"trained on {len(y)} training images"
            + (
                f" ({params['validation_fraction']:.4g} held out for early stopping)"
                if params.get("early_stopping")
                else " (all of them; epochs fixed by the search)"
            )
            + f"; each model evaluated once on {len(y_test)} test images"
        ),
        "recipe": {"name": "strong", "chosen_candidate": chosen["candidate"], "params": params},
        "n_train": len(y),
        "n_test": len(y_test),
        "runs": runs,
        "test_accuracy_mean": statistics.fmean(accuracies),
        "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "std_note": "sample standard deviation (n - 1) over the seeds",
        "fit_time_s_mean": statistics.fmean(times),
        "fit_time_s_max": max(times),
        "within_time_budget": max(times) <= MAX_FIT_MINUTES * 60,
        "tutorial": tutorial_row,
        "references": REFERENCES,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_text(Path(out) / "accuracy.json", json.dumps(jsonable(results), indent=2) + "\n")
    write_text(Path(out) / "accuracy.md", results_markdown(results))
    log(
        f"strong: {results['final']['test_accuracy_mean']:.4f} ± "
        f"{results['final']['test_accuracy_std']:.4f} over seeds {list(settings['seeds'])}"
    )
    return results["final"]


def comparison_frame(final):
    """Test accuracy of skfashion's networks against the published references."""
    import pandas as pd

    rows = [
        {
            "model": ref["model"],
            "test_accuracy": f"{ref['test_accuracy']:.4f}",
            "source": ref["source"],
        }
        for ref in final["references"]
    ]
    tutorial = final["tutorial"]
    rows.append(
        {
            "model": "skfashion FashionMLP() (tutorial network, 5 epochs)",
            "test_accuracy": f"{tutorial['test_accuracy']:.4f}",
            "source": f"measured here, seed {tutorial['seed']}, {tutorial['fit_time_s']:.0f} s",
        }
    )
    n_seeds = len(final["runs"])
    rows.append(
        {
            "model": "skfashion strong recipe (MLP)",
            "test_accuracy": f"{final['test_accuracy_mean']:.4f} ± "
            f"{final['test_accuracy_std']:.4f}",
            "source": f"measured here, mean ± std over {n_seeds} seeds, "
            f"{final['fit_time_s_mean'] / 60:.1f} min per fit",
        }
    )
    return pd.DataFrame(rows)


def results_markdown(results):
    import pandas as pd

    final, search = results["final"], results["search"]
    runs = pd.DataFrame(
        {
            "seed": [r["seed"] for r in final["runs"]],
            "test_accuracy": [f"{r['test_accuracy']:.4f}" for r in final["runs"]],
            "epochs_run": [r["epochs_run"] for r in final["runs"]],
            "fit_time_s": [f"{r['fit_time_s']:.0f}" for r in final["runs"]],
            "load_average_mean": [r["load_average"]["mean"] for r in final["runs"]],
            "load_average_max": [r["load_average"]["max"] for r in final["runs"]],
        }
    )
    params = ", ".join(f"{k}={v!r}" for k, v in final["recipe"]["params"].items())
    chosen = search["chosen"]
    machine = results["machine"]
    lines = [
        "# Accuracy: the strong MLP recipe on Fashion-MNIST",
        "",
        "Generated by `benchmarks/accuracy.py`"
        + (" in --quick mode (NOT the real results)." if results.get("quick") else "."),
        "",
        f"**Test accuracy: {final['test_accuracy_mean']:.4f} ± {final['test_accuracy_std']:.4f}** "
        f"(mean ± {final['std_note']}), training time "
        f"{final['fit_time_s_mean']:.0f} s per fit on average, at most "
        f"{final['fit_time_s_max']:.0f} s.",
        "",
        f"Recipe (`FashionMLP` parameters): `{params}`.",
        "",
        f"Chosen on validation data: {search['protocol']}. Candidate "
        f"`{chosen['candidate']}`{' with early stopping' if chosen['early_stopping'] else ''} "
        f"had the best validation accuracy, {chosen['val_accuracy']:.4f}; see "
        "`accuracy_search.md`.",
        "",
        f"Final evaluation: {final['protocol']}.",
        "",
        "## Per seed",
        "",
        runs.to_markdown(index=False),
        "",
        "## Against the references",
        "",
        comparison_frame(final).to_markdown(index=False),
        "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['affinity']} usable), "
        f"{machine['platform']}, TensorFlow {machine['versions']['tensorflow']}; "
        f"{machine['note']}.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        description="Choose an MLP recipe on a validation hold-out of the Fashion-MNIST "
        "training images, then measure it on the test images over several seeds."
    )
    parser.add_argument("--stage", choices=("search", "final", "all"), default="all")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny data, small networks and few epochs: checks the script, not the recipe",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="search: reuse candidates an interrupted search in --out already finished",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"results folder (default {DEFAULT_OUT})"
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick and args.out is None:
        build_parser().error("--quick needs --out, so that it never replaces the real results")
    out = args.out or DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    settings = QUICK if args.quick else FULL
    start = time.perf_counter()
    if args.stage in ("search", "all"):
        stage_search(settings, out, resume=args.resume)
    if args.stage in ("final", "all"):
        stage_final(settings, out)
    log(f"done in {time.perf_counter() - start:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
