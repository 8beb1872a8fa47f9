"""Test images with their predicted class, as in TensorFlow's basic classification tutorial."""

import numbers

import numpy as np

from ._base import SaveMixin

CORRECT_COLOR = "blue"
WRONG_COLOR = "red"
BAR_COLOR = "#777777"


def _as_images(images):
    """(n, side * side), (n, height, width) or (n, height, width, 1) as (n, height, width)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    if images.ndim == 2:
        side = round(np.sqrt(images.shape[1]))
        if side * side != images.shape[1]:
            raise ValueError(
                f"Flat images need a square number of pixels (784 for 28x28); "
                f"got {images.shape[1]}."
            )
        return images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(
            f"Expected images of shape (n, 784) or (n, 28, 28); got shape {images.shape}."
        )
    return images


def _class_names(classes, class_names):
    if class_names is not None:
        if len(class_names) != len(classes):
            raise ValueError(
                f"class_names has {len(class_names)} names for {len(classes)} classes."
            )
        return [str(name) for name in class_names]
    if np.issubdtype(classes.dtype, np.integer) and np.array_equal(classes, np.arange(10)):
        from .._datasets import CLASS_NAMES

        return [str(name) for name in CLASS_NAMES]
    return [str(label) for label in classes]


def _selection(n_samples, n_images, indices):
    if not isinstance(n_images, numbers.Integral) or isinstance(n_images, bool) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}.")
    if indices is None:
        return np.arange(min(n_images, n_samples))
    indices = np.asarray(indices).ravel()
    if indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError("indices must be a non-empty sequence of integer positions.")
    return indices[:n_images]


class PredictionGridDisplay(SaveMixin):
    """A grid of images labelled with their predicted and true class.

    As in TensorFlow's basic classification tutorial: below each image the
    predicted class, its probability and, in parentheses, the true class, in
    blue when the prediction is right and in red when it is wrong; beside each
    image, optionally, a bar chart of the predicted probabilities with the
    predicted class in red and the true class in blue.

    Prefer :meth:`from_estimator` or :meth:`from_predictions` to create one.

    Parameters
    ----------
    images : array-like of shape (n_images, 784) or (n_images, 28, 28)
        The images to show; a trailing channel axis of size 1 is dropped.
    y_true : array-like of shape (n_images,)
        Their true labels, each one of ``classes``.
    y_proba : array-like of shape (n_images, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        The labels of the columns of ``y_proba``, like ``estimator.classes_``.
    class_names : sequence of str, default=None
        Display name of each class, in the order of ``classes``; the
        Fashion-MNIST names when ``classes`` are 0 to 9, else the labels.

    Attributes
    ----------
    figure_ : matplotlib Figure
        Figure containing the grid.
    bounding_ax_ : matplotlib Axes
        The axes whose area holds the grid; switched off.
    axes_ : ndarray of matplotlib Axes of shape (n_images,)
        The image axes; each xlabel reads "predicted probability% (true)".
    bar_axes_ : ndarray of matplotlib Axes of shape (n_images,) or None
        The probability bar charts, None without ``show_probabilities``.
    correct_ : ndarray of bool of shape (n_images,)
        Whether each prediction is right.

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay : Counts of every (true, predicted) pair.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from skfashion.report import PredictionGridDisplay
    >>> images = np.zeros((2, 28, 28), dtype=np.uint8)
    >>> y_proba = np.array([[0.9, 0.1], [0.3, 0.7]])
    >>> display = PredictionGridDisplay.from_predictions(
    ...     images, ["Sandal", "Sandal"], y_proba, classes=["Sandal", "Sneaker"])
    >>> [ax.get_xlabel() for ax in display.axes_]
    ['Sandal 90% (Sandal)', 'Sneaker 70% (Sandal)']
    >>> display.correct_
    array([ True, False])
    >>> plt.close(display.figure_)
    """

    def __init__(self, images, y_true, y_proba, *, classes, class_names=None):
        self.images = images
        self.y_true = y_true
        self.y_proba = y_proba
        self.classes = classes
        self.class_names = class_names

    def plot(self, ax=None, *, n_cols=None, show_probabilities=True, cmap="binary"):
        """Draw the grid.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A subplot whose area holds the grid (it is switched off); a new
            figure sized to the grid is made when None.
        n_cols : int, default=None
            Images per row; 3 with probability bars (as in the tutorial), 5
            without.
        show_probabilities : bool, default=True
            Draw the bar chart of the predicted probabilities beside each image.
        cmap : str or Colormap, default="binary"
            Colormap of the images ("binary": dark clothes on white).

        Returns
        -------
        display : PredictionGridDisplay
        """
        import matplotlib.pyplot as plt
        from matplotlib.gridspec import GridSpecFromSubplotSpec

        images = _as_images(self.images)
        classes = np.asarray(self.classes)
        y_proba = np.asarray(self.y_proba, dtype=float)
        names = _class_names(classes, self.class_names)
        position = {label: index for index, label in enumerate(classes.tolist())}
        missing = [label for label in np.asarray(self.y_true).tolist() if label not in position]
        if missing:
            raise ValueError(f"True labels {missing[:5]} are not among the classes {names}.")
        true_index = np.array([position[label] for label in np.asarray(self.y_true).tolist()])
        predicted_index = y_proba.argmax(axis=1)
        self.correct_ = predicted_index == true_index

        n_images = len(images)
        n_cols = min(n_cols or (3 if show_probabilities else 5), n_images)
        n_rows = -(-n_images // n_cols)
        panels = 2 if show_probabilities else 1
        if ax is None:
            _, ax = plt.subplots(figsize=(2 * panels * n_cols, 2.2 * n_rows), layout="constrained")
        if ax.get_subplotspec() is None:
            raise ValueError("ax must be a subplot (made by plt.subplots or add_subplot).")
        ax.set_axis_off()
        figure = ax.figure
        grid = GridSpecFromSubplotSpec(n_rows, n_cols * panels, subplot_spec=ax.get_subplotspec())

        axes, bar_axes = [], []
        for i in range(n_images):
            row, col = divmod(i, n_cols)
            image_ax = figure.add_subplot(grid[row, col * panels])
            image_ax.imshow(images[i], cmap=cmap)
            image_ax.set_xticks([])
            image_ax.set_yticks([])
            predicted, true = predicted_index[i], true_index[i]
            image_ax.set_xlabel(
                f"{names[predicted]} {100 * y_proba[i, predicted]:.0f}% ({names[true]})",
                color=CORRECT_COLOR if self.correct_[i] else WRONG_COLOR,
                fontsize="small",
            )
            axes.append(image_ax)
            if show_probabilities:
                bar_ax = figure.add_subplot(grid[row, col * panels + 1])
                bars = bar_ax.bar(np.arange(len(classes)), y_proba[i], color=BAR_COLOR)
                bars[predicted].set_color(WRONG_COLOR)
                bars[true].set_color(CORRECT_COLOR)
                bar_ax.set_ylim(0, 1)
                bar_ax.set_xticks(np.arange(len(classes)))
                bar_ax.tick_params(axis="x", labelsize="x-small")
                bar_ax.set_yticks([])
                bar_axes.append(bar_ax)

        self.bounding_ax_ = ax
        self.axes_ = np.array(axes, dtype=object)
        self.bar_axes_ = np.array(bar_axes, dtype=object) if show_probabilities else None
        self.figure_ = figure
        return self

    @classmethod
    def from_predictions(
        cls,
        images,
        y_true,
        y_proba,
        *,
        classes=None,
        class_names=None,
        n_images=15,
        indices=None,
        ax=None,
        n_cols=None,
        show_probabilities=True,
        cmap="binary",
    ):
        """Draw the grid from images, their true labels and predicted probabilities.

        Parameters
        ----------
        images : array-like of shape (n_samples, 784) or (n_samples, 28, 28)
            The images.
        y_true : array-like of shape (n_samples,)
            True labels.
        y_proba : array-like of shape (n_samples, n_classes)
            Predicted probabilities, as returned by ``predict_proba``.
        classes : array-like of shape (n_classes,), default=None
            The labels of the columns of ``y_proba``; 0 to n_classes - 1 when
            None.
        class_names : sequence of str, default=None
            Display name of each class, in the order of ``classes``; the
            Fashion-MNIST names when the classes are 0 to 9.
        n_images : int, default=15
            How many images to show: the first ones, or the first of
            ``indices``.
        indices : array-like of int, default=None
            Positions of the images to show, for example those predicted
            wrongly: ``np.flatnonzero(y_pred != y_true)``.
        ax : matplotlib Axes, default=None
            A subplot whose area holds the grid; a new figure when None.
        n_cols : int, default=None
            Images per row.
        show_probabilities : bool, default=True
            Draw the bar chart of the predicted probabilities beside each image.
        cmap : str or Colormap, default="binary"
            Colormap of the images.

        Returns
        -------
        display : PredictionGridDisplay
        """
        images = _as_images(images)
        y_true = np.asarray(y_true)
        y_proba = np.asarray(y_proba, dtype=float)
        if y_proba.ndim != 2:
            raise ValueError(f"y_proba must be 2-D (n_samples, n_classes); got {y_proba.shape}.")
        if not len(images) == len(y_true) == len(y_proba):
            raise ValueError(
                f"images, y_true and y_proba must have the same length; got {len(images)}, "
                f"{len(y_true)} and {len(y_proba)}."
            )
        classes = np.arange(y_proba.shape[1]) if classes is None else np.asarray(classes)
        if len(classes) != y_proba.shape[1]:
            raise ValueError(f"y_proba has {y_proba.shape[1]} columns for {len(classes)} classes.")
        shown = _selection(len(images), n_images, indices)
        display = cls(
            images[shown], y_true[shown], y_proba[shown], classes=classes, class_names=class_names
        )
        return display.plot(ax=ax, n_cols=n_cols, show_probabilities=show_probabilities, cmap=cmap)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_images=15,
        indices=None,
        class_names=None,
        ax=None,
        n_cols=None,
        show_probabilities=True,
        cmap="binary",
    ):
        """Predict some images with a fitted classifier and draw the grid.

        Only the shown images are predicted, with ``estimator.predict_proba``.

        Parameters
        ----------
        estimator : classifier
            Fitted classifier with ``predict_proba`` and ``classes_``, such as
            :class:`~skfashion.FashionMLP`.
        X : array-like of shape (n_samples, 784) or (n_samples, 28, 28)
            Images, in the form the estimator was fitted on.
        y : array-like of shape (n_samples,)
            True labels.
        n_images : int, default=15
            How many images to show: the first ones, or the first of
            ``indices``.
        indices : array-like of int, default=None
            Positions of the images to show.
        class_names : sequence of str, default=None
            Display name of each class, in the order of ``estimator.classes_``;
            the Fashion-MNIST names when the classes are 0 to 9.
        ax : matplotlib Axes, default=None
            A subplot whose area holds the grid; a new figure when None.
        n_cols : int, default=None
            Images per row.
        show_probabilities : bool, default=True
            Draw the bar chart of the predicted probabilities beside each image.
        cmap : str or Colormap, default="binary"
            Colormap of the images.

        Returns
        -------
        display : PredictionGridDisplay
        """
        from sklearn.utils import _safe_indexing
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        shown = _selection(len(X), n_images, indices)
        X_shown = _safe_indexing(X, shown)
        return cls.from_predictions(
            X_shown,
            _safe_indexing(y, shown),
            estimator.predict_proba(X_shown),
            classes=estimator.classes_,
            class_names=class_names,
            n_images=len(shown),
            ax=ax,
            n_cols=n_cols,
            show_probabilities=show_probabilities,
            cmap=cmap,
        )
