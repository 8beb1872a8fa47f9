"""The network builder: a plain function of explicit arguments returning a compiled Keras model."""

import warnings
from types import MappingProxyType

import numpy as np

from ._seeds import Seeds
from ._tf import import_tensorflow

PRESETS = {
    "smaller": (4, 4),
    "baseline": (16, 16),
    "bigger": (512, 512),
    "tutorial": (128,),
    "strong": (1024, 1024),
}
"""Named hidden-layer sizes: the lecture's three networks, the TensorFlow tutorial's, and the
network of the ``"strong"`` recipe (see :data:`skfashion.RECIPES`)."""

IMAGE_SHAPE = (28, 28)
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine")

NETWORK_DEFAULTS = MappingProxyType(
    {
        "hidden_layer_sizes": "tutorial",
        "activation": "relu",
        "dropout": 0.0,
        "l2": 0.0,
        "batch_norm": False,
        "augment": False,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "lr_schedule": "constant",
    }
)
"""The network's settings when none are given: read by :func:`build_network` and
:class:`skfashion.FashionMLP` alike."""

_REMOVED_IN_0_3 = ("jit_compile", "steps_per_execution")


def check_network(n_features, *, hidden_layer_sizes, augment):
    """Resolve ``hidden_layer_sizes`` and check that ``augment`` gets 28x28 images.

    The network's rules on its inputs, checked before any TensorFlow work.

    Returns
    -------
    sizes : tuple of int
        Units per hidden layer.

    Raises
    ------
    ValueError
        For an unknown preset, unit counts that are not positive integers, or
        ``augment=True`` with other than 784 features.

    Examples
    --------
    >>> check_network(784, hidden_layer_sizes="baseline", augment=True)
    (16, 16)
    """
    sizes = resolve_hidden_layer_sizes(hidden_layer_sizes)
    if augment and n_features != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        raise ValueError(
            f"augment=True transforms 28x28 images, so X needs 784 features; got "
            f"{n_features}. Pass Fashion-MNIST images or set augment=False."
        )
    return sizes


def resolve_hidden_layer_sizes(hidden_layer_sizes):
    """Turn a preset name, an int or a sequence of ints into a tuple of unit counts.

    Raises
    ------
    ValueError
        For an unknown preset name or unit counts that are not positive integers.
    """
    if isinstance(hidden_layer_sizes, str):
        if hidden_layer_sizes not in PRESETS:
            raise ValueError(
                f"Unknown preset hidden_layer_sizes={hidden_layer_sizes!r}; use one of "
                f"{sorted(PRESETS)} or a tuple of unit counts such as (128,) or (16, 16)."
            )
        return PRESETS[hidden_layer_sizes]
    sizes = (
        (hidden_layer_sizes,)
        if isinstance(hidden_layer_sizes, (int, np.integer))
        else tuple(hidden_layer_sizes)
    )
    for units in sizes:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers (units per hidden layer), "
                f"got {hidden_layer_sizes!r}."
            )
    return tuple(int(u) for u in sizes)


def input_scaling(X):
    """Per-feature centre and scale learned from training data.

    Features are centred on their mean and divided by their standard deviation,
    so pixels (0-255) and arbitrary numeric features on any scale work as they
    are. A feature that is constant in the training data (a corner pixel that
    is always black) carries no information; it is divided by the typical
    feature's spread, so that a rare non-zero value at predict time stays
    bounded.

    Returns
    -------
    mean, scale : ndarray of shape (n_features,), float32
    """
    X = np.asarray(X)
    if X.dtype == np.uint8:
        total, squares, low, high = _uint8_moments(X)
    else:
        total = np.zeros(X.shape[1])
        squares = np.zeros(X.shape[1])
        low = np.full(X.shape[1], np.inf)
        high = np.full(X.shape[1], -np.inf)
        for start in range(0, X.shape[0], 8192):  # float64 sums without a float64 copy of X
            chunk = X[start : start + 8192].astype(np.float64)
            total += chunk.sum(axis=0)
            squares += np.square(chunk).sum(axis=0)
            low = np.minimum(low, chunk.min(axis=0))
            high = np.maximum(high, chunk.max(axis=0))
    mean = total / X.shape[0]
    std = np.sqrt(np.maximum(squares / X.shape[0] - np.square(mean), 0.0))
    constant = high == low
    typical = np.sqrt(np.mean(np.square(std[~constant]))) if not constant.all() else 1.0
    scale = np.where(constant | (std == 0), typical, std)
    return mean.astype(np.float32), scale.astype(np.float32)


def _uint8_moments(X):
    """Exact per-feature sums of x and x**2, minimum and maximum of uint8 data.

    Integer arithmetic, 1,024 rows at a time (small buffers: fresh memory is
    slow to touch on some virtual machines): ten times faster than the float64
    loop, with the same (exact) sums.
    """
    total = X.sum(axis=0, dtype=np.uint64)
    squares = np.zeros(X.shape[1], dtype=np.uint64)
    for start in range(0, X.shape[0], 1024):
        chunk = X[start : start + 1024].astype(np.uint32)
        squares += np.einsum("ij,ij->j", chunk, chunk)
    return (
        total.astype(np.float64),
        squares.astype(np.float64),
        X.min(axis=0).astype(np.float64),
        X.max(axis=0).astype(np.float64),
    )


def keras_objects():
    """skfashion's own Keras classes by registered name, for ``keras.saving.load_model``."""
    from ._augment import ImageAugmentation

    return {"skfashion>ImageAugmentation": ImageAugmentation}


def _augmentation(seeds):
    from ._augment import ImageAugmentation

    (seed,) = seeds.layer_seeds("augmentation", 1)
    return ImageAugmentation(IMAGE_SHAPE, seed=seed, name="augmentation")


def build_network(
    n_features,
    n_classes,
    *,
    hidden_layer_sizes=NETWORK_DEFAULTS["hidden_layer_sizes"],
    activation=NETWORK_DEFAULTS["activation"],
    dropout=NETWORK_DEFAULTS["dropout"],
    l2=NETWORK_DEFAULTS["l2"],
    batch_norm=NETWORK_DEFAULTS["batch_norm"],
    augment=NETWORK_DEFAULTS["augment"],
    optimizer=NETWORK_DEFAULTS["optimizer"],
    learning_rate=NETWORK_DEFAULTS["learning_rate"],
    lr_schedule=NETWORK_DEFAULTS["lr_schedule"],
    decay_steps=None,
    input_mean=None,
    input_scale=None,
    seed=0,
    **removed,
):
    """Build and compile a Keras multilayer perceptron for ``n_classes`` classes.

    The network is ``[augmentation] -> scaling -> (Dense [-> BatchNorm] ->
    activation [-> Dropout]) * n_hidden -> Dense(n_classes) "logits" ->
    softmax "probabilities"``, trained with sparse categorical cross-entropy
    (which Keras computes from the logits) and reporting accuracy.

    Parameters
    ----------
    n_features : int
        Number of input features (784 for Fashion-MNIST images).
    n_classes : int
        Number of classes (units of the output layer).
    hidden_layer_sizes : str or tuple of int, default="tutorial"
        Units per hidden layer, or a name in :data:`PRESETS`.
    activation : str, default="relu"
        Keras activation of the hidden layers.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (0 disables it).
    l2 : float, default=0.0
        L2 penalty on the hidden and output kernels (0 disables it).
    batch_norm : bool, default=False
        Batch normalisation between each hidden Dense layer and its activation.
    augment : bool, default=False
        Random flips, shifts, rotations and zooms of the 28x28 images, active
        in training only, resampling each image once (see
        :class:`skfashion._augment.ImageAugmentation`). Requires ``n_features == 784``.
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd"}, default="adam"
        Keras optimizer.
    learning_rate : float, default=0.001
        Initial learning rate.
    lr_schedule : {"constant", "cosine"}, default="constant"
        "cosine" decays the learning rate to zero over ``decay_steps`` steps.
    decay_steps : int, default=None
        Steps of the cosine schedule; required when ``lr_schedule="cosine"``.
    input_mean, input_scale : array-like of shape (n_features,), default=None
        Input centring and scaling (see :func:`input_scaling`); None means none.
    seed : int, default=0
        Seeds every initialiser, dropout and augmentation layer explicitly,
        through the streams of :class:`skfashion._seeds.Seeds`.
    **removed
        ``jit_compile`` and ``steps_per_execution`` are ignored with a
        ``FutureWarning`` (they only served ``model.fit``, which skfashion no
        longer calls) and will be removed in 0.3.

    Returns
    -------
    model : keras.Model
        A compiled model whose input is float32 (or uint8) of shape (n, n_features)
        and whose output is the class probabilities.

    Examples
    --------
    >>> from skfashion import build_network
    >>> model = build_network(784, 10, hidden_layer_sizes="baseline", seed=0)
    >>> [layer.units for layer in model.layers if hasattr(layer, "units")]
    [16, 16, 10]
    """
    _warn_removed(removed)
    sizes = check_network(n_features, hidden_layer_sizes=hidden_layer_sizes, augment=augment)
    model = assemble_network(
        n_features,
        n_classes,
        sizes=sizes,
        activation=activation,
        dropout=dropout,
        l2=l2,
        batch_norm=batch_norm,
        augment=augment,
        input_mean=input_mean,
        input_scale=input_scale,
        seeds=Seeds(seed),
    )
    compile_network(
        model,
        optimizer=optimizer,
        learning_rate=learning_rate,
        lr_schedule=lr_schedule,
        decay_steps=decay_steps,
    )
    return model


def _warn_removed(removed):
    unknown = sorted(set(removed) - set(_REMOVED_IN_0_3))
    if unknown:
        raise TypeError(f"build_network() got an unexpected keyword argument {unknown[0]!r}")
    for name in sorted(removed):
        warnings.warn(
            f"build_network's {name!r} is ignored and will be removed in skfashion 0.3: the "
            "training loop is compiled by FashionMLP itself. Remove the argument.",
            FutureWarning,
            stacklevel=3,
        )


def assemble_network(
    n_features,
    n_classes,
    *,
    sizes,
    activation,
    dropout,
    l2,
    batch_norm,
    augment,
    input_mean,
    input_scale,
    seeds,
):
    """The uncompiled network of :func:`build_network`, from checked arguments."""
    _, keras = import_tensorflow()
    layers = keras.layers
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    kernel_seeds = seeds.layer_seeds("initializers", len(sizes) + 1)
    dropout_seeds = seeds.layer_seeds("dropout", len(sizes))

    inputs = keras.Input(shape=(n_features,), name="pixels")
    x = inputs
    if augment:
        x = _augmentation(seeds)(x)
    if input_mean is not None:
        variance = np.square(np.asarray(input_scale, dtype=np.float32))
        x = layers.Normalization(
            mean=np.asarray(input_mean, dtype=np.float32), variance=variance, name="scaling"
        )(x)
    for i, units in enumerate(sizes):
        x = layers.Dense(
            units,
            kernel_initializer=keras.initializers.GlorotUniform(seed=kernel_seeds[i]),
            kernel_regularizer=regularizer,
            use_bias=not batch_norm,
            name=f"hidden_{i + 1}",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"batch_norm_{i + 1}")(x)
        x = layers.Activation(activation, name=f"{activation}_{i + 1}")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, seed=dropout_seeds[i], name=f"dropout_{i + 1}")(x)
    logits = layers.Dense(
        n_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=kernel_seeds[-1]),
        kernel_regularizer=regularizer,
        name="logits",
    )(x)
    outputs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="fashion_mlp")


def compile_network(model, *, optimizer, learning_rate, lr_schedule, decay_steps):
    """Compile ``model`` with its optimizer, cross-entropy loss and accuracy."""
    _, keras = import_tensorflow()
    model.compile(
        optimizer=_make_optimizer(keras, optimizer, learning_rate, lr_schedule, decay_steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _make_optimizer(keras, name, learning_rate, lr_schedule, decay_steps):
    if lr_schedule == "cosine":
        if not decay_steps:
            raise ValueError("lr_schedule='cosine' needs decay_steps (training steps).")
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, int(decay_steps))
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    return classes[name](learning_rate=learning_rate)
