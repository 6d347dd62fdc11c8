"""``voltlab simulate``: a PyBaMM run stored as a cell and plotted (CliRunner on the sub-app)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("pybamm")

from voltlab.commands.simulate import simulate_app
from voltlab.data.store import Store
from voltlab.errors import SimulationError, VoltlabError


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBAMM_DISABLE_TELEMETRY", "true")


def test_simulate_stores_the_cell_and_plots(tmp_path):
    store, plot = tmp_path / "lab", tmp_path / "out.html"
    args = ["--model", "SPM", "--parameters", "Chen2020", "--experiment", "Discharge at 1C until 3.0 V",
            "--experiment", "Charge at 1C until 4.1 V", "--cycles", "2", "--initial-soc", "1",
            "--store", str(store), "--cell-id", "spm_a", "--plot", str(plot), "--period", "120"]
    res = CliRunner().invoke(simulate_app, args)
    assert res.exit_code == 0, res.output
    assert "stored cell 'spm_a'" in res.output
    st = Store(store, create=False)
    assert st.cell_ids() == ["spm_a"]
    data = st.load("spm_a")
    assert data.cycles == [1, 2]
    assert data.metadata.source_format == "pybamm"
    summary = st.summary("spm_a")
    # Cycle 2 discharges what cycle 1's charge to 4.1 V put back (CE of a lossless model = 1).
    assert summary.loc[1, "discharge_capacity_ah"] == pytest.approx(summary.loc[0, "charge_capacity_ah"], abs=2e-3)
    assert plot.stat().st_size > 1000 and "plotly" in plot.read_text()[:20000].lower()


def test_simulate_overrides_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(simulate_app, ["--set", "Negative particle diffusivity [m2/s]=1e-14", "--initial-soc", "1"])
    assert isinstance(res.exception, VoltlabError)
    assert "did you mean 'Negative particle diffusivity [m2.s-1]'" in str(res.exception)
    res = runner.invoke(simulate_app, ["--set", "oops", "--initial-soc", "1"])
    assert isinstance(res.exception, VoltlabError) and "NAME=VALUE" in str(res.exception)
    res = runner.invoke(simulate_app, ["--experiment", "Charge at 1C until 2.0 V", "--initial-soc", "1"])
    assert isinstance(res.exception, SimulationError)
    assert "'Charge at 1C until 2.0 V'" in str(res.exception)


def test_simulate_help():
    res = CliRunner().invoke(simulate_app, ["--help"])
    assert res.exit_code == 0 and "--experiment" in res.output and "--store" in res.output
