"""Scikit-learn searches on a Dask cluster through joblib's Dask backend."""

import asyncio
import concurrent.futures
import contextlib
from numbers import Integral

_INSTALL_HINT = "pip install 'skfashion[dask]'"


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "Running searches on a Dask cluster needs dask.distributed, which is not "
            f"installed. Install it with: {_INSTALL_HINT}"
        ) from exc
    return distributed


def _check_arguments(scheduler, n_workers, timeout):
    if scheduler is not None and n_workers is not None:
        raise ValueError(
            "Pass either scheduler (the address of a running Dask scheduler) or n_workers "
            f"(workers of a new local cluster), not both; got scheduler={scheduler!r} and "
            f"n_workers={n_workers!r}."
        )
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(
            f"scheduler must be an address string such as 'tcp://10.0.0.5:8786', got "
            f"{type(scheduler).__name__}: {scheduler!r}."
        )
    if n_workers is not None and (
        isinstance(n_workers, bool) or not isinstance(n_workers, Integral) or n_workers < 1
    ):
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}.")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")


def _probe_scheduler(address, timeout):
    """Raise unless a Dask scheduler answers at ``address`` within ``timeout`` seconds.

    ``distributed.Client`` waits forever for the handshake of a server that
    accepts the connection but does not answer, and fails with a MemoryError
    on one that answers something else (a web server, such as the dashboard).
    """
    from distributed.comm import connect

    async def handshake():
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    # A thread of its own, so that it works under a running event loop (Jupyter) too.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, handshake()).result()
        except ValueError as exc:
            raise ValueError(
                f"{address!r} is not a Dask scheduler address; use the form "
                f"'tcp://HOST:8786'. ({exc})"
            ) from exc
        except (TimeoutError, OSError) as exc:
            raise OSError(
                f"Could not connect to the Dask scheduler at {address!r} within {timeout:g} s. "
                "Check that `dask scheduler` runs there and that its port is reachable from "
                "this machine."
            ) from exc
        except Exception as exc:
            raise OSError(
                f"Something answered at {address!r}, but it is not a Dask scheduler. "
                "Use the scheduler's address (port 8786 by default), not its dashboard's."
            ) from exc


def _connect(distributed, address, timeout):
    _probe_scheduler(address, timeout)
    try:
        return distributed.Client(address, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        raise OSError(
            f"Could not connect to the Dask scheduler at {address!r} within {timeout:g} s."
        ) from exc


@contextlib.contextmanager
def compute_backend(scheduler=None, n_workers=None, *, timeout=10, scatter=None):
    """Run scikit-learn's parallel work (searches, CV, epoch curves) on a Dask cluster.

    Inside the ``with`` block, joblib's ``"dask"`` backend is active, so
    ``GridSearchCV(..., n_jobs=-1)``, ``cross_validate``,
    ``validation_curve`` and :func:`skfashion.report.epoch_curve` with
    ``n_jobs=-1`` send each fit to a Dask worker, without other changes to
    the code. Each worker process sets TensorFlow's threads to its own thread
    count. On exit, everything the block started is closed: the client, and
    the local cluster when ``n_workers`` started one. A cluster reached through
    ``scheduler`` keeps running.

    Parameters
    ----------
    scheduler : str, default=None
        Address of a running Dask scheduler, such as ``"tcp://10.0.0.5:8786"``.
    n_workers : int, default=None
        Start a local cluster of this many worker processes with one thread
        each (``LocalCluster(n_workers, threads_per_worker=1, processes=True)``).
        When neither ``scheduler`` nor ``n_workers`` is given, one worker per
        CPU core.
    timeout : float, default=10
        Seconds to wait for the connection to ``scheduler``.
    scatter : list of array-like, default=None
        Data to send to every worker once at the start, for blocks that run
        several searches on the same ``X`` and ``y``. Without it, joblib
        still sends each large argument once per search, not once per fit.

    Yields
    ------
    client : distributed.Client
        The client, for its dashboard link or anything else Dask offers.

    Raises
    ------
    ImportError
        When dask.distributed is not installed.
    OSError
        When the scheduler cannot be reached within ``timeout`` seconds.

    See Also
    --------
    skfashion.report.epoch_curve : Per-epoch curves over folds, parallel over folds.
    sklearn.model_selection.GridSearchCV : The search this fans out.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skfashion import FashionMLP, fetch_fashion_mnist
    >>> from skfashion._parallel import compute_backend
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> search = GridSearchCV(FashionMLP(epochs=2, random_state=0),
    ...                       {"hidden_layer_sizes": ["smaller", "baseline"]}, cv=2, n_jobs=-1)
    >>> with compute_backend(n_workers=2) as client:  # doctest: +SKIP
    ...     search.fit(X[:2000], y[:2000])
    """
    _check_arguments(scheduler, n_workers, timeout)
    distributed = _import_distributed()
    import joblib

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(_connect(distributed, scheduler, timeout))
        else:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n_workers or joblib.cpu_count(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        _start_tensorflow_on_workers(client, stack, distributed)
        backend = {"scatter": list(scatter)} if scatter is not None else {}
        stack.enter_context(joblib.parallel_backend("dask", **backend))
        yield client


_PLUGIN_NAME = "skfashion-tensorflow-threads"


def _start_tensorflow_on_workers(client, stack, distributed):
    """Start TensorFlow's runtime on each worker that imported it before the worker existed.

    A local cluster's worker processes re-import the user's script (so TensorFlow,
    with ``from skfashion import FashionMLP`` at its top) before their worker
    exists; :func:`skfashion._tf.import_tensorflow` then leaves the runtime, whose
    thread counts are fixed once it starts, for later. This plugin starts it as
    soon as the worker runs, before any task can touch TensorFlow.
    """

    class StartTensorFlow(distributed.WorkerPlugin):
        def setup(self, worker):
            import sys

            if "skfashion._tf" in sys.modules:
                sys.modules["skfashion._tf"].import_tensorflow()

    client.register_plugin(StartTensorFlow(), name=_PLUGIN_NAME)
    # A cluster this block did not start keeps running: leave no plugin behind on it.
    stack.callback(_unregister_quietly, client, _PLUGIN_NAME)


def _unregister_quietly(client, name):
    if client.status == "running":
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(name)


def _record_task_bytes(client):
    """Context manager measuring the pickled size of every task submitted while it is open.

    Yields a list that, on exit, holds one size in bytes per task: what the
    scheduler stores and ships to a worker for that task, data it references
    by key (scattered arrays) not included.
    """
    return _TaskBytes(client)


class _TaskBytes:
    name = "skfashion-task-bytes"

    def __init__(self, client):
        self.client, self.sizes = client, []

    def __enter__(self):
        from distributed.diagnostics.plugin import SchedulerPlugin

        class TaskBytesPlugin(SchedulerPlugin):
            def __init__(self):
                self.sizes = []

            def update_graph(self, scheduler, *, tasks, **kwargs):
                import pickle

                import cloudpickle

                for key in tasks:
                    task = scheduler.tasks.get(key)
                    if task is not None and task.run_spec is not None:
                        spec = cloudpickle.dumps(task.run_spec, protocol=pickle.HIGHEST_PROTOCOL)
                        self.sizes.append(len(spec))

        self.client.register_plugin(TaskBytesPlugin(), name=self.name)
        return self.sizes

    def __exit__(self, *exc_info):
        def collect(dask_scheduler, name=self.name):
            return dask_scheduler.plugins.pop(name).sizes

        self.sizes.extend(self.client.run_on_scheduler(collect))
        return False
