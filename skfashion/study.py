"""The course's exercise end to end: train, watch validation, compare sizes, cure overfitting.

:func:`run_study` does what the course asks a student to do in a notebook, on
the real Fashion-MNIST data, and writes a report folder (Markdown, a
self-contained HTML page, PNG figures and CSV tables). The ``skfashion study``
command is a thin front end to it.
"""

import contextlib
import io
import itertools
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from types import MappingProxyType

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from . import _i18n
from ._datasets import N_IMAGES
from ._environment import machine_info, usable_cpus
from ._seeds import fit_seed
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

    Every model is trained once per seed (see :func:`study_seeds`); the
    per-model values below are lists in the order of :attr:`seeds`.

    Attributes
    ----------
    models : list of str
        Names of the models trained, in the order of :data:`MODEL_NAMES`.
    seeds : list of int
        The ``random_state`` of each run of every model.
    estimators : dict of str to list of FashionMLP
        The fitted classifiers by model name, one per seed.
    histories : dict of str to list of dict of str to list of float
        Per-epoch ``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy`` by
        model name, one history per seed.
    diagnoses : dict of str to RunsDiagnosis
        :func:`skfashion.report.diagnose` of each model's runs: the verdict
        with its agreement over the seeds, mean and spread of the answers, and
        each seed's :class:`~skfashion.report.Diagnosis` in ``runs``.
    test_accuracy : dict of str to list of float
        Accuracy on the 10,000 test images by model name, one per seed.
    test_proba : dict of str to list of ndarray of shape (10000, 10)
        Predicted class probabilities of the test images by model name, one
        array per seed.
    summary : pandas.DataFrame
        One row per model (index ``model``): the network's settings, the
        columns of :func:`skfashion.report.compare` for several runs
        (``verdict``, ``agreement``, ``n_runs``, means and standard
        deviations), ``test_accuracy_mean``, ``test_accuracy_std`` and
        ``fit_time_s`` (all seeds). Written as ``summary.csv``.
    comparison : pandas.DataFrame
        One row per run (index ``model`` and ``seed``): the network's
        settings, the columns of :func:`skfashion.report.compare` for one run,
        ``test_accuracy`` and ``fit_time_s``. Written as ``comparison.csv``.
    history : pandas.DataFrame
        Every run's per-epoch history, indexed by ``model``, ``seed`` and
        ``epoch``. Written as ``history.csv``.
    confusion_matrix : ndarray of shape (10, 10) or None
        Test-set confusion matrix of the tutorial network's first seed (rows:
        true class, columns: predicted class); None when it was not trained.
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
    seeds: list = field(default_factory=lambda: [0])
    summary: object = None

    def __repr__(self):
        return (
            f"StudyResult(models={self.models}, seeds={self.seeds}, out={str(self.out)!r}, "
            f"run_time={self.run_time:.1f})"
        )

    def summary_frame(self):
        """One row per model: the three answers over the seeds and the test accuracy.

        Returns
        -------
        frame : pandas.DataFrame
            Indexed by ``model``: ``hidden_layer_sizes``, ``epochs_run``,
            ``best_epoch`` and ``best_val_accuracy`` (means over the seeds),
            ``verdict``, ``agreement``, ``n_runs``, ``test_accuracy`` (mean)
            and ``test_accuracy_std``. :meth:`summary_table` is the same in
            words.
        """
        if self.summary is None:  # a result put together by hand, one run per model
            return self.comparison[[c for c in _SUMMARY_COLUMNS if c in self.comparison]]
        frame = self.summary.rename(
            columns={
                "best_epoch_mean": "best_epoch",
                "best_val_accuracy_mean": "best_val_accuracy",
                "test_accuracy_mean": "test_accuracy",
            }
        )
        return frame[list(_SUMMARY_COLUMNS)]

    def summary_table(self, language=None):
        """The table ``skfashion study`` prints: one row per model, in words.

        Parameters
        ----------
        language : str, default=None
            Language of the column names and verdicts; the report's when None.

        Returns
        -------
        table : pandas.DataFrame
            Model, hidden units, epochs run, best epoch, validation accuracy
            there, verdict and test accuracy, as text: ``mean ± std`` over
            the seeds and the verdict with its agreement when there are
            several seeds.
        """
        from ._study_report import CLI_COLUMNS, Words, summary_table

        return summary_table(self, Words(language or self.settings["lang"]), CLI_COLUMNS)


_SUMMARY_COLUMNS = (
    "hidden_layer_sizes",
    "epochs_run",
    "best_epoch",
    "best_val_accuracy",
    "verdict",
    "agreement",
    "n_runs",
    "test_accuracy",
    "test_accuracy_std",
)


@validate_params(
    {
        "out": [str, os.PathLike],
        "quick": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "models": ["array-like", None],
        "subset_size": [Interval(Integral, MIN_SUBSET, N_IMAGES["train"], closed="both"), None],
        "seeds": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "lang": [StrOptions(set(_i18n.LANGUAGES))],
        "verbose": ["verbose"],
        "progress": ["boolean", None],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "cache": ["boolean", str, os.PathLike],
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
    seeds=None,
    random_state=0,
    lang="en",
    verbose=0,
    progress=True,
    n_jobs=None,
    cache=False,
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
    loss and accuracy after each epoch, and is scored on the 10,000 test
    images. Every model is trained ``seeds`` times (3 in the full study, 1
    with ``quick``): run ``i`` has ``random_state + i`` (:func:`study_seeds`),
    which sets its initial weights, the order of its batches, its dropout
    masks and augmentation, and which images it holds out for validation.
    The runs of a model are diagnosed together with
    :func:`skfashion.report.diagnose` (best number of epochs, validation
    accuracy there, the verdict with how many seeds agree on it); the tables
    give mean ± standard deviation over the seeds and the figures draw the
    mean curves in a band of ± one standard deviation. All models get the
    same seeds, so a model's numbers do not depend on which other models
    were trained.

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
    seeds : int, default=None
        Runs of every model, each with its own seed; 3 (1 with ``quick``)
        when None. Must be at least 1.
    random_state : int, RandomState instance or None, default=0
        The seed of every model's first run; run ``i`` gets ``random_state +
        i``. A seed sets the validation split, the weights, dropout,
        augmentation and the batch order. The same int gives the same
        numbers.
    lang : str, default="en"
        Language of the report: any language with a catalog in
        ``skfashion/_locales`` (``"en"`` English, ``"ja"`` Japanese).
        Japanese figure labels need a font with Japanese glyphs (such as the
        Debian package ``fonts-ipafont-gothic``); without one the figures keep
        English labels.
    verbose : int, default=0
        1 prints a table row per epoch of every run (best values marked).
    progress : bool or None, default=True
        Show a progress bar over models and epochs on standard error. None
        shows it only when standard error is a terminal.
    n_jobs : int, default=None
        Worker processes that train the runs at once. Every run trains in a
        worker process whose TensorFlow uses one thread, so that its numbers
        are the same bits on any machine and for any ``n_jobs`` (those of
        ``benchmarks/verdict_seeds.py`` for the same model and seed). None or
        -1: one worker per usable core; 1: one worker, one run after another;
        -2: all cores but one, as in joblib. When joblib's Dask backend is
        active (:func:`skfashion.compute_backend`), the runs go to the Dask
        workers instead and use their threads: the same bits when each worker
        has one thread, as ``--local-cluster`` starts them. The progress bar
        advances once per finished run; with ``verbose``, a run's rows are
        printed when it finishes.
    cache : bool or path-like, default=False
        Keep each finished model's results (fitted attributes and test-set
        probabilities) in a cache, and take from it the models already
        trained with the same parameters, seed, data, versions and training
        code, so that a run stopped by Ctrl-C, a crash or a lost cluster
        trains only what is missing when run again, and writes the same
        report. True uses ``$SKFASHION_CACHE`` or ``skfashion_cache`` in
        scikit-learn's data home; a path names the folder. A damaged entry
        is ignored with a warning and its run trained again.

    Returns
    -------
    result : StudyResult
        Estimators, histories, diagnoses, tables, test accuracies, settings
        and the paths written.

    Raises
    ------
    ValueError
        For invalid parameters (``seeds`` below 1 among them), unknown model
        names, or an ``out`` that exists but is not a study report folder.

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
    >>> result.summary[["verdict", "agreement", "test_accuracy_mean"]]  # doctest: +SKIP
    """
    start = time.perf_counter()
    names = _check_models(models)
    out = Path(out)
    settings = _settings(quick, epochs, subset_size, seeds, random_state, names, n_jobs, lang)
    with _report_folder(out) as folder:
        from . import _study_report

        _start_workers(settings, n_jobs)
        data = _load_data(settings)
        fitted, probas = _train(names, settings, data, verbose, progress, n_jobs, cache)
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


def study_seeds(random_state, n_seeds):
    """The ``random_state`` of each of a model's ``n_seeds`` runs: ``random_state + i`` for run i.

    An int ``random_state`` is the first run's seed, so run 0 is the fit of
    ``FashionMLP(random_state=random_state)`` with the study's settings; a
    ``RandomState`` instance or None first gives one integer, as
    :class:`~skfashion.FashionMLP` derives it (``skfashion._seeds.fit_seed``).

    Examples
    --------
    >>> study_seeds(0, 3)
    [0, 1, 2]
    """
    first = fit_seed(random_state)
    return [first + i for i in range(n_seeds)]


def _settings(quick, epochs, subset_size, n_seeds, random_state, names, n_jobs, lang):
    defaults = QUICK if quick else FULL
    seeds = study_seeds(random_state, int(n_seeds or defaults["seeds"]))
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
        "seed": seeds[0],
        "seeds": seeds,
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


def _estimator(name, seed, settings, verbose=0):
    from ._estimator import FashionMLP

    common = {key: settings[key] for key in TRAINING}
    study = {
        "epochs": _epochs(name, settings),
        "validation_fraction": settings["validation_fraction"],
        "random_state": seed,
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


def _model_data(name, settings, data):
    """The images one model trains on (its first ones) and the test images."""
    n = _n_images(name, settings)
    return {"X": data["X"][:n], "y": data["y"][:n], "X_test": data["X_test"]}


# Every run trains in a worker process whose TensorFlow runs one thread: its float sums then do
# not depend on the machine's cores or on n_jobs, so a run gives the same bits on any machine,
# those of benchmarks/verdict_seeds.py for the same model and seed. On two cores, two such
# workers also train more per second than one process with two threads.
_WORKER_ENV = MappingProxyType({"SKFASHION_THREADS": "1"})
# Idle workers stay this long (seconds), with TensorFlow loaded, for the next study in a session.
_WORKER_IDLE_S = 60


def _fit_and_predict(name, seed, settings, data, *, verbose=0):
    """Fit one run, model ``name`` with ``seed``, on its ``data`` (of :func:`_model_data`).

    Returns the fitted estimator and its test-set probabilities. A function
    of the run alone, so that its result can be kept and found again.
    """
    estimator = _estimator(name, seed, settings, verbose)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Training interrupted")
        estimator.fit(data["X"], data["y"])
    if estimator.interrupted_:
        raise KeyboardInterrupt
    return estimator, estimator.predict_proba(data["X_test"])


def _fit_in_worker(name, seeds, settings, data, verbose=0):
    """Fit model ``name`` once per seed in a worker: a list of ``(estimator, proba)``, and what
    the fits printed (``verbose``). The seeds of one model share its compiled programs."""
    printed, runs = io.StringIO(), []
    with contextlib.redirect_stdout(printed):
        for seed in seeds:
            if verbose:
                estimator = _estimator(name, seed, settings)
                print(_heading(name, seed, estimator, _n_images(name, settings)))
            runs.append(_fit_and_predict(name, seed, settings, data, verbose=verbose))
    return runs, printed.getvalue()


def _start_worker():
    """Load TensorFlow as a worker starts (with one thread, :data:`_WORKER_ENV`)."""
    from . import _estimator  # noqa: F401  (its import starts TensorFlow)


def _workers(n_workers):
    """The pool of worker processes (loky's, reused from one study to the next)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(
        max_workers=n_workers,
        env=dict(_WORKER_ENV),
        timeout=_WORKER_IDLE_S,
        initializer=_start_worker,
    )


def _start_workers(settings, n_jobs):
    """Start the workers now, so that they load TensorFlow while this process loads the data."""
    if not _on_remote_backend():
        _workers(_n_workers(n_jobs, len(settings["models"]) * len(settings["seeds"])))


def _n_workers(n_jobs, n_runs):
    """Worker processes for ``n_runs`` runs: ``n_jobs`` as joblib reads it, at most one per run."""
    cpus = usable_cpus()
    wanted = cpus if n_jobs is None else n_jobs if n_jobs > 0 else cpus + 1 + n_jobs
    return max(1, min(wanted, n_runs))


# Rough relative costs of a fit on one TensorFlow thread, measured on the full study (per fit:
# bigger 9.6 s, +dropout 12.7 s, +l2 14.7 s, +both 17.8 s; early stopping ends after ~8 of 20
# epochs). They only order the work (costliest first), never change a result.
_DROPOUT_COST, _L2_COST, _EARLY_STOPPING_COST = 0.3, 0.5, 0.4


def _cost(name, settings):
    """A rough cost of one run of ``name``: its batches times (a fixed part + its weights)."""
    from ._network import resolve_hidden_layer_sizes

    params = {**TRAINING, **MODELS[name]}
    units = (784, *resolve_hidden_layer_sizes(params["hidden_layer_sizes"]), 10)
    weights = sum(a * b for a, b in itertools.pairwise(units))
    batches = _epochs(name, settings) * _n_images(name, settings) / params["batch_size"]
    factor = 1 + _DROPOUT_COST * bool(params.get("dropout")) + _L2_COST * bool(params.get("l2"))
    if params.get("early_stopping"):
        factor *= _EARLY_STOPPING_COST
    return batches * (50_000 + weights) * factor


def _tasks(jobs, n_workers, settings):
    """What a worker trains at a time, ``(name, seeds)``, the costliest first.

    A model's seeds together, so that they share its compiled programs, when
    there are models enough to keep every worker busy to the end; else one
    run each.
    """
    seeds = {}
    for name, seed in jobs:
        seeds.setdefault(name, []).append(seed)
    if len(seeds) >= 2 * n_workers:
        tasks = list(seeds.items())
    else:
        tasks = [(name, [seed]) for name, seed in jobs]
    return sorted(tasks, key=lambda task: -len(task[1]) * _cost(task[0], settings))


def _on_remote_backend():
    """True when joblib's active backend is a cluster's (``compute_backend``'s Dask)."""
    from joblib._parallel_backends import (
        LokyBackend,
        MultiprocessingBackend,
        SequentialBackend,
        ThreadingBackend,
    )
    from joblib.parallel import get_active_backend

    local = (LokyBackend, MultiprocessingBackend, SequentialBackend, ThreadingBackend)
    return not isinstance(get_active_backend()[0], local)


def _run_all(jobs, settings, model_data, verbose, n_jobs, on_runs):
    """Train every ``(name, seed)`` of ``jobs``; call ``on_runs(name, seeds, runs, printed)``.

    The runs go to worker processes whose TensorFlow has one thread
    (:data:`_WORKER_ENV`), or to the Dask cluster of an active
    ``compute_backend``, whose workers set their own threads.
    """
    if _on_remote_backend():
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=-1 if n_jobs is None else n_jobs, return_as="generator")(
            delayed(_fit_in_worker)(name, [seed], settings, model_data[name], verbose)
            for name, seed in jobs
        )
        for (name, seed), (runs, printed) in zip(jobs, done, strict=True):
            on_runs(name, [seed], runs, printed)
        return
    n_workers = _n_workers(n_jobs, len(jobs))
    tasks = _tasks(jobs, n_workers, settings)
    executor = _workers(min(n_workers, len(tasks)))
    try:
        futures = {
            executor.submit(_fit_in_worker, name, seeds, settings, model_data[name], verbose): (
                name,
                seeds,
            )
            for name, seeds in tasks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=list(futures).index):
                on_runs(*futures[future], *future.result())
    except BaseException:
        # Ctrl-C, an error or a failed run: stop the other runs now, leave no worker behind.
        executor.shutdown(wait=True, kill_workers=True)
        raise


def _train(names, settings, data, verbose, progress, n_jobs, cache=False):
    """Fit every model once per seed; model name -> list of estimators, and of probabilities.

    Runs found in the ``cache`` are taken from it; every run trained here is
    kept there as soon as it finishes.
    """
    from tqdm import tqdm

    from ._cache import keep_fit, open_cache

    cache = open_cache(cache)
    model_data = {name: _model_data(name, settings, data) for name in names}
    runs, keys = _cached_runs(cache, names, settings, model_data, verbose)

    def finished(name, seeds, done, printed):
        if printed:
            print(printed, end="", flush=True)
        for seed, run in zip(seeds, done, strict=True):
            runs[name, seed] = run
            keep_fit(cache, keys.get((name, seed)), *run)
            _advance(bar, name, seed, run[0])

    # The runs to train (those found in the cache are left out).
    jobs = [(name, s) for name in names for s in settings["seeds"] if (name, s) not in runs]
    total = sum(_epochs(name, settings) for name, _ in jobs)
    if progress is None:
        progress = getattr(sys.stderr, "isatty", lambda: False)()
    bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=not progress, leave=True)
    n_runs = len(names) * len(settings["seeds"])
    with bar, _printing_above(bar, verbose), _naming_what_is_kept(cache, runs, n_runs):
        bar.set_description("runs")
        if jobs:
            _run_all(jobs, settings, model_data, verbose, n_jobs, finished)
    ordered = {name: [runs[name, seed] for seed in settings["seeds"]] for name in names}
    fitted = {name: [estimator for estimator, _ in ordered[name]] for name in names}
    probas = {name: [proba for _, proba in ordered[name]] for name in names}
    return fitted, probas


def _cached_runs(cache, names, settings, model_data, verbose):
    """The runs the cache holds, ``(name, seed) -> (estimator, proba)``, and every run's key."""
    from ._cache import cached_fit

    runs, keys = {}, {}
    if cache is None:  # no estimator to build: this process need not load TensorFlow yet
        return runs, keys
    for name in names:
        part = model_data[name]
        for seed in settings["seeds"]:
            estimator = _estimator(name, seed, settings, verbose)
            keys[name, seed], found = cached_fit(
                cache, estimator, part["X"], part["y"], part["X_test"]
            )
            if found is not None:
                runs[name, seed] = found
    return runs, keys


@contextlib.contextmanager
def _naming_what_is_kept(cache, runs, n_runs):
    """A lost Dask cluster's error says which runs the cache keeps for the next run."""
    from ._parallel import ClusterLostError

    try:
        yield
    except ClusterLostError as exc:
        if cache is None:
            raise
        kept = (
            f"{len(runs)} of {n_runs} runs are finished and kept in the cache "
            f"{cache.folder}; run the study again to train only the others."
        )
        raise ClusterLostError(
            exc.what, address=exc.address, n_finished=exc.n_finished, kept=kept
        ) from exc


def _advance(bar, name, seed, estimator):
    """Move the bar on by a finished run's epochs (those early stopping skipped included)."""
    last = estimator.history_.get("val_accuracy", [float("nan")])[-1]
    bar.set_postfix_str(f"{name} (seed {seed}) val_accuracy={last:.3f}", refresh=False)
    bar.update(estimator.epochs)


def _heading(name, seed, estimator, n_images):
    units = _hidden_units(estimator)
    return (
        f"\n{name}: {units} units, {n_images:,} training images, {estimator.epochs} epochs, "
        f"seed {seed}"
    )


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

    y_test, seeds = data["y_test"], settings["seeds"]
    predictions = {
        name: [fitted[name][0].classes_[np.argmax(proba, axis=1)] for proba in probas[name]]
        for name in names
    }
    test_accuracy = {
        name: [float(np.mean(predicted == y_test)) for predicted in predictions[name]]
        for name in names
    }
    diagnoses = {name: diagnose(fitted[name]) for name in names}
    history = pd.concat(
        {
            (name, seed): history_frame(estimator)
            for name in names
            for seed, estimator in zip(seeds, fitted[name], strict=True)
        },
        names=["model", "seed", "epoch"],
    )
    matrix = None
    if "tutorial" in fitted:
        matrix = confusion_matrix(y_test, predictions["tutorial"][0], labels=np.arange(10))
    return StudyResult(
        models=list(names),
        seeds=list(seeds),
        estimators=fitted,
        histories={name: [dict(e.history_) for e in fitted[name]] for name in names},
        diagnoses=diagnoses,
        test_accuracy=test_accuracy,
        test_proba=probas,
        summary=_summary(names, fitted, diagnoses, test_accuracy, settings),
        comparison=_comparison(names, fitted, diagnoses, test_accuracy, settings),
        history=history,
        confusion_matrix=matrix,
        settings=settings,
        environment=machine_info(),
    )


def _network_columns(estimator, name, settings):
    """A model's settings as the tables show them (the same for every seed)."""
    return {
        "hidden_layer_sizes": _hidden_units(estimator),
        "dropout": float(estimator.dropout),
        "l2": float(estimator.l2),
        "augment": bool(estimator.augment),
        "early_stopping": bool(estimator.early_stopping),
        "batch_norm": bool(estimator.batch_norm),
        "lr_schedule": str(estimator.lr_schedule),
        "batch_size": int(estimator.batch_size),
        "train_images": _n_images(name, settings),
    }


def _with_network(frame, rows):
    """``frame`` with the network columns of ``rows`` (one mapping per row) in front."""
    import pandas as pd

    network = pd.DataFrame(list(rows), index=frame.index)
    return pd.concat([network, frame], axis=1)


def _comparison(names, fitted, diagnoses, test_accuracy, settings):
    """One row per run: (model, seed) -> network, that run's diagnosis, test accuracy, time."""
    import pandas as pd

    seeds = settings["seeds"]
    frames = [run.to_frame(name) for name in names for run in diagnoses[name].runs]
    frame = pd.concat(frames)
    frame.index = pd.MultiIndex.from_tuples(
        [(name, seed) for name in names for seed in seeds], names=["model", "seed"]
    )
    frame = _with_network(
        frame,
        (_network_columns(e, name, settings) for name in names for e in fitted[name]),
    )
    frame["test_accuracy"] = [a for name in names for a in test_accuracy[name]]
    frame["fit_time_s"] = [float(e.fit_time_) for name in names for e in fitted[name]]
    return frame


def _summary(names, fitted, diagnoses, test_accuracy, settings):
    """One row per model: network, the verdict with its agreement, mean and std over the seeds."""
    from .report import compare

    frame = _with_network(
        compare({name: diagnoses[name] for name in names}),
        (_network_columns(fitted[name][0], name, settings) for name in names),
    )
    frame["test_accuracy_mean"] = [float(np.mean(test_accuracy[name])) for name in names]
    frame["test_accuracy_std"] = [float(np.std(test_accuracy[name])) for name in names]
    frame["fit_time_s"] = [float(sum(e.fit_time_ for e in fitted[name])) for name in names]
    return frame


__all__ = ["MODELS", "MODEL_NAMES", "StudyResult", "run_study", "study_seeds"]
