"""Writing report tables to disk atomically."""

from pathlib import Path

import pandas as pd

from .._files import atomic_write


def _to_markdown(frame):
    return frame.to_markdown() + "\n"


def _to_html(frame):
    return frame.to_html() + "\n"


_WRITERS = {
    ".csv": pd.DataFrame.to_csv,
    ".md": _to_markdown,
    ".markdown": _to_markdown,
    ".html": _to_html,
    ".htm": _to_html,
}


def save_table(frame, path):
    """Write a table as CSV, Markdown or HTML, chosen by the file suffix.

    ``path`` is either the complete new table or left as it was: never half
    written, also when formatting or writing fails.

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.Series
        The table; its index is written too.
    path : str or os.PathLike
        Destination ending in ``.csv``, ``.md`` (or ``.markdown``) or
        ``.html`` (or ``.htm``), case-insensitive. Markdown needs the
        ``tabulate`` package.

    Returns
    -------
    path : pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If the suffix is none of those.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skfashion.report import history_frame, save_table
    >>> frame = history_frame({"loss": [0.9, 0.5], "accuracy": [0.7, 0.83]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     print(save_table(frame, pathlib.Path(folder) / "history.csv").read_text())
    epoch,loss,accuracy
    1,0.9,0.7
    2,0.5,0.83
    <BLANKLINE>
    """
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(
            f"Cannot tell the table format of {str(path)!r} from its suffix "
            f"{path.suffix!r}; use one of {sorted(_WRITERS)}."
        )
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    text = writer(frame)
    with atomic_write(path, newline="") as file:
        file.write(text)
    return path
