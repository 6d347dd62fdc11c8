"""voltlab's HTML reports in a real browser: headless Chromium (Debian's package, installed by
``make test``) loads each report with no console error and no page error, and every Plotly
figure renders (has its SVG)."""

from __future__ import annotations

import pytest


def test_lifetime_report_renders(browser, report_check, tmp_path):
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
    counts = report_check(path)
    assert counts["figures"] == 2 and counts["rendered"] == 2
    assert counts["traces"] >= 2 + 3 * len(pred)  # parity: ideal, band, points; trajectories: 3-4 per cell
    assert counts["tables"] >= 3


def test_demo_report_renders(browser, report_check, tmp_path):
    from voltlab.report.demo import write_demo_report
    from voltlab.studies.demo import run_demo

    result = run_demo(tmp_path / "demo")
    path = write_demo_report(result, tmp_path / "demo")
    counts = report_check(path)
    assert counts["figures"] >= 3 and counts["rendered"] == counts["figures"]


def test_the_check_catches_errors_and_unrendered_figures(browser, report_check, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><div id='x'></div><script>console.error('boom'); missingFn();</script></body></html>")
    with pytest.raises(AssertionError, match="console.error: boom"):
        report_check(bad)
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><div class='js-plotly-plot'></div></body></html>")  # never renders
    with pytest.raises(Exception, match="Timeout"):
        report_check(empty, timeout_ms=2_000)


def test_study_report_renders_every_figure_2d_and_3d(browser, report_check, tmp_path):
    from voltlab.report.study import write_study_report
    from voltlab.studies import Figure, Series, StudyResult

    figs = [Figure("line", "line", "x", "y", [Series("a", [0, 1, 2], [1.0, 2.0, 1.5], mode="lines+markers",
                                                     error=[0.1, 0.2, 0.1])]),
            Figure("bar", "bar", "name", "value", [Series("b", ["p", "q"], [1.0, 2.0], mode="bar")], log_y=True),
            Figure("cloud", "3-D", "Ni", "Co", [Series("pts", [0.6, 0.8, 0.9], [0.2, 0.1, 0.05], z=[180, 200, 210])],
                   z_label="capacity")]
    result = StudyResult("t", "T", "q?", "a", kpis={"k": "1"}, figures=figs,
                         tables={"t": __import__("pandas").DataFrame({"a": [1.0]})}, notes=["n"],
                         provenance={"seed": 0})
    path = write_study_report(result, tmp_path, png=False, pdf=False)
    counts = report_check(path)
    assert counts["figures"] == 3
    assert counts["rendered"] >= 2  # the 2-D figures draw their traces in SVG
    page = browser.new_page()
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    n_gl = page.evaluate("() => document.querySelectorAll('.js-plotly-plot .gl-container canvas, "
                         ".js-plotly-plot canvas').length")
    page.close()
    assert n_gl >= 1  # the 3-D scene drew into a WebGL canvas
