"""The fast-charge study: CC-CV baseline vs BO multi-step protocol, constraints, report numbers."""

from __future__ import annotations

import pytest

from voltlab.errors import StudyConfigError
from voltlab.studies import run_study

CONFIG = {"windows": [0.0, 40.0, 80.0], "budget": 8, "period_second": 60.0, "seed": 0}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return run_study("fast-charge", tmp_path_factory.mktemp("fc"), config=CONFIG)


def test_bo_protocol_keeps_every_constraint_and_is_not_slower(result):
    m = result.metrics
    assert m["bo_min_plating_margin_volt"] >= 0.0
    assert m["bo_max_temperature_celsius"] <= 45.0
    assert 0 < m["bo_time_to_target_min"] <= m["cccv_time_to_target_min"] + 1e-9
    assert m["bo_time_to_target_min"] <= m["window_search_time_to_target_min"] + 1e-9  # BO refines its start
    assert m["bo_speedup_vs_cccv_percent"] > 20.0  # two 40 % windows: the window search alone gives ~24 %
    assert m["bo_speedup_vs_cccv_percent"] == pytest.approx(
        100 * (1 - m["bo_time_to_target_min"] / m["cccv_time_to_target_min"]))
    # 0 -> 80 % SOC at a constant c C takes at least 48/c minutes
    assert m["cccv_time_to_target_min"] >= 48.0 / m["cccv_best_c_rate"] - 1.0


def test_the_cccv_baseline_is_the_fastest_feasible_constant_rate(result):
    from voltlab.simulate import CCCVProtocol, evaluate_protocol

    c = result.metrics["cccv_best_c_rate"]
    faster = evaluate_protocol(CCCVProtocol(c * 1.25, target_soc_percent=80.0), period_second=60.0)
    assert not faster.feasible, "a 25 % faster CC-CV keeps the constraints: the baseline search is wrong"


def test_report_tables_and_traces(result, tmp_path):
    from voltlab.report.study import write_study_report

    table = result.tables["Protocols compared"]
    assert list(table["method"]) == ["CC-CV baseline", "Window search (BO start)", "BO multi-step"]
    assert table["feasible"].all()
    log = result.tables["BO campaign log"]
    # the CC-CV-rate point and the window-search start are told first, then the campaign's proposals
    assert list(log["source"][:2]) == ["cc-cv rate", "window search"]
    assert len(log) == result.metrics["bo_evaluations"] + 1
    assert log["source"][2:].str.startswith("campaign (").all()
    assert result.metrics["window_search_simulations"] > 10
    soc = next(f for f in result.figures if f.key == "soc")
    for s in soc.series:  # every simulated charge reaches the 80 % target
        assert max(s.y) >= 79.0
    plating = next(f for f in result.figures if f.key == "plating")
    html = write_study_report(result, tmp_path, pdf=False).read_text()
    assert "plating margin" in html and len(plating.series) == 3


def test_bad_config_names_the_key(tmp_path):
    with pytest.raises(StudyConfigError, match="'windows'"):
        run_study("fast-charge", tmp_path, config={"windows": [0, 80, 40]})
    with pytest.raises(StudyConfigError, match="'model'"):
        run_study("fast-charge", tmp_path, config={"model": "P2D"})
    with pytest.raises(StudyConfigError, match="'min_plating_margin_volt'"):
        run_study("fast-charge", tmp_path, config={"min_plating_margin_volt": -0.01})
