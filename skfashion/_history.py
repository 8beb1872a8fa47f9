"""The per-epoch history contract shared by the estimator, the tables and the plots.

A history is a mapping of metric name to a list with one value per epoch run:
``loss`` and ``accuracy`` always, ``val_loss`` and ``val_accuracy`` when
validation ran. Epochs are 1-based wherever a person reads them.

:func:`as_history` reads it off what people already have, one reader per
kind: a history mapping, Keras' ``History`` (what ``model.fit`` returns), a
fitted estimator with ``history_`` (:class:`~skfashion.FashionMLP`, scikeras'
``KerasClassifier``, Keras' ``keras.wrappers.SKLearnClassifier``) and
scikit-learn's ``MLPClassifier``.
"""

from collections.abc import Mapping

import numpy as np

TRAIN_KEYS = ("loss", "accuracy")
VALIDATION_KEYS = ("val_loss", "val_accuracy")

# Names Keras gives the accuracy metric, depending on how it was asked for.
_ACCURACY_ALIASES = ("acc", "sparse_categorical_accuracy", "categorical_accuracy")

# How each library's user records validation metrics, by the kind of source.
_HOW_TO_VALIDATE = {
    None: (
        "Fit with validation_fraction > 0 (for example FashionMLP(validation_fraction=0.2)) "
        "or pass validation_data=(X_val, y_val) to fit; with Keras, call "
        "model.fit(..., validation_split=0.2)"
    ),
    "skfashion": (
        "Fit with validation_fraction > 0 (for example FashionMLP(validation_fraction=0.2)) "
        "or pass validation_data=(X_val, y_val) to fit"
    ),
    "keras": (
        "Call model.fit(X, y, validation_split=0.2, ...) or pass "
        "validation_data=(X_val, y_val) to model.fit"
    ),
    "scikeras": (
        "Create it with KerasClassifier(..., validation_split=0.2) (or "
        "fit__validation_split=0.2, or fit__validation_data=(X_val, y_val))"
    ),
    "keras-wrapper": (
        "Create it with SKLearnClassifier(..., fit_kwargs={'validation_split': 0.2}) or "
        "call clf.fit(X, y, validation_split=0.2)"
    ),
    "sklearn-mlp": (
        "scikit-learn records validation accuracy only with early stopping: create it with "
        "MLPClassifier(early_stopping=True, validation_fraction=0.1)"
    ),
}


class EpochHistory(dict):
    """A validated history: metric name to a float64 array with one value per epoch.

    A plain ``dict`` with two facts about where it came from, for the
    diagnoses and the error messages.

    Attributes
    ----------
    source : str or None
        What it was read from, for messages: ``"FashionMLP"``, ``"Keras History"``,
        ``"KerasClassifier"``, ``"SKLearnClassifier"``, ``"MLPClassifier"``, the
        class name of another estimator, or None for a mapping.
    kind : {"skfashion", "keras", "scikeras", "keras-wrapper", "sklearn-mlp"} or None
        The library, which decides how its user records validation metrics.
    restored_epoch : int or None
        The 1-based epoch whose weights the fitted model holds, when early
        stopping restored its best weights (``FashionMLP(early_stopping=True)``,
        ``MLPClassifier(early_stopping=True)``); None when the model holds the
        weights of its last epoch or this cannot be told (a mapping, a Keras
        ``History``).
    """

    def __init__(self, values, *, source=None, kind=None, restored_epoch=None):
        super().__init__(values)
        self.source = source
        self.kind = kind
        self.restored_epoch = restored_epoch


def as_history(obj):
    """Return the per-epoch history of a fitted model, or validate a mapping.

    Parameters
    ----------
    obj : estimator, keras.callbacks.History or mapping of str to sequence of float
        One of:

        - a fitted :class:`~skfashion.FashionMLP`, scikeras ``KerasClassifier``,
          Keras ``keras.wrappers.SKLearnClassifier`` or any estimator whose
          ``history_`` is a history mapping or a Keras ``History``;
        - the ``History`` that Keras' ``model.fit`` returns;
        - a fitted scikit-learn ``MLPClassifier`` (``solver="adam"`` or
          ``"sgd"``): its ``loss_curve_`` becomes ``loss`` and, with
          ``early_stopping=True``, its ``validation_scores_`` become
          ``val_accuracy``; it records no training accuracy and no
          validation loss;
        - a history mapping such as Keras' ``History.history``.

        Keras' other names for the accuracy metric (``acc``,
        ``sparse_categorical_accuracy``, ``categorical_accuracy``, with or
        without ``val_``) are read as ``accuracy``.

    Returns
    -------
    history : EpochHistory
        A dict of metric name to a 1-D float64 array, all of the same length,
        with the attributes ``source``, ``kind`` and ``restored_epoch``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        For an estimator that has not been fitted.
    TypeError
        For anything else that holds no history.
    ValueError
        For a history without ``loss``, with metrics of different lengths, or
        with no epoch.

    Examples
    --------
    >>> from sklearn.neural_network import MLPClassifier
    >>> from skfashion import fetch_fashion_mnist
    >>> from skfashion._history import as_history
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> mlp = MLPClassifier((32,), learning_rate_init=0.01, early_stopping=True,
    ...                     n_iter_no_change=2, random_state=0).fit(X[:1000] / 255, y[:1000])
    >>> history = as_history(mlp)
    >>> sorted(history), len(history["loss"]), history.restored_epoch
    (['loss', 'val_accuracy'], 10, 7)
    >>> as_history({"loss": [0.9, 0.5], "acc": [0.7, 0.8]})
    {'loss': array([0.9, 0.5]), 'accuracy': array([0.7, 0.8])}
    """
    reader = _reader(obj)
    values, source, kind, restored = reader(obj)
    history = EpochHistory(
        _validated(values, source), source=source, kind=kind, restored_epoch=restored
    )
    return history


def _reader(obj):
    if isinstance(obj, Mapping):
        return _read_mapping
    if _is_keras_history(obj):
        return _read_keras_history
    if hasattr(obj, "history_"):
        return _read_history_attribute
    if _is_sklearn_mlp(obj):
        return _read_sklearn_mlp
    if hasattr(obj, "get_params") or hasattr(obj, "fit"):
        return _not_fitted
    raise TypeError(
        "Expected a fitted estimator with a `history_` attribute (FashionMLP, scikeras' "
        "KerasClassifier, keras.wrappers.SKLearnClassifier), a fitted MLPClassifier, the "
        "History that Keras' model.fit returns, or a mapping of metric name to per-epoch "
        f"values; got {type(obj).__name__}."
    )


def _not_fitted(estimator):
    from sklearn.exceptions import NotFittedError

    raise NotFittedError(
        f"This {type(estimator).__name__} has no training history yet: call fit first "
        "(diagnoses read the per-epoch history that fit records)."
    )


def _is_keras_history(obj):
    return isinstance(getattr(obj, "history", None), Mapping) and hasattr(obj, "epoch")


def _is_sklearn_mlp(obj):
    return type(obj).__module__.startswith("sklearn.neural_network")


def _library(obj):
    module = type(obj).__module__
    for prefix, kind in (
        ("skfashion", "skfashion"),
        ("scikeras", "scikeras"),
        ("keras", "keras-wrapper"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return kind
    return None


def _read_mapping(obj):
    return obj, None, None, None


def _read_keras_history(obj):
    return obj.history, "Keras History", "keras", None


def _read_history_attribute(estimator):
    history = estimator.history_
    if _is_keras_history(history):  # keras.wrappers keeps the History object itself
        history = history.history
    if not isinstance(history, Mapping):
        raise TypeError(
            f"{type(estimator).__name__}.history_ is a {type(history).__name__}, not a mapping "
            "of metric name to per-epoch values or a Keras History."
        )
    return history, type(estimator).__name__, _library(estimator), _restored_epoch(estimator)


def _restored_epoch(estimator):
    """``best_epoch_`` of an estimator that restored it (FashionMLP's early stopping)."""
    if getattr(estimator, "early_stopping", False) is True:
        best = getattr(estimator, "best_epoch_", None)
        return None if best is None else int(best)
    return None


def _read_sklearn_mlp(mlp):
    from sklearn.base import is_classifier

    name = type(mlp).__name__
    if not is_classifier(mlp):
        raise TypeError(
            f"{name} is not a classifier: skfashion's histories hold classification loss and "
            "accuracy, so only MLPClassifier can be read."
        )
    if not hasattr(mlp, "coefs_"):
        return _not_fitted(mlp)
    if not hasattr(mlp, "loss_curve_"):
        raise ValueError(
            f"This {name}(solver={mlp.solver!r}) records no per-epoch loss; fit it with "
            "solver='adam' (the default) or solver='sgd' to get a training history."
        )
    history = {"loss": mlp.loss_curve_}
    restored = None
    scores = getattr(mlp, "validation_scores_", None)
    if scores is not None:
        history["val_accuracy"] = scores
        # fit keeps the first epoch of the highest validation accuracy, as argmax does.
        restored = int(np.argmax(scores)) + 1 if mlp.early_stopping else None
    return history, name, "sklearn-mlp", restored


def _validated(obj, source):
    history = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in obj.items()}
    history = _with_accuracy_names(history)
    of = f" of this {source}" if source else ""
    if "loss" not in history:
        raise ValueError(
            f"The history{of} has no 'loss' key (keys: {sorted(history)}); expected per-epoch "
            "values under 'loss', 'accuracy' and, with validation, 'val_loss' and "
            "'val_accuracy'."
        )
    lengths = {k: len(v) for k, v in history.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"All metrics must have one value per epoch; got lengths {lengths}.")
    if lengths["loss"] == 0:
        raise ValueError(f"The history{of} is empty: no epoch was run.")
    return history


def _with_accuracy_names(history):
    renamed = dict(history)
    for prefix in ("", "val_"):
        if prefix + "accuracy" in renamed:
            continue
        alias = next((prefix + a for a in _ACCURACY_ALIASES if prefix + a in renamed), None)
        if alias is not None:
            renamed[prefix + "accuracy"] = renamed.pop(alias)
    return renamed


def has_validation(history):
    """Whether a validated history holds both validation metrics."""
    return all(key in history for key in VALIDATION_KEYS)


def validation_advice(history):
    """How the user of the library a history came from records validation metrics."""
    return _HOW_TO_VALIDATE[getattr(history, "kind", None)]


def require_validation(history, *, complete=True):
    """Raise a ValueError telling that library's user how to record validation metrics.

    Parameters
    ----------
    history : EpochHistory or mapping
        A validated history (see :func:`as_history`).
    complete : bool, default=True
        Whether both ``val_loss`` and ``val_accuracy`` are needed; False
        accepts either (``MLPClassifier`` records ``val_accuracy`` only).
    """
    present = [key for key in VALIDATION_KEYS if key in history]
    if len(present) == len(VALIDATION_KEYS) or (present and not complete):
        return
    source = getattr(history, "source", None)
    of = f" of this {source}" if source else ""
    if present:
        missing = [key for key in VALIDATION_KEYS if key not in history]
        raise ValueError(
            f"The history{of} records {present} but not {missing}, which this needs; keys "
            f"are {sorted(history)}."
        )
    raise ValueError(
        f"The history{of} has no validation metrics ('val_loss', 'val_accuracy'); keys "
        f"are {sorted(history)}. {validation_advice(history)}, so that validation is "
        "recorded every epoch."
    )


def best_epoch(history, monitor="val_loss"):
    """1-based epoch of the best value of ``monitor`` (lowest loss, highest accuracy).

    NaN values are ignored; ties go to the earliest epoch.
    """
    values = np.asarray(history[monitor], dtype=np.float64)
    if np.all(np.isnan(values)):
        raise ValueError(f"Every value of {monitor!r} is NaN: training diverged.")
    if monitor.endswith("loss"):
        return int(np.nanargmin(values)) + 1
    return int(np.nanargmax(values)) + 1
