"""The main job: embedded cells -> store -> summaries -> report."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from voltlab.data.embedded import demo_cells
from voltlab.report.demo import write_demo_report
from voltlab.studies.demo import fade_kpis, run_demo


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.h2, self._in = [], False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "h2"

    def handle_data(self, data):
        if self._in:
            self.h2.append(data)
            self._in = False


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out)
    return result, write_demo_report(result, out)


def test_demo_ingests_every_embedded_cell(demo):
    result, _ = demo
    cells = demo_cells()
    assert sorted(result.store.cell_ids()) == sorted(c.cell_id for c in cells)
    for c in cells:
        assert result.store.load(c.cell_id).n_rows == c.n_rows


def test_kpis_agree_with_the_raw_time_series(demo):
    result, _ = demo
    for cell in demo_cells():
        ts = cell.timeseries
        last = ts["cycle_count"].max()
        dis = ts.loc[ts["cycle_count"] == last, "discharging_capacity_ah"].max()
        first = ts.loc[ts["cycle_count"] == ts["cycle_count"].min(), "discharging_capacity_ah"].max()
        row = result.kpis.set_index("cell_id").loc[cell.cell_id]
        assert row["final_capacity_ah"] == pytest.approx(dis, rel=1e-6)
        assert row["final_retention_percent"] == pytest.approx(100 * dis / first, rel=1e-6)
        assert 0 < row["fade_percent_per_100_cycles"] < 20


def test_fade_kpis_on_a_linear_fade():
    import pandas as pd

    s = pd.DataFrame({
        "cycle_count": np.arange(1, 201), "discharge_capacity_ah": 2.0 * (1 - 0.0005 * np.arange(200)),
        "coulombic_efficiency": 0.999, "dc_resistance_ohm": np.linspace(0.02, 0.03, 200),
    })
    s["capacity_retention"] = s["discharge_capacity_ah"] / 2.0
    k = fade_kpis("x", s)
    assert k["fade_percent_per_100_cycles"] == pytest.approx(5.0)
    assert k["cycles_to_95_percent"] == 102  # retention 1 - 0.0005 (c-1) < 0.95 first at c = 102
    assert np.isnan(k["cycles_to_90_percent"])
    assert k["dc_resistance_change_milliohm"] == pytest.approx(10.0)


def test_report_has_the_sections_and_figures(demo):
    result, path = demo
    text = path.read_text(encoding="utf-8")
    parser = _Sections()
    parser.feed(text)
    for needed in ("Headline", "Cells", "Fade per cell", "Discharge capacity", "Capacity retention",
                   "Query the store with DuckDB", "Provenance"):
        assert needed in parser.h2
    assert sum(h.startswith("Voltage curves") for h in parser.h2) == 4
    assert len(re.findall(r'class="plotly-graph-div"', text)) >= 11
    for cid, sha in result.inputs.items():
        assert sha in text and cid in text
    pngs = sorted(p.name for p in (path.parent / "figures").glob("*.png"))
    assert "capacity_fade.png" in pngs and len(pngs) == 10


def test_rerun_into_the_same_folder_gives_the_same_numbers(demo):
    result, _ = demo
    again = run_demo(result.out_dir)
    assert again.kpis.equals(result.kpis)
    assert len(again.store) == len(result.store)
