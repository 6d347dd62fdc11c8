import numpy as np
import pandas as pd
import pytest

from voltlab.data.validation import ValidationLimits, finalize_timeseries, validate_timeseries
from voltlab.errors import DataFormatError, SchemaError, UnitError


@pytest.fixture
def good(tiny_cycles):
    return finalize_timeseries(tiny_cycles)


def test_good_table_passes_and_gets_step_count(good):
    validate_timeseries(good)
    assert good["step_count"].iloc[0] == 1
    # 5 cycles x 3 steps
    assert good["step_count"].iloc[-1] == 15
    assert good.columns[:5].tolist() == ["test_time_second", "voltage_volt", "current_ampere", "cycle_count", "step_index"]


def test_missing_column_is_named(good):
    with pytest.raises(SchemaError, match="missing required column.*'voltage_volt'") as exc:
        validate_timeseries(good.drop(columns="voltage_volt"), path="cell.csv")
    assert exc.value.column == "voltage_volt"
    assert "cell.csv" in str(exc.value)


def test_duplicated_column_is_named(good):
    dup = pd.concat([good, good[["voltage_volt"]]], axis=1)
    with pytest.raises(SchemaError, match="duplicated column"):
        validate_timeseries(dup)


def test_backwards_time_names_the_row(good):
    bad = good.copy()
    bad.loc[40, "test_time_second"] = bad.loc[39, "test_time_second"] - 100
    with pytest.raises(DataFormatError, match="time goes backwards") as exc:
        validate_timeseries(bad, path="x.csv")
    assert exc.value.row == 40


def test_nan_run_is_reported_but_isolated_nan_is_tolerated(good):
    bad = good.copy()
    bad.loc[10, "voltage_volt"] = np.nan
    validate_timeseries(bad)
    bad.loc[20:30, "voltage_volt"] = np.nan
    with pytest.raises(DataFormatError, match="11 consecutive missing") as exc:
        validate_timeseries(bad)
    assert (exc.value.row, exc.value.column) == (20, "voltage_volt")


def test_millivolts_are_detected(good):
    bad = good.copy()
    bad["voltage_volt"] *= 1000
    with pytest.raises(UnitError, match="millivolts"):
        validate_timeseries(bad)


def test_impossible_voltage(good):
    bad = good.copy()
    bad.loc[7, "voltage_volt"] = 12.5
    with pytest.raises(DataFormatError, match="impossible cell voltage 12.5 V") as exc:
        validate_timeseries(bad)
    assert exc.value.row == 7
    validate_timeseries(bad, limits=ValidationLimits(max_voltage_volt=60))


def test_milliamps_given_as_amps_detected_by_coulomb_counting(good):
    bad = good.copy()
    bad["current_ampere"] *= 1000  # 1 A written as 1000 "A"
    with pytest.raises(UnitError, match="current looks like mA given as A|capacity like Ah given as mAh") as exc:
        validate_timeseries(bad)
    assert exc.value.column == "charging_capacity_ah"


def test_milliamps_detected_from_nominal_capacity(good):
    bad = good.drop(columns=["charging_capacity_ah", "discharging_capacity_ah"]).copy()
    bad["current_ampere"] *= 1000
    validate_timeseries(bad)  # nothing to compare with: cannot tell
    with pytest.raises(UnitError, match="milliamperes: max \\|I\\| = 1000 is 500C"):
        validate_timeseries(bad, nominal_capacity_ah=2.0)


def test_mah_capacity_detected(good):
    bad = good.copy()
    bad["discharging_capacity_ah"] *= 1000
    with pytest.raises(UnitError, match="capacity looks like mAh"):
        validate_timeseries(bad)
    # the same check with a missing value (the per-cycle maximum and first value skip it) and the
    # same ratio: both ways of summing the column's growth give one number
    ratios = []
    for frame in (bad, bad.assign(discharging_capacity_ah=bad["discharging_capacity_ah"].where(
            bad.index != 3))):
        with pytest.raises(UnitError, match="capacity looks like mAh") as exc:
            validate_timeseries(frame)
        ratios.append(exc.value.value)
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-12) and 300 < ratios[0] < 3000


def test_non_numeric_and_decreasing_cycle(good):
    bad = good.copy()
    bad["voltage_volt"] = bad["voltage_volt"].astype(str)
    with pytest.raises(SchemaError, match="must be numeric"):
        validate_timeseries(bad)
    bad = good.copy()
    bad.loc[60:, "cycle_count"] = 1
    bad.loc[50:59, "cycle_count"] = 3
    with pytest.raises(DataFormatError, match="cycle number decreases"):
        validate_timeseries(bad)


def test_empty_table():
    cols = ["test_time_second", "voltage_volt", "current_ampere", "cycle_count", "step_count"]
    with pytest.raises(DataFormatError, match="no data rows"):
        validate_timeseries(pd.DataFrame({c: pd.Series([], dtype=float) for c in cols}))


def test_finalize_never_shares_arrays_with_its_input(tiny_cycles):
    """Canonical order or not, with or without step_count to add: the input is left as it was and the
    result owns its arrays (writing into it cannot change the caller's frame)."""
    canonical = finalize_timeseries(tiny_cycles)
    shuffled = canonical[list(reversed(canonical.columns))]
    shuffled.index = shuffled.index + 100
    no_steps = canonical.drop(columns="step_count")
    for source in (canonical, shuffled, no_steps):
        before = source.copy()
        out = finalize_timeseries(source)
        pd.testing.assert_frame_equal(source, before)
        assert list(out.columns) == list(canonical.columns) and out.index.equals(pd.RangeIndex(len(source)))
        pd.testing.assert_frame_equal(out, canonical)
        for c in source.columns:
            assert not np.shares_memory(out[c].to_numpy(), source[c].to_numpy()), c
