"""Time FashionMLP against the course's Keras program, scikit-learn and hand-tuned Keras.

Each measurement runs in a fresh Python process (``contenders.py``), so
TensorFlow's import, memory and XLA caches never leak from one contender to the
next. Repeats are interleaved (A B C D, A B C D, ...) so that a slow spell on a
shared machine hits every contender alike; tables report medians with min/max,
and ratios are computed from medians of the same run.

Sections
--------
contenders  FashionMLP() defaults, the course's Keras program as written,
            MLPClassifier((128,), batch_size=32, max_iter=5), the best Keras
            ``model.fit`` and the best hand-written Keras training loop, on
            all 60,000 training images for 5 epochs of batch 32; test accuracy
            on the 10,000 test images, prediction time (first call and warm)
            and peak memory of each process.
variants    The hand-written Keras versions tried in search of the fastest,
            MLPClassifier on one BLAS thread, and FashionMLP on XLA's older CPU
            runtime, on the same workload.
units       FashionMLP fit time against network size: two hidden layers of
            4 ("smaller"), 16 ("baseline"), 64, 128, 512 ("bigger") and 1024
            units each.
sizes       FashionMLP() fit time against training-set size.
grid        GridSearchCV over 3 network sizes x 2 dropout rates, cv=3, on
            10,000 images, end to end.

Results go to ``performance.json`` (every run's raw numbers, medians, machine
information) and ``performance.md`` in ``--out``, replaced atomically.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "contenders.py"
DEFAULT_OUT = HERE / "results"
SECTIONS = ("contenders", "variants", "units", "sizes", "grid")
BUSY_OTHERS_CORES = 0.25  # median cores used by other processes during a measurement
SCHEMA_VERSION = 1

LEGACY_XLA = {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}
CONTENDERS = {
    "fashion_mlp": ("FashionMLP() defaults", {"program": "fashion_mlp"}),
    "course_keras": ("course's Keras program", {"program": "course_keras"}),
    "sklearn_mlp": (
        "MLPClassifier((128,), batch_size=32, max_iter=5)",
        {"program": "sklearn_mlp"},
    ),
    "best_keras": ("best Keras model.fit", {"program": "best_keras"}),
    "keras_loop": (
        "best hand-written Keras training loop",
        {"program": "keras_epoch_loop_uint8", "env": LEGACY_XLA},
    ),
}
"""name -> (label, job): the head-to-head comparison, in the order it runs."""
HAND_WRITTEN = ("best_keras", "keras_loop")

VARIANTS = {
    "keras_f32": ("fit, float32 NumPy input", {"program": "keras_f32"}),
    "keras_f32_spe128": (
        "fit, float32, steps_per_execution=128",
        {"program": "keras_f32_spe128"},
    ),
    "keras_f32_spe128_xla": (
        "fit, float32, steps_per_execution=128, jit_compile",
        {"program": "keras_f32_spe128_xla"},
    ),
    "keras_f32_spe_epoch_xla": (
        "fit, float32, steps_per_execution=one epoch, jit_compile",
        {"program": "keras_f32_spe_epoch_xla"},
    ),
    "keras_tfdata_spe_epoch_xla": (
        "fit, tf.data shuffle+batch, one epoch per execution, jit_compile",
        {"program": "keras_tfdata_spe_epoch_xla"},
    ),
    "keras_uint8_spe_epoch_xla": (
        "fit, uint8 input + Rescaling layer, one epoch per execution, jit_compile",
        {"program": "keras_uint8_spe_epoch_xla"},
    ),
    "keras_epoch_loop": (
        "training loop, float32, one XLA while loop per epoch",
        {"program": "keras_epoch_loop"},
    ),
    "keras_epoch_loop_uint8": (
        "training loop, uint8 input, one XLA while loop per epoch",
        {"program": "keras_epoch_loop_uint8"},
    ),
    "keras_epoch_loop_uint8_legacy_xla": (
        "training loop, uint8, XLA while loop, legacy XLA CPU runtime",
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
"""name -> (label, job): hand-written Keras versions tried, and FashionMLP on other settings."""
PRESET_UNITS = {4: "smaller", 16: "baseline", 512: "bigger"}

FULL = {
    "n_train": 60_000,
    "n_test": 10_000,
    "epochs": 5,
    "batch_size": 32,
    "units": (4, 16, 64, 128, 512, 1024),
    "sizes": (5_000, 10_000, 20_000, 40_000, 60_000),
    "grid_n_train": 10_000,
    "grid": {"hidden_layer_sizes": ["smaller", "baseline", "bigger"], "dropout": [0.0, 0.5]},
    "cv": 3,
    "variants": tuple(VARIANTS),
}
QUICK = {
    "n_train": 2_000,
    "n_test": 1_000,
    "epochs": 1,
    "batch_size": 32,
    "units": (4, 16),
    "sizes": (1_000, 2_000),
    "grid_n_train": 1_000,
    "grid": {"hidden_layer_sizes": ["smaller"], "dropout": [0.0, 0.5]},
    "cv": 2,
    "variants": ("keras_f32", "fashion_mlp_legacy_xla"),
}
GOALS = {
    "speedup_vs_course_keras": 3.0,
    "speedup_vs_sklearn_mlp": 1.6,
    "max_slowdown_vs_hand_written": 1.10,
    "max_accuracy_gap_points": 0.5,
    "max_peak_rss_mb": 1500.0,
    "max_predict_s": 1.0,
}


# ----------------------------------------------------------------------------- planning
def plan(sections, settings):
    """The measurements to make, per section: a list of ``(case_name, job)``."""
    base = {key: settings[key] for key in ("n_train", "n_test", "epochs", "batch_size")}
    cases = {}
    for section in sections:
        if section == "contenders":
            cases[section] = [(name, {**base, **job}) for name, (_, job) in CONTENDERS.items()]
        elif section == "variants":
            cases[section] = [
                (name, {**base, **VARIANTS[name][1]}) for name in settings["variants"]
            ]
        elif section == "units":
            cases[section] = [
                (
                    f"{units}+{units}",
                    {
                        **base,
                        "program": "fashion_mlp",
                        "params": {"hidden_layer_sizes": [units, units]},
                    },
                )
                for units in settings["units"]
            ]
        elif section == "sizes":
            cases[section] = [
                (str(n), {**base, "program": "fashion_mlp", "n_train": n})
                for n in settings["sizes"]
            ]
        elif section == "grid":
            cases[section] = [
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
    return cases


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
    started, busy_before = time.monotonic(), cpu_busy_seconds()
    with tempfile.TemporaryDirectory(prefix="skfashion-bench-") as tmp:
        result_path, log_path = Path(tmp, "result.json"), Path(tmp, "stderr.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(job), str(result_path)],
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
        peak_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        others = _others_cores(started, busy_before, usage.ru_utime + usage.ru_stime)
        if timed_out:
            return {"error": f"timed out after {timeout} s", "peak_rss_mb": peak_rss_mb}
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
    """Training compute, 6 FLOPs per weight per image (forward 2, backward 4), in GFLOP."""
    return 6 * macs_per_image(hidden) * n_images * epochs / 1e9


def contender_ratios(rows):
    """How many times longer each contender's median fit takes than FashionMLP's."""
    by_name = {row["name"]: row for row in rows if "fit_s" in row}
    if "fashion_mlp" not in by_name:
        return {}
    ours = by_name["fashion_mlp"]["fit_s"]["median"]
    others = {name: row for name, row in by_name.items() if name != "fashion_mlp"}
    return {name: row["fit_s"]["median"] / ours for name, row in others.items()}


def check_goals(rows, ratios):
    """The issue's targets against this run's medians: value, target and whether met.

    Speed-ups are contender median / FashionMLP median. The hand-written
    reference is the faster of ``best_keras`` (``model.fit``) and ``keras_loop``
    (a custom training loop); both ratios are also kept.
    """
    by_name = {row["name"]: row for row in rows if "fit_s" in row}
    goals = {}

    def add(key, value, target, met):
        goals[key] = {"value": value, "target": target, "met": bool(met)}

    for name in ("course_keras", "sklearn_mlp"):
        if name in ratios:
            target = GOALS[f"speedup_vs_{name}"]
            add(f"speedup_vs_{name}", ratios[name], target, ratios[name] >= target)
    target = GOALS["max_slowdown_vs_hand_written"]
    for name in HAND_WRITTEN:
        if name in ratios:
            add(f"slowdown_vs_{name}", 1 / ratios[name], target, 1 / ratios[name] <= target)
    hand_written = [ratios[name] for name in HAND_WRITTEN if name in ratios]
    if hand_written:
        slowdown = 1 / min(hand_written)
        add("slowdown_vs_fastest_hand_written", slowdown, target, slowdown <= target)
    ours = by_name.get("fashion_mlp")
    if ours is None:
        return goals
    if "course_keras" in by_name:
        course = by_name["course_keras"]["test_accuracy"]["median"]
        gap = 100 * (course - ours["test_accuracy"]["median"])
        target = GOALS["max_accuracy_gap_points"]
        add("accuracy_points_below_course_keras", gap, target, gap <= target)
    peak = ours["peak_rss_mb"]["max"]
    add("peak_rss_mb", peak, GOALS["max_peak_rss_mb"], peak < GOALS["max_peak_rss_mb"])
    predict = ours["predict_s"]["median"]
    add("predict_s", predict, GOALS["max_predict_s"], predict < GOALS["max_predict_s"])
    return goals


def section_result(section, rows, settings):
    """A section's rows plus what is derived from them (ratios, compute rates)."""
    result = {"rows": rows, "others_cores": others_cores_summary({section: {"rows": rows}})}
    result["busy"] = (
        result["others_cores"] is not None and result["others_cores"]["median"] > BUSY_OTHERS_CORES
    )
    if section == "contenders":
        result["ratios"] = contender_ratios(rows)
        result["goals"] = check_goals(rows, result["ratios"])
    if section == "units":
        for row in rows:
            hidden = row["job"]["params"]["hidden_layer_sizes"]
            gflop = training_gflop(hidden, row["job"]["n_train"], row["job"]["epochs"])
            row["gflop"] = gflop
            if "fit_s" in row:
                row["gflop_per_s"] = gflop / row["fit_s"]["median"]
    if section in ("sizes", "contenders", "variants"):
        for row in rows:
            if "fit_s" in row:
                job = row["job"]
                row["images_per_s"] = job["n_train"] * job["epochs"] / row["fit_s"]["median"]
    return result


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


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
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
    packages = ("skfashion", "numpy", "scikit-learn", "tensorflow", "keras", "scikeras")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in packages},
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
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" for _ in headers) + "|"]
    lines[1] = "|---|" + "|".join("---:" for _ in headers[1:]) + "|"
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _acc(row):
    return _fmt(row["test_accuracy"]["median"], 4) if "test_accuracy" in row else "failed"


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


def _contenders_md(result):
    rows, ratios = result["rows"], result["ratios"]
    table = [
        [
            CONTENDERS[row["name"]][0],
            _stat(row, "fit_s"),
            _quiet_cell(row),
            "1.00" if row["name"] == "fashion_mlp" else _fmt(ratios.get(row["name"])),
            _acc(row),
            _stat(row, "peak_rss_mb", 0),
        ]
        for row in rows
    ]
    parts = [
        "## FashionMLP against the course's program, scikit-learn and hand-tuned Keras\n",
        "Course network (Dense(128) + Dense(10)), Adam, batch 32. Fit time: seconds from the "
        "raw uint8 arrays to a trained model (scaling, build, compile and `fit`; imports and "
        "data loading excluded), median (min-max). Quiet runs: median over the runs during "
        f"which other processes used under {BUSY_OTHERS_CORES} cores. "
        "Speed-up: contender's median / FashionMLP's.\n",
        markdown_table(
            [
                "contender",
                "fit s",
                "fit s, quiet runs",
                "FashionMLP speed-up",
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
                    CONTENDERS[row["name"]][0],
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
    if result["goals"]:
        parts += [
            "\n### The issue's targets\n",
            markdown_table(
                ["target", "measured", "goal", "met"],
                [
                    [key, _fmt(goal["value"]), _fmt(goal["target"]), "yes" if goal["met"] else "NO"]
                    for key, goal in result["goals"].items()
                ],
            ),
        ]
    return "\n".join(parts)


def _variants_md(result):
    return "\n".join(
        [
            "## Variants: hand-written Keras tried, and FashionMLP on other settings\n",
            "Same workload as the head-to-head table; `legacy XLA CPU runtime` is "
            "`XLA_FLAGS=--xla_cpu_use_thunk_runtime=false`.\n",
            markdown_table(
                [
                    "version",
                    "fit s",
                    "fit s, quiet runs",
                    "test accuracy",
                    "peak RSS MB",
                    "predict s, first call",
                    "predict s, warm",
                ],
                [
                    [
                        VARIANTS[row["name"]][0],
                        _stat(row, "fit_s"),
                        _quiet_cell(row),
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


def _units_md(result):
    table = []
    for row in result["rows"]:
        units = row["job"]["params"]["hidden_layer_sizes"][0]
        name = f"{units}+{units}" + (f" ({PRESET_UNITS[units]})" if units in PRESET_UNITS else "")
        table.append(
            [
                name,
                _stat(row, "fit_s"),
                _fmt(row["gflop"], 1),
                _fmt(row.get("gflop_per_s"), 1),
                _acc(row),
            ]
        )
    return "\n".join(
        [
            "## FashionMLP fit time against network size\n",
            "Two hidden layers of the same width; all else as `FashionMLP()` defaults. "
            "GFLOP: training compute, 6 x weights x images x epochs.\n",
            markdown_table(["hidden units", "fit s", "GFLOP", "GFLOP/s", "test accuracy"], table),
        ]
    )


def _sizes_md(result):
    return "\n".join(
        [
            "## FashionMLP() fit time against training-set size\n",
            markdown_table(
                ["training images", "fit s", "images/s", "test accuracy"],
                [
                    [
                        f"{row['job']['n_train']:,}",
                        _stat(row, "fit_s"),
                        _fmt(row.get("images_per_s"), 0),
                        _acc(row),
                    ]
                    for row in result["rows"]
                ],
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
                good[0]["best_params"] if good else "-",
                _acc(row),
            ]
        )
    return "\n".join(
        [
            "## GridSearchCV over FashionMLP, end to end\n",
            markdown_table(["search", "fits", "total s", "best params", "test accuracy"], table),
        ]
    )


RENDER = {
    "contenders": _contenders_md,
    "variants": _variants_md,
    "units": _units_md,
    "sizes": _sizes_md,
    "grid": _grid_md,
}


def render_markdown(report):
    """The report as Markdown: machine, settings, one table per section."""
    machine, settings = report["machine"], report["settings"]
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
        f"{settings['repeats']} interleaved repeats per measurement, each in a fresh process; "
        f"{settings['n_train']:,} training images, {settings['n_test']:,} test images, "
        f"{settings['epochs']} epochs, batch {settings['batch_size']}"
        + (" (**--quick smoke run, not a measurement**)" if settings["quick"] else "")
        + ".",
        f"Load average (1, 5, 15 min) before: {_loads(report['load_before'])}; "
        f"after: {_loads(report['load_after'])}. "
        + _others_text(report["others_cores"], machine["cpus_usable"])
        + (" **The machine was busy: treat the times with care.**" if report["busy"] else ""),
        "",
    ]
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- command line
def _sections(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or repr(text)}; choose from {', '.join(SECTIONS)}"
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
        help="smoke test: 2,000 training images, 1 epoch, two points per scaling table",
    )
    parser.add_argument(
        "--only",
        type=_sections,
        action="extend",
        metavar="SECTION[,SECTION]",
        help="run only these sections (repeatable); default all",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per measurement (default 1800)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only rewrite the Markdown next to an existing performance.json",
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
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        build_parser().error("--repeats must be at least 1")
    if args.render:
        report = json.loads(args.render.read_text())
        write_atomic(args.render.with_suffix(".md"), render_markdown(report))
        return 0
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    settings = dict(QUICK if args.quick else FULL, repeats=args.repeats, quick=args.quick)
    if args.wait_for_quiet and not wait_for_quiet(args.wait_for_quiet):
        print("note: other processes are still busy; measuring anyway", flush=True)
    load_before = _load()
    report = {
        "schema_version": SCHEMA_VERSION,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
            "sections": sections,
        },
        "load_before": load_before,
        "sections": {},
    }
    failures = 0
    with tempfile.TemporaryDirectory(prefix="skfashion-bench-data-") as data_dir:
        # Verified once here; each worker then loads plain .npy copies in milliseconds.
        _worker_module().save_data(data_dir)
        for section, cases in plan(sections, settings).items():
            runs = {name: [] for name, _ in cases}
            for repeat, name, job in interleave(cases, args.repeats):
                job = {**job, "seed": repeat, "data_dir": data_dir}
                load = os.getloadavg()[0]
                result = run_worker(job, timeout=args.timeout)
                result["repeat"], result["load_1min_before"] = repeat, load
                runs[name].append(result)
                failures += "error" in result
                print(_progress(section, repeat, args.repeats, name, result), flush=True)
            rows = [summarise_case(name, job, runs[name]) for name, job in cases]
            report["sections"][section] = section_result(section, rows, settings)
    report["load_after"] = _load()
    report["others_cores"] = others_cores_summary(report["sections"])
    report["busy"] = is_busy(report)
    write_atomic(args.out / "performance.json", json.dumps(report, indent=1) + "\n")
    write_atomic(args.out / "performance.md", render_markdown(report))
    print(f"wrote {args.out / 'performance.json'} and {args.out / 'performance.md'}")
    if failures:
        print(f"{failures} measurement(s) failed; see 'error' in the JSON", file=sys.stderr)
    return 1 if failures else 0


def _progress(section, repeat, repeats, name, result):
    head = f"{section:<10} {repeat + 1}/{repeats} {name:<28}"
    if "error" in result:
        return f"{head} FAILED: {result['error']} {' | '.join(result.get('stderr_tail', [])[-3:])}"
    return (
        f"{head} fit {result['fit_s']:7.2f} s  cpu {result['fit_cpu_s']:7.2f} s  "
        f"others {result['others_cores']:.2f} cores  accuracy {result['test_accuracy']:.4f}  "
        f"predict {result['predict_s']:.3f} s  peak RSS {result['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
