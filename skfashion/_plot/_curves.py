"""Training and validation curves over epochs: solid training, dashed validation."""

from collections.abc import Mapping

import numpy as np

from .._diagnostics import aggregate_histories
from .._history import as_history, best_epoch, has_validation
from ._base import SaveMixin, check_option, legend_prop, text_style

METRICS = ("accuracy", "loss")
MONITORS = ("val_loss", "val_accuracy")
LEGENDS = ("full", "compact", None)


def _is_history_like(obj):
    return isinstance(obj, Mapping) or hasattr(obj, "history_") or hasattr(obj, "history")


def _is_runs(obj):
    """A list of histories or fitted estimators: several runs of one model."""
    return isinstance(obj, list | tuple) and bool(obj) and all(map(_is_history_like, obj))


def _is_single_history(obj):
    if _is_runs(obj):
        return True
    return not (
        isinstance(obj, Mapping)
        and obj
        and all(_is_history_like(value) or _is_runs(value) for value in obj.values())
    )


def _is_single_object(obj):
    return not isinstance(obj, Mapping)


def _by_name(obj, name, is_single):
    """``{name: obj}`` for a single object, ``{str(key): value}`` for a mapping of them."""
    if isinstance(obj, Mapping) and not obj:
        raise ValueError("Nothing to plot: the mapping of models is empty.")
    if is_single(obj):
        return {None if name is None else str(name): obj}
    if name is not None:
        raise ValueError("name labels a single model; for a mapping, its keys are the model names.")
    return {str(key): value for key, value in obj.items()}


def _color(colors, index, name):
    if colors is None:
        return f"C{index}"
    if isinstance(colors, Mapping):
        return colors[name]
    return colors[index % len(colors)]


def _line_labels(name, words):
    if name is None:
        return words["Training"], words["Validation"]
    return f"{name} ({words['training']})", f"{name} ({words['validation']})"


def _new_axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _plot_pairs(ax, curves, *, colors, line_kw, words):
    """Draw (name, epochs, training, validation or None) curves; return name -> lines."""
    lines = {}
    for index, (name, epochs, training, validation) in enumerate(curves):
        kw = {"color": _color(colors, index, name), **(line_kw or {})}
        training_label, validation_label = _line_labels(name, words)
        (training_line,) = ax.plot(epochs, training, linestyle="-", label=training_label, **kw)
        validation_line = None
        if validation is not None:
            (validation_line,) = ax.plot(
                epochs, validation, linestyle="--", label=validation_label, **kw
            )
        lines[name] = (training_line, validation_line)
    return lines


def _finish_axes(ax, lines, *, metric, legend, words, font, extra_handles=()):
    """Label the axes, use integer epoch ticks and draw the legend; return it."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(words["epoch"], **font)
    ax.set_ylabel(words[metric], **font)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if legend is None:
        return None
    if legend == "full" or list(lines) == [None]:
        handles = [line for pair in lines.values() for line in pair if line is not None]
    else:
        handles = [
            Line2D([], [], color=training.get_color(), label=name)
            for name, (training, _) in lines.items()
        ]
        handles.append(Line2D([], [], color="0.2", linestyle="-", label=words["Training"]))
        if any(validation is not None for _, validation in lines.values()):
            handles.append(Line2D([], [], color="0.2", linestyle="--", label=words["Validation"]))
    return ax.legend(handles=[*handles, *extra_handles], prop=legend_prop(font))


def _best_epoch_or_none(history, monitor):
    if not has_validation(history) or np.all(np.isnan(history[monitor])):
        return None
    return best_epoch(history, monitor)


def _mean_and_std(runs):
    """Mean history and spread history (population std per epoch) of several runs."""
    frame = aggregate_histories(runs, count="n_runs")
    keys = [column.removesuffix("_mean") for column in frame.columns if column.endswith("_mean")]
    mean = {key: frame[f"{key}_mean"].to_numpy(dtype=float) for key in keys}
    std = {key: frame[f"{key}_std"].to_numpy(dtype=float) for key in keys}
    return mean, std


def _draw_bands(ax, curves, stds, lines, band_kw):
    """Shade mean ± std around each drawn line; return name -> (band or None, band or None)."""
    bands_by_name = {}
    for (name, epochs, *means), pair in zip(curves, lines.values(), strict=True):
        if stds.get(name) is None:
            bands_by_name[name] = (None, None)
            continue
        bands = []
        for mean, std, line in zip(means, stds[name], pair, strict=True):
            if mean is None or std is None:
                bands.append(None)
                continue
            color = band_kw.get("color", line.get_color())
            bands.append(
                ax.fill_between(epochs, mean - std, mean + std, **{**band_kw, "color": color})
            )
        bands_by_name[name] = tuple(bands)
    return bands_by_name


def _draw_curves(display, ax, curves, stds, colors, line_kw, fill_between_kw, words):
    """Draw the lines and ± std bands into ``ax`` (a new one when None).

    Sets ``display.lines_`` and ``display.fill_between_``; returns the axes
    and the legend entry of the bands.
    """
    from matplotlib.patches import Patch

    ax = _new_axes(ax)
    display.lines_ = _plot_pairs(ax, curves, colors=colors, line_kw=line_kw, words=words)
    band_kw = {"alpha": 0.2, "linewidth": 0, **(fill_between_kw or {})}
    display.fill_between_ = _draw_bands(ax, curves, stds, display.lines_, band_kw)
    return ax, Patch(color="0.2", alpha=band_kw["alpha"], label=words["std_band"])


def _finish_display(display, ax, *, legend, words, font, extra_handles):
    """Label ``ax``, draw the legend and set ``legend_``, ``ax_`` and ``figure_``."""
    display.legend_ = _finish_axes(
        ax,
        display.lines_,
        metric=display.metric,
        legend=legend,
        words=words,
        font=font,
        extra_handles=extra_handles,
    )
    display.ax_ = ax
    display.figure_ = ax.figure
    return display


class HistoryDisplay(SaveMixin):
    """Training and validation curves over epochs for one or many models.

    The figure of the lecture and of TensorFlow's "Overfit and underfit"
    tutorial: one colour per model, a solid line for training, a dashed line
    for validation, and a marker on each validation curve at the best epoch.
    A validation curve that keeps getting worse while the training curve keeps
    improving is the picture of overfitting.

    A model given as a list of runs (seeds or folds of one configuration) is
    drawn as its mean curves inside a shaded band of ± one standard deviation
    (population, as :func:`skfashion.report.epoch_curve` computes it with
    ``aggregate_histories``), the best epoch marked on the mean validation
    curve, as scikit-learn's ``LearningCurveDisplay(std_display_style=
    "fill_between")`` draws folds.

    Prefer :meth:`from_history` or :meth:`from_estimator` to create one.

    Parameters
    ----------
    histories : dict of str or None to dict or list of dict
        Validated histories (see :func:`skfashion._history.as_history`) by
        model name, or a list of them for a model with several runs. The name
        ``None`` (a single model) labels the lines just "Training" and
        "Validation".
    metric : {"accuracy", "loss"}, default="accuracy"
        The per-epoch metric to draw.
    best_epochs : dict of str or None to int or None, default=None
        1-based best epoch by model name, ``None`` where no marker is drawn.
    monitor : {"val_loss", "val_accuracy"}, default="val_loss"
        The validation metric whose best value chose ``best_epochs``.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.
    lines_ : dict of str or None to tuple of (Line2D, Line2D or None)
        Training and validation line by model name; the validation line is
        None for a history without validation.
    best_epoch_markers_ : dict of str or None to Line2D or None
        The best-epoch marker on each validation curve.
    fill_between_ : dict of str or None to tuple of (PolyCollection or None, PolyCollection or None)
        Training and validation band by model name; (None, None) for a model
        with one run.
    legend_ : matplotlib Legend or None
        The legend, None when ``legend=None``.

    See Also
    --------
    EpochCurveDisplay : Mean curves with ± standard deviation bands from epoch-curve frames.
    sklearn.model_selection.LearningCurveDisplay : Scores against training set size.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skfashion._plot import HistoryDisplay
    >>> histories = {
    ...     "smaller": {"loss": [1.2, 0.9, 0.8], "accuracy": [0.55, 0.66, 0.70],
    ...                 "val_loss": [1.0, 0.85, 0.8], "val_accuracy": [0.62, 0.68, 0.71]},
    ...     "bigger": {"loss": [0.6, 0.35, 0.2], "accuracy": [0.78, 0.87, 0.93],
    ...                "val_loss": [0.45, 0.42, 0.5], "val_accuracy": [0.84, 0.85, 0.84]},
    ... }
    >>> display = HistoryDisplay.from_history(histories, metric="loss")
    >>> display.best_epochs
    {'smaller': 3, 'bigger': 2}
    >>> [text.get_text() for text in display.legend_.get_texts()][:2]
    ['smaller (training)', 'smaller (validation)']
    >>> display.ax_.get_xlabel(), display.ax_.get_ylabel()
    ('Epoch', 'Loss')
    >>> plt.close(display.figure_)

    Several runs of one model draw their mean inside a ± std band:

    >>> seeds = [histories["bigger"], {**histories["bigger"], "val_loss": [0.47, 0.40, 0.52]}]
    >>> display = HistoryDisplay.from_history({"bigger": seeds}, metric="loss")
    >>> display.lines_["bigger"][1].get_ydata().round(3).tolist()
    [0.46, 0.41, 0.51]
    >>> [band is not None for band in display.fill_between_["bigger"]]
    [True, True]
    >>> plt.close(display.figure_)
    """

    def __init__(self, histories, *, metric="accuracy", best_epochs=None, monitor="val_loss"):
        self.histories = histories
        self.metric = metric
        self.best_epochs = best_epochs
        self.monitor = monitor

    def plot(
        self,
        ax=None,
        *,
        lang="en",
        legend="full",
        colors=None,
        line_kw=None,
        marker_kw=None,
        fill_between_kw=None,
    ):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw into; a new figure is made when None.
        lang : {"en", "ja"}, default="en"
            Language of the labels. Japanese needs a font with Japanese glyphs
            (for example the Debian package ``fonts-ipafont-gothic`` or
            ``fonts-noto-cjk``); without one the English labels are used.
        legend : {"full", "compact"} or None, default="full"
            "full" has a "name (training)" and a "name (validation)" entry per
            model; "compact" has one entry per model colour plus one per line
            style; None draws no legend.
        colors : sequence of color or dict of str to color, default=None
            Colour of each model, by position or by name; the property cycle
            ("C0", "C1", ...) when None.
        line_kw : dict, default=None
            Keywords for every :meth:`~matplotlib.axes.Axes.plot` line, such
            as ``linewidth``.
        marker_kw : dict, default=None
            Keywords for the best-epoch markers (``marker="o"`` by default).
        fill_between_kw : dict, default=None
            Keywords for the ± standard deviation bands of models with several
            runs (``alpha=0.2`` by default).

        Returns
        -------
        display : HistoryDisplay
        """
        from matplotlib.lines import Line2D

        check_option("metric", self.metric, METRICS)
        check_option("monitor", self.monitor, MONITORS)
        check_option("legend", legend, LEGENDS)
        words, font = text_style(lang)
        validation_key = f"val_{self.metric}"
        curves, stds, means = [], {}, {}
        for name, history in self.histories.items():
            std = None
            if _is_runs(history):
                history, std = _mean_and_std(history)
            if self.metric not in history:
                raise ValueError(
                    f"The history of {name or 'the model'} has no {self.metric!r} values "
                    f"(keys: {sorted(history)})."
                )
            training = np.asarray(history[self.metric], dtype=float)
            validation = history.get(validation_key)
            epochs = np.arange(1, len(training) + 1)
            curves.append((name, epochs, training, validation))
            means[name] = history
            if std is not None:
                stds[name] = (std[self.metric], std.get(validation_key))

        ax, band = _draw_curves(self, ax, curves, stds, colors, line_kw, fill_between_kw, words)
        self.best_epoch_markers_ = {}
        best_epochs = self.best_epochs or {}
        for name, (_, validation_line) in self.lines_.items():
            best = best_epochs.get(name)
            marker = None
            if validation_line is not None and best is not None:
                (marker,) = ax.plot(
                    [best],
                    [means[name][validation_key][best - 1]],
                    linestyle="none",
                    color=validation_line.get_color(),
                    label="_nolegend_",
                    **{"marker": "o", "markersize": 7, "zorder": 3, **(marker_kw or {})},
                )
            self.best_epoch_markers_[name] = marker
        markers = [m for m in self.best_epoch_markers_.values() if m is not None]
        extra = [
            Line2D(
                [],
                [],
                linestyle="none",
                marker=markers[0].get_marker(),
                color="0.2",
                label=words[f"best_{self.monitor}"],
            )
            for _ in markers[:1]
        ]
        if stds:
            extra.append(band)
        return _finish_display(self, ax, legend=legend, words=words, font=font, extra_handles=extra)

    @classmethod
    def from_history(
        cls,
        history,
        *,
        metric="accuracy",
        monitor="val_loss",
        name=None,
        ax=None,
        lang="en",
        legend="full",
        colors=None,
        line_kw=None,
        marker_kw=None,
        fill_between_kw=None,
    ):
        """Draw the curves of one history or of a mapping of histories.

        Parameters
        ----------
        history : mapping, estimator, list of them, or dict of str to any of these
            One history (a mapping of metric name to per-epoch values such as
            ``estimator.history_`` or Keras' ``History``), a fitted estimator
            with ``history_``, a list of them (several runs of one model,
            drawn as mean ± std), or a dict of model name to any of these.
        metric : {"accuracy", "loss"}, default="accuracy"
            The per-epoch metric to draw.
        monitor : {"val_loss", "val_accuracy"}, default="val_loss"
            The best epoch, marked on each validation curve, has the lowest
            validation loss or the highest validation accuracy.
        name : str, default=None
            Name of a single model, used in the legend; ignored for a dict.
        ax : matplotlib Axes, default=None
            Axes to draw into; a new figure is made when None.
        lang : {"en", "ja"}, default="en"
            Language of the labels.
        legend : {"full", "compact"} or None, default="full"
            Legend layout, see :meth:`plot`.
        colors : sequence of color or dict of str to color, default=None
            Colour of each model.
        line_kw : dict, default=None
            Keywords for every line.
        marker_kw : dict, default=None
            Keywords for the best-epoch markers.
        fill_between_kw : dict, default=None
            Keywords for the bands of models with several runs.

        Returns
        -------
        display : HistoryDisplay
        """
        return cls._from_named(
            _by_name(history, name, _is_single_history),
            metric=metric,
            monitor=monitor,
            ax=ax,
            lang=lang,
            legend=legend,
            colors=colors,
            line_kw=line_kw,
            marker_kw=marker_kw,
            fill_between_kw=fill_between_kw,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        metric="accuracy",
        monitor="val_loss",
        name=None,
        ax=None,
        lang="en",
        legend="full",
        colors=None,
        line_kw=None,
        marker_kw=None,
        fill_between_kw=None,
    ):
        """Draw the ``history_`` curves of one fitted estimator or a dict of them.

        Parameters
        ----------
        estimator : estimator, list of estimators, or dict of str to either
            Fitted estimator(s) with a ``history_`` attribute, such as
            :class:`~skfashion.FashionMLP`; a list holds several runs of one
            model (drawn as mean ± std, see :func:`skfashion.report.fit_seeds`);
            a dict's keys name the models.
        metric : {"accuracy", "loss"}, default="accuracy"
            The per-epoch metric to draw.
        monitor : {"val_loss", "val_accuracy"}, default="val_loss"
            Chooses the best epoch marked on each validation curve.
        name : str, default=None
            Name of a single estimator, used in the legend.
        ax : matplotlib Axes, default=None
            Axes to draw into; a new figure is made when None.
        lang : {"en", "ja"}, default="en"
            Language of the labels.
        legend : {"full", "compact"} or None, default="full"
            Legend layout, see :meth:`plot`.
        colors : sequence of color or dict of str to color, default=None
            Colour of each model.
        line_kw : dict, default=None
            Keywords for every line.
        marker_kw : dict, default=None
            Keywords for the best-epoch markers.
        fill_between_kw : dict, default=None
            Keywords for the bands of models with several runs.

        Returns
        -------
        display : HistoryDisplay
        """
        from sklearn.exceptions import NotFittedError

        estimators = _by_name(estimator, name, _is_single_object)
        for key, value in estimators.items():
            for fitted in value if _is_runs(value) else [value]:
                if not hasattr(fitted, "history_"):
                    raise NotFittedError(
                        f"{type(fitted).__name__} {key or ''} has no history_: call fit first."
                    )
        return cls._from_named(
            estimators,
            metric=metric,
            monitor=monitor,
            ax=ax,
            lang=lang,
            legend=legend,
            colors=colors,
            line_kw=line_kw,
            marker_kw=marker_kw,
            fill_between_kw=fill_between_kw,
        )

    @classmethod
    def _from_named(cls, named, *, metric, monitor, **plot_kw):
        check_option("monitor", monitor, MONITORS)
        histories = {
            key: [as_history(run) for run in value] if _is_runs(value) else as_history(value)
            for key, value in named.items()
        }
        best_epochs = {
            key: _best_epoch_or_none(_mean_and_std(h)[0] if _is_runs(h) else h, monitor)
            for key, h in histories.items()
        }
        display = cls(histories, metric=metric, best_epochs=best_epochs, monitor=monitor)
        return display.plot(**plot_kw)


def _frame_column(frame, column, name):
    if column not in frame.columns:
        raise ValueError(
            f"The epoch curve of {name or 'the model'} has no {column!r} column "
            f"(columns: {list(frame.columns)}); expected a frame made by "
            "skfashion.report.epoch_curve."
        )
    return frame[column].to_numpy(dtype=float)


class EpochCurveDisplay(SaveMixin):
    """Mean training and validation curves over epochs with ± std bands.

    The curves of several runs of the same network (different seeds or
    cross-validation folds) summarised by their mean, a solid line for
    training and a dashed one for validation, each inside a band of one
    standard deviation.

    Prefer :meth:`from_frame` to create one.

    Parameters
    ----------
    frames : dict of str or None to pandas.DataFrame
        Epoch-curve frames by model name, as made by
        ``skfashion.report.epoch_curve``: indexed by 1-based epoch (or with an
        ``epoch`` column), columns ``loss_mean``, ``loss_std``,
        ``accuracy_mean``, ``accuracy_std`` and, with validation,
        ``val_loss_mean``, ``val_loss_std``, ``val_accuracy_mean``,
        ``val_accuracy_std``.
    metric : {"accuracy", "loss"}, default="accuracy"
        The per-epoch metric to draw.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.
    lines_ : dict of str or None to tuple of (Line2D, Line2D or None)
        Mean training and validation line by model name.
    fill_between_ : dict of str or None to tuple of (PolyCollection, PolyCollection or None)
        Training and validation band by model name.
    legend_ : matplotlib Legend or None
        The legend, None when ``legend=None``.

    See Also
    --------
    HistoryDisplay : Curves of single runs, with the best epoch marked.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from skfashion._plot import EpochCurveDisplay
    >>> frame = pd.DataFrame(
    ...     {"loss_mean": [0.9, 0.6, 0.5], "loss_std": [0.05, 0.04, 0.03],
    ...      "accuracy_mean": [0.70, 0.80, 0.83], "accuracy_std": [0.02, 0.01, 0.01],
    ...      "val_loss_mean": [0.7, 0.6, 0.62], "val_loss_std": [0.06, 0.05, 0.05],
    ...      "val_accuracy_mean": [0.76, 0.79, 0.80], "val_accuracy_std": [0.02, 0.02, 0.02]},
    ...     index=pd.Index([1, 2, 3], name="epoch"))
    >>> display = EpochCurveDisplay.from_frame(frame, metric="accuracy")
    >>> len(display.ax_.collections)
    2
    >>> plt.close(display.figure_)
    """

    def __init__(self, frames, *, metric="accuracy"):
        self.frames = frames
        self.metric = metric

    def plot(
        self, ax=None, *, lang="en", legend="full", colors=None, line_kw=None, fill_between_kw=None
    ):
        """Draw the mean curves and their bands.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw into; a new figure is made when None.
        lang : {"en", "ja"}, default="en"
            Language of the labels (see :meth:`HistoryDisplay.plot`).
        legend : {"full", "compact"} or None, default="full"
            Legend layout, see :meth:`HistoryDisplay.plot`.
        colors : sequence of color or dict of str to color, default=None
            Colour of each model; the property cycle when None.
        line_kw : dict, default=None
            Keywords for every mean line.
        fill_between_kw : dict, default=None
            Keywords for every band (``alpha=0.2`` by default).

        Returns
        -------
        display : EpochCurveDisplay
        """
        check_option("metric", self.metric, METRICS)
        check_option("legend", legend, LEGENDS)
        words, font = text_style(lang)
        curves, stds = [], {}
        for name, frame in self.frames.items():
            epochs = (
                frame["epoch"].to_numpy() if "epoch" in frame.columns else frame.index.to_numpy()
            )
            training = _frame_column(frame, f"{self.metric}_mean", name)
            stds[name] = [_frame_column(frame, f"{self.metric}_std", name), None]
            validation = None
            if f"val_{self.metric}_mean" in frame.columns:
                validation = _frame_column(frame, f"val_{self.metric}_mean", name)
                stds[name][1] = _frame_column(frame, f"val_{self.metric}_std", name)
            curves.append((name, epochs, training, validation))

        ax, band = _draw_curves(self, ax, curves, stds, colors, line_kw, fill_between_kw, words)
        return _finish_display(
            self, ax, legend=legend, words=words, font=font, extra_handles=[band]
        )

    @classmethod
    def from_frame(
        cls,
        frame,
        *,
        metric="accuracy",
        name=None,
        ax=None,
        lang="en",
        legend="full",
        colors=None,
        line_kw=None,
        fill_between_kw=None,
    ):
        """Draw the mean curves of one epoch-curve frame or a dict of them.

        Parameters
        ----------
        frame : pandas.DataFrame or dict of str to pandas.DataFrame
            A frame made by ``skfashion.report.epoch_curve``, or a dict of
            model name to such frames.
        metric : {"accuracy", "loss"}, default="accuracy"
            The per-epoch metric to draw.
        name : str, default=None
            Name of a single model, used in the legend.
        ax : matplotlib Axes, default=None
            Axes to draw into; a new figure is made when None.
        lang : {"en", "ja"}, default="en"
            Language of the labels.
        legend : {"full", "compact"} or None, default="full"
            Legend layout, see :meth:`HistoryDisplay.plot`.
        colors : sequence of color or dict of str to color, default=None
            Colour of each model.
        line_kw : dict, default=None
            Keywords for every mean line.
        fill_between_kw : dict, default=None
            Keywords for every band.

        Returns
        -------
        display : EpochCurveDisplay
        """
        frames = _by_name(frame, name, _is_single_object)
        return cls(frames, metric=metric).plot(
            ax=ax,
            lang=lang,
            legend=legend,
            colors=colors,
            line_kw=line_kw,
            fill_between_kw=fill_between_kw,
        )


def style_curve_display(display, *, color="C0", lang="en"):
    """Give a scikit-learn curve Display the course's look.

    :class:`~sklearn.model_selection.ValidationCurveDisplay` and
    :class:`~sklearn.model_selection.LearningCurveDisplay` draw "Train" and
    "Test" in two colours. This restyles the drawn display in place: one
    colour, a solid training line, a dashed validation line (the "Test"
    scores of cross-validation are validation scores), bands in that colour.

    Parameters
    ----------
    display : ValidationCurveDisplay or LearningCurveDisplay
        A plotted display with ``std_display_style="fill_between"`` or None.
    color : color, default="C0"
        Colour of both lines and bands.
    lang : {"en", "ja"}, default="en"
        Language of the legend.

    Returns
    -------
    display : ValidationCurveDisplay or LearningCurveDisplay
        The same display.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sklearn.model_selection import ValidationCurveDisplay
    >>> from skfashion._plot import style_curve_display
    >>> display = ValidationCurveDisplay(
    ...     param_name="units", param_range=np.array([4, 16, 512]),
    ...     train_scores=np.array([[0.70, 0.72], [0.86, 0.87], [0.97, 0.98]]),
    ...     test_scores=np.array([[0.69, 0.70], [0.84, 0.85], [0.86, 0.86]]),
    ...     score_name="Accuracy").plot(score_type="both")
    >>> display = style_curve_display(display)
    >>> [(line.get_label(), line.get_linestyle()) for line in display.lines_]
    [('Training', '-'), ('Validation', '--')]
    >>> plt.close(display.figure_)
    """
    lines = getattr(display, "lines_", None)
    if lines is None:
        raise ValueError(
            "The display has no lines_: plot it first, with std_display_style="
            "'fill_between' or None."
        )
    words, font = text_style(lang)
    for line in lines:
        training = line.get_label() == "Train"
        line.set_color(color)
        line.set_linestyle("-" if training else "--")
        line.set_label(words["Training"] if training else words["Validation"])
    for band in getattr(display, "fill_between_", None) or []:
        band.set_facecolor(color)
        band.set_edgecolor("none")
        band.set_alpha(0.2)
    display.ax_.legend(handles=list(lines), prop=legend_prop(font))
    return display
