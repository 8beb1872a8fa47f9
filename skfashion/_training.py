"""The training loop, in small named pieces.

:func:`fit_loop` runs the epochs; each epoch is one pass of :class:`CompiledEpoch`
(a compiled ``tf.while_loop`` over the batches of a shuffled order), an optional
validation pass, then the epoch-end handlers in order, each with one job:
:class:`RecordHistory`, :class:`ProgressBar`, :class:`PrintEpochTable`,
:class:`StopOnDivergence`, :class:`EarlyStopping`, :class:`UserCallback`. The
handlers run in Python once per epoch; only the batches are compiled.
"""

import time
import warnings

import numpy as np

from ._interrupts import checkpoint
from ._tf import import_tensorflow

STEPS_PER_CALL = 1024  # batches per compiled call; Ctrl-C lands between calls
STEPS_PER_CALL_VERBOSE = 64  # smaller calls, so that verbose=2's progress bar moves
PREDICT_CHUNK = 8192  # images per network call in prediction and validation
PADDED_CALL_BYTES = 64 * 2**20  # XLA calls are padded to steps_per_call batches up to this size
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


# ----------------------------------------------------------------------------- the run
class TrainingRun:
    """What the handlers of one ``fit`` share: the network, the history and the clock.

    Parameters
    ----------
    model : keras.Model
        The network being trained.
    history : dict of str to list of float
        Appended to (a warm start passes the history of earlier fits).
    epochs : int
        Epochs this fit runs at most.
    """

    def __init__(self, model, history, epochs):
        self.model, self.history, self.epochs = model, history, epochs
        self.first_epoch = len(history.get("loss", ())) + 1
        self.last_epoch = self.first_epoch + epochs - 1
        self.interrupted = False
        self.start = time.perf_counter()

    @property
    def epochs_done(self):
        """Epochs recorded in ``history``, earlier fits included."""
        return len(self.history.get("loss", ()))

    @property
    def elapsed(self):
        return time.perf_counter() - self.start


class EpochHandler:
    """One job at the end of each epoch. ``on_epoch_end`` returns True to stop training."""

    def on_train_begin(self, run):
        pass

    def on_epoch_begin(self, run, epoch, n_batches):
        pass

    def on_batches(self, run, batches_done, logs):
        pass

    def on_epoch_end(self, run, epoch, logs):
        return False

    def on_train_end(self, run):
        pass


class RecordHistory(EpochHandler):
    """Append the epoch's metrics to ``run.history``."""

    def on_epoch_end(self, run, epoch, logs):
        for key in HISTORY_KEYS:
            if key in logs:
                run.history.setdefault(key, []).append(float(logs[key]))
        return False


class ProgressBar(EpochHandler):
    """Keras' progress bar over the batches of each epoch (``verbose=2``)."""

    def on_epoch_begin(self, run, epoch, n_batches):
        _, keras = import_tensorflow()
        print(f"Epoch {epoch}/{run.last_epoch}", flush=True)
        self._bar, self._n_batches = keras.utils.Progbar(n_batches), n_batches

    def on_batches(self, run, batches_done, logs):
        self._bar.update(batches_done, list(logs.items()))

    def on_epoch_end(self, run, epoch, logs):
        training = [(key, logs[key]) for key in ("loss", "accuracy")]
        self._bar.update(self._n_batches, training, finalize=True)
        return False


class PrintEpochTable(EpochHandler):
    """One table row per epoch (``verbose>=1``); ``*`` marks the best value so far."""

    def on_epoch_end(self, run, epoch, logs):
        keys = [key for key in HISTORY_KEYS if key in run.history]
        if epoch == run.first_epoch:
            print("  epoch " + " ".join(f"{key:>14}" for key in keys) + "      time")
        cells = []
        for key in keys:
            values = np.asarray(run.history[key])
            best = np.nanmin(values) if key.endswith("loss") else np.nanmax(values)
            marker = "*" if values[-1] == best else " "
            cells.append(f"{values[-1]:>13.4f}{marker}")
        print(f"{epoch:>7} " + " ".join(cells) + f" {run.elapsed:>8.1f}s", flush=True)
        return False


class StopOnDivergence(EpochHandler):
    """Stop, with a warning, when the training loss is no longer finite."""

    def on_epoch_end(self, run, epoch, logs):
        if np.isfinite(logs["loss"]):
            return False
        warnings.warn(
            f"Training diverged at epoch {epoch} (loss is {logs['loss']}); "
            "stopping. Lower learning_rate or add batch_norm.",
            UserWarning,
            stacklevel=2,
        )
        return True


class EarlyStopping(EpochHandler):
    """Stop after ``patience`` epochs without a lower ``val_loss``; restore the best weights.

    Attributes
    ----------
    best_epoch : int or None
        The epoch of the lowest ``val_loss`` seen, numbered as in the history.
    """

    def __init__(self, patience):
        self.patience = patience
        self.best_loss, self.best_weights, self.best_epoch, self.waited = np.inf, None, None, 0

    def on_epoch_end(self, run, epoch, logs):
        if logs["val_loss"] < self.best_loss:
            self.best_loss, self.best_epoch, self.waited = logs["val_loss"], epoch, 0
            self.best_weights = run.model.get_weights()
            return False
        self.waited += 1
        return self.waited >= self.patience

    def on_train_end(self, run):
        if self.best_weights is not None:
            run.model.set_weights(self.best_weights)


class UserCallback(EpochHandler):
    """The user's ``on_epoch_end(epoch, logs)``; a true return value stops training."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, run, epoch, logs):
        return bool(self.function(epoch, dict(logs)))


def epoch_handlers(*, verbose, patience=None, on_epoch_end=None):
    """The handlers of a fit, in the order they run at each epoch's end."""
    handlers = [RecordHistory()]
    if verbose >= 2:
        handlers.append(ProgressBar())
    if verbose >= 1:
        handlers.append(PrintEpochTable())
    handlers.append(StopOnDivergence())
    if patience is not None:
        handlers.append(EarlyStopping(patience))
    if on_epoch_end is not None:
        handlers.append(UserCallback(on_epoch_end))
    return handlers


# ----------------------------------------------------------------------------- the loop
def fit_loop(run, handlers, run_epoch, batch_order, evaluate=None):
    """Run up to ``run.epochs`` epochs, calling the handlers; Ctrl-C stops between calls.

    Parameters
    ----------
    run : TrainingRun
    handlers : list of EpochHandler
    run_epoch : CompiledEpoch
        Trains on one epoch's batches and returns its training logs.
    batch_order : numpy.random.Generator
        Draws each epoch's permutation of the training samples.
    evaluate : callable, default=None
        Returns the epoch's validation logs.
    """
    for handler in handlers:
        handler.on_train_begin(run)
    try:
        for epoch in range(run.first_epoch, run.last_epoch + 1):
            checkpoint()
            logs = run_single_epoch(run, handlers, epoch, run_epoch, batch_order, evaluate)
            stops = [handler.on_epoch_end(run, epoch, logs) for handler in handlers]
            if any(stops):
                break
    except KeyboardInterrupt:
        run.interrupted = True
        warnings.warn(
            f"Training interrupted (Ctrl-C) after {run.epochs_done - run.first_epoch + 1} of "
            f"{run.epochs} epochs; the model keeps its current weights and history_ holds the "
            "completed epochs.",
            UserWarning,
            stacklevel=6,  # fit_loop, _train, _fit, its Ctrl-C holder, fit: the caller of fit
        )
    for handler in handlers:
        handler.on_train_end(run)


def run_single_epoch(run, handlers, epoch, run_epoch, batch_order, evaluate):
    """One epoch: the batches of a fresh permutation, then validation."""
    for handler in handlers:
        handler.on_epoch_begin(run, epoch, run_epoch.n_batches)

    def progress(batches_done, logs):
        checkpoint()
        for handler in handlers:
            handler.on_batches(run, batches_done, logs)

    logs = run_epoch(batch_order.permutation(run_epoch.n_samples).astype(np.int32), progress)
    if evaluate is not None:
        logs.update(evaluate())
    return logs


# ----------------------------------------------------------------------------- compiled parts
def _weighted_sums(tf, loss, proba, y, weights):
    """A batch's mean loss times its size, its weighted hits and its weight."""
    size = tf.cast(tf.shape(y)[0], tf.float32)
    predicted = tf.argmax(proba, axis=1, output_type=tf.int32)
    hits = tf.reduce_sum(weights * tf.cast(tf.equal(predicted, y), tf.float32))
    return loss * size, hits, tf.reduce_sum(weights)


class CompiledEpoch:
    """One epoch of training as a few calls of a compiled loop over batches.

    Rather than ``model.fit``, whose ``tf.data`` iterator and per-step
    dispatch cost more than the arithmetic of a small network, each call
    trains on up to ``steps_per_call`` batches inside one ``tf.while_loop``
    (compiled by XLA where :func:`skfashion._programs.use_xla` says it pays).
    Loss and accuracy are
    what Keras' ``fit`` reports: the loss is the mean over the epoch's samples
    of ``weight * loss`` (Keras' ``sum_over_batch_size``), penalties included;
    accuracy is the weighted share of correct predictions.

    The program never sees the training set, only a call's batches, gathered
    before the call, so one program trains on data of every size (the folds of
    a search and its refit). Without XLA it is traced once, with the batch size
    left open, and the last, partial batch is one more call of it. With XLA, a
    call's batches are padded to ``steps_per_call`` (padding is never read) so
    that XLA compiles it once; where that padding would exceed
    :data:`PADDED_CALL_BYTES`, to the next power of two of the call's batches.
    The last batch of an XLA program is a step of TensorFlow's graph, not of
    XLA, so that a search's folds of 6,666 and 6,667 images and its refit of
    10,000 (last batches of 10, 11 and 16) do not compile it three times; that
    of a network with batch normalization, whose batch means round differently
    when the batch size is not known in advance, is traced for its size.

    Parameters
    ----------
    model : keras.Model
        A compiled network.
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), int32
        Encoded class labels.
    sample_weight : ndarray of shape (n_samples,), float32
    batch_size : int
    xla : bool
    steps_per_call : int
    """

    def __init__(self, model, X, y, sample_weight, *, batch_size, xla, steps_per_call):
        tf, keras = import_tensorflow()
        self._tf, self._xla = tf, xla
        self.requested_batch_size, self.steps_per_call = batch_size, steps_per_call
        self.bind_data(X, y, sample_weight)
        weights = model.trainable_variables
        optimizer = model.optimizer
        optimizer.build(weights)

        def step(xb, yb, wb):
            with tf.GradientTape() as tape:
                proba = model(xb, training=True)
                loss = model.compute_loss(y=yb, y_pred=proba, sample_weight=wb, training=True)
            optimizer.apply(tape.gradient(loss, weights), weights)
            return _weighted_sums(tf, loss, proba, yb, wb)

        batch_norm = any(isinstance(layer, keras.layers.BatchNormalization)
                         for layer in model.layers)
        self._rest_apart = xla or batch_norm
        size = self.batch_size if self._rest_apart else None
        signature = [
            tf.TensorSpec([None, size, X.shape[1]], tf.as_dtype(X.dtype)),
            tf.TensorSpec([None, size], tf.int32),
            tf.TensorSpec([None, size], tf.float32),
            tf.TensorSpec([], tf.int32),
        ]

        # No AutoGraph: the loop is tf.while_loop already, and converting the code of the step
        # (Keras included) costs a quarter of a second per program for the same graph.
        @tf.function(jit_compile=xla, input_signature=signature, autograph=False)
        def run_batches(X_batches, y_batches, w_batches, stop):
            def body(i, loss_sum, hits, weight):
                batch = step(X_batches[i], y_batches[i], w_batches[i])
                return i + 1, loss_sum + batch[0], hits + batch[1], weight + batch[2]

            zero = tf.constant(0.0)
            start = tf.constant(0)
            _, *sums = tf.while_loop(lambda i, *_: i < stop, body, (start, zero, zero, zero))
            return sums

        self._run_batches = run_batches
        # Never XLA: XLA would compile the step again for each size of last batch.
        any_size = [tf.TensorSpec([None, *spec.shape[2:]], spec.dtype) for spec in signature[:3]]
        self._last_batch = tf.function(
            step,
            jit_compile=False,
            input_signature=None if batch_norm else any_size,
            autograph=False,
        )

    def bind_data(self, X, y, sample_weight):
        """Train on other data of the same width and dtype with the same program."""
        tf, _ = import_tensorflow()
        self._data = (tf.constant(X), tf.constant(y), tf.constant(sample_weight))
        self.bound_to = None  # who bound the data, for skfashion._programs.SharedEpoch
        self.n_samples = len(y)
        self.batch_size = min(self.requested_batch_size, self.n_samples)
        self.n_full, self.rest = divmod(self.n_samples, self.batch_size)
        self.n_batches = self.n_full + (self.rest > 0)

    def __call__(self, order, progress):
        """Train on the batches of ``order``; return ``{"loss", "accuracy"}`` of the epoch."""
        size = self.batch_size
        full = order[: self.n_full * size].reshape(self.n_full, size)
        totals = np.zeros(3)
        for start in range(0, self.n_full, self.steps_per_call):
            stop = min(start + self.steps_per_call, self.n_full)
            totals += self._call(full[start:stop], pad_to=self._padded(stop - start))
            progress(stop, _logs(totals, stop * size))
        if self.rest:
            totals += self._call_last(order[self.n_full * size :])
        return _logs(totals, self.n_samples)

    def _call_last(self, batch):
        if not self._rest_apart:
            return self._call(batch[np.newaxis], pad_to=1)
        parts = (self._tf.gather(part, batch) for part in self._data)
        return [float(value) for value in self._last_batch(*parts)]

    def _padded(self, n_batches):
        """Batches of an XLA call of ``n_batches``: one number for every training-set size."""
        sample_bytes = int(np.prod(self._data[0].shape[1:])) * self._data[0].dtype.size
        if self.steps_per_call * self.batch_size * sample_bytes <= PADDED_CALL_BYTES:
            return self.steps_per_call
        return min(self.steps_per_call, 1 << max(n_batches - 1, 0).bit_length())

    def _call(self, batches, pad_to):
        """The sums of one call of the program on ``batches``, an array of sample indices."""
        tf, n_batches = self._tf, len(batches)
        if self._xla and n_batches < pad_to:  # one shape, one XLA compilation, for every size
            batches = np.concatenate([batches, np.zeros((pad_to - n_batches, batches.shape[1]),
                                                        batches.dtype)])
        parts = (tf.gather(part, batches) for part in self._data)
        return [float(value) for value in self._run_batches(*parts, tf.constant(n_batches))]


def _logs(totals, n_seen, prefix=""):
    loss_sum, hits, weight = totals
    accuracy = hits / weight if weight > 0 else 0.0
    return {f"{prefix}loss": loss_sum / n_seen, f"{prefix}accuracy": accuracy}


def evaluation_step(model, *, xla):
    """The compiled sums of loss, weighted hits and weight of ``model`` on one chunk."""
    tf, _ = import_tensorflow()

    @tf.function(jit_compile=xla, reduce_retracing=True, autograph=False)
    def chunk_sums(xb, yb, wb):
        proba = model(xb, training=False)
        loss = model.compute_loss(y=yb, y_pred=proba, sample_weight=wb, training=False)
        return _weighted_sums(tf, loss, proba, yb, wb)

    return chunk_sums


def make_evaluator(model, X_val, y_val, sample_weight, *, xla, step=None):
    """A function returning this epoch's ``val_loss`` and ``val_accuracy``.

    They are what Keras' ``evaluate`` computes with the same sample weights:
    penalties included, loss averaged over samples, accuracy weighted. ``step``
    is an :func:`evaluation_step` of ``model`` to reuse (None compiles one).
    """
    tf, _ = import_tensorflow()
    X_val, y_val, w_val = tf.constant(X_val), tf.constant(y_val), tf.constant(sample_weight)
    n = int(X_val.shape[0])
    chunk_sums = evaluation_step(model, xla=xla) if step is None else step

    def evaluate():
        totals = np.zeros(3)
        for start in range(0, n, PREDICT_CHUNK):
            part = slice(start, start + PREDICT_CHUNK)
            totals += [float(v) for v in chunk_sums(X_val[part], y_val[part], w_val[part])]
        return _logs(totals, n, prefix="val_")

    return evaluate
