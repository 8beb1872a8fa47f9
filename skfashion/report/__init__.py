"""Tables and diagnoses of training runs: is the network overfitting?

Every function reads what training already recorded (a per-epoch history,
``cv_results_``, curve scores) and returns a pandas DataFrame or a
:class:`Diagnosis`; only :func:`epoch_curve`, :func:`seed_curve` and
:func:`fit_seeds` fit anything. Several runs of one configuration (seeds or
folds) give one :class:`RunsDiagnosis`: ``diagnose(fit_seeds(estimator, X, y))``.
Save any table with :func:`save_table` as CSV, Markdown or HTML.
"""

from .._diagnostics import VERDICTS, Diagnosis, RunsDiagnosis, Thresholds, diagnose, verdict_label
from .._live import EpochProgress, LiveHistory
from .._plot import EpochCurveDisplay, HistoryDisplay, PredictionGridDisplay, style_curve_display
from ._epoch_curve import epoch_curve, fit_seeds, seed_curve
from ._io import save_table
from ._tables import (
    compare,
    cv_results_frame,
    history_frame,
    learning_curve_frame,
    validation_curve_frame,
)

__all__ = [
    "VERDICTS",
    "Diagnosis",
    "EpochCurveDisplay",
    "EpochProgress",
    "HistoryDisplay",
    "LiveHistory",
    "PredictionGridDisplay",
    "RunsDiagnosis",
    "Thresholds",
    "compare",
    "cv_results_frame",
    "diagnose",
    "epoch_curve",
    "fit_seeds",
    "history_frame",
    "learning_curve_frame",
    "save_table",
    "seed_curve",
    "style_curve_display",
    "validation_curve_frame",
    "verdict_label",
]
