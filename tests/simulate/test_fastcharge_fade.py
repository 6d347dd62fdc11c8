"""Fast charge against fade: SEI + plating ageing after N cycles, and the time-vs-fade Pareto campaign.

SPMe / OKane2022, isothermal ageing, 3 cycles, 60 s output period; the CC-CV
protocols share one built model.
"""

from __future__ import annotations

import pytest

from voltlab.errors import SimulationError
from voltlab.simulate.base import SimulationSetupError

CYCLES = 3
PERIOD = 60.0


@pytest.fixture(scope="module")
def cccv(fc):
    """CC-CV 0.5C, 1C, 2C cycled CYCLES times (one build)."""
    return {c: fc.protocol_fade(fc.CCCVProtocol(c), cycles=CYCLES, period_second=PERIOD) for c in (0.5, 1.0, 2.0)}


def test_fade_increases_with_c_rate(cccv):
    # OKane2022 SPMe, 3 cycles: fade is ~0.01 % at 0.5C and 1C (SEI, time at high SOC) and clearly
    # higher at 2C (plating). A sign error in the fade (Q_1 / Q_N) or a fade read from cycle 1 fails this.
    assert cccv[2.0].capacity_fade_percent > 1.2 * cccv[1.0].capacity_fade_percent > 0
    assert cccv[2.0].capacity_fade_percent > cccv[0.5].capacity_fade_percent > 0
    assert cccv[2.0].lli_percent > cccv[1.0].lli_percent > 0
    # fade is measured on the discharge capacities the record holds
    q = cccv[2.0].discharge_capacity_ah
    assert len(q) == CYCLES and q[-1] < q[0]
    assert cccv[2.0].capacity_fade_percent == pytest.approx(100 * (1 - q[-1] / q[0]))


def test_plating_small_when_gentle_and_large_when_aggressive(cccv):
    gentle, hard = cccv[0.5], cccv[2.0]
    # partially reversible plating still deposits a little during the CV hold at 4.2 V at 0.5C,
    # but its margin never goes below 0 V during the charge to 80 %; at 2C it does, and the loss more than doubles
    assert gentle.min_plating_margin_volt > 0 > hard.min_plating_margin_volt
    assert 0 <= gentle.plating_loss_ah < 1e-3
    assert hard.plating_loss_ah > 2 * gentle.plating_loss_ah
    # time to 80 % comes from the same simulation: faster at 2C
    assert hard.time_to_target_min < cccv[1.0].time_to_target_min < gentle.time_to_target_min


def test_same_protocol_twice_is_identical(fc, cccv):
    again = fc.protocol_fade(fc.CCCVProtocol(1.0), cycles=CYCLES, period_second=PERIOD)
    assert again.to_dict() == cccv[1.0].to_dict()
    assert again.discharge_capacity_ah == cccv[1.0].discharge_capacity_ah


def test_errors_name_the_argument(fc):
    p = fc.CCCVProtocol(1.0)
    with pytest.raises(SimulationSetupError, match="cycles"):
        fc.protocol_fade(p, cycles=1)
    with pytest.raises(SimulationSetupError, match="discharge"):
        fc.protocol_fade(p, cycles=CYCLES, discharge="Discharge quickly", period_second=PERIOD)
    with pytest.raises(SimulationSetupError, match="parameters"):
        fc.protocol_fade(p, cycles=CYCLES, parameters="OKane2023")
    with pytest.raises(SimulationSetupError, match="thermal"):
        fc.protocol_fade(p, cycles=CYCLES, thermal="hot")
    with pytest.raises(SimulationSetupError, match="budget"):
        fc.design_fast_charge_pareto(budget=0)
    with pytest.raises(SimulationSetupError, match="ref_point"):
        fc.design_fast_charge_pareto(budget=2, ref_point=(60.0,))


def test_solver_failure_names_the_protocol(fc):
    # 3C from 0 % SOC reaches 4.2 V within a minute in OKane2022 SPMe and the CV hold fails in IDAKLU
    with pytest.raises(SimulationError, match=r"CC 3C to 4\.2 V"):
        fc.protocol_fade(fc.CCCVProtocol(3.0), cycles=CYCLES, period_second=PERIOD)


def test_pareto_front_is_non_dominated(fc):
    d = fc.design_fast_charge_pareto(budget=4, cycles=CYCLES, seed=0, n_init=4, surrogate="random",
                                     windows=(0, 40, 80), c_bounds=(0.5, 2.0), min_plating_margin_volt=None,
                                     period_second=PERIOD)
    assert d.front, d.failures
    pts = [(e.time_to_target_min, e.capacity_fade_percent) for e in d.front]
    for i, (t, f) in enumerate(pts):
        for j, (t2, f2) in enumerate(pts):
            if i != j:
                assert not (t2 <= t and f2 <= f and (t2 < t or f2 < f)), (pts[i], pts[j])
    # every evaluated feasible point is dominated by or on the front
    told = [(fe, pe) for fe, pe in d.evaluations if pe is not None]
    ok = [(fe.time_to_target_min, fe.capacity_fade_percent) for fe, pe in told if pe.max_temperature_celsius <= 45]
    assert all(any(t2 <= t and f2 <= f for t2, f2 in pts) for t, f in ok)  # feasible points: on or behind it
    assert len(d.hypervolume) == len(told)
    assert all(b >= a for a, b in zip(d.hypervolume, d.hypervolume[1:], strict=False))
    assert d.baseline is not None and d.baseline.cycles == CYCLES
