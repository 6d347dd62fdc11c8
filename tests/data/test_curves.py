import numpy as np
import pytest

from voltlab.data import dqdv, qv_curves, voltage_grid
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError


@pytest.fixture
def ts(tiny_cycles):
    return finalize_timeseries(tiny_cycles)


def test_qv_on_grid_matches_linear_model(ts):
    # Discharge: V = 3 + 1.2 SOC - 0.05, Q = q (1 - SOC) -> Q(V) = q (1 - (V - 2.95)/1.2).
    grid = voltage_grid(4.1, 3.0, 12)
    q = qv_curves(ts, grid)
    assert q.shape == (5, 12)
    qk = 2.0 * (1 - 0.002 * np.arange(5))
    expected = qk[:, None] * (1 - (grid[None, :] - 2.95) / 1.2)
    np.testing.assert_allclose(q.to_numpy(), expected, rtol=1e-9)


def test_qv_outside_measured_range_is_nan(ts):
    q = qv_curves(ts, [4.5, 3.5, 2.0], cycles=[1])
    assert np.isnan(q.iloc[0, 0]) and np.isnan(q.iloc[0, 2])
    assert np.isfinite(q.iloc[0, 1])


def test_qv_is_robust_to_voltage_noise(ts):
    noisy = ts.copy()
    rng = np.random.default_rng(0)
    noisy["voltage_volt"] += rng.normal(0, 0.002, len(noisy))
    q = qv_curves(noisy, voltage_grid(4.0, 3.1, 50), cycles=[1]).iloc[0].to_numpy()
    assert np.all(np.diff(q) >= 0)  # monotone in V despite noise


def test_dqdv_of_linear_curve_is_constant(ts):
    # dQ/dV = -q / 1.2 Ah/V on discharge, +q/1.2 on charge.
    d = dqdv(ts, cycles=[1], dv=0.005, window_volt=0.05)
    inner = d[(d["voltage_volt"] > 3.1) & (d["voltage_volt"] < 4.0)]
    np.testing.assert_allclose(inner["dqdv_ah_per_volt"], -2.0 / 1.2, rtol=1e-6)
    c = dqdv(ts, cycles=[2], half="charge", dv=0.005, window_volt=0.05)
    inner = c[(c["voltage_volt"] > 3.2) & (c["voltage_volt"] < 4.1)]
    np.testing.assert_allclose(inner["dqdv_ah_per_volt"], 2.0 * 0.998 / 1.2, rtol=1e-6)


def test_dqdv_finds_a_plateau_peak():
    # A discharge plateau at 3.4 V: Q(V) logistic with width 20 mV -> dQ/dV = -1/(4*0.02) = -12.5 Ah/V there.
    import pandas as pd

    v = np.linspace(3.7, 3.1, 3001)
    q = 1 / (1 + np.exp((v - 3.4) / 0.02))
    q = q - q[0]

    ts = finalize_timeseries(pd.DataFrame({
        "test_time_second": q * 3600, "voltage_volt": v, "current_ampere": -1.0, "cycle_count": 1,
        "discharging_capacity_ah": q,
    }))
    d = dqdv(ts, dv=0.002, window_volt=0.02)
    peak_v = d.loc[d["dqdv_ah_per_volt"].idxmin(), "voltage_volt"]
    assert peak_v == pytest.approx(3.4, abs=0.003)
    assert d["dqdv_ah_per_volt"].min() == pytest.approx(-12.5, rel=0.03)


def test_bad_arguments():
    with pytest.raises(DataFormatError, match="at least 2 points"):
        voltage_grid(4, 3, 1)
