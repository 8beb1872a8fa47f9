"""Overfitting diagnostics: pure functions of one or several per-epoch histories.

Nothing here trains or imports Keras; every rule reads a history mapping
(``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``: one value per epoch,
any of them but ``loss`` may be missing) so it can be checked on hand-written
histories. One rule (:func:`_verdict`) judges histories, runs of seeds and the
rows of search and curve tables alike.
"""

import html
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral, Real

import numpy as np

from . import _i18n
from ._history import TRAIN_KEYS, VALIDATION_KEYS, as_history, require_validation

VERDICTS = (
    "diverged",
    "unstable",
    "overfitting",
    "starting to overfit",
    "underfitting",
    "good fit",
)
"""Every verdict, strongest first (ties between runs go to the stronger one)."""

SIGNALS = ("loss", "accuracy", "val_loss", "val_accuracy")
_GAP_ROUNDING = 1e-9  # a gap equal to max_gap up to rounding is not above it


@dataclass(frozen=True)
class Thresholds:
    """The documented thresholds of the one rule behind every verdict.

    Parameters
    ----------
    min_rise : float, default=0.15
        Relative change of a loss that counts: the validation loss "keeps
        rising" when each of the last ``patience`` epochs is more than
        ``min_rise`` above its minimum (0.15: 15 % higher); the training loss
        "keeps falling" when it ends more than ``min_rise`` below its value at
        the epoch compared with.
    min_drop : float, default=0.02
        Absolute change of an accuracy that counts: validation accuracy
        "falls" when each of the last ``patience`` epochs is more than
        ``min_drop`` below its best; training accuracy "still improves" when it
        ends more than ``min_drop`` above its value at the epoch compared with.
    max_gap : float, default=0.05
        Largest training-minus-validation accuracy gap of a model that fits:
        a gap above it in each of the last ``patience`` epochs while validation
        accuracy makes no new best (or in the only row of a table) is the
        accuracy curves' sign of overfitting.
    patience : int, default=3
        Number of final epochs a sign must last, so that one noisy epoch is not
        taken for overfitting.
    tol : float, default=0.01
        Relative tolerance under which a validation loss counts as being at
        its minimum (or a validation accuracy at its best), for
        ``onset_epoch`` and ``recommended_epochs``. Must be below ``min_rise``.
    underfit_accuracy : float, default=0.6
        Training accuracy (validation accuracy where training accuracy was not
        recorded) under which the model underfits. Chance level on the 10
        Fashion-MNIST classes is 0.1; small MLPs reach about 0.8.
    """

    min_rise: float = 0.15
    min_drop: float = 0.02
    max_gap: float = 0.05
    patience: int = 3
    tol: float = 0.01
    underfit_accuracy: float = 0.6

    def __post_init__(self):
        if not isinstance(self.min_rise, Real) or not self.min_rise > 0:
            raise ValueError(f"min_rise must be a number > 0, got {self.min_rise!r}.")
        if not isinstance(self.min_drop, Real) or not 0 < self.min_drop < 1:
            raise ValueError(f"min_drop must be a number in (0, 1), got {self.min_drop!r}.")
        if not isinstance(self.max_gap, Real) or not 0 <= self.max_gap < 1:
            raise ValueError(f"max_gap must be a number in [0, 1), got {self.max_gap!r}.")
        patience = self.patience
        if isinstance(patience, bool) or not isinstance(patience, Integral) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}.")
        if not isinstance(self.tol, Real) or not 0 <= self.tol < self.min_rise:
            raise ValueError(
                f"tol must be a number in [0, min_rise={self.min_rise}), got {self.tol!r}."
            )
        accuracy = self.underfit_accuracy
        if not isinstance(accuracy, Real) or not 0 <= accuracy <= 1:
            raise ValueError(f"underfit_accuracy must be in [0, 1], got {accuracy!r}.")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Diagnosis:
    """What one training history says about the epochs and overfitting.

    Built by :func:`diagnose`; immutable. ``str(diagnosis)`` answers the
    course's three questions in English, :meth:`summary` in any language of
    ``skfashion._i18n.LANGUAGES``; in Jupyter it shows as a small HTML card.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`: "diverged", "unstable", "overfitting",
        "starting to overfit", "underfitting" or "good fit" (see
        :func:`diagnose`).
    best_epoch : int or None
        1-based epoch of the lowest validation loss (highest validation
        accuracy when no validation loss was recorded), before divergence if
        the run diverged; None when no such value is finite.
    best_val_loss : float
        Validation loss at ``best_epoch`` (NaN when not recorded).
    best_val_accuracy : float
        Validation accuracy at ``best_epoch`` (not the highest validation
        accuracy of the run; NaN when not recorded).
    final_train_accuracy, final_val_accuracy : float
        Training and validation accuracy of the model the run returns: at the
        last epoch, or at ``best_epoch`` when early stopping restored its weights.
    gap : float
        ``final_train_accuracy - final_val_accuracy``.
    overfitting : bool
        Whether the verdict is ``"overfitting"``.
    onset_epoch : int or None
        Epoch after which validation went the wrong way or stalled (the last
        epoch at the validation loss minimum, within ``tol``, or at the best
        validation accuracy); None unless the verdict is "overfitting" or
        "starting to overfit".
    recommended_epochs : int or None
        Fewest epochs whose validation loss is within ``tol`` of the lowest
        (validation accuracy within ``tol`` of the highest, when no validation
        loss was recorded).
    epochs_run : int
        Number of epochs in the history.
    val_loss_rise : float
        Relative rise of the returned model's validation loss above the lowest
        (0.63 means 63 % higher).
    diverged_epoch : int or None
        First epoch with a NaN or infinite value; None when training stayed finite.
    restored_best_weights : bool
        Whether the model was judged at ``best_epoch`` (early stopping with
        restored weights).
    monitor : {"val_loss", "val_accuracy"}
        What chose ``best_epoch``.
    best_accuracy_epoch : int or None
        1-based epoch of the highest validation accuracy.
    highest_val_accuracy : float
        The highest validation accuracy.
    val_accuracy_drop : float
        ``highest_val_accuracy`` minus the returned model's validation accuracy.
    train_loss_rise : float
        Relative rise of the returned model's training loss above its lowest.
    loss_signal : str or None
        What the loss curves show: "rising" (validation loss keeps rising while
        training loss falls), "jumped" (it ends more than ``min_rise`` above
        its minimum, not for ``patience`` epochs, while training loss falls),
        "noisy" (the same jump while training loss hardly falls), "stalled"
        (no new lowest validation loss in the last ``patience`` epochs while
        training loss keeps falling), "flat" (no new lowest, but training loss
        hardly falls either), "improving", or None when it was not read (a
        loss curve missing, divergence, rising training loss or restored
        weights).
    accuracy_signal : str or None
        What the accuracy curves show: "gap" (the gap stayed above
        ``max_gap``), "falling", "stalled", "flat", "improving" or None.
    signals : tuple of str
        The curves the history recorded, of :data:`SIGNALS`.
    missing_signals : tuple of str
        The curves it lacked.
    n_runs : int
        Always 1; see :class:`RunsDiagnosis` for several runs.
    thresholds : Thresholds
        The thresholds the verdict was judged with.
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
    monitor: str = "val_loss"
    best_accuracy_epoch: int | None = None
    highest_val_accuracy: float = np.nan
    val_accuracy_drop: float = np.nan
    train_loss_rise: float = np.nan
    loss_signal: str | None = None
    accuracy_signal: str | None = None
    signals: tuple = SIGNALS
    missing_signals: tuple = ()
    n_runs: int = 1
    thresholds: Thresholds = field(default=DEFAULT_THRESHOLDS, repr=False)

    def __str__(self):
        return self.summary()

    def summary(self, language="en"):
        """A short paragraph: best number of epochs, validation accuracy there, overfitting.

        Parameters
        ----------
        language : str, default="en"
            One of ``skfashion._i18n.LANGUAGES`` ("en", "ja").

        Returns
        -------
        text : str
        """
        _i18n.check_language(language)
        return _Paragraph(self, language).text()

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
            use the nullable ``Int64`` dtype (``<NA>`` for None); the signal
            columns are comma-separated metric names.
        """
        values = {column: getattr(self, column) for column in DIAGNOSIS_COLUMNS}
        for column in ("signals", "missing_signals"):
            values[column] = ", ".join(values[column])
        frame = _one_row(values, name)
        for column in _EPOCH_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        return frame

    def to_html(self, name=None, language="en"):
        """A small HTML card: verdict, the three answers and the evidence.

        Parameters
        ----------
        name : str, default=None
            Model name shown as the card's title (escaped).
        language : str, default="en"
            One of ``skfashion._i18n.LANGUAGES``.

        Returns
        -------
        html : str
        """
        return _html_card(self, None, name, language)

    def _repr_html_(self):
        return self.to_html()


@dataclass(frozen=True)
class RunsDiagnosis:
    """One diagnosis of several runs of one configuration (seeds or folds).

    Built by :func:`diagnose` from a list of runs; immutable. Each run is
    judged on its own by the one rule; the overall verdict is the most common
    one (ties go to the stronger verdict, in the order of :data:`VERDICTS`),
    with its agreement: "overfitting in 5 of 5 runs".

    Attributes
    ----------
    runs : tuple of Diagnosis
        The diagnosis of each run, in the order given.
    verdict : str
        The overall verdict.
    agreement : int
        Number of runs whose verdict is ``verdict``.
    n_runs : int
        Number of runs.
    verdicts : tuple of str
        Each run's verdict.
    overfitting : bool
        Whether the overall verdict is ``"overfitting"``.
    best_epoch_mean, best_epoch_std : float
        Mean and standard deviation (population, as in ``cv_results_``) over
        the runs of ``best_epoch``; likewise ``best_val_accuracy_*``,
        ``gap_*`` (final training-minus-validation accuracy gap),
        ``val_loss_rise_*`` and ``final_val_accuracy_*``. Runs where a value is
        missing (NaN, None) are left out of its statistics.
    recommended_epochs : int or None
        Median over the runs of ``recommended_epochs``, rounded up.
    epochs_run : int
        Most epochs any run ran.
    """

    runs: tuple
    verdict: str
    agreement: int
    n_runs: int
    verdicts: tuple
    overfitting: bool
    best_epoch_mean: float
    best_epoch_std: float
    best_val_accuracy_mean: float
    best_val_accuracy_std: float
    final_val_accuracy_mean: float
    final_val_accuracy_std: float
    gap_mean: float
    gap_std: float
    val_loss_rise_mean: float
    val_loss_rise_std: float
    recommended_epochs: int | None
    epochs_run: int

    def __str__(self):
        return self.summary()

    def summary(self, language="en"):
        """A short paragraph: the three answers with their spread, and how sure the verdict is.

        Parameters
        ----------
        language : str, default="en"
            One of ``skfashion._i18n.LANGUAGES`` ("en", "ja").

        Returns
        -------
        text : str
        """
        _i18n.check_language(language)
        return _runs_paragraph(self, language)

    @property
    def agreement_text(self):
        """The verdict with its agreement in English, such as "overfitting in 5 of 5 runs"."""
        return self.agreement_label("en")

    def agreement_label(self, language="en"):
        """The verdict with its agreement, in ``language``."""
        return _i18n.text(
            language,
            "diagnosis.agreement",
            verdict=verdict_label(self.verdict, language),
            agreement=self.agreement,
            runs=self.n_runs,
        )

    def to_frame(self, name=None):
        """One-row DataFrame, index name ``"model"``, columns :data:`RUNS_COLUMNS`.

        Parameters
        ----------
        name : str, default=None
            Row label; 0 when None.

        Returns
        -------
        frame : pandas.DataFrame
        """
        values = {column: getattr(self, column) for column in RUNS_COLUMNS if column != "verdicts"}
        values["verdicts"] = ", ".join(self.verdicts)
        frame = _one_row(values, name)[list(RUNS_COLUMNS)]
        frame["recommended_epochs"] = frame["recommended_epochs"].astype("Int64")
        return frame

    def to_html(self, name=None, language="en"):
        """A small HTML card: the verdict with its agreement, the answers with their spread.

        Parameters
        ----------
        name : str, default=None
            Model name shown as the card's title (escaped).
        language : str, default="en"
            One of ``skfashion._i18n.LANGUAGES``.

        Returns
        -------
        html : str
        """
        return _html_card(self.runs[0], self, name, language)

    def _repr_html_(self):
        return self.to_html()


def _one_row(values, name):
    """One-row DataFrame of ``values``, labelled ``name`` (0 when None), index name "model"."""
    import pandas as pd

    return pd.DataFrame([values], index=pd.Index([0 if name is None else name], name="model"))


_EPOCH_COLUMNS = (
    "best_epoch",
    "onset_epoch",
    "recommended_epochs",
    "epochs_run",
    "diverged_epoch",
    "best_accuracy_epoch",
)
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
DIAGNOSIS_COLUMNS = _LEADING + tuple(
    f.name for f in fields(Diagnosis) if f.name not in _LEADING and f.name != "thresholds"
)
RUNS_COLUMNS = (
    "verdict",
    "agreement",
    "n_runs",
    "best_epoch_mean",
    "best_epoch_std",
    "best_val_accuracy_mean",
    "best_val_accuracy_std",
    "final_val_accuracy_mean",
    "final_val_accuracy_std",
    "gap_mean",
    "gap_std",
    "val_loss_rise_mean",
    "val_loss_rise_std",
    "recommended_epochs",
    "epochs_run",
    "verdicts",
)


def verdict_label(verdict, language="en"):
    """The word for ``verdict`` (one of :data:`VERDICTS`) in ``language``."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}.")
    return _i18n.text(language, f"diagnosis.verdict.{_key(verdict)}")


def _key(verdict):
    return verdict.replace(" ", "_")


def diagnose(
    history,
    *,
    min_rise=DEFAULT_THRESHOLDS.min_rise,
    min_drop=DEFAULT_THRESHOLDS.min_drop,
    max_gap=DEFAULT_THRESHOLDS.max_gap,
    patience=DEFAULT_THRESHOLDS.patience,
    tol=DEFAULT_THRESHOLDS.tol,
    underfit_accuracy=DEFAULT_THRESHOLDS.underfit_accuracy,
    restore_best_weights=None,
):
    """Diagnose under- and overfitting from training and validation curves.

    Reads both signals the course teaches: the **loss curves** (validation
    loss turns upward while training loss keeps falling) and the **accuracy
    curves** (training accuracy keeps improving while validation accuracy
    stalls or falls, and the gap between them widens). The rules, in order of
    precedence, each sign lasting the last ``patience`` epochs:

    1. **diverged** if any recorded value is NaN or infinite. The best epoch is
       then sought before the first such epoch.
    2. **unstable** if the training loss rises too: more than ``min_rise``
       above its lowest for the last ``patience`` epochs, and above its value
       at the best epoch. Overfitting cannot be judged then.
    3. **overfitting** if both signals go the wrong way:
       the validation loss keeps rising (more than ``min_rise`` above its
       minimum) while the training loss keeps falling, *and* validation
       accuracy makes no new best while the accuracy gap stays above
       ``max_gap``, or it falls (more than ``min_drop`` below its best) while
       training accuracy improves. With one of the two curves missing, the
       other decides alone.
    4. **underfitting** if the training accuracy of the returned model (its
       validation accuracy where no training accuracy was recorded) is below
       ``underfit_accuracy``: the network cannot even fit its training data.
    5. **starting to overfit** if the accuracy curves go the wrong way but
       the loss curves do not, or if validation accuracy stalled (no new best
       beyond ``min_drop`` in the last ``patience`` epochs) while training
       accuracy still improves and the loss curves stalled or went the wrong
       way too. The accuracy figure is the course's: a validation loss that
       rises while validation accuracy still improves (or holds without
       training pulling away) is reported in the paragraph but is not called
       overfitting. With one of the two curve pairs missing, the other decides
       alone (stalled: starting to overfit).
    6. **unstable** also when none of the above holds but the validation loss
       of the returned model jumped more than ``min_rise`` above its minimum
       (not for ``patience`` epochs) while the training loss hardly improved: a
       noisy end, and the model returned is worse than the one at the best
       epoch. (The same jump while the training loss keeps falling is the loss
       curves going the wrong way.)
    7. **good fit** otherwise.

    After early stopping that restored the best weights (``FashionMLP(early_stopping=True)``,
    Keras' ``EarlyStopping(restore_best_weights=True)``) the model holds the
    weights of the best epoch, so it is judged there: the final accuracies are
    read at ``best_epoch`` and it is never overfitting, whatever validation did
    in the epochs that early stopping waited.

    Several runs of one configuration (seeds, the folds of
    :func:`~skfashion.report.epoch_curve`) give one :class:`RunsDiagnosis`:
    pass them as a list.

    Parameters
    ----------
    history : estimator, mapping, or list of them
        A fitted estimator with ``history_`` (or Keras' ``History``), a history
        mapping with ``loss`` and at least one of ``val_loss`` and
        ``val_accuracy`` (``accuracy`` recommended), or a list or tuple of them,
        all runs of one configuration.
    min_rise, min_drop, max_gap, patience, tol, underfit_accuracy : \
float or int
        The thresholds, documented in :class:`Thresholds` (defaults 0.15,
        0.02, 0.05, 3, 0.01, 0.6: chosen on seeds 0-4 of the study's models,
        see ``docs/verdicts.md``).
    restore_best_weights : bool, default=None
        Whether the returned model holds the weights of the best epoch. None
        reads it off a fitted estimator: True when it has ``early_stopping=True``
        and a ``best_epoch_`` attribute (as :class:`~skfashion.FashionMLP`
        has) or ``validation_scores_`` (as scikit-learn's ``MLPClassifier``
        has), False for a history mapping.

    Returns
    -------
    diagnosis : Diagnosis or RunsDiagnosis
        A :class:`Diagnosis` for one history, a :class:`RunsDiagnosis` for a
        list of them.

    Raises
    ------
    ValueError
        If the history has no validation metrics, a threshold is out of range,
        the list is empty, or its estimators differ in more than ``random_state``.

    See Also
    --------
    skfashion.report.history_frame : The history as a table, with the gaps.
    skfashion.report.compare : One diagnosis per model, as a table.
    skfashion.report.fit_seeds : Fit one estimator with several seeds.

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
    kept falling. Training accuracy 0.940 against validation accuracy 0.810:
    a gap of 0.130, above 0.05 in each of the last 3 epochs, while validation
    accuracy gained no more than 0.02 on its earlier best. Train for 3 epochs,
    or add dropout, data augmentation, L2 regularisation or early stopping.
    Verdict: overfitting (one run).
    >>> runs = diagnose([history, history])
    >>> runs.agreement_text
    'overfitting in 2 of 2 runs'
    """
    thresholds = Thresholds(min_rise, min_drop, max_gap, patience, tol, underfit_accuracy)
    if isinstance(history, list | tuple):
        return _diagnose_runs(history, thresholds, restore_best_weights)
    return _diagnose_one(history, thresholds, restore_best_weights)


def _diagnose_one(history, thresholds, restore_best_weights):
    if restore_best_weights is None:
        restore_best_weights = _restores_best_weights(history)
    history = as_history(history)
    if "val_loss" not in history and "val_accuracy" not in history:
        require_validation(history)
    return _judge(history, thresholds, bool(restore_best_weights))


def _diagnose_runs(runs, thresholds, restore_best_weights):
    if not runs:
        raise ValueError(
            "No runs to diagnose: pass a list with at least one fitted estimator or history, "
            "for example the estimators of skfashion.report.fit_seeds."
        )
    check_same_configuration(runs)
    diagnoses = tuple(
        run if isinstance(run, Diagnosis) else _diagnose_one(run, thresholds, restore_best_weights)
        for run in runs
    )
    return combine(diagnoses)


def combine(diagnoses):
    """One :class:`RunsDiagnosis` from the :class:`Diagnosis` of each run."""
    diagnoses = tuple(diagnoses)
    if not diagnoses:
        raise ValueError("No runs to diagnose: pass at least one Diagnosis.")
    verdicts = tuple(d.verdict for d in diagnoses)
    counts = Counter(verdicts)
    verdict = min(counts, key=lambda v: (-counts[v], VERDICTS.index(v)))
    recommended = [d.recommended_epochs for d in diagnoses if d.recommended_epochs is not None]
    stats = {}
    for name in ("best_epoch", "best_val_accuracy", "final_val_accuracy", "gap", "val_loss_rise"):
        values = np.array(
            [np.nan if getattr(d, name) is None else getattr(d, name) for d in diagnoses],
            dtype=float,
        )
        values = values[np.isfinite(values)]
        stats[f"{name}_mean"] = float(values.mean()) if values.size else np.nan
        stats[f"{name}_std"] = float(values.std()) if values.size else np.nan
    return RunsDiagnosis(
        runs=diagnoses,
        verdict=verdict,
        agreement=counts[verdict],
        n_runs=len(diagnoses),
        verdicts=verdicts,
        overfitting=verdict == "overfitting",
        recommended_epochs=int(np.ceil(np.median(recommended))) if recommended else None,
        epochs_run=max(d.epochs_run for d in diagnoses),
        **stats,
    )


def check_same_configuration(runs):
    """Raise a ValueError if fitted estimators in ``runs`` differ in more than ``random_state``."""
    configurations = [
        (index, type(run), _configuration(run))
        for index, run in enumerate(runs)
        if hasattr(run, "get_params") and not isinstance(run, Mapping)
    ]
    if not configurations:
        return
    first_index, first_type, first = configurations[0]
    for index, kind, params in configurations[1:]:
        if kind is not first_type:
            raise ValueError(
                f"Runs {first_index} and {index} are different models ({first_type.__name__} "
                f"and {kind.__name__}); diagnose the runs of one configuration together and "
                "compare configurations with skfashion.report.compare."
            )
        differ = sorted(
            key for key in first.keys() | params.keys() if first.get(key) != params.get(key)
        )
        if differ:
            raise ValueError(
                f"Runs {first_index} and {index} differ in {differ}, not only in random_state: "
                "diagnose the runs of one configuration together and compare configurations "
                "with skfashion.report.compare."
            )


def _configuration(estimator):
    return {
        key: repr(value)
        for key, value in estimator.get_params(deep=False).items()
        if key not in ("random_state", "verbose")
    }


def _restores_best_weights(obj):
    if isinstance(obj, Mapping) or not getattr(obj, "early_stopping", False):
        return False
    return hasattr(obj, "best_epoch_") or getattr(obj, "validation_scores_", None) is not None


def _judge(history, t, restored, fully_trained=False):
    """The one rule: a Diagnosis of a validated history (any of the four curves but one).

    ``fully_trained`` reads a table row: one point of a model whose validation has
    stopped improving.
    """
    curves = _Curves(history, t, fully_trained)
    best = curves.best_epoch()
    restored = restored and best is not None
    judged = best if restored else curves.n
    loss_signal = accuracy_signal = onset = loss_onset = accuracy_onset = None
    if curves.diverged is not None:
        verdict = "diverged"
    elif not restored and curves.training_loss_rises():
        verdict = "unstable"
    else:
        if not restored:
            loss_signal, loss_onset = curves.loss_signal()
            accuracy_signal, accuracy_onset = curves.accuracy_signal()
        verdict = _verdict(loss_signal, accuracy_signal, curves.underfits(judged))
        if verdict in ("overfitting", "starting to overfit"):
            lagging = _SIGNS + _STALLS
            onset = loss_onset if loss_signal in lagging else accuracy_onset
            if accuracy_signal not in lagging and loss_signal not in lagging:
                onset = loss_onset or accuracy_onset
    v = curves.values
    best_accuracy_epoch = curves.highest_accuracy_epoch()
    highest = np.nan if best_accuracy_epoch is None else v["val_accuracy"][best_accuracy_epoch - 1]
    final_train = curves.at("accuracy", judged)
    final_val = curves.at("val_accuracy", judged)
    return Diagnosis(
        verdict=verdict,
        best_epoch=best,
        best_val_loss=curves.at("val_loss", best),
        best_val_accuracy=curves.at("val_accuracy", best),
        final_train_accuracy=final_train,
        final_val_accuracy=final_val,
        gap=final_train - final_val,
        overfitting=verdict == "overfitting",
        onset_epoch=onset,
        recommended_epochs=curves.recommended_epochs(best),
        epochs_run=curves.n,
        val_loss_rise=curves.rise("val_loss", judged),
        diverged_epoch=curves.diverged,
        restored_best_weights=restored,
        monitor=curves.monitor,
        best_accuracy_epoch=best_accuracy_epoch,
        highest_val_accuracy=float(highest),
        val_accuracy_drop=float(highest - final_val),
        train_loss_rise=curves.rise("loss", judged),
        loss_signal=loss_signal,
        accuracy_signal=accuracy_signal,
        signals=tuple(key for key in SIGNALS if key in v),
        missing_signals=tuple(key for key in SIGNALS if key not in v),
        thresholds=t,
    )


_SIGNS = ("rising", "jumped", "falling", "gap")  # validation going the wrong way
_STALLS = ("stalled",)


def _verdict(loss_signal, accuracy_signal, underfits):
    """THE rule from the signals of the loss and accuracy curves (None: not read)."""
    read = [signal for signal in (loss_signal, accuracy_signal) if signal is not None]
    if read and all(signal in _SIGNS for signal in read):
        return "overfitting"
    if underfits:
        return "underfitting"
    if accuracy_signal is None or loss_signal is None:
        starting = bool(read) and read[0] in _STALLS
    else:  # the accuracy curves, the course's figure, must show it
        starting = accuracy_signal in _SIGNS or (
            accuracy_signal in _STALLS and loss_signal in _SIGNS + _STALLS
        )
    if starting:
        return "starting to overfit"
    return "unstable" if loss_signal == "noisy" else "good fit"


class _Curves:
    """The recorded curves of one history up to divergence, and the signs they show."""

    def __init__(self, history, thresholds, fully_trained=False):
        self.t = thresholds
        self.fully_trained = fully_trained
        self.values = {
            key: np.asarray(history[key], dtype=float) for key in SIGNALS if key in history
        }
        self.n = len(next(iter(self.values.values())))
        finite = np.ones(self.n, dtype=bool)
        for values in self.values.values():
            finite &= np.isfinite(values)
        self.diverged = None if finite.all() else int(np.argmin(finite)) + 1
        self.usable = self.n if self.diverged is None else self.diverged - 1
        self.monitor = "val_loss" if "val_loss" in self.values else "val_accuracy"

    def has(self, *keys):
        return all(key in self.values for key in keys)

    def at(self, key, epoch):
        if epoch is None or key not in self.values:
            return np.nan
        return float(self.values[key][epoch - 1])

    def best_epoch(self):
        return self._extreme(self.monitor)

    def highest_accuracy_epoch(self):
        return self._extreme("val_accuracy") if self.has("val_accuracy") else None

    def _extreme(self, key):
        values = self.values[key][: self.usable]
        if values.size == 0 or np.isnan(values).all():
            return None
        return int(np.nanargmin(values) if key.endswith("loss") else np.nanargmax(values)) + 1

    def rise(self, key, epoch):
        if key not in self.values or self.usable == 0:
            return np.nan
        values = self.values[key][: self.usable]
        if np.isnan(values).all():
            return np.nan
        return _relative_rise(self.values[key][epoch - 1], float(np.nanmin(values)))

    def _near(self, key, best):
        """Epochs (boolean mask) whose value is at the best one within tol."""
        values, extreme = self.values[key][: self.usable], self.values[key][best - 1]
        if key.endswith("loss"):
            return values <= extreme + self.t.tol * abs(extreme)
        return values >= extreme - self.t.tol * abs(extreme)

    def recommended_epochs(self, best):
        if best is None:
            return None
        return int(np.argmax(self._near(self.monitor, best))) + 1

    def training_loss_rises(self):
        """Training loss more than min_rise above its lowest for patience epochs, and
        higher than when validation was at its best."""
        if not self.has("loss") or not self._sustained_rise("loss"):
            return False
        best = self.best_epoch()
        return best is None or self.values["loss"][-1] > self.values["loss"][best - 1]

    def _sustained_rise(self, key):
        values, p = self.values[key], self.t.patience
        lowest = int(np.argmin(values)) + 1
        if self.n - lowest < p:
            return False
        return bool(
            np.all(values[-p:] > values[lowest - 1] + self.t.min_rise * abs(values[lowest - 1]))
        )

    def _training_improved(self, since, *, by_accuracy):
        """Whether training kept improving from epoch ``since`` to the last one."""
        if by_accuracy and self.has("accuracy"):
            accuracy = self.values["accuracy"]
            return bool(accuracy[-1] > accuracy[since - 1] + self.t.min_drop)
        loss = self.values["loss"]
        return bool(loss[-1] < loss[since - 1] - self.t.min_rise * abs(loss[since - 1]))

    def improved_lately(self, key):
        """Whether ``key`` made a new best, by more than the tolerance, in the last ``patience``
        epochs (a loss ``tol`` below, an accuracy ``min_drop`` above the best before them)."""
        p = self.t.patience
        if self.n <= p:
            return not self.fully_trained
        before, last = self.values[key][: -p], self.values[key][-p:]
        if key.endswith("loss"):
            lowest = np.nanmin(before)
            return bool(np.nanmin(last) < lowest - self.t.tol * abs(lowest))
        return bool(np.nanmax(last) > np.nanmax(before) + self.t.min_drop)

    def loss_signal(self):
        """("rising" | "stalled" | "flat" | "improving" | None, onset epoch)."""
        if not self.has("loss", "val_loss"):
            return None, None
        best, loss = self.best_epoch(), self.values["loss"]
        onset = best + int(np.flatnonzero(self._near("val_loss", best)[best - 1 :])[-1])
        if self._sustained_rise("val_loss") and loss[-1] < loss[onset - 1]:
            return "rising", onset
        improved = self._training_improved(best, by_accuracy=False)
        if self.rise("val_loss", self.n) > self.t.min_rise:
            return ("jumped" if improved else "noisy"), onset
        if self.improved_lately("val_loss"):
            return "improving", onset
        return ("stalled" if improved else "flat"), best

    def accuracy_signal(self):
        """("gap" | "falling" | "stalled" | "flat" | "improving" | None, onset epoch)."""
        if not self.has("val_accuracy"):
            return None, None
        best, p = self.highest_accuracy_epoch(), self.t.patience
        onset = best + int(np.flatnonzero(self._near("val_accuracy", best)[best - 1 :])[-1])
        if self.improved_lately("val_accuracy"):
            return "improving", onset
        if self.has("accuracy"):
            gaps = (self.values["accuracy"] - self.values["val_accuracy"])[-min(p, self.n) :]
            if np.all(gaps > self.t.max_gap + _GAP_ROUNDING):
                return "gap", onset
        improved = self._training_improved(best, by_accuracy=True)
        val_accuracy = self.values["val_accuracy"]
        highest = val_accuracy[best - 1]
        if improved and np.all(val_accuracy[-p:] < highest - self.t.min_drop - _GAP_ROUNDING):
            return "falling", onset
        return ("stalled" if improved else "flat"), onset

    def underfits(self, epoch):
        key = "accuracy" if self.has("accuracy") else "val_accuracy"
        if key not in self.values:
            return False
        return bool(self.values[key][epoch - 1] < self.t.underfit_accuracy)


def _relative_rise(value, minimum):
    if np.isnan(minimum) or not np.isfinite(value):
        return np.nan
    if minimum == 0:
        return 0.0 if value == 0 else np.inf
    return float((value - minimum) / abs(minimum))


def score_verdict(
    train_score,
    test_score,
    *,
    max_gap=DEFAULT_THRESHOLDS.max_gap,
    underfit_score=DEFAULT_THRESHOLDS.underfit_accuracy,
):
    """Verdict of table rows of mean training and test (validation) scores, by the one rule.

    A row of a search or curve table is read as a one-epoch history with
    training accuracy ``train_score`` and validation accuracy ``test_score``
    and no loss curves: the accuracy signal decides alone, so a gap above
    ``max_gap`` is ``"overfitting"``, else a training score below
    ``underfit_score`` is ``"underfitting"``, else ``"good fit"`` (one epoch
    has no stall or rise to read). None where a score is NaN (a failed fit).
    A gap equal to ``max_gap`` up to rounding (1e-9) is not above it. The
    thresholds suit scores in [0, 1] where higher is better, such as accuracy.

    Parameters
    ----------
    train_score, test_score : float or array-like of float
        Mean scores.
    max_gap : float, default=0.05
        :class:`Thresholds` ``max_gap``.
    underfit_score : float, default=0.6
        :class:`Thresholds` ``underfit_accuracy``.

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
    thresholds = Thresholds(max_gap=max_gap, underfit_accuracy=underfit_score)
    train, test = np.broadcast_arrays(
        np.asarray(train_score, dtype=np.float64), np.asarray(test_score, dtype=np.float64)
    )
    verdicts = np.empty(train.shape, dtype=object)
    for index in np.ndindex(train.shape):
        if np.isnan(train[index]) or np.isnan(test[index]):
            verdicts[index] = None
            continue
        row = {"accuracy": [train[index]], "val_accuracy": [test[index]]}
        verdicts[index] = _judge(row, thresholds, restored=False, fully_trained=True).verdict
    return verdicts


def aggregate_histories(histories, *, count="n_folds"):
    """Mean and standard deviation per epoch over histories of possibly different lengths.

    Parameters
    ----------
    histories : sequence of mapping or estimator
        One history per fold (or seed).
    count : str, default="n_folds"
        Name of the column counting the histories that reached each epoch.

    Returns
    -------
    frame : pandas.DataFrame
        As :func:`skfashion.report.epoch_curve` returns. A NaN value (a diverged fold) makes
        that epoch's mean NaN; a fold that stopped earlier only drops out.
    """
    import pandas as pd

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
    columns[count] = (lengths[:, np.newaxis] >= np.arange(1, n_epochs + 1)).sum(axis=0)
    return pd.DataFrame(columns, index=pd.RangeIndex(1, n_epochs + 1, name="epoch"))


# ----------------------------------------------------------------------------- words


def _fmt(value, kind):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return {
        "epoch": "{:d}",
        "acc": "{:.3f}",
        "loss": "{:.3f}",
        "pct": "{:.0%}",
        "thr": "{:g}",
        "pm": "{:.1f}",
    }[kind].format(value)


class _Paragraph:
    """The paragraph of one Diagnosis in one language: every number from its fields."""

    def __init__(self, d, language):
        self.d, self.language = d, language
        t = d.thresholds
        self.fields = {
            "best": _fmt(d.best_epoch, "epoch"),
            "epochs": _fmt(d.epochs_run, "epoch"),
            "val_loss": _fmt(d.best_val_loss, "loss"),
            "val_accuracy": _fmt(d.best_val_accuracy, "acc"),
            "onset": _fmt(d.onset_epoch, "epoch"),
            "rise": _fmt(d.val_loss_rise, "pct"),
            "train": _fmt(d.final_train_accuracy, "acc"),
            "final_val": _fmt(d.final_val_accuracy, "acc"),
            "gap": _fmt(d.gap, "acc"),
            "max_gap": _fmt(t.max_gap, "thr"),
            "min_rise": _fmt(t.min_rise, "pct"),
            "min_drop": _fmt(t.min_drop, "thr"),
            "patience": _fmt(t.patience, "epoch"),
            "tol": _fmt(t.tol, "pct"),
            "recommended": _fmt(d.recommended_epochs, "epoch"),
            "accuracy_epoch": _fmt(d.best_accuracy_epoch, "epoch"),
            "highest": _fmt(d.highest_val_accuracy, "acc"),
            "train_rise": _fmt(d.train_loss_rise, "pct"),
            "diverged": _fmt(d.diverged_epoch, "epoch"),
            "window": _fmt(min(t.patience, d.epochs_run), "epoch"),
        }

    def say(self, key, **extra):
        return _i18n.text(self.language, f"diagnosis.{key}", **self.fields, **extra)

    def text(self):
        d = self.d
        parts = []
        if d.verdict == "diverged":
            parts.append(self.say("diverged"))
            if d.best_epoch is not None:
                parts.append(self.say(f"diverged_best_{d.monitor}"))
            parts.append(self.say("advice.diverged"))
        else:
            parts.append(self.say(f"best.{d.monitor}"))
            if d.monitor == "val_loss" and "val_accuracy" in d.signals:
                parts.append(self.say("accuracy_there"))
            parts.append(self.say(f"answer.{_key(d.verdict)}"))
            parts.extend(self.evidence())
            parts.append(self.advice())
        if d.missing_signals:
            names = _i18n.words(self.language, "diagnosis.separator").join(
                _i18n.text(self.language, f"diagnosis.curve.{key}") for key in d.missing_signals
            )
            parts.append(self.say("missing", names=names))
        parts.append(self.say("verdict_line", verdict=verdict_label(d.verdict, self.language)))
        return _i18n.words(self.language, "diagnosis.joiner").join(part for part in parts if part)

    def evidence(self):
        d = self.d
        if d.verdict == "unstable" and d.loss_signal is None:
            return [self.say("evidence.unstable")]
        if d.restored_best_weights:
            with_train = "accuracy" in d.signals and "val_accuracy" in d.signals
            return [self.say("evidence.restored" + ("" if with_train else "_short"))]
        sentences = []
        if d.loss_signal is not None:
            signal = d.loss_signal
            if signal == "improving" and d.best_epoch == d.epochs_run and d.monitor == "val_loss":
                signal = "at_last_epoch"
            sentences.append(self.say(f"evidence.loss.{signal}"))
        if d.accuracy_signal is not None:
            suffix = "" if "accuracy" in d.signals else "_no_train"
            sentences.append(self.say(f"evidence.accuracy.{d.accuracy_signal}{suffix}"))
        return sentences

    def advice(self):
        d = self.d
        if d.verdict in ("overfitting", "starting to overfit"):
            why = ""
            if d.recommended_epochs != d.best_epoch:
                why = self.say(f"why_recommended.{d.monitor}")
            return self.say(f"advice.{_key(d.verdict)}", why=why)
        if d.verdict == "underfitting":
            if "accuracy" in d.signals:
                return self.say("advice.underfitting", accuracy=self.fields["train"])
            return self.say("advice.underfitting_no_train", accuracy=self.fields["final_val"])
        if d.verdict == "unstable":
            return self.say("advice.unstable")
        return ""


def _runs_paragraph(r, language):
    def say(key, **fields):
        return _i18n.text(language, f"diagnosis.runs.{key}", **fields)

    if r.n_runs == 1:
        return r.runs[0].summary(language)
    counts = Counter(r.verdicts)
    tally = _i18n.words(language, "diagnosis.separator").join(
        say("count", verdict=verdict_label(v, language), count=counts[v], runs=r.n_runs)
        for v in VERDICTS
        if v in counts
    )
    parts = [
        say("header", runs=r.n_runs),
        say(
            "best",
            mean=_fmt(r.best_epoch_mean, "pm"),
            std=_fmt(r.best_epoch_std, "pm"),
            epochs=r.epochs_run,
        ),
        say(
            "accuracy",
            mean=_fmt(r.best_val_accuracy_mean, "acc"),
            std=_fmt(r.best_val_accuracy_std, "acc"),
        ),
        say(
            "gap",
            mean=_fmt(r.gap_mean, "acc"),
            std=_fmt(r.gap_std, "acc"),
            rise=_fmt(r.val_loss_rise_mean, "pct"),
            rise_std=_fmt(r.val_loss_rise_std, "pct"),
        ),
        say("tally", tally=tally),
    ]
    if r.verdict in ("overfitting", "starting to overfit") and r.recommended_epochs is not None:
        parts.append(say("advice", recommended=r.recommended_epochs))
    parts.append(say("verdict_line", agreement=r.agreement_label(language)))
    return _i18n.words(language, "diagnosis.joiner").join(parts)


def _html_card(d, runs, name, language):
    """A small HTML card: verdict, the three answers, the evidence (all text escaped)."""
    _i18n.check_language(language)
    whole = d if runs is None else runs
    if runs is None:
        headline = verdict_label(d.verdict, language)
        best, accuracy = _fmt(d.best_epoch, "epoch"), _fmt(d.best_val_accuracy, "acc")
    else:
        headline = runs.agreement_label(language)
        best = f"{_fmt(runs.best_epoch_mean, 'pm')} ± {_fmt(runs.best_epoch_std, 'pm')}"
        accuracy = (
            f"{_fmt(runs.best_val_accuracy_mean, 'acc')} ± "
            f"{_fmt(runs.best_val_accuracy_std, 'acc')}"
        )

    def label(key):
        return html.escape(_i18n.text(language, f"diagnosis.card.{key}"))

    rows = (("best", best), ("accuracy", accuracy), ("verdict", headline))
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{label(key)}</th>"
        f"<td>{html.escape(value)}</td></tr>"
        for key, value in rows
    )
    title = "" if name is None else f"<div style='font-weight:bold'>{html.escape(str(name))}</div>"
    return (
        f"<div class='skfashion-diagnosis verdict-{_key(whole.verdict).replace('_', '-')}' "
        f"style='border:1px solid #ccc;border-left:6px solid {_COLOURS[whole.verdict]};"
        "border-radius:4px;padding:0.5em 1em;max-width:48em'>"
        f"{title}<table>{cells}</table>"
        f"<p style='margin:0.4em 0 0 0'>{html.escape(whole.summary(language))}</p></div>"
    )


_COLOURS = {
    "overfitting": "#c0392b",
    "starting to overfit": "#d68910",
    "good fit": "#1e8449",
    "underfitting": "#2471a3",
    "unstable": "#7d3c98",
    "diverged": "#7d3c98",
}
