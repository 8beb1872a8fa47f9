"""What a results file records about the machine and software that produced it."""

import datetime
import os
import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("skfashion", "tensorflow", "keras", "scikit-learn", "numpy", "pandas", "matplotlib")


def package_versions(packages=PACKAGES):
    """Installed version of each package (None where it is not installed)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def usable_cpus():
    """CPU cores this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def machine_info(packages=PACKAGES):
    """Versions, Python, platform, CPU count and date: one dict, JSON-ready."""
    return {
        "versions": package_versions(packages),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": usable_cpus(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
