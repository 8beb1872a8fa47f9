"""The benchmark runner: it runs end to end and what it writes is consistent (not the timings)."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RUNNER = BENCHMARKS / "run.py"


def _module(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _module("run")


def _smoke(out, *only):
    return subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--repeats", "1", "--out", str(out)]
        + [arg for section in only for arg in ("--only", section)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def contenders_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_contenders")
    return _smoke(out, "contenders"), out


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_scaling")
    return _smoke(out, "units", "sizes,grid"), out


def _report(out):
    return json.loads((out / "performance.json").read_text())


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow  # a whole benchmark run: a process per contender
def test_quick_contenders_run_is_small_and_succeeds(contenders_run):
    proc, out = contenders_run
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["performance.json", "performance.md"]


@pytest.mark.slow  # a whole benchmark run: a process per contender
def test_quick_contenders_json(run, contenders_run):
    _, out = contenders_run
    report = _report(out)
    assert report["schema_version"] == run.SCHEMA_VERSION
    assert report["settings"]["quick"] is True
    assert report["settings"]["repeats"] == 1
    assert report["settings"]["sections"] == ["contenders"]
    assert report["settings"]["n_train"] == run.QUICK["n_train"]
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["cpu_model"]
    assert machine["versions"]["tensorflow"] and machine["versions"]["scikit-learn"]
    assert len(report["load_before"]) == len(report["load_after"]) == 3

    rows = report["sections"]["contenders"]["rows"]
    assert [row["name"] for row in rows] == list(run.CONTENDERS)
    for row in rows:
        assert row["n_failed"] == 0
        assert len(row["runs"]) == 1
        (single,) = row["runs"]
        for metric in ("fit_s", "fit_cpu_s", "predict_first_s", "predict_s", "rss_before_fit_mb"):
            stats = row[metric]
            assert stats["runs"] == [single[metric]]
            assert stats["min"] == stats["median"] == stats["max"] > 0
        # One epoch on 2,000 real images: every contender is far above chance (0.1).
        assert 0.5 < row["test_accuracy"]["median"] <= 1
        # The kernel's figure covers the whole process, the worker's own reading included.
        assert single["peak_rss_mb"] >= 0.99 * single["worker_peak_rss_mb"]
        assert single["peak_rss_mb"] > single["rss_before_fit_mb"]
        assert row["images_per_s"] == pytest.approx(
            row["job"]["n_train"] * row["job"]["epochs"] / row["fit_s"]["median"]
        )


@pytest.mark.slow  # a whole benchmark run: a process per contender
def test_quick_contenders_ratios_and_goals_follow_the_medians(run, contenders_run):
    section = _report(contenders_run[1])["sections"]["contenders"]
    medians = {row["name"]: row["fit_s"]["median"] for row in section["rows"]}
    others = [name for name in run.CONTENDERS if name != "fashion_mlp"]
    assert section["ratios"] == pytest.approx(
        {name: medians[name] / medians["fashion_mlp"] for name in others}
    )
    goals = section["goals"]
    speedup = goals["speedup_vs_course_keras"]
    assert speedup["value"] == pytest.approx(section["ratios"]["course_keras"])
    assert speedup["met"] == (speedup["value"] >= speedup["target"] == 3.0)
    slowdown = goals["slowdown_vs_fastest_hand_written"]
    fastest = min(medians["best_keras"], medians["keras_loop"])
    assert slowdown["value"] == pytest.approx(medians["fashion_mlp"] / fastest)
    assert slowdown["met"] == (slowdown["value"] <= 1.1)
    assert goals["peak_rss_mb"]["met"] == (goals["peak_rss_mb"]["value"] < 1500)


@pytest.mark.slow  # a whole benchmark run: a process per contender
def test_quick_contenders_markdown(run, contenders_run):
    """The Markdown table shows each contender's medians from performance.json."""
    out = contenders_run[1]
    text = (out / "performance.md").read_text()
    lines = text[text.index("| contender | fit s |") :].splitlines()[2:]
    table = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = cells
    rows = _report(out)["sections"]["contenders"]["rows"]
    assert sorted(table) == sorted(run.CONTENDERS[row["name"]][0] for row in rows)
    for row in rows:
        cells = table[run.CONTENDERS[row["name"]][0]]
        assert float(cells[1].split()[0]) == round(row["fit_s"]["median"], 2), row["name"]
        assert float(cells[4]) == round(row["test_accuracy"]["median"], 4), row["name"]


@pytest.mark.slow  # a whole benchmark run: a process per contender
def test_quick_scaling_sections(run, scaling_run):
    proc, out = scaling_run
    assert proc.returncode == 0, proc.stderr
    sections = _report(out)["sections"]
    assert list(sections) == ["units", "sizes", "grid"]

    units = sections["units"]["rows"]
    assert [row["job"]["params"]["hidden_layer_sizes"] for row in units] == [[4, 4], [16, 16]]
    for row in units:
        assert row["fit_s"]["median"] > 0
        assert row["gflop_per_s"] == pytest.approx(row["gflop"] / row["fit_s"]["median"])
    assert units[1]["gflop"] > units[0]["gflop"]

    sizes = sections["sizes"]["rows"]
    assert [row["job"]["n_train"] for row in sizes] == list(run.QUICK["sizes"])
    assert all(0 <= row["test_accuracy"]["median"] <= 1 for row in sizes)

    (grid,) = sections["grid"]["rows"]
    (result,) = grid["runs"]
    n_candidates = len(run.QUICK["grid"]["hidden_layer_sizes"]) * len(run.QUICK["grid"]["dropout"])
    assert result["n_fits"] == n_candidates * run.QUICK["cv"] + 1
    assert result["best_params"]["dropout"] in run.QUICK["grid"]["dropout"]
    assert 0 <= result["best_cv_accuracy"] <= 1


def test_failed_worker_is_reported_not_raised(run):
    job = {"program": "no_such_program", "n_train": 10, "n_test": 10, "epochs": 1}
    job.update(batch_size=32, seed=0)
    result = run.run_worker(job, timeout=120)
    assert result["error"] == "worker exited with status 1"
    assert any("no_such_program" in line for line in result["stderr_tail"])
    assert result["peak_rss_mb"] > 0


# ----------------------------------------------------------------------------- pieces
def test_every_job_names_a_worker_program(run):
    programs = _module("contenders").PROGRAMS
    for _, job in [*run.CONTENDERS.values(), *run.VARIANTS.values()]:
        assert job["program"] in programs
        assert set(job) <= {"program", "env", "estimator"}
    assert set(run.QUICK["variants"]) <= set(run.FULL["variants"]) == set(run.VARIANTS)


def test_repeats_are_interleaved(run):
    cases = [("A", {}), ("B", {}), ("C", {}), ("D", {})]
    order = [(repeat, name) for repeat, name, _ in run.interleave(cases, 3)]
    assert [name for _, name in order] == list("ABCD" * 3)
    assert [repeat for repeat, _ in order] == [0] * 4 + [1] * 4 + [2] * 4


def test_plan_defines_the_tables(run):
    cases = run.plan(run.SECTIONS, run.FULL)
    assert [name for name, _ in cases["contenders"]] == list(run.CONTENDERS)
    units = [job["params"]["hidden_layer_sizes"] for _, job in cases["units"]]
    assert units == [[4, 4], [16, 16], [64, 64], [128, 128], [512, 512], [1024, 1024]]
    assert all(job["n_train"] == 60_000 and job["epochs"] == 5 for _, job in cases["units"])
    assert [job["n_train"] for _, job in cases["sizes"]] == [5_000, 10_000, 20_000, 40_000, 60_000]
    ((_, grid),) = cases["grid"]
    assert grid["cv"] == 3 and grid["n_train"] == 10_000
    assert len(grid["param_grid"]["hidden_layer_sizes"]) * len(grid["param_grid"]["dropout"]) == 6


def test_summaries_and_compute_estimate(run):
    assert run.summarise([3.0, 1.0, 2.0, 10.0]) == {
        "median": 2.5,
        "min": 1.0,
        "max": 10.0,
        "runs": [3.0, 1.0, 2.0, 10.0],
    }
    assert run.macs_per_image((128,)) == 784 * 128 + 128 * 10
    # The estimate: 36.6 GFLOP per epoch of the course's network on 60,000 images.
    assert run.training_gflop((128,), 60_000, 1) == pytest.approx(36.6, abs=0.05)
    runs = [{"fit_s": 2.0, "test_accuracy": 0.8}, {"error": "boom"}, {"fit_s": 4.0}]
    row = run.summarise_case("x", {}, runs)
    assert row["n_failed"] == 1
    assert row["fit_s"]["median"] == 3.0 and row["test_accuracy"]["runs"] == [0.8]
    assert "predict_s" not in row


def _row(name, fit, accuracy=0.87, rss=900.0, predict=0.1):
    row = {"name": name, "job": {"n_train": 100, "n_test": 10, "epochs": 1}}
    for metric, value in [
        ("fit_s", fit),
        ("test_accuracy", accuracy),
        ("peak_rss_mb", rss),
        ("predict_s", predict),
        ("predict_first_s", predict),
    ]:
        row[metric] = run_summary(value)
    row["runs"] = [{"fit_s": fit, "others_cores": 0.0}]
    return row


def run_summary(value):
    return {"median": value, "min": value, "max": value, "runs": [value]}


def test_goals_are_judged_on_medians(run):
    rows = [
        _row("fashion_mlp", 5.0, accuracy=0.868),
        _row("course_keras", 20.0, accuracy=0.870),
        _row("sklearn_mlp", 7.0),
        _row("best_keras", 4.8),
        _row("keras_loop", 4.0),
    ]
    ratios = run.contender_ratios(rows)
    assert ratios == pytest.approx(
        {"course_keras": 4.0, "sklearn_mlp": 1.4, "best_keras": 0.96, "keras_loop": 0.8}
    )
    goals = run.check_goals(rows, ratios)
    assert goals["speedup_vs_course_keras"]["met"]
    assert not goals["speedup_vs_sklearn_mlp"]["met"]  # 1.4 < 1.6
    assert goals["slowdown_vs_best_keras"]["value"] == pytest.approx(5.0 / 4.8)
    assert goals["slowdown_vs_best_keras"]["met"]
    assert goals["slowdown_vs_keras_loop"]["value"] == pytest.approx(1.25)
    assert not goals["slowdown_vs_fastest_hand_written"]["met"]  # 5.0 / 4.0 > 1.1
    assert goals["accuracy_points_below_course_keras"]["value"] == pytest.approx(0.2)
    assert goals["peak_rss_mb"]["met"] and goals["predict_s"]["met"]
    rows[0]["peak_rss_mb"] = run_summary(1600.0)
    assert not run.check_goals(rows, ratios)["peak_rss_mb"]["met"]


def test_markdown_marks_failures_and_busy_machines(run):
    rows = [_row("fashion_mlp", 5.0), {"name": "course_keras", "job": {}, "runs": []}]
    section = {
        "rows": rows,
        "ratios": {},
        "goals": {},
        "others_cores": run.summarise([0.9, 1.0]),
        "busy": True,
    }
    report = {
        "date": "2026-01-01T00:00:00+00:00",
        "machine": run.machine_info(),
        "settings": {
            "repeats": 3,
            "n_train": 60_000,
            "n_test": 10_000,
            "epochs": 5,
            "batch_size": 32,
            "quick": False,
        },
        "load_before": [2.5, 1.0, 0.5],
        "load_after": [0.5, 0.5, 0.5],
        "others_cores": run.summarise([0.1, 0.3, 1.2]),
        "busy": True,
        "sections": {"contenders": section},
    }
    text = run.render_markdown(report)
    assert "| course's Keras program | failed | - | - | failed | failed |" in text
    assert (
        "| FashionMLP() defaults | 5.00 (5.00-5.00) | 5.00 (1 of 1) | 1.00 | 0.8700 "
        "| 900 (900-900) |" in text
    )
    assert "Other processes kept 0.30 of the" in text and "max 1.20" in text
    assert "The machine was busy" in text
    assert "Other processes kept 0.95 of the" in text and "Busy: treat these times" in text
    assert "not a measurement" not in text


def test_write_atomic_replaces_or_keeps_the_old_file(run, tmp_path, monkeypatch):
    target = tmp_path / "results" / "performance.md"
    run.write_atomic(target, "first")
    run.write_atomic(target, "second")
    assert target.read_text() == "second"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(run.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        run.write_atomic(target, "third")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["performance.md"]


def test_help_documents_the_options():
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for option in ("--repeats", "--quick", "--only", "--out", "--wait-for-quiet"):
        assert option in proc.stdout
    assert "contenders" in proc.stdout and "grid" in proc.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--only", "nonsense"], "unknown section nonsense; choose from contenders"),
        (["--only", ","], "unknown section"),
        (["--repeats", "0"], "--repeats must be at least 1"),
    ],
)
def test_bad_options_exit_with_status_2(run, argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_busy_means_others_competed_for_the_cpus(run):
    def section(*others):
        rows = [{"name": "x", "job": {}, "runs": [{"others_cores": v} for v in others]}]
        return run.section_result("grid", rows, run.QUICK)

    assert section(0.0, 0.1, 0.9)["others_cores"]["median"] == 0.1
    assert not section(0.0, 0.1, 0.9)["busy"] and section(0.3, 0.5, 0.0)["busy"]
    quiet = {"load_before": [0.3, 0.3, 0.3], "sections": {"a": section(0.0, 0.1, 0.9)}}
    assert not run.is_busy(quiet)
    assert run.is_busy({**quiet, "sections": {**quiet["sections"], "b": section(0.3, 0.5)}})
    # The load average counts the runner's own workers too; it is not the judge.
    assert not run.is_busy({**quiet, "load_before": [2.0, 1.0, 1.0]})
    sections = {"s": {"rows": [{"runs": [{"others_cores": 0.5}, {"error": "x"}]}]}}
    assert run.others_cores_summary(sections)["runs"] == [0.5]


def test_others_cores_subtracts_the_workers_own_cpu_time(run, monkeypatch):
    before = run.cpu_busy_seconds()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # this process keeps a core busy
        pass
    assert run.cpu_busy_seconds() - before >= 0.15  # the machine-wide count saw it

    started = time.monotonic() - 10.0
    monkeypatch.setattr(run, "cpu_busy_seconds", lambda: 110.0)
    # 10 busy CPU seconds in 10 s, 4 of them the worker's own: others used 0.6 cores.
    assert run._others_cores(started, 100.0, 4.0) == pytest.approx(0.6, abs=0.01)
    assert run._others_cores(started, 100.0, 12.0) == 0.0
    monkeypatch.setattr(run, "cpu_busy_seconds", lambda: float("nan"))
    assert np.isnan(run._others_cores(started, 100.0, 4.0))


def test_quiet_runs_and_render_from_json(run, tmp_path):
    row = {"runs": [{"fit_s": 9.0, "others_cores": 1.0}, {"fit_s": 4.0, "others_cores": 0.1}]}
    row["runs"].append({"fit_s": 6.0, "others_cores": 0.0})
    assert run.quiet_fit_s(row) == (5.0, 2)
    assert run.quiet_fit_s({"runs": [{"error": "x"}, {"fit_s": 3.0}]}) == (None, 0)

    contenders_md = run._contenders_md  # a report with one section renders from its JSON
    report = {
        "date": "2026-01-01T00:00:00+00:00",
        "machine": run.machine_info(),
        "settings": {"repeats": 1, "n_train": 10, "n_test": 10, "epochs": 1, "batch_size": 32},
        "load_before": [0.0] * 3,
        "load_after": [0.0] * 3,
        "others_cores": None,
        "busy": False,
        "sections": {},
    }
    report["settings"]["quick"] = True
    path = tmp_path / "performance.json"
    path.write_text(json.dumps(report))
    assert run.main(["--render", str(path)]) == 0
    assert (tmp_path / "performance.md").read_text() == run.render_markdown(report)
    assert contenders_md is run.RENDER["contenders"]
