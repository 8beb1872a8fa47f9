"""Where a fresh default fit's time goes: tracing, XLA's compilation, training.

``python benchmarks/fixed_costs.py [--repeats 7] [--name fixed_costs]``

Each repeat is a fresh process that fits ``FashionMLP(random_state=0)`` on the
60,000 training images (the contenders' workload of ``run.py``: Dense(128),
batch 32, 5 epochs) and times, inside the fit:

- ``trace_s``: tracing the training program (``get_concrete_function``);
- ``compile_s``: the program's first call with ``stop=0``, on one of the fit's
  batches repeated to the first call's shape, which trains no batch:
  TensorFlow's conversion to XLA and XLA's CPU compilation;
- ``first_call_s``: the first call that trains (1,024 batches), with whatever
  a first run costs;
- ``steady_gflop_per_s``: the training rate of the later calls (1,024 and 851
  batches each), from their training FLOPs (``6 * weights * samples``) and time;
- ``fit_s``: the whole ``fit``, as ``run.py`` times it;
- ``fixed_s``: ``fit_s`` less the workload's training FLOPs at the steady rate:
  everything but the arithmetic.

The stop-0 call adds one call that trains nothing, so the fit's result is
the one it gives without it. These timings reach into skfashion's private
training program (``skfashion._training.CompiledEpoch``); they are a
measurement, not an interface.

Results go to ``benchmarks/results/NAME.json`` and ``NAME.md``: every run and
the median, minimum, maximum and values of each figure, and each run's test accuracy
(the same in every run: the fit is seeded).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (the runner's data, machine and file helpers)

FIGURES = ("fit_s", "trace_s", "compile_s", "trace_and_compile_s", "first_call_s",
           "steady_gflop_per_s", "training_s", "fixed_s")
JOB = {"epochs": 5, "batch_size": 32, "seed": 0, "n_train": 60_000, "n_test": 10_000}


def measure(data_dir):
    """One fit in this process; the figures of the module docstring."""
    import contenders

    X, y, X_test, y_test = contenders.load_data({**JOB, "data_dir": data_dir})
    figures, clf = timed_fit(X, y, JOB)
    figures["test_accuracy"] = float(clf.score(X_test, y_test))
    return figures


def timed_fit(X, y, job):
    """Fit ``FashionMLP`` as ``job`` says, timing its parts; the figures and the classifier."""
    from skfashion import FashionMLP, _training
    from skfashion._programs import kernel_weights, training_flops

    real_call = _training.CompiledEpoch._call
    times = {"calls": []}

    def timed_call(self, batches, pad_to):
        if not times["calls"]:
            tf = self._tf
            start = time.perf_counter()
            self._run_batches.get_concrete_function()
            times["trace_s"] = time.perf_counter() - start
            # The first call's shape, from one real batch: compiled here, trains nothing.
            first = [tf.gather(part, batches[:1]) for part in self._data]
            first = [tf.tile(part, [pad_to] + [1] * (part.shape.rank - 1)) for part in first]
            start = time.perf_counter()
            self._run_batches(*first, tf.constant(0))
            times["compile_s"] = time.perf_counter() - start
        start = time.perf_counter()
        result = real_call(self, batches, pad_to)
        times["calls"].append((len(batches), time.perf_counter() - start))
        return result

    clf = FashionMLP(epochs=job["epochs"], batch_size=job["batch_size"],
                     random_state=job["seed"])
    _training.CompiledEpoch._call = timed_call
    try:
        start = time.perf_counter()
        clf.fit(X, y)
        fit_s = time.perf_counter() - start
    finally:
        _training.CompiledEpoch._call = real_call
    weights = kernel_weights(clf.model_)
    flop_per_batch = training_flops(weights, job["batch_size"], 1)
    later = times["calls"][1:] or times["calls"]
    steady = sum(n for n, _ in later) * flop_per_batch / sum(s for _, s in later) / 1e9
    training_s = training_flops(weights, len(y), job["epochs"]) / 1e9 / steady
    return {
        "fit_s": fit_s,
        "trace_s": times["trace_s"],
        "compile_s": times["compile_s"],
        "trace_and_compile_s": times["trace_s"] + times["compile_s"],
        "first_call_s": times["calls"][0][1],
        "steady_gflop_per_s": steady,
        "training_s": training_s,
        "fixed_s": fit_s - training_s,
    }, clf


def summary(runs):
    """Each figure over the runs, as the runner summarises a measurement (``run.summarise``)."""
    return {figure: run.summarise([run_[figure] for run_ in runs]) for figure in FIGURES}


def floor_budget(results=run.RESULTS):
    """What ``run.py``'s compute-floor goal leaves for everything but arithmetic.

    From the committed ``performance.json``: the workload's floor (its training
    FLOPs at the best rate of that run) and the goal's factor; the budget is
    ``(factor - 1) * floor_s``, the time a fit training at the floor's rate may
    spend on anything else. None without that file.
    """
    path = Path(results, "performance.json")
    if not path.exists():
        return None
    performance = json.loads(path.read_text())
    floor_s = run.resolve(performance, "sections/contenders/rows/fashion_mlp/floor_s")
    factor = performance["goals"]["times_compute_floor"]["target"]
    return {
        "source": "performance.json",
        "gflop_per_s": performance["compute_floor"]["gflop_per_s"],
        "floor_s": floor_s,
        "max_times_floor": factor,
        "fixed_budget_s": (factor - 1) * floor_s,
    }


def render(report):
    """The Markdown page of a report."""
    rows = [
        [figure, *(f"{report['summary'][figure][k]:.3f}" for k in ("median", "min", "max"))]
        for figure in FIGURES
    ]
    return (
        "# Fixed costs of a fresh default fit\n\n"
        f"`{report['command']}`, {report['date']}, {report['machine']['cpu_model']} "
        f"({report['machine']['cpus_usable']} cores), {len(report['runs'])} fresh processes. "
        "Seconds, except the rate in GFLOP/s. See `benchmarks/fixed_costs.py` for what each "
        "figure times.\n\n"
        + run.markdown_table(["figure", "median", "min", "max"], rows)
        + "\n"
        + _budget_text(report.get("floor"), report["summary"])
    )


def _budget_text(floor, summary_):
    if not floor:
        return ""
    return (
        f"\nThe compute floor of this workload in `{floor['source']}` is "
        f"{floor['floor_s']:.3f} s ({floor['gflop_per_s']:.1f} GFLOP/s); within "
        f"{floor['max_times_floor']:g}x of it, a fit that trains at the floor's rate has "
        f"{floor['fixed_budget_s']:.3f} s for everything else. Tracing and compiling took "
        f"{summary_['trace_and_compile_s']['min']:.3f} s at least.\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/fixed_costs.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes (default 7)")
    parser.add_argument("--name", default="fixed_costs", help="results file names (NAME.json)")
    parser.add_argument("--out", type=Path, default=run.RESULTS, help="results folder")
    parser.add_argument("--wait-for-quiet", type=float, default=0, metavar="SECONDS",
                        help="before each run, wait up to this long for an idle machine")
    parser.add_argument("--worker", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker)))
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    runs = []
    with tempfile.TemporaryDirectory() as data_dir:
        import contenders

        contenders.save_data(data_dir)
        for _ in range(args.repeats):
            if args.wait_for_quiet:
                run.wait_for_quiet(args.wait_for_quiet)
            done = subprocess.run(
                [sys.executable, __file__, "--worker", data_dir],
                capture_output=True, text=True, check=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(" ".join(f"{k} {v:.3f}" for k, v in runs[-1].items()), flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/fixed_costs.py " + " ".join(argv or sys.argv[1:]),
        "machine": run.machine_info(),
        "job": JOB,
        "runs": runs,
        "summary": summary(runs),
        "floor": floor_budget(),
    }
    run.write_atomic(args.out / f"{args.name}.json", json.dumps(report, indent=1) + "\n")
    run.write_atomic(args.out / f"{args.name}.md", render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
