"""The README's two commands for a fresh machine stay true: CI runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_starts_with_exactly_two_one_line_commands():
    blocks = _bash_blocks()
    assert len(blocks) >= 2
    setup_and_run, tests = (block.strip() for block in blocks[:2])
    assert "\n" not in setup_and_run and "\n" not in tests
    assert setup_and_run.startswith("bash setup.sh && ") and "skfashion study" in setup_and_run
    assert tests.startswith("bash setup.sh && ") and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    command = _bash_blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, f"CI must run the README's test command {command!r}"


def test_setup_installs_the_data_package_and_the_extras():
    setup = (ROOT / "setup.sh").read_text()
    assert "dataset-fashion-mnist" in setup
    assert '".[test,docs,dask]"' in setup
