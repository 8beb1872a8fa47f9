"""Tables and diagnoses of training runs: is the network overfitting?

Every function reads what training already recorded (a per-epoch history,
``cv_results_``, curve scores) and returns a pandas DataFrame or a
:class:`Diagnosis`; only :func:`epoch_curve` fits anything. Save any table
with :func:`save_table` as CSV, Markdown or HTML.
"""

from .._diagnostics import Diagnosis, diagnose
from .._live import EpochProgress, LiveHistory
from .._plot import EpochCurveDisplay, HistoryDisplay, PredictionGridDisplay, style_curve_display
from ._epoch_curve import epoch_curve
from ._io import save_table
from ._tables import (
    compare,
    cv_results_frame,
    history_frame,
    learning_curve_frame,
    validation_curve_frame,
)

__all__ = [
    "Diagnosis",
    "EpochCurveDisplay",
    "EpochProgress",
    "HistoryDisplay",
    "LiveHistory",
    "PredictionGridDisplay",
    "compare",
    "cv_results_frame",
    "diagnose",
    "epoch_curve",
    "history_frame",
    "learning_curve_frame",
    "save_table",
    "style_curve_display",
    "validation_curve_frame",
]
