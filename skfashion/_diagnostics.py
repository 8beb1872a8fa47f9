"""Overfitting diagnostics: pure functions of a per-epoch history.

Nothing here trains or imports Keras; every rule reads a history mapping
(``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``: one value per epoch)
so it can be checked on hand-written histories.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from numbers import Integral, Real

import numpy as np

from ._history import as_history, best_epoch, require_validation

VERDICTS = ("underfitting", "good fit", "overfitting", "diverged")
LANGUAGES = ("en", "ja")


@dataclass(frozen=True)
class Diagnosis:
    """What a training history says about the epochs and overfitting.

    Built by :func:`diagnose`; immutable. ``str(diagnosis)`` answers the
    course's three questions in English, :meth:`summary` also in Japanese.

    Attributes
    ----------
    verdict : {"underfitting", "good fit", "overfitting", "diverged"}
        The judgement on the model the run returns (see :func:`diagnose`).
    best_epoch : int or None
        1-based epoch of the lowest validation loss (before divergence, if the
        run diverged); None when no validation loss is finite.
    best_val_loss : float
        The lowest validation loss.
    best_val_accuracy : float
        Validation accuracy at ``best_epoch`` (not the highest validation
        accuracy of the run).
    final_train_accuracy, final_val_accuracy : float
        Training and validation accuracy of the model the run returns: at the
        last epoch, or at ``best_epoch`` when early stopping restored its weights.
    gap : float
        ``final_train_accuracy - final_val_accuracy``.
    overfitting : bool
        Whether the verdict is ``"overfitting"``.
    onset_epoch : int or None
        Epoch after which the validation loss keeps rising while the training
        loss keeps falling; None when not overfitting.
    recommended_epochs : int or None
        Fewest epochs whose validation loss is within ``tol`` of the lowest.
    epochs_run : int
        Number of epochs in the history.
    val_loss_rise : float
        Relative rise of the returned model's validation loss above the lowest
        (0.63 means 63 % higher).
    diverged_epoch : int or None
        First epoch with a NaN or infinite loss; None when training stayed finite.
    restored_best_weights : bool
        Whether the model was judged at ``best_epoch`` (early stopping with
        restored weights).
    """

    verdict: str
    best_epoch: int | None
    best_val_loss: float
    best_val_accuracy: float
    final_train_accuracy: float
    final_val_accuracy: float
    gap: float
    overfitting: bool
    onset_epoch: int | None
    recommended_epochs: int | None
    epochs_run: int
    val_loss_rise: float
    diverged_epoch: int | None = None
    restored_best_weights: bool = False

    def __str__(self):
        return self.summary()

    def summary(self, language="en"):
        """A short paragraph: best number of epochs, validation accuracy there, overfitting.

        Parameters
        ----------
        language : {"en", "ja"}, default="en"
            English or Japanese.

        Returns
        -------
        text : str
        """
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}.")
        return _SUMMARIES[language](self)

    def to_frame(self, name=None):
        """One-row DataFrame of the diagnosis, index name ``"model"``.

        Parameters
        ----------
        name : str, default=None
            Row label; 0 when None.

        Returns
        -------
        frame : pandas.DataFrame
            Columns in the order of :data:`DIAGNOSIS_COLUMNS`; epoch columns
            use the nullable ``Int64`` dtype (``<NA>`` for None).
        """
        import pandas as pd

        values = {column: getattr(self, column) for column in DIAGNOSIS_COLUMNS}
        frame = pd.DataFrame([values], index=pd.Index([0 if name is None else name], name="model"))
        for column in _EPOCH_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        return frame


_EPOCH_COLUMNS = ("best_epoch", "onset_epoch", "recommended_epochs", "epochs_run", "diverged_epoch")
_LEADING = (
    "best_epoch",
    "best_val_accuracy",
    "final_train_accuracy",
    "final_val_accuracy",
    "gap",
    "verdict",
    "onset_epoch",
    "recommended_epochs",
)
DIAGNOSIS_COLUMNS = _LEADING + tuple(f.name for f in fields(Diagnosis) if f.name not in _LEADING)


def diagnose(
    history,
    *,
    min_rise=0.1,
    patience=3,
    tol=0.01,
    underfit_accuracy=0.6,
    restore_best_weights=None,
):
    """Diagnose under- and overfitting from training and validation curves.

    The rules, in order of precedence:

    1. **diverged** if any training or validation loss is NaN or infinite.
       The best epoch is then sought before the first such epoch.
    2. **overfitting** if the validation loss of each of the last ``patience``
       epochs is more than ``min_rise`` (relative) above its minimum, and the
       training loss at the last epoch is below its value at the onset epoch.
       The onset epoch is the last epoch, from the best one on, whose
       validation loss is within ``tol`` of the minimum. A single noisy uptick,
       a rise that ends fewer than ``patience`` epochs after the best epoch,
       or a small creep (under ``min_rise``) is not overfitting.
    3. **underfitting** if the training accuracy of the returned model is below
       ``underfit_accuracy``: the network cannot even fit its training data.
    4. **good fit** otherwise.

    After early stopping that restored the best weights (``FashionMLP(early_stopping=True)``,
    Keras' ``EarlyStopping(restore_best_weights=True)``) the model holds the
    weights of the best epoch, so it is judged there: the final accuracies are
    read at ``best_epoch`` and it is never overfitting, whatever the validation
    loss did in the epochs that early stopping waited.

    Parameters
    ----------
    history : estimator with ``history_`` or mapping of str to sequence of float
        A fitted estimator or a history with ``loss``, ``accuracy``,
        ``val_loss`` and ``val_accuracy``.
    min_rise : float, default=0.1
        Relative rise of the validation loss above its minimum that counts as
        overfitting (0.1: 10 % higher).
    patience : int, default=3
        Number of final epochs that must all show that rise, so that a single
        uptick is not taken for overfitting.
    tol : float, default=0.01
        Relative tolerance under which a validation loss counts as being at its
        minimum (for ``onset_epoch`` and ``recommended_epochs``). Must be
        below ``min_rise``.
    underfit_accuracy : float, default=0.6
        Training accuracy under which the model underfits. Chance level on
        the 10 Fashion-MNIST classes is 0.1; small MLPs reach about 0.8.
    restore_best_weights : bool, default=None
        Whether the returned model holds the weights of the best epoch. None
        reads it off a fitted estimator: True when it has ``early_stopping=True``
        and a ``best_epoch_`` attribute (as :class:`~skfashion.FashionMLP`
        has), False for a history mapping.

    Returns
    -------
    diagnosis : Diagnosis

    Raises
    ------
    ValueError
        If the history has no validation metrics or no ``accuracy``, or a
        threshold is out of range.

    See Also
    --------
    skfashion.report.history_frame : The history as a table, with the gaps.
    skfashion.report.compare : One diagnosis per model, as a table.

    Examples
    --------
    >>> from skfashion.report import diagnose
    >>> history = {
    ...     "loss":         [0.9, 0.6, 0.45, 0.35, 0.28, 0.22, 0.17],
    ...     "accuracy":     [0.70, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94],
    ...     "val_loss":     [0.70, 0.55, 0.50, 0.52, 0.58, 0.64, 0.71],
    ...     "val_accuracy": [0.76, 0.81, 0.83, 0.83, 0.82, 0.82, 0.81],
    ... }
    >>> d = diagnose(history)
    >>> d.verdict, d.best_epoch, d.onset_epoch, d.best_val_accuracy
    ('overfitting', 3, 3, 0.83)
    >>> print(d)  # doctest: +NORMALIZE_WHITESPACE
    Best number of epochs: 3 of 7 (lowest validation loss, 0.500). Validation
    accuracy there: 0.830. Overfitting: yes. After epoch 3 the validation loss
    kept rising, to 42% above its minimum at epoch 7, while the training loss
    kept falling; final training accuracy 0.940 against validation accuracy
    0.810 (gap 0.130). Train for 3 epochs, or add dropout, data augmentation,
    L2 regularisation or early stopping. Verdict: overfitting.
    """
    _check_thresholds(min_rise, patience, tol, underfit_accuracy)
    if restore_best_weights is None:
        restore_best_weights = _restores_best_weights(history)
    history = as_history(history)
    require_validation(history)
    if "accuracy" not in history:
        raise ValueError(
            f"The history has no 'accuracy' key (keys: {sorted(history)}); compile or fit "
            "with metrics=['accuracy'] so that accuracy is recorded every epoch."
        )
    loss, accuracy = history["loss"], history["accuracy"]
    val_loss, val_accuracy = history["val_loss"], history["val_accuracy"]
    n_epochs = len(loss)

    finite = np.isfinite(loss) & np.isfinite(val_loss)
    diverged_epoch = None if finite.all() else int(np.argmin(finite)) + 1
    searched = val_loss if diverged_epoch is None else val_loss[: diverged_epoch - 1]
    searched = np.where(np.isfinite(searched), searched, np.nan)
    if searched.size == 0 or np.isnan(searched).all():
        best = None
        minimum = best_val_accuracy = np.nan
        recommended = None
    else:
        best = best_epoch({"val_loss": searched})
        minimum = float(searched[best - 1])
        best_val_accuracy = float(val_accuracy[best - 1])
        at_minimum = searched <= minimum + tol * abs(minimum)
        recommended = int(np.argmax(at_minimum)) + 1

    restored = bool(restore_best_weights) and best is not None
    judged = best if restored else n_epochs
    rise = _relative_rise(val_loss[judged - 1], minimum)

    onset = None
    if diverged_epoch is None and not restored:
        onset = _overfitting_onset(loss, val_loss, best, minimum, min_rise, patience, tol)

    if diverged_epoch is not None:
        verdict = "diverged"
    elif onset is not None:
        verdict = "overfitting"
    elif accuracy[judged - 1] < underfit_accuracy:
        verdict = "underfitting"
    else:
        verdict = "good fit"

    final_train, final_val = float(accuracy[judged - 1]), float(val_accuracy[judged - 1])
    return Diagnosis(
        verdict=verdict,
        best_epoch=best,
        best_val_loss=minimum,
        best_val_accuracy=best_val_accuracy,
        final_train_accuracy=final_train,
        final_val_accuracy=final_val,
        gap=final_train - final_val,
        overfitting=verdict == "overfitting",
        onset_epoch=onset,
        recommended_epochs=recommended,
        epochs_run=n_epochs,
        val_loss_rise=rise,
        diverged_epoch=diverged_epoch,
        restored_best_weights=restored,
    )


def _restores_best_weights(obj):
    return (
        not isinstance(obj, Mapping)
        and bool(getattr(obj, "early_stopping", False))
        and hasattr(obj, "best_epoch_")
    )


def _overfitting_onset(loss, val_loss, best, minimum, min_rise, patience, tol):
    """Onset epoch of a sustained validation-loss rise with falling training loss, or None."""
    n_epochs = len(val_loss)
    if n_epochs - best < patience:
        return None
    threshold = minimum + min_rise * abs(minimum)
    if not np.all(val_loss[n_epochs - patience :] > threshold):
        return None
    near_minimum = np.flatnonzero(val_loss[best - 1 :] <= minimum + tol * abs(minimum))
    onset = best + int(near_minimum[-1])
    if not loss[-1] < loss[onset - 1]:
        return None
    return onset


def _relative_rise(value, minimum):
    if np.isnan(minimum) or not np.isfinite(value):
        return np.nan
    if minimum == 0:
        return 0.0 if value == 0 else np.inf
    return float((value - minimum) / abs(minimum))


def _check_thresholds(min_rise, patience, tol, underfit_accuracy):
    if not isinstance(min_rise, Real) or not min_rise > 0:
        raise ValueError(f"min_rise must be a number > 0, got {min_rise!r}.")
    if isinstance(patience, bool) or not isinstance(patience, Integral) or patience < 1:
        raise ValueError(f"patience must be an integer >= 1, got {patience!r}.")
    if not isinstance(tol, Real) or not 0 <= tol < min_rise:
        raise ValueError(f"tol must be a number in [0, min_rise={min_rise}), got {tol!r}.")
    if not isinstance(underfit_accuracy, Real) or not 0 <= underfit_accuracy <= 1:
        raise ValueError(f"underfit_accuracy must be in [0, 1], got {underfit_accuracy!r}.")


def score_verdict(train_score, test_score, *, max_gap=0.05, underfit_score=0.6):
    """Verdict from mean training and test (validation) scores.

    ``"overfitting"`` when ``train_score - test_score > max_gap``, else
    ``"underfitting"`` when ``train_score < underfit_score``, else
    ``"good fit"``; None where a score is NaN (a failed fit). A gap equal to
    ``max_gap`` up to rounding (1e-9) is not overfitting. The thresholds
    suit scores in [0, 1] where higher is better, such as accuracy.

    Parameters
    ----------
    train_score, test_score : float or array-like of float
        Mean scores.
    max_gap : float, default=0.05
        Largest training-minus-test gap of a model that does not overfit.
    underfit_score : float, default=0.6
        Training score under which the model underfits.

    Returns
    -------
    verdict : ndarray of object
        One verdict per score, with the shape of the broadcast inputs.

    Examples
    --------
    >>> from skfashion._diagnostics import score_verdict
    >>> score_verdict([0.95, 0.40, 0.88], [0.85, 0.38, 0.86]).tolist()
    ['overfitting', 'underfitting', 'good fit']
    """
    train = np.asarray(train_score, dtype=np.float64)
    test = np.asarray(test_score, dtype=np.float64)
    gap = train - test
    verdict = np.where(
        (gap > max_gap) & ~np.isclose(gap, max_gap, rtol=0, atol=1e-9),
        "overfitting",
        np.where(train < underfit_score, "underfitting", "good fit"),
    ).astype(object)
    verdict[np.isnan(gap)] = None
    return verdict


def _summary_en(d):
    if d.verdict == "diverged":
        text = f"Training diverged: the loss is not finite from epoch {d.diverged_epoch}. "
        if d.best_epoch is not None:
            text += (
                f"Best number of epochs before that: {d.best_epoch} (validation loss "
                f"{d.best_val_loss:.3f}, validation accuracy {d.best_val_accuracy:.3f}). "
            )
        return text + (
            "Overfitting cannot be judged on a diverged run: lower the learning rate or check "
            "the input scaling, then train again. Verdict: diverged."
        )
    parts = [
        f"Best number of epochs: {d.best_epoch} of {d.epochs_run} (lowest validation loss, "
        f"{d.best_val_loss:.3f}).",
        f"Validation accuracy there: {d.best_val_accuracy:.3f}.",
    ]
    accuracies = (
        f"training accuracy {d.final_train_accuracy:.3f} against validation accuracy "
        f"{d.final_val_accuracy:.3f} (gap {d.gap:.3f})"
    )
    if d.overfitting:
        parts.append(
            f"Overfitting: yes. After epoch {d.onset_epoch} the validation loss kept rising, "
            f"to {d.val_loss_rise:.0%} above its minimum at epoch {d.epochs_run}, while the "
            f"training loss kept falling; final {accuracies}. Train for {d.recommended_epochs} "
            "epochs, or add dropout, data augmentation, L2 regularisation or early stopping."
        )
    elif d.restored_best_weights:
        parts.append(
            f"Overfitting: no. Early stopping restored the weights of epoch {d.best_epoch}, "
            f"so the model is judged there: {accuracies}."
        )
    elif d.best_epoch == d.epochs_run:
        parts.append(
            "Overfitting: no. The validation loss was still at its lowest in the last epoch, "
            f"so more epochs may still help; final {accuracies}."
        )
    else:
        parts.append(
            f"Overfitting: no. The validation loss ends {d.val_loss_rise:.0%} above its "
            f"minimum, too small or too short a rise to call overfitting; final {accuracies}."
        )
    if d.verdict == "underfitting":
        parts.append(
            f"Verdict: underfitting: training accuracy is only {d.final_train_accuracy:.3f}; "
            "try a bigger network or more epochs, and check the input scaling."
        )
    else:
        parts.append(f"Verdict: {d.verdict}.")
    return " ".join(parts)


def _summary_ja(d):
    if d.verdict == "diverged":
        text = f"学習が発散しました。エポック {d.diverged_epoch} から損失が有限の値ではありません。"
        if d.best_epoch is not None:
            text += (
                f"発散する前の最適なエポック数は {d.best_epoch} です（検証損失 "
                f"{d.best_val_loss:.3f}、検証精度 {d.best_val_accuracy:.3f}）。"
            )
        return text + (
            "発散した学習では過学習かどうかを判断できません。学習率を下げるか、"
            "入力のスケーリングを確認してから学習し直してください。判定: 発散。"
        )
    parts = [
        f"最適なエポック数は {d.best_epoch} です（{d.epochs_run} エポック中、検証損失が最小の "
        f"{d.best_val_loss:.3f}）。",
        f"そのときの検証精度は {d.best_val_accuracy:.3f} です。",
    ]
    accuracies = (
        f"訓練精度 {d.final_train_accuracy:.3f}、検証精度 {d.final_val_accuracy:.3f}、"
        f"差 {d.gap:.3f}"
    )
    if d.overfitting:
        parts.append(
            f"過学習: あり。エポック {d.onset_epoch} 以降、訓練損失は下がり続けているのに"
            f"検証損失は上がり続け、エポック {d.epochs_run} では最小値より "
            f"{d.val_loss_rise:.0%} 高くなっています（最終エポックの{accuracies}）。"
            f"エポック数を {d.recommended_epochs} にするか、ドロップアウト、データ拡張、"
            "L2 正則化、早期終了を試してください。"
        )
    elif d.restored_best_weights:
        parts.append(
            f"過学習: なし。早期終了でエポック {d.best_epoch} の重みが復元されたので、"
            f"その時点のモデルで評価しています（{accuracies}）。"
        )
    elif d.best_epoch == d.epochs_run:
        parts.append(
            "過学習: なし。最後のエポックでも検証損失が最小なので、エポック数を増やせば"
            f"まだ改善する可能性があります（最終エポックの{accuracies}）。"
        )
    else:
        parts.append(
            f"過学習: なし。検証損失は最小値より {d.val_loss_rise:.0%} 高いだけで、"
            f"過学習と判断するほどの上昇ではありません（最終エポックの{accuracies}）。"
        )
    if d.verdict == "underfitting":
        parts.append(
            f"判定: 学習不足。訓練精度が {d.final_train_accuracy:.3f} しかありません。"
            "より大きなネットワークにするかエポック数を増やし、入力のスケーリングも確認してください。"
        )
    else:
        parts.append(f"判定: {_VERDICTS_JA[d.verdict]}。")
    return "".join(parts)


_VERDICTS_JA = {"good fit": "良好（過学習も学習不足もありません）", "overfitting": "過学習"}
_SUMMARIES = {"en": _summary_en, "ja": _summary_ja}
