"""report.html in a real browser: headless Chromium opens it from file:// (offline, as a
CI artifact is opened) and it must draw every chart without an error.

Skipped, with the reason, where Chromium is not installed (``apt-get install chromium``);
CI sets ``DCHAOS_REQUIRE_DOCKER=1``, which turns that skip into a failure, as it does for
the Docker tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_dchaos.families.gossip.family import Gossip
from pytest_dchaos.record import page
from pytest_dchaos.record.folder import ReportFolder
from tests.report.folders import write_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REQUIRE = "DCHAOS_REQUIRE_DOCKER"
#: Virtual time the page gets to draw (headless Chromium runs it as fast as it can).
BUDGET_MS = "10000"


def chromium() -> str:
    """The Chromium executable, or a skip (a failure where the browser tests are required)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no headless Chromium here (apt-get install chromium)"
    if os.environ.get(REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE} is set, but the browser test cannot run: {reason}",
                    pytrace=False)
    pytest.skip(f"{reason}; set {REQUIRE}=1 to fail rather than skip")


def headless(*args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. Software
    # WebGL (SwiftShader) draws the scattergl charts where there is no GPU.
    command = [chromium(), "--headless", "--no-sandbox", "--disable-dev-shm-usage",
               "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--hide-scrollbars",
               f"--virtual-time-budget={BUDGET_MS}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ReportFolder.load(write_folder(tmp_path_factory.mktemp("browser") / "run",
                                            messages=3000))
    return page.write(folder, Gossip().report_lanes)


def test_every_chart_draws_without_an_error(report_page: Path) -> None:
    done = headless("--dump-dom", report_page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, done.stdout[:2000]
    errors = re.search(r'<pre id="page-errors"[^>]*>(.*?)</pre>', done.stdout, re.S)
    assert errors is not None and errors.group(1) == "", errors
    assert 'data-errors="0"' in body.group(1)
    assert 'data-rendered="yes"' in body.group(1), body.group(1)
    # Plotly drew into each place: its root element is there.
    for place in ("ops", "timeline-plot", "spacetime"):
        assert re.search(rf'<div id="{place}" class="plot[^"]*js-plotly-plot', done.stdout), place


def test_a_page_that_breaks_says_so(tmp_path: Path, report_page: Path) -> None:
    # What the first test reads must tell a page that did not draw: here, its figures
    # cut short, so they do not parse.
    text = report_page.read_text()
    marker = '<script type="application/json" id="figures">'
    start = text.index(marker) + len(marker)
    broken = tmp_path / "broken.html"
    broken.write_text(text[:start] + text[start:start + 500] + text[text.index("</script>",
                                                                               start):])
    done = headless("--dump-dom", broken.as_uri())
    assert 'data-rendered="no"' in done.stdout
    assert 'data-errors="1"' in done.stdout
    errors = re.search(r'<pre id="page-errors">(.*?)</pre>', done.stdout, re.S)
    assert errors is not None and "JSON" in errors.group(1), done.stdout[-3000:]


def test_the_screenshot_is_not_blank(tmp_path: Path, report_page: Path) -> None:
    from PIL import Image, ImageStat

    shot = tmp_path / "page.png"
    done = headless("--window-size=1300,2600", f"--screenshot={shot}", report_page.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1300, 2600)
        grey = image.convert("L")
        spread = ImageStat.Stat(grey).stddev[0]
        colours = len(image.convert("RGB").getcolors(maxcolors=1 << 20) or ())
    # A blank or single-colour page has no spread and a handful of colours; a drawn one
    # has text, charts and anti-aliasing.
    assert spread > 20, spread
    assert colours > 200, colours
