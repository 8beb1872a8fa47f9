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
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

from skfashion import FashionMLP, _environment, _files, compute_backend, fetch_fashion_mnist

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
GRID = {"hidden_layer_sizes": ["smaller", "baseline", "bigger"], "dropout": [0.0, 0.5]}
FULL = {"n_samples": 12_000, "epochs": 5, "cv": 3, "n_workers": 2, "repeats": 3}
QUICK = {"n_samples": 1_500, "epochs": 1, "cv": 2, "n_workers": 2, "repeats": 1}


def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def write_text(path, text):
    """Replace ``path`` atomically with ``text``, making its folder when missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _files.write_text(path, text)


def machine_info():
    packages = ("skfashion", "tensorflow", "keras", "scikit-learn", "numpy", "joblib")
    versions = _environment.package_versions(packages + ("dask", "distributed"))
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
    """Sizes of joblib's tasks (the fits) and of the data tasks among ``record_task_bytes``'s."""
    data = [size for key, size in sizes.items() if key.startswith("skfashion-data-")]
    fits = [size for key, size in sizes.items() if "batch_of_" in key]  # joblib's tasks
    return fits, data


# ---------------------------------------------------------------- failures
# A scheduler and worker processes started with the `dask` command, as on machines of their
# own (here on loopback), without nannies: a killed worker stays dead. A worker plugin kills a
# process from inside the cluster as a chosen fit starts, so that the loss happens during the
# search every time, not by a race.

FAILURE_GRID = {"hidden_layer_sizes": [(8,), (16,), (32,)], "dropout": [0.0, 0.2]}
FAILURE_SETTINGS = {"n_samples": 1_500, "epochs": 1, "cv": 3, "n_workers": 3}


def dask_command(*args):
    return [sys.executable, "-m", "dask", *args]


@contextlib.contextmanager
def cli_cluster(folder, n_workers=3):
    """A `dask scheduler` and `n_workers` `dask worker --nthreads 1 --no-nanny` processes.

    Yields the scheduler's address and the processes, the scheduler first; ends
    every process that is still running on exit.
    """
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, SKFASHION_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    scheduler_file = Path(folder) / "scheduler.json"
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    host = ["--host", "127.0.0.1", "--no-dashboard"]
    processes = [
        subprocess.Popen(
            dask_command(
                "scheduler", "--port", "0", "--scheduler-file", str(scheduler_file), *host
            ),
            **quiet,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(n_workers):
            processes.append(
                subprocess.Popen(
                    dask_command(
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--name",
                        f"worker-{i}",
                        *host,
                    ),
                    **quiet,
                )
            )
        import distributed

        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def kill_during_fit(client, folder, victim, nth_fit):
    """From inside the cluster: SIGKILL ``victim`` once, as the ``nth_fit`` fit task starts.

    ``victim`` is "worker" (the worker starting that fit kills itself), "workers" (every
    worker kills itself as it starts a fit, from the ``nth_fit`` on) or a process id.
    Each kill writes ``{"pid", "key", "time"}`` to a file named kill-<pid>.json.
    """
    import distributed

    folder = str(Path(folder) / "kills")
    os.makedirs(folder)

    class KillDuringFit(distributed.WorkerPlugin):
        def setup(self, worker):
            self.worker = worker

        def transition(self, key, start, finish, **kwargs):
            import json
            import os
            import signal
            import time

            if finish != "executing" or "_fit_and_score" not in str(key):
                return
            open(os.path.join(folder, f"started-{os.getpid()}-{time.monotonic_ns()}"), "w").close()
            if sum(name.startswith("started-") for name in os.listdir(folder)) < nth_fit:
                return
            pid = os.getpid() if victim in ("worker", "workers") else victim
            guard = f"guard-{pid}" if victim == "workers" else "guard"
            try:  # O_EXCL: one kill, even when two workers get here at once
                os.close(os.open(os.path.join(folder, guard), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            with open(os.path.join(folder, f"kill-{pid}.json"), "w") as file:
                json.dump({"pid": pid, "key": str(key), "time": time.time()}, file)
            os.kill(pid, signal.SIGKILL)

    client.register_plugin(KillDuringFit(), name="kill-during-fit")
    return Path(folder)


def kills(folder):
    """What :func:`kill_during_fit` killed: one dict per process, by process id."""
    return [json.loads(path.read_text()) for path in sorted(Path(folder).glob("kill-*.json"))]


def failure_search(settings, n_jobs):
    estimator = FashionMLP(epochs=settings["epochs"], random_state=0)
    return GridSearchCV(estimator, FAILURE_GRID, cv=settings["cv"], refit=False, n_jobs=n_jobs)


TIMINGS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


def differing_columns(results, expected):
    """Columns of ``cv_results_`` that differ from ``expected``'s, timings aside."""
    if set(results) != set(expected):
        return sorted(set(results) ^ set(expected))
    differ = []
    for column in sorted(set(expected) - set(TIMINGS)):
        got, want = results[column], expected[column]
        same = got == want if column == "params" else np.array_equal(np.asarray(got), want)
        if not same:
            differ.append(column)
    return differ


def _fit_tasks(stream):
    return [t for t in stream.data if "_fit_and_score" in t["key"]]


def _failure_case(settings, X, y, serial, folder, victim, nth_fit, timeout=10):
    """One search on a fresh command-line cluster, with ``victim`` killed during a fit."""
    import distributed

    from skfashion._parallel import ClusterLostError

    folder.mkdir()
    with cli_cluster(folder, settings["n_workers"]) as (address, processes):
        with distributed.Client(address) as watcher:
            workers_before = set(watcher.run(os.getpid).values())
            scheduler_killed = victim == "scheduler"
            if scheduler_killed:
                victim = processes[0].pid
            if victim is not None:
                kill_during_fit(watcher, folder, victim, nth_fit)
        # The task stream is read from the scheduler on exit: not from a dead one.
        stream_of = contextlib.nullcontext if scheduler_killed else distributed.get_task_stream
        case, start = {}, time.perf_counter()
        try:
            with (
                compute_backend(scheduler=address, timeout=timeout) as client,
                stream_of(client) as stream,
            ):
                search = failure_search(settings, n_jobs=-1).fit(X, y)
        except ClusterLostError as exc:
            ended = time.time()
            case["error"] = str(exc)
            case["n_finished"] = exc.n_finished
            last_kill = max(k["time"] for k in kills(folder / "kills"))
            case["seconds_from_kill_to_error"] = round(ended - last_kill, 2)
        else:
            fits = _fit_tasks(stream)
            keys = [t["key"] for t in fits]
            killed = {k["key"] for k in kills(folder / "kills")} if victim else set()
            with distributed.Client(address) as watcher:
                workers_after = set(watcher.run(os.getpid).values())
            case.update(
                differing_columns=differing_columns(search.cv_results_, serial.cv_results_),
                fit_tasks=len(keys),
                fit_tasks_finished_twice=len(keys) - len(set(keys)),
                killed_fits_finished_elsewhere=sum(t["key"] in killed for t in fits),
                workers_before=len(workers_before),
                workers_after=len(workers_after),
            )
        case["seconds"] = round(time.perf_counter() - start, 2)
        case["kills"] = len(kills(folder / "kills")) if victim else 0
    return case


def run_failures(settings):
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[: settings["n_samples"]], y[: settings["n_samples"]]
    serial = failure_search(settings, n_jobs=None).fit(X, y)
    cases = {}
    with tempfile.TemporaryDirectory() as folder:
        plan = {
            "undisturbed": (None, 0),
            "one worker killed": ("worker", 5),
            "scheduler killed": ("scheduler", 3),
            "every worker killed": ("workers", 4),
        }
        for name, (victim, nth_fit) in plan.items():
            log(f"failure case: {name}")
            cases[name] = _failure_case(
                settings, X, y, serial, Path(folder) / name.replace(" ", "-"), victim, nth_fit
            )
            log(f"{name}: {cases[name]}")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": settings,
        "grid": FAILURE_GRID,
        "timeout_s": 10,
        "machine": machine_info(),
        "load_after": round(os.getloadavg()[0], 2),
        "cases": cases,
    }


def failures_markdown(results):
    settings, cases = results["settings"], results["cases"]
    n_fits = 6 * settings["cv"]
    killed, scheduler, every = (
        cases["one worker killed"],
        cases["scheduler killed"],
        cases["every worker killed"],
    )
    equal = not killed.get("differing_columns", ["?"])
    lines = [
        "# Losing parts of a Dask cluster during a search",
        "",
        f"`GridSearchCV(FashionMLP(epochs={settings['epochs']}, random_state=0), "
        f"{results['grid']}, cv={settings['cv']})`: {n_fits} fits on the first "
        f"{settings['n_samples']:,} Fashion-MNIST training images, through "
        "`compute_backend(scheduler=...)`, on a `dask scheduler` and "
        f"{settings['n_workers']} `dask worker --nthreads 1 --no-nanny` processes on "
        "loopback, a fresh cluster for each case. A worker plugin kills a process with SIGKILL "
        "as a chosen fit starts.",
        "",
        "| case | outcome | seconds |",
        "|---|---|---|",
        f"| undisturbed | finished | {cases['undisturbed']['seconds']:.1f} |",
        f"| one worker killed as fit 5 starts | finished on {killed.get('workers_after')} of "
        f"{killed.get('workers_before')} workers; `cv_results_` equal to the serial run's "
        f"but the timings: {equal}; the killed fit ran again elsewhere "
        f"({killed.get('killed_fits_finished_elsewhere')}x); fit tasks finished twice: "
        f"{killed.get('fit_tasks_finished_twice')} | {killed['seconds']:.1f} |",
        f"| scheduler killed as fit 3 starts | `ClusterLostError` "
        f"{scheduler.get('seconds_from_kill_to_error', float('nan')):.1f} s after the kill; "
        f"{scheduler.get('n_finished')} fit(s) had finished | {scheduler['seconds']:.1f} |",
        f"| every worker killed, from fit 4 on | `ClusterLostError` "
        f"{every.get('seconds_from_kill_to_error', float('nan')):.1f} s after the last death "
        f"(`timeout={results['timeout_s']}`) | {every['seconds']:.1f} |",
        "",
        f"Machine: {results['machine']['cpu_count']} CPUs, {results['machine']['platform']}; "
        f"load average {results['load_after']} at the end (a shared machine: times are "
        f"noisy). Date: {results['date']}.",
        "",
    ]
    return "\n".join(lines)


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
        "--failures",
        action="store_true",
        help="instead: kill a worker, the scheduler, every worker during a search "
        "(dask.failures.{json,md})",
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
    if args.failures:
        # Through JSON first, so that the table shows what the file holds (lists, not tuples).
        results = json.loads(json.dumps(run_failures(dict(FAILURE_SETTINGS))))
        write_text(out / "dask.failures.json", json.dumps(results, indent=2) + "\n")
        write_text(out / "dask.failures.md", failures_markdown(results))
        log(f"results in {out}")
        return 0
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
