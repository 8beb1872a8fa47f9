"""run_study on the real data: every output file, its content, reproducibility, atomic writes."""

import base64
import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from skfashion._cli import _build_parser
from skfashion.report import diagnose
from skfashion.study import DEFAULT_MODELS, MODEL_NAMES, MODELS, run_study

FILES = {
    "report.md",
    "report.html",
    "study.json",
    "comparison.csv",
    "history.csv",
    "confusion_matrix.csv",
    "references.csv",
    "tutorial_history.png",
    "size_comparison.png",
    "remedies.png",
    "tutorial_predictions.png",
    "tutorial_confusion_matrix.png",
}
PNG_SHAPES = {
    "tutorial_history.png": (460, 1300, 4),
    "size_comparison.png": (460, 1300, 4),
    "remedies.png": (460, 1300, 4),
    "tutorial_predictions.png": (1100, 1200, 4),
    "tutorial_confusion_matrix.png": (750, 800, 4),
}
TIMING_COLUMNS = ["fit_time_s"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick study of all models, its report folder and what it wrote to stderr."""
    out = tmp_path_factory.mktemp("quick") / "report"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = run_study(out=out, quick=True, random_state=0, progress=True)
    return result, out, stderr.getvalue()


@pytest.fixture(scope="module")
def japanese(tmp_path_factory, quick):
    """A Japanese quick study of three models, written over a copy of the English report."""
    out = tmp_path_factory.mktemp("ja") / "report"
    shutil.copytree(quick[1], out)
    result = run_study(
        out=out, quick=True, models=["strong", "bigger", "tutorial"], lang="ja", progress=False
    )
    return result, out


def _section(markdown, heading):
    """Text of the ``## heading`` section."""
    return markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(section):
    """Cells of each body row of the first Markdown table in ``section``."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _sections(markdown):
    """Model name -> text of its ``### name`` section."""
    parts = re.split(r"^### ", markdown, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def _read(out, name):
    return pd.read_csv(out / name, keep_default_na=True)


def test_writes_every_file_and_nothing_else(quick):
    result, out, _ = quick
    assert {path.name for path in out.iterdir()} == FILES
    assert sorted(result.files) == sorted(out / name for name in FILES)
    assert [path.name for path in out.parent.iterdir()] == ["report"]  # no temporary folders
    assert result.models == list(DEFAULT_MODELS)


def test_comparison_table_matches_the_models(quick, fashion_test):
    result, out, _ = quick
    table = _read(out, "comparison.csv").set_index("model")
    assert list(table.index) == list(DEFAULT_MODELS)
    for column in ("hidden_layer_sizes", "best_epoch", "best_val_accuracy", "verdict"):
        assert column in table.columns
    assert table["hidden_layer_sizes"].tolist()[:4] == ["128", "4+4", "16+16", "512+512"]
    assert table.loc["tutorial", "train_images"] == 3000
    assert set(table["train_images"].drop("tutorial")) == {2000}
    assert table["test_accuracy"].between(0, 1).all()
    for name in DEFAULT_MODELS:
        recomputed = result.estimators[name].score(fashion_test.data, fashion_test.target)
        assert table.loc[name, "test_accuracy"] == pytest.approx(recomputed, abs=1e-12)
    # The networks learned something: far above the 0.1 of guessing, except maybe 4+4 units.
    assert (table["test_accuracy"].drop("smaller") > 0.6).all()


def test_verdicts_follow_from_the_written_histories(quick):
    _, out, _ = quick
    table = _read(out, "comparison.csv").set_index("model")
    history = _read(out, "history.csv")
    for name, rows in history.groupby("model", sort=False):
        assert rows["epoch"].tolist() == list(range(1, len(rows) + 1))
        assert len(rows) == table.loc[name, "epochs_run"]
        diagnosis = diagnose(
            rows[["loss", "accuracy", "val_loss", "val_accuracy"]].to_dict("list"),
            restore_best_weights=bool(table.loc[name, "early_stopping"]),
        )
        assert diagnosis.verdict == table.loc[name, "verdict"]
        assert diagnosis.best_epoch == table.loc[name, "best_epoch"]
        assert diagnosis.best_val_accuracy == table.loc[name, "best_val_accuracy"]
    assert table.loc["bigger+early_stopping", "verdict"] != "overfitting"


def test_history_csv_holds_every_epoch_of_every_model(quick):
    result, out, _ = quick
    history = _read(out, "history.csv")
    assert list(history.columns[:6]) == [
        "model",
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
    ]
    for name, estimator in result.estimators.items():
        rows = history[history["model"] == name]
        np.testing.assert_array_equal(rows["val_loss"], estimator.history_["val_loss"])
        np.testing.assert_array_equal(rows["accuracy"], estimator.history_["accuracy"])


def test_report_answers_the_three_questions_per_model(quick):
    _, out, _ = quick
    table = _read(out, "comparison.csv").set_index("model")
    sections = _sections((out / "report.md").read_text(encoding="utf-8"))
    assert set(sections) >= set(DEFAULT_MODELS)
    for name in DEFAULT_MODELS:
        text, row = sections[name], table.loc[name]
        best = re.search(r"Best number of epochs: \*\*(\d+)\*\* of (\d+)", text)
        assert (int(best[1]), int(best[2])) == (row["best_epoch"], row["epochs_run"])
        accuracy = re.search(r"Validation accuracy there: \*\*([0-9.]+)\*\*", text)[1]
        assert accuracy == f"{row['best_val_accuracy']:.3f}"
        overfitting = re.search(r"Overfitting: \*\*(yes|no)\*\* \(verdict: ([a-z ]+)\)", text)
        assert overfitting[1] == ("yes" if row["verdict"] == "overfitting" else "no")
        assert overfitting[2] == row["verdict"]
        test = re.search(r"Test accuracy \(10,000 test images\): \*\*([0-9.]+)\*\*", text)[1]
        assert test == f"{row['test_accuracy']:.3f}"
        assert f"Verdict: {row['verdict']}" in text  # the diagnosis paragraph agrees


def test_report_states_settings_environment_and_run_time(quick):
    result, out, _ = quick
    markdown = (out / "report.md").read_text(encoding="utf-8")
    stated = re.search(r"\nRun time (?:(\d+) min )?([0-9.]+) s,", markdown)
    seconds = 60 * int(stated[1] or 0) + float(stated[2])
    assert seconds == pytest.approx(result.run_time, abs=0.6)
    assert json.loads((out / "study.json").read_text())["run_time_s"] == result.run_time
    assert f"{result.environment['cpu_count']} CPU cores" in markdown
    for package in ("skfashion", "tensorflow", "scikit-learn"):
        version = result.environment["versions"][package]
        assert f"{package} {version}" in markdown
    assert "| Epochs (size comparison and remedies) " in markdown
    assert "quick run" in markdown
    confusion = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert confusion.to_numpy().sum() == 10_000
    np.testing.assert_array_equal(confusion.to_numpy(), result.confusion_matrix)
    assert np.trace(result.confusion_matrix) / 10_000 == result.test_accuracy["tutorial"]


@pytest.mark.parametrize("name, shape", sorted(PNG_SHAPES.items()))
def test_figures_are_real_images(quick, name, shape):
    _, out, _ = quick
    image = mpimg.imread(out / name)
    assert image.shape == shape
    assert image[..., :3].std() > 0.05  # not a blank canvas
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"]({name})" in markdown


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.references, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "action"):
                self.references.append(value)
            if tag == "img" and key == "src":
                self.images.append(value)


def test_html_is_self_contained(quick):
    _, out, _ = quick
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags
    prefix = "data:image/png;base64,"
    assert all(reference.startswith(prefix) for reference in parser.references)
    embedded = sorted(base64.b64decode(src[len(prefix) :]) for src in parser.images)
    assert embedded == sorted((out / name).read_bytes() for name in PNG_SHAPES)
    assert parser.tags.count("h3") >= len(DEFAULT_MODELS)
    assert "<strong>yes</strong>" in page or "<strong>no</strong>" in page


# The published test accuracies the report must cite, as the sources give them.
PUBLISHED = {
    "scikit-learn MLPClassifier, relu, (100,)": "0.871",
    "scikit-learn SVC(C=10, kernel='rbf')": "0.897",
    "MLP 256-128-100": "0.8833",
    "TensorFlow tutorial: Dense(128), 10 epochs": "≈ 0.885",
    'skfashion RECIPES["strong"], all 60,000 training images': "0.9068 ± 0.0008",
}


def _accuracy_cell(cell):
    return float(cell.strip("*≈ ").split(" ±")[0])


def test_report_compares_with_published_results(quick):
    _, out, _ = quick
    markdown = (out / "report.md").read_text(encoding="utf-8")
    rows = _table_rows(_section(markdown, "How these results compare"))
    published = {model: accuracy for model, accuracy, _ in rows if "this run" not in model}
    assert published == PUBLISHED
    assert all(source for _, _, source in rows)
    table = _read(out, "comparison.csv").set_index("model")
    this_run = [row for row in rows if "this run" in row[0]]
    assert this_run == [
        [
            "**tutorial** (this run)",
            f"**{table.loc['tutorial', 'test_accuracy']:.4f}**",
            "this run: 2,400 training + 600 validation images, 5 epochs, seed 0",
        ]
    ]
    accuracies = [_accuracy_cell(accuracy) for _, accuracy, _ in rows]
    assert accuracies == sorted(accuracies, reverse=True)

    references = _read(out, "references.csv").set_index("model")
    assert references["this_run"].tolist() == ["(this run)" in m for m in references.index]
    assert (
        references.loc["tutorial (this run)", "test_accuracy"]
        == (table.loc["tutorial", "test_accuracy"])
    )
    strong = references.loc[next(m for m in references.index if "RECIPES" in m)]
    assert (strong["test_accuracy"], strong["std"]) == (0.9068, 0.0008)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>How these results compare</h2>" in page
    assert "<strong>tutorial</strong> (this run)" in page


def test_strong_is_the_recipe_and_trained_only_when_asked_for():
    from skfashion import RECIPES

    assert "strong" in MODEL_NAMES and "strong" not in DEFAULT_MODELS
    assert dict(MODELS["strong"]) == dict(RECIPES["strong"])
    parser = _build_parser()
    assert parser.parse_args(["study", "--models", "tutorial,strong"]).models == [
        "tutorial",
        "strong",
    ]
    assert parser.parse_args(["study"]).models is None  # run_study's default: DEFAULT_MODELS


def test_the_study_module_and_its_command_line_load_no_tensorflow():
    code = (
        "import sys; from skfashion.study import MODELS; from skfashion._cli import _build_parser; "
        "_build_parser().parse_args(['study', '--models', 'strong']); list(MODELS); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert process.stdout.split() == ["False", "False"]


class _Stop(Exception):
    pass


def test_the_full_run_trains_strong_on_every_training_image_with_its_recipe(tmp_path, monkeypatch):
    """Without ``quick``: RECIPES["strong"] as it is (30 epochs), 20 % held out of 60,000."""
    from skfashion import RECIPES

    fits = []

    def record(estimator, X, y, X_test, on_epoch_end=None):
        fits.append((estimator.get_params(), len(X), len(y)))
        raise _Stop

    monkeypatch.setattr("skfashion.study._fit_and_predict", record)
    with pytest.raises(_Stop):
        run_study(out=tmp_path / "report", models=["strong"], progress=False)
    [(params, n_images, n_labels)] = fits
    assert n_images == n_labels == 60_000
    assert {key: params[key] for key in RECIPES["strong"]} == dict(RECIPES["strong"])
    assert (params["validation_fraction"], params["random_state"]) == (0.2, 0)
    assert list(tmp_path.iterdir()) == []


def test_quick_strong_is_its_recipe_on_the_quick_slice(japanese):
    from skfashion import RECIPES

    result, out = japanese
    assert result.models == ["tutorial", "bigger", "strong"]
    params = result.estimators["strong"].get_params()
    expected = {**RECIPES["strong"], "epochs": 8, "validation_fraction": 0.2}
    assert {key: params[key] for key in expected} == expected
    row = _read(out, "comparison.csv").set_index("model").loc["strong"]
    assert (row["train_images"], row["epochs_run"], row["batch_size"]) == (3000, 8, 256)
    assert (bool(row["batch_norm"]), row["lr_schedule"]) == (True, "cosine")
    assert len(result.histories["strong"]["val_accuracy"]) == 8

    markdown = (out / "report.md").read_text(encoding="utf-8")
    strong = _section(markdown, "4. strong レシピ")
    assert "0.9068 ± 0.0008" in strong and "学習に使うのは 2,400 枚、8 エポック" in strong
    assert "バッチ正規化" in _sections(markdown)["strong"]
    rows = _table_rows(_section(markdown, "公表されている結果との比較"))
    this_run = {
        model: (accuracy, source) for model, accuracy, source in rows if "この実行" in model
    }
    assert set(this_run) == {"**tutorial**（この実行）", "**strong**（この実行）"}
    for name in ("tutorial", "strong"):
        accuracy, source = this_run[f"**{name}**（この実行）"]
        assert accuracy == f"**{result.test_accuracy[name]:.4f}**"
        assert source.startswith("この実行：学習用 2,400 枚・検証用 600 枚")
    assert any("Fashion-MNIST の論文" in source for _, _, source in rows)
    assert len(rows) == len(PUBLISHED) + 2


def test_progress_bar_counts_every_epoch(quick):
    result, _, stderr = quick
    total = sum(estimator.epochs for estimator in result.estimators.values())
    assert f"{total}/{total}" in stderr
    assert "bigger+augment" in stderr and "epoch" in stderr


def test_japanese_report(japanese):
    result, out = japanese
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for heading in (
        "## まとめ",
        "## 1. チュートリアルのネットワーク",
        "### チュートリアルのネットワークの予測",
        "## 2. ネットワークの大きさ",
        "## 設定と実行環境",
        "## ファイル",
    ):
        assert f"\n{heading}" in markdown
    assert "Summary" not in markdown and "Best number of epochs" not in markdown
    sections = _sections(markdown)
    assert set(sections) >= {"tutorial", "bigger"}
    best_epoch = result.diagnoses["bigger"].best_epoch
    assert f"最適なエポック数：**{best_epoch}**（" in sections["bigger"]
    answer = "あり" if result.diagnoses["bigger"].overfitting else "なし"
    assert f"過学習：**{answer}**" in sections["bigger"]
    assert "最適なエポック数は" in sections["bigger"]  # the diagnosis, in Japanese
    assert '<html lang="ja">' in (out / "report.html").read_text(encoding="utf-8")


def test_a_new_report_replaces_the_old_one(japanese):
    _, out = japanese
    names = {path.name for path in out.iterdir()}
    assert "remedies.png" not in names  # left over from the English report it replaced
    assert names == FILES - {"remedies.png"}
    assert [path.name for path in out.parent.iterdir()] == ["report"]


def test_same_random_state_same_numbers(quick, japanese):
    """Two runs, different languages and model selections: identical rows for shared models."""
    _, en_out, _ = quick
    _, ja_out = japanese
    shared = ["tutorial", "bigger"]
    tables = [
        _read(out, "comparison.csv").set_index("model").loc[shared].drop(columns=TIMING_COLUMNS)
        for out in (en_out, ja_out)
    ]
    pd.testing.assert_frame_equal(*tables, check_exact=True)
    histories = [
        _read(out, "history.csv").set_index("model").loc[shared] for out in (en_out, ja_out)
    ]
    pd.testing.assert_frame_equal(*histories, check_exact=True)


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_a_failed_run_keeps_the_previous_report(quick, tmp_path, monkeypatch):
    out = tmp_path / "report"
    shutil.copytree(quick[1], out)
    before = _snapshot(out)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("skfashion._study_report.write_documents", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_study(out=out, quick=True, models=["smaller"], epochs=1, progress=False)
    assert _snapshot(out) == before
    assert [path.name for path in tmp_path.iterdir()] == ["report"]


def test_an_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    def interrupt(bar):
        def on_epoch_end(epoch, logs):
            raise KeyboardInterrupt

        return on_epoch_end

    monkeypatch.setattr("skfashion.study._advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_study(out=tmp_path / "report", quick=True, models=["smaller"], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_folder_that_is_no_report(tmp_path):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="holds no study report"):
        run_study(out=out, quick=True, models=["smaller"], progress=False)
    assert (out / "thesis.tex").read_text() == "precious"
    assert [path.name for path in tmp_path.iterdir()] == ["documents"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"models": ["bigger", "huge"]}, r"Unknown model name\(s\) \['huge'\]"),
        ({"models": []}, "models is empty"),
        ({"models": "bigger"}, "'models' parameter"),
        ({"epochs": 0}, "'epochs' parameter"),
        ({"subset_size": 50}, "'subset_size' parameter"),
        ({"subset_size": 60_001}, "'subset_size' parameter"),
        ({"lang": "fr"}, "'lang' parameter"),
    ],
)
def test_invalid_parameters_fail_before_any_work(params, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_study(out=tmp_path / "report", progress=False, **params)
    assert list(tmp_path.iterdir()) == []
