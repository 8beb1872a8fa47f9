"""The cache of finished fits: keys, checks of what it reads, atomic and concurrent writes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, ParameterGrid

import skfashion
from skfashion import FashionMLP, _cache, _environment
from skfashion._cache import ResultCache, fit_key, training_code_fingerprint
from skfashion._search_cache import CachingFashionMLP

ROOT = Path(__file__).resolve().parents[1]
KEY = "0123456789abcdef" * 4


@pytest.fixture
def results(small_xy):
    X, _ = small_xy
    proba = np.random.default_rng(0).random((50, 10), dtype=np.float32)
    return {
        "history": {"loss": [2.25, 1.5, 1.125], "val_accuracy": [0.5, 0.625, float("nan")]},
        "fit_time": 1.2345678901234567,
        "params": {"hidden_layer_sizes": [16, 16], "dropout": 0.5},
        "proba": proba,
        "pixels": X[:3],
    }


def _assert_same(got, expected):
    assert set(got) == set(expected)
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype
            np.testing.assert_array_equal(got[name], value)
        else:  # NaN == NaN for the comparison through JSON text
            assert json.dumps(got[name]) == json.dumps(value)


def test_an_entry_comes_back_exactly(tmp_path, results):
    cache = ResultCache(tmp_path / "new" / "cache")
    assert cache.get(KEY) is None and not cache.folder.exists()
    cache.put(KEY, results)
    _assert_same(ResultCache(cache.folder).get(KEY), results)
    assert [p.name for p in cache.folder.iterdir()] == [f"{KEY}.skfit"]
    assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
    assert cache.clear() == 1 and cache.get(KEY) is None


def _damage(path, how):
    content = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif how == "flipped byte":
        content[-100] ^= 0x01
        path.write_bytes(bytes(content))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "not an entry":
        path.write_bytes(b"PK\x03\x04" + bytes(content[4:]))


@pytest.mark.parametrize("how", ["truncated", "flipped byte", "empty", "not an entry"])
def test_a_damaged_entry_is_rejected_never_trusted(tmp_path, results, how):
    cache = ResultCache(tmp_path)
    cache.put(KEY, results)
    _damage(cache.path(KEY), how)
    with pytest.warns(UserWarning, match=f"Ignoring the damaged cache entry {cache.path(KEY)}"):
        assert cache.get(KEY) is None
    assert cache.rejected == [cache.path(KEY)] and cache.hits == 0
    cache.put(KEY, results)  # trained again: the new entry replaces the damaged one
    _assert_same(cache.get(KEY), results)


def test_an_entry_under_another_key_is_rejected(tmp_path, results):
    cache = ResultCache(tmp_path)
    cache.put(KEY, results)
    other = "f" * 64
    shutil.copy(cache.path(KEY), cache.path(other))
    with pytest.warns(UserWarning, match="belongs to another key"):
        assert cache.get(other) is None


def test_python_objects_are_refused(tmp_path):
    cache = ResultCache(tmp_path)
    with pytest.raises(TypeError, match="Python objects"):
        cache.put(KEY, {"model": np.array([object()])})
    with pytest.raises(TypeError, match="cannot put"):
        cache.put(KEY, {"model": object()})
    assert len(cache) == 0
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        cache.get("../../etc/passwd")


WRITER = textwrap.dedent(
    """
    import sys
    import warnings
    import numpy as np
    from skfashion._cache import ResultCache

    warnings.simplefilter("error")
    cache, key = ResultCache(sys.argv[1]), sys.argv[2]
    results = {"proba": np.arange(50_000, dtype=np.float32), "history": {"loss": [1.0, 0.5]}}
    seen = 0
    for _ in range(20):
        cache.put(key, results)
        got = cache.get(key)
        np.testing.assert_array_equal(got["proba"], results["proba"])
        seen += 1
    print(seen)
    """
)


def test_two_runs_writing_and_reading_the_same_entries_at_once(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), KEY],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-1000:] for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["20", "20"]  # every read was whole
    assert [p.name for p in tmp_path.iterdir()] == [f"{KEY}.skfit"]  # no temporary file left


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path):
    # A file size limit makes the write fail as a full disk would, part-way through.
    script = textwrap.dedent(
        """
        import resource, signal, sys
        import numpy as np
        from skfashion._cache import ResultCache

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            ResultCache(sys.argv[1]).put("a" * 64, {"proba": np.zeros(1_000_000)})
        except OSError as exc:
            print(exc.strerror)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"Cannot write {tmp_path / ('a' * 64 + '.skfit')}: ")
    assert list(tmp_path.iterdir()) == []


def test_the_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SKFASHION_CACHE", str(tmp_path / "mine"))
    assert ResultCache().folder == tmp_path / "mine"
    monkeypatch.delenv("SKFASHION_CACHE")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))
    assert ResultCache().folder == tmp_path / "sklearn" / "skfashion_cache"


def test_the_key_changes_with_each_ingredient(monkeypatch, small_xy):
    X, y = small_xy
    params = {"hidden_layer_sizes": (16, 16), "dropout": 0.5, "epochs": 5}
    base = fit_key(params, 0, X, y, extra={"predict": "test"})
    assert base == fit_key(
        dict(reversed(params.items())), 0, X.copy(), y.copy(), extra={"predict": "test"}
    )
    X_changed = X.copy()
    X_changed[123, 456] ^= 1
    variants = {
        "a parameter": fit_key({**params, "dropout": 0.2}, 0, X, y, extra={"predict": "test"}),
        "the seed": fit_key(params, 1, X, y, extra={"predict": "test"}),
        "one pixel": fit_key(params, 0, X_changed, y, extra={"predict": "test"}),
        "a label": fit_key(params, 0, X, np.roll(y, 1), extra={"predict": "test"}),
        "fewer rows": fit_key(params, 0, X[:-1], y[:-1], extra={"predict": "test"}),
        "the dtype": fit_key(params, 0, X.astype(np.float32), y, extra={"predict": "test"}),
        "the arrays' order": fit_key(params, 0, y, X, extra={"predict": "test"}),
        "extra": fit_key(params, 0, X, y, extra={"predict": "train"}),
    }
    real_versions = _environment.package_versions
    for package in ("tensorflow", "keras", "numpy"):

        def versions(packages, package=package):
            return {**real_versions(packages), package: "0.0.1"}

        monkeypatch.setattr(_environment, "package_versions", versions)
        variants[package] = fit_key(params, 0, X, y, extra={"predict": "test"})
    monkeypatch.setattr(_environment, "package_versions", real_versions)
    monkeypatch.setattr(skfashion, "__version__", "9.9.9")
    variants["skfashion"] = fit_key(params, 0, X, y, extra={"predict": "test"})
    monkeypatch.undo()
    monkeypatch.setattr(_cache, "training_code_fingerprint", lambda: "0" * 64)
    variants["the training code"] = fit_key(params, 0, X, y, extra={"predict": "test"})
    monkeypatch.undo()

    assert fit_key(params, 0, X, y, extra={"predict": "test"}) == base
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants), variants


def test_the_code_fingerprint_follows_the_training_modules(tmp_path):
    package = tmp_path / "skfashion"
    shutil.copytree(Path(skfashion.__file__).parent, package)
    assert training_code_fingerprint(package) == training_code_fingerprint()
    (package / "_cli.py").write_text("# the command line cannot change a fit\n")
    assert training_code_fingerprint(package) == training_code_fingerprint()
    for changed in ("_estimator.py", "_network.py"):
        text = (package / changed).read_text()
        (package / changed).write_text(text + "\n# changed\n")
        assert training_code_fingerprint(package) != training_code_fingerprint()
        (package / changed).write_text(text)
    (package / "_training_loop.py").write_text("STEPS = 1\n")  # a module added later counts
    assert training_code_fingerprint(package) != training_code_fingerprint()


def test_a_fitted_estimator_comes_back_from_its_entry(tmp_path, small_xy):
    from skfashion import FashionMLP, report

    X, y = small_xy
    params = {"hidden_layer_sizes": (8,), "epochs": 2, "validation_fraction": 0.25}
    estimator = FashionMLP(**params, random_state=0, verbose=0)
    data = (X[:400], y[:400], X[400:])
    cache = _cache.open_cache(tmp_path)
    key, found = _cache.cached_fit(cache, estimator, *data)
    assert found is None and cache.misses == 1 and len(cache) == 0
    assert key == _cache.cached_fit(cache, estimator.set_params(verbose=1), *data)[0]
    assert key != _cache.cached_fit(cache, estimator.set_params(random_state=1), *data)[0]
    assert _cache.cached_fit(None, estimator, *data) == (None, None)
    for unrepeatable in (None, np.random.RandomState(0)):
        estimator.set_params(random_state=unrepeatable)
        assert _cache.cached_fit(cache, estimator, *data) == (None, None)
    fitted = FashionMLP(**params, random_state=0).fit(X[:400], y[:400])
    proba = fitted.predict_proba(X[400:])
    _cache.keep_fit(cache, key, fitted, proba)

    _, (restored, cached_proba) = _cache.cached_fit(
        cache, FashionMLP(**params, random_state=0), *data
    )
    np.testing.assert_array_equal(cached_proba, proba)
    assert restored.history_ == fitted.history_ and restored.fit_time_ == fitted.fit_time_
    np.testing.assert_array_equal(restored.classes_, fitted.classes_)
    assert not hasattr(restored, "model_")  # the network itself is not kept
    assert report.diagnose(restored) == report.diagnose(fitted)
    assert _cache.open_cache(False) is None and _cache.open_cache(True).folder == (
        _cache.default_folder()
    )


# ---------------------------------------------------------------- a study resumes after Ctrl-C

CLI = "import sys; from skfashion._cli import main; sys.exit(main(sys.argv[1:]))"
STUDY_MODELS = ["tutorial", "smaller", "baseline", "bigger"]
STUDY = ["study", "--quick", "--models", ",".join(STUDY_MODELS), "--no-progress"]


def _command(tmp_path, argv, out, *options):
    """``skfashion ARGV --out tmp_path/OUT OPTIONS`` started in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), SKFASHION_CACHE=str(tmp_path / "default"))
    command = [sys.executable, "-c", CLI, *argv, "--out", str(tmp_path / out), *options]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _study(tmp_path, out, *options):
    return _command(tmp_path, STUDY, out, *options)


def _finish(run):
    out, err = run.communicate(timeout=900)
    return run.returncode, out, err


def _entries(cache):
    return {path.name: path.stat().st_ino for path in cache.glob("*.skfit")}


def _report(folder):
    """The report's words and tables, run time, date and training times aside."""
    skip = ("Run time", "Training time", "| Date", "Date:")
    words = [
        line
        for line in (folder / "report.md").read_text().splitlines()
        if not any(mark in line for mark in skip)
    ]
    tables = {}
    for path in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(path)
        tables[path.name] = frame.drop(columns=["fit_time_s"], errors="ignore")
    return words, tables


def _assert_same_report(folder, expected_folder):
    words, tables = _report(folder)
    expected_words, expected_tables = _report(expected_folder)
    assert words == expected_words
    assert tables.keys() == expected_tables.keys() and len(tables) >= 3
    for name, frame in expected_tables.items():
        pd.testing.assert_frame_equal(tables[name], frame, check_exact=True, obj=name)


@pytest.mark.slow
def test_an_interrupted_study_trains_only_the_missing_models_when_run_again(tmp_path):
    cache = tmp_path / "cache"
    status, _, err = _finish(_study(tmp_path, "reference", "--no-cache"))
    assert status == 0, err[-3000:]
    assert not (tmp_path / "default").exists()  # --no-cache keeps nothing

    # Ctrl-C once two models are in the cache: the third is training then.
    run = _study(tmp_path, "resumed", "--cache-dir", str(cache))
    while len(_entries(cache)) < 2 and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    status, _, err = _finish(run)
    kept = _entries(cache)
    assert status == 130, err[-3000:]
    assert 2 <= len(kept) < len(STUDY_MODELS) and not (tmp_path / "resumed").exists()

    status, _, err = _finish(_study(tmp_path, "resumed", "--cache-dir", str(cache)))
    assert status == 0, err[-3000:]
    entries = _entries(cache)
    assert len(entries) == len(STUDY_MODELS)
    assert {name: entries[name] for name in kept} == kept  # taken, not trained again
    _assert_same_report(tmp_path / "resumed", tmp_path / "reference")

    # A damaged entry is never trusted: its model trains again, the others do not.
    damaged = sorted(kept)[0]
    (cache / damaged).write_bytes((cache / damaged).read_bytes()[:-1000])
    status, _, err = _finish(_study(tmp_path, "again", "--cache-dir", str(cache)))
    assert status == 0, err[-3000:]
    assert f"Ignoring the damaged cache entry {cache / damaged}" in err
    again = _entries(cache)
    assert again.keys() == entries.keys() and again[damaged] != entries[damaged]
    assert {n: i for n, i in again.items() if n != damaged} == {
        n: i for n, i in entries.items() if n != damaged
    }
    assert ResultCache(cache).get(damaged.removesuffix(".skfit")) is not None
    _assert_same_report(tmp_path / "again", tmp_path / "reference")


# ---------------------------------------------------------------- a search resumes after Ctrl-C

# Candidates that differ in their seed only share compiled programs: a quick search.
SEARCH_GRID = {"random_state": [0, 1]}
TIMINGS = ["mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"]


def _grid_search(estimator, X, y):
    search = GridSearchCV(
        estimator, SEARCH_GRID, cv=2, return_train_score=True, refit=False, error_score="raise"
    )
    return search.fit(X, y)


def _assert_same_cv_results(got, expected):
    """Equal in every column but the timings, bit for bit."""
    got, expected = pd.DataFrame(got.cv_results_), pd.DataFrame(expected.cv_results_)
    assert set(TIMINGS) < set(expected.columns) and got.columns.equals(expected.columns)
    pd.testing.assert_frame_equal(
        got.drop(columns=TIMINGS), expected.drop(columns=TIMINGS), check_exact=True
    )


@pytest.fixture
def trained(monkeypatch):
    """The fits that trained a network (not taken from a cache), as their seeds."""
    calls = []
    real_fit = FashionMLP._fit

    def counting_fit(self, *args, **kwargs):
        calls.append(self.random_state)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(FashionMLP, "_fit", counting_fit)
    return calls


def _ctrl_c_once(monkeypatch, cache, n_kept):
    """Ctrl-C in the first epoch that starts once ``cache`` holds ``n_kept`` entries."""
    from skfashion import _training

    real_epoch = _training.run_single_epoch

    def epoch(*args, **kwargs):
        if len(cache) == n_kept:
            monkeypatch.setattr(_training, "run_single_epoch", real_epoch)
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(_training, "run_single_epoch", epoch)


def test_an_interrupted_search_trains_only_the_missing_fits_when_run_again(
    tmp_path, small_xy, monkeypatch, trained
):
    X, y = small_xy[0][:240], small_xy[1][:240]
    settings = {"hidden_layer_sizes": (8,), "epochs": 1}
    reference = _grid_search(FashionMLP(**settings), X, y)
    fits = [p["random_state"] for p in ParameterGrid(SEARCH_GRID) for _ in range(2)]
    assert trained == fits and len(fits) == 4  # scikit-learn's order: candidates x folds
    cache = ResultCache(tmp_path / "cache")
    estimator = CachingFashionMLP(**settings, cache=str(cache.folder))

    trained.clear()
    _ctrl_c_once(monkeypatch, cache, n_kept=1)
    with pytest.raises(KeyboardInterrupt):
        _grid_search(estimator, X, y)
    assert trained == fits[:2] and len(cache) == 1  # the 2nd fit, interrupted, is not kept
    kept = _entries(cache.folder)

    trained.clear()
    resumed = _grid_search(estimator, X, y)
    assert trained == fits[1:]  # the interrupted fit and those after it
    _assert_same_cv_results(resumed, reference)
    entries = _entries(cache.folder)
    assert len(entries) == 4 and {name: entries[name] for name in kept} == kept

    # A damaged entry is noticed, warned about and trained again; the others are taken.
    damaged = cache.folder / sorted(kept)[0]
    damaged.write_bytes(damaged.read_bytes()[:-500])
    trained.clear()
    with pytest.warns(UserWarning, match=f"Ignoring the damaged cache entry {damaged}"):
        again = _grid_search(estimator, X, y)
    assert len(trained) == 1
    _assert_same_cv_results(again, reference)
    assert _entries(cache.folder)[damaged.name] != entries[damaged.name]


def test_a_kept_fit_comes_back_whole_and_trains_on_the_same(tmp_path, small_xy):
    X, y = small_xy
    settings = {"hidden_layer_sizes": (8,), "dropout": 0.25, "validation_fraction": 0.25}
    estimator = CachingFashionMLP(**settings, epochs=1, random_state=0, cache=str(tmp_path))
    assert set(estimator.get_params()) == set(FashionMLP().get_params()) | {"cache"}
    assert clone(estimator).get_params() == estimator.get_params()
    trained = clone(estimator).fit(X, y)
    restored = clone(estimator).set_params(verbose=1, cache=str(tmp_path)).fit(X, y)
    assert len(ResultCache(tmp_path)) == 1  # verbose and the folder are not part of the key
    assert not hasattr(restored, "_parent_callback_ctx")

    assert sorted(vars(restored)) == sorted(vars(trained))
    assert restored.history_ == trained.history_ and restored.fit_time_ == trained.fit_time_
    np.testing.assert_array_equal(restored.predict_proba(X), trained.predict_proba(X))
    # A warm start goes on from the same weights, optimizer, dropout and batch-order streams.
    for fitted in (trained, restored):
        fitted.set_params(warm_start=True).fit(X, y)
    assert restored.history_ == trained.history_ and len(trained.history_["loss"]) == 2
    np.testing.assert_array_equal(restored.predict_proba(X), trained.predict_proba(X))
    assert len(ResultCache(tmp_path)) == 1  # a warm continuation is never kept


def test_a_search_fit_key_covers_sample_weights_and_refuses_objects(small_xy):
    X, y = small_xy
    estimator = CachingFashionMLP(random_state=0)
    weights = np.ones(len(y))
    key = _cache.search_fit_key(estimator, X, y)
    assert key == _cache.search_fit_key(clone(estimator).set_params(cache="elsewhere"), X, y)
    weighted = _cache.search_fit_key(estimator, X, y, weights)
    assert weighted not in (key, _cache.search_fit_key(estimator, X, y, weights * 2))
    assert _cache.search_fit_key(estimator, X, y.astype(object)) is None
    assert _cache.search_fit_key(estimator, [[1, 2], [3]], [0, 1]) is None  # ragged
    assert _cache.search_fit_key(clone(estimator).set_params(random_state=None), X, y) is None
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    assert _cache.search_fit_key(estimator, frame, y) != _cache.search_fit_key(
        estimator, frame.set_axis(["a", "b", "d"], axis=1), y
    )


# ---------------------------------------------------------------- the search command resumes

SEARCH = [
    *("search", "--param", "hidden_layer_sizes=smaller,baseline", "--param", "dropout=0,0.2"),
    *("--cv", "3", "--epochs", "3", "--subset-size", "1500"),
]  # 4 candidates x 3 folds


def _search_command(tmp_path, table, *options):
    return _command(tmp_path, SEARCH, table, *options)


def _table(path):
    return pd.read_csv(path).drop(columns="mean_fit_time")


@pytest.mark.slow
def test_an_interrupted_search_command_trains_only_the_missing_fits_when_run_again(tmp_path):
    cache = tmp_path / "cache"
    status, _, err = _finish(_search_command(tmp_path, "reference.csv", "--no-cache"))
    assert status == 0, err[-3000:]
    assert not (tmp_path / "default").exists()

    # Ctrl-C once 5 of the 12 fits are in the cache.
    run = _search_command(tmp_path, "resumed.csv", "--cache-dir", str(cache))
    while len(_entries(cache)) < 5 and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    status, out, err = _finish(run)
    kept = _entries(cache)
    assert status == 130 and err.strip().endswith("skfashion: interrupted"), err[-3000:]
    assert "0 of 12 fits found" in out and 5 <= len(kept) < 12
    assert not (tmp_path / "resumed.csv").exists()

    status, out, err = _finish(_search_command(tmp_path, "resumed.csv", "--cache-dir", str(cache)))
    assert status == 0, err[-3000:]
    assert f"{len(kept)} of 12 fits found in the cache {cache}; {12 - len(kept)} to train" in out
    entries = _entries(cache)
    assert len(entries) == 12 and {name: entries[name] for name in kept} == kept
    reference = _table(tmp_path / "reference.csv")
    pd.testing.assert_frame_equal(_table(tmp_path / "resumed.csv"), reference, check_exact=True)
    assert reference["mean_test_score"].min() > 0.2  # learned: chance is 0.1


def test_a_fit_whose_state_cannot_be_kept_warns_and_is_not_kept(tmp_path, small_xy, monkeypatch):
    from skfashion import _search_cache

    def refuse(estimator, before):
        raise TypeError("cannot keep Widget in a cache entry")

    monkeypatch.setattr(_search_cache, "fitted_state", refuse)
    X, y = small_xy[0][:100], small_xy[1][:100]
    estimator = CachingFashionMLP(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="not kept in the cache: cannot keep Widget"):
        fitted = estimator.set_params(cache=str(tmp_path)).fit(X, y)
    assert fitted.n_iter_ == 1 and len(ResultCache(tmp_path)) == 0
