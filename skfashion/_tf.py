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

    ``SKFASHION_THREADS`` wins; inside a ``dask.distributed`` worker, the worker's
    own thread count, so that N single-threaded workers on N cores do not
    oversubscribe them.
    """
    value = os.environ.get("SKFASHION_THREADS")
    if value:
        return max(1, int(value))
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker

            return max(1, get_worker().state.nthreads)
        except (ValueError, AttributeError, ImportError):
            return None
    return None


def import_tensorflow():
    """Import and return ``(tensorflow, keras)`` without TensorFlow's start-up noise.

    Set ``SKFASHION_TF_LOGS=1`` to see TensorFlow's own log output.
    """
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["tensorflow"], sys.modules["keras"]
    verbose_logs = os.environ.get("SKFASHION_TF_LOGS", "") not in ("", "0")
    for key, value in _QUIET_ENV.items():
        if not (verbose_logs and key == "TF_CPP_MIN_LOG_LEVEL"):
            os.environ.setdefault(key, value)
    quiet = contextlib.nullcontext() if verbose_logs else _silenced_stderr()
    with quiet:
        import keras
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        threads = worker_threads()
        if threads is not None:
            with contextlib.suppress(RuntimeError):  # runtime already initialised
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
        # Initialise the runtime (device discovery prints C++ notes) while silenced.
        tf.config.list_logical_devices()
        tf.zeros(1)
    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"skfashion needs Keras' TensorFlow backend, but KERAS_BACKEND is "
            f"{keras.backend.backend()!r}. Unset KERAS_BACKEND or set it to 'tensorflow'."
        )
    return tf, keras
