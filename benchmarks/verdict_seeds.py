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
        and a (seed, model) already there is skipped, unless ``--retrain``
        replaces it: ``--models bigger+augment --retrain`` retrains one model
        after a change of its code, keeping the run it replaces under
        ``replaced``). Keeps the per-epoch histories, not the
        models, so verdicts can be re-derived without retraining.
choose  Choose the thresholds on seeds 0-4 by ``CRITERION`` (validation curves
        only) over ``GRID``; records the choice in ``verdicts.json``. The
        defaults of ``skfashion.report.diagnose`` are set to it by hand (a test
        checks that they agree).
report  Re-derive every verdict with the current ``skfashion.report`` code
        (its default thresholds) and write ``verdicts.md``: the choice, the
        agreement per model, a table per held-out seed and the test-set check.

Usage::

    nice -n 10 python benchmarks/verdict_seeds.py train --seeds 0 1 2 3 4
    python benchmarks/verdict_seeds.py train --models bigger+augment --retrain
    python benchmarks/verdict_seeds.py choose
    python benchmarks/verdict_seeds.py report
"""

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

# One TensorFlow thread: float sums then do not depend on the machine's core count, so a run here
# gives the bits of the committed run of the same seed anywhere (the test re-trains seed 0).
os.environ["SKFASHION_THREADS"] = "1"

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


def replaced(results):
    """``results`` with the runs that ``train --retrain`` replaced in place of their successors."""
    runs = {seed: dict(models) for seed, models in results["runs"].items()}
    for seed, models in results.get("replaced", {}).items():
        runs[seed].update(models)
    return {**results, "runs": runs}


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


def train(seeds, models, path, *, retrain=False):
    from skfashion import fetch_fashion_mnist

    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    n = SETTINGS["n_images"]
    data = {"X": X[:n], "y": y[:n], "test": (X_test, y_test)}
    for seed in seeds:
        for name in models:
            results = load(path)  # another invocation may have written meanwhile
            if name in results["runs"].get(str(seed), {}) and not retrain:
                continue
            run = train_one(name, seed, data)
            with _locked(path):  # invocations for other seeds may run at the same time
                results = load(path)
                seed_runs = results["runs"].setdefault(str(seed), {})
                if name in seed_runs:  # kept, so that the docs can say what changed
                    kept = results.setdefault("replaced", {}).setdefault(str(seed), {})
                    kept[name] = seed_runs[name]
                seed_runs[name] = run
                _save(results, path)
            print(f"seed {seed} {name}: {run['fit_time']:.0f} s", flush=True)


# ----------------------------------------------------------------------------- choose
GRID = {
    "min_rise": (0.05, 0.1, 0.15, 0.2),
    "min_drop": (0.005, 0.01, 0.02),
    "max_gap": (0.03, 0.05, 0.07),
    "patience": (2, 3, 4, 5),
}
COURSE_DEFAULTS = {"min_rise": 0.1, "min_drop": 0.01, "max_gap": 0.05, "patience": 3}
CRITERION = (
    "On the validation curves of seeds 0-4 only (never the test curves): bigger is "
    '"overfitting" in every seed and smaller is neither "overfitting" nor "starting to overfit" '
    "in any; among the thresholds that meet both, the highest agreement (runs whose verdict is "
    "their model's most common verdict, over all models and seeds); ties go to the thresholds "
    "closest to the course's defaults (fewest grid steps away)."
)


def verdicts_of(results, seeds, **thresholds):
    """Model name -> list of Diagnosis over ``seeds`` (validation curves only)."""
    from skfashion.report import diagnose

    out = {}
    for seed in seeds:
        for name, (history, _, restored) in histories(results, seed).items():
            d = diagnose(history, restore_best_weights=restored, **thresholds)
            out.setdefault(name, []).append(d)
    return out


def _steps_from_defaults(candidate):
    return sum(
        abs(GRID[key].index(candidate[key]) - GRID[key].index(COURSE_DEFAULTS[key])) for key in GRID
    )


def choose(results, seeds=CHOICE_SEEDS):
    """Thresholds chosen on ``seeds`` by :data:`CRITERION`; also how many candidates qualified."""
    import itertools

    missing = [s for s in seeds if set(histories(results, s)) != set(MODEL_NAMES)]
    if missing:
        raise SystemExit(f"Seeds {missing} are not fully trained yet; run the train stage.")
    scored = []
    for values in itertools.product(*GRID.values()):
        candidate = dict(zip(GRID, values, strict=True))
        diagnoses = verdicts_of(results, seeds, **candidate)
        verdicts = {name: [d.verdict for d in runs] for name, runs in diagnoses.items()}
        if any(v != "overfitting" for v in verdicts["bigger"]):
            continue
        if any(v in ("overfitting", "starting to overfit") for v in verdicts["smaller"]):
            continue
        agreement = sum(max(map(v.count, v)) for v in verdicts.values())
        scored.append((-agreement, _steps_from_defaults(candidate), values, candidate, agreement))
    if not scored:
        raise SystemExit("No thresholds of the grid meet the criterion.")
    scored.sort(key=lambda row: row[:3])
    _, _, _, chosen, agreement = scored[0]
    return {
        "seeds": list(seeds),
        "grid": {key: list(values) for key, values in GRID.items()},
        "criterion": CRITERION,
        "n_candidates": int(np.prod([len(v) for v in GRID.values()])),
        "n_meeting_criterion": len(scored),
        "chosen": chosen,
        "agreement": agreement,
        "n_runs": len(seeds) * len(MODEL_NAMES),
    }


# ----------------------------------------------------------------------------- report
TEST_TOLERANCE = "min_rise"  # a good fit's test loss may end at most min_rise above its recommended


def run_rows(results, seed):
    """One row per model of ``seed``: the verdict and its numbers, and the test-set check."""
    from skfashion._diagnostics import DEFAULT_THRESHOLDS
    from skfashion.report import diagnose

    rows = []
    for name in MODEL_NAMES:
        entry = histories(results, seed).get(name)
        if entry is None:
            continue
        history, test, restored = entry
        d = diagnose(history, restore_best_weights=restored)
        returned = d.best_epoch if d.restored_best_weights else d.epochs_run
        at_recommended = test["loss"][d.recommended_epochs - 1]
        at_returned = test["loss"][returned - 1]
        rows.append(
            {
                "model": name,
                "verdict": d.verdict,
                "best_epoch": d.best_epoch,
                "recommended_epochs": d.recommended_epochs,
                "epochs_run": d.epochs_run,
                "best_val_accuracy": d.best_val_accuracy,
                "gap": d.gap,
                "val_loss_rise": d.val_loss_rise,
                "test_loss_recommended": at_recommended,
                "test_loss_returned": at_returned,
                "test_loss_change": at_returned / at_recommended - 1,
                "test_accuracy_returned": test["accuracy"][returned - 1],
                "tolerance": getattr(DEFAULT_THRESHOLDS, TEST_TOLERANCE),
            }
        )
    return rows


def _table(rows):
    header = (
        "| model | verdict | best epoch | recommended | val. accuracy there | final gap "
        "| val. loss rise | test loss at recommended | test loss returned | change "
        "| test accuracy returned |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['verdict']} | {r['best_epoch']} of {r['epochs_run']} "
            f"| {r['recommended_epochs']} | {r['best_val_accuracy']:.3f} | {r['gap']:.3f} "
            f"| {r['val_loss_rise']:.0%} | {r['test_loss_recommended']:.3f} "
            f"| {r['test_loss_returned']:.3f} | {r['test_loss_change']:+.0%} "
            f"| {r['test_accuracy_returned']:.3f} |"
        )
    return "\n".join(lines)


def agreement_rows(results, seeds):
    from skfashion._diagnostics import combine

    rows = []
    for name, runs in verdicts_of(results, seeds).items():
        r = combine(runs)
        rows.append(
            {
                "model": name,
                "agreement": r.agreement_text,
                "verdicts": ", ".join(r.verdicts),
                "best_epoch": f"{r.best_epoch_mean:.1f} ± {r.best_epoch_std:.1f}",
                "best_val_accuracy": (
                    f"{r.best_val_accuracy_mean:.3f} ± {r.best_val_accuracy_std:.3f}"
                ),
                "gap": f"{r.gap_mean:.3f} ± {r.gap_std:.3f}",
            }
        )
    order = {name: i for i, name in enumerate(MODEL_NAMES)}
    return sorted(rows, key=lambda row: order[row["model"]])


def _agreement_table(rows):
    lines = [
        "| model | verdict over the seeds | each seed | best epoch | val. accuracy there "
        "| final gap |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['agreement']} | {r['verdicts']} | {r['best_epoch']} "
        f"| {r['best_val_accuracy']} | {r['gap']} |"
        for r in rows
    ]
    return "\n".join(lines)


def test_check(results, seeds):
    """Per verdict: runs, and how many pass the test-set check of the docs."""
    counts = {}
    for seed in seeds:
        for row in run_rows(results, seed):
            entry = counts.setdefault(
                row["verdict"], {"runs": 0, "test_loss_higher": 0, "within_tolerance": 0}
            )
            entry["runs"] += 1
            entry["test_loss_higher"] += row["test_loss_change"] > 0
            entry["within_tolerance"] += row["test_loss_change"] <= row["tolerance"]
    return counts


def markdown(results):
    """The report: thresholds and how they were chosen, agreement, a table per held-out seed."""
    choice = results.get("choice")
    parts = ["<!-- written by benchmarks/verdict_seeds.py report; do not edit -->", ""]
    if choice:
        chosen = ", ".join(f"`{k}={v}`" for k, v in choice["chosen"].items())
        parts += [
            "### Thresholds chosen on seeds 0-4",
            "",
            f"{chosen} (with `tol=0.01`, `underfit_accuracy=0.6`): of {choice['n_candidates']} "
            f"candidates, {choice['n_meeting_criterion']} met the criterion; the chosen one "
            f"agrees in {choice['agreement']} of {choice['n_runs']} runs. {choice['criterion']}",
            "",
        ]
    for title, seeds in (
        ("Seeds 0-4 (thresholds chosen here)", CHOICE_SEEDS),
        ("Seeds 5-9 (held out: no part in the choice)", HELD_OUT_SEEDS),
    ):
        trained = [s for s in seeds if histories(results, s)]
        if trained:
            parts += [
                f"### {title}: agreement",
                "",
                _agreement_table(agreement_rows(results, trained)),
                "",
            ]
    for seed in CHOICE_SEEDS + HELD_OUT_SEEDS:
        if histories(results, seed):
            kind = "held out" if seed in HELD_OUT_SEEDS else "thresholds chosen on it"
            parts += [f"### Seed {seed} ({kind})", "", _table(run_rows(results, seed)), ""]
    held = [s for s in HELD_OUT_SEEDS if histories(results, s)]
    if held:
        parts += [
            "### Test-set check on the held-out seeds",
            "",
            "| verdict | runs | test loss of the returned model above the recommended epoch's "
            "| within the tolerance (min_rise) |",
            "|---|---|---|---|",
        ]
        for verdict, c in sorted(test_check(results, held).items()):
            parts.append(
                f"| {verdict} | {c['runs']} | {c['test_loss_higher']} | {c['within_tolerance']} |"
            )
        parts.append("")
    return "\n".join(parts)


DOCS_PAGE = HERE.parent / "docs" / "verdicts.md"
BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"


def docs_block(page_text):
    """The generated part of ``docs/verdicts.md`` (between the markers)."""
    start, stop = page_text.index(BEGIN) + len(BEGIN), page_text.index(END)
    return page_text[start:stop].strip("\n")


def report(results, path, page=DOCS_PAGE):
    from skfashion._files import write_text

    text = markdown(results)
    write_text(path, text)
    print(f"wrote {path}")
    if page.exists():
        old = page.read_text(encoding="utf-8")
        block = old[: old.index(BEGIN) + len(BEGIN)], old[old.index(END) :]
        write_text(page, f"{block[0]}\n{text}\n{block[1]}")
        print(f"updated {page}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=("train", "choose", "report"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(CHOICE_SEEDS + HELD_OUT_SEEDS))
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--retrain", action="store_true", help="train runs already in the results file again"
    )
    args = parser.parse_args(argv)
    if args.stage == "train":
        train(args.seeds, args.models, args.results, retrain=args.retrain)
    elif args.stage == "choose":
        with _locked(args.results):
            results = load(args.results)
            results["choice"] = choose(results)
            _save(results, args.results)
        print(json.dumps(results["choice"]["chosen"]))
    else:
        report(load(args.results), args.results.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
