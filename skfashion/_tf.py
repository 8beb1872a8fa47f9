"""The one place that imports TensorFlow and Keras: quietly, once, with sane threads."""

import contextlib
import os
import sys

_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # C++ INFO and WARNING lines (oneDNN notes, CUDA probes)
    "KERAS_BACKEND": "tensorflow",
}


@contextlib.contextmanager
def _silenced_stderr():
    """Silence file descriptor 2 itself: TensorFlow's C++ layer writes there directly."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def worker_threads():
    """Number of threads TensorFlow should use in this process, or None for its default.

    ``SKFASHION_THREADS`` wins; inside a ``dask.distributed`` worker process, the
    worker's own thread count, so that N single-threaded workers on N cores do
    not oversubscribe them.
    """
    value = os.environ.get("SKFASHION_THREADS")
    if value:
        return max(1, int(value))
    if "distributed" in sys.modules:
        return _dask_worker_threads()
    return None


def _dask_worker_threads():
    try:
        from distributed import Worker, get_worker
    except ImportError:
        return None
    try:
        return max(1, get_worker().state.nthreads)
    except (ValueError, AttributeError):
        pass
    # A task's arguments (a FashionMLP, hence TensorFlow's import) are unpickled on the
    # worker's event loop, where get_worker() sees no task: ask the workers living in
    # this process instead (one per process, unless started with processes=False).
    workers = list(getattr(Worker, "_instances", ()))
    if not workers:
        return None
    return max(1, sum(worker.state.nthreads for worker in workers))


def _awaiting_dask_worker():
    """True while a process spawned by a Dask nanny imports the user's script, before its
    worker exists: the thread count is not known yet."""
    import multiprocessing

    if not multiprocessing.current_process().name.startswith("Dask Worker process"):
        return False
    worker_cls = getattr(sys.modules.get("distributed"), "Worker", None)
    return not getattr(worker_cls, "_instances", None)


def _verbose_logs():
    return os.environ.get("SKFASHION_TF_LOGS", "") not in ("", "0")


def _quietly():
    return contextlib.nullcontext() if _verbose_logs() else _silenced_stderr()


_runtime_started = False


def _start_runtime(tf):
    """Set the thread counts, then start TensorFlow's runtime (after which they are fixed)."""
    global _runtime_started
    _runtime_started = True
    threads = worker_threads()
    with _quietly():
        if threads is not None:
            with contextlib.suppress(RuntimeError):  # started already by someone else
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
        # Device discovery prints C++ notes (CUDA probes): let it happen while silenced.
        tf.config.list_logical_devices()
        tf.zeros(1)


def import_tensorflow():
    """Import and return ``(tensorflow, keras)`` without TensorFlow's start-up noise.

    The first call also sets TensorFlow's intra- and inter-op threads to
    :func:`worker_threads` and starts its runtime; in a Dask worker process
    that imported TensorFlow before its worker existed (a script importing
    skfashion at the top, re-imported by the spawned process), this waits for
    the first call made once the worker runs.

    Set ``SKFASHION_TF_LOGS=1`` to see TensorFlow's own log output.
    """
    if "keras" not in sys.modules or "tensorflow" not in sys.modules:
        for key, value in _QUIET_ENV.items():
            if not (_verbose_logs() and key == "TF_CPP_MIN_LOG_LEVEL"):
                os.environ.setdefault(key, value)
        with _quietly():
            import keras
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
        if keras.backend.backend() != "tensorflow":
            raise ImportError(
                f"skfashion needs Keras' TensorFlow backend, but KERAS_BACKEND is "
                f"{keras.backend.backend()!r}. Unset KERAS_BACKEND or set it to 'tensorflow'."
            )
    tf, keras = sys.modules["tensorflow"], sys.modules["keras"]
    if not _runtime_started and not _awaiting_dask_worker():
        _start_runtime(tf)
    return tf, keras
