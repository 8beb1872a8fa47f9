"""FashionMLP: a Keras multilayer perceptron that is a real scikit-learn classifier."""

import os
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._network import (
    IMAGE_SHAPE,
    LR_SCHEDULES,
    NETWORK_DEFAULTS,
    OPTIMIZERS,
    PRESETS,
    assemble_network,
    check_network,
    compile_network,
    input_scaling,
)
from ._programs import SharedEpoch, kernel_weights, shared_evaluator, use_xla
from ._seeds import Seeds, fit_seed
from ._tf import import_tensorflow
from ._training import (
    PREDICT_CHUNK,
    STEPS_PER_CALL,
    STEPS_PER_CALL_VERBOSE,
    EarlyStopping,
    TrainingRun,
    epoch_handlers,
    fit_loop,
)

RECIPES = MappingProxyType(
    {
        # Chosen on a 50,000/10,000 hold-out of the training images (benchmarks/accuracy.py):
        # 0.9068 +- 0.0008 test accuracy over 3 seeds, about 3 min per fit on 2 CPU cores.
        "strong": MappingProxyType(
            {
                "hidden_layer_sizes": "strong",
                "batch_norm": True,
                "dropout": 0.5,
                "lr_schedule": "cosine",
                "epochs": 30,
                "batch_size": 256,
            }
        ),
    }
)
"""Complete FashionMLP settings by name: ``FashionMLP(**RECIPES["strong"])``."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LEGACY_VERSION = "0.1.0"
_NET = NETWORK_DEFAULTS


class FashionMLP(ClassifierMixin, BaseEstimator):
    """Keras multilayer perceptron classifier with per-epoch training and validation history.

    A scikit-learn classifier for the Fashion-MNIST course exercise: train a
    dense network on raw pixels, record loss and accuracy on the training
    data and on a validation hold-out after every epoch, and compare network
    sizes and remedies for overfitting (dropout, L2, data augmentation, early
    stopping). It works in ``GridSearchCV``, ``validation_curve``,
    ``learning_curve``, ``Pipeline``, ``clone``, ``copy.deepcopy``, pickle,
    joblib and Dask like any scikit-learn classifier: a fitted network is
    pickled as the bytes of Keras' own ``.keras`` format (architecture,
    weights and optimizer state).

    The network scales its own input with statistics learned from the training
    data, so raw ``uint8`` pixels go in as they are.

    Parameters
    ----------
    hidden_layer_sizes : str or tuple of int, default="tutorial"
        Units per hidden layer, or a preset name from :data:`PRESETS`:
        ``"smaller"`` (4, 4), ``"baseline"`` (16, 16), ``"bigger"`` (512, 512)
        ``"tutorial"`` (128,), the TensorFlow tutorial's network, and ``"strong"``
        (1024, 1024), the network of the recipe ``RECIPES["strong"]`` (batch norm,
        dropout 0.5, cosine schedule, 30 epochs of batches of 256), which reaches
        0.907 test accuracy.
    activation : {"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear"}, \
default="relu"
        Activation of the hidden layers.
    dropout : float, default=0.0
        Dropout rate after each hidden layer, in [0, 1).
    l2 : float, default=0.0
        L2 weight penalty on every kernel.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    augment : bool, default=False
        Random flips, shifts, small rotations and zooms of the 28x28 training
        images (Keras preprocessing layers, inactive in ``predict``).
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd"}, default="adam"
        Keras optimizer.
    learning_rate : float, default=0.001
        Initial learning rate.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays the learning rate to zero over the ``epochs``.
    epochs : int, default=5
        Passes over the training data (the lecture trains for 5).
    batch_size : int, default=32
        Images per gradient step.
    validation_fraction : float, default=0.0
        Fraction of the training data held out (stratified) to record
        ``val_loss`` and ``val_accuracy`` after each epoch; 0 means none.
        ``ceil(validation_fraction * n_samples)`` samples are held out.
        Ignored when ``validation_data`` is passed to :meth:`fit`.
    early_stopping : bool, default=False
        Stop when validation loss has not improved for ``patience`` epochs and
        restore the weights of the best epoch. Needs validation data.
    patience : int, default=5
        Epochs without improvement of validation loss before stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, augmentation, the validation
        split and the shuffling of batches. One integer seed is taken per fit
        (an int as it is, one draw from a ``RandomState``, fresh entropy for
        None) and ``numpy.random.SeedSequence(seed)`` is spawned into one
        named stream per random part: ``validation_split``, ``initializers``
        (one seed per Dense layer), ``dropout`` (one per Dropout layer),
        ``augmentation`` (one per augmentation layer) and ``batch_order``
        (see :class:`skfashion._seeds.Seeds`). An int gives bitwise-identical
        results on every fit on CPU, without changing TensorFlow's or NumPy's
        global random state.
    verbose : int, default=0
        0 prints nothing, 1 prints a table row per epoch, 2 also shows Keras'
        progress bars.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras network; its ``"logits"`` layer feeds the
        ``"probabilities"`` softmax output.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit`` (784 for images).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` when it was a DataFrame with string columns.
    n_train_samples_ : int
        Samples actually trained on (those of ``X`` not held out for validation).
    n_validation_samples_ : int
        Samples in the validation data: the ``validation_fraction`` hold-out,
        or ``len(X_val)`` with ``validation_data``; 0 without validation.
    history_ : dict of str to list of float
        Per-epoch ``loss`` and ``accuracy``, and ``val_loss`` and
        ``val_accuracy`` when validation ran. Entry ``i`` is epoch ``i + 1``.
    n_iter_ : int
        Epochs actually run (fewer than ``epochs`` after early stopping or
        Ctrl-C).
    best_epoch_ : int
        With ``early_stopping=True``: the 1-based epoch whose weights were
        restored.
    interrupted_ : bool
        Whether training was stopped with Ctrl-C.
    fit_time_ : float
        Seconds spent in the training loop.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : scikit-learn's own multilayer perceptron.
    skfashion.report.diagnose : Reads overfitting off ``history_``.
    skfashion.fetch_fashion_mnist : The data this classifier is made for.

    Examples
    --------
    >>> from skfashion import FashionMLP, fetch_fashion_mnist
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> clf = FashionMLP(hidden_layer_sizes="baseline", epochs=3,
    ...                  validation_fraction=0.2, random_state=0)
    >>> clf.fit(X[:2000], y[:2000]).n_iter_
    3
    >>> clf.n_train_samples_, clf.n_validation_samples_
    (1600, 400)
    >>> sorted(clf.history_)
    ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    >>> clf.predict_proba(X[2000:2003]).shape
    (3, 10)
    """

    _parameter_constraints = {
        "hidden_layer_sizes": [
            StrOptions(set(PRESETS)),
            Interval(Integral, 1, None, closed="left"),
            "array-like",
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "batch_norm": ["boolean"],
        "augment": ["boolean"],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=_NET["hidden_layer_sizes"],
        activation=_NET["activation"],
        dropout=_NET["dropout"],
        l2=_NET["l2"],
        batch_norm=_NET["batch_norm"],
        augment=_NET["augment"],
        optimizer=_NET["optimizer"],
        learning_rate=_NET["learning_rate"],
        lr_schedule=_NET["lr_schedule"],
        epochs=5,
        batch_size=32,
        validation_fraction=0.0,
        early_stopping=False,
        patience=5,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.batch_norm = batch_norm
        self.augment = augment
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        """The estimator's state, with the network as the bytes of a ``.keras`` file."""
        state = dict(super().__getstate__())
        if "model_" in state:
            state["_keras_file"] = _model_to_bytes(state.pop("model_"))
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "_keras_file" in state:
            state["model_"] = _model_from_bytes(state.pop("_keras_file"))
        elif "model_" in state:
            _upgrade_legacy_state(state)
        super().__setstate__(state)

    # ------------------------------------------------------------------ input checks
    def _check_X(self, X, y="no_validation", *, reset):
        """Validate X (and y): 2-D numbers or 28x28 images, finite, float32 or uint8."""
        if (
            not hasattr(X, "columns")
            and not hasattr(X, "toarray")
            and getattr(np.asarray(X) if isinstance(X, list) else X, "ndim", 2) == 3
        ):
            X = np.asarray(X)
            if X.shape[1:] != IMAGE_SHAPE:
                raise ValueError(
                    f"X has shape {X.shape}; 3-D input must be a batch of 28x28 images, shape "
                    "(n_samples, 28, 28). Otherwise pass a 2-D array (n_samples, n_features)."
                )
            X = X.reshape(len(X), -1)
        return validate_data(self, X, y, dtype=(np.float32, np.uint8), reset=reset)

    def _check_validation_data(self, validation_data):
        """``(X_val, encoded y_val)`` from the ``validation_data`` argument of fit."""
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val) of arrays.") from None
        X_val = self._check_X(X_val, reset=False)
        y_val = np.asarray(y_val)
        if len(y_val) != len(X_val):
            raise ValueError(
                f"validation_data has {len(X_val)} samples in X_val but {len(y_val)} "
                "labels in y_val."
            )
        unknown = np.setdiff1d(y_val, self.classes_)
        if unknown.size:
            raise ValueError(
                f"validation_data holds labels not seen in y: {unknown[:5].tolist()}; "
                f"known classes are {self.classes_.tolist()}."
            )
        return X_val, np.searchsorted(self.classes_, y_val).astype(np.int32)

    def _check_early_stopping(self, has_validation):
        if self.early_stopping and not has_validation:
            raise ValueError(
                "early_stopping=True monitors validation loss, but there is no validation "
                "data: set validation_fraction (for example 0.1) or pass "
                "validation_data=(X_val, y_val) to fit."
            )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, validation_data=None, on_epoch_end=None):
        """Train the network, recording training and validation metrics per epoch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Training data: raw pixels (``uint8`` or float) or any numeric features.
        y : array-like of shape (n_samples,)
            Class labels (integers or strings), at least two classes.
        validation_data : tuple of (X_val, y_val), default=None
            Data to evaluate after each epoch instead of a ``validation_fraction``
            hold-out. It is never trained on.
        on_epoch_end : callable, default=None
            Called as ``on_epoch_end(epoch, logs)`` after each epoch, with the
            1-based epoch and a dict of that epoch's metrics. Returning ``True``
            stops training.

        Returns
        -------
        self : FashionMLP
            The fitted classifier.
        """
        self._validate_params()
        X, y = self._check_X(X, y, reset=True)
        sizes = check_network(
            self.n_features_in_, hidden_layer_sizes=self.hidden_layer_sizes, augment=self.augment
        )
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({self.classes_[0]!r}); a classifier needs at least "
                "2 classes in the training data."
            )
        y_encoded = y_encoded.astype(np.int32)
        given = None if validation_data is None else self._check_validation_data(validation_data)
        self._check_early_stopping(given is not None or self.validation_fraction > 0)
        seeds = Seeds(fit_seed(self.random_state))
        fraction = self.validation_fraction if given is None else 0
        train, held_out = _hold_out(y_encoded, fraction, seeds.split_seed())
        if held_out is not None:
            given = X[held_out], y_encoded[held_out]
        X_train, y_train = (X, y_encoded) if train is None else (X[train], y_encoded[train])
        self.n_train_samples_ = len(y_train)
        self.n_validation_samples_ = 0 if given is None else len(given[1])
        for name in ("model_", "best_epoch_"):
            self.__dict__.pop(name, None)
        self.model_ = self._build_model(X_train, sizes, seeds)
        self.history_ = {}
        self._train(X_train, y_train, given, seeds, on_epoch_end)
        return self

    def _build_model(self, X_train, sizes, seeds):
        mean, scale = input_scaling(X_train)
        model = assemble_network(
            self.n_features_in_,
            len(self.classes_),
            sizes=sizes,
            activation=self.activation,
            dropout=self.dropout,
            l2=self.l2,
            batch_norm=self.batch_norm,
            augment=self.augment,
            input_mean=mean,
            input_scale=scale,
            seeds=seeds,
        )
        compile_network(
            model,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            decay_steps=int(np.ceil(len(X_train) / self.batch_size)) * self.epochs,
        )
        return model

    def _train(self, X, y, validation, seeds, on_epoch_end):
        """Run the epochs of :func:`skfashion._training.fit_loop` and record the outcome."""
        xla = use_xla(
            kernel_weights(self.model_), len(y), self.epochs, self.batch_size, augment=self.augment
        )
        ones = np.ones(len(y), dtype=np.float32)
        run_epoch = SharedEpoch(
            self.model_,
            X,
            y,
            ones,
            batch_size=self.batch_size,
            xla=xla,
            steps_per_call=STEPS_PER_CALL_VERBOSE if self.verbose >= 2 else STEPS_PER_CALL,
        )
        evaluate = None
        if validation is not None:
            X_val, y_val = validation
            w_val = np.ones(len(y_val), dtype=np.float32)
            evaluate = shared_evaluator(self.model_, X_val, y_val, w_val, xla=xla)
        handlers = epoch_handlers(
            verbose=self.verbose,
            patience=self.patience if self.early_stopping else None,
            on_epoch_end=on_epoch_end,
        )
        run = TrainingRun(self.model_, self.history_, self.epochs)
        fit_loop(run, handlers, run_epoch, seeds.batch_order(), evaluate)
        self.n_iter_ = run.epochs_done
        self.interrupted_ = run.interrupted
        self.fit_time_ = run.elapsed
        for handler in handlers:
            if isinstance(handler, EarlyStopping) and handler.best_epoch is not None:
                self.best_epoch_ = handler.best_epoch

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X):
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Samples, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities in the order of ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        # Direct calls of the network: model.predict builds a tf.data pipeline per call.
        proba = np.concatenate(
            [
                np.asarray(self.model_(X[start : start + PREDICT_CHUNK], training=False))
                for start in range(0, len(X), PREDICT_CHUNK)
            ]
        ).astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Samples, as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def _hold_out(y, validation_fraction, seed):
    """Indices ``(train, validation)`` of the stratified ``validation_fraction`` hold-out.

    ``ceil(validation_fraction * n)`` samples are held out, stratified by class
    when every class has at least 2 samples; ``(None, None)`` when the fraction
    is 0.
    """
    if validation_fraction == 0:
        return None, None
    n, n_classes = len(y), int(y.max()) + 1
    n_val = int(np.ceil(validation_fraction * n))
    if n_val < n_classes or n - n_val < n_classes:
        raise ValueError(
            f"validation_fraction={validation_fraction} of {n} samples leaves "
            f"too few samples to hold out every one of the {n_classes} classes "
            "on both sides. Use more data, another validation_fraction, or "
            "validation_fraction=0."
        )
    stratify = y if np.bincount(y).min() >= 2 else None
    return train_test_split(np.arange(n), test_size=n_val, stratify=stratify, random_state=seed)


# ---------------------------------------------------------------------- pickling helpers
def _model_to_bytes(model):
    """The bytes of ``model`` saved in Keras' ``.keras`` format (with optimizer state)."""
    _, keras = import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="skfashion-") as folder, warnings.catch_warnings():
        # Keras' own writer trips NumPy 2's __array__(copy=) deprecation: nothing to act on.
        warnings.filterwarnings(
            "ignore", "__array__ implementation", DeprecationWarning, module="keras"
        )
        path = os.path.join(folder, "model.keras")
        keras.saving.save_model(model, path)
        return Path(path).read_bytes()


def _model_from_bytes(data):
    """The Keras model of :func:`_model_to_bytes`, compiled, its optimizer state restored."""
    _, keras = import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="skfashion-") as folder:
        path = Path(folder, "model.keras")
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=True)


def _upgrade_legacy_state(state):
    """Complete the state of a classifier pickled by skfashion 0.1.0.

    Its network was pickled through scikeras' global patch of
    ``keras.Model.__reduce__``, so the unpickler has already imported scikeras
    (``pip install scikeras``) to rebuild it. Facts 0.1.0 did not record are
    left unset.
    """
    _, keras = import_tensorflow()
    if not isinstance(state["model_"], keras.Model):
        raise TypeError(
            f"This FashionMLP pickle holds no Keras network; it was not written by skfashion. "
            f"Refit the classifier, or load it with skfashion=={LEGACY_VERSION}."
        )
