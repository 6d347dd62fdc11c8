import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voltlab.data.schema import (
    COLUMNS,
    REQUIRED_COLUMNS,
    canonical_order,
    counter_to_cycle_cumulative,
    infer_cycle_count,
    step_count_from,
)


def test_required_columns_are_the_bdf_core():
    assert REQUIRED_COLUMNS == (
        "test_time_second", "voltage_volt", "current_ampere", "cycle_count", "step_count",
    )
    assert len({c.name for c in COLUMNS}) == len(COLUMNS)
    assert all(" / " in c.bdf_label for c in COLUMNS)


@pytest.mark.parametrize(
    ("values", "cycles", "expected"),
    [
        # Arbin: resets each cycle.
        ([0, 1, 2, 0, 1.5], [1, 1, 1, 2, 2], [0, 1, 2, 0, 1.5]),
        # Whole-test counter: subtract the value at the cycle start.
        ([5, 6, 7, 8, 10], [1, 1, 1, 2, 2], [0, 1, 2, 0, 2]),
        # Maccor: resets every step inside a cycle -> keep accumulating.
        ([0, 1, 0, 0.5, 1.0], [1, 1, 1, 1, 1], [0, 1, 1, 1.5, 2.0]),
        # NaN means no change.
        ([0, np.nan, 2], [1, 1, 1], [0, 0, 2]),
    ],
)
def test_counter_to_cycle_cumulative(values, cycles, expected):
    np.testing.assert_allclose(counter_to_cycle_cumulative(values, cycles), expected)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=60), st.data())
def test_counter_is_zero_at_cycle_start_and_non_decreasing(values, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=4)))
    cycles = np.searchsorted(np.array(cuts), np.arange(len(values)), side="right")
    out = counter_to_cycle_cumulative(values, cycles)
    starts = np.r_[True, cycles[1:] != cycles[:-1]]
    assert np.all(out[starts] == 0)
    same = ~starts[1:]
    assert np.all(np.diff(out)[same] >= -1e-12)


def test_step_count_and_cycle_inference():
    assert step_count_from([1, 1, 2, 2], [1, 2, 2, 2]).tolist() == [1, 2, 3, 3]
    # rest, charge, discharge, charge -> second cycle starts at the second charge.
    assert infer_cycle_count([0, 2, -2, -2, 0, 2]).tolist() == [1, 1, 1, 1, 1, 2]
    assert infer_cycle_count([]).tolist() == []


def test_canonical_order_puts_known_columns_first():
    assert canonical_order(["zeta", "voltage_volt", "test_time_second", "alpha"]) == [
        "test_time_second", "voltage_volt", "alpha", "zeta",
    ]


def test_counter_dip_within_rounding_noise_is_not_a_reset():
    # cumsum can come back one ulp lower; that must not double the capacity.
    vals = [0.0, 0.025, 0.09611111111111112, 0.0961111111111111]
    out = counter_to_cycle_cumulative(vals, [1, 1, 1, 1])
    assert out[-1] == pytest.approx(0.0961111111111111, rel=1e-12)
    # A real reset (back near zero) is still a reset.
    np.testing.assert_allclose(counter_to_cycle_cumulative([0, 1.0, 0.1], [1, 1, 1]), [0, 1.0, 1.1])
