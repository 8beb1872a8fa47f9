"""Ctrl-C that never lands half-way through TensorFlow, Keras or h5py.

Python turns Ctrl-C into a :class:`KeyboardInterrupt` at whatever line runs
next. Inside TensorFlow's and Keras' Python layers (building variables,
tracing a program, copying weights, writing a ``.keras`` file through h5py)
such a line can leave native state half-updated, and the process has been
seen to abort with glibc's "corrupted size vs. prev_size" while unwinding.

:func:`held` is the remedy: while it is active a first Ctrl-C is only noted,
and :class:`KeyboardInterrupt` is raised where it is safe, at a
:func:`checkpoint` (the training loop has one after each compiled call and
each epoch) or when the outermost :func:`held` block ends. A second Ctrl-C
raises at once, so that a stuck program can still be stopped.

Only Python's own handler is replaced, and only in the main thread: where
another handler is installed (an application's, or SIGINT ignored, as in
pytest-xdist's workers) or the code runs in another thread (a Dask worker's
task), nothing changes. The previous handler is back when the block ends.
"""

import contextlib
import functools
import signal
import threading

_state = threading.local()  # signal handlers run in the main thread: only its state is used


def _on_sigint(signum, frame):
    if getattr(_state, "pending", False):  # pressed again: stop now
        _state.pending = False
        raise KeyboardInterrupt
    _state.pending = True


def checkpoint():
    """Raise the Ctrl-C held since the last checkpoint, if any.

    Raises
    ------
    KeyboardInterrupt
        When Ctrl-C was pressed inside :func:`held`.
    """
    if getattr(_state, "pending", False):
        _state.pending = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def held():
    """Hold a first Ctrl-C until a :func:`checkpoint` or the end of the block.

    Blocks nest: inside an outer block the handler is already this module's,
    so only the outermost one installs and restores it.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):  # another thread, another handler, or inside an outer block
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    _state.pending = False
    failed = True
    try:
        yield
        failed = False
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        pending, _state.pending = _state.pending, False
        if pending and not failed:
            raise KeyboardInterrupt  # the held Ctrl-C, now that the work is whole


def holding(method):
    """Decorate ``method`` so that it runs inside :func:`held`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with held():
            return method(*args, **kwargs)

    return wrapper
