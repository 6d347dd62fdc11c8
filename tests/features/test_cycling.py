"""Severson cycling features on hand-made Q(V) curves with known answers.

The central example: Q_c(V) = cap(c) * (3.5 - V) / 1.5 on a 5-point grid
3.5 .. 2.0 V, so ΔQ(V) is linear in V and every statistic is hand-computable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from voltlab.data.curves import voltage_grid
from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError, SchemaError
from voltlab.features import (
    CyclingSummaryFeaturizer,
    DeltaQCurveFeaturizer,
    DeltaQFeaturizer,
    DischargeCapacityFeaturizer,
    EarlyCycleData,
    ICAPeakFeaturizer,
    SeversonFeaturizer,
    delta_q_statistics,
    linear_fit,
    severson_early_cycles,
    summary_sequences,
)

GRID5 = np.array([3.5, 3.125, 2.75, 2.375, 2.0])
CYCLES = np.arange(2, 101)


def ramp_cell(cap: dict[int, float] | None = None, summary: pd.DataFrame | None = None) -> EarlyCycleData:
    """Q_c(V) = cap(c) * (3.5 - V) / 1.5; default cap(c) = 1.1 - 1e-4 c."""
    caps = np.array([cap[c] if cap and c in cap else 1.1 - 1e-4 * c for c in CYCLES])
    qv = caps[:, None] * (3.5 - GRID5)[None, :] / 1.5
    return EarlyCycleData(qv_ah=qv, voltage_volt=GRID5, cycles=CYCLES, summary=summary, cell_id="ramp")


# ---------------------------------------------------------------------------- ΔQ statistics


def test_delta_q_statistics_linear_five_points():
    # ΔQ = [0, -1, -2, -3, -4] mAh: mean -2, min -4, var (ddof 1) = 10/4 = 2.5 mAh²,
    # symmetric -> skewness 0, kurtosis m4/m2² = 6.8 / 2² = 1.7
    s = delta_q_statistics(np.array([0.0, -1.0, -2.0, -3.0, -4.0]) * 1e-3)
    assert s["mean"] == pytest.approx(-2e-3, rel=1e-12)
    assert s["min"] == pytest.approx(-4e-3, rel=1e-12)
    assert s["variance"] == pytest.approx(2.5e-6, rel=1e-12)
    assert s["skewness"] == pytest.approx(0.0, abs=1e-12)
    assert s["kurtosis"] == pytest.approx(1.7, rel=1e-12)


def test_delta_q_statistics_skewed_example():
    # [0, 0, 0, 0, -1]: m2 = 0.16, m3 = -0.096, m4 = 0.0832 -> skew -1.5, kurt 3.25
    s = delta_q_statistics([0.0, 0.0, 0.0, 0.0, -1.0])
    assert s["skewness"] == pytest.approx(-1.5, rel=1e-12)
    assert s["kurtosis"] == pytest.approx(3.25, rel=1e-12)
    assert s["variance"] == pytest.approx(0.2, rel=1e-12)  # 0.8 / (5 - 1)


def test_delta_q_statistics_linear_many_points_matches_uniform_formulas():
    n, h, b = 1000, 1.5 / 999, 0.02
    dq = b * np.arange(n) * h
    s = delta_q_statistics(dq)
    assert s["variance"] == pytest.approx(b**2 * h**2 * n * (n + 1) / 12, rel=1e-9)
    assert s["kurtosis"] == pytest.approx(3 - 6 * (n**2 + 1) / (5 * (n**2 - 1)), rel=1e-9)


def test_delta_q_featurizer_on_linear_delta_q():
    cell = ramp_cell()
    f = DeltaQFeaturizer(100, 10)
    feats = dict(zip(f.feature_labels(), f.featurize(cell), strict=True))
    # ΔQ(V) = (cap100 - cap10) (3.5 - V)/1.5 = -0.009 * [0, .25, .5, .75, 1] Ah
    dq = -0.009 * np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    var = np.sum((dq - dq.mean()) ** 2) / 4  # = 0.009² * 0.15625
    assert var == pytest.approx(0.009**2 * 0.15625)
    assert feats["delta_q_100_10_log10_variance_ah2"] == pytest.approx(math.log10(0.009**2 * 0.15625), abs=1e-9)
    assert feats["delta_q_100_10_log10_abs_min_ah"] == pytest.approx(math.log10(0.009), abs=1e-9)
    assert feats["delta_q_100_10_log10_abs_mean_ah"] == pytest.approx(math.log10(0.0045), abs=1e-9)
    assert feats["delta_q_100_10_skewness"] == pytest.approx(0.0, abs=1e-9)
    assert feats["delta_q_100_10_kurtosis"] == pytest.approx(1.7, rel=1e-9)
    assert feats["delta_q_100_10_log10_kurtosis"] == pytest.approx(math.log10(1.7), rel=1e-9)
    assert feats["delta_q_100_10_at_2v_ah"] == pytest.approx(-0.009, rel=1e-9)
    assert f.delta_q(cell) == pytest.approx(dq, abs=1e-15)


def test_delta_q_value_at_interpolates_and_is_nan_outside_grid():
    cell = ramp_cell()
    mid = DeltaQFeaturizer(100, 10, voltage_at_volt=2.5625).featurize(cell)[-1]
    assert mid == pytest.approx(-0.009 * 0.625, rel=1e-9)  # halfway between 2.75 and 2.375 V
    assert math.isnan(DeltaQFeaturizer(100, 10, voltage_at_volt=1.5).featurize(cell)[-1])


def test_delta_q_curve_featurizer():
    cell = ramp_cell()
    f = DeltaQCurveFeaturizer(100, 10, voltage_volt=GRID5, step=2)
    assert f.feature_labels() == ["delta_q_100_10_at_3.5000v_ah", "delta_q_100_10_at_2.7500v_ah",
                                  "delta_q_100_10_at_2.0000v_ah"]
    assert f.featurize(cell) == pytest.approx([0.0, -0.0045, -0.009], abs=1e-12)
    with pytest.raises(DataFormatError, match="different voltage grid"):
        DeltaQCurveFeaturizer(100, 10).featurize(cell)


# ---------------------------------------------------------------------------- capacity


def test_discharge_capacity_linear_fade():
    f = DischargeCapacityFeaturizer(2, 100, capacity_source="qv")
    out = dict(zip(f.feature_labels(), f.featurize(ramp_cell()), strict=True))
    assert out["capacity_cycle_2_ah"] == pytest.approx(1.0998, rel=1e-12)
    assert out["capacity_max_minus_cycle_2_ah"] == pytest.approx(0.0, abs=1e-12)
    assert out["capacity_cycle_100_ah"] == pytest.approx(1.09, rel=1e-12)
    assert out["capacity_fit_2_100_slope_ah_per_cycle"] == pytest.approx(-1e-4, rel=1e-9)
    assert out["capacity_fit_2_100_intercept_ah"] == pytest.approx(1.1, rel=1e-12)
    assert out["capacity_fit_91_100_slope_ah_per_cycle"] == pytest.approx(-1e-4, rel=1e-9)
    assert out["capacity_fit_91_100_intercept_ah"] == pytest.approx(1.1, rel=1e-12)


def test_discharge_capacity_rise_then_fall_and_outlier_glitch():
    # rises 1 mAh/cycle to 1.05 Ah at cycle 50, then falls 1 mAh/cycle; a 1.539 Ah glitch at cycle 12
    cap = {c: (1.0 + 0.001 * c) if c <= 50 else (1.1 - 0.001 * c) for c in CYCLES}
    cap[12] = 1.539
    f = DischargeCapacityFeaturizer(2, 100, capacity_source="qv")
    out = dict(zip(f.feature_labels(), f.featurize(ramp_cell(cap)), strict=True))
    assert out["capacity_cycle_2_ah"] == pytest.approx(1.002)
    assert out["capacity_max_minus_cycle_2_ah"] == pytest.approx(0.048)  # glitch replaced by its median
    assert out["capacity_cycle_100_ah"] == pytest.approx(1.0)
    assert out["capacity_fit_91_100_slope_ah_per_cycle"] == pytest.approx(-0.001, rel=1e-9)
    assert out["capacity_fit_91_100_intercept_ah"] == pytest.approx(1.1, rel=1e-9)
    unfiltered = DischargeCapacityFeaturizer(2, 100, capacity_source="qv", outlier_fraction=None)
    assert unfiltered.featurize(ramp_cell(cap))[1] == pytest.approx(0.537)


def test_tail_window_scales_with_the_window():
    assert DischargeCapacityFeaturizer(2, 100).tail_first_cycle == 91
    assert DischargeCapacityFeaturizer(2, 50).tail_first_cycle == 46
    assert DischargeCapacityFeaturizer(2, 5).tail_first_cycle == 4


def test_linear_fit_by_hand():
    assert linear_fit([1, 2, 3], [2.0, 4.0, 6.0]) == pytest.approx((2.0, 0.0))
    with pytest.raises(DataFormatError, match="distinct x"):
        linear_fit([1, 1], [2.0, 3.0])


# ---------------------------------------------------------------------------- summary features


def hand_summary() -> pd.DataFrame:
    c = np.arange(1, 101)
    df = pd.DataFrame({
        "cycle_count": c,
        "charge_time_to_80pct_second": 600.0 + 10.0 * (c - 2),
        "temperature_mean_celsius": np.full(c.size, 30.0),
        "temperature_max_celsius": 35.0 + (c == 50),
        "internal_resistance_ohm": 0.02 - 1e-5 * (c - 2),
        "discharge_capacity_ah": 1.1 - 1e-4 * c,
        "is_placeholder": c == 1,
    })
    df.loc[0, ["charge_time_to_80pct_second", "temperature_mean_celsius", "temperature_max_celsius",
               "internal_resistance_ohm", "discharge_capacity_ah"]] = 0.0
    return df


def test_cycling_summary_featurizer_by_hand():
    f = CyclingSummaryFeaturizer(2, 100)
    out = dict(zip(f.feature_labels(), f.featurize(ramp_cell(summary=hand_summary())), strict=True))
    assert out["charge_time_mean_first_5_cycles_second"] == pytest.approx(620.0)  # cycles 2..6
    assert out["temperature_integral_2_100_celsius_cycle"] == pytest.approx(30.0 * 98)
    assert out["temperature_max_2_100_celsius"] == pytest.approx(36.0)
    assert out["internal_resistance_cycle_2_ohm"] == pytest.approx(0.02)
    assert out["internal_resistance_min_2_100_ohm"] == pytest.approx(0.02 - 98e-5)
    assert out["internal_resistance_100_minus_2_ohm"] == pytest.approx(-98e-5)


def test_severson_feature_sets():
    cell = ramp_cell(summary=hand_summary())
    dq = dict(zip(DeltaQFeaturizer().feature_labels(), DeltaQFeaturizer().featurize(cell), strict=True))
    var = SeversonFeaturizer("variance")
    assert var.feature_labels() == ["delta_q_100_10_log10_variance_ah2"]
    assert var.featurize(cell) == [dq["delta_q_100_10_log10_variance_ah2"]]
    dis = SeversonFeaturizer("discharge")
    assert dis.feature_labels() == [
        "delta_q_100_10_log10_abs_min_ah", "delta_q_100_10_log10_variance_ah2",
        "delta_q_100_10_log10_abs_skewness", "delta_q_100_10_log10_kurtosis",
        "capacity_cycle_2_ah", "capacity_max_minus_cycle_2_ah",
    ]
    full = SeversonFeaturizer("full")
    values = dict(zip(full.feature_labels(), full.featurize(cell), strict=True))
    assert len(values) == 9
    assert values["capacity_cycle_2_ah"] == pytest.approx(1.0998)  # from the summary ("auto")
    assert values["internal_resistance_100_minus_2_ohm"] == pytest.approx(-98e-5)
    assert values["capacity_fit_2_100_slope_ah_per_cycle"] == pytest.approx(-1e-4)
    with pytest.raises(SchemaError, match="charge_time"):
        full.featurize(ramp_cell())  # no per-cycle summary
    df = full.featurize_many([cell, ramp_cell()], ignore_errors=True)
    assert df.iloc[1].isna().all() and 1 in df.attrs["errors"]


def test_for_window_picks_the_early_cycles():
    assert SeversonFeaturizer.for_window(5).feature_labels()[:2] == [
        "delta_q_5_4_log10_abs_min_ah", "delta_q_5_4_log10_variance_ah2"]
    assert SeversonFeaturizer.for_window(50, "variance").feature_labels() == ["delta_q_50_10_log10_variance_ah2"]
    f = SeversonFeaturizer.for_window(5, "discharge", capacity_source="qv")
    assert f.featurize(ramp_cell())[4] == pytest.approx(1.0998)


# ---------------------------------------------------------------------------- CyclingData route


def test_from_cycling_data_linear_voltage(tiny_cycles):
    # conftest cycles: discharge V = 4.15 - 1.2 * Q/q_k with q_k = 2 (1 - 0.002 (k-1)) Ah
    data = CyclingData(finalize_timeseries(tiny_cycles), CellMetadata("c1"))
    grid = voltage_grid(4.1, 3.0, 111)
    cell = EarlyCycleData.from_cycling_data(data, grid=grid)
    assert cell.cycles.tolist() == [1, 2, 3, 4, 5]
    dq = cell.qv(5) - cell.qv(1)
    assert dq == pytest.approx(-0.016 * (4.15 - grid) / 1.2, abs=1e-9)
    logvar = DeltaQFeaturizer(5, 1).featurize(cell)[0]
    assert logvar == pytest.approx(math.log10((0.016 / 1.2) ** 2 * np.var(grid, ddof=1)), abs=1e-9)
    cap = DischargeCapacityFeaturizer(1, 5).featurize(cell)  # from cycle_summary
    assert cap[0] == pytest.approx(2.0) and cap[3] == pytest.approx(-0.004) and cap[4] == pytest.approx(2.004)
    # a featuriser takes the CyclingData directly (default 3.5 -> 2.0 V grid, partly outside the data)
    direct = DeltaQFeaturizer(5, 1).featurize(data)
    assert np.isfinite(direct[0])


# ---------------------------------------------------------------------------- ICA


def logistic_cell(v0: dict[int, float], w: float = 0.05, amp: float = 1.0) -> EarlyCycleData:
    grid = voltage_grid(3.5, 2.0, 1501)  # 1 mV steps
    qv = np.stack([amp / (1 + np.exp((grid - v0[c]) / w)) for c in sorted(v0)])
    return EarlyCycleData(qv_ah=qv, voltage_volt=grid, cycles=np.array(sorted(v0)), cell_id="logistic")


def test_ica_peak_of_a_logistic_q_v():
    # Q = A / (1 + exp((V - V0)/w)): |dQ/dV| peaks at V0 with height A / (4 w) = 5 Ah/V
    cell = logistic_cell({10: 3.2, 100: 3.15})
    f = ICAPeakFeaturizer(cycles=(10, 100), window_volt=0.01)
    out = dict(zip(f.feature_labels(), f.featurize(cell), strict=True))
    assert out["ica_peak_cycle_10_volt"] == pytest.approx(3.2, abs=2e-4)
    assert out["ica_peak_cycle_100_volt"] == pytest.approx(3.15, abs=2e-4)
    assert out["ica_peak_cycle_10_height_ah_per_volt"] == pytest.approx(5.0, rel=0.01)
    assert out["ica_peak_shift_100_10_volt"] == pytest.approx(-0.05, abs=3e-4)
    assert out["ica_peak_height_change_100_10_ah_per_volt"] == pytest.approx(0.0, abs=0.01)


def test_ica_peak_from_raw_cycling_data_uses_dqdv():
    # 1 A discharges whose V(Q) inverts the logistic Q(V): V = V0 + w ln(A/Q - 1)
    frames, t = [], 0.0
    for cycle, v0 in ((1, 3.2), (2, 3.15)):
        q = np.linspace(0.01, 0.99, 2000)
        tt = t + q * 3600.0
        frames.append(pd.DataFrame({"test_time_second": tt, "voltage_volt": v0 + 0.05 * np.log(1 / q - 1),
                                    "current_ampere": -1.0, "cycle_count": cycle, "discharging_capacity_ah": q}))
        t = tt[-1] + 10.0
    data = CyclingData(finalize_timeseries(pd.concat(frames, ignore_index=True)), CellMetadata("ica"))
    f = ICAPeakFeaturizer(cycles=(1, 2), window_volt=0.01)
    out = dict(zip(f.feature_labels(), f.featurize(data), strict=True))
    assert out["ica_peak_cycle_1_volt"] == pytest.approx(3.2, abs=1e-3)
    assert out["ica_peak_cycle_2_height_ah_per_volt"] == pytest.approx(5.0, rel=0.01)  # A / (4 w)
    assert out["ica_peak_shift_2_1_volt"] == pytest.approx(-0.05, abs=1e-3)
    assert f.featurize(EarlyCycleData.from_cycling_data(data)) == pytest.approx(list(out.values()))


def test_ica_search_window():
    cell = logistic_cell({10: 3.2, 100: 3.15})
    f = ICAPeakFeaturizer(cycles=(10,), v_min=2.0, v_max=3.0, window_volt=0.01)
    v, h = f.featurize(cell)
    assert v == pytest.approx(3.0, abs=2e-3)  # the largest |dQ/dV| left in [2.0, 3.0] V is at its top edge
    assert h < 5.0


# ---------------------------------------------------------------------------- sequences


def test_summary_sequences_shapes_and_values():
    a = ramp_cell(summary=hand_summary())
    b = EarlyCycleData(qv_ah=a.qv_ah[:50], voltage_volt=GRID5, cycles=CYCLES[:50], cell_id="short")
    seq = summary_sequences([a, b], features=("qv_capacity_ah", "delta_q_variance_ah2", "internal_resistance_ohm"),
                            first_cycle=2, last_cycle=100, missing="nan")
    assert seq.X.shape == (2, 99, 3)
    assert seq.cell_ids == ("ramp", "short")
    assert seq.cycles[0] == 2 and seq.cycles[-1] == 100
    assert seq.X[0, 0, 0] == pytest.approx(1.0998)
    assert seq.X[0, 0, 1] == 0.0  # ΔQ against the reference cycle 2 itself
    # ΔQ_{100-2} = -0.0098 (3.5 - V)/1.5: variance 0.0098² * 0.15625
    assert seq.X[0, 98, 1] == pytest.approx(0.0098**2 * 0.15625, rel=1e-9)
    assert seq.X[0, 98, 2] == pytest.approx(0.02 - 98e-5)
    assert np.isnan(seq.X[1, 60:, 0]).all()  # the short cell stops at cycle 51
    assert np.isnan(seq.X[1, :, 2]).all()  # and has no resistance
    with pytest.raises(SchemaError, match="internal_resistance_ohm"):
        summary_sequences([b], features=("internal_resistance_ohm",))


def test_summary_sequences_from_tables():
    seq = summary_sequences([hand_summary()], features=("internal_resistance_ohm",), first_cycle=1, last_cycle=3)
    assert np.isnan(seq.X[0, 0, 0])  # the cycle-1 placeholder row is ignored
    assert seq.X[0, 1:, 0] == pytest.approx([0.02, 0.02 - 1e-5])
    with pytest.raises(DataFormatError, match="needs Q\\(V\\)"):
        summary_sequences([hand_summary()], features=("delta_q_variance_ah2",))


# ---------------------------------------------------------------------------- Severson form and errors


def test_severson_early_cycles_from_a_dataset_like_object():
    class Fake:
        qdlin_ah = np.stack([ramp_cell().qv_ah.T, 2 * ramp_cell().qv_ah.T])  # (2, 5, 99)
        voltage_grid_volt = GRID5
        cycle_numbers = CYCLES
        cell_ids = ("train-cell1", "train-cell2")
        source_cell_id = ("b1c1", "")

    summ = hand_summary().assign(cell_id="b1c1")
    cells = severson_early_cycles(Fake(), summ)
    assert [c.cell_id for c in cells] == ["train-cell1", "train-cell2"]
    assert cells[0].summary is not None and cells[1].summary is None
    assert cells[1].qv(100)[-1] == pytest.approx(2 * 1.09)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: EarlyCycleData(np.zeros((2, 5)), GRID5[:4], [1, 2]), DataFormatError, "must match"),
        (lambda: EarlyCycleData(np.zeros((2, 5)), GRID5[[0, 1, 1, 2, 3]], [1, 2]), DataFormatError, "strictly"),
        (lambda: EarlyCycleData(np.zeros((2, 5)), GRID5, [2, 1]), DataFormatError, "increasing integers"),
        (lambda: ramp_cell().qv(150), DataFormatError, "no Q\\(V\\) curve for cycle 150"),
        (lambda: DeltaQFeaturizer(10, 10), DataFormatError, "must differ"),
        (lambda: DeltaQFeaturizer(120, 10).featurize(ramp_cell()), DataFormatError, "cycle 120"),
        (lambda: DeltaQFeaturizer().featurize("cell.csv"), DataFormatError, "EarlyCycleData or a CyclingData"),
        (lambda: DischargeCapacityFeaturizer(50, 10), DataFormatError, "after first_cycle"),
        (lambda: DischargeCapacityFeaturizer(capacity_source="cycler"), DataFormatError, "capacity_source"),
        (lambda: DischargeCapacityFeaturizer(1, 100, capacity_source="qv").featurize(ramp_cell()), DataFormatError,
         "cycle 1"),
        (lambda: SeversonFeaturizer("everything"), DataFormatError, "feature_set"),
        (lambda: ICAPeakFeaturizer(cycles=(10, 10)), DataFormatError, "distinct"),
        (lambda: summary_sequences([ramp_cell()], first_cycle=10, last_cycle=5), DataFormatError, "last_cycle"),
    ],
)
def test_invalid_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_citations_are_bibtex():
    for f in (DeltaQFeaturizer(), DischargeCapacityFeaturizer(), SeversonFeaturizer(), ICAPeakFeaturizer()):
        assert f.citations() and f.citations()[0].startswith("@article")
