"""Tables of training histories, diagnoses and scikit-learn search and curve results."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._diagnostics import (
    DEFAULT_THRESHOLDS,
    Diagnosis,
    RunsDiagnosis,
    combine,
    diagnose,
    score_verdict,
)
from .._display import mark
from .._history import TRAIN_KEYS, VALIDATION_KEYS, as_history, has_validation


def history_frame(history):
    """The per-epoch history as a table, with the training-validation gaps.

    Parameters
    ----------
    history : estimator with ``history_`` or mapping of str to sequence of float
        A fitted estimator or a history mapping.

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by 1-based ``epoch``; one column per metric (``loss``,
        ``accuracy``, ``val_loss``, ``val_accuracy`` first), and with
        validation ``accuracy_gap`` (training minus validation accuracy) and
        ``loss_gap`` (validation minus training loss): both grow when the
        network overfits.

    See Also
    --------
    diagnose : What the history says about overfitting.

    Examples
    --------
    >>> from skfashion.report import history_frame
    >>> history = {"loss": [0.9, 0.5, 0.3], "accuracy": [0.70, 0.83, 0.90],
    ...            "val_loss": [0.6, 0.5, 0.55], "val_accuracy": [0.79, 0.82, 0.81]}
    >>> gaps = history_frame(history)[["accuracy_gap", "loss_gap"]]
    >>> gaps.round(2)  # doctest: +NORMALIZE_WHITESPACE
           accuracy_gap  loss_gap
    epoch
    1             -0.09     -0.30
    2              0.01      0.00
    3              0.09      0.25
    """
    history = as_history(history)
    known = [key for key in TRAIN_KEYS + VALIDATION_KEYS if key in history]
    columns = known + [key for key in history if key not in known]
    n_epochs = len(history["loss"])
    frame = pd.DataFrame(
        {key: history[key] for key in columns},
        index=pd.RangeIndex(1, n_epochs + 1, name="epoch"),
    )
    if has_validation(history):
        if "accuracy" in history:
            frame["accuracy_gap"] = frame["accuracy"] - frame["val_accuracy"]
        frame["loss_gap"] = frame["val_loss"] - frame["loss"]
    return mark(frame, "history")


def compare(models, **diagnose_params):
    """Diagnose several models side by side, one row per model.

    Parameters
    ----------
    models : mapping of str to estimator, history, Diagnosis, or list of runs
        Model name (such as ``"smaller"``, ``"baseline"``, ``"bigger"``) to a
        fitted estimator with ``history_``, a history mapping, a
        :class:`Diagnosis`, or several runs of that model (a list of
        estimators or histories, or a :class:`RunsDiagnosis`).
    **diagnose_params
        Thresholds passed to :func:`diagnose` (``min_rise``, ``min_drop``,
        ``max_gap``, ``patience``, ``tol``, ``underfit_accuracy``,
        ``restore_best_weights``).

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by ``model`` in the order given. With one run per model:
        columns ``best_epoch``, ``best_val_accuracy``, ``final_train_accuracy``,
        ``final_val_accuracy``, ``gap``, ``verdict``, ``onset_epoch``,
        ``recommended_epochs``, then the other fields of :class:`Diagnosis`.
        When any model has several runs, every row is a :class:`RunsDiagnosis`
        (one run counts as one): columns ``verdict``, ``agreement``,
        ``n_runs``, the mean and standard deviation of the answers, and each
        run's verdict.

    Examples
    --------
    >>> from skfashion.report import compare
    >>> smaller = {"loss": [2.1, 1.8, 1.75], "accuracy": [0.30, 0.37, 0.38],
    ...            "val_loss": [1.9, 1.8, 1.78], "val_accuracy": [0.35, 0.37, 0.38]}
    >>> bigger = {"loss": [0.6, 0.4, 0.3, 0.2, 0.15],
    ...           "accuracy": [0.8, 0.86, 0.92, 0.95, 0.97],
    ...           "val_loss": [0.5, 0.45, 0.52, 0.6, 0.7],
    ...           "val_accuracy": [0.82, 0.84, 0.84, 0.83, 0.83]}
    >>> table = compare({"smaller": smaller, "bigger": bigger})
    >>> table[["best_epoch", "verdict", "onset_epoch"]]  # doctest: +NORMALIZE_WHITESPACE
             best_epoch       verdict  onset_epoch
    model
    smaller           3  underfitting         <NA>
    bigger            2   overfitting            2
    >>> runs = compare({"bigger": [bigger, bigger], "smaller": smaller})
    >>> runs[["verdict", "agreement", "n_runs"]]  # doctest: +NORMALIZE_WHITESPACE
                  verdict  agreement  n_runs
    model
    bigger    overfitting          2       2
    smaller  underfitting          1       1
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(
            "models must be a non-empty mapping of model name to a fitted estimator, a "
            f"history, a Diagnosis or a list of runs; got {type(models).__name__}."
        )
    diagnoses = {name: _diagnosis(model, diagnose_params) for name, model in models.items()}
    if any(isinstance(d, RunsDiagnosis) for d in diagnoses.values()):
        diagnoses = {
            name: d if isinstance(d, RunsDiagnosis) else combine([d])
            for name, d in diagnoses.items()
        }
    return mark(pd.concat([d.to_frame(name) for name, d in diagnoses.items()]), "comparison")


def _diagnosis(model, diagnose_params):
    if isinstance(model, Diagnosis | RunsDiagnosis):
        return model
    return diagnose(model, **diagnose_params)


def format_param_value(value):
    """A readable, consistent form of a hyper-parameter value for tables.

    Tuples and lists of layer sizes become ``"512+512"`` (``"()"`` when
    empty), estimators their class name, functions their name; NumPy
    scalars become Python numbers; preset names and other values are kept.

    Examples
    --------
    >>> from skfashion.report._tables import format_param_value
    >>> format_param_value((512, 512)), format_param_value("bigger"), format_param_value(0.5)
    ('512+512', 'bigger', 0.5)
    """
    if isinstance(value, tuple | list):
        return "+".join(str(format_param_value(item)) for item in value) if value else "()"
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "get_params"):
        return type(value).__name__
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return value


def _param_column(values):
    values = [format_param_value(value) for value in values]
    has_none = any(value is None for value in values)
    if has_none and not all(value is None for value in values):
        return pd.Series(values, dtype=object)  # keep None readable instead of NaN
    return pd.Series(values)


def cv_results_frame(
    search,
    *,
    metric=None,
    max_gap=DEFAULT_THRESHOLDS.max_gap,
    underfit_score=DEFAULT_THRESHOLDS.underfit_accuracy,
):
    """A tidy table of a scikit-learn hyper-parameter search, best first.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV or dict
        A fitted search or its ``cv_results_``.
    metric : str, default=None
        With multi-metric scoring, the scorer to report; None uses the
        search's ``refit`` scorer.
    max_gap : float, default=0.05
        Largest training-minus-test score gap of a candidate that does not
        overfit (``max_gap`` of :func:`diagnose`).
    underfit_score : float, default=0.6
        Training score under which a candidate underfits
        (``underfit_accuracy`` of :func:`diagnose`).

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by ``candidate`` (the position in ``cv_results_``), sorted by
        rank: one column per parameter (``param_`` prefix stripped, values as
        :func:`format_param_value` writes them, None where a candidate lacks
        the parameter), ``mean_test_score``, ``std_test_score``, with
        ``return_train_score=True`` also ``mean_train_score``,
        ``std_train_score``, ``gap`` (train minus test) and ``verdict`` (the
        rule of :func:`diagnose`, reading the row as one point of a fully
        trained model: a gap above ``max_gap`` is "overfitting", see
        :func:`~skfashion._diagnostics.score_verdict`), then
        ``rank_test_score`` and ``mean_fit_time``.

    Examples
    --------
    >>> from skfashion.report import cv_results_frame
    >>> cv_results = {
    ...     "param_hidden_layer_sizes": [(4, 4), (512, 512)],
    ...     "mean_test_score": [0.78, 0.84], "std_test_score": [0.01, 0.02],
    ...     "mean_train_score": [0.79, 0.97], "std_train_score": [0.01, 0.0],
    ...     "rank_test_score": [2, 1], "mean_fit_time": [3.0, 9.0],
    ... }
    >>> columns = ["hidden_layer_sizes", "mean_test_score", "verdict"]
    >>> cv_results_frame(cv_results)[columns]  # doctest: +NORMALIZE_WHITESPACE
              hidden_layer_sizes  mean_test_score      verdict
    candidate
    1                    512+512             0.84  overfitting
    0                        4+4             0.78     good fit
    """
    results = _cv_results(search)
    suffix = _metric_suffix(results, search, metric)
    frame = pd.DataFrame(
        {
            key.removeprefix("param_"): _param_column(_unmask(values))
            for key, values in results.items()
            if key.startswith("param_")
        }
    )
    frame["mean_test_score"] = np.asarray(results[f"mean_test_{suffix}"], dtype=float)
    frame["std_test_score"] = np.asarray(results[f"std_test_{suffix}"], dtype=float)
    if f"mean_train_{suffix}" in results:
        frame["mean_train_score"] = np.asarray(results[f"mean_train_{suffix}"], dtype=float)
        frame["std_train_score"] = np.asarray(results[f"std_train_{suffix}"], dtype=float)
        frame["gap"] = frame["mean_train_score"] - frame["mean_test_score"]
        frame["verdict"] = score_verdict(
            frame["mean_train_score"],
            frame["mean_test_score"],
            max_gap=max_gap,
            underfit_score=underfit_score,
        )
    frame["rank_test_score"] = np.asarray(results[f"rank_test_{suffix}"], dtype=int)
    if "mean_fit_time" in results:
        frame["mean_fit_time"] = np.asarray(results["mean_fit_time"], dtype=float)
    frame.index = pd.RangeIndex(len(frame), name="candidate")
    return mark(frame.sort_values("rank_test_score", kind="stable"), "search")


def _cv_results(search):
    if isinstance(search, Mapping):
        return search
    if hasattr(search, "cv_results_"):
        return search.cv_results_
    if hasattr(search, "get_params"):
        raise ValueError(
            f"This {type(search).__name__} has no cv_results_: call fit before cv_results_frame."
        )
    raise TypeError(
        "Expected a fitted GridSearchCV/RandomizedSearchCV or its cv_results_ dict, got "
        f"{type(search).__name__}."
    )


def _metric_suffix(results, search, metric):
    metrics = sorted(
        key.removeprefix("mean_test_") for key in results if key.startswith("mean_test_")
    )
    if metric is None:
        if "score" in metrics:
            return "score"
        metric = getattr(search, "refit", None)
        if not isinstance(metric, str):
            raise ValueError(
                f"The search used several scorers {metrics}; pass metric= one of them."
            )
    if metric not in metrics:
        raise ValueError(f"metric={metric!r} is not in the search results; choose from {metrics}.")
    return metric


def _unmask(values):
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        return [None if masked else value for value, masked in zip(values.data, mask, strict=True)]
    return list(values)


def _score_columns(train_scores, test_scores, n_rows, what, *, max_gap, underfit_score):
    train = _check_scores(train_scores, n_rows, "train_scores", what)
    test = _check_scores(test_scores, n_rows, "test_scores", what)
    columns = {
        "mean_train_score": train.mean(axis=1),
        "std_train_score": train.std(axis=1),
        "mean_test_score": test.mean(axis=1),
        "std_test_score": test.std(axis=1),
    }
    columns["gap"] = columns["mean_train_score"] - columns["mean_test_score"]
    columns["verdict"] = score_verdict(
        columns["mean_train_score"],
        columns["mean_test_score"],
        max_gap=max_gap,
        underfit_score=underfit_score,
    )
    return columns


def _check_scores(scores, n_rows, name, what):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, np.newaxis]
    if scores.ndim != 2 or scores.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have shape ({n_rows}, n_folds), one row per {what}; got shape "
            f"{scores.shape}."
        )
    return scores


def validation_curve_frame(
    param_name,
    param_range,
    train_scores,
    test_scores,
    *,
    max_gap=DEFAULT_THRESHOLDS.max_gap,
    underfit_score=DEFAULT_THRESHOLDS.underfit_accuracy,
):
    """A tidy table of :func:`sklearn.model_selection.validation_curve` results.

    Parameters
    ----------
    param_name : str
        The parameter that was varied; names the index.
    param_range : array-like of shape (n_values,)
        Its values, in the order they were tried.
    train_scores, test_scores : array-like of shape (n_values, n_folds)
        The scores ``validation_curve`` returns.
    max_gap : float, default=0.05
        Largest training-minus-test gap of a value that does not overfit
        (``max_gap`` of :func:`diagnose`).
    underfit_score : float, default=0.6
        Training score under which a value underfits (``underfit_accuracy``
        of :func:`diagnose`). Each row's ``verdict`` follows the rule of
        :func:`diagnose`, reading the row as one point of a fully trained
        model (see :func:`~skfashion._diagnostics.score_verdict`).

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by the parameter values (as :func:`format_param_value` writes
        them): ``mean_train_score``, ``std_train_score``, ``mean_test_score``,
        ``std_test_score``, ``gap``, ``verdict`` and ``best``, True on the
        value with the highest mean test score (the first one on ties).

    Examples
    --------
    >>> from skfashion.report import validation_curve_frame
    >>> frame = validation_curve_frame(
    ...     "hidden_layer_sizes", [(4, 4), (16, 16), (512, 512)],
    ...     train_scores=[[0.40, 0.42], [0.88, 0.87], [0.99, 0.98]],
    ...     test_scores=[[0.39, 0.41], [0.85, 0.86], [0.84, 0.85]])
    >>> frame[["gap", "verdict", "best"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
                         gap       verdict   best
    hidden_layer_sizes
    4+4                 0.01  underfitting  False
    16+16               0.02      good fit   True
    512+512             0.14   overfitting  False
    """
    values = [format_param_value(value) for value in param_range]
    frame = pd.DataFrame(
        _score_columns(
            train_scores,
            test_scores,
            len(values),
            "parameter value",
            max_gap=max_gap,
            underfit_score=underfit_score,
        ),
        index=pd.Index(values, name=param_name),
    )
    best = np.zeros(len(frame), dtype=bool)
    best[int(np.nanargmax(frame["mean_test_score"].to_numpy()))] = True
    frame["best"] = best
    return mark(frame, "validation_curve")


def learning_curve_frame(
    train_sizes,
    train_scores,
    test_scores,
    *,
    min_gain=0.01,
    max_gap=DEFAULT_THRESHOLDS.max_gap,
    underfit_score=DEFAULT_THRESHOLDS.underfit_accuracy,
):
    """A tidy table of :func:`sklearn.model_selection.learning_curve` results.

    Parameters
    ----------
    train_sizes : array-like of shape (n_sizes,)
        Numbers of training samples (``learning_curve``'s ``train_sizes_abs``).
    train_scores, test_scores : array-like of shape (n_sizes, n_folds)
        The scores ``learning_curve`` returns.
    min_gain : float, default=0.01
        Rise of the mean test score from one training size to the next above
        which more data still helps.
    max_gap : float, default=0.05
        Largest training-minus-test gap of a model that does not overfit
        (``max_gap`` of :func:`diagnose`).
    underfit_score : float, default=0.6
        Training score under which the model underfits (``underfit_accuracy``
        of :func:`diagnose`). Each row's ``verdict`` follows the rule of
        :func:`diagnose`, reading the row as one point of a fully trained
        model (see :func:`~skfashion._diagnostics.score_verdict`).

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by ``train_size`` (ascending): ``mean_train_score``,
        ``std_train_score``, ``mean_test_score``, ``std_test_score``, ``gap``,
        ``verdict``, ``test_gain`` (mean test score minus that of the previous
        size) and ``more_data_helps`` (``test_gain > min_gain``, a gain equal
        to ``min_gain`` up to rounding not counting; ``<NA>`` on the first
        row). Its last value answers whether more data would still help: the
        test score was still rising between the two largest sizes.

    Examples
    --------
    >>> from skfashion.report import learning_curve_frame
    >>> frame = learning_curve_frame(
    ...     [600, 1200, 2400, 4800],
    ...     train_scores=[[0.99], [0.97], [0.95], [0.93]],
    ...     test_scores=[[0.74], [0.79], [0.82], [0.84]])
    >>> frame[["test_gain", "more_data_helps"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
                test_gain  more_data_helps
    train_size
    600               NaN             <NA>
    1200             0.05             True
    2400             0.03             True
    4800             0.02             True
    >>> bool(frame["more_data_helps"].iloc[-1])
    True
    """
    sizes = np.asarray(train_sizes).ravel()
    order = np.argsort(sizes, kind="stable")
    columns = _score_columns(
        train_scores,
        test_scores,
        len(sizes),
        "training size",
        max_gap=max_gap,
        underfit_score=underfit_score,
    )
    frame = pd.DataFrame(
        {name: values[order] for name, values in columns.items()},
        index=pd.Index(sizes[order], name="train_size"),
    )
    frame["test_gain"] = frame["mean_test_score"].diff()
    gain = frame["test_gain"].to_numpy()
    helps = (gain > min_gain) & ~np.isclose(gain, min_gain, rtol=0, atol=1e-9)
    helps = pd.array(helps, dtype="boolean")
    if len(helps):
        helps[0] = pd.NA
    frame["more_data_helps"] = helps
    return mark(frame, "learning_curve")


__all__ = [
    "compare",
    "cv_results_frame",
    "format_param_value",
    "history_frame",
    "learning_curve_frame",
    "validation_curve_frame",
]
