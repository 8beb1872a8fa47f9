"""Writing files so that a reader never sees half of one."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kwargs):
    """Open a temporary file beside ``path``; move it into place only if the block succeeds.

    ``path`` is either the complete new file or left as it was, also after an
    error, Ctrl-C or a full disk; the temporary file never outlives the block.
    Two writers of the same path do not mix: the last one to finish wins whole.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Its folder must exist.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    **open_kwargs
        Passed to :func:`open` (``encoding`` defaults to UTF-8 in text mode).

    Yields
    ------
    file : file object
        The open temporary file.

    Raises
    ------
    OSError
        Naming ``path`` when it cannot be written (missing folder, no
        permission, no space left).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, mode, **open_kwargs) as file:
            yield file
        os.chmod(temporary, 0o644 & ~_umask())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and str(path) not in str(exc):
            raise _naming(exc, path) from exc
        raise


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path`` as a Path."""
    with atomic_write(path) as file:
        file.write(text)
    return Path(path)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; return ``path`` as a Path."""
    with atomic_write(path, "wb") as file:
        file.write(data)
    return Path(path)


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def _naming(exc, path):
    """The same kind of OSError, with a message that names the file and the fix."""
    reason = exc.strerror or str(exc)
    return type(exc)(
        exc.errno,
        f"Cannot write {path}: {reason}. Nothing was written there; free space or choose "
        "another folder, then run again.",
    )
