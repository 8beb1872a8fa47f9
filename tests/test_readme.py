"""The README's two commands for a fresh machine stay true: CI runs the second one verbatim."""

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from skfashion import _datasets
from skfashion._cli import _build_parser

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def _readme_commands():
    """The README's first two commands, split into words after `bash setup.sh &&`."""
    commands = []
    for block, setup_command in zip(
        _bash_blocks()[:2], ("bash setup.sh", "bash setup.sh --test"), strict=True
    ):
        setup, _, command = block.strip().partition(" && ")
        assert setup == setup_command and "\n" not in command
        commands.append(shlex.split(command))
    return commands


def test_readme_study_command_is_a_valid_skfashion_command():
    study, _ = _readme_commands()
    assert Path(study[0]).name == "skfashion"
    args = _build_parser().parse_args(study[1:])  # exits with status 2 if it is not
    assert args.command == "study"


def test_ci_runs_the_readme_test_command():
    command = _bash_blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, f"CI must run the README's test command {command!r}"


def test_setup_installs_extras_that_exist():
    setup = (ROOT / "setup.sh").read_text()
    installed = re.findall(r"pip install .*-e \"\.\[([\w,]+)\]\"", setup)
    assert len(installed) == 1
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(installed[0].split(",")) <= set(extras)
    assert "test" in installed[0].split(",")  # the README's test command needs pytest


def test_setups_data_package_holds_the_files_the_loader_reads():
    probes = re.findall(r"\[ -f (\S+) \] \|\| need\+=\((\S+)\)", (ROOT / "setup.sh").read_text())
    data = [(Path(path), package) for path, package in probes if path.endswith(".gz")]
    assert len(data) == 1, "setup.sh should install one data package when its file is missing"
    probed, package = data[0]
    assert probed.parent == _datasets.DEBIAN_DIR and probed.name in _datasets._FILES
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg to list the package's files")
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"{package} is not installed here")
    files = {Path(line) for line in listed.stdout.splitlines()}
    assert {_datasets.DEBIAN_DIR / name for name in _datasets._FILES} <= files
