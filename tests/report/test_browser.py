"""voltlab's HTML reports in a real browser: headless Chromium (Debian's package, installed by
``make test``) loads each report with no console error and no page error, and every Plotly
figure renders (has its SVG)."""

from __future__ import annotations

import os

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "chromium not installed (headless report test); 'make test' installs it with apt-get when root"
        if os.environ.get("VOLTLAB_REQUIRE_SHARED", "") not in ("", "0", "false"):
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def check_in_browser(browser, path, timeout_ms: float = 30_000) -> dict[str, int]:
    """Load ``path``; return counts, failing on any console error or uncaught exception."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).every(d => d.querySelector('.main-svg'))",
        timeout=timeout_ms,
    )
    counts = page.evaluate("""() => ({
        figures: document.querySelectorAll('.js-plotly-plot').length,
        rendered: Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(d => d.querySelectorAll('.main-svg .trace').length > 0 && d.getBoundingClientRect().height > 100)
            .length,
        traces: Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => (d.data || []).length)
            .reduce((a, b) => a + b, 0),
        tables: document.querySelectorAll('table').length,
    })""")
    page.close()
    assert not problems, problems
    return counts


def test_lifetime_report_renders(browser, tmp_path):
    from voltlab.data.store import Store
    from voltlab.models.early_life import EarlyLifeConfig, EarlyLifePredictor
    from voltlab.models.synthetic import synthetic_cycling_fleet
    from voltlab.report.lifetime import write_lifetime_report

    store = Store(tmp_path / "store")
    cells, _ = synthetic_cycling_fleet(10, seed=2, window_cycles=30, life_range_cycles=(150, 300),
                                       points_per_discharge=30)
    for c in cells:
        store.add(c)
    cfg = EarlyLifeConfig(window_cycles=30, feature_set="variance", method="linear", interval_cv=3)
    model = EarlyLifePredictor(cfg).fit_store(store, test_cells=["fleet000", "fleet001", "fleet002"])
    table = model.table(store)
    pred = model.predict_table(table)
    path = write_lifetime_report(
        tmp_path / "life.html", model, pred, summaries={c: store.summary(c) for c in pred.index},
        references_ah={c: float(table.cells.loc[c, "reference_capacity_ah"]) for c in pred.index},
        metrics=model.evaluate_table(table),
    )
    counts = check_in_browser(browser, path)
    assert counts["figures"] == 2 and counts["rendered"] == 2
    assert counts["traces"] >= 2 + 3 * len(pred)  # parity: ideal, band, points; trajectories: 3-4 per cell
    assert counts["tables"] >= 3


def test_demo_report_renders(browser, tmp_path):
    from voltlab.report.demo import write_demo_report
    from voltlab.studies.demo import run_demo

    result = run_demo(tmp_path / "demo")
    path = write_demo_report(result, tmp_path / "demo")
    counts = check_in_browser(browser, path)
    assert counts["figures"] >= 3 and counts["rendered"] == counts["figures"]


def test_the_check_catches_errors_and_unrendered_figures(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><div id='x'></div><script>console.error('boom'); missingFn();</script></body></html>")
    with pytest.raises(AssertionError, match="console.error: boom"):
        check_in_browser(browser, bad)
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><div class='js-plotly-plot'></div></body></html>")  # never renders
    with pytest.raises(Exception, match="Timeout"):
        check_in_browser(browser, empty, timeout_ms=2_000)
