"""The programs the benchmark runner times, and the worker that runs one of them.

Every measurement runs in a fresh interpreter (``python benchmarks/contenders.py
JOB RESULT``), so TensorFlow's import, its memory and XLA's compilation caches
never carry over from one contender to the next. The worker loads the real
Fashion-MNIST files, runs the job and writes a JSON result:

- ``fit_s``: seconds from the raw ``uint8`` arrays to a trained model -- the
  ``/ 255`` scaling, model construction and compilation of the hand-written
  programs, and everything inside ``FashionMLP.fit`` (validation, input
  statistics, the network build). Interpreter start, imports and data loading
  are not counted.
- ``test_accuracy`` on the test images, ``predict_first_s`` (first call, with
  whatever tracing or compilation it triggers) and ``predict_s`` (median of
  later calls) for predicting the whole test set.
- ``rss_before_fit_mb`` (after imports and data loading) and ``peak_rss_mb``
  (the process's high-water mark, read from ``/proc/self/status``).

The runner (``run.py``) also reads each worker's peak RSS from the kernel when
it exits, which is the figure it reports.
"""

import contextlib
import functools
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

PREDICT_REPEATS = 5
DATA_FILES = ("X_train", "y_train", "X_test", "y_test")

# ----------------------------------------------------------------------------- helpers


def _proc_status_mb(field):
    """A memory figure (``VmRSS``, ``VmHWM``) of this process in MiB, from /proc."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _keras():
    """TensorFlow and Keras, imported the way a plain program does (start-up noise aside)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf, keras


def _time_predictions(predict, X_test, y_test):
    """First-call latency, warm median time and accuracy of ``predict`` on the test set."""
    start = time.perf_counter()
    y_pred = predict(X_test)
    first = time.perf_counter() - start
    warm = []
    for _ in range(PREDICT_REPEATS):
        start = time.perf_counter()
        predict(X_test)
        warm.append(time.perf_counter() - start)
    return {
        "test_accuracy": float(np.mean(np.asarray(y_pred) == y_test)),
        "predict_first_s": first,
        "predict_s": statistics.median(warm),
    }


class _Timer:
    """Wall-clock seconds of a block; ``_Timer.cpu`` collects its CPU seconds, all threads."""

    cpu = []

    def __enter__(self):
        self.start, self.start_cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        _Timer.cpu.append(time.process_time() - self.start_cpu)


# ----------------------------------------------------------------------------- contenders
# Each takes (X_train, y_train, X_test, y_test, job) with X as uint8 (n, 784) and
# returns a dict with at least fit_s, test_accuracy, predict_first_s and predict_s.


def fashion_mlp(X_train, y_train, X_test, y_test, job):
    """skfashion's FashionMLP with its defaults (plus the job's ``params``)."""
    from skfashion import FashionMLP

    clf = FashionMLP(epochs=job["epochs"], batch_size=job["batch_size"], random_state=job["seed"])
    clf.set_params(**job.get("params", {}))
    with _Timer() as timer:
        clf.fit(X_train, y_train)
    result = {"fit_s": timer.seconds, "n_iter": clf.n_iter_, "fit_time_": clf.fit_time_}
    result.update(_time_predictions(clf.predict, X_test, y_test))
    return result


def course_keras(X_train, y_train, X_test, y_test, job):
    """The course's Keras program as written: float64 input, Flatten, default fit."""
    tf, keras = _keras()
    keras.utils.set_random_seed(job["seed"])  # no effect on speed; repeatable accuracies
    train_images = X_train.reshape(-1, 28, 28)
    test_images = X_test.reshape(-1, 28, 28) / 255.0
    with _Timer() as timer:
        train_images = train_images / 255.0
        with warnings.catch_warnings():  # Keras 3 prefers keras.Input to input_shape=
            warnings.simplefilter("ignore", UserWarning)
            model = keras.Sequential(
                [
                    keras.layers.Flatten(input_shape=(28, 28)),
                    keras.layers.Dense(128, activation="relu"),
                    keras.layers.Dense(10, activation="softmax"),
                ]
            )
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        model.fit(train_images, y_train, epochs=job["epochs"])
    result = {"fit_s": timer.seconds}
    result.update(
        _time_predictions(
            lambda X: np.argmax(model.predict(X, verbose=0), axis=1), test_images, y_test
        )
    )
    return result


def sklearn_mlp(X_train, y_train, X_test, y_test, job):
    """scikit-learn's MLPClassifier((128,), batch_size=32, max_iter=5) on pixels / 255."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(128,),
        batch_size=job["batch_size"],
        max_iter=job["epochs"],
        random_state=job["seed"],
    )
    with _Timer() as timer, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=5 is the point
        clf.fit(X_train / 255.0, y_train)
    result = {"fit_s": timer.seconds, "n_iter": clf.n_iter_}
    result.update(_time_predictions(lambda X: clf.predict(X / 255.0), X_test, y_test))
    return result


def _raw_keras(
    X_train,
    y_train,
    X_test,
    y_test,
    job,
    *,
    input_dtype="float32",
    steps_per_execution=1,
    jit_compile=False,
    pipeline="numpy",
):
    """The course's network hand-written for speed, one knob at a time.

    ``input_dtype="uint8"`` feeds raw pixels and rescales inside the model;
    ``steps_per_execution="epoch"`` runs a whole epoch per call;
    ``pipeline="tf.data"`` feeds a shuffled, batched ``tf.data.Dataset``
    instead of NumPy arrays.
    """
    tf, keras = _keras()
    keras.utils.set_random_seed(job["seed"])
    batch_size = job["batch_size"]
    steps_per_epoch = -(-len(X_train) // batch_size)
    if steps_per_execution == "epoch":
        steps_per_execution = steps_per_epoch
    with _Timer() as timer:
        layers = [keras.Input(shape=(784,), dtype=input_dtype)]
        if input_dtype == "uint8":
            layers.append(keras.layers.Rescaling(1 / 255.0))
            X = X_train
        else:
            X = X_train.astype(np.float32) / np.float32(255)
        model = keras.Sequential(
            layers
            + [
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )
        if pipeline == "tf.data":
            data = (
                tf.data.Dataset.from_tensor_slices((X, y_train.astype(np.int32)))
                .shuffle(len(X), seed=job["seed"], reshuffle_each_iteration=True)
                .batch(batch_size)
                .prefetch(tf.data.AUTOTUNE)
            )
            model.fit(data, epochs=job["epochs"], verbose=0)
        else:
            model.fit(X, y_train, batch_size=batch_size, epochs=job["epochs"], verbose=0)
    result = {"fit_s": timer.seconds}
    result.update(_keras_predictions(model, X_test, y_test, input_dtype))
    return result


def _keras_predictions(model, X_test, y_test, input_dtype):
    """Time ``model.predict`` on the test images, scaled to [0, 1] unless the model takes uint8."""
    if input_dtype != "uint8":
        X_test = X_test.astype(np.float32) / np.float32(255)
    return _time_predictions(
        lambda X: np.argmax(model.predict(X, batch_size=2048, verbose=0), axis=1),
        X_test,
        y_test,
    )


def best_keras(X_train, y_train, X_test, y_test, job):
    """The fastest ``model.fit`` found for the course's network (see VARIANTS)."""
    return _raw_keras(
        X_train,
        y_train,
        X_test,
        y_test,
        job,
        input_dtype="uint8",
        steps_per_execution="epoch",
        jit_compile=True,
        pipeline="numpy",
    )


def keras_epoch_loop(X_train, y_train, X_test, y_test, job, *, input_dtype="float32"):
    """FashionMLP's prototype loop (not independent): Keras layers, Adam, one XLA program an epoch.

    This is the loop that was merged into ``FashionMLP``'s training, so it is
    no independent reference. Not ``model.fit``: each epoch is a single
    compiled ``tf.while_loop`` over the batches of a NumPy-seeded permutation
    (plus one step for a partial last batch), tracking loss and accuracy as
    ``fit`` does. It shows how much of ``fit``'s time is per-step overhead rather than arithmetic.
    """
    tf, keras = _keras()
    keras.utils.set_random_seed(job["seed"])
    batch_size, n = job["batch_size"], len(X_train)
    n_full, rest = divmod(n, batch_size)
    rng = np.random.default_rng(job["seed"])
    with _Timer() as timer:
        if input_dtype == "uint8":
            X = tf.constant(X_train)
            scaling = [keras.Input(shape=(784,), dtype="uint8"), keras.layers.Rescaling(1 / 255)]
        else:
            X = tf.constant(X_train.astype(np.float32) / np.float32(255))
            scaling = [keras.Input(shape=(784,))]
        y = tf.constant(y_train.astype(np.int32))
        model = keras.Sequential(
            scaling
            + [
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        weights = model.trainable_variables
        optimizer = keras.optimizers.Adam()
        optimizer.build(weights)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        def step(indices):
            xb, yb = tf.gather(X, indices), tf.gather(y, indices)
            with tf.GradientTape() as tape:
                proba = model(xb, training=True)
                loss = loss_fn(yb, proba)
            optimizer.apply(tape.gradient(loss, weights), weights)
            correct = tf.reduce_sum(
                tf.cast(tf.argmax(proba, 1, output_type=tf.int32) == yb, "float32")
            )
            return loss * tf.cast(tf.size(yb), "float32"), correct

        @tf.function(jit_compile=True)
        def full_batches(order):
            batches = tf.reshape(order[: n_full * batch_size], (n_full, batch_size))

            def body(i, loss_sum, correct):
                loss, hits = step(batches[i])
                return i + 1, loss_sum + loss, correct + hits

            _, loss_sum, correct = tf.while_loop(
                lambda i, *_: i < n_full, body, (tf.constant(0), 0.0, 0.0)
            )
            return loss_sum, correct

        last_batch = tf.function(step, jit_compile=True)
        history = []
        for _ in range(job["epochs"]):
            order = tf.constant(rng.permutation(n).astype(np.int32))
            loss_sum, correct = full_batches(order)
            if rest:
                loss, hits = last_batch(order[n_full * batch_size :])
                loss_sum, correct = loss_sum + loss, correct + hits
            history.append((float(loss_sum) / n, float(correct) / n))
    result = {"fit_s": timer.seconds, "train_accuracy": history[-1][1]}
    result.update(_keras_predictions(model, X_test, y_test, input_dtype))
    return result


# ----------------------------------------------------------------------------- independent anchors
# Written from each library's own documentation (JAX/optax, the PyTorch performance
# tuning guide, skorch, keras.wrappers, scikeras), not from FashionMLP's code: the
# course's network (784 -> Dense(128, relu) -> Dense(10)), Adam with learning rate
# 1e-3, batches of 32 in a new random order every epoch, on all training images.


def _hidden(job):
    """The job's hidden layer widths; the course's Dense(128) unless it names others."""
    return job.get("params", {}).get("hidden_layer_sizes", [128])


def _batch_plan(n, batch_size):
    """Full batches per epoch and the size of the partial last batch (0 if none)."""
    return divmod(n, batch_size)


def jax_loop(X_train, y_train, X_test, y_test, job, *, unroll=1):
    """Expert JAX: each epoch one ``jax.jit`` program, a ``lax.scan`` over its batches.

    The ``uint8`` images live on the device once; each step gathers its batch
    there and scales it to float32 inside the compiled program. Parameters and
    the optax Adam state are donated to the epoch program, so XLA updates them
    in place. A partial last batch (none at 60,000 images) is one more jitted
    step. ``unroll`` is ``lax.scan``'s: steps per loop iteration (a variant).
    """
    import jax
    import jax.numpy as jnp
    import optax

    batch_size, n = job["batch_size"], len(X_train)
    n_full, rest = _batch_plan(n, batch_size)
    optimizer = optax.adam(1e-3)

    widths = [784, *_hidden(job), 10]

    def forward(params, xb):
        x = xb.astype(jnp.float32) / 255.0
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss_fn(params, xb, yb):
        logits = forward(params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(params, opt_state, X, y, indices):
        loss, grads = jax.value_and_grad(loss_fn)(params, X[indices], y[indices])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def epoch(params, opt_state, X, y, key):
        order = jax.random.permutation(key, n)
        batches = order[: n_full * batch_size].reshape(n_full, batch_size)

        def body(carry, indices):
            params, opt_state = carry
            params, opt_state, loss = step(params, opt_state, X, y, indices)
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            body, (params, opt_state), batches, unroll=unroll
        )
        return params, opt_state, losses.mean(), order[n_full * batch_size :]

    last_step = jax.jit(step, donate_argnums=(0, 1))
    predict = jax.jit(lambda params, X: jnp.argmax(forward(params, X), axis=1))

    with _Timer() as timer:
        key = jax.random.key(job["seed"])
        key, *layer_keys = jax.random.split(key, len(widths))
        glorot = jax.nn.initializers.glorot_uniform()
        params = [
            (glorot(k, (n_in, n_out), jnp.float32), jnp.zeros(n_out, jnp.float32))
            for k, n_in, n_out in zip(layer_keys, widths[:-1], widths[1:], strict=True)
        ]
        opt_state = optimizer.init(params)
        X, y = jax.device_put(X_train), jax.device_put(y_train.astype(np.int32))
        for _ in range(job["epochs"]):
            key, subkey = jax.random.split(key)
            params, opt_state, loss, left = epoch(params, opt_state, X, y, subkey)
            if rest:
                params, opt_state, _ = last_step(params, opt_state, X, y, left)
        jax.block_until_ready(params)
    result = {"fit_s": timer.seconds, "final_epoch_loss": float(loss)}
    X_test_dev = jax.device_put(X_test)
    result.update(
        _time_predictions(lambda Xt: np.asarray(predict(params, X_test_dev)), X_test, y_test)
    )
    return result


def torch_loop(
    X_train, y_train, X_test, y_test, job, *, compile_step=False, fused=True, threads=None
):
    """Expert PyTorch on the CPU, per its performance tuning guide.

    One intra-op thread per usable core, ``uint8`` tensors indexed per batch
    (no ``DataLoader``: the data already sit in memory as one tensor), scaled
    to float32 inside the step, ``zero_grad(set_to_none=True)``, Adam's fused
    CPU kernel, ``torch.inference_mode`` to predict. ``compile_step=True``
    also runs the training step through ``torch.compile``; ``fused=False``
    uses Adam's default (for-each) CPU implementation; ``threads`` overrides
    the thread count (all three measured as variants).
    """
    import torch

    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(job["seed"])
    batch_size, n = job["batch_size"], len(X_train)
    with _Timer() as timer:
        X, y = torch.from_numpy(X_train), torch.from_numpy(y_train.astype(np.int64))
        widths = [784, *_hidden(job), 10]
        layers = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step(xb, yb):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb.float().div_(255.0)), yb)
            loss.backward()
            optimizer.step()
            return loss

        if compile_step:
            step = torch.compile(step)
        generator = torch.Generator().manual_seed(job["seed"])
        model.train()
        for _ in range(job["epochs"]):
            for indices in torch.randperm(n, generator=generator).split(batch_size):
                loss = step(X[indices], y[indices])
    result = {"fit_s": timer.seconds, "final_batch_loss": loss.item()}
    model.eval()

    def predict(Xt):
        with torch.inference_mode():
            return model(torch.from_numpy(Xt).float().div_(255.0)).argmax(1).numpy()

    result.update(_time_predictions(predict, X_test, y_test))
    return result


def skorch_classifier(X_train, y_train, X_test, y_test, job):
    """skorch's ``NeuralNetClassifier`` at its defaults, with the course's settings.

    Its documented pattern: a module ending in softmax with the default
    ``NLLLoss``, float32 input; Adam at 1e-3, batch 32, 5 epochs. Like the
    course, it trains on all images (``train_split=None``; the default holds
    out a fifth for validation) in a new order every epoch
    (``iterator_train__shuffle=True``, as in skorch's examples).
    """
    import torch
    from skorch import NeuralNetClassifier

    torch.manual_seed(job["seed"])

    class CourseNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(784, 128)
            self.output = torch.nn.Linear(128, 10)

        def forward(self, X):
            return torch.softmax(self.output(torch.relu(self.hidden(X))), dim=-1)

    net = NeuralNetClassifier(
        CourseNetwork,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=job["batch_size"],
        max_epochs=job["epochs"],
        train_split=None,
        iterator_train__shuffle=True,
    )
    with _Timer() as timer:
        net.fit(X_train.astype(np.float32) / 255, y_train.astype(np.int64))
    result = {"fit_s": timer.seconds}
    result.update(
        _time_predictions(lambda X: net.predict(X.astype(np.float32) / 255), X_test, y_test)
    )
    return result


def _course_model(n_outputs):
    """The course's network as a Keras model (for the scikit-learn wrappers)."""
    _, keras = _keras()
    return keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(n_outputs, activation="softmax"),
        ]
    )


def keras_sklearn(X_train, y_train, X_test, y_test, job):
    """Keras' own ``keras.wrappers.SKLearnClassifier``, as its documentation shows it.

    A callable builds the compiled model from ``X`` and the one-hot ``y`` the
    wrapper makes (hence ``categorical_crossentropy``); ``fit_kwargs`` gives
    the course's 5 epochs of batch 32; pixels / 255 as in the course.
    """
    _, keras = _keras()
    keras.utils.set_random_seed(job["seed"])

    def build(X, y):
        model = _course_model(y.shape[1])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    clf = keras.wrappers.SKLearnClassifier(
        build, fit_kwargs={"epochs": job["epochs"], "batch_size": job["batch_size"]}
    )
    with _Timer() as timer:
        clf.fit(X_train / 255.0, y_train)
    result = {"fit_s": timer.seconds}
    result.update(_time_predictions(lambda X: clf.predict(X / 255.0), X_test, y_test))
    return result


def scikeras_classifier(X_train, y_train, X_test, y_test, job):
    """scikeras' ``KerasClassifier`` at its defaults, with the course's settings.

    As its quick-start shows: a function returning the uncompiled model, the
    loss and optimizer (Adam, the course's; scikeras' default is RMSprop) as
    wrapper parameters, 5 epochs of batch 32, pixels / 255.
    """
    _, keras = _keras()
    from scikeras.wrappers import KerasClassifier

    def build():  # scikeras compiles it with the loss and optimizer below
        return _course_model(10)

    clf = KerasClassifier(
        build,
        loss="sparse_categorical_crossentropy",
        optimizer="adam",
        epochs=job["epochs"],
        batch_size=job["batch_size"],
        random_state=job["seed"],
    )
    with _Timer() as timer:
        clf.fit(X_train / 255.0, y_train)
    result = {"fit_s": timer.seconds}
    result.update(_time_predictions(lambda X: clf.predict(X / 255.0), X_test, y_test))
    return result


def _variant(**knobs):
    def contender(X_train, y_train, X_test, y_test, job):
        return _raw_keras(X_train, y_train, X_test, y_test, job, **knobs)

    contender.__doc__ = "Hand-written Keras: " + ", ".join(f"{k}={v}" for k, v in knobs.items())
    return contender


CONTENDERS = {
    "fashion_mlp": fashion_mlp,
    "course_keras": course_keras,
    "sklearn_mlp": sklearn_mlp,
    "skorch": skorch_classifier,
    "keras_sklearn": keras_sklearn,
    "scikeras": scikeras_classifier,
    "jax_loop": jax_loop,
    "torch_loop": torch_loop,
    "best_keras": best_keras,
}
"""The programs of the head-to-head comparison."""

VARIANTS = {
    "keras_f32": _variant(),
    "keras_f32_spe128": _variant(steps_per_execution=128),
    "keras_f32_spe128_xla": _variant(steps_per_execution=128, jit_compile=True),
    "keras_f32_spe_epoch_xla": _variant(steps_per_execution="epoch", jit_compile=True),
    "keras_tfdata_spe_epoch_xla": _variant(
        steps_per_execution="epoch", jit_compile=True, pipeline="tf.data"
    ),
    "keras_uint8_spe_epoch_xla": _variant(
        input_dtype="uint8", steps_per_execution="epoch", jit_compile=True
    ),
    "keras_epoch_loop": keras_epoch_loop,
    "keras_epoch_loop_uint8": functools.partial(keras_epoch_loop, input_dtype="uint8"),
    "jax_loop_unroll8": functools.partial(jax_loop, unroll=8),
    "torch_loop_compiled": functools.partial(torch_loop, compile_step=True),
    "torch_loop_foreach_adam": functools.partial(torch_loop, fused=False),
    "torch_loop_1thread": functools.partial(torch_loop, threads=1),
}
"""Versions of the course's network tried in search of the fastest Keras and PyTorch."""

PROGRAMS = {**CONTENDERS, **VARIANTS}


# ----------------------------------------------------------------------------- other jobs


def grid_search(X_train, y_train, X_test, y_test, job):
    """GridSearchCV over FashionMLP network sizes and dropout rates, end to end."""
    from sklearn.model_selection import GridSearchCV

    from skfashion import FashionMLP

    estimator = FashionMLP(
        epochs=job["epochs"], batch_size=job["batch_size"], random_state=job["seed"]
    )
    search = GridSearchCV(estimator, job["param_grid"], cv=job["cv"], n_jobs=1)
    with _Timer() as timer:
        search.fit(X_train, y_train)
    best = search.best_params_
    result = {
        "fit_s": timer.seconds,
        "n_fits": len(search.cv_results_["params"]) * job["cv"] + 1,
        "best_params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in best.items()},
        "best_cv_accuracy": float(search.best_score_),
    }
    result.update(_time_predictions(search.predict, X_test, y_test))
    return result


def _fit_seeds(params, seeds, X_train, y_train):
    """Fitted FashionMLPs of one network, one per seed: separate fits, as the study does today.

    Where skfashion comes to offer a way to train several seeds at once, this is
    the place to use it; the runner's seeds table then shows what it saves.
    """
    from skfashion import FashionMLP

    return [FashionMLP(**params, random_state=seed).fit(X_train, y_train) for seed in seeds]


def fashion_mlp_seeds(X_train, y_train, X_test, y_test, job):
    """``n_seeds`` fits of one FashionMLP network in one process, timed together."""
    params = {"epochs": job["epochs"], "batch_size": job["batch_size"], **job.get("params", {})}
    seeds = [job["seed"] * 1000 + i for i in range(job["n_seeds"])]
    with _Timer() as timer:
        models = _fit_seeds(params, seeds, X_train, y_train)
    accuracies = [float(np.mean(model.predict(X_test) == y_test)) for model in models[1:]]
    result = {"fit_s": timer.seconds, "n_models": len(models)}
    result.update(_time_predictions(models[0].predict, X_test, y_test))
    result["seed_accuracies"] = [result["test_accuracy"], *accuracies]
    result["test_accuracy"] = statistics.median(result["seed_accuracies"])
    return result


def load_data(job):
    """The job's training and test slices of the real Fashion-MNIST data.

    From the ``.npy`` copies the runner saves once per run (``job["data_dir"]``),
    or else straight from the verified files.
    """
    if job.get("data_dir"):
        arrays = [np.load(Path(job["data_dir"], f"{name}.npy")) for name in DATA_FILES]
    else:
        from skfashion import fetch_fashion_mnist

        train = fetch_fashion_mnist(subset="train")
        test = fetch_fashion_mnist(subset="test")
        arrays = [train.data, train.target, test.data, test.target]
    X_train, y_train, X_test, y_test = arrays
    n_train, n_test = job["n_train"], job["n_test"]
    return X_train[:n_train], y_train[:n_train], X_test[:n_test], y_test[:n_test]


def save_data(folder):
    """Save the verified data as ``.npy`` files in ``folder`` for :func:`load_data`."""
    from skfashion import fetch_fashion_mnist

    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    for name, array in zip(
        DATA_FILES, (train.data, train.target, test.data, test.target), strict=True
    ):
        np.save(Path(folder, f"{name}.npy"), array)


JOBS = {"grid_search": grid_search, "fashion_mlp_seeds": fashion_mlp_seeds}
"""Programs of the scaling tables beyond the head-to-head ones."""


def run_job(job):
    """Load the data slice a job names, run it, and return its result dict."""
    program = {**PROGRAMS, **JOBS}[job["program"]]  # an unknown program fails before any work
    X_train, y_train, X_test, y_test = load_data(job)
    rss_before = _proc_status_mb("VmRSS")
    result = program(X_train, y_train, X_test, y_test, job)
    # CPU seconds of the timed block: against fit_s, shows how many cores it kept
    # busy and how much a busy machine stretched the wall-clock time.
    result["fit_cpu_s"] = _Timer.cpu[0]
    result["rss_before_fit_mb"] = rss_before
    result["peak_rss_mb"] = _proc_status_mb("VmHWM")
    return result


def main(argv=None):
    """Worker entry point: ``contenders.py JOB_JSON RESULT_PATH``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: contenders.py JOB_JSON RESULT_PATH", file=sys.stderr)
        return 2
    job, result_path = json.loads(argv[0]), argv[1]
    # The course program prints Keras' progress bar as a notebook would; keep it
    # (it is part of what that program costs) but away from the runner's stdout.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        result = run_job(job)
    from skfashion._files import write_text  # after the run: no part of its memory

    write_text(result_path, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
