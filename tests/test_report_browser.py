"""The report in a real browser (Debian's chromium driven by playwright): it loads
nothing but itself, logs no error, decodes every image, sorts a table when a header is
clicked, stays readable with JavaScript off, and renders a non-blank page."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_report import make_sweep

import vaelab
from vaelab.metrics.columns import headline_columns
from vaelab.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not "
                               "installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no chromium at {CHROMIUM} "
                                "(apt-get install chromium)")
# The comparison table's test-ELBO column, under the label its metric declares
# ("test ELBO (nats)"), so that the test follows a renamed label or unit.
ELBO = next(c.label for c in headline_columns("test") if c.path == ("test", "elbo"))
# Headless and quiet: no GPU, no background requests of the browser's own.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory, one_thread):
    """A report of a real tiny run plus a sweep around copies of it (finished, unfinished
    and failed points), one sweep run's ELBO changed so that sorting has work to do."""
    from vaelab.cli import cli

    root = tmp_path_factory.mktemp("browser")
    run = root / "tiny"
    vaelab.train(dataset="digits", epochs=1, subset=200, hidden="32", latent_dim=2,
                 batch_size=64, progress=False, out=run)
    cli.main(["eval", str(run), "--metrics", "elbo,collapse", "--quiet", "--device", "cpu",
              "--json"], standalone_mode=False)
    frames = [Image.new("L", (40, 30), color) for color in (0, 128, 255)]  # a GIF too
    frames[0].save(run / "figures" / "markov-chain.gif", save_all=True,
                   append_images=frames[1:], loop=0)
    sweep = make_sweep(root, run)
    metrics_path = sweep / "runs" / "beta-1-s1" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["test"]["elbo"] = -60.0
    metrics_path.write_text(json.dumps(metrics))
    return write_report([sweep, run], root / "report.html")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def open_page(browser, report, **context):
    page = browser.new_context(viewport={"width": 1280, "height": 900}, **context).new_page()
    seen = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda message: seen["console"].append((message.type, message.text)))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.goto(report.as_uri(), wait_until="load")
    return page, seen


def column_values(page, table, header):
    """The data-sort values of one column of ``table`` (a CSS selector), top to bottom."""
    return page.evaluate("""([table, header]) => {
        const t = document.querySelector(table);
        const heads = Array.from(t.tHead.rows[0].cells);
        const names = heads.map((th) => th.firstChild.textContent.trim());
        const i = names.indexOf(header);
        if (i < 0) throw new Error(`no column "${header}" in ${table}: ${names.join(" | ")}`);
        return Array.from(t.tBodies[0].rows, (row) => {
            if (row.cells.length !== heads.length) throw new Error(
                `a row of ${table} has ${row.cells.length} cells for ${heads.length} headers`);
            return row.cells[i].dataset.sort;
        });
    }""", [table, header])


def test_report_in_a_browser(browser, report, tmp_path):
    page, seen = open_page(browser, report)
    assert [m for m in seen["console"] if m[0] == "error"] == [] and seen["errors"] == []
    assert seen["requests"] and all(url.startswith(("file://", "data:"))
                                    for url in seen["requests"]), seen["requests"]
    assert page.evaluate("document.documentElement.classList.contains('js')")

    assert page.locator("table.sortable").count() >= 5
    assert page.locator("#comparison table tbody tr").count() == 5
    images = page.evaluate("Array.from(document.images, (i) => [i.complete, i.naturalWidth])")
    # comparison figure + 3 PNGs and a GIF of each of the two finished sweep runs and the run
    assert len(images) == 1 + 4 + 4 + 4
    assert all(complete and width > 0 for complete, width in images), images

    table = "#comparison table"
    before = column_values(page, table, ELBO)
    page.locator(f"{table} thead th", has_text=ELBO).click()
    ascending = column_values(page, table, ELBO)
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and numbers[0] == -60.0 and ascending != before
    assert ascending[-2:] == ["", ""]  # runs without a number stay last
    header = page.locator(f"{table} thead th", has_text=ELBO)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = column_values(page, table, ELBO)
    assert [float(v) for v in descending if v] == sorted(numbers, reverse=True)
    assert descending[-2:] == ["", ""] and header.get_attribute("aria-sort") == "descending"

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[0] > 900 and pixels.var() > 100  # text, tables and figures, not blank


def test_report_is_readable_without_javascript(browser, report):
    page, seen = open_page(browser, report, java_script_enabled=False)
    assert seen["errors"] == [] and all(url.startswith(("file://", "data:"))
                                        for url in seen["requests"])
    assert page.locator("#comparison table tbody tr").count() == 5
    assert "± 0.12" in page.locator("table.sortable").nth(1).inner_text()
    assert page.locator("img").first.is_visible()
    assert all(width > 0 for width in page.evaluate(
        "Array.from(document.images, (i) => i.naturalWidth)"))
