"""`skfashion train | search | study` on small real slices, and bad input as one line, exit 2."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from skfashion._cli import _param, main

SEARCH = ["search", "--param", "hidden_layer_sizes=8,16+16", "--cv", "2", "--epochs", "1"]
SEARCH += ["--subset-size", "400"]


def _status(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _installed_command():
    command = Path(sys.executable).parent / "skfashion"
    return str(command) if command.exists() else shutil.which("skfashion")


def test_train_prints_epochs_diagnosis_and_test_accuracy(tmp_path, capsys, fashion_test):
    path = tmp_path / "mlp.joblib"
    argv = ["train", "--subset-size", "600", "--epochs", "2", "--units", "16", "--lang", "ja"]
    assert main([*argv, "--save", str(path)]) == 0
    out = capsys.readouterr().out
    sizes = re.search(r"^([\d,]+) images for training, ([\d,]+) for validation$", out, re.M)
    rows = re.findall(r"^ +(\d+) +[0-9.]+\*? ", out, flags=re.MULTILINE)
    assert rows == ["1", "2"]
    assert "最適なエポック数は" in out  # the diagnosis, in Japanese
    printed = float(re.search(r"Test accuracy \(10,000 test images\): ([0-9.]+)", out)[1])

    estimator = joblib.load(path)
    assert estimator.hidden_layer_sizes == (16,) and estimator.n_iter_ == 2
    # the split the estimator made, as printed: 20 % of 600 held out
    assert (int(sizes[1]), int(sizes[2])) == (480, 120)
    assert (estimator.n_train_samples_, estimator.n_validation_samples_) == (480, 120)
    assert estimator.validation_fraction == 0.2 and estimator.random_state == 0
    assert estimator.score(fashion_test.data, fashion_test.target) == pytest.approx(
        printed, abs=5e-5
    )
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.joblib"]  # no temporary file left


@pytest.fixture(scope="module")
def serial_search(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "table.csv"
    default_cache = Path(os.environ["SKFASHION_CACHE"])  # this test session's (conftest.py)
    entries = set(default_cache.glob("*"))
    assert main([*SEARCH, "--no-cache", "--out", str(path)]) == 0
    assert set(default_cache.glob("*")) == entries  # --no-cache keeps nothing
    return pd.read_csv(path)


def test_search_prints_and_saves_the_cv_results_table(serial_search, capsys):
    table = serial_search
    assert sorted(table["hidden_layer_sizes"].astype(str)) == ["16+16", "8"]
    assert sorted(table["rank_test_score"]) == [1, 2]
    assert table["mean_test_score"].is_monotonic_decreasing  # best first
    assert table["gap"].to_numpy() == pytest.approx(
        (table["mean_train_score"] - table["mean_test_score"]).to_numpy()
    )
    assert set(table["verdict"]) <= {"overfitting", "underfitting", "good fit"}
    assert table["mean_test_score"].between(0.1, 1).all()


class Stop(Exception):
    """Raised where a wiring test has seen what it checks, before any training."""


@pytest.fixture
def cluster_calls(monkeypatch):
    """The calls of a stand-in ``skfashion.compute_backend`` (a joblib threading backend),
    recorded in order; a test appends its own."""
    import contextlib

    calls = []

    @contextlib.contextmanager
    def compute_backend(scheduler=None, n_workers=None):
        calls.append(("compute_backend", scheduler, n_workers))
        with joblib.parallel_backend("threading", n_jobs=2):
            yield None

    monkeypatch.setattr("skfashion.compute_backend", compute_backend)
    return calls


def test_search_local_cluster_runs_the_search_inside_compute_backend(
    tmp_path, monkeypatch, cluster_calls
):
    """--local-cluster N opens compute_backend(n_workers=N) and searches inside it with n_jobs=-1.

    Only the command's wiring is checked here: the search command on real Dask workers,
    which keep each finished fit in the cache, is tested in test_dask.py.
    """
    def fit(search, X, y, **kwargs):
        backend, _ = joblib.parallel.get_active_backend()
        cluster_calls.append(("fit", search.n_jobs, type(backend).__name__, len(X)))
        raise Stop

    monkeypatch.setattr("sklearn.model_selection.GridSearchCV.fit", fit)
    with pytest.raises(Stop):
        main([*SEARCH, "--no-cache", "--local-cluster", "2", "--out", str(tmp_path / "t.csv")])
    assert cluster_calls == [("compute_backend", None, 2), ("fit", -1, "ThreadingBackend", 400)]
    assert list(tmp_path.iterdir()) == []


def test_search_cache_options_mirror_the_study_s(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKFASHION_CACHE", str(tmp_path / "default"))
    assert main(SEARCH) == 0
    assert f"0 of 4 fits found in the cache {tmp_path / 'default'}" in capsys.readouterr().out
    assert len(list((tmp_path / "default").glob("*.skfit"))) == 4
    with pytest.raises(SystemExit) as exc:
        main([*SEARCH, "--no-cache", "--cache-dir", str(tmp_path)])
    assert exc.value.code == 2


def test_study_scheduler_runs_models_through_joblib(tmp_path, monkeypatch, cluster_calls):
    """--scheduler opens compute_backend there and runs the study inside it with n_jobs=-1.

    Only the command's wiring is checked here: the study's own runs on a cluster are
    tested with real Dask workers in test_cache.py and test_dask.py.
    """
    def run_study(**kwargs):
        backend, _ = joblib.parallel.get_active_backend()
        cluster_calls.append(("run_study", kwargs["n_jobs"], type(backend).__name__, kwargs["out"]))
        raise Stop

    monkeypatch.setattr("skfashion.study.run_study", run_study)
    out = tmp_path / "report"
    argv = ["study", "--quick", "--models", "smaller,baseline", "--no-progress"]
    with pytest.raises(Stop):
        main([*argv, "--scheduler", "tcp://10.0.0.5:8786", "--out", str(out)])
    assert cluster_calls == [
        ("compute_backend", "tcp://10.0.0.5:8786", None),
        ("run_study", -1, "ThreadingBackend", out),
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("dropout=0,0.5", ("dropout", [0, 0.5])),
        (
            "hidden_layer_sizes=smaller,16+16,(32,32)",
            ("hidden_layer_sizes", ["smaller", (16, 16), (32, 32)]),
        ),
        ("hidden_layer_sizes=16,16;512,512", ("hidden_layer_sizes", [(16, 16), (512, 512)])),
        ("hidden_layer_sizes=128", ("hidden_layer_sizes", [128])),
        ("augment=true,False", ("augment", [True, False])),
        ("learning_rate=1e-3,0.01", ("learning_rate", [0.001, 0.01])),
        ("random_state=none,7", ("random_state", [None, 7])),
        ("optimizer = adam, sgd", ("optimizer", ["adam", "sgd"])),
    ],
)
def test_param_values_are_parsed_sensibly(text, expected):
    name, values = _param(text)
    assert (name, values) == expected
    assert [type(v) for v in values] == [type(v) for v in expected[1]]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["study", "--models", "bigger,huge"], "unknown model name(s) huge"),
        (["search", "--param", "dropout"], "expected NAME=VALUE"),
        (["search", "--param", "hidden_layer_sizes=(16,16"], "cannot read the values"),
        (["search", "--param", "hidden_layer_sizes=16+x"], "cannot read the unit list"),
        (["search", "--param", "hidden_layer_sizes=huge"], "'hidden_layer_sizes' parameter"),
        (["search", "--param", "colour=red"], "unknown parameter 'colour'"),
        (["search", "--param", "dropout=1.5"], "'dropout' parameter of FashionMLP"),
        (["search", "--param", "dropout=0", "--param", "dropout=0.5"], "given twice"),
        (["search", "--param", "dropout=0", "--out", "table.xlsx"], "table format"),
        (["train", "--epochs", "-3"], "expected a positive integer, got '-3'"),
        (["train", "--units", "512,abc"], "expected unit counts"),
        (["train", "--units", "0"], "expected unit counts"),
        (["train", "--preset", "bigger", "--units", "16"], "not allowed with argument"),
        (["train", "--early-stopping", "--validation-fraction", "0"], "no validation data"),
        (["train", "--subset-size", "70000"], "60,000 training images"),
        (["train", "--subset-size", "12"], "too few samples"),
        (["study", "--scheduler", "tcp://x:1", "--local-cluster", "2"], "not both"),
        (["study", "--out", "{file}"], "is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    argv = [arg.replace("{file}", str(a_file)) for arg in argv]
    assert _status(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("skfashion: error: ")
    assert words in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert a_file.read_text() == ""


def test_installed_command_reports_bad_input_without_traceback():
    command = _installed_command()
    assert command, "install the project: pip install -e . --no-deps"
    done = subprocess.run(
        [command, "study", "--models", "huge"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("skfashion: error: argument --models: unknown model name")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
