"""Fast-charge protocol design: protocol family, constraints, CC-CV baseline, BO, RL environment.

SPMe / Chen2020 with lumped thermal, 60 s output period and two 40 % SOC
windows, so that every multi-step protocol shares one built model.
"""

from __future__ import annotations

import math

import pytest

from voltlab.errors import SimulationError
from voltlab.simulate.base import SimulationSetupError

WINDOWS = (0.0, 40.0, 80.0)
PERIOD = 60.0


@pytest.fixture(scope="module")
def gentle(fc):
    return fc.evaluate_protocol(fc.ChargeProtocol(WINDOWS, (0.5, 0.5)), period_second=PERIOD)


@pytest.fixture(scope="module")
def baseline(fc):
    return fc.cccv_baseline(c_range=(0.3, 3.0), tolerance_c=0.2, period_second=PERIOD)


def test_protocol_step_strings_and_durations(fc) -> None:
    p = fc.ChargeProtocol((0, 20, 40, 60, 80), (4.8, 3, 2, 1))
    assert p.durations_minutes() == pytest.approx((2.5, 4.0, 6.0, 12.0))
    assert p.steps()[0] == "Charge at 4.8C for 2.5 minutes or until 4.2 V"
    assert p.steps()[-2:] == ["Charge at 1C until 4.2 V", "Hold at 4.2 V until C/20"]
    assert p.nominal_time_minutes() == pytest.approx(24.5)
    assert fc.CCCVProtocol(1.5, 4.1).steps() == ["Charge at 1.5C until 4.1 V", "Hold at 4.1 V until C/20"]


def test_gentle_protocol_reaches_80_percent_and_is_feasible(gentle) -> None:
    # 0.5C for 0.8 of the 5 Ah nominal capacity: 96 min, no voltage stop, no plating.
    assert gentle.nominal_capacity_ah == pytest.approx(5.0)
    assert gentle.time_to_target_min == pytest.approx(96.0, abs=0.5)
    assert gentle.charge_ah == pytest.approx(4.0)
    assert gentle.reached_soc_percent > 95.0  # the finishing CC-CV continues to nearly full
    assert gentle.feasible, gentle.violations
    assert 0.0 < gentle.min_plating_margin_volt < 0.2
    assert 25.0 < gentle.max_temperature_celsius < 35.0
    assert gentle.max_voltage_volt < 4.2


def test_window_steps_pass_the_window_charge_in_voltlab_simulator(fc) -> None:
    """The step strings run through voltlab's Simulator: 80 % SOC = 4.0 Ah at the end of the last window."""
    from voltlab.simulate import Simulator

    p = fc.ChargeProtocol(WINDOWS, (0.7, 0.5))
    res = Simulator("SPMe", "Chen2020", p.steps(), thermal="lumped", initial_soc=0.0, period_second=PERIOD,
                    skipped_steps="allow").solve()
    ts = res.timeseries
    end_window = ts[ts["step_index"] == 2]
    assert float(end_window["charging_capacity_ah"].iloc[-1]) == pytest.approx(4.0, rel=2e-3)
    # Same number from the reused (experiment-swapped) model.
    e = fc.evaluate_protocol(p, period_second=PERIOD)
    t_end = float(end_window["test_time_second"].iloc[-1]) / 60.0
    assert e.time_to_target_min == pytest.approx(t_end, abs=0.1)
    assert e.time_to_target_min == pytest.approx(60 * 0.4 / 0.7 + 60 * 0.4 / 0.5, abs=0.2)


def test_high_rate_protocol_is_caught_plating(fc) -> None:
    e = fc.evaluate_protocol(fc.ChargeProtocol(WINDOWS, (4.0, 4.0)), period_second=PERIOD)
    assert not e.feasible
    assert e.min_plating_margin_volt < -0.05
    assert any("plating" in v for v in e.violations)
    assert e.max_voltage_volt <= 4.2 + 1e-3  # the voltage limit stops the steps, it is not the violation


def test_cccv_baseline_is_feasible_and_bracketed(baseline) -> None:
    best, trials = baseline
    assert best.feasible
    assert 0.6 < best.protocol.c_rate < 1.1
    assert 50.0 < best.time_to_target_min < 75.0
    faster = [t for t in trials if t.protocol.c_rate > best.protocol.c_rate]
    assert faster and not any(t.feasible for t in faster)
    assert best.time_to_target_min == min(t.time_to_target_min for t in trials if t.feasible)


@pytest.fixture(scope="module")
def searched(fc):
    return fc.window_search(windows=WINDOWS, c_bounds=(0.3, 3.0), tolerance_c=0.05, period_second=PERIOD)


def test_window_search_is_feasible_on_the_boundary_and_beats_cccv_by_20_percent(fc, searched, baseline) -> None:
    best, trials = searched
    assert best is not None and best.feasible, best
    # The result is one of the simulated whole protocols: the fastest feasible one.
    whole = [t for t in trials if len(t.protocol.c_rates) == 2 and t.feasible]
    assert any(t is best for t in whole)
    assert best.time_to_target_min == min(t.time_to_target_min for t in whole)
    # 2 windows: the top rate, the bottom rate and a bisection of 2.7C to 0.05C (6 halvings) each, plus the
    # second bisection above the constant-current limit where a higher rate only met vmax.
    assert len(trials) >= 16
    c1, c2 = best.protocol.c_rates
    assert 1.2 < c1 < 1.7 and 0.6 < c2 < 1.1 and c2 < c1  # plating and heat lower the rate as SOC rises
    assert best.time_to_target_min == pytest.approx(best.protocol.nominal_time_minutes(), abs=1.0)
    assert best.max_temperature_celsius > 44.0 or best.min_plating_margin_volt < 0.005  # a limit is nearly active
    base, _ = baseline
    assert 100 * (1 - best.time_to_target_min / base.time_to_target_min) > 20.0
    # 0.1C more in either window breaks a limit up to that window's end: the search stopped on the boundary.
    for k in range(2):
        rates = list(best.protocol.c_rates[: k + 1])
        rates[-1] += 0.1
        e = fc.evaluate_protocol(fc.ChargeProtocol(WINDOWS[: k + 2], tuple(rates)), period_second=PERIOD)
        assert not e.feasible


def test_a_plating_safety_margin_is_held_and_costs_time(fc, gentle, searched) -> None:
    # the gentle 0.5C charge keeps 0-200 mV of margin: against a 200 mV limit it plates
    e = fc.evaluate_protocol(gentle.protocol, period_second=PERIOD, min_plating_margin_volt=0.2)
    assert not e.feasible and e.plating_margin_limit_volt == 0.2
    assert any("plating" in v and "< 200 mV" in v for v in e.violations)
    assert e.min_plating_margin_volt == pytest.approx(gentle.min_plating_margin_volt)
    # a 30 mV margin: the window search stays above it and is slower than at 0 mV
    safe, _ = fc.window_search(windows=WINDOWS, c_bounds=(0.3, 3.0), tolerance_c=0.05, period_second=PERIOD,
                               min_plating_margin_volt=0.03)
    assert safe is not None and safe.feasible and safe.min_plating_margin_volt >= 0.03
    assert safe.time_to_target_min > searched[0].time_to_target_min + 1.0
    with pytest.raises(SimulationSetupError, match="min_plating_margin_volt"):
        fc.evaluate_protocol(gentle.protocol, min_plating_margin_volt=float("nan"))


def test_window_search_without_a_feasible_rate_returns_none(fc) -> None:
    best, trials = fc.window_search(windows=WINDOWS, c_bounds=(2.5, 3.0), tolerance_c=0.5, period_second=PERIOD)
    assert best is None
    assert len(trials) == 2 and not any(t.feasible for t in trials)  # 3C then 2.5C in the first window


def test_bo_tiny_budget_returns_feasible_protocol(fc, baseline, searched) -> None:
    base, _ = baseline
    d = fc.design_fast_charge(windows=WINDOWS, c_bounds=(0.3, 3.0), budget=3, n_init=3, seed=1, baseline=base,
                              period_second=PERIOD)
    assert d.best is not None and d.best.feasible
    counts = d.campaign.counts()
    assert counts["complete"] + counts["failed"] == 5  # the baseline-rate point + the window search + 3 proposals
    # The default start is window_search with tolerance 0.02C: at least as fast as the 0.05C search above.
    assert d.start is not None and d.start.feasible and d.start_trials > 16
    assert d.start.time_to_target_min <= searched[0].time_to_target_min + 0.1
    assert d.best.time_to_target_min <= d.start.time_to_target_min
    assert d.bo_improvement_min == pytest.approx(d.start.time_to_target_min - d.best.time_to_target_min)
    assert len(d.sources) == len(d.evaluations) and d.sources[:2] == ["cc-cv rate", "window search"]
    assert all(src.startswith("campaign (") for src in d.sources[2:])
    if d.best.time_to_target_min < base.time_to_target_min:
        assert d.message == ""
        assert d.speedup_percent > 0
    else:
        assert "not faster" in d.message
    assert math.isfinite(d.best.time_to_target_min)
    d.campaign.close()


def test_gym_env_passes_check_env_and_counts_soc(fc) -> None:
    from gymnasium.utils.env_checker import check_env

    from voltlab.simulate.rl import FastChargeEnv

    env = FastChargeEnv(windows=WINDOWS, c_bounds=(0.2, 4.0), period_second=PERIOD)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,) and obs[0] == 0.0
    # action -0.8 -> 0.2 + 0.1 * 3.8 = 0.58C; 40 % takes 41.4 min
    obs, reward, terminated, truncated, info = env.step([-0.8])
    assert info["c_rate"] == pytest.approx(0.58)
    assert info["soc"] == pytest.approx(0.4, abs=2e-3)
    assert not terminated and not truncated and not info["voltage_limited"]
    assert reward == pytest.approx(10 * 0.4 - 60 * 0.4 / 0.58 / 10, abs=0.05)
    obs, reward, terminated, _, info = env.step([1.0])  # 4C at 40 %: voltage limit and plating
    assert terminated and info["voltage_limited"] and info["min_plating_margin_volt"] < 0
    assert reward < -5
    with pytest.raises(SimulationSetupError, match="reset"):
        env.step([0.0])


def test_rl_training_tiny_budget_is_evaluated(fc) -> None:
    from voltlab.simulate.rl import train_rl_protocol

    r = train_rl_protocol(windows=WINDOWS, c_bounds=(0.3, 3.0), timesteps=16, seed=0, period_second=PERIOD)
    assert r.timesteps >= 16
    assert len(r.protocol.c_rates) == 2 and all(0.3 <= c <= 3.0 for c in r.protocol.c_rates)
    assert r.evaluation.protocol == r.protocol
    assert math.isfinite(r.episode_return)


def test_errors_name_the_bad_argument(fc) -> None:
    with pytest.raises(SimulationSetupError, match="c_rates has 1 values for 2 SOC windows"):
        fc.ChargeProtocol(WINDOWS, (1.0,))
    with pytest.raises(SimulationSetupError, match="soc_windows_percent"):
        fc.ChargeProtocol((0, 50, 40), (1.0, 1.0))
    with pytest.raises(SimulationSetupError, match="c_rate"):
        fc.CCCVProtocol(-1.0)
    with pytest.raises(SimulationSetupError, match="model='SPMX'"):
        fc.evaluate_protocol(fc.CCCVProtocol(1.0), model="SPMX")
    with pytest.raises(SimulationSetupError, match="vmax_volt=4.3 V is above the upper voltage cut-off"):
        fc.evaluate_protocol(fc.CCCVProtocol(1.0, vmax_volt=4.3), period_second=PERIOD)
    with pytest.raises(SimulationSetupError, match="budget"):
        fc.design_fast_charge(budget=0)
    with pytest.raises(SimulationSetupError, match="fade_cycles must be 0"):
        fc.compare_fast_charge(fade_cycles=1)
    with pytest.raises(SimulationSetupError, match="start must be"):
        fc.design_fast_charge(start="sobol")
    with pytest.raises(SimulationSetupError, match="c_bounds"):
        fc.window_search(c_bounds=(2.0, 1.0))
    with pytest.raises(SimulationSetupError, match="c_bounds must be"):
        fc.design_fast_charge(c_bounds="fast")
    with pytest.raises(SimulationSetupError, match="tolerance_c"):
        fc.window_search(tolerance_c=0)
    with pytest.raises(SimulationSetupError, match="c_range"):
        fc.cccv_baseline(c_range=(2.0, 1.0))
    assert issubclass(SimulationSetupError, SimulationError)
