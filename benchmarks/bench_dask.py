"""The course's grid search, serially and on a local Dask cluster: time, equality, bytes shipped.

The search: ``GridSearchCV(FashionMLP(epochs=5, random_state=0),
{"hidden_layer_sizes": ["smaller", "baseline", "bigger"], "dropout": [0.0, 0.5]},
cv=3)``, 18 fits, on the first ``n_samples`` Fashion-MNIST training images. It
runs ``repeats`` times serially (``n_jobs=None``, TensorFlow in this process
with its default threads) and as many times inside ``compute_backend(n_workers=2)``
(``n_jobs=-1``: two worker processes of one thread each), alternating, so that
a change in the machine's load hits both alike. Reported:

- wall-clock seconds of each ``search.fit``, their medians and the ratio
  serial / Dask; the cluster's start (processes, TensorFlow's import in each
  worker, one tiny fit each) is timed apart, once;
- ``mean_fit_time`` per candidate from ``cv_results_``: one fit with this
  process' threads against one fit in a single-threaded worker;
- whether every ``split<i>_test_score`` of each Dask run equals the serial
  run's exactly;
- the pickled size of every fit task sent to the cluster, against the size of
  ``X``, and of the data tasks: skfashion sends ``X`` once per search, in a
  task that any worker can compute again, and each fit task refers to it;
- the one-minute load average before and after each run, and the machine.

Usage::

    python benchmarks/bench_dask.py                       # benchmarks/results/dask.{json,md}
    python benchmarks/bench_dask.py --repeats 5
    python benchmarks/bench_dask.py --quick --out /tmp/dask   # a one-minute smoke run
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

from skfashion import FashionMLP, compute_backend, fetch_fashion_mnist

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
GRID = {"hidden_layer_sizes": ["smaller", "baseline", "bigger"], "dropout": [0.0, 0.5]}
FULL = {"n_samples": 12_000, "epochs": 5, "cv": 3, "n_workers": 2, "repeats": 3}
QUICK = {"n_samples": 1_500, "epochs": 1, "cv": 2, "n_workers": 2, "repeats": 1}


def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def write_text(path, text):
    """Replace ``path`` atomically with ``text``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def machine_info():
    versions = {}
    packages = ("skfashion", "tensorflow", "keras", "scikit-learn", "numpy", "joblib")
    for package in packages + ("dask", "distributed"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    cpu_model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


class record_task_bytes:
    """Context manager measuring the pickled size of every task submitted while it is open.

    Yields a dict that, on exit, maps each task's key to its size in bytes:
    what the scheduler stores and ships to a worker for that task, data it
    refers to by key not included. skfashion sends each large argument as a
    task of its own (key ``skfashion-data-...``) that the fits refer to.
    """

    name = "skfashion-bench-task-bytes"

    def __init__(self, client):
        self.client, self.sizes = client, {}

    def __enter__(self):
        from distributed.diagnostics.plugin import SchedulerPlugin

        class TaskBytesPlugin(SchedulerPlugin):
            def __init__(self):
                self.sizes = {}

            def update_graph(self, scheduler, *, tasks, **kwargs):
                import pickle

                import cloudpickle

                for key in tasks:
                    task = scheduler.tasks.get(key)
                    if task is not None and task.run_spec is not None:
                        spec = cloudpickle.dumps(task.run_spec, protocol=pickle.HIGHEST_PROTOCOL)
                        self.sizes[str(key)] = len(spec)

        self.client.register_plugin(TaskBytesPlugin(), name=self.name)
        return self.sizes

    def __exit__(self, *exc_info):
        def collect(dask_scheduler, name=self.name):
            return dask_scheduler.plugins.pop(name).sizes

        self.sizes.update(self.client.run_on_scheduler(collect))
        return False


def fit_and_data_bytes(sizes):
    """Sizes of the fit tasks and of the data tasks among ``record_task_bytes``'s."""
    data = [size for key, size in sizes.items() if key.startswith("skfashion-data-")]
    fits = [size for key, size in sizes.items() if "_fit_and_score" in key]
    return fits, data


def make_search(settings, n_jobs):
    estimator = FashionMLP(epochs=settings["epochs"], random_state=0)
    return GridSearchCV(estimator, GRID, cv=settings["cv"], refit=False, n_jobs=n_jobs)


def timed_search(settings, X, y, n_jobs):
    search = make_search(settings, n_jobs)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    return search, {
        "seconds": round(seconds, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def split_scores(search):
    results = search.cv_results_
    keys = sorted(key for key in results if key.startswith("split") and "test_score" in key)
    return np.array([results[key] for key in keys])


def _warm_up_worker():
    """Import TensorFlow and fit a tiny network once, as the serial process did."""
    import numpy

    from skfashion import FashionMLP
    from skfashion._tf import import_tensorflow

    X = numpy.random.default_rng(0).integers(0, 256, size=(64, 784), dtype=numpy.uint8)
    FashionMLP(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, numpy.arange(64) % 10)
    tf, _ = import_tensorflow()
    return tf.config.threading.get_intra_op_parallelism_threads()


def run(settings):
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[: settings["n_samples"]], y[: settings["n_samples"]]
    serial_threads = _warm_up_worker() or os.cpu_count()  # 0 is TensorFlow's "all cores"
    log(f"X {X.shape}, {X.nbytes / 1e6:.1f} MB; serial TensorFlow threads: {serial_threads}")

    serial_runs, dask_runs = [], []
    reference = None
    start = time.perf_counter()
    with compute_backend(n_workers=settings["n_workers"]) as client:
        worker_threads = sorted(client.run(_warm_up_worker).values())
        cluster_start = time.perf_counter() - start
        log(
            f"cluster of {settings['n_workers']} workers ready in {cluster_start:.1f} s, "
            f"TensorFlow threads per worker: {worker_threads}"
        )
        for repeat in range(settings["repeats"]):
            with joblib.parallel_config(backend="sequential"):
                search, timing = timed_search(settings, X, y, n_jobs=None)
            reference = search if reference is None else reference
            timing["identical_to_first_serial"] = bool(
                np.array_equal(split_scores(search), split_scores(reference))
            )
            timing["mean_fit_time"] = search.cv_results_["mean_fit_time"].round(3).tolist()
            serial_runs.append(timing)
            log(
                f"repeat {repeat + 1}: serial {timing['seconds']:.1f} s "
                f"(load {timing['load_before']} -> {timing['load_after']})"
            )

            with record_task_bytes(client) as task_bytes:
                search, timing = timed_search(settings, X, y, n_jobs=-1)
            fit_bytes, data_bytes = fit_and_data_bytes(task_bytes)
            timing["identical_to_serial"] = bool(
                np.array_equal(split_scores(search), split_scores(reference))
            )
            timing["mean_fit_time"] = search.cv_results_["mean_fit_time"].round(3).tolist()
            timing["tasks"] = len(fit_bytes)
            timing["max_task_bytes"] = max(fit_bytes)
            timing["data_tasks"] = len(data_bytes)
            timing["data_bytes"] = sum(data_bytes)
            dask_runs.append(timing)
            log(
                f"repeat {repeat + 1}: dask   {timing['seconds']:.1f} s "
                f"(load {timing['load_before']} -> {timing['load_after']}), "
                f"identical to serial: {timing['identical_to_serial']}, "
                f"{timing['tasks']} tasks of at most {timing['max_task_bytes']} bytes"
            )

    serial_median = statistics.median(r["seconds"] for r in serial_runs)
    dask_median = statistics.median(r["seconds"] for r in dask_runs)
    candidates = [
        {
            "params": dict(params),
            "mean_test_score": float(score),
            "serial_fit_s": statistics.median(r["mean_fit_time"][i] for r in serial_runs),
            "dask_fit_s": statistics.median(r["mean_fit_time"][i] for r in dask_runs),
        }
        for i, (params, score) in enumerate(
            zip(
                reference.cv_results_["params"],
                reference.cv_results_["mean_test_score"],
                strict=True,
            )
        )
    ]
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": settings,
        "grid": GRID,
        "machine": machine_info(),
        "X_bytes": int(X.nbytes),
        "serial_tensorflow_threads": serial_threads,
        "worker_tensorflow_threads": worker_threads,
        "cluster_start_s": round(cluster_start, 2),
        "serial": {"runs": serial_runs, "median_s": serial_median},
        "dask": {"runs": dask_runs, "median_s": dask_median},
        "speedup": round(serial_median / dask_median, 2),
        "identical": all(r["identical_to_serial"] for r in dask_runs),
        "max_task_bytes": max(r["max_task_bytes"] for r in dask_runs),
        "data_tasks": max(r["data_tasks"] for r in dask_runs),
        "data_bytes": max(r["data_bytes"] for r in dask_runs),
        "candidates": candidates,
    }


def results_markdown(results):
    settings, machine = results["settings"], results["machine"]
    versions = machine["versions"]
    runs = pd.DataFrame(
        {
            "repeat": range(1, len(results["serial"]["runs"]) + 1),
            "serial_s": [r["seconds"] for r in results["serial"]["runs"]],
            "dask_s": [r["seconds"] for r in results["dask"]["runs"]],
            "load_before_serial": [r["load_before"] for r in results["serial"]["runs"]],
            "load_before_dask": [r["load_before"] for r in results["dask"]["runs"]],
            "dask_identical": [r["identical_to_serial"] for r in results["dask"]["runs"]],
        }
    ).set_index("repeat")
    fits = pd.DataFrame(
        {
            "hidden_layer_sizes": [
                c["params"]["hidden_layer_sizes"] for c in results["candidates"]
            ],
            "dropout": [c["params"]["dropout"] for c in results["candidates"]],
            "mean_test_score": [round(c["mean_test_score"], 4) for c in results["candidates"]],
            "serial_fit_s": [c["serial_fit_s"] for c in results["candidates"]],
            "dask_fit_s": [c["dask_fit_s"] for c in results["candidates"]],
        }
    )
    n_fits = len(results["candidates"]) * settings["cv"]
    lines = [
        "# Grid search on a local Dask cluster",
        "",
        f"`GridSearchCV(FashionMLP(epochs={settings['epochs']}, random_state=0), "
        f"{results['grid']}, cv={settings['cv']})`: {n_fits} fits on the first "
        f"{settings['n_samples']:,} Fashion-MNIST training images, {settings['repeats']} "
        f"repeat{'s' if settings['repeats'] != 1 else ''}, serial and Dask alternating.",
        "",
        "| | median seconds |",
        "|---|---|",
        f"| serial (`n_jobs=None`, TensorFlow with {results['serial_tensorflow_threads']} "
        f"threads) | {results['serial']['median_s']:.1f} |",
        f"| Dask, `compute_backend(n_workers={settings['n_workers']})` (`n_jobs=-1`, "
        f"{settings['n_workers']} workers x 1 thread) | {results['dask']['median_s']:.1f} |",
        f"| **speed-up** | **{results['speedup']:.2f}x** |",
        "",
        f"Starting the cluster (worker processes, TensorFlow's import, one tiny fit each) "
        f"took {results['cluster_start_s']:.1f} s, once, and is not in these times.",
        f"Dask's `cv_results_` equal the serial ones exactly: {results['identical']}.",
        f"Largest fit task sent to the cluster: {results['max_task_bytes']:,} bytes, against "
        f"{results['X_bytes']:,} bytes of X. X, y and the folds' row indices travel once per "
        f"search, in {results['data_tasks']} data tasks of {results['data_bytes']:,} bytes in "
        "all, which any worker can compute again if the one holding them dies.",
        "",
        "## Runs",
        "",
        runs.to_markdown(),
        "",
        "## One fit, serial process vs single-threaded worker (median `mean_fit_time`)",
        "",
        fits.to_markdown(index=False),
        "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['affinity']} usable), "
        f"{machine['cpu_model']}, {machine['platform']}, Python {machine['python']}; "
        f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}, "
        f"scikit-learn {versions['scikit-learn']}, joblib {versions['joblib']}, "
        f"dask/distributed {versions['distributed']}. Date: {results['date']}. "
        "Shared machine: the load averages tell whether other work ran alongside.",
        "",
    ]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        description="Time the course's grid search serially and on a local Dask cluster."
    )
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--n-samples", type=int, default=None, help="default 12000")
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and one epoch: checks the script"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"results folder (default {DEFAULT_OUT})"
    )
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick and args.out is None:
        parser.error("--quick needs --out, so that it never replaces the real results")
    settings = dict(QUICK if args.quick else FULL)
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be at least 1, got {args.repeats}")
        settings["repeats"] = args.repeats
    if args.n_samples is not None:
        if not 100 <= args.n_samples <= 60_000:
            parser.error(f"--n-samples must be between 100 and 60000, got {args.n_samples}")
        settings["n_samples"] = args.n_samples
    out = args.out or DEFAULT_OUT
    results = run(settings)
    write_text(out / "dask.json", json.dumps(results, indent=2) + "\n")
    write_text(out / "dask.md", results_markdown(results))
    log(
        f"serial {results['serial']['median_s']:.1f} s, dask {results['dask']['median_s']:.1f} s,"
        f" speed-up {results['speedup']:.2f}x; results in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
