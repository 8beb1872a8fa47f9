"""Per-epoch training and validation curves across cross-validation folds."""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, indexable
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_method_params

from .._history import TRAIN_KEYS, VALIDATION_KEYS, as_history, require_validation


def epoch_curve(estimator, X, y, *, groups=None, cv=5, n_jobs=None, params=None, verbose=0):
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

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by 1-based ``epoch``: ``<metric>_mean`` and ``<metric>_std``
        (population standard deviation, as in ``cv_results_``) for each
        metric (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` first),
        and ``n_folds``. Folds may stop at different epochs (early stopping):
        the curves are aligned on the epoch number and each epoch's statistics
        are taken over the folds that reached it, as ``n_folds`` tells.

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
    return aggregate_histories(histories)


def _fit_fold(estimator, X, y, train, test, params):
    fit_params = _check_method_params(X, params=params, indices=train)
    X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
    X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    estimator.fit(X_train, y_train, validation_data=(X_test, y_test), **fit_params)
    history = as_history(estimator)
    require_validation(history)
    return history


def aggregate_histories(histories):
    """Mean and standard deviation per epoch over histories of possibly different lengths.

    Parameters
    ----------
    histories : sequence of mapping or estimator
        One history per fold.

    Returns
    -------
    frame : pandas.DataFrame
        As :func:`epoch_curve` returns. A NaN value (a diverged fold) makes
        that epoch's mean NaN; a fold that stopped earlier only drops out.
    """
    histories = [as_history(history) for history in histories]
    if not histories:
        raise ValueError("No history to aggregate.")
    metrics = [key for key in TRAIN_KEYS + VALIDATION_KEYS if any(key in h for h in histories)]
    for history in histories:
        metrics += [key for key in history if key not in metrics]
    n_epochs = max(len(history["loss"]) for history in histories)
    columns = {}
    for metric in metrics:
        values = np.full((len(histories), n_epochs), np.nan)
        reached = np.zeros_like(values, dtype=bool)
        for row, history in enumerate(histories):
            if metric in history:
                values[row, : len(history[metric])] = history[metric]
                reached[row, : len(history[metric])] = True
        values = np.ma.masked_array(values, mask=~reached)
        columns[f"{metric}_mean"] = values.mean(axis=0).filled(np.nan)
        columns[f"{metric}_std"] = values.std(axis=0).filled(np.nan)
    lengths = np.array([len(history["loss"]) for history in histories])
    columns["n_folds"] = (lengths[:, np.newaxis] >= np.arange(1, n_epochs + 1)).sum(axis=0)
    return pd.DataFrame(columns, index=pd.RangeIndex(1, n_epochs + 1, name="epoch"))
