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
    X_test = X_test if input_dtype == "uint8" else X_test.astype(np.float32) / np.float32(255)
    result = {"fit_s": timer.seconds}
    result.update(
        _time_predictions(
            lambda X: np.argmax(model.predict(X, batch_size=2048, verbose=0), axis=1),
            X_test,
            y_test,
        )
    )
    return result


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
    """A hand-written training loop: Keras layers and Adam, one XLA program per epoch.

    Not ``model.fit``: each epoch is a single compiled ``tf.while_loop`` over
    the batches of a NumPy-seeded permutation (plus one step for a partial last
    batch), tracking loss and accuracy as ``fit`` does. It shows how much of
    ``fit``'s time is per-step overhead rather than arithmetic.
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
    if input_dtype != "uint8":
        X_test = X_test.astype(np.float32) / np.float32(255)
    result = {"fit_s": timer.seconds, "train_accuracy": history[-1][1]}
    result.update(
        _time_predictions(
            lambda X: np.argmax(model.predict(X, batch_size=2048, verbose=0), axis=1),
            X_test,
            y_test,
        )
    )
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
    "best_keras": best_keras,
}
"""The four programs of the head-to-head comparison, in the order they are run."""

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
}
"""Hand-written Keras versions of the course's network tried in search of the fastest."""

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


def run_job(job):
    """Load the data slice a job names, run it, and return its result dict."""
    X_train, y_train, X_test, y_test = load_data(job)
    program = grid_search if job["program"] == "grid_search" else PROGRAMS[job["program"]]
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
    tmp = f"{result_path}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
