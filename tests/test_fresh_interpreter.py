"""What a user's own script sees in a fresh Python interpreter, checked in one such interpreter.

Importing TensorFlow costs some 9 CPU seconds on a small machine, so the checks that need
a fresh interpreter (nothing imported by other tests, TensorFlow's start-up output not yet
printed) share one: the script below runs them in order, each phase ending with a marker
on both output streams, and the tests read their phase's output and results.

1. TensorFlow starts during a quiet fit: no start-up noise; a verbose fit prints its epochs.
2. Pickle, joblib, deepcopy and cloudpickle round trips of a fitted classifier, with
   scikeras never imported (it patches ``keras.Model.__reduce__`` globally, so a test
   process that imported it could not tell whether skfashion's own mechanism works).
3. A local Dask cluster started by a script that imported TensorFlow first: the spawned
   worker re-imports the script, TensorFlow included, before the worker exists; its
   threads must still follow the worker's.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import copy, io, json, pickle, sys
    import cloudpickle, joblib, numpy as np
    from sklearn.base import clone
    from skfashion import FashionMLP, fetch_fashion_mnist
    from skfashion._parallel import compute_backend


    def marker(phase):
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"--- {phase}", flush=True)
        print(f"--- {phase}", file=sys.stderr, flush=True)


    def joblib_round_trip(estimator):
        buffer = io.BytesIO()
        joblib.dump(estimator, buffer)
        buffer.seek(0)
        return joblib.load(buffer)


    def round_trips(X, y):
        clf = FashionMLP(hidden_layer_sizes=(16,), dropout=0.2, epochs=2,
                         validation_fraction=0.2, random_state=0).fit(X[:300], y[:300])
        expected = clf.predict_proba(X[300:400])
        copies = {
            "pickle": pickle.loads(pickle.dumps(clf)),
            "joblib": joblib_round_trip(clf),
            "deepcopy": copy.deepcopy(clf),
            "cloudpickle": cloudpickle.loads(cloudpickle.dumps(clf)),
        }
        result = {
            name: {
                "same_proba": bool(np.array_equal(other.predict_proba(X[300:400]), expected)),
                "same_history": other.history_ == clf.history_,
                "optimizer_steps": int(other.model_.optimizer.iterations),
                "same_optimizer_state": all(
                    np.array_equal(a, b) for a, b in zip(
                        [v.numpy() for v in other.model_.optimizer.variables],
                        [v.numpy() for v in clf.model_.optimizer.variables], strict=True)),
                "own_network": other.model_ is not clf.model_,
            }
            for name, other in copies.items()
        }
        result["clone_unfitted"] = not hasattr(clone(clf), "model_")
        result["steps"] = int(clf.model_.optimizer.iterations)
        return result


    def threads(estimator):
        import tensorflow as tf
        return [tf.config.threading.get_intra_op_parallelism_threads(),
                tf.config.threading.get_inter_op_parallelism_threads()]


    if __name__ == "__main__":
        X, y = fetch_fashion_mnist(return_X_y=True)
        for verbose in (0, 1):
            FashionMLP(hidden_layer_sizes=(8,), epochs=2, verbose=verbose,
                       validation_fraction=0.2, random_state=0).fit(X[:300], y[:300])
            marker(f"fitted with verbose={verbose}")
        results = {"round_trips": round_trips(X, y)}
        results["scikeras_imported"] = "scikeras" in sys.modules
        marker("round trips")
        with compute_backend(n_workers=1) as client:
            before = client.run(lambda: __import__("sys").modules.get("tensorflow") is not None)
            after = client.submit(threads, FashionMLP(), pure=False).result()
        results["dask"] = {"imported_at_start": list(before.values()), "threads": after}
        marker("dask")
        with open(sys.argv[1], "w") as file:
            json.dump(results, file)
    """
)
PHASES = ["fitted with verbose=0", "fitted with verbose=1", "round trips", "dask"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The script's results and, per phase, what it wrote to stdout and stderr."""
    folder = tmp_path_factory.mktemp("fresh")
    script, results = folder / "user_script.py", folder / "results.json"
    script.write_text(SCRIPT)
    # As a user's shell has it: no TensorFlow logging settings, no skfashion thread count.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_", "SKFASHION_TF", "SKFASHION_THREADS"))}
    done = subprocess.run([sys.executable, str(script), str(results)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    streams = {}
    for name, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        parts = re.split(r"^--- (.+)\n", text, flags=re.MULTILINE)
        assert parts[1::2] == PHASES, (name, parts[1::2])
        streams[name] = dict(zip(PHASES, parts[0::2], strict=False))
    return json.loads(results.read_text()), streams


def test_tensorflow_start_up_noise_is_hidden_and_verbose_prints_epochs(fresh):
    _, streams = fresh
    # TensorFlow is imported and started during the first, quiet fit: nothing is printed.
    for phase in ("fitted with verbose=0", "fitted with verbose=1", "round trips"):
        assert streams["stderr"][phase] == "", phase
    assert streams["stdout"]["fitted with verbose=0"] == ""
    chatty = streams["stdout"]["fitted with verbose=1"]
    rows = [line for line in chatty.splitlines() if re.match(r"\s+\d+\s", line)]
    assert [int(row.split()[0]) for row in rows] == [1, 2]
    assert "val_accuracy" in chatty


def test_pickle_joblib_deepcopy_and_cloudpickle_without_scikeras(fresh):
    results, streams = fresh
    assert results["scikeras_imported"] is False
    assert streams["stdout"]["round trips"] == ""
    result = dict(results["round_trips"])
    assert result.pop("clone_unfitted") is True
    steps = result.pop("steps")
    assert steps == 2 * 8  # 240 training images in batches of 32, two epochs
    assert sorted(result) == ["cloudpickle", "deepcopy", "joblib", "pickle"]
    for name, facts in result.items():
        assert facts == {"same_proba": True, "same_history": True, "optimizer_steps": steps,
                         "same_optimizer_state": True, "own_network": True}, name


def test_dask_threads_are_set_when_the_script_imported_tensorflow_first(fresh):
    results, _ = fresh
    assert results["dask"] == {"imported_at_start": [True], "threads": [1, 1]}
