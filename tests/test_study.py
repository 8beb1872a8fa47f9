"""run_study on the real data: every output file, its numbers against the tables, both languages."""

import base64
import contextlib
import dataclasses
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from skfashion import _i18n, _study_report
from skfashion._cli import _build_parser
from skfashion._study_design import FILES, MODELS, REFERENCES, REMEDY_MODELS
from skfashion.report import VERDICTS, diagnose, verdict_label
from skfashion.study import DEFAULT_MODELS, MODEL_NAMES, run_study, study_seeds

TINY_MODELS = ["tutorial", "smaller", "bigger", "bigger+dropout+l2"]
TINY = {
    "quick": True,
    "models": TINY_MODELS,
    "epochs": 2,
    "subset_size": 500,
    "seeds": 2,
    "random_state": 0,
    "n_jobs": 1,  # one worker process, which the next studies of these tests reuse
}
TINY_SEEDS = [0, 1]
PNG_SHAPES = {
    "tutorial_history.png": (460, 1300, 4),
    "size_comparison.png": (460, 1300, 4),
    "remedies.png": (460, 1300, 4),
    "tutorial_predictions.png": (1100, 1200, 4),
    "tutorial_confusion_matrix.png": (750, 800, 4),
}
TIMING_COLUMNS = ["fit_time_s"]
VERDICTS_JSON = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "verdicts.json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small English study with every section: tutorial, sizes, a remedy; 2 epochs, 2 seeds."""
    out = tmp_path_factory.mktemp("tiny") / "report"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = run_study(out=out, progress=True, **TINY)
    return result, out, stderr.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick study of all default models and its report folder."""
    out = tmp_path_factory.mktemp("quick") / "report"
    return run_study(out=out, quick=True, random_state=0, progress=False), out


@pytest.fixture(scope="module")
def japanese(tmp_path_factory, quick):
    """A Japanese quick study of three models, written over a copy of the English report."""
    out = tmp_path_factory.mktemp("ja") / "report"
    shutil.copytree(quick[1], out)
    result = run_study(
        out=out, quick=True, models=["strong", "bigger", "tutorial"], lang="ja", progress=False
    )
    return result, out


def _rewrite(result, out, folder, **changes):
    """The documents of ``result`` (with ``settings`` changed) written again into a copy."""
    shutil.copytree(out, folder)
    settings = {**result.settings, **changes}
    result = dataclasses.replace(result, settings=settings)
    files = [path.name for path in result.files if path.name not in _study_report.DOCUMENTS]
    _study_report.write_documents(folder, result, files)
    return folder


def _words(language, key, **fields):
    return _i18n.text(language, f"study.{key}", **fields)


def _section(markdown, heading):
    """Text of the ``## heading`` section."""
    return markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(section):
    """Cells of each body row of the first Markdown table in ``section``."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _model_sections(markdown):
    """Model name -> text of its ``### name`` section."""
    parts = re.split(r"^### ", markdown, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def _bullet(section, language, label):
    """The value after ``label`` in a model section's bullet list, bold markers removed."""
    prefix = f"- {_words(language, label)}{_words(language, 'colon')}"
    [line] = [line for line in section.splitlines() if line.startswith(prefix)]
    return line[len(prefix) :]


def _read(out, name):
    return pd.read_csv(out / name, keep_default_na=True)


def _overall(verdicts):
    """The verdict of several runs and its agreement, from each run's verdict alone."""
    counts = {v: list(verdicts).count(v) for v in VERDICTS}
    verdict = max(VERDICTS, key=lambda v: (counts[v], -VERDICTS.index(v)))
    return verdict, counts[verdict]


def _spread(values, decimals=3):
    return f"{np.mean(values):.{decimals}f} ± {np.std(values):.{decimals}f}"


# ---------------------------------------------------------------------- catalogs and design
def _keys(table, prefix=""):
    keys = set()
    for key, value in table.items():
        keys |= _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return keys


@pytest.mark.parametrize("language", _i18n.LANGUAGES)
def test_every_catalog_has_the_study_words_of_english(language):
    study = _i18n.words(language, "study")
    assert _keys(study) == _keys(_i18n.words("en", "study"))
    assert len(study["class_names"]) == 10


def _imported_modules(module):
    """The skfashion modules ``module`` imports anywhere in its code (also inside functions)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), "skfashion")
            imported |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = (
                [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            )
            imported |= {name for name in names if name.startswith("skfashion")}
    return imported


def test_the_study_modules_import_one_way():
    """study -> _study_report -> _study_design, never back: no import cycle."""
    design = _imported_modules("skfashion._study_design")
    report = _imported_modules("skfashion._study_report")
    study = _imported_modules("skfashion.study")
    assert not design & {"skfashion.study", "skfashion._study_report"}
    assert "skfashion.study" not in report and "skfashion._study_design" in report
    assert {"skfashion._study_report", "skfashion._study_design"} <= study


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


# ---------------------------------------------------------------------- a small real run
def test_writes_every_file_and_nothing_else(tiny):
    result, out, _ = tiny
    assert {path.name for path in out.iterdir()} == set(FILES.values())
    assert sorted(result.files) == sorted(out / name for name in FILES.values())
    assert [path.name for path in out.parent.iterdir()] == ["report"]  # no temporary folders
    assert result.models == TINY_MODELS
    record = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert record["files"] == sorted(FILES.values())


@pytest.mark.slow  # two more studies, each with its report: 10-30 s
def test_the_numbers_do_not_depend_on_the_number_of_workers(tiny, tmp_path):
    """Tiny's runs (one worker, a model's seeds one after the other), some of them again in a
    worker that trained other models before, and in two with a run each at a time: the same
    bits."""
    result, _, _ = tiny
    models = ["smaller", "bigger+dropout+l2"]
    for n_jobs in (1, 2):
        out = tmp_path / f"report{n_jobs}"
        again = run_study(out=out, **{**TINY, "models": models, "n_jobs": n_jobs})
        for name in models:
            assert again.histories[name] == result.histories[name]
            for proba, expected in zip(
                again.test_proba[name], result.test_proba[name], strict=True
            ):
                np.testing.assert_array_equal(proba, expected)


@pytest.mark.slow
def test_a_dask_cluster_of_single_threaded_workers_gives_the_same_bits(tiny, tmp_path):
    """With joblib's Dask backend active (compute_backend, --scheduler, --local-cluster) the
    runs go to the Dask workers; one thread each there too, so the numbers do not change."""
    pytest.importorskip("distributed")
    from distributed import get_task_stream

    from skfashion import compute_backend

    result, _, _ = tiny
    models = ["smaller", "bigger+dropout+l2"]
    with compute_backend(n_workers=2) as client, get_task_stream(client) as tasks:
        again = run_study(out=tmp_path / "report", **{**TINY, "models": models, "n_jobs": -1})
    runs = [task for task in tasks.data if "_fit_in_worker" in task["key"]]
    assert len(runs) == len(models) * len(TINY_SEEDS)
    for name in models:
        assert again.histories[name] == result.histories[name]
        for proba, expected in zip(again.test_proba[name], result.test_proba[name], strict=True):
            np.testing.assert_array_equal(proba, expected)


def test_every_model_runs_once_per_seed(tiny):
    result, out, _ = tiny
    assert result.seeds == TINY_SEEDS == study_seeds(TINY["random_state"], TINY["seeds"])
    assert study_seeds(5, 3) == [5, 6, 7]
    for name in TINY_MODELS:
        estimators = result.estimators[name]
        assert [e.random_state for e in estimators] == TINY_SEEDS
        # the seeds vary the validation split as well as the weights
        assert estimators[0].history_["val_loss"] != estimators[1].history_["val_loss"]
    table = _read(out, "comparison.csv")
    assert list(zip(table["model"], table["seed"], strict=True)) == [
        (name, seed) for name in TINY_MODELS for seed in TINY_SEEDS
    ]
    record = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert record["seeds"] == record["settings"]["seeds"] == TINY_SEEDS


def test_comparison_table_matches_the_models(tiny, fashion_test):
    result, out, _ = tiny
    table = _read(out, "comparison.csv").set_index(["model", "seed"])
    assert table.loc["tutorial", "train_images"].tolist() == [3000, 3000]
    assert set(table.drop(index="tutorial", level="model")["train_images"]) == {500}
    record = json.loads((out / "study.json").read_text(encoding="utf-8"))
    for name in TINY_MODELS:
        for seed, estimator in zip(TINY_SEEDS, result.estimators[name], strict=True):
            recomputed = estimator.score(fashion_test.data, fashion_test.target)
            assert table.loc[(name, seed), "test_accuracy"] == pytest.approx(recomputed, abs=1e-12)
            assert table.loc[(name, seed), "dropout"] == MODELS[name].get("dropout", 0.0)
            assert table.loc[(name, seed), "l2"] == MODELS[name].get("l2", 0.0)
        runs = table.loc[name]
        assert record["test_accuracy"][name] == pytest.approx(runs["test_accuracy"].mean())
        assert record["runs"][name] == [
            {"seed": seed, "test_accuracy": row["test_accuracy"], "verdict": row["verdict"]}
            for seed, row in runs.iterrows()
        ]
        assert (record["verdicts"][name], record["agreement"][name]) == _overall(runs["verdict"])


def test_summary_states_agreement_and_spread_of_the_runs(tiny):
    """summary.csv and the report's summary table say what comparison.csv's runs say."""
    result, out, _ = tiny
    frame = result.summary_frame()
    runs = _read(out, "comparison.csv").groupby("model", sort=False)
    summary = _read(out, "summary.csv").set_index("model")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    rows = {cells[0]: cells for cells in _table_rows(_section(markdown, _words("en", "summary")))}
    header = [_words("en", f"column.{c}") for c in _study_report.SUMMARY_COLUMNS]
    column = {name: position + 1 for position, name in enumerate(_study_report.SUMMARY_COLUMNS)}
    assert list(rows) == TINY_MODELS and len(header) == len(column)
    for name, per_seed in runs:
        verdict, agreement = _overall(per_seed["verdict"])
        row = summary.loc[name]
        assert (row["verdict"], row["agreement"], row["n_runs"]) == (verdict, agreement, 2)
        assert row["verdicts"] == ", ".join(per_seed["verdict"])
        assert row["test_accuracy_mean"] == pytest.approx(per_seed["test_accuracy"].mean())
        assert row["test_accuracy_std"] == pytest.approx(per_seed["test_accuracy"].std(ddof=0))
        assert frame.loc[name, "test_accuracy"] == pytest.approx(row["test_accuracy_mean"])
        assert frame.loc[name, "best_val_accuracy"] == pytest.approx(
            per_seed["best_val_accuracy"].mean()
        )
        assert tuple(frame.loc[name, ["verdict", "agreement", "n_runs"]]) == (verdict, agreement, 2)
        cells = rows[name]
        assert cells[column["verdict"]] == _i18n.text(
            "en", "diagnosis.agreement", verdict=verdict, agreement=agreement, runs=2
        )
        assert cells[column["test_accuracy"]] == _spread(per_seed["test_accuracy"])
        assert cells[column["best_val_accuracy"]] == _spread(per_seed["best_val_accuracy"])
        assert cells[column["best_epoch"]] == _spread(per_seed["best_epoch"], decimals=1)


def test_verdicts_follow_from_the_written_histories(tiny):
    _, out, _ = tiny
    table = _read(out, "comparison.csv").set_index(["model", "seed"])
    summary = _read(out, "summary.csv").set_index("model")
    history = _read(out, "history.csv")
    keys = ["loss", "accuracy", "val_loss", "val_accuracy"]
    for name, model_rows in history.groupby("model", sort=False):
        runs = []
        for seed, rows in model_rows.groupby("seed", sort=False):
            row = table.loc[(name, seed)]
            assert rows["epoch"].tolist() == list(range(1, len(rows) + 1))
            assert len(rows) == row["epochs_run"]
            runs.append(rows[keys].to_dict("list"))
            diagnosis = diagnose(runs[-1], restore_best_weights=bool(row["early_stopping"]))
            assert diagnosis.verdict == row["verdict"]
            assert diagnosis.best_epoch == row["best_epoch"]
            assert diagnosis.best_val_accuracy == row["best_val_accuracy"]
        together = diagnose(runs)
        assert (together.verdict, together.agreement) == tuple(
            summary.loc[name, ["verdict", "agreement"]]
        )
        assert together.best_val_accuracy_mean == pytest.approx(
            summary.loc[name, "best_val_accuracy_mean"]
        )


def test_history_csv_holds_every_epoch_of_every_run(tiny):
    result, out, _ = tiny
    history = _read(out, "history.csv")
    assert list(history.columns[:7]) == ["model", "seed", "epoch", "loss", "accuracy"] + [
        "val_loss",
        "val_accuracy",
    ]
    for name, estimators in result.estimators.items():
        for seed, estimator in zip(TINY_SEEDS, estimators, strict=True):
            rows = history[(history["model"] == name) & (history["seed"] == seed)]
            np.testing.assert_array_equal(rows["val_loss"], estimator.history_["val_loss"])
            np.testing.assert_array_equal(rows["accuracy"], estimator.history_["accuracy"])


@pytest.mark.parametrize("language", _i18n.LANGUAGES)
def test_report_answers_the_three_questions_per_model_in_every_language(tiny, language, tmp_path):
    """The numbers in each model's section are those of comparison.csv, in every catalog."""
    result, out, _ = tiny
    folder = _rewrite(result, out, tmp_path / "report", lang=language)
    runs = _read(folder, "comparison.csv").groupby("model", sort=False)
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    sections = _model_sections(markdown)
    for name, per_seed in runs:
        text = sections[name]
        best = _bullet(text, language, "model.best_epochs")
        assert best == _words(
            language,
            "model.best_epochs_value",
            best=_spread(per_seed["best_epoch"], decimals=1),
            epochs=per_seed["epochs_run"].max(),
        )
        val = _bullet(text, language, "model.val_accuracy")
        assert val == f"**{_spread(per_seed['best_val_accuracy'])}**"
        verdict, agreement = _overall(per_seed["verdict"])
        label = _i18n.text(
            language,
            "diagnosis.agreement",
            verdict=verdict_label(verdict, language),
            agreement=agreement,
            runs=2,
        )
        assert _bullet(text, language, "model.verdict") == f"**{label}**"
        prefix = f"- {_words(language, 'model.test_accuracy', n=10_000)}"
        [line] = [line for line in text.splitlines() if line.startswith(prefix)]
        per_seed_words = _words(language, "list_sep").join(
            _words(language, "model.per_seed", seed=seed, accuracy=accuracy)
            for seed, accuracy in zip(per_seed["seed"], per_seed["test_accuracy"], strict=True)
        )
        assert line == f"{prefix}{_words(language, 'colon')}**" + _spread(
            per_seed["test_accuracy"]
        ) + "**" + _words(language, "paren", text=per_seed_words)
        assert result.diagnoses[name].summary(language=language) in text
        assert result.diagnoses[name].n_runs == 2
    summary = _table_rows(_section(markdown, _words(language, "summary")))
    assert [cells[0] for cells in summary] == TINY_MODELS


def test_report_states_settings_environment_and_run_time(tiny):
    result, out, _ = tiny
    markdown = (out / "report.md").read_text(encoding="utf-8")
    stated = re.search(r"\nRun time (?:(\d+) min )?([0-9.]+) s,", markdown)
    seconds = 60 * int(stated[1] or 0) + float(stated[2])
    assert seconds == pytest.approx(result.run_time, abs=0.6)
    assert json.loads((out / "study.json").read_text())["run_time_s"] == result.run_time
    rows = dict(_table_rows(_section(markdown, _words("en", "settings_heading"))))
    versions = dict(
        item.rsplit(" ", 1) for item in rows[_words("en", "setting.versions")].split(", ")
    )
    assert versions == {k: v for k, v in result.environment["versions"].items() if v}
    assert rows[_words("en", "setting.epochs")] == str(TINY["epochs"])
    assert rows[_words("en", "setting.subset_size")] == f"{TINY['subset_size']:,}"
    assert rows[_words("en", "setting.seeds")] == str(TINY["seeds"])
    confusion = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert confusion.to_numpy().sum() == 10_000
    np.testing.assert_array_equal(confusion.to_numpy(), result.confusion_matrix)
    # the tutorial network's first seed
    assert np.trace(result.confusion_matrix) / 10_000 == result.test_accuracy["tutorial"][0]


def test_split_sizes_are_the_estimators_own(tiny):
    result, out, _ = tiny
    sections = _model_sections((out / "report.md").read_text(encoding="utf-8"))
    table = _read(out, "summary.csv").set_index("model")
    for name in TINY_MODELS:
        estimator = result.estimators[name][0]
        n_train, n_val = estimator.n_train_samples_, estimator.n_validation_samples_
        assert (n_train, n_val) == (
            result.estimators[name][1].n_train_samples_,
            result.estimators[name][1].n_validation_samples_,
        )
        n = table.loc[name, "train_images"]
        assert n_train + n_val == n
        images = _words(
            "en", "network.images", n_train=n_train, n_val=n_val, n=n, epochs=estimator.epochs
        )
        assert images in sections[name]


def test_remedies_are_described_from_their_settings(tiny, tmp_path, monkeypatch):
    """Change a remedy's settings in MODELS: the sentence about it changes with them."""
    result, out, _ = tiny
    original = _read(out, "summary.csv").set_index("model").loc["bigger+dropout+l2"]
    assert (original["dropout"], original["l2"]) == (
        MODELS["bigger+dropout+l2"]["dropout"],
        MODELS["bigger+dropout+l2"]["l2"],
    )
    changed = {**MODELS, "bigger+dropout+l2": {**MODELS["bigger+dropout+l2"], "dropout": 0.3}}
    monkeypatch.setattr(_study_report, "MODELS", changed)
    folder = _rewrite(result, out, tmp_path / "report")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    [item] = [line for line in markdown.splitlines() if line.startswith("- **bigger+dropout+l2**")]
    assert item == "- " + _words(
        "en",
        "remedy.item",
        name="bigger+dropout+l2",
        description=_words("en", "remedy.dropout", dropout=0.3)
        + _words("en", "remedy.and")
        + _words("en", "remedy.l2", l2=MODELS["bigger+dropout+l2"]["l2"]),
    )
    assert "0.3" in item and "30%" in item
    remedies = set(REMEDY_MODELS)
    assert remedies == {name for name in MODEL_NAMES if name.startswith("bigger+")}


@pytest.mark.parametrize("name, shape", sorted(PNG_SHAPES.items()))
def test_figures_are_real_images(tiny, name, shape):
    _, out, _ = tiny
    image = mpimg.imread(out / name)
    assert image.shape == shape
    assert image[..., :3].std() > 0.05  # not a blank canvas


class _Page(HTMLParser):
    """Tags, referenced resources, images and the visible text of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.references, self.images, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "action"):
                self.references.append(value)
            if tag == "img" and key == "src":
                self.images.append(value)

    def handle_data(self, data):
        self.text.append(data)


def _page(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.mark.parametrize("language", _i18n.LANGUAGES)
def test_html_is_self_contained_and_says_what_the_markdown_says(tiny, language, tmp_path):
    result, out, _ = tiny
    folder = _rewrite(result, out, tmp_path / "report", lang=language)
    page = _page(folder / "report.html")
    assert "script" not in page.tags and "link" not in page.tags
    prefix = "data:image/png;base64,"
    assert all(reference.startswith(prefix) for reference in page.references)
    embedded = sorted(base64.b64decode(src[len(prefix) :]) for src in page.images)
    assert embedded == sorted((folder / name).read_bytes() for name in PNG_SHAPES)
    assert page.tags.count("h3") == len(TINY_MODELS) + 1  # + the tutorial's predictions
    assert page.tags.count("table") == 4  # summary, per class, references, settings
    text = "".join(page.text)
    for name in TINY_MODELS:
        assert result.diagnoses[name].summary(language=language) in text
    assert f'<html lang="{language}">' in (folder / "report.html").read_text(encoding="utf-8")


def test_html_shows_a_model_name_as_text_never_as_markup(tiny, tmp_path):
    result, out, _ = tiny
    name = "<script>alert(1)</script>"
    renamed = {"smaller": name}

    def rename(mapping):
        return {renamed.get(key, key): value for key, value in mapping.items()}

    fields = ("estimators", "histories", "diagnoses", "test_accuracy", "test_proba")
    changed = dataclasses.replace(
        result,
        models=[renamed.get(n, n) for n in result.models],
        summary=result.summary.rename(index=renamed),
        comparison=result.comparison.rename(index=renamed),
        **{field: rename(getattr(result, field)) for field in fields},
    )
    folder = tmp_path / "report"
    shutil.copytree(out, folder)
    files = [path.name for path in result.files if path.name not in _study_report.DOCUMENTS]
    _study_report.write_documents(folder, changed, files)
    page = _page(folder / "report.html")
    assert "script" not in page.tags
    assert name in "".join(page.text)  # shown, as text
    assert "&lt;script&gt;" in (folder / "report.html").read_text(encoding="utf-8")


def test_report_compares_with_published_results(tiny):
    result, out, _ = tiny
    markdown = (out / "report.md").read_text(encoding="utf-8")
    rows = _table_rows(_section(markdown, _words("en", "references_heading")))
    published = {model: accuracy for model, accuracy, _ in rows if "this run" not in model}
    assert published == {
        _words("en", f"reference.{key}.model", n_train=60_000): reference.shown()
        for key, reference in REFERENCES.items()
    }
    assert REFERENCES["strong"].shown() == "0.9068 ± 0.0008"
    assert REFERENCES["tf_tutorial"].shown() == "≈ 0.885"
    assert all(source for _, _, source in rows)
    table = _read(out, "comparison.csv").set_index("model")
    tutorial = result.estimators["tutorial"][0]
    assert [row for row in rows if "this run" in row[0]] == [
        [
            "**tutorial** (this run)",
            f"**{_spread(table.loc['tutorial', 'test_accuracy'], decimals=4)}**",
            f"this run: {tutorial.n_train_samples_:,} training + "
            f"{tutorial.n_validation_samples_:,} validation images, 5 epochs, mean ± standard "
            "deviation over seeds 0, 1",
        ]
    ]
    accuracies = [float(accuracy.strip("*≈ ").split(" ±")[0]) for _, accuracy, _ in rows]
    assert accuracies == sorted(accuracies, reverse=True)

    references = _read(out, "references.csv").set_index("model")
    assert references["this_run"].tolist() == ["(this run)" in m for m in references.index]
    this_run = references.loc["tutorial (this run)"]
    assert this_run["test_accuracy"] == pytest.approx(table.loc["tutorial", "test_accuracy"].mean())
    assert this_run["std"] == pytest.approx(table.loc["tutorial", "test_accuracy"].std(ddof=0))
    strong = references.loc[next(m for m in references.index if "RECIPES" in m)]
    assert (strong["test_accuracy"], strong["std"]) == (
        REFERENCES["strong"].test_accuracy,
        REFERENCES["strong"].std,
    )


def test_progress_bar_counts_every_epoch(tiny):
    result, _, stderr = tiny
    total = sum(e.epochs for estimators in result.estimators.values() for e in estimators)
    assert total == len(TINY_SEEDS) * sum(e[0].epochs for e in result.estimators.values())
    assert f"{total}/{total}" in stderr
    assert "bigger+dropout+l2" in stderr and "epoch" in stderr


def test_every_history_figure_draws_one_band_per_model(tiny, tmp_path, monkeypatch):
    """Several seeds: each model's mean curves in a band, solid training, dashed validation."""
    from skfashion._plot import HistoryDisplay

    result, _, _ = tiny
    drawn = []

    class Recording(HistoryDisplay):
        def plot(self, *args, **kwargs):
            drawn.append(super().plot(*args, **kwargs))
            return drawn[-1]

    monkeypatch.setattr(_study_report, "HistoryDisplay", Recording)
    for other in ("_predictions_figure", "_confusion_figure"):  # not history figures
        monkeypatch.setattr(_study_report, other, lambda *args: None)
    _study_report.write_figures_and_tables(tmp_path, result, None, None)
    shown = {name for display in drawn for name in display.lines_}
    assert shown == set(TINY_MODELS)
    assert len(drawn) == 2 * len(_study_report.HISTORY_FIGURES)  # accuracy and loss panels
    for display in drawn:
        for name, (training, validation) in display.lines_.items():
            assert (training.get_linestyle(), validation.get_linestyle()) == ("-", "--")
            assert all(band is not None for band in display.fill_between_[name])
            runs = [e.history_[f"val_{display.metric}"] for e in result.estimators[name]]
            np.testing.assert_allclose(validation.get_ydata(), np.mean(runs, axis=0))
            assert display.best_epoch_markers_[name] is not None


def test_the_command_prints_the_summary_in_the_language_asked_for(tiny, monkeypatch, capsys):
    """`--lang ja`: Japanese columns and verdict words, numbers as in comparison.csv."""
    from skfashion._cli import main

    result, out, _ = tiny
    asked = {}

    def study(**kwargs):
        asked.update(kwargs)
        return result

    monkeypatch.setattr("skfashion.study.run_study", study)
    argv = ["study", "--quick", "--seeds", "2", "--lang", "ja", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert (asked["seeds"], asked["lang"]) == (2, "ja")
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split()
    columns = ["model", *_study_report.CLI_COLUMNS]
    assert header == [_words("ja", f"column.{column}") for column in columns]
    runs = _read(out, "comparison.csv").groupby("model", sort=False)
    for line, (name, per_seed) in zip(lines[1:], runs, strict=False):
        verdict, agreement = _overall(per_seed["verdict"])
        label = _i18n.text(
            "ja",
            "diagnosis.agreement",
            verdict=verdict_label(verdict, "ja"),
            agreement=agreement,
            runs=2,
        )
        assert line.split()[0] == name
        assert label in line and verdict_label(verdict, "ja") != verdict
        assert line.endswith(_spread(per_seed["test_accuracy"]))


def test_the_command_runs_a_quick_study_and_prints_each_epoch(tmp_path, capsys):
    """`skfashion study` end to end (next to the tiny study, whose worker process it reuses)."""
    from skfashion._cli import main

    out = tmp_path / "report"
    argv = ["study", "--quick", "--models", "smaller", "--epochs", "2", "--random-state", "3",
            "--n-jobs", "1"]
    assert main([*argv, "--out", str(out), "--verbose", "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "smaller: 4+4 units, 2,000 training images, 2 epochs" in stdout
    assert re.search(r"^ +epoch +loss +accuracy +val_loss +val_accuracy", stdout, re.MULTILINE)
    summary = re.search(
        r"^smaller +4\+4 +2 +(\d) +([0-9.]+) +(\w[\w ]*?) +([0-9.]+)$", stdout, re.MULTILINE
    )
    record = json.loads((out / "study.json").read_text())
    assert record["settings"]["random_state"] == 3 and record["settings"]["models"] == ["smaller"]
    assert summary[4] == f"{record['test_accuracy']['smaller']:.3f}"  # printed to 3 decimals
    assert summary[3] == record["verdicts"]["smaller"]
    assert f"Report in {out}" in stdout
    assert not (out / "tutorial_history.png").exists() and (out / "size_comparison.png").exists()


@pytest.mark.parametrize("seeds", ["0", "-1", "two"])
def test_the_command_refuses_fewer_than_one_seed(seeds, tmp_path, capsys):
    from skfashion._cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["study", "--seeds", seeds, "--out", str(tmp_path / "report")])
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("skfashion: error: argument --seeds: expected a positive integer")
    assert list(tmp_path.iterdir()) == []


class _Stop(Exception):
    pass


def test_the_full_run_trains_strong_on_every_training_image_with_its_recipe(tmp_path, monkeypatch):
    """Without ``quick``: RECIPES["strong"] as it is (30 epochs), 20 % held out of 60,000."""
    from skfashion import RECIPES, study

    fits = []

    def record(jobs, settings, model_data, verbose, n_jobs, on_run):
        for name, seed in jobs:
            estimator = study._estimator(name, seed, settings)
            data = model_data[name]
            fits.append((estimator.get_params(), len(data["X"]), len(data["y"])))
        raise _Stop

    monkeypatch.setattr("skfashion.study._run_all", record)
    with pytest.raises(_Stop):
        run_study(out=tmp_path / "report", models=["strong"], seeds=1, progress=False)
    [(params, n_images, n_labels)] = fits
    assert n_images == n_labels == 60_000
    assert {key: params[key] for key in RECIPES["strong"]} == dict(RECIPES["strong"])
    assert (params["validation_fraction"], params["random_state"]) == (0.2, 0)
    assert list(tmp_path.iterdir()) == []


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_a_failed_run_keeps_the_previous_report(tiny, tmp_path, monkeypatch):
    out = tmp_path / "report"
    shutil.copytree(tiny[1], out)
    before = _snapshot(out)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("skfashion._study_report.write_documents", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_study(out=out, quick=True, models=["smaller"], epochs=1, progress=False)
    assert _snapshot(out) == before
    assert [path.name for path in tmp_path.iterdir()] == ["report"]


def test_an_interrupted_run_leaves_nothing_and_no_worker(tmp_path, monkeypatch):
    """Ctrl-C while the workers train: no report, no temporary folder, every worker ended."""
    from joblib.externals.loky import reusable_executor

    workers = []

    def interrupt(*args):
        workers.extend(reusable_executor._executor._processes.values())
        raise KeyboardInterrupt

    monkeypatch.setattr("skfashion.study._advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_study(
            out=tmp_path / "report",
            quick=True,
            models=["smaller"],
            epochs=1,
            seeds=3,
            n_jobs=1,
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []
    assert len(workers) == 1 and not any(worker.is_alive() for worker in workers)


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
        ({"lang": "xx"}, "'lang' parameter"),
        ({"seeds": 0}, "'seeds' parameter"),
        ({"seeds": -2}, "'seeds' parameter"),
        ({"seeds": 1.5}, "'seeds' parameter"),
        ({"n_jobs": 0}, "'n_jobs' parameter"),
    ],
)
def test_invalid_parameters_fail_before_any_work(params, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_study(out=tmp_path / "report", progress=False, **params)
    assert list(tmp_path.iterdir()) == []


def test_lang_accepts_exactly_the_catalog_languages(tmp_path):
    with pytest.raises(ValueError) as error:
        run_study(out=tmp_path / "report", lang="xx", progress=False)
    choices = str(error.value).split("among")[1].split("Got")[0]
    assert set(re.findall(r"'(\w+)'", choices)) == set(_i18n.LANGUAGES)


# ---------------------------------------------------------------------- the full quick study
@pytest.mark.slow
def test_quick_study_of_every_default_model(quick, fashion_test):
    result, out = quick
    assert result.models == list(DEFAULT_MODELS)
    assert result.seeds == [0]  # quick: one seed
    table = _read(out, "comparison.csv").set_index("model")
    assert table["seed"].tolist() == [0] * len(DEFAULT_MODELS)
    assert table["hidden_layer_sizes"].tolist()[:4] == ["128", "4+4", "16+16", "512+512"]
    assert table.loc["tutorial", "train_images"] == 3000
    assert set(table["train_images"].drop("tutorial")) == {2000}
    # The networks learned something: far above the 0.1 of guessing, except maybe 4+4 units.
    assert (table["test_accuracy"].drop("smaller") > 0.6).all()
    assert table.loc["bigger+early_stopping", "verdict"] != "overfitting"
    sections = _model_sections((out / "report.md").read_text(encoding="utf-8"))
    assert set(sections) >= set(DEFAULT_MODELS)


@pytest.mark.slow
def test_quick_strong_is_its_recipe_on_the_quick_slice(japanese):
    from skfashion import RECIPES

    result, out = japanese
    assert result.models == ["tutorial", "bigger", "strong"]
    params = result.estimators["strong"][0].get_params()
    expected = {**RECIPES["strong"], "epochs": 8, "validation_fraction": 0.2}
    assert {key: params[key] for key in expected} == expected
    row = _read(out, "comparison.csv").set_index("model").loc["strong"]
    assert (row["train_images"], row["epochs_run"], row["batch_size"]) == (3000, 8, 256)
    assert (bool(row["batch_norm"]), row["lr_schedule"]) == (True, "cosine")
    assert len(result.histories["strong"][0]["val_accuracy"]) == 8

    markdown = (out / "report.md").read_text(encoding="utf-8")
    strong = _section(markdown, _words("ja", "strong_heading"))
    assert REFERENCES["strong"].shown() in strong
    assert _words("ja", "network.batch_norm") in _model_sections(markdown)["strong"]
    rows = _table_rows(_section(markdown, _words("ja", "references_heading")))
    this_run = {model: (accuracy, source) for model, accuracy, source in rows if "**" in model}
    assert set(this_run) == {_words("ja", "this_run_model", name=n) for n in ("tutorial", "strong")}
    for name in ("tutorial", "strong"):
        accuracy, source = this_run[_words("ja", "this_run_model", name=name)]
        assert accuracy == f"**{result.test_accuracy[name][0]:.4f}**"
    assert len(rows) == len(REFERENCES) + 2


@pytest.mark.slow
def test_a_new_report_replaces_the_old_one(japanese):
    _, out = japanese
    names = {path.name for path in out.iterdir()}
    # remedies.png was in the English report it replaced; this one trained no remedy
    assert names == set(FILES.values()) - {"remedies.png"}
    assert [path.name for path in out.parent.iterdir()] == ["report"]


@pytest.mark.slow
def test_same_random_state_same_numbers(quick, japanese):
    """Two runs, different languages and model selections: identical rows for shared models."""
    _, en_out = quick
    _, ja_out = japanese
    shared = ["tutorial", "bigger"]
    tables = [
        _read(out, "comparison.csv").set_index("model").loc[shared].drop(columns=TIMING_COLUMNS)
        for out in (en_out, ja_out)
    ]
    # Equal values; a column's dtype (int or float) depends on the other models' rows (NaN).
    pd.testing.assert_frame_equal(*tables, check_exact=True, check_dtype=False)
    histories = [
        _read(out, "history.csv").set_index("model").loc[shared] for out in (en_out, ja_out)
    ]
    pd.testing.assert_frame_equal(*histories, check_exact=True)


@pytest.mark.slow
def test_a_run_has_the_bits_of_the_seeds_script_run_of_its_model_and_seed(tmp_path):
    """The full study's smaller and baseline, seed 0: the histories benchmarks/verdict_seeds.py
    committed (one TensorFlow thread there and in the study's workers)."""
    committed = json.loads(VERDICTS_JSON.read_text(encoding="utf-8"))
    models = ["smaller", "baseline"]
    result = run_study(out=tmp_path / "report", models=models, seeds=1, progress=False)
    assert result.settings["subset_size"] == committed["settings"]["n_images"]
    assert result.settings["epochs"] == committed["settings"]["epochs"]
    for name in models:
        assert result.histories[name][0] == committed["runs"]["0"][name]["history"]
