"""The study's HTML report in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``setup.sh --test``) driven by selenium.

In CI (the ``CI`` environment variable set) a missing Chromium fails these tests: the test
command installs it. Elsewhere they are skipped with the command that installs it.

``python tests/test_browser.py docs/images/report.png`` writes the screenshot of the first
screen of ``docs/study/report.html`` that the documentation shows.
"""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_REPORT = ROOT / "docs" / "study" / "report.html"
LAPTOP = (1366, 768)  # the most common laptop screen, in CSS pixels
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def _which(names):
    return next((path for path in map(shutil.which, names) if path), None)


def chromium():
    """Paths of the browser and its driver, or (None, None)."""
    browser, driver = _which(BROWSERS), _which(DRIVERS)
    return (browser, driver) if browser and driver else (None, None)


def open_browser(width=LAPTOP[0], height=LAPTOP[1]):
    """A headless Chromium of a laptop's window size that records the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@pytest.fixture(scope="module")
def browser():
    if chromium() == (None, None):
        message = (
            "headless Chromium and its driver are needed: run `bash setup.sh --test` "
            "(Debian packages chromium and chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the report in a browser, but {message}")
        pytest.skip(message)
    driver = open_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory):
    """A Japanese report written now by run_study: a small run of one model."""
    from skfashion.study import run_study

    out = tmp_path_factory.mktemp("study") / "report"
    run_study(
        out=out, quick=True, models=["smaller"], subset_size=300, epochs=2, lang="ja",
        progress=False,
    )
    return out / "report.html"


@pytest.fixture(params=["committed", "fresh"])
def report_html(request):
    if request.param == "committed":
        return COMMITTED_REPORT
    return request.getfixturevalue("fresh_report")


_IMAGES = """
return Array.from(document.images).map(image => ({
    complete: image.complete, width: image.naturalWidth, alt: image.alt}));
"""
_LAYOUT = """
const page = document.documentElement;
return {
    viewport: page.clientWidth,
    scroll: page.scrollWidth,
    tables: Array.from(document.querySelectorAll("table")).map(table => {
        const box = table.getBoundingClientRect();
        return {left: box.left, right: box.right};
    }),
};
"""


def _load(browser, path):
    browser.get_log("browser")  # forget what earlier pages logged
    browser.get(path.as_uri())
    browser.execute_script("return document.readyState")
    return browser


@pytest.mark.slow
def test_every_image_of_the_report_loads(browser, report_html):
    expected = len(re.findall(r"<img\b", report_html.read_text(encoding="utf-8")))
    images = _load(browser, report_html).execute_script(_IMAGES)
    assert len(images) == expected >= 1
    broken = [image["alt"] for image in images if not (image["complete"] and image["width"])]
    assert not broken, f"images that did not load: {broken}"


@pytest.mark.slow
def test_the_report_logs_no_console_errors(browser, report_html):
    _load(browser, report_html)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


@pytest.mark.slow
def test_tables_fit_a_laptop_window(browser, report_html):
    layout = _load(browser, report_html).execute_script(_LAYOUT)
    assert layout["viewport"] == LAPTOP[0]
    assert layout["tables"], "the report has no table"
    too_wide = [table for table in layout["tables"] if table["right"] > layout["viewport"]]
    assert not too_wide, f"tables wider than a {LAPTOP[0]} px window: {too_wide}"
    assert layout["scroll"] <= layout["viewport"], "the page scrolls sideways"


def save_screenshot(path, report=COMMITTED_REPORT):
    """Write the first screen of ``report`` as a PNG of a laptop's window size."""
    driver = open_browser()
    try:
        driver.get(Path(report).resolve().as_uri())
        Path(path).write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.quit()


if __name__ == "__main__":
    save_screenshot(sys.argv[1])
