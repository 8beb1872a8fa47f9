"""FashionMLP: a Keras multilayer perceptron that is a real scikit-learn classifier."""

import inspect
import os
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._interrupts import holding
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
    keras_objects,
    resolve_hidden_layer_sizes,
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

# TensorFlow loads (quietly, with its threads set) when FashionMLP is first touched, as the
# package's docstring says: in a Dask worker that is when a task's estimator is unpickled, and a
# 0.1.0 pickle then finds it imported before scikeras imports it loudly.
import_tensorflow()

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
# What a warm start or a later partial_fit cannot change: the network, its optimizer, the split.
_FROZEN_ON_WARM_START = (*NETWORK_DEFAULTS, "validation_fraction")


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
    class_weight : dict, "balanced" or None, default=None
        Weight of each class in the training loss, multiplied into
        ``sample_weight`` (as Keras' ``class_weight`` does): a dict maps class
        labels to weights (classes not listed weigh 1); ``"balanced"`` weighs
        each class ``n_samples / (n_classes * count)`` in the training data.
        Validation metrics are not class-weighted.
    warm_start : bool, default=False
        When True, a :meth:`fit` of a fitted classifier continues training its
        network instead of starting over: from its weights, optimizer state and
        batch-order stream, with the first fit's input scaling and validation
        split (the split is drawn again from the first fit's seed, so on the
        same data the same samples are held out, also with
        ``random_state=None``). Its epochs are appended to ``history_`` and
        numbered on; ``n_iter_`` counts all of them. The network's parameters
        (``hidden_layer_sizes``, ``activation``, ``dropout``, ``l2``,
        ``batch_norm``, ``augment``, ``optimizer``, ``learning_rate``,
        ``lr_schedule``) and ``validation_fraction`` cannot change between warm
        fits, and ``y`` cannot bring new classes. With a constant learning rate,
        5 epochs and then 5 warm epochs give the same network as 10 epochs.
        With ``lr_schedule="cosine"``, the schedule spans the first fit's
        ``epochs``; a warm fit continues it, and once it has ended the learning
        rate stays 0, so further warm fits no longer change the weights.
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
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
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
        class_weight=None,
        warm_start=False,
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
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ pickling
    @holding
    def __getstate__(self):
        """The estimator's state, with the network as the bytes of a ``.keras`` file."""
        state = dict(super().__getstate__())
        if "model_" in state:
            model = state.pop("model_")
            state["_keras_file"] = _model_to_bytes(model)
            state["_seed_states"] = [np.asarray(v) for v in _seed_state_variables(model)]
        return state

    @holding
    def __setstate__(self, state):
        state = dict(state)
        if "_keras_file" in state:
            model = _model_from_bytes(state.pop("_keras_file"))
            # The .keras format leaves out how far each dropout and augmentation layer's random
            # stream has advanced; a warm start after a round trip needs it.
            for variable, value in zip(
                _seed_state_variables(model), state.pop("_seed_states"), strict=True
            ):
                variable.assign(value)
            state["model_"] = model
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
        """``(X_val, encoded y_val, weights)`` from the ``validation_data`` argument."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a pair (X_val, y_val) or a triple "
                "(X_val, y_val, sample_weight_val) of arrays."
            )
        X_val, y_val, *weights = validation_data
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
        w_val = _check_weights(weights[0] if weights else None, X_val)
        return X_val, np.searchsorted(self.classes_, y_val).astype(np.int32), w_val

    def _check_early_stopping(self, has_validation):
        if self.early_stopping and not has_validation:
            raise ValueError(
                "early_stopping=True monitors validation loss, but there is no validation "
                "data: set validation_fraction (for example 0.1) or pass "
                "validation_data=(X_val, y_val) to fit."
            )

    def _class_weights(self, y_encoded):
        """Each class's weight under ``class_weight``, in the order of ``classes_``."""
        if self.class_weight is None:
            return np.ones(len(self.classes_), dtype=np.float32)
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in set(self.classes_)]
            if unknown:
                raise ValueError(
                    f"class_weight has labels that are not classes of y: {unknown[:5]}; the "
                    f"classes are {self.classes_.tolist()}."
                )
            values = np.array(list(self.class_weight.values()), dtype=float)
            if not np.all(np.isfinite(values) & (values >= 0)):
                raise ValueError(
                    f"class_weight values must be finite and non-negative; got "
                    f"{self.class_weight!r}."
                )
            return compute_class_weight(self.class_weight, classes=self.classes_,
                                        y=self.classes_[y_encoded]).astype(np.float32)
        present = np.unique(y_encoded)
        weights = np.ones(len(self.classes_), dtype=np.float32)
        weights[present] = compute_class_weight("balanced", classes=present, y=y_encoded)
        return weights

    def _frozen_params(self):
        """The parameters a warm start cannot change: those that define the network,
        its optimizer, and the validation split."""
        sizes = resolve_hidden_layer_sizes(self.hidden_layer_sizes)
        params = {name: getattr(self, name) for name in _FROZEN_ON_WARM_START}
        return {**params, "hidden_layer_sizes": sizes}

    def _check_continuation(self, y, classes):
        """Check that a warm fit or a later partial_fit continues the same network."""
        if not hasattr(self, "_fitted_params"):
            raise ValueError(
                f"This classifier was saved by skfashion {LEGACY_VERSION}, which kept no state "
                "to continue training from: fit it anew (warm_start=False)."
            )
        frozen = self._frozen_params()
        for name, value in frozen.items():
            if value != self._fitted_params[name]:
                raise ValueError(
                    f"warm_start=True (and partial_fit) continue the fitted network, but "
                    f"{name} changed from {self._fitted_params[name]!r} to {value!r} since it "
                    f"was fitted. Set {name}={self._fitted_params[name]!r} again, or fit a new "
                    "network (warm_start=False)."
                )
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes the network "
                f"was fitted on, {self.classes_.tolist()}."
            )
        new = np.setdiff1d(y, self.classes_)
        if new.size:
            raise ValueError(
                f"y has classes the fitted network does not know: {new[:5].tolist()}; it was "
                f"fitted on {self.classes_.tolist()}. Fit a new network (warm_start=False) to "
                "learn new classes."
            )

    def _warn_if_schedule_ended(self):
        if self.lr_schedule == "cosine" and float(self.model_.optimizer.learning_rate) == 0:
            warnings.warn(
                "The cosine learning-rate schedule ended with the epochs of the first fit, so "
                "the learning rate is 0 and this warm fit leaves the weights as they are. Use "
                "lr_schedule='constant' to train on with warm_start, or fit anew with more "
                "epochs.",
                UserWarning,
                stacklevel=4,
            )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, *, validation_data=None, on_epoch_end=None):
        """Train the network, recording training and validation metrics per epoch.

        With ``warm_start=True`` and a fitted network, training continues (see
        ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Training data: raw pixels (``uint8`` or float) or any numeric features.
        y : array-like of shape (n_samples,)
            Class labels (integers or strings), at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample; None weighs each sample 1. As in
            Keras, each batch's loss is the mean over its samples of ``weight *
            loss`` and the reported ``loss`` is its mean over the epoch's
            samples; ``accuracy`` is the weighted share of correct predictions.
            The ``validation_fraction`` hold-out carries its samples' weights:
            ``val_loss`` and ``val_accuracy`` are weighted the same way (by
            ``sample_weight`` only, not by ``class_weight``, as in Keras). The
            input scaling is learned from every training sample, whatever its
            weight.
        validation_data : tuple of (X_val, y_val) or (X_val, y_val, sample_weight_val), \
default=None
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
        warm = self.warm_start and self.__sklearn_is_fitted__()
        return self._fit(
            X, y, sample_weight, validation_data, on_epoch_end,
            classes=None, continuing=warm, epochs=self.epochs, hold_out=True,
        )

    def partial_fit(
        self, X, y, classes=None, sample_weight=None, *, validation_data=None, on_epoch_end=None
    ):
        """Train the network for one epoch on ``(X, y)``, continuing where it stopped.

        The first call (on an unfitted classifier) builds the network: its input
        scaling is learned from that call's ``X`` and kept by every later call.
        Each call trains on all of ``X`` (``validation_fraction`` and
        ``early_stopping`` are not used); pass ``validation_data`` to record
        ``val_loss`` and ``val_accuracy``. The batch order continues one stream
        across calls, so the same seed and calls give the same network. After
        :meth:`fit`, ``partial_fit`` continues that fit's network. With
        ``lr_schedule="cosine"``, the schedule spans ``epochs`` calls of the
        size of the first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Training data, as in :meth:`fit`.
        y : array-like of shape (n_samples,)
            Class labels, all in ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class the classifier will know. Required on the first call,
            optional (and checked) on later calls.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample, as in :meth:`fit`.
        validation_data : tuple of (X_val, y_val) or (X_val, y_val, sample_weight_val), \
default=None
            Data to evaluate after the epoch.
        on_epoch_end : callable, default=None
            Called as in :meth:`fit`.

        Returns
        -------
        self : FashionMLP
            The classifier, trained one more epoch.
        """
        self._validate_params()
        first = not self.__sklearn_is_fitted__()
        if first:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: every label y "
                    "may hold in this and later calls, for example classes=np.unique(y_all)."
                )
        return self._fit(
            X, y, sample_weight, validation_data, on_epoch_end,
            classes=classes, continuing=not first, epochs=1, hold_out=False,
        )

    @holding  # Ctrl-C stops between compiled calls, never inside Keras (see _interrupts)
    def _fit(self, X, y, sample_weight, validation_data, on_epoch_end, *, classes, continuing,
             epochs, hold_out):
        X, y = self._check_X(X, y, reset=not continuing)
        check_classification_targets(y)
        if continuing:
            self._check_continuation(y, classes)
        else:
            sizes = check_network(
                self.n_features_in_,
                hidden_layer_sizes=self.hidden_layer_sizes,
                augment=self.augment,
            )
            for name in ("model_", "best_epoch_"):  # a failed fit leaves no stale network
                self.__dict__.pop(name, None)
            self.classes_ = _new_classes(y, classes)
        y_encoded = np.searchsorted(self.classes_, y).astype(np.int32)
        weights = _check_weights(sample_weight, X)
        class_weights = self._class_weights(y_encoded)
        given = None if validation_data is None else self._check_validation_data(validation_data)
        if hold_out:
            self._check_early_stopping(given is not None or self.validation_fraction > 0)
        if continuing:
            self._warn_if_schedule_ended()
        else:
            self._start_network_state(sizes)
        seeds = Seeds(self._seed)
        fraction = self.validation_fraction if hold_out and given is None else 0
        train, held_out = _hold_out(y_encoded, fraction, seeds.split_seed())
        if held_out is not None:
            given = X[held_out], y_encoded[held_out], weights[held_out]
        if train is not None:
            X, y_encoded, weights = X[train], y_encoded[train], weights[train]
        self.n_train_samples_ = len(y_encoded)
        self.n_validation_samples_ = 0 if given is None else len(given[1])
        if not continuing:
            self.model_ = self._build_model(X, seeds)
            self.history_ = {}
        self.__dict__.pop("best_epoch_", None)
        training = X, y_encoded, weights * class_weights[y_encoded]
        self._train(training, given, epochs, on_epoch_end, early_stopping=hold_out)
        return self

    def _start_network_state(self, sizes):
        """Seed, batch order and frozen parameters of a new network (all input checked)."""
        self._sizes = sizes
        self._seed = fit_seed(self.random_state)
        self._batch_order = Seeds(self._seed).batch_order()
        self._fitted_params = self._frozen_params()

    def _build_model(self, X_train, seeds):
        mean, scale = input_scaling(X_train)
        model = assemble_network(
            self.n_features_in_,
            len(self.classes_),
            sizes=self._sizes,
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

    def _train(self, training, validation, epochs, on_epoch_end, *, early_stopping):
        """Run the epochs of :func:`skfashion._training.fit_loop` and record the outcome."""
        X, y, weights = training
        # Fits of one shape share compiled programs (warm fits and partial_fit calls too).
        xla = use_xla(kernel_weights(self.model_), len(y), epochs, self.batch_size)
        run_epoch = SharedEpoch(
            self.model_,
            X,
            y,
            weights,
            batch_size=self.batch_size,
            xla=xla,
            steps_per_call=STEPS_PER_CALL_VERBOSE if self.verbose >= 2 else STEPS_PER_CALL,
        )
        evaluate = None
        if validation is not None:
            evaluate = shared_evaluator(self.model_, *validation, xla=xla)
        handlers = epoch_handlers(
            verbose=self.verbose,
            patience=self.patience if self.early_stopping and early_stopping else None,
            on_epoch_end=on_epoch_end,
        )
        run = TrainingRun(self.model_, self.history_, epochs)
        fit_loop(run, handlers, run_epoch, self._batch_order, evaluate)
        self.n_iter_ = run.epochs_done
        self.interrupted_ = run.interrupted
        self.fit_time_ = run.elapsed
        for handler in handlers:
            if isinstance(handler, EarlyStopping) and handler.best_epoch is not None:
                self.best_epoch_ = handler.best_epoch

    # ------------------------------------------------------------------ predict
    @holding
    def _logits(self, X):
        """The network's logits for X, in float32, a chunk at a time."""
        tf, keras = import_tensorflow()
        model = self.model_
        names = [layer.name for layer in model.layers]
        if "logits" in names:
            logits_of = keras.Model(model.input, model.get_layer("logits").output)
        else:  # saved by 0.1.0: one Dense layer with softmax, named "probabilities"
            final = model.layers[-1]
            hidden = keras.Model(model.input, final.input)

            def logits_of(x, training):
                return tf.matmul(hidden(x, training=training), final.kernel) + final.bias

        # Direct calls of the network: model.predict builds a tf.data pipeline per call.
        return np.concatenate(
            [
                np.asarray(logits_of(X[start : start + PREDICT_CHUNK], training=False))
                for start in range(0, len(X), PREDICT_CHUNK)
            ]
        )

    def predict_log_proba(self, X):
        """Logarithm of the probability of each class for each sample.

        Computed from the network's logits (log-softmax in float64), so it stays
        finite where a probability rounds to 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Samples, as in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        logits = self._logits(X).astype(np.float64)
        return logits - logsumexp(logits, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Probability of each class for each sample.

        The softmax of the network's logits, computed in float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, 28, 28)
            Samples, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities in the order of ``classes_``; rows sum to 1.
        """
        return np.exp(self.predict_log_proba(X))

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
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]


def _new_classes(y, classes):
    """The sorted classes of a new network: those of y, or ``classes`` (which must cover y)."""
    found = np.unique(y if classes is None else classes)
    if len(found) < 2:
        raise ValueError(
            f"y has only one class ({found[0]!r}); a classifier needs at least "
            "2 classes in the training data."
        )
    if classes is not None:
        unknown = np.setdiff1d(y, found)
        if unknown.size:
            raise ValueError(
                f"y has labels that are not in classes: {unknown[:5].tolist()}; classes "
                f"must list every label, here {found.tolist()}."
            )
    return found


def _check_weights(sample_weight, X):
    """Validated float32 sample weights (ones for None): finite, non-negative, one per sample."""
    return _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)


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
        return keras.saving.load_model(path, compile=True, custom_objects=keras_objects())


def _seed_state_variables(model):
    """The state variables of the network's random streams (dropout, augmentation), in order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


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
    for name, parameter in inspect.signature(FashionMLP).parameters.items():
        state.setdefault(name, parameter.default)  # parameters added since 0.1.0
