"""The per-epoch history contract shared by the estimator, the tables and the plots.

A history is a mapping of metric name to a list with one value per epoch run:
``loss`` and ``accuracy`` always, ``val_loss`` and ``val_accuracy`` when
validation ran. Epochs are 1-based wherever a person reads them.
"""

from collections.abc import Mapping

import numpy as np

TRAIN_KEYS = ("loss", "accuracy")
VALIDATION_KEYS = ("val_loss", "val_accuracy")


def as_history(obj):
    """Return the history of a fitted estimator, or validate a mapping.

    Parameters
    ----------
    obj : estimator with ``history_`` or mapping of str to sequence of float
        A fitted :class:`~skfashion.FashionMLP` (or any object with a
        ``history_`` mapping) or a history mapping such as Keras'
        ``History.history``.

    Returns
    -------
    history : dict of str to ndarray of float64
        One 1-D array per metric, all of the same length.
    """
    if hasattr(obj, "history_") and not isinstance(obj, Mapping):
        obj = obj.history_
    elif hasattr(obj, "history") and isinstance(obj.history, Mapping):
        obj = obj.history  # keras.callbacks.History
    if not isinstance(obj, Mapping):
        raise TypeError(
            "Expected a fitted estimator with a `history_` attribute or a mapping of "
            f"metric name to per-epoch values, got {type(obj).__name__}. If this is an "
            "estimator, call fit first."
        )
    history = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in obj.items()}
    if "loss" not in history:
        raise ValueError(
            f"The history has no 'loss' key (keys: {sorted(history)}); expected per-epoch "
            "values under 'loss', 'accuracy' and, with validation, 'val_loss' and "
            "'val_accuracy'."
        )
    lengths = {k: len(v) for k, v in history.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"All metrics must have one value per epoch; got lengths {lengths}.")
    if lengths["loss"] == 0:
        raise ValueError("The history is empty: no epoch was run.")
    return history


def has_validation(history):
    """Whether a validated history holds validation metrics."""
    return all(key in history for key in VALIDATION_KEYS)


def require_validation(history):
    """Raise a ValueError telling how to record validation metrics."""
    if not has_validation(history):
        raise ValueError(
            "The history has no validation metrics ('val_loss', 'val_accuracy'); keys are "
            f"{sorted(history)}. Fit with validation_fraction > 0 (for example "
            "FashionMLP(validation_fraction=0.2)) or pass validation_data=(X_val, y_val) "
            "to fit so that validation is recorded every epoch."
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
