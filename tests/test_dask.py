"""Searches on a real dask.distributed cluster: processes, threads, data shipping, equality."""

import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from skfashion import FashionMLP, report  # noqa: E402
from skfashion._parallel import _record_task_bytes, compute_backend  # noqa: E402

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
        joblib.parallel_backend("dask"),
        distributed.get_task_stream(client) as tasks,
        _record_task_bytes(client) as task_bytes,
    ):
        search.fit(X, y)

    for key in SCORES:
        np.testing.assert_array_equal(search.cv_results_[key], serial.cv_results_[key])
    assert serial.cv_results_["mean_test_score"].min() > 0.2  # learned something: chance is 0.1
    fits = [t for t in tasks.data if "_fit_and_score" in t["key"]]
    assert len(fits) >= 2 and len({t["worker"] for t in fits}) == 2
    # X (470 kB) travels by reference: each task carries the estimator and fold indices only.
    assert len(task_bytes) >= len(fits)
    assert max(task_bytes) < X.nbytes / 20


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
        assert type(joblib.parallel.get_active_backend()[0]).__name__ == "DaskDistributedBackend"
        pids = list(client.run(os.getpid).values())
        # scatter=[X, y]: both arrays on both workers before any search starts
        held = client.run(lambda dask_worker: sorted(v.nbytes for v in dask_worker.data.values()))
        assert list(held.values()) == [sorted([X.nbytes, y.nbytes])] * 2
        with _record_task_bytes(client) as task_bytes:
            frame = report.epoch_curve(estimator, X, y, cv=2, n_jobs=-1)
    pd.testing.assert_frame_equal(frame, expected)
    assert len(task_bytes) >= 2 and max(task_bytes) < X.nbytes / 20
    assert client.status == "closed"
    assert _wait_until_gone(pids) == []
    assert type(joblib.parallel.get_active_backend()[0]).__name__ != "DaskDistributedBackend"


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
