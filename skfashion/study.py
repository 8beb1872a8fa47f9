"""The course's exercise end to end: train, watch validation, compare sizes, cure overfitting.

:func:`run_study` does what the course asks a student to do in a notebook, on
the real Fashion-MNIST data, and writes a report folder (Markdown, a
self-contained HTML page, PNG figures and CSV tables). The ``skfashion study``
command is a thin front end to it.
"""

import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from . import _i18n
from ._datasets import N_IMAGES
from ._environment import machine_info
from ._study_design import (
    DEFAULT_MODELS,
    FULL,
    FULL_DATA_MODELS,
    MARKER,
    MIN_SUBSET,
    MODEL_NAMES,
    MODELS,
    QUICK,
    TRAINING,
    TUTORIAL_EPOCHS,
    VALIDATION_FRACTION,
)


@dataclass(repr=False)
class StudyResult:
    """What :func:`run_study` trained, measured and wrote.

    Attributes
    ----------
    models : list of str
        Names of the models trained, in the order of :data:`MODEL_NAMES`.
    estimators : dict of str to FashionMLP
        The fitted classifiers by model name.
    histories : dict of str to dict of str to list of float
        Per-epoch ``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy`` by
        model name.
    diagnoses : dict of str to Diagnosis
        :func:`skfashion.report.diagnose` of each model.
    test_accuracy : dict of str to float
        Accuracy on the 10,000 test images, by model name.
    test_proba : dict of str to ndarray of shape (10000, 10)
        Predicted class probabilities of the test images, by model name.
    comparison : pandas.DataFrame
        One row per model (index ``model``): the network's settings, the
        columns of :func:`skfashion.report.compare`, ``test_accuracy`` and
        ``fit_time_s``. Written as ``comparison.csv``.
    history : pandas.DataFrame
        Every model's per-epoch history, indexed by ``model`` and ``epoch``.
        Written as ``history.csv``.
    confusion_matrix : ndarray of shape (10, 10) or None
        Test-set confusion matrix of the tutorial network (rows: true class,
        columns: predicted class); None when it was not trained.
    settings : dict
        The settings the study ran with.
    environment : dict
        Versions, CPU count, platform and date of the run.
    run_time : float
        Seconds from the start of the run to the writing of the report.
    out : pathlib.Path
        The report folder.
    files : list of pathlib.Path
        Every file written into ``out``.
    """

    models: list
    estimators: dict
    histories: dict
    diagnoses: dict
    test_accuracy: dict
    test_proba: dict
    comparison: object
    history: object
    confusion_matrix: object
    settings: dict
    environment: dict
    run_time: float = float("nan")
    out: Path = None
    files: list = field(default_factory=list)

    def __repr__(self):
        return (
            f"StudyResult(models={self.models}, out={str(self.out)!r}, "
            f"run_time={self.run_time:.1f})"
        )

    def summary_frame(self):
        """The table printed at the end of a run: one row per model.

        Returns
        -------
        frame : pandas.DataFrame
            ``hidden_layer_sizes``, ``epochs_run``, ``best_epoch``,
            ``best_val_accuracy``, ``verdict`` and ``test_accuracy``.
        """
        columns = [
            "hidden_layer_sizes",
            "epochs_run",
            "best_epoch",
            "best_val_accuracy",
            "verdict",
            "test_accuracy",
        ]
        return self.comparison[columns]


@validate_params(
    {
        "out": [str, os.PathLike],
        "quick": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "models": ["array-like", None],
        "subset_size": [Interval(Integral, MIN_SUBSET, N_IMAGES["train"], closed="both"), None],
        "random_state": ["random_state"],
        "lang": [StrOptions(set(_i18n.LANGUAGES))],
        "verbose": ["verbose"],
        "progress": ["boolean", None],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def run_study(
    *,
    out="skfashion-report",
    quick=False,
    epochs=None,
    models=None,
    subset_size=None,
    random_state=0,
    lang="en",
    verbose=0,
    progress=True,
    n_jobs=None,
):
    """Run the course's Fashion-MNIST exercise end to end and write a report.

    1. The tutorial network (Dense(128, relu)) for the course's 5 epochs on
       the training images.
    2. Network size: ``"smaller"`` (4+4 units), ``"baseline"`` (16+16) and
       ``"bigger"`` (512+512), long enough for ``"bigger"`` to overfit.
    3. Remedies for ``"bigger"``: dropout, L2 regularisation, both, data
       augmentation and early stopping (their settings are in :data:`MODELS`).
    4. Only when asked for (``models=[..., "strong"]``, about 3 minutes on
       two cores): skfashion's most accurate MLP, ``RECIPES["strong"]``, on the
       training images for its recipe's 30 epochs.

    The report compares the test accuracies with published ones. Every model
    holds out a stratified 20 % of its training images to record validation
    loss and accuracy after each epoch, and is diagnosed with
    :func:`skfashion.report.diagnose` (best number of epochs, validation
    accuracy there, overfitting or not) and scored on the 10,000 test images.
    All models get the same seed, so they share the validation split and the
    order of the batches, and a model's numbers do not depend on which other
    models were trained.

    The report is built in a temporary folder next to ``out`` and moved into
    place when complete: a failed or interrupted run leaves no partial report
    and keeps a previous report in ``out`` as it was.

    Parameters
    ----------
    out : str or path-like, default="skfashion-report"
        The report folder. An existing folder is replaced only if it is empty
        or holds an earlier study report (it has a ``study.json``).
    quick : bool, default=False
        A small run for trying things out (under a minute on two cores): 2,000
        training images and 8 epochs for the comparison and remedies, 3,000
        images for the tutorial network (and for ``"strong"``, also 8 epochs).
        The full run uses 6,000 images and 20 epochs, and all 60,000 images for
        the tutorial network and ``"strong"``.
    epochs : int, default=None
        Epochs of the size comparison and the remedies, and of ``"strong"``
        with ``quick``; 20 (8 with ``quick``) when None. The tutorial network
        always trains for 5, ``"strong"`` without ``quick`` for its recipe's 30.
    models : list of str, default=None
        Which of :data:`MODEL_NAMES` to train; :data:`DEFAULT_MODELS` (all but
        ``"strong"``) when None.
    subset_size : int, default=None
        Number of training images (the first ones) for the size comparison and
        the remedies, validation included; 6,000 (2,000 with ``quick``) when
        None.
    random_state : int, RandomState instance or None, default=0
        Seeds the validation split, the weights, dropout, augmentation and the
        batch order. The same int gives the same numbers.
    lang : str, default="en"
        Language of the report: any language with a catalog in
        ``skfashion/_locales`` (``"en"`` English, ``"ja"`` Japanese).
        Japanese figure labels need a font with Japanese glyphs (such as the
        Debian package ``fonts-ipafont-gothic``); without one the figures keep
        English labels.
    verbose : int, default=0
        1 prints a table row per epoch of every model (best values marked).
    progress : bool or None, default=True
        Show a progress bar over models and epochs on standard error. None
        shows it only when standard error is a terminal.
    n_jobs : int, default=None
        None or 1 trains one model after another in this process. Otherwise
        the models are trained in parallel with :class:`joblib.Parallel`
        (``-1``: all cores), on a Dask cluster when joblib's Dask backend is
        active; the progress bar then advances once per finished model.

    Returns
    -------
    result : StudyResult
        Estimators, histories, diagnoses, tables, test accuracies, settings
        and the paths written.

    Raises
    ------
    ValueError
        For invalid parameters, unknown model names, or an ``out`` that
        exists but is not a study report folder.

    See Also
    --------
    skfashion.FashionMLP : The classifier every model is.
    skfashion.report.compare : The comparison table.
    skfashion.report.HistoryDisplay : The training and validation curves.

    Examples
    --------
    >>> from skfashion.study import run_study
    >>> result = run_study(out="report", quick=True, models=["bigger", "bigger+dropout"],
    ...                    progress=False)  # doctest: +SKIP
    >>> result.comparison[["best_epoch", "verdict", "test_accuracy"]]  # doctest: +SKIP
    """
    start = time.perf_counter()
    names = _check_models(models)
    out = Path(out)
    settings = _settings(quick, epochs, subset_size, random_state, names, n_jobs, lang)
    with _report_folder(out) as folder:
        from . import _study_report

        data = _load_data(settings)
        fitted, probas = _train(names, settings, data, verbose, progress, n_jobs)
        result = _collect(names, fitted, probas, data, settings)
        result.out = out
        files = _study_report.write_figures_and_tables(
            folder, result, data["X_test"], data["y_test"]
        )
        result.run_time = time.perf_counter() - start
        files += _study_report.write_documents(folder, result, files)
        result.files = [out / name for name in files]
    return result


def _check_models(models):
    if models is None:
        return list(DEFAULT_MODELS)
    names = [str(name) for name in models]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"Unknown model name(s) {unknown}; choose from {list(MODEL_NAMES)}.")
    if not names:
        raise ValueError(f"models is empty; choose at least one of {list(MODEL_NAMES)}.")
    return [name for name in MODEL_NAMES if name in names]


def _settings(quick, epochs, subset_size, random_state, names, n_jobs, lang):
    defaults = QUICK if quick else FULL
    seed = random_state
    if not isinstance(random_state, Integral):
        seed = int(check_random_state(random_state).randint(0, 2**31 - 1))
    settings = {
        "quick": bool(quick),
        "models": list(names),
        "epochs": int(epochs or defaults["epochs"]),
        "tutorial_epochs": TUTORIAL_EPOCHS,
        "subset_size": int(subset_size or defaults["subset_size"]),
        "tutorial_size": defaults["tutorial_size"],
        "strong_epochs": None,
        "strong_size": None,
        "validation_fraction": VALIDATION_FRACTION,
        **TRAINING,
        "random_state": random_state if isinstance(random_state, Integral) else None,
        "seed": int(seed),
        "n_jobs": n_jobs,
        "lang": lang,
    }
    if "strong" in names:
        settings["strong_epochs"] = _epochs("strong", settings)
        settings["strong_size"] = _n_images("strong", settings)
    return settings


@contextlib.contextmanager
def _report_folder(out):
    """Yield a temporary folder next to ``out``; move it to ``out`` if the block succeeds."""
    if out.exists() or out.is_symlink():
        _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield folder
        folder.chmod(0o755)
        _move_into_place(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _check_replaceable(out):
    if not out.is_dir() or out.is_symlink():
        raise ValueError(f"out={str(out)!r} exists and is not a folder; choose another out.")
    if any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(
            f"out={str(out)!r} is a folder that holds no study report (no {MARKER}); "
            "choose another out or empty it first, so that nothing else is replaced."
        )


def _move_into_place(folder, out):
    if not out.exists():
        os.rename(folder, out)
        return
    _check_replaceable(out)
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(out, old)
    try:
        os.rename(folder, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _load_data(settings):
    from ._datasets import fetch_fashion_mnist

    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test}


def _estimator(name, settings, verbose):
    from ._estimator import FashionMLP

    common = {key: settings[key] for key in TRAINING}
    study = {
        "epochs": _epochs(name, settings),
        "validation_fraction": settings["validation_fraction"],
        "random_state": settings["seed"],
        "verbose": verbose,
    }
    # A model's own settings (strong's batch size, say) win over the common ones.
    return FashionMLP(**{**common, **MODELS[name], **study})


def _epochs(name, settings):
    if name == "tutorial":
        return settings["tutorial_epochs"]
    if name == "strong" and not settings["quick"]:
        return int(MODELS["strong"]["epochs"])
    return settings["epochs"]


def _n_images(name, settings):
    if name in FULL_DATA_MODELS:
        return settings["tutorial_size"]
    return settings["subset_size"]


def _fit_and_predict(estimator, X, y, X_test, on_epoch_end=None):
    """Fit one model and return it with its test-set probabilities."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Training interrupted")
        estimator.fit(X, y, on_epoch_end=on_epoch_end)
    if estimator.interrupted_:
        raise KeyboardInterrupt
    return estimator, estimator.predict_proba(X_test)


def _train(names, settings, data, verbose, progress, n_jobs):
    from tqdm import tqdm

    jobs = []
    for name in names:
        n = _n_images(name, settings)
        jobs.append((name, _estimator(name, settings, verbose), data["X"][:n], data["y"][:n]))
    total = sum(estimator.epochs for _, estimator, _, _ in jobs)
    if progress is None:
        progress = getattr(sys.stderr, "isatty", lambda: False)()
    bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=not progress, leave=True)
    fitted, probas = {}, {}
    with bar, _printing_above(bar, verbose):
        if n_jobs is None or n_jobs == 1:
            for name, estimator, X, y in jobs:
                bar.set_description(name)
                if verbose:
                    print(_heading(name, estimator, len(y)), flush=True)
                fitted[name], probas[name] = _fit_and_predict(
                    estimator, X, y, data["X_test"], on_epoch_end=_advance(bar)
                )
                bar.update(estimator.epochs - estimator.n_iter_)
        else:
            from joblib import Parallel, delayed

            bar.set_description("models")
            runs = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_fit_and_predict)(estimator, X, y, data["X_test"])
                for _, estimator, X, y in jobs
            )
            for (name, estimator, _, _), (model, proba) in zip(jobs, runs, strict=True):
                fitted[name], probas[name] = model, proba
                bar.update(estimator.epochs)
    return fitted, probas


def _advance(bar):
    def on_epoch_end(epoch, logs):
        if "val_accuracy" in logs:
            bar.set_postfix(val_accuracy=f"{logs['val_accuracy']:.3f}", refresh=False)
        bar.update(1)
        return False

    return on_epoch_end


def _heading(name, estimator, n_images):
    units = _hidden_units(estimator)
    return f"\n{name}: {units} units, {n_images:,} training images, {estimator.epochs} epochs"


def _hidden_units(estimator):
    """``"512+512"``: the hidden layers as the tables and the report show them."""
    from ._network import resolve_hidden_layer_sizes
    from .report._tables import format_param_value

    return format_param_value(resolve_hidden_layer_sizes(estimator.hidden_layer_sizes))


class _AboveBar:
    """A stdout that prints whole lines above a tqdm bar instead of through it."""

    def __init__(self, bar, stream):
        self.bar, self.stream, self.pending = bar, stream, ""

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.bar.write(line, file=self.stream)
        return len(text)

    def flush(self):
        self.stream.flush()


@contextlib.contextmanager
def _printing_above(bar, verbose):
    if not verbose or bar.disable:
        yield
        return
    writer = _AboveBar(bar, sys.stdout)
    with contextlib.redirect_stdout(writer):
        yield
    if writer.pending:
        print(writer.pending)


def _collect(names, fitted, probas, data, settings):
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    from .report import diagnose, history_frame

    y_test = data["y_test"]
    diagnoses, test_accuracy, predictions = {}, {}, {}
    for name in names:
        estimator = fitted[name]
        predictions[name] = estimator.classes_[np.argmax(probas[name], axis=1)]
        test_accuracy[name] = float(np.mean(predictions[name] == y_test))
        diagnoses[name] = diagnose(estimator)
    history = pd.concat(
        {name: history_frame(fitted[name]) for name in names}, names=["model", "epoch"]
    )
    matrix = None
    if "tutorial" in fitted:
        matrix = confusion_matrix(y_test, predictions["tutorial"], labels=np.arange(10))
    result = StudyResult(
        models=list(names),
        estimators=fitted,
        histories={name: dict(fitted[name].history_) for name in names},
        diagnoses=diagnoses,
        test_accuracy=test_accuracy,
        test_proba=probas,
        comparison=_comparison(names, fitted, diagnoses, test_accuracy, settings),
        history=history,
        confusion_matrix=matrix,
        settings=settings,
        environment=machine_info(),
    )
    return result


def _comparison(names, fitted, diagnoses, test_accuracy, settings):
    from .report import compare

    frame = compare(diagnoses)
    network = {
        "hidden_layer_sizes": [_hidden_units(fitted[n]) for n in names],
        "dropout": [float(fitted[n].dropout) for n in names],
        "l2": [float(fitted[n].l2) for n in names],
        "augment": [bool(fitted[n].augment) for n in names],
        "early_stopping": [bool(fitted[n].early_stopping) for n in names],
        "batch_norm": [bool(fitted[n].batch_norm) for n in names],
        "lr_schedule": [str(fitted[n].lr_schedule) for n in names],
        "batch_size": [int(fitted[n].batch_size) for n in names],
        "train_images": [_n_images(n, settings) for n in names],
    }
    for position, (column, values) in enumerate(network.items()):
        frame.insert(position, column, values)
    frame["test_accuracy"] = [test_accuracy[n] for n in names]
    frame["fit_time_s"] = [float(fitted[n].fit_time_) for n in names]
    return frame


__all__ = ["MODELS", "MODEL_NAMES", "StudyResult", "run_study"]
