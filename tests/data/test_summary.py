import numpy as np
import pandas as pd
import pytest

from voltlab.data import CellMetadata, CyclingData, SummaryOptions, cycle_summary
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError


@pytest.fixture
def summary(tiny_cycles):
    return cycle_summary(finalize_timeseries(tiny_cycles))


def test_capacities_energies_and_efficiencies_match_hand_values(summary):
    # Cycle k passes 2 Ah * (1 - 0.002 (k-1)) each way; V = 3 + 1.2 SOC + 0.05 I.
    expected_q = 2.0 * (1 - 0.002 * np.arange(5))
    np.testing.assert_allclose(summary["charge_capacity_ah"], expected_q, rtol=1e-12)
    np.testing.assert_allclose(summary["discharge_capacity_ah"], expected_q, rtol=1e-12)
    # Mean charge voltage = 3.6 + 0.05, discharge 3.6 - 0.05 (linear in SOC, trapezoid exact).
    np.testing.assert_allclose(summary["mean_charge_voltage_volt"], 3.65, rtol=1e-12)
    np.testing.assert_allclose(summary["mean_discharge_voltage_volt"], 3.55, rtol=1e-12)
    np.testing.assert_allclose(summary["charge_energy_wh"], expected_q * 3.65, rtol=1e-12)
    np.testing.assert_allclose(summary["energy_efficiency"], 3.55 / 3.65, rtol=1e-12)
    np.testing.assert_allclose(summary["coulombic_efficiency"], 1.0)
    # 1 A for q hours
    np.testing.assert_allclose(summary["charge_time_second"], expected_q * 3600, rtol=1e-12)
    # IR step 0.05 Ohm at the rest -> discharge edge.
    np.testing.assert_allclose(summary["dc_resistance_ohm"], 0.05, rtol=1e-9)
    np.testing.assert_allclose(summary["temperature_max_celsius"], 25.5)
    np.testing.assert_allclose(summary["capacity_retention"], expected_q / 2.0)
    assert summary.attrs["reference_cycle"] == 1
    # Pure CC charge: no CV phase.
    np.testing.assert_allclose(summary["cv_charge_capacity_ah"], 0.0, atol=1e-12)
    assert summary["cycle_count"].tolist() == [1, 2, 3, 4, 5]


def test_coulomb_counting_fallback_equals_capacity_columns(tiny_cycles, summary):
    no_cap = finalize_timeseries(tiny_cycles.drop(columns=["charging_capacity_ah", "discharging_capacity_ah"]))
    counted = cycle_summary(no_cap)
    np.testing.assert_allclose(counted["discharge_capacity_ah"], summary["discharge_capacity_ah"], rtol=1e-9)


def test_cv_phase_is_split_from_cc():
    # 1 h CC at 1 A to 4.2 V, then 30 min CV with current decaying 1 -> 0.1 A (linear), then discharge.
    t_cc = np.linspace(0, 3600, 61)
    t_cv = np.linspace(3600, 5400, 31)
    i_cv = np.linspace(1.0, 0.1, 31)
    t_dis = np.linspace(5400, 9000, 31)
    ts = pd.DataFrame({
        "test_time_second": np.r_[t_cc, t_cv, t_dis],
        "voltage_volt": np.r_[np.linspace(3.5, 4.2, 61), np.full(31, 4.2), np.linspace(4.1, 3.0, 31)],
        "current_ampere": np.r_[np.ones(61), i_cv, -np.ones(31)],
        "cycle_count": 1,
    })
    s = cycle_summary(finalize_timeseries(ts))
    cv_expected = 0.5 * (1.0 + 0.1) * 0.5  # trapezoid area, Ah
    assert s.loc[0, "cv_charge_capacity_ah"] == pytest.approx(cv_expected, rel=1e-9)
    assert s.loc[0, "cc_charge_capacity_ah"] == pytest.approx(1.0, rel=1e-9)
    assert s.loc[0, "charge_capacity_ah"] == pytest.approx(1.0 + cv_expected, rel=1e-9)


def test_soh_uses_nominal_capacity_when_known(tiny_cycles):
    data = CyclingData(finalize_timeseries(tiny_cycles), CellMetadata("c1", nominal_capacity_ah=2.5))
    s = cycle_summary(data)
    assert s["soh"].iloc[0] == pytest.approx(2.0 / 2.5)
    assert s.attrs["soh_reference"] == "nominal capacity 2.5 Ah"


def test_reference_cycle_skips_partial_first_cycle(tiny_cycles):
    ts = finalize_timeseries(tiny_cycles)
    ts.loc[ts["cycle_count"] == 1, "discharging_capacity_ah"] *= 0.1
    s = cycle_summary(ts)
    assert s.attrs["reference_cycle"] == 2
    assert s["capacity_retention"].iloc[1] == pytest.approx(1.0)
    fixed = cycle_summary(ts, SummaryOptions(reference_cycle=3))
    assert fixed["capacity_retention"].iloc[2] == pytest.approx(1.0)
    with pytest.raises(DataFormatError, match="reference cycle 99 is not in the data"):
        cycle_summary(ts, SummaryOptions(reference_cycle=99))


def test_vendor_resistance_is_median_of_nonzero(tiny_cycles):
    ts = finalize_timeseries(tiny_cycles)
    ts["internal_resistance_ohm"] = 0.0
    ts.loc[ts.index[:3], "internal_resistance_ohm"] = [0.02, 0.03, 0.04]
    s = cycle_summary(ts)
    assert s.loc[0, "internal_resistance_ohm"] == pytest.approx(0.03)
    assert np.isnan(s.loc[1, "internal_resistance_ohm"])


def test_missing_columns_raise(tiny_cycles):
    with pytest.raises(DataFormatError, match="'voltage_volt' is missing"):
        cycle_summary(tiny_cycles.drop(columns="voltage_volt"))
