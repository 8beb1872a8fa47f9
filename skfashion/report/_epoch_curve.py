"""Per-epoch training and validation curves across cross-validation folds or seeds."""

from numbers import Integral

from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, indexable
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_method_params

from .._diagnostics import aggregate_histories
from .._history import as_history, require_validation


def epoch_curve(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=5,
    n_jobs=None,
    params=None,
    verbose=0,
    return_histories=False,
):
    """Training and validation curves per epoch, mean and spread over CV folds.

    For each fold of ``check_cv(cv, y, classifier=True)``, a clone of the
    estimator is fitted on the training part with
    ``validation_data=(X_test, y_test)`` and its ``history_`` is collected.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator whose ``fit`` accepts ``validation_data`` and
        records ``history_``, such as :class:`~skfashion.FashionMLP`.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Images, one row per image.
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-aware splitters such as ``GroupKFold``.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`sklearn.model_selection.cross_validate`; an integer means
        ``StratifiedKFold``.
    n_jobs : int, default=None
        Folds fitted in parallel by joblib; works with any joblib backend,
        ``joblib.parallel_backend("dask")`` included.
    params : dict, default=None
        Extra arguments to ``fit``; per-sample ones (such as
        ``sample_weight``) are split with the folds.
    verbose : int, default=0
        joblib's verbosity.
    return_histories : bool, default=False
        Also return each fold's history, for example to diagnose the folds
        together: ``diagnose(histories)``.

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by 1-based ``epoch``: ``<metric>_mean`` and ``<metric>_std``
        (population standard deviation, as in ``cv_results_``) for each
        metric (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` first),
        and ``n_folds``. Folds may stop at different epochs (early stopping):
        the curves are aligned on the epoch number and each epoch's statistics
        are taken over the folds that reached it, as ``n_folds`` tells.
    histories : list of dict
        Each fold's history, in the order of the splits; only with
        ``return_histories=True``.

    See Also
    --------
    seed_curve : The same curves over seeds instead of folds.
    skfashion.report.diagnose : One verdict with its agreement over the folds.

    Examples
    --------
    >>> from skfashion.report._epoch_curve import aggregate_histories
    >>> aggregate_histories([
    ...     {"loss": [0.9, 0.6, 0.5], "val_loss": [0.7, 0.6, 0.65]},
    ...     {"loss": [0.8, 0.6], "val_loss": [0.8, 0.7]},  # stopped early
    ... ])  # doctest: +NORMALIZE_WHITESPACE
           loss_mean  loss_std  val_loss_mean  val_loss_std  n_folds
    epoch
    1           0.85      0.05           0.75          0.05        2
    2           0.60      0.00           0.65          0.05        2
    3           0.50      0.00           0.65          0.00        1
    """
    X, y, groups = indexable(X, y, groups)
    splitter = check_cv(cv, y, classifier=True)
    params = {} if params is None else params
    histories = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_fit_fold)(clone(estimator), X, y, train, test, params)
        for train, test in splitter.split(X, y, groups)
    )
    frame = aggregate_histories(histories)
    return (frame, histories) if return_histories else frame


def _fit_fold(estimator, X, y, train, test, params):
    fit_params = _check_method_params(X, params=params, indices=train)
    X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
    X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    estimator.fit(X_train, y_train, validation_data=(X_test, y_test), **fit_params)
    history = as_history(estimator)
    require_validation(history)
    return history


def check_seeds(seeds):
    """The list of seeds ``seeds`` stands for: ``range(seeds)`` for an int, else the ints given."""
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(
                f"seeds must be at least 1 (the number of runs), got {seeds}; pass seeds=5 for "
                "five runs with random_state 0 to 4, or a list of random states."
            )
        return list(range(int(seeds)))
    try:
        seeds = list(seeds)
    except TypeError:
        raise ValueError(
            f"seeds must be a number of runs (int >= 1) or a list of random states, got {seeds!r}."
        ) from None
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, Integral) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise ValueError(
            "seeds must be a number of runs (int >= 1) or a non-empty list of distinct "
            f"random states (ints >= 0), got {seeds!r}."
        )
    return [int(s) for s in seeds]


def fit_seeds(estimator, X, y, *, seeds=5, n_jobs=None, params=None, verbose=0):
    """Fit clones of an estimator, one per seed, as :func:`epoch_curve` fits folds.

    Each clone gets ``random_state=seed`` and is fitted on all of ``X, y``. For
    :class:`~skfashion.FashionMLP` the seed sets the initial weights, the order
    of the batches, the dropout masks and augmentation, and which images its
    ``validation_fraction`` holds out; so the runs differ in everything that is
    left to chance, and agree in the configuration.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator with a ``random_state`` parameter that records
        ``history_`` with validation, such as
        ``FashionMLP(validation_fraction=0.2)``.
    X : array-like of shape (n_samples, n_features)
        Images, one row per image.
    y : array-like of shape (n_samples,)
        Labels.
    seeds : int or sequence of int, default=5
        Number of runs (random states ``0, 1, ..., seeds - 1``) or the random
        states themselves.
    n_jobs : int, default=None
        Seeds fitted in parallel by joblib (any joblib backend, Dask included).
    params : dict, default=None
        Extra arguments to ``fit``.
    verbose : int, default=0
        joblib's verbosity.

    Returns
    -------
    estimators : list of estimator
        The fitted clones, in the order of the seeds; pass them to
        :func:`~skfashion.report.diagnose` for one verdict with its agreement.

    See Also
    --------
    seed_curve : Mean and spread of the curves over the seeds.
    """
    seeds = check_seeds(seeds)
    if "random_state" not in estimator.get_params():
        raise ValueError(
            f"{type(estimator).__name__} has no random_state parameter, so its seeds cannot "
            "be varied; use epoch_curve to vary the data instead."
        )
    X, y = indexable(X, y)
    params = {} if params is None else params
    return Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_fit_seed)(clone(estimator).set_params(random_state=seed), X, y, params)
        for seed in seeds
    )


def _fit_seed(estimator, X, y, params):
    estimator.fit(X, y, **params)
    history = as_history(estimator)
    if "val_loss" not in history and "val_accuracy" not in history:
        require_validation(history)
    return estimator


def seed_curve(
    estimator, X, y, *, seeds=5, n_jobs=None, params=None, verbose=0, return_histories=False
):
    """Training and validation curves per epoch, mean and spread over seeds.

    Fits ``estimator`` once per seed with :func:`fit_seeds` and aggregates
    their histories as :func:`epoch_curve` aggregates folds.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator with ``random_state`` that records validation in
        ``history_``, such as ``FashionMLP(validation_fraction=0.2)``.
    X : array-like of shape (n_samples, n_features)
        Images.
    y : array-like of shape (n_samples,)
        Labels.
    seeds : int or sequence of int, default=5
        Number of runs (random states ``0 .. seeds - 1``) or the random states.
    n_jobs : int, default=None
        Seeds fitted in parallel by joblib.
    params : dict, default=None
        Extra arguments to ``fit``.
    verbose : int, default=0
        joblib's verbosity.
    return_histories : bool, default=False
        Also return each seed's history.

    Returns
    -------
    frame : pandas.DataFrame
        As :func:`epoch_curve`, with ``n_runs`` (the seeds that reached each
        epoch) instead of ``n_folds``.
    histories : list of dict
        Each seed's history; only with ``return_histories=True``.
    """
    estimators = fit_seeds(
        estimator, X, y, seeds=seeds, n_jobs=n_jobs, params=params, verbose=verbose
    )
    histories = [as_history(fitted) for fitted in estimators]
    frame = aggregate_histories(histories, count="n_runs")
    return (frame, histories) if return_histories else frame
