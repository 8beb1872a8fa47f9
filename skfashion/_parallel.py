"""Scikit-learn searches on a Dask cluster that survive the loss of workers.

joblib's own Dask backend scatters each large argument (``X``, ``y``, the
folds' row indices) to one worker; when that worker dies the data is gone and
the whole search fails. Here each large argument becomes a small Dask task
whose definition holds the data, so that the scheduler can compute it again on
any worker that is left, and the fits that were running on a lost worker are
run again elsewhere by Dask. A lost scheduler, or a cluster without workers for
``timeout`` seconds, ends the call with :class:`ClusterLostError`.
"""

import asyncio
import concurrent.futures
import contextlib
import functools
import time
import uuid
from numbers import Integral

_INSTALL_HINT = "pip install 'skfashion[dask]'"
# Arguments larger than this travel once per call as a task of their own (joblib's rule).
_INLINE_BYTES = 1_000
# How often a running call asks the scheduler whether any worker is left.
_WATCH_SECONDS = 0.5


class ClusterLostError(ConnectionError):
    """The Dask cluster can no longer run the fits: its scheduler, or every worker, is gone.

    Parameters
    ----------
    what : str
        What happened, naming the scheduler's address.
    address : str
        The scheduler's address.
    n_finished : int
        Fits of the interrupted call that had finished before the loss.
    kept : str, default=None
        What was kept of the work, and how to go on; by default that of a
        scikit-learn search, which keeps nothing.
    """

    def __init__(self, what, *, address, n_finished, kept=None):
        if kept is None:
            kept = (
                f"{n_finished} fit(s) of this search had finished; scikit-learn keeps no "
                "partial results of a search, so none of them was kept. Start the scheduler "
                "and workers again, then run the search again."
            )
        super().__init__(f"{what}. {kept}")
        self.what, self.address, self.n_finished = what, address, n_finished


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
        Seconds to wait for the connection to ``scheduler``, and for a
        worker when the cluster has none left during a search.
    scatter : list of array-like, default=None
        Data to send to the cluster once for the whole block, for blocks that
        run several searches on the same ``X`` and ``y``. Without it, each
        large argument is still sent once per search, not once per fit.

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
    ClusterLostError
        (a :class:`ConnectionError`) From a search in the block, when the
        scheduler is lost, or when no worker is left for ``timeout`` seconds.
        The loss of some workers is survived: their fits run again on the
        others, and the results equal those of an undisturbed run.

    See Also
    --------
    skfashion.report.epoch_curve : Per-epoch curves over folds, parallel over folds.
    sklearn.model_selection.GridSearchCV : The search this fans out.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skfashion import FashionMLP, compute_backend, fetch_fashion_mnist
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> search = GridSearchCV(FashionMLP(epochs=2, random_state=0),
    ...                       {"hidden_layer_sizes": ["smaller", "baseline"]}, cv=2, n_jobs=-1)
    >>> with compute_backend(n_workers=2) as client:  # doctest: +SKIP
    ...     search.fit(X[:2000], y[:2000])
    """
    _check_arguments(scheduler, n_workers, timeout)
    distributed = _import_distributed()
    import joblib

    after_loss = contextlib.ExitStack()
    with after_loss, contextlib.ExitStack() as stack:
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
        backend = _backend_class()(client, scatter=scatter, worker_timeout=timeout)
        stack.enter_context(joblib.parallel_backend(backend))
        try:
            yield client
        except ClusterLostError:
            # The error says it all; closing a client that lost its scheduler logs tracebacks.
            after_loss.enter_context(_silenced("distributed.client"))
            raise


@contextlib.contextmanager
def _silenced(name):
    import logging

    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


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


class _Data:
    """An argument wrapped so that Dask ships it as it is, without looking inside."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _unwrap(data):
    return data.value


def _data_future(client, value):
    """A task that returns ``value``: any worker can compute it again from its definition."""
    import dask

    # Holding the data in the task's definition is the point here, not a slip.
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 PiB"}):
        return client.submit(_unwrap, _Data(value), key=f"skfashion-data-{uuid.uuid4().hex}")


@functools.cache
def _backend_class():
    """joblib's Dask backend with recoverable data and clear failures (built on first use)."""
    from dask.sizeof import sizeof
    from joblib._dask import Batch, DaskDistributedBackend
    from joblib._utils import _TracebackCapturingWrapper

    class ResilientDaskBackend(DaskDistributedBackend):
        def __init__(self, client, *, scatter=None, worker_timeout=10, **submit_kwargs):
            super().__init__(client=client, **submit_kwargs)
            self.worker_timeout = worker_timeout
            self._block_data = {id(x): (x, _data_future(client, x)) for x in scatter or ()}
            self._call, self._call_data, self._n_fits, self._finished = 0, {}, {}, 0

        def start_call(self):
            self._call += 1
            self._call_data, self._n_fits, self._finished = {}, {}, 0
            self.client.loop.add_callback(self._collect, self._call)
            self.client.loop.add_callback(self._watch_workers, self._call)

        def stop_call(self):
            self._call += 1
            self._forget_pending()
            self._call_data = {}

        def abort_everything(self, ensure_ready=True):
            super().abort_everything(ensure_ready)
            self._forget_pending()

        def _forget_pending(self):
            # Dropping the futures releases their tasks on the cluster.
            self._results, self._callbacks, self._n_fits = {}, {}, {}

        def _recoverable(self, value):
            if sizeof(value) <= _INLINE_BYTES:
                return value
            for store in (self._block_data, self._call_data):
                if id(value) in store:
                    return store[id(value)][1]
            future = _data_future(self.client, value)
            self._call_data[id(value)] = (value, future)  # the value too: its id stays its own
            return future

        def submit(self, func, callback=None):
            cf_future = concurrent.futures.Future()
            cf_future.get = cf_future.result
            self.client.loop.add_callback(self._submit, func, callback, cf_future)
            return cf_future

        async def _submit(self, func, callback, cf_future):
            try:
                tasks = [
                    (
                        f,
                        [self._recoverable(a) for a in args],
                        {k: self._recoverable(v) for k, v in kwargs.items()},
                    )
                    for f, args, kwargs in func.items
                ]
                batch = Batch(tasks)
                future = self.client.submit(
                    _TracebackCapturingWrapper(batch),
                    tasks=tasks,
                    key=f"{batch!r}-{uuid.uuid4().hex}",
                    **self.submit_kwargs,
                )
            except Exception as exc:
                _settle(cf_future, callback, self._lost(exc))
                return
            self._results[future], self._callbacks[future] = cf_future, callback
            self._n_fits[future] = len(tasks)
            self.waiting_futures.add(future)

        async def _collect(self, call):
            while self._call == call:
                async for future, result in self.waiting_futures:
                    if future not in self._results:  # the call ended or failed already
                        continue
                    cf_future, callback = self._results.pop(future), self._callbacks.pop(future)
                    n_fits = self._n_fits.pop(future)
                    if future.status == "error":
                        result = result[1]  # (type, exception, traceback)
                    elif isinstance(result, concurrent.futures.CancelledError):
                        result = self._lost(result)
                    else:
                        self._finished += n_fits
                    _settle(cf_future, callback, result)
                await asyncio.sleep(0.01)

        async def _watch_workers(self, call):
            alone_since = None
            while self._call == call:
                await asyncio.sleep(_WATCH_SECONDS)
                try:
                    workers = await self.client.scheduler.ncores()
                except Exception:  # a lost scheduler cancels the futures: _collect reports it
                    continue
                if workers or not self._results:
                    alone_since = None
                    continue
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since >= self.worker_timeout and self._call == call:
                    self._fail_pending(self._lost(None))

        def _fail_pending(self, error):
            pending = [(self._results[f], self._callbacks[f]) for f in self._results]
            self._forget_pending()
            for cf_future, callback in pending:
                _settle(cf_future, callback, error)

        def _lost(self, cause):
            address = self.client.scheduler.address
            if cause is None:
                what = (
                    f"The Dask cluster at {address!r} has had no worker for "
                    f"{self.worker_timeout:g} s"
                )
            elif getattr(cause, "reason", None) == "scheduler-connection-lost":
                what = f"Lost the connection to the Dask scheduler at {address!r}"
            else:
                what = f"The Dask cluster at {address!r} could not run a fit ({cause})"
            return ClusterLostError(what, address=address, n_finished=self._finished)

    return ResilientDaskBackend


def _settle(cf_future, callback, result):
    """Hand a batch's result, or the error to raise instead, to joblib."""
    cf_future.set_result(result)
    if callback is not None:
        callback(result)
