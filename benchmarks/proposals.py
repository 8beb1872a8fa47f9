"""Proposed speed-ups of FashionMLP, as drop-in subclasses the benchmark can time.

Measured by ``run.py --only variants``; the lead engineer owns ``skfashion/_estimator.py``
and decides what moves there. Each subclass keeps FashionMLP's whole contract:
``history_`` (training loss and accuracy as Keras reports them, validation after
each epoch), early stopping with restored weights, ``on_epoch_end``, seeding,
Ctrl-C (between chunks of at most ``_STEPS_PER_CALL`` batches).

- :class:`EpochLoopFashionMLP`: the training loop is a ``tf.while_loop`` over
  the batches of a seeded permutation, compiled by XLA, called once per
  ``_STEPS_PER_CALL`` batches, instead of ``model.fit`` over a ``tf.data``
  pipeline (which pays per batch for the iterator, the graph executor and one
  XLA launch).
- ``predict_proba`` calls the network directly on chunks of the input instead of
  ``model.predict`` (which builds a data adapter and a ``tf.data`` pipeline on
  every call).
- Optionally, XLA's older CPU runtime (``XLA_FLAGS=--xla_cpu_use_thunk_runtime=false``,
  set by the runner for the ``..._legacy_xla`` variants), which compiles a whole
  while loop into one function rather than running it op by op.
"""

import time
import warnings

import numpy as np

from skfashion import FashionMLP
from skfashion._estimator import _XLA_MIN_SAMPLES
from skfashion._network import build_network, input_scaling
from skfashion._tf import import_tensorflow

_STEPS_PER_CALL = 1024  # batches per compiled call; Ctrl-C lands between calls
_PREDICT_CHUNK = 8192


class _EarlyStoppingState:
    """What ``FashionMLP._end_epoch`` keeps between epochs."""

    def __init__(self):
        self.best_loss, self.best_weights, self.waited = np.inf, None, 0
        self.start = time.perf_counter()


class EpochLoopFashionMLP(FashionMLP):
    """FashionMLP trained by a compiled loop over batches rather than ``model.fit``."""

    def _build_model(self, X_train, sizes, seed):
        mean, scale = input_scaling(X_train)
        steps_per_epoch = int(np.ceil(len(X_train) / self.batch_size))
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
        tf, _ = import_tensorflow()
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
            return _weighted_loss_and_hits(tf, loss, proba, yb)

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

        rng = np.random.default_rng(seed)
        self.history_, self.n_iter_, self.interrupted_ = {}, 0, False
        state = _EarlyStoppingState()
        start_time = time.perf_counter()
        try:
            for _ in range(self.epochs):
                order = rng.permutation(n).astype(np.int32)
                batches = tf.constant(order[: n_full * batch_size].reshape(n_full, batch_size))
                loss_sum, hits = 0.0, 0.0
                for start in range(0, n_full, _STEPS_PER_CALL):
                    stop = min(start + _STEPS_PER_CALL, n_full)
                    chunk_loss, chunk_hits = run_batches(
                        batches, tf.constant(start), tf.constant(stop)
                    )
                    loss_sum, hits = loss_sum + float(chunk_loss), hits + float(chunk_hits)
                if rest:
                    batch_loss, batch_hits = last_batch(tf.constant(order[n_full * batch_size :]))
                    loss_sum, hits = loss_sum + float(batch_loss), hits + float(batch_hits)
                logs = {"loss": loss_sum / n, "accuracy": hits / n}
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
        self.fit_time_ = time.perf_counter() - start_time

    def predict_proba(self, X):
        """Probability of each class for each sample (see FashionMLP.predict_proba)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        proba = np.concatenate(
            [
                np.asarray(self.model_(X[start : start + _PREDICT_CHUNK], training=False))
                for start in range(0, max(len(X), 1), _PREDICT_CHUNK)
            ]
        )[: len(X)].astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)


def _weighted_loss_and_hits(tf, loss, proba, y):
    size = tf.cast(tf.shape(y)[0], tf.float32)
    predicted = tf.argmax(proba, axis=1, output_type=tf.int32)
    hits = tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.float32))
    return loss * size, hits


def _evaluator(tf, model, X_val, y_val, xla, chunk=4096):
    """A function giving this epoch's ``val_loss`` and ``val_accuracy`` as Keras computes them."""
    X_val, y_val = tf.constant(X_val), tf.constant(np.asarray(y_val, dtype=np.int32))

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def chunk_loss_and_hits(xb, yb):
        proba = model(xb, training=False)
        loss = model.compute_loss(y=yb, y_pred=proba, training=False)
        return _weighted_loss_and_hits(tf, loss, proba, yb)

    n = int(X_val.shape[0])

    def evaluate():
        loss_sum, hits = 0.0, 0.0
        for start in range(0, n, chunk):
            loss, chunk_hits = chunk_loss_and_hits(
                X_val[start : start + chunk], y_val[start : start + chunk]
            )
            loss_sum, hits = loss_sum + float(loss), hits + float(chunk_hits)
        return {"val_loss": loss_sum / n, "val_accuracy": hits / n}

    return evaluate
