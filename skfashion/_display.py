"""How skfashion's results show in Jupyter: styled tables and an inline study result.

The report functions return plain pandas DataFrames. :func:`mark` tags one
with its kind in ``DataFrame.attrs``; in a Jupyter kernel the first tagged
frame registers an HTML formatter for DataFrames that styles tagged frames
(verdict coloured, best row marked with ★ and in bold) and hands every other
frame to pandas' own HTML, unchanged. Styling is for display only: the data,
``repr`` and ``to_csv`` of a frame stay what they were.

Nothing heavy is imported here: pandas and IPython are used only once a
frame is shown.
"""

import base64
import html
import sys
from pathlib import Path

ATTR = "skfashion"
"""The ``DataFrame.attrs`` key that holds a frame's kind."""

KINDS = ("history", "comparison", "search", "validation_curve", "learning_curve", "study")

BEST_MARK = "★"
VERDICT_STYLES = {
    "good fit": "background-color: #d1f0d9; color: #14532d",
    "overfitting": "background-color: #f9d3d6; color: #7f1d1d",
    "underfitting": "background-color: #fdefc3; color: #713f12",
    "diverged": "background-color: #e2e3e5; color: #374151",
}
BEST_ROW_STYLE = "font-weight: bold"
BEST_LABEL_STYLE = "font-weight: bold; border-left: 3px solid #2563eb"
_PRECISION = 3


def mark(frame, kind):
    """Tag ``frame`` as a table of ``kind`` for rich display, and return it.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table made by :mod:`skfashion.report` or :mod:`skfashion.study`.
    kind : {"history", "comparison", "search", "validation_curve", "learning_curve", "study"}
        What the rows are: epochs, models, search candidates, parameter
        values, training sizes or the models of a study.

    Returns
    -------
    frame : pandas.DataFrame
        The same object, with ``frame.attrs["skfashion"] = kind``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfashion._display import mark
    >>> frame = mark(pd.DataFrame({"verdict": ["good fit"]}), "comparison")
    >>> frame.attrs
    {'skfashion': 'comparison'}
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    frame.attrs[ATTR] = kind
    register_formatter()
    return frame


def best_rows(frame, kind):
    """Positions of the rows a table of ``kind`` marks as best (possibly none)."""
    import numpy as np

    def highest(column):
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        return [] if np.isnan(values).all() else [int(np.nanargmax(values))]

    columns = frame.columns
    if frame.index.nlevels > 1:  # several models' tables in one: no single best row
        return []
    if kind == "history":
        for column, best in (("val_loss", np.nanargmin), ("val_accuracy", np.nanargmax)):
            if column in columns:
                values = frame[column].to_numpy(dtype=float)
                return [] if np.isnan(values).all() else [int(best(values))]
        return []
    if kind == "search" and "rank_test_score" in columns:
        return [int(i) for i in np.flatnonzero(frame["rank_test_score"].to_numpy() == 1)]
    if kind == "validation_curve" and "best" in columns:
        return [int(i) for i in np.flatnonzero(frame["best"].to_numpy(dtype=bool))]
    for column in ("test_accuracy", "best_val_accuracy", "mean_test_score"):
        if kind in ("comparison", "study", "search") and column in columns:
            return highest(column)
    return []


def style(frame, kind=None):
    """A pandas Styler of a result table: verdicts coloured, best rows marked.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table of :mod:`skfashion.report`.
    kind : str, default=None
        One of :data:`KINDS`; read from ``frame.attrs`` when None.

    Returns
    -------
    styler : pandas.io.formats.style.Styler
        Every label and value HTML-escaped; floats with 3 decimals.
    """
    kind = kind or frame.attrs.get(ATTR)
    best = {frame.index[position] for position in best_rows(frame, kind)}

    def index_label(label):
        text = html.escape(str(label))
        return f"{text} {BEST_MARK}" if label in best else text

    def row_style(row):
        return [BEST_ROW_STYLE if row.name in best else ""] * len(row)

    styler = frame.style.format(precision=_PRECISION, escape="html", na_rep="–")
    styler = styler.format_index(index_label, axis=0)
    styler = styler.format_index(escape="html", axis=1)
    if best:
        styler = styler.apply(row_style, axis=1)
        styler = styler.apply_index(
            lambda labels: [BEST_LABEL_STYLE if label in best else "" for label in labels], axis=0
        )
    if "verdict" in frame.columns:
        styler = styler.map(lambda value: VERDICT_STYLES.get(value, ""), subset=["verdict"])
    return styler


def frame_html(frame):
    """The HTML of a DataFrame in Jupyter: styled if :func:`mark` tagged it, pandas' otherwise."""
    kind = frame.attrs.get(ATTR)
    if kind in KINDS:
        try:
            return style(frame, kind).to_html()
        except ImportError:  # the Styler needs jinja2
            pass
    return _PANDAS_HTML(frame)


def _pandas_html(frame):
    return frame._repr_html_()


_PANDAS_HTML = _pandas_html
_REGISTERED = []


def register_formatter(shell=None):
    """Show tagged DataFrames styled in this IPython kernel; return whether it is registered.

    Does nothing outside IPython, and registers once per shell.
    """
    global _PANDAS_HTML
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or any(registered is shell for registered in _REGISTERED):
        return shell is not None
    import pandas as pd

    formatter = shell.display_formatter.formatters["text/html"]
    previous = formatter.for_type(pd.DataFrame, frame_html)
    if previous is not None and previous is not frame_html:
        _PANDAS_HTML = previous
    _REGISTERED.append(shell)
    return True


# ------------------------------------------------------------------------------ study result
def study_result_html(result):
    """The HTML of a :class:`skfashion.study.StudyResult` in Jupyter.

    Its summary table (styled), the report folder and every figure the study
    wrote, embedded as PNG so that the notebook shows them wherever it is
    opened. The words are in the study's language.

    Parameters
    ----------
    result : StudyResult

    Returns
    -------
    html : str
    """
    from ._i18n import text

    lang = result.settings.get("lang", "en")
    parts = [
        '<div class="skfashion-study">',
        f"<h3>{html.escape(text(lang, 'notebook.study_heading'))}</h3>",
        "<p>"
        + html.escape(
            text(
                lang,
                "notebook.study_line",
                models=", ".join(map(str, result.models)),
                seconds=f"{result.run_time:.0f}",
            )
        )
        + "</p>",
    ]
    if result.out is not None:
        report = Path(result.out) / "report.html"
        parts.append(
            f"<p>{html.escape(text(lang, 'notebook.study_report'))} "
            f"<code>{html.escape(str(report))}</code></p>"
        )
    summary = result.summary_frame()
    summary.attrs[ATTR] = "study"
    parts.append(frame_html(summary))
    for path in result.files:
        path = Path(path)
        if path.suffix.lower() == ".png" and path.is_file():
            parts.append(_figure_html(path))
    parts.append("</div>")
    return "\n".join(parts)


def _figure_html(path):
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (
        '<figure style="margin: 0.5em 0">'
        f'<img src="data:image/png;base64,{data}" alt="{name}" style="max-width: 100%">'
        f"<figcaption><code>{name}</code></figcaption></figure>"
    )
