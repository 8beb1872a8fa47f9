"""Time FashionMLP against the course's program, peer libraries and independent expert loops.

Each measurement runs in a fresh Python process (``contenders.py``), so
TensorFlow's, JAX's or PyTorch's import, memory and compilation caches never
leak from one contender to the next. Repeats are interleaved (A B C D, A B C D,
...) so that a slow spell on a shared machine hits every contender alike;
tables report medians with min/max, and ratios are computed from medians of the
same run.

Sections
--------
contenders  The course's workload (Dense(128, relu), 60,000 images, batch 32,
            5 epochs, Adam 1e-3) trained by FashionMLP() defaults, the course's
            Keras program as written, the peer libraries at their defaults
            with the course's settings (skorch's NeuralNetClassifier,
            keras.wrappers.SKLearnClassifier, scikeras' KerasClassifier,
            scikit-learn's MLPClassifier) and independent expert loops (JAX:
            one jit + lax.scan per epoch; PyTorch; Keras model.fit); test
            accuracy, prediction time, peak memory and GFLOP/s of each.
variants    Other versions tried in search of the fastest Keras, JAX and PyTorch,
            FashionMLP's own prototype loop (labelled: not independent),
            MLPClassifier on one BLAS thread, FashionMLP on XLA's older runtime.
units       FashionMLP fit time against network size: two hidden layers of
            4 ("smaller"), 16 ("baseline"), 64, 128, 512 ("bigger") and 1024;
            the JAX and PyTorch expert loops on 512+512 too.
sizes       FashionMLP() fit time against training-set size.
seeds       1 and 5 seeds of 4+4 and 16+16 on the study's 4,800 training
            images (6,000 with 20 % held out), 20 epochs, in one process.
grid        GridSearchCV over 3 network sizes x 2 dropout rates, cv=3, on
            10,000 images, end to end.
study       The default full study (``skfashion study``: 9 models x 3 seeds,
            no cache, report into a temporary folder), the command itself in
            a fresh process, from its start to its exit; with the training
            time the study records for each model (its seeds together).

Every table gives GFLOP/s (training FLOPs: 6 x weights of the dense layers x
images x epochs; forward 2, backward 4 per weight and image) and the compute
floor: a row's training FLOPs divided by the highest GFLOP/s any measurement
of the same run reached. The issue's targets (#14) are judged at the end.

Contenders from the ``bench`` extra (JAX, optax, PyTorch, skorch) are reported
as not installed when their packages are missing.

Results go to ``NAME.json`` (every run's raw numbers, medians, machine
information) and ``NAME.md`` in ``--out`` (``performance`` by default),
replaced atomically; ``NAME.partial.json`` holds the finished sections while
a run goes on. ``--sync-docs`` rewrites the figures that the docs quote
from results files (see ``FIGURE``).
"""

import argparse
import csv
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "contenders.py"
DEFAULT_OUT = HERE / "results"
DEFAULT_NAME = "performance"
SECTIONS = ("contenders", "variants", "units", "sizes", "seeds", "grid", "study")
BUSY_OTHERS_CORES = 0.25  # median cores used by other processes during a measurement
SCHEMA_VERSION = 2
BENCH_EXTRA = "pip install -e '.[bench]'"

STUDY_PROGRAM = "study"
"""A job that runs the ``skfashion study`` command itself instead of ``contenders.py``."""
STUDY_CASE = "skfashion_study"
STUDY_COMMAND = ["-m", "skfashion._cli", "study", "--no-cache", "--no-progress"]
"""The study as a user runs it, less the cache (every run trains) and the progress bar."""

LEGACY_XLA = {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}
CONTENDERS = {
    "fashion_mlp": ("FashionMLP() defaults", {"program": "fashion_mlp"}),
    "course_keras": ("course's Keras program", {"program": "course_keras"}),
    "sklearn_mlp": (
        "MLPClassifier((128,), batch_size=32, max_iter=5)",
        {"program": "sklearn_mlp"},
    ),
    "skorch": ("skorch NeuralNetClassifier", {"program": "skorch"}),
    "keras_sklearn": ("keras.wrappers.SKLearnClassifier", {"program": "keras_sklearn"}),
    "scikeras": ("scikeras KerasClassifier", {"program": "scikeras"}),
    "jax_loop": ("expert JAX loop (jit + lax.scan per epoch)", {"program": "jax_loop"}),
    "torch_loop": ("expert PyTorch loop", {"program": "torch_loop"}),
    "best_keras": ("expert Keras model.fit", {"program": "best_keras"}),
}
"""name -> (label, job): the head-to-head comparison, in the order it runs."""
PEERS = ("skorch", "keras_sklearn", "scikeras", "sklearn_mlp")
"""Libraries a user would pick instead of skfashion, at their defaults."""
EXPERTS = ("jax_loop", "torch_loop", "best_keras")
"""Independent expert programs, each from its own library's documented practice."""

VARIANTS = {
    "keras_f32": ("Keras fit, float32 NumPy input", {"program": "keras_f32"}),
    "keras_f32_spe128": (
        "Keras fit, float32, steps_per_execution=128",
        {"program": "keras_f32_spe128"},
    ),
    "keras_f32_spe128_xla": (
        "Keras fit, float32, steps_per_execution=128, jit_compile",
        {"program": "keras_f32_spe128_xla"},
    ),
    "keras_f32_spe_epoch_xla": (
        "Keras fit, float32, steps_per_execution=one epoch, jit_compile",
        {"program": "keras_f32_spe_epoch_xla"},
    ),
    "keras_tfdata_spe_epoch_xla": (
        "Keras fit, tf.data shuffle+batch, one epoch per execution, jit_compile",
        {"program": "keras_tfdata_spe_epoch_xla"},
    ),
    "keras_uint8_spe_epoch_xla": (
        "Keras fit, uint8 input + Rescaling layer, one epoch per execution, jit_compile",
        {"program": "keras_uint8_spe_epoch_xla"},
    ),
    "jax_loop_unroll8": (
        "JAX loop, lax.scan unrolled 8 steps per iteration",
        {"program": "jax_loop_unroll8"},
    ),
    "torch_loop_compiled": (
        "PyTorch loop, training step under torch.compile",
        {"program": "torch_loop_compiled"},
    ),
    "torch_loop_foreach_adam": (
        "PyTorch loop, Adam's default (for-each) implementation",
        {"program": "torch_loop_foreach_adam"},
    ),
    "torch_loop_1thread": (
        "PyTorch loop, one thread",
        {"program": "torch_loop_1thread"},
    ),
    "keras_epoch_loop": (
        "FashionMLP's prototype loop (not independent), float32",
        {"program": "keras_epoch_loop"},
    ),
    "keras_epoch_loop_uint8": (
        "FashionMLP's prototype loop (not independent), uint8",
        {"program": "keras_epoch_loop_uint8"},
    ),
    "keras_epoch_loop_uint8_legacy_xla": (
        "FashionMLP's prototype loop (not independent), uint8, legacy XLA CPU runtime",
        {"program": "keras_epoch_loop_uint8", "env": LEGACY_XLA},
    ),
    "sklearn_mlp_1thread": (
        "MLPClassifier((128,), batch_size=32, max_iter=5), one BLAS thread",
        {"program": "sklearn_mlp", "env": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}},
    ),
    "fashion_mlp_legacy_xla": (
        "FashionMLP(), legacy XLA CPU runtime",
        {"program": "fashion_mlp", "env": LEGACY_XLA},
    ),
}
"""name -> (label, job): other versions of the contenders, on the same workload."""
EXPERT_VARIANTS = tuple(
    name
    for name in VARIANTS
    if name.startswith(("keras_f32", "keras_tfdata", "keras_uint8", "torch", "jax"))
)
"""Variants that count as independent expert programs (the prototype loop does not)."""
REQUIRES = {
    "jax_loop": ("jax", "optax"),
    "jax_loop_unroll8": ("jax", "optax"),
    "torch_loop": ("torch",),
    "torch_loop_compiled": ("torch",),
    "torch_loop_foreach_adam": ("torch",),
    "torch_loop_1thread": ("torch",),
    "skorch": ("skorch", "torch"),
}
"""program -> modules it needs from the ``bench`` extra."""
PRESET_UNITS = {4: "smaller", 16: "baseline", 512: "bigger"}
EXPERT_NAMES = {"jax_loop": "JAX", "torch_loop": "PyTorch"}
"""Expert loops also timed on a large network, so the compute floor is not FashionMLP's alone."""

FULL = {
    "n_train": 60_000,
    "n_test": 10_000,
    "epochs": 5,
    "batch_size": 32,
    "units": (4, 16, 64, 128, 512, 1024),
    "expert_units": (512,),
    "sizes": (5_000, 10_000, 20_000, 40_000, 60_000),
    "seeds_units": (4, 16),
    "seeds_counts": (1, 5),
    "seeds_n_images": 6_000,
    "seeds_validation_fraction": 0.2,
    "seeds_epochs": 20,
    "grid_n_train": 10_000,
    "grid": {"hidden_layer_sizes": ["smaller", "baseline", "bigger"], "dropout": [0.0, 0.5]},
    "cv": 3,
    "variants": tuple(VARIANTS),
    "study_args": (),  # the default full study: every default model, 3 seeds
}
QUICK = {
    "n_train": 2_000,
    "n_test": 1_000,
    "epochs": 1,
    "batch_size": 32,
    "units": (4, 16),
    "expert_units": (),
    "sizes": (1_000, 2_000),
    "seeds_units": (4,),
    "seeds_counts": (1, 2),
    "seeds_n_images": 1_000,
    "seeds_validation_fraction": 0.2,
    "seeds_epochs": 2,
    "grid_n_train": 1_000,
    "grid": {"hidden_layer_sizes": ["smaller"], "dropout": [0.0, 0.5]},
    "cv": 2,
    "variants": ("keras_f32", "fashion_mlp_legacy_xla"),
    "study_args": (
        "--quick",
        "--models",
        "smaller,baseline",
        "--epochs",
        "1",
        "--subset-size",
        "500",
    ),
}
GOALS = {
    # issue #14
    "min_speedup_vs_peer": 3.0,
    "max_slowdown_vs_fastest_expert": 1.0,
    "max_times_compute_floor": 1.5,
    "max_accuracy_gap_points": 0.5,
    "max_seeds_ratio": 2.0,
    "max_grid_search_s": 25.0,
    # issues #13 and #14
    "max_study_s": 150.0,
    # earlier targets, still checked
    "min_speedup_vs_course_keras": 3.0,
    "max_peak_rss_mb": 1500.0,
    "max_predict_s": 1.0,
}


# ----------------------------------------------------------------------------- planning
def _course_hidden():
    from skfashion import PRESETS

    return list(PRESETS["tutorial"])


def plan(sections, settings, names=None):
    """The measurements to make, per section: a list of ``(case_name, job)``.

    ``names`` (sections or case names, as ``--only`` takes them) keeps only the
    sections named and the named cases of other sections; a variant named on
    its own is planned even where ``settings`` leave it out (``--quick``).
    Every job carries ``flops``: the ``[hidden, images, epochs]`` of each
    network it trains, for its training compute.
    """
    base = {key: settings[key] for key in ("n_train", "n_test", "epochs", "batch_size")}
    course = [_course_hidden(), settings["n_train"], settings["epochs"]]
    cases = {}
    for section in sections:
        if section == "contenders":
            found = [(n, {**base, **job, "flops": [course]}) for n, (_, job) in CONTENDERS.items()]
        elif section == "variants":
            chosen = VARIANTS if names and section not in names else settings["variants"]
            found = [(n, {**base, **VARIANTS[n][1], "flops": [course]}) for n in chosen]
        elif section == "units":
            found = [
                (
                    f"{units}+{units}",
                    {
                        **base,
                        "program": "fashion_mlp",
                        "params": {"hidden_layer_sizes": [units, units]},
                        "flops": [[[units, units], settings["n_train"], settings["epochs"]]],
                    },
                )
                for units in settings["units"]
            ]
            found += [
                (
                    f"{units}+{units} {EXPERT_NAMES[program]}",
                    {
                        **base,
                        "program": program,
                        "params": {"hidden_layer_sizes": [units, units]},
                        "flops": [[[units, units], settings["n_train"], settings["epochs"]]],
                    },
                )
                for units in settings["expert_units"]
                for program in EXPERT_NAMES
            ]
        elif section == "sizes":
            found = [
                (
                    str(n),
                    {
                        **base,
                        "program": "fashion_mlp",
                        "n_train": n,
                        "flops": [[_course_hidden(), n, settings["epochs"]]],
                    },
                )
                for n in settings["sizes"]
            ]
        elif section == "seeds":
            found = [
                _seeds_case(units, count, base, settings)
                for units in settings["seeds_units"]
                for count in settings["seeds_counts"]
            ]
        elif section == "grid":
            found = [
                (
                    "GridSearchCV",
                    {
                        **base,
                        "program": "grid_search",
                        "n_train": settings["grid_n_train"],
                        "param_grid": settings["grid"],
                        "cv": settings["cv"],
                    },
                )
            ]
        elif section == "study":
            found = [(STUDY_CASE, {"program": STUDY_PROGRAM, "args": list(settings["study_args"])})]
        if names and section not in names:
            found = [(name, job) for name, job in found if name in names]
        if found:
            cases[section] = found
    return cases


def _seeds_case(units, count, base, settings):
    n_images = settings["seeds_n_images"]
    n_fit = n_images - math.ceil(n_images * settings["seeds_validation_fraction"])
    epochs = settings["seeds_epochs"]
    job = {
        **base,
        "program": "fashion_mlp_seeds",
        "n_train": n_images,
        "epochs": epochs,
        "n_seeds": count,
        "params": {
            "hidden_layer_sizes": [units, units],
            "validation_fraction": settings["seeds_validation_fraction"],
        },
        "flops": [[[units, units], n_fit, epochs]] * count,
    }
    return f"{units}+{units} x{count}", job


def skip(cases, names):
    """``cases`` without the sections and cases named (``--skip``)."""
    kept = {
        section: [(name, job) for name, job in found if name not in names]
        for section, found in cases.items()
        if section not in names
    }
    return {section: found for section, found in kept.items() if found}


def case_names():
    """Every section and case name ``--only`` accepts (full and quick runs)."""
    names = set(SECTIONS)
    for settings in (FULL, QUICK):
        for cases in plan(SECTIONS, {**settings, "variants": tuple(VARIANTS)}).values():
            names.update(name for name, _ in cases)
    return names


def missing_modules(job):
    """Modules from the ``bench`` extra that a job needs and this Python lacks."""
    return [m for m in REQUIRES.get(job["program"], ()) if importlib.util.find_spec(m) is None]


def interleave(cases, repeats):
    """Run order: every case once per repeat, repeats one after another (A B C, A B C)."""
    return [(repeat, name, job) for repeat in range(repeats) for name, job in cases]


# ----------------------------------------------------------------------------- running
def run_worker(job, *, timeout):
    """Run one job in a fresh interpreter; return its result with the process's peak RSS.

    The peak resident set size comes from the kernel's accounting of that one
    child (``os.wait4``), so it covers the whole process, imports included.
    A failed or timed-out worker gives ``{"error": ...}``.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore", **job.get("env", {}))
    if job["program"] == STUDY_PROGRAM:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started, busy_before = time.monotonic(), cpu_busy_seconds()
    with tempfile.TemporaryDirectory(prefix="skfashion-bench-") as tmp:
        result_path, log_path = Path(tmp, "result.json"), Path(tmp, "stderr.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                _worker_command(job, tmp, result_path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
            deadline = time.monotonic() + timeout
            timed_out = False
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    _, status, usage = os.wait4(proc.pid, 0)
                    timed_out = True
                    break
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall_s = time.monotonic() - started
        peak_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        others = _others_cores(started, busy_before, usage.ru_utime + usage.ru_stime)
        if timed_out:
            return {"error": f"timed out after {timeout} s", "peak_rss_mb": peak_rss_mb}
        if proc.returncode == 0 and job["program"] == STUDY_PROGRAM:
            study_result(Path(tmp, "report"), wall_s, usage, result_path)
        if proc.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            return {
                "error": f"worker exited with status {proc.returncode}",
                "stderr_tail": tail,
                "peak_rss_mb": peak_rss_mb,
            }
        result = json.loads(result_path.read_text())
    result["worker_peak_rss_mb"] = result.pop("peak_rss_mb")
    result["peak_rss_mb"] = peak_rss_mb
    result["others_cores"] = others
    return result


def _worker_command(job, tmp, result_path):
    if job["program"] == STUDY_PROGRAM:
        return [sys.executable, *STUDY_COMMAND, "--out", str(Path(tmp, "report")), *job["args"]]
    return [sys.executable, str(WORKER), json.dumps(job), str(result_path)]


def study_result(report, wall_s, usage, result_path):
    """Write the result of a study job: its times, and each model's from the report folder.

    ``fit_s`` is the command's wall time from start to exit (Python's start and
    every import included), ``fit_cpu_s`` the CPU time of the command and its
    worker processes; ``run_time_s`` the study's own (``study.json``), and
    ``model_fit_s`` each model's training time, its seeds together
    (``summary.csv``): with runs in parallel these add up to more than the
    wall time.
    """
    import csv

    record = json.loads(Path(report, "study.json").read_text(encoding="utf-8"))
    with open(Path(report, "summary.csv"), newline="", encoding="utf-8") as table:
        models = {row["model"]: float(row["fit_time_s"]) for row in csv.DictReader(table)}
    result = {
        "fit_s": wall_s,
        "fit_cpu_s": usage.ru_utime + usage.ru_stime,
        "run_time_s": record["run_time_s"],
        "model_fit_s": models,
        "seeds": record["seeds"],
        "peak_rss_mb": 0.0,  # the runner's measurement replaces it
    }
    Path(result_path).write_text(json.dumps(result))


def cpu_busy_seconds():
    """CPU seconds spent busy by the whole machine since boot, from ``/proc/stat``."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _others_cores(started, busy_before, own_cpu_s):
    """Cores kept busy by everything but the worker while it ran (other engineers, mostly)."""
    elapsed = time.monotonic() - started
    others = (cpu_busy_seconds() - busy_before - own_cpu_s) / elapsed
    return math.nan if math.isnan(others) or elapsed <= 0 else max(0.0, others)


def _worker_module():
    spec = importlib.util.spec_from_file_location("_skfashion_bench_contenders", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load():
    return list(os.getloadavg())


def wait_for_quiet(max_wait, window=10.0):
    """Wait up to ``max_wait`` seconds for a ``window`` in which the CPUs are all but idle.

    Idle means the whole machine used less than ``BUSY_OTHERS_CORES`` cores (the
    runner itself is asleep meanwhile); returns whether that happened.
    """
    deadline = time.monotonic() + max_wait
    while True:
        started, busy_before = time.monotonic(), cpu_busy_seconds()
        time.sleep(window)
        if _others_cores(started, busy_before, 0.0) < BUSY_OTHERS_CORES:
            return True
        if time.monotonic() > deadline:
            return False


# ----------------------------------------------------------------------------- summaries
METRICS = (
    "fit_s",
    "fit_cpu_s",
    "run_time_s",
    "others_cores",
    "test_accuracy",
    "predict_first_s",
    "predict_s",
    "peak_rss_mb",
    "rss_before_fit_mb",
)


def summarise(values):
    """Median, min, max and the raw values of a list of numbers."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def summarise_case(name, job, runs):
    """One table row: the job, its raw runs and a summary of each metric over good runs."""
    good = [run for run in runs if "error" not in run]
    row = {"name": name, "job": job, "runs": runs, "n_failed": len(runs) - len(good)}
    for metric in METRICS:
        values = [run[metric] for run in good if metric in run]
        if values:
            row[metric] = summarise(values)
    return row


def macs_per_image(hidden, n_features=784, n_classes=10):
    """Multiply-accumulates of one forward pass through a dense network."""
    widths = [n_features, *hidden, n_classes]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def training_gflop(hidden, n_images, epochs):
    """Training compute, 6 FLOPs per weight per image (forward 2, backward 4), in GFLOP.

    Biases, activations, the loss, the optimizer and any validation pass are
    left out: they are small next to the dense layers' products.
    """
    return 6 * macs_per_image(hidden) * n_images * epochs / 1e9


def job_gflop(job, result=None):
    """Training compute of everything a job trains, in GFLOP.

    A grid search trains each candidate on ``cv`` folds of ``(cv-1)/cv`` of
    the images, then refits the best candidate (from ``result``) on them all.
    """
    if job.get("program") != "grid_search":
        return sum(training_gflop(*spec) for spec in job["flops"])
    from skfashion import PRESETS

    def hidden(value):
        return PRESETS[value] if isinstance(value, str) else value

    grid, cv, n, epochs = job["param_grid"], job["cv"], job["n_train"], job["epochs"]
    others = math.prod(len(values) for key, values in grid.items() if key != "hidden_layer_sizes")
    total = sum(
        others * cv * training_gflop(hidden(h), n * (cv - 1) / cv, epochs)
        for h in grid.get("hidden_layer_sizes", ["tutorial"])
    )
    if result and "best_params" in result:
        total += training_gflop(
            hidden(result["best_params"].get("hidden_layer_sizes", "tutorial")), n, epochs
        )
    return total


def contender_ratios(rows):
    """How many times longer each contender's median fit takes than FashionMLP's."""
    by_name = {row["name"]: row for row in rows if "fit_s" in row}
    if "fashion_mlp" not in by_name:
        return {}
    ours = by_name["fashion_mlp"]["fit_s"]["median"]
    others = {name: row for name, row in by_name.items() if name != "fashion_mlp"}
    return {name: row["fit_s"]["median"] / ours for name, row in others.items()}


def seeds_ratios(rows):
    """Per network: median time of n seeds / median time of one seed, for each n > 1."""
    one = {
        tuple(row["job"]["params"]["hidden_layer_sizes"]): row["fit_s"]["median"]
        for row in rows
        if row["job"]["n_seeds"] == 1 and "fit_s" in row
    }
    ratios = {}
    for row in rows:
        hidden = tuple(row["job"]["params"]["hidden_layer_sizes"])
        if row["job"]["n_seeds"] > 1 and "fit_s" in row and hidden in one:
            row["times_one_seed"] = row["fit_s"]["median"] / one[hidden]
            row["separate_fits_s"] = row["job"]["n_seeds"] * one[hidden]
            ratios[row["name"]] = row["times_one_seed"]
    return ratios


def section_result(section, rows, settings):
    """A section's rows plus what is derived from them (ratios, compute rates)."""
    result = {"rows": rows, "others_cores": others_cores_summary({section: {"rows": rows}})}
    result["busy"] = (
        result["others_cores"] is not None and result["others_cores"]["median"] > BUSY_OTHERS_CORES
    )
    for row in rows:
        good = [run for run in row["runs"] if "error" not in run]
        job = row["job"]
        if "flops" in job or job.get("program") == "grid_search":
            row["gflop"] = job_gflop(job, good[0] if good else None)
        if "fit_s" in row:
            if "gflop" in row:
                row["gflop_per_s"] = row["gflop"] / row["fit_s"]["median"]
            if section in ("sizes", "contenders", "variants"):
                row["images_per_s"] = job["n_train"] * job["epochs"] / row["fit_s"]["median"]
    if section == "contenders":
        result["ratios"] = contender_ratios(rows)
    if section == "seeds":
        result["ratios"] = seeds_ratios(rows)
    if section == "study":
        for row in rows:
            row["model_fit_s"] = model_fit_summary(row["runs"])
    return result


def model_fit_summary(runs):
    """Per model, :func:`summarise` of its training time over the good runs of a study job."""
    good = [run for run in runs if "error" not in run]
    models = dict.fromkeys(name for run in good for name in run["model_fit_s"])
    return {name: summarise([run["model_fit_s"][name] for run in good]) for name in models}


def compute_floor(report):
    """The fastest training rate any measurement of the run reached, and each row's floor.

    Sets ``floor_s`` (the row's training FLOPs at that rate) and
    ``times_floor`` (its median fit time / ``floor_s``) on every row with a
    rate, and returns ``{"gflop_per_s", "section", "name"}`` of the fastest.
    """
    rated = [
        (row["gflop_per_s"], section, row["name"])
        for section, result in report["sections"].items()
        for row in result["rows"]
        if "gflop_per_s" in row
    ]
    if not rated:
        return None
    best, section, name = max(rated)
    for result in report["sections"].values():
        for row in result["rows"]:
            if "gflop" in row:
                row["floor_s"] = row["gflop"] / best
                if "fit_s" in row:
                    row["times_floor"] = row["fit_s"]["median"] / row["floor_s"]
    return {"gflop_per_s": best, "section": section, "name": name}


def _goal(value, target, kind, text, detail=None):
    """One target: ``kind`` "min" means value >= target is met, "max" value <= target."""
    met = None if value is None else (value >= target if kind == "min" else value <= target)
    return {
        "value": value,
        "target": target,
        "kind": kind,
        "met": met,
        "text": text,
        "detail": detail,
    }


def _first_median(sections, section):
    """The median fit time of ``section``'s first measured row, or None."""
    rows = [row for row in sections.get(section, {}).get("rows", []) if "fit_s" in row]
    return rows[0]["fit_s"]["median"] if rows else None


def check_goals(report):
    """The issue's targets against this run's medians: value, target and whether met.

    A target whose measurements are not in the run has value None and met None.
    Speed-ups are contender median / FashionMLP median; the fastest expert is
    the fastest of the independent expert programs, variants included.
    """
    sections = report["sections"]
    rows = {
        row["name"]: row
        for section in ("contenders", "variants")
        for row in sections.get(section, {}).get("rows", [])
        if "fit_s" in row
    }
    ours = rows.get("fashion_mlp")
    ours_s = ours["fit_s"]["median"] if ours else None
    goals = {}
    for name in PEERS:
        value = rows[name]["fit_s"]["median"] / ours_s if ours and name in rows else None
        goals[f"speedup_vs_{name}"] = _goal(
            value,
            GOALS["min_speedup_vs_peer"],
            "min",
            f"FashionMLP at least {GOALS['min_speedup_vs_peer']:g}x faster than {label(name)}",
        )
    experts = [name for name in (*EXPERTS, *EXPERT_VARIANTS) if name in rows]
    fastest = min(experts, key=lambda n: rows[n]["fit_s"]["median"]) if experts else None
    goals["slowdown_vs_fastest_expert"] = _goal(
        ours_s / rows[fastest]["fit_s"]["median"] if ours and fastest else None,
        GOALS["max_slowdown_vs_fastest_expert"],
        "max",
        "FashionMLP at least as fast as the fastest independent expert program (fit time ratio)",
        label(fastest) if fastest else None,
    )
    goals["times_compute_floor"] = _goal(
        ours.get("times_floor") if ours else None,
        GOALS["max_times_compute_floor"],
        "max",
        f"FashionMLP within {GOALS['max_times_compute_floor']:g}x of the compute floor",
        _floor_text(report.get("compute_floor")),
    )
    accurate = [
        name
        for name in rows
        if name != "fashion_mlp"
        and "test_accuracy" in rows[name]
        and name in (*PEERS, *EXPERTS, "course_keras")
    ]
    best = max(accurate, key=lambda n: rows[n]["test_accuracy"]["median"]) if accurate else None
    goals["accuracy_points_below_best"] = _goal(
        100 * (rows[best]["test_accuracy"]["median"] - ours["test_accuracy"]["median"])
        if ours and best and "test_accuracy" in ours
        else None,
        GOALS["max_accuracy_gap_points"],
        "max",
        f"FashionMLP's test accuracy at most {GOALS['max_accuracy_gap_points']:g} points "
        "below the best contender's",
        label(best) if best else None,
    )
    seeds = sections.get("seeds", {}).get("ratios", {})
    for units in FULL["seeds_units"]:
        name = f"{units}+{units} x{max(FULL['seeds_counts'])}"
        goals[f"seeds_ratio_{units}+{units}"] = _goal(
            seeds.get(name),
            GOALS["max_seeds_ratio"],
            "max",
            f"{max(FULL['seeds_counts'])} seeds of {units}+{units} at most "
            f"{GOALS['max_seeds_ratio']:g}x one seed's time",
        )
    goals["grid_search_s"] = _goal(
        _first_median(sections, "grid"),
        GOALS["max_grid_search_s"],
        "max",
        "GridSearchCV, 3 sizes x 2 dropout, cv=3, 10,000 images, serial, in seconds",
    )
    goals["study_s"] = _goal(
        _first_median(sections, "study"),
        GOALS["max_study_s"],
        "max",
        "the default full study (3 seeds), the command from start to exit, in seconds",
    )
    course = rows.get("course_keras")
    goals["speedup_vs_course_keras"] = _goal(
        course["fit_s"]["median"] / ours_s if ours and course else None,
        GOALS["min_speedup_vs_course_keras"],
        "min",
        f"earlier target: at least {GOALS['min_speedup_vs_course_keras']:g}x faster than the "
        "course's program",
    )
    goals["peak_rss_mb"] = _goal(
        ours["peak_rss_mb"]["max"] if ours and "peak_rss_mb" in ours else None,
        GOALS["max_peak_rss_mb"],
        "max",
        "earlier target: peak memory (MB)",
    )
    goals["predict_s"] = _goal(
        ours["predict_s"]["median"] if ours and "predict_s" in ours else None,
        GOALS["max_predict_s"],
        "max",
        "earlier target: predicting the test set (s)",
    )
    return goals


def _floor_text(floor):
    if not floor:
        return None
    return f"{floor['gflop_per_s']:.1f} GFLOP/s by {floor['section']} {label(floor['name'])}"


def finalise(report):
    """What needs every section: the compute floor, then the targets."""
    report["compute_floor"] = compute_floor(report)
    report["goals"] = check_goals(report)
    report["others_cores"] = others_cores_summary(report["sections"])
    report["busy"] = is_busy(report)
    return report


def label(name):
    """A case's label in the tables (its name where it has none)."""
    for table in (CONTENDERS, VARIANTS):
        if name in table:
            return table[name][0]
    return name


# ----------------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git(*args):
    try:
        out = subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.rstrip()


def _git_state():
    """The commit measured, and skfashion files changed since it (the code actually run)."""
    changed = _git("status", "--porcelain", "--", "../skfashion")
    return {
        "git_commit": _git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_skfashion_files": None
        if changed is None
        else [line[3:] for line in changed.splitlines()],
    }


def machine_info():
    """CPU, cores, memory and the versions that matter, without importing TensorFlow."""
    from skfashion._environment import package_versions

    packages = (
        "skfashion",
        "numpy",
        "scikit-learn",
        "tensorflow",
        "keras",
        "scikeras",
        "jax",
        "jaxlib",
        "optax",
        "torch",
        "skorch",
    )
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(packages),
        **_git_state(),
    }


# ----------------------------------------------------------------------------- output
def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def _stat(row, metric, digits=2, scale=1.0):
    if metric not in row:
        return "failed"
    s = row[metric]
    return (
        f"{s['median'] * scale:.{digits}f} "
        f"({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})"
    )


def markdown_table(headers, rows):
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|---|" + "|".join("---:" for _ in headers[1:]) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _acc(row):
    return _fmt(row["test_accuracy"]["median"], 4) if "test_accuracy" in row else "failed"


def _failed(row, text):
    """A failed row's cell: why, where every run failed for the same reason (not installed)."""
    errors = {run.get("error", "") for run in row.get("runs", [])}
    if len(errors) == 1 and next(iter(errors)).startswith("not installed"):
        return next(iter(errors))
    return text


def quiet_fit_s(row):
    """Median fit time over the runs during which other processes were all but idle."""
    quiet = [
        run["fit_s"]
        for run in row["runs"]
        if "fit_s" in run and run.get("others_cores", math.inf) < BUSY_OTHERS_CORES
    ]
    return (statistics.median(quiet), len(quiet)) if quiet else (None, 0)


def _quiet_cell(row):
    median, count = quiet_fit_s(row)
    return "-" if median is None else f"{median:.2f} ({count} of {len(row['runs'])})"


def _rate_cells(row):
    return [_fmt(row.get("gflop_per_s"), 1), _fmt(row.get("times_floor"), 2)]


def _contenders_md(result):
    rows, ratios = result["rows"], result.get("ratios", {})
    table = [
        [
            label(row["name"]),
            _failed(row, _stat(row, "fit_s")),
            _quiet_cell(row),
            "1.00" if row["name"] == "fashion_mlp" else _fmt(ratios.get(row["name"])),
            *_rate_cells(row),
            _acc(row),
            _stat(row, "peak_rss_mb", 0),
        ]
        for row in rows
    ]
    return "\n".join(
        [
            "## FashionMLP against the course's program, peer libraries and independent experts\n",
            "The course's workload: Dense(128, relu) + Dense(10), Adam 1e-3, batch 32. "
            "Fit time: seconds from the raw uint8 arrays to a trained model (scaling, build, "
            "compile and `fit`; imports and data loading excluded), median (min-max). Quiet "
            "runs: median over the runs during which other processes used under "
            f"{BUSY_OTHERS_CORES} cores. Speed-up: contender's median / FashionMLP's. "
            "x floor: fit time / the compute floor. Peer libraries (skorch, "
            "keras.wrappers.SKLearnClassifier, scikeras, MLPClassifier) run at their defaults "
            "with the course's settings; the expert loops (JAX, PyTorch, Keras `model.fit`) "
            "follow their own libraries' documented practice, not FashionMLP's code.\n",
            markdown_table(
                [
                    "contender",
                    "fit s",
                    "fit s, quiet runs",
                    "FashionMLP speed-up",
                    "GFLOP/s",
                    "x floor",
                    "test accuracy",
                    "peak RSS MB",
                ],
                table,
            ),
            "\n### Prediction on the test images\n",
            markdown_table(
                ["contender", "first call s", "warm call s", "images/s (warm)"],
                [
                    [
                        label(row["name"]),
                        _stat(row, "predict_first_s", 3),
                        _stat(row, "predict_s", 3),
                        _fmt(row["job"]["n_test"] / row["predict_s"]["median"], 0)
                        if "predict_s" in row
                        else "failed",
                    ]
                    for row in rows
                ],
            ),
        ]
    )


def _variants_md(result):
    return "\n".join(
        [
            "## Variants: other versions tried, FashionMLP's prototype loop, other settings\n",
            "Same workload as the head-to-head table; `legacy XLA CPU runtime` is "
            "`XLA_FLAGS=--xla_cpu_use_thunk_runtime=false`. FashionMLP's prototype loop is the "
            "loop that was merged into FashionMLP: no independent reference.\n",
            markdown_table(
                [
                    "version",
                    "fit s",
                    "fit s, quiet runs",
                    "GFLOP/s",
                    "x floor",
                    "test accuracy",
                    "peak RSS MB",
                    "predict s, first call",
                    "predict s, warm",
                ],
                [
                    [
                        label(row["name"]),
                        _failed(row, _stat(row, "fit_s")),
                        _quiet_cell(row),
                        *_rate_cells(row),
                        _acc(row),
                        _stat(row, "peak_rss_mb", 0),
                        _stat(row, "predict_first_s", 3),
                        _stat(row, "predict_s", 3),
                    ]
                    for row in result["rows"]
                ],
            ),
        ]
    )


def _units_name(units):
    return f"{units}+{units}" + (f" ({PRESET_UNITS[units]})" if units in PRESET_UNITS else "")


def _units_md(result):
    table = [
        [
            _units_name(row["job"]["params"]["hidden_layer_sizes"][0])
            + (
                f", {EXPERT_NAMES[row['job']['program']]}"
                if row["job"]["program"] in EXPERT_NAMES
                else ""
            ),
            _stat(row, "fit_s"),
            _fmt(row.get("gflop"), 1),
            _fmt(row.get("gflop_per_s"), 1),
            _fmt(row.get("floor_s"), 2),
            _fmt(row.get("times_floor"), 2),
            _acc(row),
        ]
        for row in result["rows"]
    ]
    return "\n".join(
        [
            "## FashionMLP fit time against network size\n",
            "Two hidden layers of the same width; all else as `FashionMLP()` defaults. Rows "
            "naming JAX or PyTorch are the expert loops on the same network, so that the "
            "compute floor is not set by FashionMLP alone.\n",
            markdown_table(
                [
                    "hidden units",
                    "fit s",
                    "GFLOP",
                    "GFLOP/s",
                    "floor s",
                    "x floor",
                    "test accuracy",
                ],
                table,
            ),
        ]
    )


def _sizes_md(result):
    return "\n".join(
        [
            "## FashionMLP() fit time against training-set size\n",
            markdown_table(
                [
                    "training images",
                    "fit s",
                    "images/s",
                    "GFLOP/s",
                    "floor s",
                    "x floor",
                    "test accuracy",
                ],
                [
                    [
                        f"{row['job']['n_train']:,}",
                        _stat(row, "fit_s"),
                        _fmt(row.get("images_per_s"), 0),
                        _fmt(row.get("gflop_per_s"), 1),
                        _fmt(row.get("floor_s"), 2),
                        _fmt(row.get("times_floor"), 2),
                        _acc(row),
                    ]
                    for row in result["rows"]
                ],
            ),
        ]
    )


def _seeds_md(result):
    table = []
    for row in result["rows"]:
        job = row["job"]
        table.append(
            [
                _units_name(job["params"]["hidden_layer_sizes"][0]),
                job["n_seeds"],
                _stat(row, "fit_s"),
                "1.00" if job["n_seeds"] == 1 else _fmt(row.get("times_one_seed")),
                _fmt(row.get("separate_fits_s")) if job["n_seeds"] > 1 else "-",
                _fmt(row.get("gflop_per_s"), 1),
                _fmt(row.get("floor_s"), 2),
                _fmt(row.get("times_floor"), 2),
                _acc(row),
            ]
        )
    first = result["rows"][0]["job"] if result["rows"] else None
    scope = (
        f"{first['n_train']:,} images, {first['params']['validation_fraction']:.0%} of them "
        f"held out for validation as the study does, {first['epochs']} epochs. "
        if first
        else ""
    )
    return "\n".join(
        [
            "## Several seeds of one network, in one process\n",
            scope + "Each seed is a separate `FashionMLP(random_state=seed).fit` today; "
            "x one seed: this row's median / the one-seed median of the same network; "
            "separate fresh-process fits: seeds x the one-seed median. Test accuracy: "
            "median over seeds and runs.\n",
            markdown_table(
                [
                    "network",
                    "seeds",
                    "fit s",
                    "x one seed",
                    "separate fresh-process fits s",
                    "GFLOP/s",
                    "floor s",
                    "x floor",
                    "test accuracy",
                ],
                table,
            ),
        ]
    )


def _grid_md(result):
    table = []
    for row in result["rows"]:
        good = [run for run in row["runs"] if "error" not in run]
        job = row["job"]
        grid = " x ".join(f"{key} {values}" for key, values in job["param_grid"].items())
        table.append(
            [
                f"{grid}, cv={job['cv']}, {job['n_train']:,} images",
                good[0]["n_fits"] if good else "-",
                _stat(row, "fit_s", 1),
                *_rate_cells(row),
                good[0]["best_params"] if good else "-",
                _acc(row),
            ]
        )
    return "\n".join(
        [
            "## GridSearchCV over FashionMLP, end to end\n",
            markdown_table(
                ["search", "fits", "total s", "GFLOP/s", "x floor", "best params", "test accuracy"],
                table,
            ),
        ]
    )


def _study_md(result):
    table, models = [], []
    for row in result["rows"]:
        command = " ".join(["skfashion", *STUDY_COMMAND[2:], *row["job"]["args"]])
        good = [run for run in row["runs"] if "error" not in run]
        table.append(
            [
                f"`{command}`",
                len(good[0]["seeds"]) if good else "-",
                _stat(row, "fit_s", 1),
                _stat(row, "run_time_s", 1),
                _stat(row, "fit_cpu_s", 1),
                _stat(row, "peak_rss_mb", 0),
            ]
        )
        models += [
            [name, _stat({"t": summary}, "t", 1)] for name, summary in row["model_fit_s"].items()
        ]
    return "\n".join(
        [
            "## The study, end to end\n",
            "The command in a fresh process: total s from its start to its exit (Python's "
            "start and imports included), the study's own run time (study.json), the CPU time "
            "of the command and its worker processes, and the largest peak memory of any one of "
            "them. "
            "Median, min-max over the repeats.\n",
            markdown_table(["command", "seeds", "total s", "study s", "CPU s", "peak MB"], table),
            "",
            "Training time of each model, its seeds together (summary.csv); runs train in "
            "parallel, so these add up to more than the study's time.\n",
            markdown_table(["model", "training s"], models),
        ]
    )


RENDER = {
    "contenders": _contenders_md,
    "variants": _variants_md,
    "units": _units_md,
    "sizes": _sizes_md,
    "seeds": _seeds_md,
    "grid": _grid_md,
    "study": _study_md,
}


def _goals_md(report):
    goals = report.get("goals") or {}
    if not goals:
        return ""

    def met(goal):
        return "not measured" if goal["met"] is None else ("yes" if goal["met"] else "NO")

    return "\n".join(
        [
            "## The issue's targets\n",
            "Judged on this run's medians. A target whose measurements this run did not make "
            "says so.\n",
            markdown_table(
                ["target", "key", "measured", "goal", "met", "detail"],
                [
                    [
                        goal["text"],
                        f"`{key}`",
                        _fmt(goal["value"]),
                        ("at least " if goal["kind"] == "min" else "at most ")
                        + _fmt(goal["target"]),
                        met(goal),
                        goal.get("detail") or "",
                    ]
                    for key, goal in goals.items()
                ],
            ),
            "",
        ]
    )


def render_markdown(report):
    """The report as Markdown: machine, settings, targets, one table per section."""
    machine, settings = report["machine"], report["settings"]
    floor = report.get("compute_floor")
    lines = [
        "# skfashion performance",
        "",
        f"Measured {report['date']} on {machine['cpu_model']} "
        f"({machine['cpus_usable']} usable cores, {machine['memory_gb']} GB), "
        f"Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
        + f"; commit {machine['git_commit']}"
        + (
            f" with uncommitted changes to {', '.join(machine['uncommitted_skfashion_files'])}"
            if machine.get("uncommitted_skfashion_files")
            else ""
        )
        + ".",
        "",
        f"{settings['repeats']} interleaved repeats per measurement, each in a fresh process"
        + (
            f"; {settings['n_train']:,} training images, {settings['n_test']:,} test images, "
            f"{settings['epochs']} epochs, batch {settings['batch_size']}"
            if set(report["sections"]) != {"study"}  # the study has its own settings
            else ""
        )
        + (" (**--quick smoke run, not a measurement**)" if settings["quick"] else "")
        + (f"; only {', '.join(settings['only'])}" if settings.get("only") else "")
        + (f"; without {', '.join(settings['skip'])}" if settings.get("skip") else "")
        + ".",
        f"Load average (1, 5, 15 min) before: {_loads(report['load_before'])}; "
        f"after: {_loads(report['load_after'])}. "
        + _others_text(report["others_cores"], machine["cpus_usable"])
        + (" **The machine was busy: treat the times with care.**" if report["busy"] else ""),
        "",
    ]
    if "duration_s" in report:
        lines += [f"The run took {report['duration_s'] / 60:.0f} min.", ""]
    if floor:
        lines += [
            "GFLOP: training compute, 6 x weights of the dense layers x images x epochs "
            "(forward 2, backward 4 FLOPs per weight and image; biases, activations, optimizer "
            f"and validation left out). Compute floor: the highest rate of this run, "
            f"{_floor_text(floor)}; a row's floor s is its GFLOP at that rate, x floor its fit "
            "time / floor s.",
            "",
        ]
    lines += [_goals_md(report)]
    for section, result in report["sections"].items():
        lines += [RENDER[section](result), ""]
        if result.get("others_cores"):
            lines += [
                _others_text(result["others_cores"], machine["cpus_usable"])
                + (" **Busy: treat these times with care.**" if result["busy"] else ""),
                "",
            ]
    return "\n".join(lines)


def others_cores_summary(sections):
    """Median and max cores other processes kept busy during the measurements."""
    values = [
        run["others_cores"]
        for section in sections.values()
        for row in section["rows"]
        for run in row["runs"]
        if not math.isnan(run.get("others_cores", math.nan))
    ]
    return summarise(values) if values else None


def is_busy(report):
    """Whether other processes competed for the CPUs in any section.

    Judged on their measured CPU use, not on the load average, which also counts
    the runner's own workers.
    """
    return any(section.get("busy") for section in report["sections"].values())


def _others_text(others, cores):
    if others is None:
        return ""
    return (
        f"Other processes kept {others['median']:.2f} of the {cores} cores busy during a "
        f"measurement (median; max {others['max']:.2f})."
    )


def _loads(values):
    return ", ".join(f"{v:.2f}" for v in values)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    from skfashion._files import write_text

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


# ----------------------------------------------------------------------------- figures in docs
FIGURE = re.compile(
    r"(?P<number>-?\d[\d,]*(?:\.\d+)?)(?P<between>[^\d<\n]{0,24}?)"
    r"<!--\s*(?P<file>[\w./-]+\.(?:json|csv))#(?P<path>[^*>]+?)(?:\*(?P<scale>\d+))?\s*-->"
)
"""A figure a document quotes from a results file, followed by where it comes from.

``31.35 s<!-- performance.json#sections/contenders/rows/course_keras/fit_s/median -->``:
the file (a name alone is in ``benchmarks/results/``; a path such as
``docs/study/summary.csv`` is from the repository's root), then the path to the
value: dictionary keys, and in a list the item whose ``name`` is the step (or
its index); in a CSV table, the row whose first column is the first step, then
the column. ``*100`` after the path scales the value (an accuracy quoted in
percent). The comment is invisible once the Markdown is rendered.
"""
RESULTS = HERE / "results"
OWNED_DOCS = (ROOT / "README.md", ROOT / "docs" / "benchmarks.md", HERE / "README.md")
"""Documents in which every measured figure must name its results value."""
UNSOURCED = re.compile(
    r"(?<![\w.+-])\d[\d,]*(?:\.\d+)?\s?"
    r"(?:s|ms|min|MB|GB|GFLOP/s|GFLOP|×|x|%|times|points|images/s)(?![\w/])"
    r"|(?<![\w.])0\.\d{3,}\b"
)
"""A measured-looking figure: a number with a unit of time, memory, rate or ratio, or an
accuracy."""


def resolve(data, path):
    """The value at ``path`` ("a/b/name/c") in a results JSON; KeyError naming the step."""
    value = data
    for step in path.strip("/").split("/"):
        if isinstance(value, list):
            named = [item for item in value if isinstance(item, dict) and item.get("name") == step]
            if named:
                value = named[0]
            elif step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                raise KeyError(f"{path}: no item named {step!r}")
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise KeyError(f"{path}: no key {step!r}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise KeyError(f"{path}: {value!r} is not a number")
    return value


def _decimals(number):
    return len(number.split(".")[1]) if "." in number else 0


def load_results(name, results=RESULTS):
    """The results file a figure names, as nested dictionaries and lists.

    A CSV table becomes ``{first column: {column: value}}``, numbers as floats.
    """
    path = Path(ROOT, name) if "/" in name else Path(results, name)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    key = next(iter(rows[0]))
    return {row[key]: {column: _number(text) for column, text in row.items()} for row in rows}


def _number(text):
    try:
        return float(text)
    except ValueError:
        return text


def quoted_figures(text, results=RESULTS):
    """Every figure ``text`` quotes: ``(number as printed, file, path, value, matches)``.

    A figure matches when its value, rounded to the decimals printed, is the
    number printed.
    """
    cache, found = {}, []
    for match in FIGURE.finditer(text):
        name, path = match["file"], match["path"].strip()
        if name not in cache:
            cache[name] = load_results(name, results)
        value = resolve(cache[name], path) * int(match["scale"] or 1)
        printed = float(match["number"].replace(",", ""))
        tolerance = 0.5 * 10 ** -_decimals(match["number"]) * (1 + 1e-9)
        found.append((match["number"], name, path, value, abs(printed - value) <= tolerance))
    return found


def unsourced_figures(text):
    """Measured-looking figures of a Markdown text that name no results value.

    Code (fenced blocks, inline spans), MyST directives and HTML comments are
    left out.
    """
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = FIGURE.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return [match.group(0) for match in UNSOURCED.finditer(text)]


def sync_figures(text, results=RESULTS):
    """``text`` with every quoted figure rewritten from its results value, same format."""
    cache = {}

    def replace(match):
        name = match["file"]
        if name not in cache:
            cache[name] = load_results(name, results)
        value = resolve(cache[name], match["path"].strip()) * int(match["scale"] or 1)
        digits = _decimals(match["number"])
        number = f"{value:,.{digits}f}" if "," in match["number"] else f"{value:.{digits}f}"
        return number + match.group(0)[len(match["number"]) :]

    return FIGURE.sub(replace, text)


def documents_with_figures():
    """The repository's Markdown files that quote results figures, and the owned docs."""
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), HERE / "README.md"]
    found = [p for p in candidates if p.exists() and FIGURE.search(p.read_text())]
    return sorted(set(found) | {p for p in OWNED_DOCS if p.exists()})


# ----------------------------------------------------------------------------- command line
def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = case_names()
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section or case {', '.join(unknown) or repr(text)}; choose a section "
            f"({', '.join(SECTIONS)}) or a case such as {', '.join(CONTENDERS)}"
        )
    return names


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0]
        + " Each measurement runs in a fresh process; repeats are interleaved.",
        epilog=__doc__[__doc__.index("Sections\n") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each measurement, interleaved (default 3)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 training images, 1 epoch, two points per scaling table",
    )
    parser.add_argument(
        "--only",
        type=_names,
        action="extend",
        metavar="NAME[,NAME]",
        help="run only these sections or cases (repeatable), e.g. contenders or "
        "jax_loop,torch_loop; default all",
    )
    parser.add_argument(
        "--skip",
        type=_names,
        action="extend",
        default=[],
        metavar="NAME[,NAME]",
        help="leave out these sections or cases (repeatable), e.g. torch_loop_compiled",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help=f"results file names, NAME.json and NAME.md (default {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per measurement (default 1800)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only rewrite the Markdown next to an existing results JSON",
    )
    parser.add_argument(
        "--sync-docs",
        action="store_true",
        help="only rewrite the figures the docs quote from results files (see FIGURE)",
    )
    parser.add_argument(
        "--wait-for-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to this long for a 10 s spell in which other processes use under "
        f"{BUSY_OTHERS_CORES} cores",
    )
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.render:
        write_atomic(
            args.render.with_suffix(".md"), render_markdown(json.loads(args.render.read_text()))
        )
        return 0
    if args.sync_docs:
        for path in documents_with_figures():
            text = path.read_text()
            synced = sync_figures(text)
            if synced != text:
                write_atomic(path, synced)
                print(f"updated {path}")
        return 0
    settings = dict(QUICK if args.quick else FULL, repeats=args.repeats, quick=args.quick)
    cases = skip(plan(SECTIONS, settings, args.only), args.skip)
    if args.wait_for_quiet and not wait_for_quiet(args.wait_for_quiet):
        print("note: other processes are still busy; measuring anyway", flush=True)
    started = time.monotonic()
    report = {
        "schema_version": SCHEMA_VERSION,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": ["python", "benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)],
        "machine": machine_info(),
        "settings": {
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
            "sections": list(cases),
            "only": args.only,
            "skip": args.skip,
        },
        "load_before": _load(),
        "sections": {},
    }
    failures = 0
    json_path, md_path = args.out / f"{args.name}.json", args.out / f"{args.name}.md"
    partial_path = args.out / f"{args.name}.partial.json"
    with tempfile.TemporaryDirectory(prefix="skfashion-bench-data-") as data_dir:
        # Verified once here; each worker then loads plain .npy copies in milliseconds.
        _worker_module().save_data(data_dir)
        for section, section_cases in cases.items():
            runs = {name: [] for name, _ in section_cases}
            for repeat, name, job in interleave(section_cases, args.repeats):
                job = {**job, "seed": repeat, "data_dir": data_dir}
                load = os.getloadavg()[0]
                missing = missing_modules(job)
                if missing:
                    result = {"error": f"not installed: {', '.join(missing)} ({BENCH_EXTRA})"}
                else:
                    result = run_worker(job, timeout=args.timeout)
                result["repeat"], result["load_1min_before"] = repeat, load
                runs[name].append(result)
                failures += "error" in result
                print(_progress(section, repeat, args.repeats, name, result), flush=True)
            rows = [summarise_case(name, job, runs[name]) for name, job in section_cases]
            report["sections"][section] = section_result(section, rows, settings)
            # A long run that is stopped keeps the sections it finished.
            write_atomic(partial_path, json.dumps(report, indent=1) + "\n")
    report["load_after"] = _load()
    report["duration_s"] = time.monotonic() - started
    finalise(report)
    write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    write_atomic(md_path, render_markdown(report))
    partial_path.unlink(missing_ok=True)
    print(f"wrote {json_path} and {md_path}")
    if failures:
        print(f"{failures} measurement(s) failed; see 'error' in the JSON", file=sys.stderr)
    return 1 if failures else 0


def _progress(section, repeat, repeats, name, result):
    head = f"{section:<10} {repeat + 1}/{repeats} {name:<28}"
    if "error" in result:
        return f"{head} FAILED: {result['error']} {' | '.join(result.get('stderr_tail', [])[-3:])}"
    if "model_fit_s" in result:
        return (
            f"{head} total {result['fit_s']:7.2f} s  study {result['run_time_s']:7.2f} s  "
            f"cpu {result['fit_cpu_s']:7.2f} s  others {result['others_cores']:.2f} cores  "
            f"peak RSS {result['peak_rss_mb']:.0f} MB"
        )
    return (
        f"{head} fit {result['fit_s']:7.2f} s  cpu {result['fit_cpu_s']:7.2f} s  "
        f"others {result['others_cores']:.2f} cores  accuracy {result['test_accuracy']:.4f}  "
        f"predict {result['predict_s']:.3f} s  peak RSS {result['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
