"""The study report: figures, CSV tables, Markdown and self-contained HTML, in any catalog language.

Everything is written into the (temporary) folder :func:`skfashion.study.run_study`
hands over; the folder as a whole is moved into place afterwards. The words come
from the ``[study]`` section of the catalogs (:mod:`skfashion._i18n`), the layout
from the Jinja2 template ``templates/study/report.md.j2``; ``report.html`` is that
Markdown rendered by markdown-it-py, with the figures embedded.
"""

import base64
import functools
import json
import math

import numpy as np
import pandas as pd

from . import _i18n
from ._datasets import CLASS_NAMES, N_IMAGES
from ._files import write_text
from ._plot import HistoryDisplay, PredictionGridDisplay
from ._plot._base import text_style
from ._study_design import (
    FILES,
    FULL_DATA_MODELS,
    MODELS,
    OVERFITTING_MODEL,
    REFERENCES,
    REMEDY_MODELS,
    SIZE_MODELS,
    TUTORIAL_MODELS,
)
from .report import save_table, verdict_label

N_PREDICTION_IMAGES = 15
FIGURE_DPI = 100
DOCUMENTS = (FILES["report_md"], FILES["report_html"], FILES["study_json"])

# One colour per model in every figure ("C7", grey, is left for the legend's line styles).
COLORS = {
    "tutorial": "C0",
    "smaller": "C1",
    "baseline": "C2",
    "bigger": "C3",
    "bigger+dropout": "C4",
    "bigger+l2": "C5",
    "bigger+dropout+l2": "C6",
    "bigger+augment": "C8",
    "bigger+early_stopping": "C9",
}

# The summary table's columns: in the report, and printed by the command.
SUMMARY_COLUMNS = (
    "hidden_layer_sizes",
    "train_images",
    "epochs_run",
    "best_epoch",
    "best_val_accuracy",
    "final_val_accuracy",
    "gap",
    "verdict",
    "test_accuracy",
)
CLI_COLUMNS = (
    "hidden_layer_sizes",
    "epochs_run",
    "best_epoch",
    "best_val_accuracy",
    "verdict",
    "test_accuracy",
)

# The figures of history curves: file, title and the models each shows (remedies with the model
# they cure).
HISTORY_FIGURES = (
    ("tutorial_png", "tutorial", TUTORIAL_MODELS),
    ("size_png", "size", SIZE_MODELS),
    ("remedies_png", "remedies", (OVERFITTING_MODEL, *REMEDY_MODELS)),
)


class Words:
    """The ``[study]`` words of one language: ``words("title")``, ``words("intro", val=0.2)``."""

    def __init__(self, language):
        self.language = _i18n.check_language(language)

    def __call__(self, key, /, **fields):
        return _i18n.text(self.language, f"study.{key}", **fields)

    def raw(self, key):
        return _i18n.words(self.language, f"study.{key}")

    def join(self, items):
        return self("list_sep").join(items)


# ---------------------------------------------------------------------- figures and tables
def write_figures_and_tables(folder, result, X_test, y_test):
    """Write the PNG figures and the CSV tables of ``result`` into ``folder``.

    ``X_test`` and ``y_test`` are the test images and labels the models were
    scored on, for the grid of predictions.

    Returns
    -------
    files : list of str
        Names of the files written, relative to ``folder``.
    """
    lang = result.settings["lang"]
    names = result.models
    files = []
    save_table(result.summary, folder / FILES["summary_csv"])
    save_table(result.comparison, folder / FILES["comparison_csv"])
    save_table(result.history, folder / FILES["history_csv"])
    save_table(_references_frame(result), folder / FILES["references_csv"])
    files += [
        FILES["summary_csv"],
        FILES["comparison_csv"],
        FILES["history_csv"],
        FILES["references_csv"],
    ]
    if result.confusion_matrix is not None:
        matrix = pd.DataFrame(
            result.confusion_matrix,
            index=pd.Index(CLASS_NAMES, name="true_class"),
            columns=list(CLASS_NAMES),
        )
        save_table(matrix, folder / FILES["confusion_csv"])
        files.append(FILES["confusion_csv"])

    for key, title, group in HISTORY_FIGURES:
        shown = [name for name in names if name in group]
        if key == "remedies_png" and not any(name in REMEDY_MODELS for name in shown):
            continue
        if shown:
            estimators = {name: _runs_to_draw(result.estimators[name]) for name in shown}
            _history_figure(estimators, _figure_text(title, lang), lang, folder / FILES[key])
            files.append(FILES[key])
    if "tutorial" in names:
        _predictions_figure(result, X_test, y_test, folder / FILES["predictions_png"])
        _confusion_figure(result, lang, folder / FILES["confusion_png"])
        files += [FILES["predictions_png"], FILES["confusion_png"]]
    return files


def _runs_to_draw(estimators):
    """Several seeds as a list (mean line in a band), one seed as itself (its own line)."""
    return estimators if len(estimators) > 1 else estimators[0]


def _figure_text(key, lang):
    """The figure text in ``lang`` if a Japanese font is there, else in English."""
    _, font = text_style(lang)
    return Words(lang if font or lang == _i18n.DEFAULT_LANGUAGE else _i18n.DEFAULT_LANGUAGE)(
        f"figure.{key}"
    )


def _history_figure(estimators, title, lang, path):
    from matplotlib.figure import Figure

    from ._plot._base import legend_prop

    _, font = text_style(lang)
    figure = Figure(figsize=(13, 4.6), layout="constrained")
    ax_accuracy, ax_loss = figure.subplots(1, 2)
    colors = {name: COLORS[name] for name in estimators}
    legend = "full" if len(estimators) == 1 else "compact"
    for metric, ax in (("accuracy", ax_accuracy), ("loss", ax_loss)):
        display = HistoryDisplay.from_estimator(
            estimators,
            metric=metric,
            ax=ax,
            lang=lang,
            legend=legend if metric == "loss" else None,
            colors=colors,
        )
        ax.grid(alpha=0.3)
    if len(estimators) > 1:  # one legend beside both panels, where it hides no curve
        handles = display.legend_.legend_handles
        labels = [text.get_text() for text in display.legend_.get_texts()]
        display.legend_.remove()
        figure.legend(handles, labels, loc="outside right upper", prop=legend_prop(font))
    figure.suptitle(title, **font)
    display.save(path, dpi=FIGURE_DPI)


def _predictions_figure(result, X_test, y_test, path):
    from matplotlib.figure import Figure

    n_cols, n_rows = 3, math.ceil(N_PREDICTION_IMAGES / 3)
    figure = Figure(figsize=(4 * n_cols, 2.2 * n_rows), layout="constrained")
    display = PredictionGridDisplay.from_predictions(
        X_test,
        y_test,
        result.test_proba["tutorial"][0],
        classes=result.estimators["tutorial"][0].classes_,
        n_images=N_PREDICTION_IMAGES,
        ax=figure.add_subplot(),
        n_cols=n_cols,
    )
    display.save(path, dpi=FIGURE_DPI)


def _confusion_figure(result, lang, path):
    import io

    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    from ._files import write_bytes

    _, font = text_style(lang)
    figure = Figure(figsize=(8, 7.5), layout="constrained")
    ax = figure.add_subplot()
    display = ConfusionMatrixDisplay(result.confusion_matrix, display_labels=CLASS_NAMES)
    display.plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation="vertical", values_format="d")
    ax.set_xlabel(_figure_text("predicted", lang), **font)
    ax.set_ylabel(_figure_text("true", lang), **font)
    ax.set_title(_figure_text("tutorial", lang), **font)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=FIGURE_DPI)
    write_bytes(path, png.getvalue())


# ---------------------------------------------------------------------- the documents
def write_documents(folder, result, files):
    """Write ``report.md``, ``report.html`` and ``study.json``; return their names."""
    words = Words(result.settings["lang"])
    markdown = render_markdown(result, files, words)
    write_text(folder / FILES["report_md"], markdown)
    write_text(folder / FILES["report_html"], render_html(markdown, folder, words))
    record = {
        "skfashion_study": result.environment["versions"]["skfashion"],
        "settings": result.settings,
        "environment": result.environment,
        "run_time_s": result.run_time,
        "seeds": result.seeds,
        "test_accuracy": {
            name: float(np.mean(accuracies)) for name, accuracies in result.test_accuracy.items()
        },
        "verdicts": {name: d.verdict for name, d in result.diagnoses.items()},
        "agreement": {name: d.agreement for name, d in result.diagnoses.items()},
        "runs": {
            name: [
                {"seed": seed, "test_accuracy": accuracy, "verdict": run.verdict}
                for seed, accuracy, run in zip(
                    result.seeds, result.test_accuracy[name], d.runs, strict=True
                )
            ]
            for name, d in result.diagnoses.items()
        },
        "files": sorted([*files, *DOCUMENTS]),
    }
    written = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    write_text(folder / FILES["study_json"], written)
    return list(DOCUMENTS)


@functools.cache
def _templates():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("skfashion", "templates/study"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["fmt"] = format
    environment.filters["md_table"] = _markdown_table
    return environment


def _markdown_table(frame):
    return frame.to_markdown(index=False, disable_numparse=True)


def render_markdown(result, files, words):
    """``report.md``: the template filled with this run's numbers and ``words``."""
    names, settings = result.models, result.settings
    n_test = len(result.test_proba[names[0]][0])
    n_seeds = len(result.seeds)
    context = {
        "t": words,
        "settings": settings,
        "n_test": n_test,
        "seeds": _seeds_words(result, words),
        "n_seeds": n_seeds,
        "run_time": _duration(result.run_time, words),
        "cpus": result.environment["cpu_count"],
        "summary": summary_table(result, words),
        "findings": _findings(result, words),
        "tutorial": _tutorial(result, words) if "tutorial" in names else None,
        "size": _group(result, words, SIZE_MODELS),
        "remedies": _group(result, words, REMEDY_MODELS),
        "remedy_items": [_remedy(name, words) for name in names if name in REMEDY_MODELS],
        "overfitting_model": OVERFITTING_MODEL,
        "strong": _strong(result, words) if "strong" in names else None,
        "any_full_data_model": any(name in FULL_DATA_MODELS for name in names),
        "references": _references_table(result, words),
        "settings_table": _settings_table(result, words),
        "files": [(name, _file_words(name, names, words)) for name in [*files, *DOCUMENTS]],
        "figures": FILES,
        "n_prediction_images": N_PREDICTION_IMAGES,
    }
    return _templates().get_template("report.md.j2").render(context)


def _file_words(name, names, words):
    role = next(role for role, file in FILES.items() if file == name)
    sizes = words.join(name for name in names if name in SIZE_MODELS)
    return words(f"file.{role}", models=sizes, model=OVERFITTING_MODEL)


def render_html(markdown, folder, words):
    """``report.html``: ``markdown`` rendered by markdown-it-py, figures embedded from ``folder``.

    Raw HTML in the Markdown is shown as text, never run.
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown)
    for token in tokens:
        for child in token.children or ():
            if child.type == "image":
                png = (folder / child.attrGet("src")).read_bytes()
                child.attrSet("src", "data:image/png;base64," + base64.b64encode(png).decode())
    body = parser.renderer.render(tokens, parser.options, {})
    return (
        _templates()
        .get_template("report.html.j2")
        .render(lang=words.language, title=words("title"), body=body)
    )


def _model(name, result, words):
    """What the report says about one model: its network and the three answers over its seeds."""
    d, row = result.diagnoses[name], result.summary.loc[name]
    fit_time = _duration(row["fit_time_s"], words)
    per_seed = None
    if d.n_runs > 1:
        fit_time = words("model.fit_time_seeds", time=fit_time, n=d.n_runs)
        per_seed = words.join(
            words("model.per_seed", seed=seed, accuracy=accuracy)
            for seed, accuracy in zip(result.seeds, result.test_accuracy[name], strict=True)
        )
    return {
        "name": name,
        "network": _network(name, result, words),
        "best_epoch": _cell("best_epoch", name, result, words),
        "epochs_run": d.epochs_run,
        "best_val_accuracy": _cell("best_val_accuracy", name, result, words),
        "verdict": _cell("verdict", name, result, words),
        "test_accuracy": _cell("test_accuracy", name, result, words),
        "test_per_seed": per_seed,
        "n_test": len(result.test_proba[name][0]),
        "fit_time": fit_time,
        "summary": d.summary(language=words.language),
    }


def _group(result, words, group):
    """The models of ``group`` that ran, and how they are listed in a heading."""
    names = [name for name in result.models if name in group]
    return {
        "models": [_model(name, result, words) for name in names],
        "names": words.join(names),
        "sizes": words.join(
            words("size_item", units=_units(name, result), name=name) for name in names
        ),
    }


def _tutorial(result, words):
    estimator = result.estimators["tutorial"][0]
    return {
        "model": _model("tutorial", result, words),
        "units": _units("tutorial", result),
        "n_classes": len(estimator.classes_),
        "batch_size": estimator.batch_size,
        "epochs": estimator.epochs,
        "per_class": _per_class_table(result.confusion_matrix, words),
        "seed": result.seeds[0],
        "n_confusion": int(result.confusion_matrix.sum()),
    }


def _remedy(name, words):
    """A remedy's bullet: what its settings add to the model it cures."""
    settings, cured = dict(MODELS[name]), MODELS[OVERFITTING_MODEL]
    added = [key for key in settings if settings[key] != cured.get(key)]
    described = [key for key in added if key in words.raw("remedy")]
    description = words("remedy.and").join(
        words(f"remedy.{key}", model=OVERFITTING_MODEL, **settings) for key in described
    )
    return words("remedy.item", name=name, description=description)


def _strong(result, words):
    n_train, n_val = _split(result.estimators["strong"][0])
    return {
        "intro": words(
            "strong_intro",
            network=words.join(_network_parts("strong", result, words)),
            accuracy=REFERENCES["strong"].shown(),
            n_all=N_IMAGES["train"],
            val=result.settings["validation_fraction"],
            n=n_train + n_val,
            n_train=n_train,
            epochs=result.estimators["strong"][0].epochs,
        ),
        "model": _model("strong", result, words),
    }


def _units(name, result):
    return result.summary.loc[name, "hidden_layer_sizes"]


def _network_parts(name, result, words):
    """The network's settings that differ from plain: units, batch norm, dropout, L2…"""
    estimator = result.estimators[name][0]
    parts = [words("network.units", units=_units(name, result))]
    if estimator.batch_norm:
        parts.append(words("network.batch_norm"))
    if estimator.dropout:
        parts.append(words("network.dropout", value=estimator.dropout))
    if estimator.l2:
        parts.append(words("network.l2", value=estimator.l2))
    if estimator.augment:
        parts.append(words("network.augment"))
    if estimator.early_stopping:
        parts.append(words("network.early_stopping", patience=estimator.patience))
    if estimator.lr_schedule != "constant":
        parts.append(words(f"network.lr_schedule.{estimator.lr_schedule}"))
    if estimator.batch_size != result.settings["batch_size"]:
        parts.append(words("network.batch_size", n=estimator.batch_size))
    return parts


def _network(name, result, words):
    estimator = result.estimators[name][0]
    n_train, n_val = _split(estimator)
    n = n_train + n_val
    images = words(
        "network.images_all" if n == N_IMAGES["train"] else "network.images",
        n_train=n_train,
        n_val=n_val,
        n=n,
        epochs=estimator.epochs,
    )
    return words.join(_network_parts(name, result, words)) + words("clause_sep") + images


def _split(estimator):
    """Training and validation images of one fitted model, as it counted them."""
    return estimator.n_train_samples_, estimator.n_validation_samples_


def _references_rows(result, words):
    """Published results and this run's full-data models, highest test accuracy first."""
    rows = [
        {
            "model": words(f"reference.{key}.model", n_train=N_IMAGES["train"]),
            "test_accuracy": reference.test_accuracy,
            "std": reference.std,
            "shown": reference.shown(),
            "source": words(f"reference.{key}.source"),
            "approximate": reference.approximate,
            "this_run": False,
        }
        for key, reference in REFERENCES.items()
    ]
    several = len(result.seeds) > 1
    for name in (name for name in result.models if name in FULL_DATA_MODELS):
        estimator = result.estimators[name][0]
        n_train, n_val = _split(estimator)
        row = result.summary.loc[name]
        accuracy, std = float(row["test_accuracy_mean"]), float(row["test_accuracy_std"])
        # k/10,000 test images: exact to 4 decimals
        shown = f"{accuracy:.4f} ± {std:.4f}" if several else f"{accuracy:.4f}"
        rows.append(
            {
                "model": words("this_run_model", name=name),
                "test_accuracy": accuracy,
                "std": std if several else None,
                "shown": f"**{shown}**",
                "source": words(
                    "this_run_source_seeds" if several else "this_run_source",
                    n_train=n_train,
                    n_val=n_val,
                    epochs=estimator.epochs,
                    seeds=words.join(str(seed) for seed in result.seeds),
                ),
                "approximate": False,
                "this_run": True,
            }
        )
    return sorted(rows, key=lambda row: -row["test_accuracy"])


def _references_frame(result):
    """``references.csv``: the comparison with published results, in English."""
    rows = _references_rows(result, Words(_i18n.DEFAULT_LANGUAGE))
    frame = pd.DataFrame(
        rows, columns=["model", "test_accuracy", "std", "approximate", "source", "this_run"]
    )
    frame["model"] = frame["model"].str.replace("**", "", regex=False)
    return frame.set_index("model")


def _references_table(result, words):
    rows = _references_rows(result, words)
    return pd.DataFrame(
        {
            words("column.model"): [row["model"] for row in rows],
            words("column.test_accuracy"): [row["shown"] for row in rows],
            words("column.source"): [row["source"] for row in rows],
        }
    )


def summary_table(result, words, columns=SUMMARY_COLUMNS):
    """One row per model, in ``words``' language: a text table for the report and the command.

    With several seeds a number is ``mean ± std`` over them and the verdict
    the most common one with its agreement (``RunsDiagnosis.agreement_label``).
    """
    table = pd.DataFrame({words("column.model"): list(result.models)})
    for column in columns:
        table[words(f"column.{column}")] = [
            _cell(column, name, result, words) for name in result.models
        ]
    return table


# Summary columns shown as mean ± std: (column of result.summary without _mean/_std, decimals).
_SPREAD = {
    "best_epoch": ("best_epoch", 1),
    "best_val_accuracy": ("best_val_accuracy", 3),
    "final_val_accuracy": ("final_val_accuracy", 3),
    "gap": ("gap", 3),
    "test_accuracy": ("test_accuracy", 3),
}


def _cell(column, name, result, words):
    """One model's value of a summary column, as text."""
    row, d = result.summary.loc[name], result.diagnoses[name]
    if column == "verdict":
        if d.n_runs == 1:
            return verdict_label(d.verdict, words.language)
        return d.agreement_label(words.language)
    if column == "train_images":
        return f"{row[column]:,}"
    if column in _SPREAD:
        key, decimals = _SPREAD[column]
        mean, std = row[f"{key}_mean"], row[f"{key}_std"]
        if pd.isna(mean):
            return "–"
        if d.n_runs == 1:
            return f"{mean:.{0 if column == 'best_epoch' else decimals}f}"
        return f"{mean:.{decimals}f} ± {std:.{decimals}f}"
    return str(row[column])


def _seeds_words(result, words):
    """The paragraph that says how many seeds every model was trained with."""
    seeds = result.seeds
    if len(seeds) == 1:
        return words("one_seed_intro", seed=seeds[0])
    return words("seeds_intro", n=len(seeds), seeds=words.join(str(seed) for seed in seeds))


def _models_with(verdicts, result, words):
    """The models whose verdict is one of ``verdicts``, each with its agreement over seeds."""
    items = []
    for name in result.models:
        d = result.diagnoses[name]
        if d.verdict in verdicts:
            items.append(
                name
                if d.n_runs == 1
                else words("agreement_item", name=name, agreement=d.agreement, runs=d.n_runs)
            )
    return words.join(items)


def _findings(result, words):
    names, diagnoses = result.models, result.diagnoses
    best = max(names, key=lambda name: result.summary.loc[name, "test_accuracy_mean"])
    accuracy = _cell("test_accuracy", best, result, words)
    findings = [words("best_test", model=best, accuracy=accuracy)]
    for verdicts, key in (
        (("overfitting",), "overfitting_models"),
        (("starting to overfit",), "starting_models"),
        (("underfitting",), "underfitting_models"),
        (("unstable", "diverged"), "unstable_models"),
    ):
        models = _models_with(verdicts, result, words)
        if models:
            findings.append(words(key, models=models))
        elif key == "overfitting_models":
            findings.append(words("no_overfitting"))
    overfitting = [name for name in names if diagnoses[name].verdict == "overfitting"]
    remedies = [name for name in names if name in REMEDY_MODELS]
    if remedies and OVERFITTING_MODEL in overfitting:
        cured = [name for name in remedies if name not in overfitting]
        still = [name for name in remedies if name in overfitting]
        findings.append(
            words("cured", model=OVERFITTING_MODEL, models=words.join(cured) or words("none"))
        )
        if still:
            findings.append(words("not_cured", models=words.join(still)))
    return findings


def _per_class_table(matrix, words):
    names = list(words.raw("class_names"))  # in Japanese with the English name in brackets
    totals = matrix.sum(axis=1)
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, 0)
    confused = mistakes.argmax(axis=1)
    return pd.DataFrame(
        {
            words("column.label"): [str(i) for i in range(len(names))],
            words("column.class"): names,
            words("column.test_accuracy"): [
                f"{matrix[i, i] / totals[i]:.3f}" if totals[i] else "–" for i in range(len(names))
            ],
            words("column.mistaken_for"): [
                names[confused[i]] if mistakes[i].any() else "–" for i in range(len(names))
            ],
            words("column.times"): [str(mistakes[i, confused[i]]) for i in range(len(names))],
        }
    )


def _settings_table(result, words):
    settings, environment = result.settings, result.environment
    versions = ", ".join(f"{k} {v}" for k, v in environment["versions"].items() if v)
    rows = [
        ("run_time", _duration(result.run_time, words)),
        ("date", environment["date"]),
        (
            "machine",
            words(
                "setting.machine_value",
                cpus=environment["cpu_count"],
                platform=environment["platform"],
                python=environment["python"],
            ),
        ),
        ("versions", versions),
        (
            "random_state",
            words(
                "seed_value",
                random_state=settings["random_state"],
                seeds=words.join(str(seed) for seed in settings["seeds"]),
            ),
        ),
        ("seeds", len(settings["seeds"])),
        ("quick", words("true") if settings["quick"] else words("false")),
        ("epochs", settings["epochs"]),
        ("tutorial_epochs", settings["tutorial_epochs"]),
        ("subset_size", f"{settings['subset_size']:,}"),
        ("tutorial_size", f"{settings['tutorial_size']:,}"),
        *(
            [
                ("strong_epochs", settings["strong_epochs"]),
                ("strong_size", f"{settings['strong_size']:,}"),
            ]
            if "strong" in settings["models"]
            else []
        ),
        ("validation_fraction", settings["validation_fraction"]),
        ("test_images", f"{len(next(iter(result.test_proba.values()))[0]):,}"),
        (
            "training",
            f"{settings['optimizer']}, {settings['learning_rate']}, {settings['batch_size']}",
        ),
        ("n_jobs", words("serial") if settings["n_jobs"] is None else settings["n_jobs"]),
        ("models", ", ".join(settings["models"])),
    ]
    return pd.DataFrame(
        {
            words("column.setting"): [words(f"setting.{key}") for key, _ in rows],
            words("column.value"): [str(value) for _, value in rows],
        }
    )


def _duration(seconds, words):
    if seconds < 60:
        return words("seconds", seconds=seconds)
    minutes = int(seconds // 60)
    return words("minutes", minutes=minutes, seconds=seconds - 60 * minutes)
