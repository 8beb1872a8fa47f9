"""FashionMLP: a Keras multilayer perceptron that is a real scikit-learn classifier."""

import time
import warnings
from numbers import Integral, Real
from types import MappingProxyType

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._network import (
    IMAGE_SHAPE,
    LR_SCHEDULES,
    OPTIMIZERS,
    PRESETS,
    build_network,
    input_scaling,
    resolve_hidden_layer_sizes,
)
from ._tf import import_tensorflow

import_tensorflow()  # before scikeras, which imports TensorFlow loudly
from scikeras.wrappers import BaseWrapper  # noqa: E402

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
_XLA_MIN_SAMPLES = 10_000  # below this, XLA's compile time outweighs what it saves
_STEPS_PER_CALL = 1024  # batches per compiled call; Ctrl-C lands between calls
_STEPS_PER_CALL_VERBOSE = 64  # smaller calls, so that verbose=2's progress bar moves
_PREDICT_CHUNK = 8192  # images per network call in predict_proba and validation


def _never(_):
    return False


class _EarlyStoppingState:
    """What one fit keeps between epochs: early stopping's state and the start time."""

    def __init__(self):
        self.best_loss, self.best_weights, self.waited = np.inf, None, 0
        self.start = time.perf_counter()


class FashionMLP(ClassifierMixin, BaseWrapper):
    """Keras multilayer perceptron classifier with per-epoch training and validation history.

    A scikit-learn classifier (built on scikeras' ``BaseWrapper``) for the
    Fashion-MNIST course exercise: train a dense network on raw pixels, record
    loss and accuracy on the training data and on a validation hold-out after
    every epoch, and compare network sizes and remedies for overfitting
    (dropout, L2, data augmentation, early stopping). It works in
    ``GridSearchCV``, ``validation_curve``, ``learning_curve``, ``Pipeline``,
    ``clone`` and pickle like any scikit-learn classifier.

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
        Ignored when ``validation_data`` is passed to :meth:`fit`.
    early_stopping : bool, default=False
        Stop when validation loss has not improved for ``patience`` epochs and
        restore the weights of the best epoch. Needs validation data.
    patience : int, default=5
        Epochs without improvement of validation loss before stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, augmentation, the validation
        split and the shuffling of batches. An int gives identical results on
        every fit on CPU, without changing TensorFlow's global state.
    verbose : int, default=0
        0 prints nothing, 1 prints a table row per epoch, 2 also shows Keras'
        progress bars.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras network.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit`` (784 for images).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` when it was a DataFrame with string columns.
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
        hidden_layer_sizes="tutorial",
        activation="relu",
        dropout=0.0,
        l2=0.0,
        batch_norm=False,
        augment=False,
        optimizer="adam",
        learning_rate=0.001,
        lr_schedule="constant",
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

    # scikit-learn's parameter handling, not scikeras' routed **kwargs.
    _get_param_names = classmethod(BaseEstimator._get_param_names.__func__)
    set_params = BaseEstimator.set_params
    __repr__ = BaseEstimator.__repr__

    # scikeras' incremental API bypasses this class' validation and seeding.
    partial_fit = available_if(_never)(BaseWrapper.partial_fit)
    initialize = available_if(_never)(BaseWrapper.initialize)

    def __sklearn_tags__(self):
        # scikeras' own KerasClassifier lists ClassifierMixin after BaseEstimator, so
        # under scikit-learn's tag API it is no classifier; here the mixin comes first.
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

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
        kwargs = {"dtype": (np.float32, np.uint8), "reset": reset}
        return validate_data(self, X, y, **kwargs)

    def _resolve_seed(self):
        """One integer seed per fit, from random_state (None draws a fresh one)."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _split_validation(self, X, y, validation_data, seed):
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError(
                    "validation_data must be a pair (X_val, y_val) of arrays."
                ) from None
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
            return X, y, X_val, np.searchsorted(self.classes_, y_val)
        if self.validation_fraction == 0:
            return X, y, None, None
        n_val = int(np.ceil(self.validation_fraction * len(y)))
        if n_val < len(self.classes_) or len(y) - n_val < len(self.classes_):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {len(y)} samples leaves "
                f"too few samples to hold out every one of the {len(self.classes_)} classes "
                "on both sides. Use more data, another validation_fraction, or "
                "validation_fraction=0."
            )
        counts = np.bincount(y, minlength=len(self.classes_))
        stratify = y if counts.min() >= 2 else None
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, test_size=n_val, stratify=stratify, random_state=seed % (2**32 - 1)
        )
        return X_train, y_train, X_val, y_val

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
        sizes = resolve_hidden_layer_sizes(self.hidden_layer_sizes)
        X, y = self._check_X(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({self.classes_[0]!r}); a classifier needs at least "
                "2 classes in the training data."
            )
        if self.augment and self.n_features_in_ != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
            raise ValueError(
                f"augment=True transforms 28x28 images, so X needs 784 features; got "
                f"{self.n_features_in_}. Pass Fashion-MNIST images or set augment=False."
            )
        if self.early_stopping and self.validation_fraction == 0 and validation_data is None:
            raise ValueError(
                "early_stopping=True monitors validation loss, but there is no validation "
                "data: set validation_fraction (for example 0.1) or pass "
                "validation_data=(X_val, y_val) to fit."
            )
        seed = self._resolve_seed()
        X_train, y_train, X_val, y_val = self._split_validation(
            X, y_encoded.astype(np.int32), validation_data, seed
        )
        for name in ("model_", "best_epoch_"):
            self.__dict__.pop(name, None)
        self.model_ = self._build_model(X_train, sizes, seed)
        self._train(X_train, y_train, X_val, y_val, seed, on_epoch_end)
        return self

    def _build_model(self, X_train, sizes, seed):
        steps_per_epoch = int(np.ceil(len(X_train) / self.batch_size))
        mean, scale = input_scaling(X_train)
        return build_network(
            self.n_features_in_,
            len(self.classes_),
            hidden_layer_sizes=sizes,
            activation=self.activation,
            dropout=self.dropout,
            l2=self.l2,
            batch_norm=self.batch_norm,
            augment=self.augment,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            decay_steps=steps_per_epoch * self.epochs,
            input_mean=mean,
            input_scale=scale,
            seed=seed % 1_000_000,
        )

    def _train(self, X, y, X_val, y_val, seed, on_epoch_end):
        """Run the epochs: a compiled loop over the batches of a seeded permutation.

        Rather than ``model.fit``, whose ``tf.data`` iterator and per-step dispatch
        cost more than the arithmetic of a small network, each call of
        ``run_batches`` trains on up to ``_STEPS_PER_CALL`` batches inside one
        ``tf.while_loop`` (compiled by XLA from ``_XLA_MIN_SAMPLES`` images up).
        Loss and accuracy are what ``fit`` would report: the running means over
        the epoch's batches, weighted by batch size, including penalties.
        """
        tf, keras = import_tensorflow()
        model, n = self.model_, len(y)
        batch_size = min(self.batch_size, n)
        n_full, rest = divmod(n, batch_size)
        # XLA cannot compile the augmentation layers' image transforms.
        xla = n >= _XLA_MIN_SAMPLES and not self.augment
        weights = model.trainable_variables
        optimizer = model.optimizer
        optimizer.build(weights)
        X_all, y_all = tf.constant(X), tf.constant(y)

        def step(indices):
            xb, yb = tf.gather(X_all, indices), tf.gather(y_all, indices)
            with tf.GradientTape() as tape:
                proba = model(xb, training=True)
                loss = model.compute_loss(y=yb, y_pred=proba, training=True)
            optimizer.apply(tape.gradient(loss, weights), weights)
            return _loss_sum_and_hits(tf, loss, proba, yb)

        @tf.function(jit_compile=xla)
        def run_batches(batches, start, stop):
            def body(i, loss_sum, hits):
                batch_loss, batch_hits = step(batches[i])
                return i + 1, loss_sum + batch_loss, hits + batch_hits

            _, loss_sum, hits = tf.while_loop(
                lambda i, *_: i < stop, body, (start, tf.constant(0.0), tf.constant(0.0))
            )
            return loss_sum, hits

        last_batch = tf.function(step, jit_compile=xla)
        evaluate = None if X_val is None else _evaluator(tf, model, X_val, y_val, xla)
        per_call = _STEPS_PER_CALL_VERBOSE if self.verbose >= 2 else _STEPS_PER_CALL
        steps = n_full + (rest > 0)

        rng = np.random.default_rng(seed)
        self.history_, self.n_iter_, self.interrupted_ = {}, 0, False
        state = _EarlyStoppingState()
        try:
            for epoch in range(self.epochs):
                bar = None
                if self.verbose >= 2:
                    print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
                    bar = keras.utils.Progbar(steps)
                order = rng.permutation(n).astype(np.int32)
                batches = tf.constant(order[: n_full * batch_size].reshape(n_full, batch_size))
                loss_sum, hits = 0.0, 0.0
                for start in range(0, n_full, per_call):
                    stop = min(start + per_call, n_full)
                    chunk_loss, chunk_hits = run_batches(
                        batches, tf.constant(start), tf.constant(stop)
                    )
                    loss_sum, hits = loss_sum + float(chunk_loss), hits + float(chunk_hits)
                    if bar is not None:
                        seen = stop * batch_size
                        bar.update(stop, [("loss", loss_sum / seen), ("accuracy", hits / seen)])
                if rest:
                    batch_loss, batch_hits = last_batch(tf.constant(order[n_full * batch_size :]))
                    loss_sum, hits = loss_sum + float(batch_loss), hits + float(batch_hits)
                logs = {"loss": loss_sum / n, "accuracy": hits / n}
                if bar is not None:
                    bar.update(steps, list(logs.items()), finalize=True)
                if evaluate is not None:
                    logs.update(evaluate())
                if self._end_epoch(logs, state, on_epoch_end):
                    break
        except KeyboardInterrupt:
            self.interrupted_ = True
            warnings.warn(
                f"Training interrupted (Ctrl-C) after {self.n_iter_} of {self.epochs} epochs; "
                "the model keeps its current weights and history_ holds the completed epochs.",
                UserWarning,
                stacklevel=3,
            )
        if state.best_weights is not None:
            model.set_weights(state.best_weights)
        self.fit_time_ = time.perf_counter() - state.start

    def _end_epoch(self, logs, state, on_epoch_end):
        """Record one epoch; return True to stop training."""
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                self.history_.setdefault(key, []).append(float(logs[key]))
        self.n_iter_ = epoch = len(self.history_["loss"])
        epoch_logs = {key: values[-1] for key, values in self.history_.items()}
        if self.verbose:
            self._print_epoch(epoch, self.history_, time.perf_counter() - state.start)
        if not np.isfinite(epoch_logs["loss"]):
            warnings.warn(
                f"Training diverged at epoch {epoch} (loss is {epoch_logs['loss']}); "
                "stopping. Lower learning_rate or add batch_norm.",
                UserWarning,
                stacklevel=2,
            )
            return True
        stop = False
        if self.early_stopping:
            if epoch_logs["val_loss"] < state.best_loss:
                state.best_loss, state.waited = epoch_logs["val_loss"], 0
                state.best_weights, self.best_epoch_ = self.model_.get_weights(), epoch
            else:
                state.waited += 1
                stop = state.waited >= self.patience
        if on_epoch_end is not None and on_epoch_end(epoch, epoch_logs):
            stop = True
        return stop

    def _print_epoch(self, epoch, history, elapsed):
        keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history]
        if epoch == 1:
            print("  epoch " + " ".join(f"{k:>14}" for k in keys) + "      time")
        cells = []
        for key in keys:
            values = np.asarray(history[key])
            best = np.nanmin(values) if key.endswith("loss") else np.nanmax(values)
            marker = "*" if values[-1] == best else " "
            cells.append(f"{values[-1]:>13.4f}{marker}")
        print(f"{epoch:>7} " + " ".join(cells) + f" {elapsed:>8.1f}s", flush=True)

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
                np.asarray(self.model_(X[start : start + _PREDICT_CHUNK], training=False))
                for start in range(0, len(X), _PREDICT_CHUNK)
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


def _loss_sum_and_hits(tf, loss, proba, y):
    """A batch's mean loss times its size, and its number of correct predictions."""
    size = tf.cast(tf.shape(y)[0], tf.float32)
    predicted = tf.argmax(proba, axis=1, output_type=tf.int32)
    hits = tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.float32))
    return loss * size, hits


def _evaluator(tf, model, X_val, y_val, xla):
    """A function returning this epoch's ``val_loss`` and ``val_accuracy``, as Keras'
    ``evaluate`` computes them (penalties included)."""
    X_val, y_val = tf.constant(X_val), tf.constant(np.asarray(y_val, dtype=np.int32))
    n = int(X_val.shape[0])

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def chunk_loss_and_hits(xb, yb):
        proba = model(xb, training=False)
        loss = model.compute_loss(y=yb, y_pred=proba, training=False)
        return _loss_sum_and_hits(tf, loss, proba, yb)

    def evaluate():
        loss_sum, hits = 0.0, 0.0
        for start in range(0, n, _PREDICT_CHUNK):
            stop = start + _PREDICT_CHUNK
            chunk_loss, chunk_hits = chunk_loss_and_hits(X_val[start:stop], y_val[start:stop])
            loss_sum, hits = loss_sum + float(chunk_loss), hits + float(chunk_hits)
        return {"val_loss": loss_sum / n, "val_accuracy": hits / n}

    return evaluate
