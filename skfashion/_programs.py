"""Compiled training programs shared by every fit of the same shape.

Tracing and compiling a fit's programs costs more than the whole training of a
small network (4+4 units, 4,800 images, 20 epochs), and a search or a study
fits the same network many times: once per fold, seed or remedy. Here the
programs of :class:`skfashion._training.CompiledEpoch` and
:func:`skfashion._training.make_evaluator` are built once per *shape* on a
private template network, and every fit of that shape runs them:

1. the fit's own network (built and seeded as always) is copied into the
   template: weights, optimizer state, dropout and augmentation seed states,
   and the input scaling;
2. the template's compiled program trains or evaluates;
3. the template's state is copied back into the fit's network.

Step 1 is skipped while the template still holds the fit's state (the fit's
previous epoch, or its validation pass after training), so that a fit copies
once per epoch; the copies of one direction are one compiled call.

The programs run the same operations on the same values as programs traced
on the fit's own network, so a fit gives bitwise the same result whether its
programs were compiled for it or reused (``tests/test_speed.py`` checks both).

The shape is everything that changes the compiled program: the network's
configuration without its seeds, names and input statistics, the optimizer's
configuration, the loss, and the data's width and dtype, the batch size, the
batches per call and the XLA choice. The input statistics live in variables of
the template, and the program is given a call's batches rather than the
training set, so folds, seeds and refits of one network share a program
whatever their number of samples.

XLA is chosen by :func:`use_xla`, from the work of the fit rather than from
its number of samples.
"""

import json
import threading
import weakref
from collections import OrderedDict

from ._tf import import_tensorflow
from ._training import CompiledEpoch, evaluation_step, make_evaluator

# The three figures below are CPU seconds measured back to back in one process on the
# project's 2-core machine (shared, so CPU time rather than wall time): XLA against
# TensorFlow's graph for 4+4 units, 4,800 images, 20 epochs (3,000 steps, 1.8 GFLOP) and
# 512+512 units, 5 epochs (750 steps, 96 GFLOP), each compiled and with a reused program.
XLA_COMPILE_SECONDS = 1.5
"""What compiling a fit's programs with XLA costs beyond tracing TensorFlow's graph
(measured 1.2 to 1.9 s)."""

XLA_SECONDS_SAVED_PER_STEP = 0.16e-3
"""What XLA saves per batch besides arithmetic: one fused loop instead of TensorFlow's
per-operation dispatch (measured 0.17 to 0.5 ms; the lower end taken)."""

XLA_SECONDS_SAVED_PER_GFLOP = 0.033
"""What XLA saves per GFLOP of training arithmetic: fused layers, no intermediate copies
(measured 0.032 s)."""

CACHE_SIZE = 16
"""Shapes whose compiled programs are kept (least recently used dropped first)."""

_FLOPS_PER_WEIGHT = 6  # multiply-adds of forward (1), gradients (2), as 2 FLOPs each
_IGNORED_CONFIG = frozenset({"name", "seed", "mean", "variance"})


# ----------------------------------------------------------------------------- XLA
def training_flops(n_weights, n_samples, epochs):
    """Floating-point operations of training a dense network.

    Parameters
    ----------
    n_weights : int
        Weights of the Dense kernels (the multiply-adds of one sample's forward pass).
    n_samples : int
        Training samples per epoch.
    epochs : int

    Returns
    -------
    flops : float
        ``6 * n_weights * n_samples * epochs``: a multiply-add is 2 FLOPs, and
        the backward pass costs twice the forward.

    Examples
    --------
    >>> training_flops(784 * 128 + 128 * 10, 60_000, 5) / 1e9
    182.9376
    """
    return float(_FLOPS_PER_WEIGHT * n_weights * n_samples * epochs)


def use_xla(n_weights, n_samples, epochs, batch_size):
    """Whether a fit is compiled with XLA: where it saves more time than it costs.

    The saving is :data:`XLA_SECONDS_SAVED_PER_STEP` per batch plus
    :data:`XLA_SECONDS_SAVED_PER_GFLOP` per GFLOP of :func:`training_flops`;
    the cost :data:`XLA_COMPILE_SECONDS`. The choice depends on the fit alone,
    never on which programs are already compiled, so that a fit's result does
    not depend on what ran before it. Augmentation
    (:class:`skfashion._augment.ImageAugmentation`) compiles like the rest, so
    ``augment=True`` changes nothing here.

    Parameters
    ----------
    n_weights : int
        Weights of the Dense kernels (see :func:`kernel_weights`).
    n_samples : int
        Training samples per epoch.
    epochs : int
    batch_size : int

    Examples
    --------
    The study's 512+512 networks (4,800 images, 20 epochs), with augmentation
    or without, are compiled with XLA, its 16+16 network is not:

    >>> use_xla(784 * 512 + 512 * 512 + 512 * 10, 4_800, 20, 32)
    True
    >>> use_xla(784 * 16 + 16 * 16 + 16 * 10, 4_800, 20, 32)
    False
    """
    steps = -(-n_samples // batch_size) * epochs
    gflops = training_flops(n_weights, n_samples, epochs) / 1e9
    saved = steps * XLA_SECONDS_SAVED_PER_STEP + gflops * XLA_SECONDS_SAVED_PER_GFLOP
    return saved >= XLA_COMPILE_SECONDS


def xla_compiles(model):
    """False for a network with Keras' image augmentation layers, which XLA cannot compile.

    Only networks pickled before augmentation became one
    :class:`skfashion._augment.ImageAugmentation` layer hold them (``RandomFlip``,
    ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``); a warm start of one
    trains without XLA, as it did then.
    """
    _, keras = import_tensorflow()
    legacy = (
        keras.layers.RandomFlip,
        keras.layers.RandomTranslation,
        keras.layers.RandomRotation,
        keras.layers.RandomZoom,
    )
    return not any(isinstance(layer, legacy) for layer in model.layers)


def kernel_weights(model):
    """Weights of the Dense kernels of ``model`` (see :func:`training_flops`)."""
    return sum(
        int(variable.shape[0]) * int(variable.shape[1])
        for variable in model.trainable_variables
        if len(variable.shape) == 2
    )


# ----------------------------------------------------------------------------- the cache
def program_shape(model):
    """The part of the program's key that the network and its optimizer decide.

    The configuration of the network and of its optimizer as JSON, without
    what only sets initial values: seeds, layer names, input statistics.
    """
    # Layers are named by position: Keras numbers unnamed layers per process ("flatten_3").
    names = {layer.name: f"layer {i}" for i, layer in enumerate(model.layers)}
    return json.dumps(
        {
            "model": _without(model.get_config(), names),
            "optimizer": _without(model.optimizer.get_config(), {}),
            "loss": str(model.loss),
            "dtype": str(model.dtype_policy.name),
        },
        sort_keys=True,
        default=str,
    )


def _without(config, names):
    if isinstance(config, dict):
        return {
            key: _without(value, names)
            for key, value in config.items()
            if key not in _IGNORED_CONFIG
        }
    if isinstance(config, (list, tuple)):
        return [_without(value, names) for value in config]
    if isinstance(config, str):
        return names.get(config, config)
    return config


class _Template:
    """A private copy of a network whose compiled programs every fit of its shape runs."""

    def __init__(self, model):
        tf, keras = import_tensorflow()
        self.network = keras.models.clone_model(model)
        optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        self.network.compile(optimizer=optimizer, loss=model.loss, metrics=["accuracy"])
        self.network.optimizer.build(self.network.trainable_variables)
        self.lock = threading.RLock()
        self.programs = {}
        self._holds = None  # weak reference to the network whose state the template holds
        # The input statistics become variables, so that they are the fit's, not the first's.
        self._scalings = _scaling_layers(keras, self.network)
        for layer in self._scalings:
            for name in ("mean", "variance"):
                value = tf.Variable(getattr(layer, name), trainable=False)
                object.__setattr__(layer, name, value)

    def _pairs(self, model):
        _, keras = import_tensorflow()
        pairs = list(zip(model.variables, self.network.variables, strict=True))
        pairs += zip(model.optimizer.variables, self.network.optimizer.variables, strict=True)
        for source, target in zip(_scaling_layers(keras, model), self._scalings, strict=True):
            pairs += [(source.mean, target.mean), (source.variance, target.variance)]
        def tf_value(value):  # a Keras variable's TensorFlow variable (outside mixed precision)
            return value.value if isinstance(value, keras.Variable) else value

        return [(tf_value(model_side), tf_value(template)) for model_side, template in pairs]

    def load(self, model):
        """Copy the state of ``model`` (a network of this shape) into the template.

        Nothing is copied while the template still holds that state: from the
        last ``load`` or ``store`` of ``model``, with no other network in
        between and no :meth:`forget` since.
        """
        if self._holds is not None and self._holds() is model:
            return
        sources, targets = zip(*self._pairs(model), strict=True)
        _copy(sources, targets)
        self._holds = weakref.ref(model)

    def store(self, model):
        """Copy the template's trained state back into ``model``."""
        pairs = [(t, s) for t, s in self._pairs(model) if not _is_constant(t)]
        targets, sources = zip(*pairs, strict=True)
        _copy(sources, targets)
        self._holds = weakref.ref(model)

    def forget(self):
        """The next :meth:`load` copies, whatever was loaded before.

        A fit starts with this, since its network may have been changed
        between fits (early stopping's restored weights, ``set_weights``).
        """
        self._holds = None


_COPY = None
_EAGER_COPIES = 64
"""Copies made with eager ``assign`` before :func:`_copy` traces its compiled version.

Each direction's trace costs 0.03 to 0.05 s; the compiled call saves 0.2 ms
(16 variables: the default network) to 0.5 ms (25: 512+512 units with dropout
and augmentation) per copy against eager ``assign`` on the project's 2-core
machine. So a single fit, which copies once per epoch, never traces, and a
study's hundreds of fits trace once. Either way the targets receive the
sources' exact values.
"""
_copies = 0


def _copy(sources, targets):
    """``target.assign(source)`` for each pair: eager at first, then one compiled call.

    A fit copies some 30 variables into and out of its template every epoch;
    once a process has made :data:`_EAGER_COPIES` copies, one compiled call
    instead of 60 eager operations keeps this cheap for small networks.
    Variables are arguments, so every network of a shape shares one trace.
    """
    global _COPY, _copies
    if _copies < _EAGER_COPIES:
        _copies += 1
        _assign_each(sources, targets)
        return
    if _COPY is None:
        tf, _ = import_tensorflow()
        _COPY = tf.function(_assign_each, autograph=False)
    _COPY(list(sources), list(targets))


def _assign_each(sources, targets):
    """``target.assign(source)`` for each pair (eager, or traced by :func:`_copy`)."""
    for source, target in zip(sources, targets, strict=True):
        target.assign(source)


def _scaling_layers(keras, model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Normalization)]


def _is_constant(value):
    return not hasattr(value, "assign")


class _Cache:
    """Templates by shape, the least recently used dropped beyond :data:`CACHE_SIZE`."""

    def __init__(self):
        self._templates = OrderedDict()
        self._lock = threading.Lock()
        self.traces = 0  # programs built, for tests and benchmarks

    def template(self, model):
        key = program_shape(model)
        with self._lock:
            template = self._templates.pop(key, None)
            if template is None:
                template = _Template(model)
            self._templates[key] = template
            while len(self._templates) > CACHE_SIZE:
                self._templates.popitem(last=False)
        return template

    def clear(self):
        with self._lock:
            self._templates.clear()


CACHE = _Cache()


def clear_programs():
    """Forget every compiled program (the next fit of each shape compiles again)."""
    CACHE.clear()


# ----------------------------------------------------------------------------- the programs
class SharedEpoch:
    """:class:`~skfashion._training.CompiledEpoch`'s interface, on a shared program.

    Parameters are those of ``CompiledEpoch``; ``model`` is the fit's own network,
    which holds the state between calls.
    """

    def __init__(self, model, X, y, sample_weight, *, batch_size, xla, steps_per_call):
        self._model, self._data = model, (X, y, sample_weight)
        self._token = object()  # marks the shared program's data as this fit's
        xla = xla and xla_compiles(model)
        if not model.optimizer.built:  # its state is copied to and from the template's
            model.optimizer.build(model.trainable_variables)
        self._template = CACHE.template(model)
        # No number of samples: one program trains the folds of a search and its refit.
        size = min(batch_size, len(y))  # fewer samples than batch_size make one smaller batch
        key = ("epoch", X.shape[1], X.dtype.str, size, xla, steps_per_call)
        with self._template.lock:
            self._epoch = self._template.programs.get(key)
            if self._epoch is None:
                self._epoch = CompiledEpoch(
                    self._template.network,
                    X,
                    y,
                    sample_weight,
                    batch_size=batch_size,
                    xla=xla,
                    steps_per_call=steps_per_call,
                )
                self._epoch.bound_to = self._token  # built on this fit's data: no second copy
                self._template.programs[key] = self._epoch
                CACHE.traces += 1
            self._bind()
            self._template.forget()
        self.n_samples, self.n_batches = self._epoch.n_samples, self._epoch.n_batches

    def _bind(self):
        """Give the shared program this fit's data, unless it has it (one copy per fit)."""
        if self._epoch.bound_to is not self._token:
            self._epoch.bind_data(*self._data)
            self._epoch.bound_to = self._token

    def __call__(self, order, progress):
        with self._template.lock:
            self._bind()
            self._template.load(self._model)
            try:
                return self._epoch(order, progress)
            finally:
                self._template.store(self._model)


def shared_evaluator(model, X_val, y_val, sample_weight, *, xla):
    """:func:`~skfashion._training.make_evaluator` on the shared program of ``model``'s shape."""
    template = CACHE.template(model)
    xla = xla and xla_compiles(model)
    key = ("evaluate", X_val.shape[1], X_val.dtype.str, xla)
    with template.lock:
        step = template.programs.get(key)
        if step is None:
            step = template.programs[key] = evaluation_step(template.network, xla=xla)
            CACHE.traces += 1
    evaluate = make_evaluator(template.network, X_val, y_val, sample_weight, xla=xla, step=step)

    def shared():
        with template.lock:
            template.load(model)
            return evaluate()

    return shared
