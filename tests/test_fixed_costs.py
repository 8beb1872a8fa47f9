"""benchmarks/fixed_costs.py: its timed fit is the fit it times, and its arithmetic."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import skfashion._estimator as estimator_module
from skfashion import FashionMLP, _training

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def fixed_costs():
    spec = importlib.util.spec_from_file_location("_bench_fixed_costs",
                                                  BENCHMARKS / "fixed_costs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_timed_fit_is_bitwise_a_plain_fit_and_its_figures_add_up(
    fixed_costs, small_xy, monkeypatch
):
    # The measured path: an XLA program. Its extra stop-0 call must train nothing.
    X, y = small_xy
    monkeypatch.setattr(estimator_module, "use_xla", lambda *args, **kwargs: True)
    job = {"epochs": 2, "batch_size": 32, "seed": 3}
    real_call = _training.CompiledEpoch._call
    figures, timed = fixed_costs.timed_fit(X, y, job)
    assert _training.CompiledEpoch._call is real_call  # the timing is undone
    plain = FashionMLP(epochs=2, batch_size=32, random_state=3).fit(X, y)
    assert timed.history_ == plain.history_
    for a, b in zip(timed.model_.get_weights(), plain.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(figures) == set(fixed_costs.FIGURES)
    assert figures["trace_and_compile_s"] == figures["trace_s"] + figures["compile_s"]
    assert figures["fixed_s"] == pytest.approx(figures["fit_s"] - figures["training_s"])
    assert 0 < figures["first_call_s"] < figures["fit_s"]
    assert figures["trace_and_compile_s"] < figures["fit_s"]
    assert figures["steady_gflop_per_s"] > 0


def test_summary_budget_and_page(fixed_costs, tmp_path):
    runs = [dict.fromkeys(fixed_costs.FIGURES, float(v)) for v in (3, 1, 2)]
    summary = fixed_costs.summary(runs)
    assert summary["compile_s"] == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}
    assert fixed_costs.floor_budget(tmp_path) is None  # no performance.json there
    performance = {
        "compute_floor": {"gflop_per_s": 200.0},
        "goals": {"times_compute_floor": {"target": 1.5}},
        "sections": {"contenders": {"rows": [{"name": "fashion_mlp", "floor_s": 0.9}]}},
    }
    (tmp_path / "performance.json").write_text(json.dumps(performance))
    floor = fixed_costs.floor_budget(tmp_path)
    assert floor["fixed_budget_s"] == pytest.approx(0.45)
    assert floor["gflop_per_s"] == 200.0
    page = fixed_costs.render({
        "command": "python benchmarks/fixed_costs.py", "date": "2026-12-02",
        "machine": {"cpu_model": "CPU", "cpus_usable": 2}, "runs": runs,
        "summary": summary, "floor": floor,
    })
    assert "| compile_s | 2.000 | 1.000 | 3.000 |" in page
    assert "has 0.450 s for everything else" in page
    assert "took 1.000 s at least" in page
