"""Display objects for training histories and predictions (matplotlib loads when drawing).

For a confusion matrix with the class names, use scikit-learn's Display as it is::

    from sklearn.metrics import ConfusionMatrixDisplay
    from skfashion import CLASS_NAMES

    ConfusionMatrixDisplay.from_estimator(
        estimator, X_test, y_test, display_labels=CLASS_NAMES, xticks_rotation="vertical"
    )

For validation and learning curves, use scikit-learn's ``ValidationCurveDisplay``
and ``LearningCurveDisplay``, restyled by :func:`style_curve_display`.
"""

from ._curves import EpochCurveDisplay, HistoryDisplay, style_curve_display
from ._predictions import PredictionGridDisplay

__all__ = ["EpochCurveDisplay", "HistoryDisplay", "PredictionGridDisplay", "style_curve_display"]
