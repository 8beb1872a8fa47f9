"""Watching training as it happens: growing curves in a notebook, a table in a terminal,
and progress bars that are widgets in a notebook."""

import io
import sys

from ._history import TRAIN_KEYS, VALIDATION_KEYS

DISPLAYS = ("auto", "notebook", "terminal")
_METRICS = ("accuracy", "loss")


def in_notebook():
    """Whether this code runs in a Jupyter kernel (Jupyter, JupyterLab, Colab, VS Code)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def progress_bar(**kwargs):
    """A tqdm progress bar: a widget in a notebook (when ipywidgets is there), text elsewhere.

    Parameters
    ----------
    **kwargs : dict
        Keywords of :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``,
        ``disable``, ``file``...). ``file`` is used only for the text bar.

    Returns
    -------
    bar : tqdm.tqdm or tqdm.notebook.tqdm
    """
    if in_notebook() and _has_ipywidgets():
        from tqdm.notebook import tqdm

        kwargs.pop("file", None)
        return tqdm(**kwargs)
    from tqdm import tqdm

    return tqdm(**kwargs)


def _has_ipywidgets():
    from importlib.util import find_spec

    return find_spec("ipywidgets") is not None


class LiveHistory:
    """Watch a network learn: curves that grow after every epoch of ``fit``.

    Pass it as ``on_epoch_end`` to :meth:`skfashion.FashionMLP.fit`. In a
    notebook it draws the accuracy and the loss per epoch side by side (solid
    training, dashed validation, a dot at the best epoch) and redraws them
    after every epoch; in a terminal it prints one table row per epoch. It
    never stops training. Each fit that starts again at epoch 1 starts a new
    figure.

    Parameters
    ----------
    lang : {"en", "ja"}, default="en"
        Language of the figure's labels (Japanese needs a Japanese font, see
        :class:`~skfashion.report.HistoryDisplay`).
    name : str, default=None
        Name of the model, shown in the figure's title.
    display : {"auto", "notebook", "terminal"}, default="auto"
        "auto" draws figures in a Jupyter kernel and prints the table
        elsewhere.
    file : file-like, default=None
        Where the terminal table goes; standard output when None.

    Attributes
    ----------
    history_ : dict of str to list of float
        The epochs seen so far, as ``FashionMLP.history_``.
    figure_ : matplotlib Figure or None
        The latest figure (notebook display only).

    Examples
    --------
    >>> from skfashion import FashionMLP, fetch_fashion_mnist
    >>> from skfashion.report import LiveHistory
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> live = LiveHistory(display="terminal")
    >>> clf = FashionMLP(hidden_layer_sizes="baseline", epochs=2, validation_fraction=0.2,
    ...                  random_state=0).fit(X[:500], y[:500], on_epoch_end=live)
    ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
      epoch     loss  accuracy  val_loss  val_accuracy
          1   ...
          2   ...
    >>> live.history_ == clf.history_
    True
    """

    def __init__(self, *, lang="en", name=None, display="auto", file=None):
        self.lang = lang
        self.name = name
        self.display = display
        self.file = file

    def __call__(self, epoch, logs):
        if self.display not in DISPLAYS:
            raise ValueError(f"display must be one of {DISPLAYS}, got {self.display!r}.")
        if epoch == 1 or not hasattr(self, "history_"):
            self.history_, self.figure_, self._handle = {}, None, None
        for key, value in logs.items():
            self.history_.setdefault(key, []).append(float(value))
        notebook = self.display == "notebook" or (self.display == "auto" and in_notebook())
        if notebook:
            self._draw(epoch)
        else:
            self._print_row(epoch)
        return False

    # --------------------------------------------------------------- terminal
    def _columns(self):
        order = TRAIN_KEYS + VALIDATION_KEYS
        return [key for key in order if key in self.history_] + [
            key for key in self.history_ if key not in order
        ]

    def _print_row(self, epoch):
        file = self.file if self.file is not None else sys.stdout
        columns = self._columns()
        widths = dict.fromkeys(columns, 8) | {key: len(key) for key in columns if len(key) > 8}
        if epoch == 1:
            header = "  ".join(f"{key:>{widths[key]}}" for key in columns)
            print(f"{'epoch':>7}  {header}", file=file)
        cells = "  ".join(f"{self.history_[key][-1]:>{widths[key]}.4f}" for key in columns)
        print(f"{epoch:>7}  {cells}", file=file, flush=True)

    # --------------------------------------------------------------- notebook
    def _draw(self, epoch):
        from IPython.display import Image
        from IPython.display import display as show
        from matplotlib.figure import Figure

        from ._i18n import text
        from ._plot import HistoryDisplay
        from ._plot._base import text_style

        figure = Figure(figsize=(10, 3.6), layout="constrained")
        axes = figure.subplots(1, 2)
        for ax, metric in zip(axes, _METRICS, strict=True):
            if metric in self.history_:
                HistoryDisplay.from_history(
                    self.history_, metric=metric, name=self.name, ax=ax, lang=self.lang
                )
        _, font = text_style(self.lang)  # English words where no font has Japanese glyphs
        title = text(self.lang if font or self.lang == "en" else "en", "notebook.live_title",
                     epoch=epoch)
        figure.suptitle(title if self.name is None else f"{self.name}: {title}", **font)
        self.figure_ = figure
        image = Image(data=_png(figure), format="png")
        if self._handle is None:
            self._handle = show(image, display_id=True)
        else:
            self._handle.update(image)

    def __repr__(self):
        return f"LiveHistory(lang={self.lang!r}, name={self.name!r}, display={self.display!r})"


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


class EpochProgress:
    """A progress bar over the epochs of many fits, such as a grid search's.

    Pass it as ``on_epoch_end`` to ``fit``; scikit-learn's searches hand fit
    parameters on to every fit (``search.fit(X, y, on_epoch_end=progress)``,
    with ``n_jobs=None``). A widget in a notebook, a text bar elsewhere.

    Parameters
    ----------
    total : int, default=None
        Epochs in all; :meth:`for_search` counts them for a search.
    desc : str, default=None
        Text in front of the bar.
    disable : bool, default=False
        Show nothing.

    Attributes
    ----------
    bar_ : tqdm bar
        The bar, made at the first epoch.
    n_epochs_ : int
        Epochs run so far.
    """

    def __init__(self, total=None, *, desc=None, disable=False):
        self.total = total
        self.desc = desc
        self.disable = disable

    @classmethod
    def for_search(cls, search, **kwargs):
        """A progress bar sized for a scikit-learn search of a FashionMLP.

        Counts the epochs of every candidate on every fold, plus the refit of
        the best one (the most epochs of any candidate). Early stopping ends
        a fit sooner, and the bar then stops short of its total.

        Parameters
        ----------
        search : GridSearchCV or RandomizedSearchCV
            The unfitted search; its ``estimator`` needs an ``epochs`` parameter.
        **kwargs : dict
            ``desc`` and ``disable``.

        Returns
        -------
        progress : EpochProgress
        """
        from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv

        default = search.estimator.get_params()["epochs"]
        if hasattr(search, "param_grid"):
            candidates = list(ParameterGrid(search.param_grid))
        else:
            candidates = list(
                ParameterSampler(
                    search.param_distributions, search.n_iter, random_state=search.random_state
                )
            )
        epochs = [candidate.get("epochs", default) for candidate in candidates]
        n_splits = check_cv(search.cv, classifier=True).get_n_splits()
        refit = max(epochs) if search.refit else 0
        return cls(total=sum(epochs) * n_splits + refit, **kwargs)

    def __call__(self, epoch, logs):
        if not hasattr(self, "bar_"):
            self.bar_ = progress_bar(
                total=self.total, desc=self.desc, unit="epoch", disable=self.disable,
                file=sys.stderr,
            )
            self.n_epochs_ = 0
        self.n_epochs_ += 1
        if "val_accuracy" in logs:
            self.bar_.set_postfix(val_accuracy=f"{logs['val_accuracy']:.3f}", refresh=False)
        self.bar_.update(1)
        if self.total is not None and self.n_epochs_ >= self.total:
            self.bar_.close()
        return False

    def close(self):
        """Close the bar (a finished search whose fits stopped early leaves it open)."""
        if hasattr(self, "bar_"):
            self.bar_.close()
