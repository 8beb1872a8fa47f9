"""Searches on a real dask.distributed cluster: processes, threads, data shipping, equality."""

import http.server
import importlib.util
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from joblib._dask import DaskDistributedBackend
from sklearn.model_selection import GridSearchCV, cross_val_score

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from skfashion import FashionMLP, compute_backend, report  # noqa: E402
from skfashion._parallel import ClusterLostError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_bench_dask", ROOT / "benchmarks" / "bench_dask.py")
BENCH = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BENCH)

GRID = {"hidden_layer_sizes": [(8,), (16,)]}
SCORES = ["mean_test_score", "split0_test_score", "split1_test_score"]


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_until_gone(pids, seconds=15):
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if _alive(pid)]


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster of 2 single-threaded worker processes, and its client."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        yield client
    assert _wait_until_gone(pids) == []


# Functions sent to the workers are defined inside the tests: worker processes cannot
# import this module, and only such local functions are pickled by value.


def test_tensorflow_threads_follow_each_worker(client):
    def tensorflow_threads(estimator):
        # TensorFlow as a fit of the FashionMLP would start it on this worker.
        from skfashion._tf import import_tensorflow

        tf, _ = import_tensorflow()
        assert type(estimator).__name__ == "FashionMLP"
        config = tf.config.threading
        return (
            os.getpid(),
            config.get_intra_op_parallelism_threads(),
            config.get_inter_op_parallelism_threads(),
        )

    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) == 2
    futures = [
        client.submit(tensorflow_threads, FashionMLP(), workers=[w], pure=False) for w in workers
    ]
    results = client.gather(futures)
    pids = {pid for pid, _, _ in results}
    assert len(pids) == 2 and os.getpid() not in pids
    assert [(intra, inter) for _, intra, inter in results] == [(1, 1), (1, 1)]


def test_grid_search_on_dask_equals_serial_and_ships_X_once(client, small_xy):
    X, y = small_xy
    serial = GridSearchCV(FashionMLP(epochs=2, random_state=0), GRID, cv=2, refit=False)
    serial.fit(X, y)
    search = GridSearchCV(FashionMLP(epochs=2, random_state=0), GRID, cv=2, refit=False, n_jobs=-1)
    with (
        compute_backend(scheduler=client.scheduler.address) as connected,
        distributed.get_task_stream(connected) as tasks,
        BENCH.record_task_bytes(connected) as task_bytes,
    ):
        search.fit(X, y)

    for key in SCORES:
        np.testing.assert_array_equal(search.cv_results_[key], serial.cv_results_[key])
    assert serial.cv_results_["mean_test_score"].min() > 0.2  # learned something: chance is 0.1
    fits = [t for t in tasks.data if "_fit_and_score" in t["key"]]
    assert len(fits) >= 2 and len({t["worker"] for t in fits}) == 2
    # X (470 kB) travels once, in a data task; each fit task carries the estimator only.
    fit_bytes, data_bytes = BENCH.fit_and_data_bytes(task_bytes)
    assert len(fit_bytes) == len(fits) and max(fit_bytes) < X.nbytes / 20
    assert sorted(data_bytes)[-1] > X.nbytes and sorted(data_bytes)[-2] < X.nbytes / 2


def test_fitted_estimator_comes_back_from_a_worker(client, small_xy):
    def fit(estimator, X, y):
        return estimator.fit(X, y)

    X, y = small_xy
    remote = client.submit(fit, FashionMLP(epochs=1, random_state=0), X, y, pure=False).result()
    local = FashionMLP(epochs=1, random_state=0).fit(X, y)
    assert remote.history_ == local.history_
    np.testing.assert_array_equal(remote.predict_proba(X[:50]), local.predict_proba(X[:50]))


def test_compute_backend_connects_to_a_running_cluster_and_leaves_it_running(client, small_xy):
    X, y = small_xy
    address = client.scheduler.address
    with compute_backend(scheduler=address) as connected:
        assert connected is not client and connected.scheduler.address == address
        plugins = connected.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.worker_plugins)
        )
        assert "skfashion-tensorflow-threads" in plugins
        with distributed.get_task_stream(connected) as tasks:
            scores = cross_val_score(
                FashionMLP(hidden_layer_sizes=(8,), epochs=3, random_state=0), X, y, cv=2
            )
    assert len([t for t in tasks.data if "_fit_and_score" in t["key"]]) == 2  # n_jobs=None too
    assert scores.min() > 0.2
    assert connected.status == "closed"
    assert len(client.scheduler_info()["workers"]) == 2  # the cluster runs on
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert "skfashion-tensorflow-threads" not in plugins


def test_compute_backend_starts_and_closes_a_local_cluster():
    with compute_backend(n_workers=2) as client:
        workers = client.scheduler_info()["workers"].values()
        assert sorted(w["nthreads"] for w in workers) == [1, 1]
        assert isinstance(joblib.parallel.get_active_backend()[0], DaskDistributedBackend)
        plugins = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.worker_plugins)
        )
        assert "skfashion-tensorflow-threads" in plugins
        pids = list(client.run(os.getpid).values())
        assert len(set(pids)) == 2 and os.getpid() not in pids
    assert client.status == "closed"
    assert _wait_until_gone(pids) == []
    assert not isinstance(joblib.parallel.get_active_backend()[0], DaskDistributedBackend)


def test_scatter_sends_x_once_for_every_search_of_the_block(client, small_xy):
    # The module's cluster stands in for one compute_backend started: what a block does with
    # scatter=[X, y] is the same on either.
    X, y = small_xy
    estimator = FashionMLP(epochs=2, random_state=0)
    expected = report.epoch_curve(estimator, X, y, cv=2)
    with compute_backend(scheduler=client.scheduler.address, scatter=[X, y]) as connected:
        frame = report.epoch_curve(estimator, X, y, cv=2, n_jobs=-1)
        sizes = []
        for _ in range(2):
            with BENCH.record_task_bytes(connected) as task_bytes:
                GridSearchCV(FashionMLP(epochs=1, random_state=0), GRID, cv=2, refit=False).fit(
                    X, y
                )
            sizes.append(task_bytes)
    pd.testing.assert_frame_equal(frame, expected)
    # scatter=[X, y]: X is one data task for the block, which both searches refer to
    for task_bytes in sizes:
        fit_bytes, _ = BENCH.fit_and_data_bytes(task_bytes)
        assert len(fit_bytes) >= 2 and max(fit_bytes) < X.nbytes / 20
    holding_X = [
        {
            key
            for key, size in task_bytes.items()
            if key.startswith("skfashion-data-") and size > X.nbytes
        }
        for task_bytes in sizes
    ]
    assert len(holding_X[0]) == 1 and holding_X[0] == holding_X[1]


def test_the_search_command_on_a_cluster_gives_the_serial_scores_and_keeps_each_fit(
    client, tmp_path, capsys
):
    from skfashion._cli import main

    search = ["search", "--param", "hidden_layer_sizes=8,16+16", "--cv", "2", "--epochs", "1"]
    search += ["--subset-size", "400"]
    assert main([*search, "--no-cache", "--out", str(tmp_path / "serial.csv")]) == 0
    serial = pd.read_csv(tmp_path / "serial.csv")
    path, cache = tmp_path / "table.csv", tmp_path / "cache"
    cached = [*search, "--cache-dir", str(cache), "--out", str(path)]
    capsys.readouterr()
    assert main([*cached, "--scheduler", client.scheduler.address]) == 0
    assert f"0 of 4 fits found in the cache {cache}; 4 to train" in capsys.readouterr().out
    not_timed = serial.columns.drop("mean_fit_time")
    pd.testing.assert_frame_equal(pd.read_csv(path)[not_timed], serial[not_timed])
    assert len(list(cache.glob("*.skfit"))) == 4  # written by the workers, one per fit

    assert main(cached) == 0  # run again, here: every fit comes from the workers' entries
    assert f"4 of 4 fits found in the cache {cache}; 0 to train" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(path)[not_timed], serial[not_timed])


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_fast_and_names_the_address():
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(OSError, match=f"Could not connect to the Dask scheduler at '{address}'"):
        with compute_backend(scheduler=address, timeout=2):
            pass


@pytest.fixture
def web_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_no_scheduler_fails_within_the_timeout(web_server):
    # distributed.Client alone would wait forever for this server's handshake.
    with pytest.raises(OSError, match="Could not connect to the Dask scheduler at"):
        with compute_backend(scheduler=web_server, timeout=2):
            pass


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"scheduler": "tcp://127.0.0.1:8786", "n_workers": 2}, ValueError, "not both"),
        ({"n_workers": 0}, ValueError, "n_workers must be a positive integer, got 0"),
        ({"n_workers": 1.5}, ValueError, "n_workers must be a positive integer, got 1.5"),
        ({"scheduler": 8786}, TypeError, "scheduler must be an address string"),
        ({"scheduler": "nonsense://host:1"}, ValueError, "not a Dask scheduler address"),
        ({"scheduler": "tcp://127.0.0.1:8786", "timeout": 0}, ValueError, "timeout must be"),
    ],
)
def test_bad_arguments_are_rejected_before_any_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        with compute_backend(**kwargs):
            pass


def test_missing_dask_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'skfashion\[dask\]'"):
        with compute_backend(n_workers=1):
            pass


# ---------------------------------------------------------------- failures of a real cluster
# A `dask scheduler` and three `dask worker --nthreads 1 --no-nanny` processes on loopback
# (BENCH.cli_cluster); a worker plugin kills a process from inside the cluster as a chosen
# fit starts (BENCH.kill_during_fit), so that the loss happens during the search every time.

CLI = "import sys; from skfashion._cli import main; sys.exit(main(sys.argv[1:]))"
SETTINGS = BENCH.FAILURE_SETTINGS  # 1,500 images, 1 epoch, cv=3, 6 candidates: 18 fits


@pytest.fixture(scope="module")
def search_xy(fashion_train):
    n = SETTINGS["n_samples"]
    return fashion_train.data[:n], fashion_train.target[:n]


@pytest.fixture
def cli_cluster(tmp_path):
    with BENCH.cli_cluster(tmp_path, SETTINGS["n_workers"]) as (address, processes):
        yield address, processes


@pytest.mark.slow
def test_search_survives_a_worker_killed_during_a_fit(cli_cluster, search_xy, tmp_path):
    address, processes = cli_cluster
    X, y = search_xy
    serial = BENCH.failure_search(SETTINGS, n_jobs=None).fit(X, y)
    with distributed.Client(address) as watcher:
        worker_pids = set(watcher.run(os.getpid).values())
        kills = BENCH.kill_during_fit(watcher, tmp_path, "worker", nth_fit=5)
        with (
            compute_backend(scheduler=address) as client,
            distributed.get_task_stream(client) as stream,
        ):
            search = BENCH.failure_search(SETTINGS, n_jobs=-1).fit(X, y)
        left = set(watcher.run(os.getpid).values())

    (kill,) = BENCH.kills(kills)  # exactly one worker died, during a fit
    assert kill["pid"] in worker_pids and left == worker_pids - {kill["pid"]}
    keys = [t["key"] for t in stream.data if "_fit_and_score" in t["key"]]
    assert len(keys) == len(set(keys)) == 18  # each fit task finished once
    assert kill["key"] in keys  # the fit that was running on the lost worker ran elsewhere
    assert BENCH.differing_columns(search.cv_results_, serial.cv_results_) == []
    assert len(search.cv_results_["params"]) == 6
    assert serial.cv_results_["mean_test_score"].min() > 0.2  # learned: chance is 0.1


@pytest.mark.slow
def test_a_killed_scheduler_ends_the_cli_search_with_a_clear_error(cli_cluster, tmp_path):
    address, processes = cli_cluster
    with distributed.Client(address) as watcher:
        kills = BENCH.kill_during_fit(watcher, tmp_path, processes[0].pid, nth_fit=6)
    cache = tmp_path / "cache"
    command = [
        *("search", "--cv", "3", "--epochs", "1", "--cache-dir", str(cache)),
        *("--subset-size", str(SETTINGS["n_samples"])),
        *("--param", "hidden_layer_sizes=smaller,baseline", "--param", "dropout=0,0.2"),
    ]
    run = subprocess.Popen(
        [sys.executable, "-c", CLI, *command, "--scheduler", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    lines = []
    for line in run.stderr:  # the time each line arrives: the error, not the interpreter's exit
        lines.append((time.time(), line))
    assert run.wait(timeout=600) == 1, "".join(line for _, line in lines)[-3000:]
    (kill,) = BENCH.kills(kills)
    assert kill["pid"] == processes[0].pid and processes[0].wait(timeout=10) == -signal.SIGKILL
    ((ended, line),) = lines  # one line, no traceback
    assert line.startswith(
        f"skfashion: error: Lost the connection to the Dask scheduler at '{address}'. "
    )
    n_finished = int(line.split(". ")[1].split(" fit(s)")[0])
    said = re.search(
        f"fit\\(s\\) of this search had finished; the cache {re.escape(str(cache))} keeps "
        r"(\d+) of its 12 fits: run the search again to train only the others\.\n$",
        line,
    )
    # Written by the workers as each fit finished; those that were training without a
    # scheduler may finish and write theirs after the error: stop them before counting.
    for worker in processes[1:]:
        worker.kill()
        worker.wait(timeout=30)
    kept = {path.name: path.stat().st_ino for path in cache.glob("*.skfit")}
    n_kept = len(kept)
    assert said and 0 <= n_finished <= int(said[1]) <= n_kept < 12, line
    assert ended - kill["time"] < 15  # docs/dask.md: detected at once on loopback

    # Run again without the cluster: only the fits that were not kept train.
    rerun = subprocess.run(
        [sys.executable, "-c", CLI, *command],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{n_kept} of 12 fits found in the cache {cache}; {12 - n_kept} to train" in rerun.stdout
    entries = {path.name: path.stat().st_ino for path in cache.glob("*.skfit")}
    assert len(entries) == 12 and {name: entries[name] for name in kept} == kept


@pytest.mark.slow
def test_a_cluster_that_loses_every_worker_ends_the_search_in_time(
    cli_cluster, search_xy, tmp_path
):
    address, processes = cli_cluster
    X, y = search_xy
    with distributed.Client(address) as watcher:
        kills = BENCH.kill_during_fit(watcher, tmp_path, "workers", nth_fit=4)
    with pytest.raises(ClusterLostError) as error:
        with compute_backend(scheduler=address, timeout=3):
            BENCH.failure_search(SETTINGS, n_jobs=-1).fit(X, y)
    raised = time.time()
    assert len(BENCH.kills(kills)) == 3 and all(p.poll() is not None for p in processes[1:])
    assert processes[0].poll() is None  # the scheduler runs on
    assert str(error.value).startswith(f"The Dask cluster at '{address}' has had no worker for 3 s")
    assert error.value.address == address and 0 <= error.value.n_finished < 18
    assert raised - max(k["time"] for k in BENCH.kills(kills)) < 3 + 10


# ---------------------------------------------------------------- docs/dask.md in step


def _quoted(pattern):
    import re

    match = re.search(pattern, " ".join((ROOT / "docs" / "dask.md").read_text().split()))
    assert match, pattern
    return match.groups()


def test_docs_quote_the_committed_benchmark():
    results = json.loads((ROOT / "benchmarks" / "results" / "dask.json").read_text())
    (speedup,) = _quoted(r"\(([\d.]+)× in the run above")
    assert float(speedup) == results["speedup"]
    (kilobytes,) = _quoted(r"each fit task of the benchmark below is about (\d+) kB")
    assert int(kilobytes) == round(results["max_task_bytes"] / 1000)
    (megabytes,) = _quoted(r"\(([\d.]+) MB there")
    assert float(megabytes) == round(results["X_bytes"] / 1e6, 1)
    fits = {
        size: [c for c in results["candidates"] if c["params"]["hidden_layer_sizes"] in size]
        for size in (("smaller", "baseline"), ("bigger",))
    }
    small = [c[k] for c in fits[("smaller", "baseline")] for k in ("serial_fit_s", "dask_fit_s")]
    assert _quoted(r"\(([\d.]+)–([\d.]+) s either way\)") == (
        f"{min(small):.1f}",
        f"{max(small):.1f}",
    )
    serial = [c["serial_fit_s"] for c in fits[("bigger",)]]
    dask_ = [c["dask_fit_s"] for c in fits[("bigger",)]]
    assert _quoted(
        r"\(([\d.]+)–([\d.]+) s with two threads against ([\d.]+)–([\d.]+) s in one\)"
    ) == (
        f"{min(serial):.1f}",
        f"{max(serial):.1f}",
        f"{min(dask_):.1f}",
        f"{max(dask_):.1f}",
    )


def test_the_committed_failure_cases_are_their_table():
    results = json.loads((ROOT / "benchmarks" / "results" / "dask.failures.json").read_text())
    table = (ROOT / "benchmarks" / "results" / "dask.failures.md").read_text()
    assert table == BENCH.failures_markdown(results)
    cases = results["cases"]
    assert cases["one worker killed"]["differing_columns"] == []
    killed = cases["one worker killed"]
    assert killed["kills"] == 1 and killed["workers_after"] == killed["workers_before"] - 1
    assert cases["scheduler killed"]["error"].startswith("Lost the connection to the Dask")
    assert cases["every worker killed"]["seconds_from_kill_to_error"] >= results["timeout_s"]


def test_docs_quote_dask_s_own_defaults_in_the_failure_model():
    import dask
    from dask.utils import parse_timedelta

    (retries,) = _quoted(r"Dask retries a task up to (\d+) times")
    assert int(retries) == dask.config.get("distributed.scheduler.allowed-failures")
    (tcp,) = _quoted(r"`distributed.comm.timeouts.tcp`, (\d+) s by default")
    assert int(tcp) == parse_timedelta(dask.config.get("distributed.comm.timeouts.tcp"))
    (ttl,) = _quoted(r"`distributed.scheduler.worker-ttl`, (\d+) minutes by default")
    assert int(ttl) * 60 == parse_timedelta(dask.config.get("distributed.scheduler.worker-ttl"))
    (timeout,) = _quoted(r"After `timeout` seconds \(default (\d+)\) without any worker")
    assert (
        int(timeout) == inspect.signature(compute_backend.__wrapped__).parameters["timeout"].default
    )
