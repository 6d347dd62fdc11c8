import numpy as np
import pytest

from voltlab.data import CellMetadata, CyclingData, cycle_summary
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError
from voltlab.report import Report, capacity_fade, dqdv_curves, save_figure, voltage_curves


@pytest.fixture
def data(tiny_cycles):
    return CyclingData(finalize_timeseries(tiny_cycles), CellMetadata("c1"))


def test_fade_plot_has_one_trace_per_cell_and_marks_outliers(data):
    s = cycle_summary(data)
    import pandas as pd

    long = pd.concat([s] * 4, ignore_index=True)
    long["cycle_count"] = np.arange(1, len(long) + 1)
    long["discharge_capacity_ah"] = 2.0 - 0.001 * np.arange(len(long))
    long.loc[10, "discharge_capacity_ah"] = 1.5
    fig = capacity_fade({"a": long, "b": s})
    names = [t.name for t in fig.data]
    assert names == ["a", "a outliers", "b"]
    assert list(fig.data[1].x) == [11]
    assert fig.layout.yaxis.title.text == "Discharge capacity [Ah]"
    ret = capacity_fade({"b": s}, metric="capacity_retention")
    assert ret.data[0].y[0] == pytest.approx(100.0)


def test_voltage_and_dqdv_plots(data):
    fig = voltage_curves(data, [1, 5])
    assert [t.name for t in fig.data] == ["cycle 1 charge", "cycle 1 discharge", "cycle 5 charge", "cycle 5 discharge"]
    assert max(fig.data[0].x) == pytest.approx(2.0)
    with pytest.raises(DataFormatError, match=r"cycle\(s\) \[9\] not in cell 'c1'"):
        voltage_curves(data, [9])
    d = dqdv_curves(data, [1], dv=0.005, window_volt=0.05)
    assert len(d.data) == 1


def test_save_figure_formats(tmp_path, data):
    png = save_figure(voltage_curves(data, backend="matplotlib"), tmp_path / "v.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    html = save_figure(voltage_curves(data), tmp_path / "v.html")
    assert "plotly" in html.read_text()[:200_000].lower()
    with pytest.raises(DataFormatError, match="use .html for interactive"):
        save_figure(voltage_curves(data), tmp_path / "v.png")


def test_report_is_self_contained_with_provenance(tmp_path, data):
    rep = Report("T", "sub")
    rep.add_kpis("K", {"cells": "1"})
    rep.add_figure("F", voltage_curves(data))
    rep.add_text("Esc", "<script>alert(1)</script>")
    path = rep.write(tmp_path / "r.html")
    text = path.read_text()
    assert "<script>alert(1)</script>" not in text  # user text is escaped
    assert "version voltlab" in text and "Provenance" in text
    import re

    # Offline: plotly.js is embedded, no script is fetched from elsewhere.
    assert not re.search(r"<script[^>]+src=", text)
    assert len(text) > 1_000_000
