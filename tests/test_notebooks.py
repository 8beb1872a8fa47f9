"""Where the course's students work: rich output in Jupyter, curves that grow while
training, and the exercise notebooks, executed top to bottom in a real kernel."""

import html
import io
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from skfashion import _display, report
from skfashion._live import LiveHistory, progress_bar
from skfashion.study import StudyResult

matplotlib.use("Agg")

# Best validation loss: "baseline" at epoch 3, "bigger" at epoch 2 (then it overfits).
HISTORIES = {
    "baseline": {
        "loss": [0.90, 0.60, 0.50, 0.47],
        "accuracy": [0.70, 0.79, 0.82, 0.83],
        "val_loss": [0.70, 0.55, 0.50, 0.51],
        "val_accuracy": [0.75, 0.80, 0.82, 0.82],
    },
    "bigger": {
        "loss": [0.60, 0.35, 0.25, 0.18, 0.12, 0.08],
        "accuracy": [0.80, 0.87, 0.91, 0.94, 0.96, 0.97],
        "val_loss": [0.48, 0.45, 0.50, 0.58, 0.66, 0.77],
        "val_accuracy": [0.84, 0.86, 0.85, 0.85, 0.84, 0.84],
    },
}
HOSTILE_NAME = '<img src=x onerror="alert(1)"> & "bigger"'


def _body_rows(page):
    """Each <tr> of a table's body: (its header cell, its data cells), tags and all."""
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        header = re.search(r"<th[^>]*>(.*?)</th>", row, re.S).group(1)
        rows.append((header.strip(), re.findall(r"<td ([^>]*)>(.*?)</td>", row, re.S)))
    return rows


def _declarations(css):
    return {part.strip() for part in css.split(";") if part.strip()}


def _css_of(page, element_id):
    """The declarations that the Styler's <style> block gives one element."""
    style = page[page.index("<style") : page.index("</style>")]
    return "".join(
        body
        for selectors, body in re.findall(r"([^{}>]+)\{([^}]*)\}", style)
        if f"#{element_id}" in [selector.strip() for selector in selectors.split(",")]
    )


# ------------------------------------------------------------------------------ styled tables
def test_a_marked_comparison_shows_verdicts_coloured_and_the_best_model_marked():
    histories = {HOSTILE_NAME: HISTORIES["bigger"], "baseline": HISTORIES["baseline"]}
    table = report.compare(histories)
    plain = table.copy()
    _display.mark(table, "comparison")
    page = _display.frame_html(table)

    # the user's model name is text, never markup
    assert html.escape(HOSTILE_NAME) in page
    assert "<img" not in page and 'onerror="' not in page
    rows = _body_rows(page)
    assert [header.removesuffix(f" {_display.BEST_MARK}") for header, _ in rows] == [
        html.escape(HOSTILE_NAME),
        "baseline",
    ]
    # the best model: the highest validation accuracy at its best epoch
    best = int(np.argmax(plain["best_val_accuracy"]))
    assert [header.endswith(_display.BEST_MARK) for header, _ in rows] == [
        position == best for position in range(len(rows))
    ]
    verdict_column = list(table.columns).index("verdict")
    for (_, cells), verdict in zip(rows, plain["verdict"], strict=True):
        element_id = re.search(r'id="([^"]+)"', cells[verdict_column][0]).group(1)
        css = _declarations(_css_of(page, element_id))
        assert _declarations(_display.VERDICT_STYLES[verdict]) <= css
        assert cells[verdict_column][1].strip() == verdict

    # display only: the frame itself is the plain one
    pd.testing.assert_frame_equal(table, plain)
    assert repr(table) == repr(plain)


def test_a_marked_history_marks_its_best_epoch():
    frame = _display.mark(report.history_frame(HISTORIES["bigger"]), "history")
    rows = _body_rows(_display.frame_html(frame))
    marked = [header for header, _ in rows if header.endswith(_display.BEST_MARK)]
    assert marked == [f"2 {_display.BEST_MARK}"]  # the lowest validation loss


def test_a_marked_search_marks_rank_one():
    cv_results = {
        "param_dropout": [0.0, 0.5, 0.2],
        "mean_test_score": [0.80, 0.84, 0.83],
        "std_test_score": [0.01, 0.01, 0.01],
        "mean_train_score": [0.95, 0.86, 0.90],
        "std_train_score": [0.0, 0.0, 0.0],
        "rank_test_score": [3, 1, 2],
    }
    frame = _display.mark(report.cv_results_frame(cv_results), "search")
    page = _display.frame_html(frame)
    rows = _body_rows(page)
    assert [header for header, _ in rows] == [f"1 {_display.BEST_MARK}", "2", "0"]
    verdict = list(frame.columns).index("verdict")
    overfitting = re.search(r'id="([^"]+)"', rows[2][1][verdict][0]).group(1)  # gap 0.15
    assert _declarations(_display.VERDICT_STYLES["overfitting"]) <= _declarations(
        _css_of(page, overfitting)
    )


def test_unmarked_frames_are_left_to_pandas():
    frame = report.history_frame(HISTORIES["baseline"])
    assert _display.ATTR not in frame.attrs
    assert _display.frame_html(frame) == frame._repr_html_()
    with pytest.raises(ValueError, match="kind must be one of"):
        _display.mark(frame, "table")


def test_the_formatter_styles_marked_frames_in_an_ipython_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert _display.register_formatter(shell)
        marked = _display.mark(report.compare(HISTORIES), "comparison")
        plain = report.compare(HISTORIES)
        formatted, _ = shell.display_formatter.format(marked)
        assert _display.BEST_MARK in formatted["text/html"]
        assert formatted["text/plain"] == repr(plain)  # plain text stays what it was
        formatted, _ = shell.display_formatter.format(plain)
        assert formatted["text/html"] == plain._repr_html_()
    finally:
        shell.display_formatter.formatters["text/html"].pop(pd.DataFrame, None)
        _display._REGISTERED.clear()
        InteractiveShell.clear_instance()


# ------------------------------------------------------------------------------- study result
@pytest.fixture
def study_result(tmp_path):
    """A StudyResult of two hand-written histories, with a real figure file."""
    out = tmp_path / 'report <script>"1" & co'
    out.mkdir()
    comparison = report.compare(HISTORIES)
    comparison.insert(0, "hidden_layer_sizes", ["16+16", "512+512"])
    comparison["test_accuracy"] = [0.81, 0.83]
    figure = report.HistoryDisplay.from_history(HISTORIES, metric="loss")
    png = figure.save(out / "size_comparison.png")
    matplotlib.pyplot.close(figure.figure_)
    return StudyResult(
        models=list(HISTORIES),
        estimators={},
        histories=HISTORIES,
        diagnoses={},
        test_accuracy={"baseline": 0.81, "bigger": 0.83},
        test_proba={},
        comparison=comparison,
        history=None,
        confusion_matrix=None,
        settings={"lang": "ja"},
        environment={},
        run_time=12.3,
        out=out,
        files=[out / "comparison.csv", png],
    )


def test_a_study_result_shows_its_summary_and_figures_inline(study_result):
    page = _display.study_result_html(study_result)
    assert "skfashion の実験" in page and "12 秒" in page  # the study's language
    # the report folder, as text
    assert html.escape(str(study_result.out / "report.html")) in page
    assert "<script>" not in page
    rows = _body_rows(page)
    assert [header for header, _ in rows] == ["baseline", f"bigger {_display.BEST_MARK}"]
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in images] == ["size_comparison.png"]
    import base64

    png = (study_result.out / "size_comparison.png").read_bytes()
    assert base64.b64decode(images[0][0]) == png


# ---------------------------------------------------------------------------- live history
def _logs(history, epoch):
    return {key: values[epoch - 1] for key, values in history.items()}


def test_live_history_prints_a_row_per_epoch_in_a_terminal():
    out = io.StringIO()
    live = LiveHistory(display="terminal", file=out)
    history = HISTORIES["baseline"]
    for epoch in (1, 2, 3, 4):
        assert live(epoch, _logs(history, epoch)) is False  # it never stops training
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    table = np.array([[float(cell) for cell in line.split()] for line in lines[1:]])
    np.testing.assert_array_equal(table[:, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(table[:, 1:].T, list(history.values()))
    assert live.history_ == history


def test_live_history_redraws_both_curves_and_starts_again_with_a_new_fit(capsys):
    live = LiveHistory(display="notebook", name="bigger")
    history = HISTORIES["bigger"]
    for epoch in range(1, 4):
        live(epoch, _logs(history, epoch))
        accuracy, loss = live.figure_.axes
        for ax, metric in ((accuracy, "accuracy"), (loss, "loss")):
            training, validation = ax.get_lines()[:2]
            assert training.get_linestyle() == "-" and validation.get_linestyle() == "--"
            np.testing.assert_allclose(training.get_ydata(), history[metric][:epoch])
            np.testing.assert_allclose(validation.get_ydata(), history[f"val_{metric}"][:epoch])
        assert live.figure_._suptitle.get_text() == f"bigger: Epoch {epoch} of the training"
    live(1, _logs(HISTORIES["baseline"], 1))  # the next fit
    assert live.history_ == {key: [values[0]] for key, values in HISTORIES["baseline"].items()}
    with pytest.raises(ValueError, match="display must be one of"):
        LiveHistory(display="widget")(1, _logs(history, 1))


def test_progress_bar_is_text_outside_a_notebook():
    from tqdm.notebook import tqdm as notebook_tqdm

    bar = progress_bar(total=3, disable=True)
    assert not isinstance(bar, notebook_tqdm)
    bar.close()
