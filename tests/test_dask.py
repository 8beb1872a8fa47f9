"""Searches on a real dask.distributed cluster: processes, threads, data shipping, equality."""

import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
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
        # Taking a FashionMLP makes the worker import TensorFlow while unpickling the task.
        import tensorflow as tf

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


def test_compute_backend_starts_and_closes_a_local_cluster(small_xy):
    X, y = small_xy
    estimator = FashionMLP(epochs=2, random_state=0)
    expected = report.epoch_curve(estimator, X, y, cv=2)
    with compute_backend(n_workers=2, scatter=[X, y]) as client:
        workers = client.scheduler_info()["workers"].values()
        assert sorted(w["nthreads"] for w in workers) == [1, 1]
        assert isinstance(joblib.parallel.get_active_backend()[0], DaskDistributedBackend)
        pids = list(client.run(os.getpid).values())
        with BENCH.record_task_bytes(client) as first:
            frame = report.epoch_curve(estimator, X, y, cv=2, n_jobs=-1)
        with BENCH.record_task_bytes(client) as second:
            report.epoch_curve(estimator, X, y, cv=2, n_jobs=-1)
    pd.testing.assert_frame_equal(frame, expected)
    # scatter=[X, y]: sent once for the block, not again by each call
    for sizes in (first, second):
        fit_bytes, data_bytes = BENCH.fit_and_data_bytes(sizes)
        assert len(fit_bytes) >= 2 and max(fit_bytes) < X.nbytes / 20
        assert max(data_bytes, default=0) < X.nbytes / 2  # the folds' indices only
    assert client.status == "closed"
    assert _wait_until_gone(pids) == []
    assert not isinstance(joblib.parallel.get_active_backend()[0], DaskDistributedBackend)


def test_threads_are_set_when_the_script_imported_tensorflow_first(tmp_path):
    # Spawned worker processes re-import the user's script, TensorFlow included, before
    # their worker exists; the threads must still follow the worker.
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os
            from skfashion import FashionMLP
            from skfashion._parallel import compute_backend

            def threads(estimator):
                import tensorflow as tf
                return [tf.config.threading.get_intra_op_parallelism_threads(),
                        tf.config.threading.get_inter_op_parallelism_threads()]

            if __name__ == "__main__":
                with compute_backend(n_workers=1) as client:
                    before = client.run(lambda: __import__("sys").modules.get("tensorflow")
                                        is not None)
                    after = client.submit(threads, FashionMLP(), pure=False).result()
                print(json.dumps({"imported_at_start": list(before.values()), "threads": after}))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "SKFASHION_THREADS"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"imported_at_start": [True], "threads": [1, 1]}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_fast_and_names_the_address():
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(OSError, match=f"Could not connect to the Dask scheduler at '{address}'"):
        with compute_backend(scheduler=address, timeout=2):
            pass
    assert time.monotonic() - start < 8


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
    start = time.monotonic()
    with pytest.raises(OSError, match="Could not connect to the Dask scheduler at"):
        with compute_backend(scheduler=web_server, timeout=2):
            pass
    assert time.monotonic() - start < 8


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
# A scheduler and three single-threaded workers started as `dask scheduler` and `dask worker`
# would be on machines of their own (here on loopback), without nannies: a killed worker stays
# dead. A worker plugin kills a process from inside the cluster when a chosen fit starts, so
# that the loss happens during the search every time, not by a race with the test.

FAILURE_GRID = {"hidden_layer_sizes": [(8,), (16,), (32,)], "dropout": [0.0, 0.2]}
N_FITS = 6 * 3


def _dask_command(*args):
    return [sys.executable, "-m", "dask", *args]


@pytest.fixture
def cli_cluster(tmp_path):
    """A `dask scheduler` and three `dask worker --nthreads 1` processes on 127.0.0.1."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env["SKFASHION_THREADS"] = "1"
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            _dask_command(
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(scheduler_file),
                *common,
            ),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(3):
            processes.append(
                subprocess.Popen(
                    _dask_command(
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--name",
                        f"worker-{i}",
                        *common,
                    ),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(3, timeout=90)
        yield address, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def _kill_when_fit_starts(client, tmp_path, victim, nth_fit):
    """From inside the cluster: SIGKILL ``victim`` once, as the ``nth_fit`` fit task starts.

    ``victim`` is "worker" (the worker starting that fit kills itself), "workers" (every
    worker kills itself as it starts a fit, from the ``nth_fit`` on) or a process id.
    Each kill writes ``{"pid", "key", "time"}`` to a file named kill-<pid>.json.
    """
    folder = str(tmp_path / "kills")
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


def _kills(folder):
    return [json.loads(path.read_text()) for path in sorted(folder.glob("kill-*.json"))]


def _failure_search(n_jobs):
    return GridSearchCV(
        FashionMLP(epochs=1, random_state=0), FAILURE_GRID, cv=3, refit=False, n_jobs=n_jobs
    )


@pytest.fixture(scope="module")
def search_xy(fashion_train):
    return fashion_train.data[:1500], fashion_train.target[:1500]


@pytest.mark.slow
def test_search_survives_a_worker_killed_during_a_fit(cli_cluster, search_xy, tmp_path):
    address, processes = cli_cluster
    X, y = search_xy
    serial = _failure_search(n_jobs=None).fit(X, y)
    with distributed.Client(address) as watcher:
        worker_pids = set(watcher.run(os.getpid).values())
        kills = _kill_when_fit_starts(watcher, tmp_path, "worker", nth_fit=5)
        with (
            compute_backend(scheduler=address) as client,
            distributed.get_task_stream(client) as stream,
        ):
            search = _failure_search(n_jobs=-1).fit(X, y)
        left = set(watcher.run(os.getpid).values())
        watcher.unregister_worker_plugin("kill-during-fit")

    (kill,) = _kills(kills)  # exactly one worker died, during a fit
    assert kill["pid"] in worker_pids and left == worker_pids - {kill["pid"]}
    finished = [t for t in stream.data if "_fit_and_score" in t["key"]]
    keys = [t["key"] for t in finished]
    assert len(keys) == len(set(keys))  # each fit task finished once
    rerun = [t for t in finished if t["key"] == kill["key"]]
    assert len(rerun) == 1  # the fit that was running on the lost worker ran again elsewhere
    timings = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}
    assert set(search.cv_results_) == set(serial.cv_results_)
    for column in set(serial.cv_results_) - timings:
        expected, got = serial.cv_results_[column], search.cv_results_[column]
        if column == "params":
            assert got == expected
        else:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(expected), err_msg=column)
    assert serial.cv_results_["mean_test_score"].min() > 0.2


@pytest.mark.slow
def test_a_killed_scheduler_ends_the_search_with_a_clear_error(cli_cluster, search_xy, tmp_path):
    address, processes = cli_cluster
    X, y = search_xy
    with distributed.Client(address) as watcher:
        kills = _kill_when_fit_starts(watcher, tmp_path, processes[0].pid, nth_fit=3)
    with pytest.raises(ClusterLostError) as error:
        with compute_backend(scheduler=address):
            _failure_search(n_jobs=-1).fit(X, y)
    raised = time.time()
    (kill,) = _kills(kills)
    assert kill["pid"] == processes[0].pid and processes[0].wait(timeout=10) == -signal.SIGKILL
    message = str(error.value)
    assert f"Lost the connection to the Dask scheduler at '{address}'" in message
    assert error.value.address == address and f"{error.value.n_finished} fit(s)" in message
    assert 0 <= error.value.n_finished < N_FITS
    assert raised - kill["time"] < 5 + 10  # detection (loopback: at once) + closing the client


@pytest.mark.slow
def test_a_cluster_that_loses_every_worker_ends_the_search_in_time(
    cli_cluster, search_xy, tmp_path
):
    address, processes = cli_cluster
    X, y = search_xy
    with distributed.Client(address) as watcher:
        kills = _kill_when_fit_starts(watcher, tmp_path, "workers", nth_fit=4)
    with pytest.raises(ClusterLostError) as error:
        with compute_backend(scheduler=address, timeout=3):
            _failure_search(n_jobs=-1).fit(X, y)
    raised = time.time()
    assert len(_kills(kills)) == 3 and all(p.poll() is not None for p in processes[1:])
    assert processes[0].poll() is None  # the scheduler runs on
    assert str(error.value).startswith(f"The Dask cluster at '{address}' has had no worker for 3 s")
    assert raised - max(k["time"] for k in _kills(kills)) < 3 + 5
