"""Where the course's students work: rich output in Jupyter, curves that grow while
training, and the exercise notebooks, executed top to bottom in a real kernel."""

import html
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
    plain.attrs.clear()
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
    pd.testing.assert_frame_equal(table, plain, check_flags=False)
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
    frame.attrs.clear()
    assert _display.frame_html(frame) == frame._repr_html_()
    with pytest.raises(ValueError, match="kind must be one of"):
        _display.mark(frame, "table")


def test_the_formatter_styles_marked_frames_in_an_ipython_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert _display.register_formatter(shell)
        marked = _display.mark(report.compare(HISTORIES), "comparison")
        plain = marked.copy()
        plain.attrs.clear()
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


# ------------------------------------------------------------------------------ the notebooks
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
# The small run of the test suite, written after the cell tagged "parameters" (as papermill does).
SMALL_RUN = {"N_IMAGES": 300, "N_SUBSET": 300, "EPOCHS": 2, "SEARCH_EPOCHS": 2, "CV": 2}


@pytest.fixture(scope="module")
def build():
    """docs/notebooks/build.py, the generator of the notebooks and the walkthrough pages."""
    spec = importlib.util.spec_from_file_location("build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(notebook, tag):
    (cell,) = [cell for cell in notebook["cells"] if tag in cell["metadata"].get("tags", [])]
    return "".join(cell["source"])


def test_notebooks_and_walkthroughs_are_built_from_the_one_source(build):
    """What is committed is what build.py makes of exercise.toml: no third copy to drift."""
    for path, text in build.render_all().items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: run docs/notebooks/build.py"
    source = build.load()
    for lang in build.LANGUAGES:
        notebook = build.notebook(source, lang)
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        page = build.page(source, lang)
        # every code cell of the page is a cell of the notebook, in the same order
        page_code = re.findall(r"^```python\n(.*?)\n^```$", page, re.M | re.S)
        notebook_code = ["".join(c["source"]) for c in code]
        assert page_code == [text for text in notebook_code if text in page_code]
        assert len(page_code) >= 15
        assert _cell(notebook, "parameters").startswith(f'LANG = "{lang}"')
    # the install cell is the same in both notebooks, and first
    en, ja = (build.notebook(source, lang) for lang in build.LANGUAGES)
    assert "".join(en["cells"][0]["source"]) == "".join(ja["cells"][0]["source"])
    assert en["cells"][0]["metadata"]["tags"] == ["install"]


def _install_cell(build):
    return _cell(build.notebook(build.load(), "en"), "install")


def test_readme_tells_a_colab_user_the_install_cell_exactly(build):
    """The README's one cell for Colab is the notebooks' first cell, character for character."""
    cell = _install_cell(build)
    blocks = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    assert cell + "\n" in blocks, "README.md: give Colab users the notebooks' install cell"


def test_install_cell_does_nothing_where_skfashion_is_installed(build, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append(args))
    exec(compile(_install_cell(build), "install cell", "exec"), {})
    assert calls == []


@pytest.mark.slow
def test_install_cell_installs_skfashion_from_the_repository(build, tmp_path):
    """The cell exactly, with the local checkout as its repository (git+file://).

    It runs under ``python -S``, where skfashion cannot be found, so it calls pip. Pip's
    environment keeps it offline and fast without changing the cell's command: the
    dependencies are this environment's (PIP_NO_DEPS, no build isolation) and the package
    goes into a folder (PIP_TARGET).
    """
    cell = _install_cell(build)
    assert build.SUBSTITUTIONS["repository_git"] in cell
    cell = cell.replace(build.SUBSTITUTIONS["repository_git"], f"git+{ROOT.as_uri()}")
    target = tmp_path / "site"
    env = {
        **os.environ,
        "PIP_TARGET": str(target),
        "PIP_NO_DEPS": "1",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    process = subprocess.run(
        [sys.executable, "-S", "-c", cell], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr
    import skfashion

    (info,) = target.glob("skfashion-*.dist-info")
    assert info.name == f"skfashion-{skfashion.__version__}.dist-info"
    for name in ("__init__.py", "_estimator.py", "_locales/ja.toml"):
        assert (target / "skfashion" / name).is_file(), name


def test_matplotlib_fontja_gives_a_font_the_japanese_figures_use():
    """What the Japanese notebook installs where no system font has Japanese glyphs."""
    code = (
        "import matplotlib_fontja, matplotlib.font_manager as fm\n"
        "from skfashion._plot._base import JAPANESE_FONT_FAMILIES\n"
        "names = {font.name for font in fm.fontManager.ttflist}\n"
        "print(sorted(names & set(JAPANESE_FONT_FAMILIES)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    assert "IPAexGothic" in process.stdout


class _CountingClient:
    """An nbclient NotebookClient that counts the display updates of each cell."""

    def __new__(cls, notebook, **kwargs):
        from nbclient import NotebookClient

        class Client(NotebookClient):
            def process_message(self, msg, cell, cell_index):
                if msg["msg_type"] == "update_display_data":
                    self.updates[cell_index] = self.updates.get(cell_index, 0) + 1
                return super().process_message(msg, cell, cell_index)

        client = Client(notebook, **kwargs)
        client.updates = {}
        return client


def _run(build, lang, tmp_path):
    import nbformat

    notebook = nbformat.reads(
        json.dumps(build.notebook(build.load(), lang)), as_version=nbformat.NO_CONVERT
    )
    position = next(
        index for index, cell in enumerate(notebook.cells)
        if "parameters" in cell.metadata.get("tags", [])
    )
    injected = "\n".join(f"{name} = {value!r}" for name, value in SMALL_RUN.items())
    notebook.cells.insert(
        position + 1,
        nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
    )
    client = _CountingClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    return notebook, client.updates


def _outputs(cell, output_type):
    return [output for output in cell.get("outputs", []) if output["output_type"] == output_type]


@pytest.fixture(scope="module")
def executed(build, tmp_path_factory):
    """Both notebooks executed at the same time, each in its own kernel and folder."""
    from concurrent.futures import ThreadPoolExecutor

    folders = {lang: tmp_path_factory.mktemp(f"notebook-{lang}") for lang in build.LANGUAGES}
    with ThreadPoolExecutor(len(folders)) as pool:
        runs = {lang: pool.submit(_run, build, lang, path) for lang, path in folders.items()}
        return {lang: (*run.result(), folders[lang]) for lang, run in runs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_notebook_runs_top_to_bottom_without_errors_or_warnings(executed, lang):
    notebook, updates, tmp_path = executed[lang]
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert not _outputs(cell, "error"), (index, cell.source)
        streams = _outputs(cell, "stream")
        assert not [s for s in streams if s["name"] == "stderr"], (index, streams)
        text = "".join(s["text"] for s in streams)
        assert "Warning" not in text, (index, text)

    live = next(
        index for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and "LiveHistory(" in cell.source
    )
    # one figure, redrawn after each of the tutorial's 5 epochs
    (figure,) = _outputs(notebook.cells[live], "display_data")
    assert figure["data"]["image/png"]
    assert updates[live] == 5 - 1
    # the files the exercise saves, in the notebook's folder
    for name in ("tutorial_predictions", "tutorial_history", "size_comparison", "remedies"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = pd.read_csv(tmp_path / "remedies.csv", index_col="model")
    assert list(table.index) == [
        "bigger", "bigger+dropout", "bigger+augment", "bigger+l2", "bigger+dropout+l2",
        "bigger+early_stopping",
    ]
    # the last code cell: the search's table, one row per setting of units and dropout
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "GridSearchCV(" in code[-1].source
    (result,) = _outputs(code[-1], "execute_result")
    assert len(_body_rows(result["data"]["text/html"])) == 4


@pytest.mark.slow
def test_japanese_notebook_draws_with_a_japanese_font(executed):
    from skfashion._plot._base import JAPANESE_FONT_FAMILIES

    notebook = executed["ja"][0]
    font_cell = next(cell for cell in notebook.cells if "font" in cell.metadata.get("tags", []))
    (stream,) = _outputs(font_cell, "stream")
    label, family = stream["text"].strip().split(": ")
    assert label == "日本語フォント" and family in JAPANESE_FONT_FAMILIES


# ----------------------------------------------------------- the tables the report functions return
@pytest.mark.parametrize(
    "kind, make",
    [
        ("history", lambda: report.history_frame(HISTORIES["bigger"])),
        ("comparison", lambda: report.compare(HISTORIES)),
        (
            "search",
            lambda: report.cv_results_frame(
                {"param_dropout": [0.0, 0.5], "mean_test_score": [0.8, 0.84],
                 "std_test_score": [0.01, 0.01], "rank_test_score": [2, 1]}
            ),
        ),
        (
            "validation_curve",
            lambda: report.validation_curve_frame(
                "dropout", [0.0, 0.5], [[0.9], [0.85]], [[0.8], [0.82]]
            ),
        ),
        (
            "learning_curve",
            lambda: report.learning_curve_frame([100, 200], [[0.9], [0.88]], [[0.7], [0.75]]),
        ),
    ],
)
def test_report_tables_are_marked_for_rich_display(kind, make):
    """The hook in skfashion/report/_tables.py: each table says what it is, for Jupyter."""
    frame = make()
    assert frame.attrs.get(_display.ATTR) == kind
    assert _display.BEST_MARK in _display.frame_html(frame) or kind == "learning_curve"
