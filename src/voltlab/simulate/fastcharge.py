"""Fast-charge protocol design on PyBaMM: multi-step CC protocols, a CC-CV baseline, BO and a comparison.

A :class:`ChargeProtocol` is an Attia-style multi-step constant-current
charge from ``soc_windows_percent[0]`` to ``soc_windows_percent[-1]`` (e.g.
0-20-40-60-80 % SOC) with one C-rate per window. Each window is one PyBaMM
step string ``"Charge at {c}C for {t} minutes or until {vmax} V"`` whose
duration ``t = 60 * width / c`` minutes (width as a fraction of the nominal
capacity) makes it pass exactly the window's charge; a window that reaches
``vmax`` first stops there. After the windows a 1C charge to ``vmax`` and a
CV hold at ``vmax`` until C/20 finish the charge, so a protocol stopped by
the voltage limit still reaches the target (and pays for it in time).

SOC is counted from the simulated charge throughput: ``SOC = soc_0 +
Q_charged / Q_nominal`` with ``Q_nominal`` the set's ``"Nominal cell capacity
[A.h]"`` (5 Ah for Chen2020; C-rates are relative to it too) and ``soc_0``
PyBaMM's ``initial_soc`` (0 = the state at the lower voltage cut-off).

Every protocol is evaluated on the same simulation up to the moment it
reaches the target SOC:

* time to target SOC, min (interpolated between output points);
* maximum terminal voltage, V (``"Voltage [V]"``);
* maximum cell temperature, °C (``"Volume-averaged cell temperature [C]"``,
  lumped thermal model);
* minimum plating margin, V: PyBaMM's ``"Negative electrode surface potential
  difference at separator interface [V]"`` (``phi_s - phi_e`` at the
  negative electrode / separator interface, i.e. the potential vs Li/Li+ where
  plating starts first; plating is thermodynamically possible below 0 V).

The model is built once per protocol *structure* (number and kind of steps) in
PyBaMM's unified experiment mode, where step values are solver inputs; later
protocols of the same structure swap the experiment and reuse the built,
compiled model (a solve is then ~0.1-0.5 s for SPMe instead of ~3-10 s with a
rebuild). The result equals a fresh build (checked in the tests).

Examples
--------
>>> p = ChargeProtocol((0, 40, 80), (1.0, 0.5))
>>> p.steps()[0]
'Charge at 1C for 24 minutes or until 4.2 V'
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from voltlab._files import atomic_write_text
from voltlab.errors import SimulationError
from voltlab.simulate.base import MODELS, SimulationSetupError, close_matches

if TYPE_CHECKING:
    from voltlab.optimize import Campaign

__all__ = [
    "FADE_PLATING",
    "FADE_SEI",
    "PLATING_VARIABLE",
    "CCCVProtocol",
    "ChargeProtocol",
    "FadeEvaluation",
    "FadeParetoDesign",
    "FastChargeDesign",
    "ProtocolEvaluation",
    "cccv_baseline",
    "compare_fast_charge",
    "comparison_table",
    "design_fast_charge",
    "design_fast_charge_pareto",
    "evaluate_protocol",
    "protocol_fade",
    "protocol_trace",
    "window_search",
    "write_fast_charge_report",
]

PLATING_VARIABLE = "Negative electrode surface potential difference at separator interface [V]"
"""PyBaMM variable used as the plating margin (V vs Li/Li+ at the negative electrode / separator interface)."""

_TEMPERATURE = "Volume-averaged cell temperature [C]"
_VOLTAGE = "Voltage [V]"
_VOLTAGE_TOL = 1e-3  # V: solver overshoot of a "until V" event counted as within the limit
_SOC_TOL = 1e-3  # % SOC (0.05 mAh of a 5 Ah cell): a window ending on time has reached its end


def _fmt(x: float) -> str:
    """Number for a PyBaMM step string: up to 6 significant digits, no exponent."""
    s = f"{x:.6g}"
    if "e" in s:
        s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s


def _check_finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SimulationSetupError(f"{name} must be a finite number, got {value!r}", value=value) from exc
    if not math.isfinite(v):
        raise SimulationSetupError(f"{name} must be a finite number, got {value!r}", value=value)
    return v


def _check_c_bounds(c_bounds: Any) -> tuple[float, float]:
    """``(low, high)`` C-rates with ``0 < low < high`` (finite), as floats; else a :class:`SimulationSetupError`."""
    try:
        lo, hi = (float(c) for c in c_bounds)
    except (TypeError, ValueError) as exc:
        raise SimulationSetupError(f"c_bounds must be (low, high) C-rates, e.g. (0.2, 3.0), got {c_bounds!r}",
                                   value=c_bounds) from exc
    if not (0 < lo < hi and math.isfinite(hi)):
        raise SimulationSetupError(f"c_bounds must be (low, high) C-rates with 0 < low < high, got {c_bounds!r}",
                                   value=c_bounds)
    return lo, hi


def _check_positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SimulationSetupError(f"{name} must be a positive number, got {value!r}", value=value) from exc
    if not (math.isfinite(v) and v > 0):
        raise SimulationSetupError(f"{name} must be a positive finite number, got {value!r}", value=value)
    return v


@dataclass(frozen=True, slots=True)
class ChargeProtocol:
    """Multi-step constant-current charge over SOC windows (Attia-style), then 1C and CV to finish.

    Parameters
    ----------
    soc_windows_percent
        Window boundaries, % SOC, strictly increasing in [0, 100], e.g.
        ``(0, 20, 40, 60, 80)``; the first is the initial SOC, the last the target.
    c_rates
        One C-rate per window (1/h, relative to the nominal capacity), ``> 0``.
    vmax_volt
        Voltage limit, V: each window stops early at it, and the finishing CV holds it.
    finish_c_rate
        C-rate of the finishing CC step before the CV hold, 1/h.

    Raises
    ------
    SimulationSetupError
        Windows not increasing or outside 0-100 %, a count of rates that does
        not match the windows, or a non-positive rate or voltage.
    """

    soc_windows_percent: tuple[float, ...]
    c_rates: tuple[float, ...]
    vmax_volt: float = 4.2
    finish_c_rate: float = 1.0

    def __post_init__(self) -> None:
        w = tuple(float(x) for x in self.soc_windows_percent)
        if len(w) < 2 or any(not math.isfinite(x) for x in w) or w[0] < 0 or w[-1] > 100 or any(
                b <= a for a, b in itertools.pairwise(w)):
            raise SimulationSetupError(
                f"soc_windows_percent must be >= 2 strictly increasing SOC values in [0, 100] %, e.g. "
                f"(0, 20, 40, 60, 80); got {self.soc_windows_percent!r}",
                value=self.soc_windows_percent,
            )
        c = tuple(_check_positive("c_rates", x) for x in self.c_rates)
        if len(c) != len(w) - 1:
            raise SimulationSetupError(
                f"c_rates has {len(c)} values for {len(w) - 1} SOC windows {w}; give one C-rate per window",
                value=self.c_rates,
            )
        object.__setattr__(self, "soc_windows_percent", w)
        object.__setattr__(self, "c_rates", c)
        object.__setattr__(self, "vmax_volt", _check_positive("vmax_volt", self.vmax_volt))
        object.__setattr__(self, "finish_c_rate", _check_positive("finish_c_rate", self.finish_c_rate))

    @property
    def initial_soc_percent(self) -> float:
        """SOC at the start, %."""
        return self.soc_windows_percent[0]

    @property
    def target_soc_percent(self) -> float:
        """SOC the protocol charges to, %."""
        return self.soc_windows_percent[-1]

    def durations_minutes(self) -> tuple[float, ...]:
        """Nominal duration of each window, min: ``60 * width / c`` (width as a fraction)."""
        w = self.soc_windows_percent
        return tuple(60.0 * (b - a) / 100.0 / c for a, b, c in zip(w, w[1:], self.c_rates, strict=False))

    def nominal_time_minutes(self) -> float:
        """Time to target if no window meets the voltage limit, min."""
        return float(sum(self.durations_minutes()))

    def steps(self) -> list[str]:
        """PyBaMM step strings: one per window, then the 1C (``finish_c_rate``) CC and the CV hold."""
        v = _fmt(self.vmax_volt)
        out = [f"Charge at {_fmt(c)}C for {_fmt(t)} minutes or until {v} V"
               for c, t in zip(self.c_rates, self.durations_minutes(), strict=True)]
        out += [f"Charge at {_fmt(self.finish_c_rate)}C until {v} V", f"Hold at {v} V until C/20"]
        return out

    def describe(self) -> str:
        """``"0-20 %: 2C, 20-40 %: 1.5C, ..."``."""
        w = self.soc_windows_percent
        return ", ".join(f"{_fmt(a)}-{_fmt(b)} %: {_fmt(round(c, 3))}C"
                         for a, b, c in zip(w, w[1:], self.c_rates, strict=False))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": "multistep-cc", "soc_windows_percent": list(self.soc_windows_percent),
                "c_rates": list(self.c_rates), "vmax_volt": self.vmax_volt, "finish_c_rate": self.finish_c_rate}


@dataclass(frozen=True, slots=True)
class CCCVProtocol:
    """Constant current at ``c_rate`` until ``vmax_volt``, then constant voltage until C/20.

    Parameters
    ----------
    c_rate
        Charge C-rate, 1/h (> 0).
    vmax_volt
        CV voltage, V.
    initial_soc_percent, target_soc_percent
        Start and target SOC, %; the target only decides where the evaluation stops.

    Examples
    --------
    >>> CCCVProtocol(1.5).steps()
    ['Charge at 1.5C until 4.2 V', 'Hold at 4.2 V until C/20']
    """

    c_rate: float
    vmax_volt: float = 4.2
    initial_soc_percent: float = 0.0
    target_soc_percent: float = 80.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "c_rate", _check_positive("c_rate", self.c_rate))
        object.__setattr__(self, "vmax_volt", _check_positive("vmax_volt", self.vmax_volt))
        a, b = float(self.initial_soc_percent), float(self.target_soc_percent)
        if not (0 <= a < b <= 100):
            raise SimulationSetupError(
                f"need 0 <= initial_soc_percent < target_soc_percent <= 100, got {a!r} and {b!r}", value=(a, b))

    def steps(self) -> list[str]:
        """PyBaMM step strings."""
        v = _fmt(self.vmax_volt)
        return [f"Charge at {_fmt(self.c_rate)}C until {v} V", f"Hold at {v} V until C/20"]

    def describe(self) -> str:
        """``"CC 1.2C to 4.2 V, CV to C/20"``."""
        return f"CC {_fmt(round(self.c_rate, 4))}C to {_fmt(self.vmax_volt)} V, CV to C/20"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": "cc-cv", "c_rate": self.c_rate, "vmax_volt": self.vmax_volt,
                "initial_soc_percent": self.initial_soc_percent, "target_soc_percent": self.target_soc_percent}


Protocol = ChargeProtocol | CCCVProtocol


@dataclass(frozen=True, slots=True)
class ProtocolEvaluation:
    """A protocol simulated up to its target SOC, with its constraint margins.

    Attributes
    ----------
    protocol
        The protocol evaluated.
    time_to_target_min
        Time from the start to the target SOC, min (``inf`` if never reached).
    reached_soc_percent
        Highest SOC reached in the simulation, % (from the charge throughput).
    charge_ah
        Charge passed up to the target (or the end), Ah.
    max_voltage_volt, max_temperature_celsius, min_plating_margin_volt
        Extremes over the charge up to the target: terminal voltage (V), cell
        temperature (°C) and :data:`PLATING_VARIABLE` (V).
    vmax_volt, tmax_celsius
        The limits the evaluation was checked against.
    violations
        Human-readable constraint violations (empty when feasible).
    nominal_capacity_ah
        Capacity SOC is counted against, Ah.
    solve_time_second
        Wall time of the solve, s.
    plating_margin_limit_volt
        The lowest plating margin the evaluation allowed, V (0: the onset of plating).
    """

    protocol: Protocol
    time_to_target_min: float
    reached_soc_percent: float
    charge_ah: float
    max_voltage_volt: float
    max_temperature_celsius: float
    min_plating_margin_volt: float
    vmax_volt: float
    tmax_celsius: float
    violations: tuple[str, ...]
    nominal_capacity_ah: float
    solve_time_second: float = 0.0
    model: str = "SPMe"
    parameters: str = "Chen2020"
    plating_margin_limit_volt: float = 0.0

    @property
    def feasible(self) -> bool:
        """Reached the target with no plating and within the voltage and temperature limits."""
        return not self.violations

    @property
    def voltage_margin_volt(self) -> float:
        """``vmax - max V``, V (>= -1e-3 counts as within the limit)."""
        return self.vmax_volt - self.max_voltage_volt

    @property
    def temperature_margin_celsius(self) -> float:
        """``tmax - max T``, °C."""
        return self.tmax_celsius - self.max_temperature_celsius

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready form (units in the keys)."""
        return {
            "protocol": self.protocol.describe(), "steps": self.protocol.steps(),
            "time_to_target_min": self.time_to_target_min, "reached_soc_percent": self.reached_soc_percent,
            "charge_ah": self.charge_ah, "max_voltage_volt": self.max_voltage_volt,
            "max_temperature_celsius": self.max_temperature_celsius,
            "min_plating_margin_volt": self.min_plating_margin_volt, "feasible": self.feasible,
            "violations": list(self.violations), "vmax_volt": self.vmax_volt, "tmax_celsius": self.tmax_celsius,
            "plating_margin_limit_volt": self.plating_margin_limit_volt,
            "model": self.model, "parameters": self.parameters,
        }


# --------------------------------------------------------------------------- runner
def _pybamm_for(model: str, parameters: str, *, model_hint: str, set_hint: str = "") -> Any:
    """PyBaMM, after checking that ``model`` and ``parameters`` exist (errors name them and close matches)."""
    from voltlab.simulate.simulator import import_pybamm

    pybamm = import_pybamm()
    if model not in MODELS:
        raise SimulationSetupError(
            f"model={model!r} is not a PyBaMM model voltlab knows{close_matches(model, MODELS)}; {model_hint}",
            value=model)
    sets = sorted(pybamm.parameter_sets.keys())
    if parameters not in sets:
        raise SimulationSetupError(
            f"parameters={parameters!r} is not a PyBaMM parameter set{close_matches(parameters, sets)}{set_hint}",
            value=parameters)
    return pybamm


class _Runner:
    """PyBaMM simulations of one model in unified experiment mode, one build per (step structure, cycles).

    ``ageing=True`` adds the SEI and lithium-plating submodels of :func:`protocol_fade`.
    """

    def __init__(self, model: str, parameters: str, thermal: str, period_second: float, ageing: bool) -> None:
        if ageing:
            pybamm = _pybamm_for(model, parameters, model_hint="use 'SPMe' (default) or 'SPM'",
                                 set_hint="; OKane2022 has the SEI and plating parameters")
            opts = {"SEI": FADE_SEI, "lithium plating": FADE_PLATING, "thermal": thermal}
        else:
            pybamm = _pybamm_for(model, parameters,
                                 model_hint=f"use one of {', '.join(MODELS)} (SPMe or DFN for the plating margin)")
            opts = {"thermal": thermal}
        self.model_name, self.parameters, self.ageing = model, parameters, ageing
        self.period_second = float(period_second)
        self._pybamm = pybamm
        try:
            self._model = getattr(pybamm.lithium_ion, model)(opts)
        except pybamm.OptionError as exc:
            raise SimulationSetupError(f"PyBaMM rejected model {model} with options {opts}: {exc}",
                                       value=opts) from exc
        self._pv = pybamm.ParameterValues(parameters)
        self.nominal_capacity_ah = float(self._pv["Nominal cell capacity [A.h]"])
        self.upper_cutoff_volt = float(self._pv["Upper voltage cut-off [V]"])
        self._sims: dict[tuple[Any, ...], Any] = {}
        self.builds = 0

    def solve(self, steps: Sequence[str], initial_soc: float, cycles: int = 1) -> Any:
        pybamm = self._pybamm
        exp = pybamm.Experiment([tuple(steps)] * cycles, period=f"{self.period_second:g} seconds")
        key = (cycles, *(s.unified_branch_repr() for s in exp.steps[: len(steps)]))
        sim = self._sims.get(key)
        if sim is None:
            try:
                sim = pybamm.Simulation(self._model, parameter_values=self._pv.copy(), experiment=exp,
                                        solver=pybamm.IDAKLUSolver(), experiment_model_mode="unified")
            except KeyError as exc:
                hint = "; use OKane2022" if self.ageing else ""
                raise SimulationSetupError(f"parameter set {self.parameters} lacks a parameter the model needs: "
                                           f"{exc}{hint}", value=str(exc)) from exc
            self._sims[key] = sim
            self.builds += 1
        else:
            sim.experiment = exp  # same structure: reuse the built, compiled model
        return sim.solve(initial_soc=initial_soc)


_RUNNERS: dict[tuple[str, str, str, float, bool], _Runner] = {}


def _runner(model: str, parameters: str, thermal: str = "lumped", period_second: float = 20.0,
            ageing: bool = False) -> _Runner:
    key = (model, parameters, thermal, float(period_second), ageing)
    if key not in _RUNNERS:
        _RUNNERS[key] = _Runner(model, parameters, thermal, period_second, ageing)
    return _RUNNERS[key]


def evaluate_protocol(
    protocol: Protocol,
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    tmax_celsius: float = 45.0,
    period_second: float = 20.0,
    thermal: str = "lumped",
    min_plating_margin_volt: float = 0.0,
) -> ProtocolEvaluation:
    """Simulate a charge protocol and measure time to target SOC and the constraint margins.

    Parameters
    ----------
    protocol
        A :class:`ChargeProtocol` or :class:`CCCVProtocol`; its ``vmax_volt`` is the voltage limit.
    model, parameters
        PyBaMM model (``"SPMe"`` default; ``"DFN"`` is more faithful and slower) and parameter set.
    tmax_celsius
        Temperature limit, °C.
    period_second
        Output interval, s: the resolution of the time to target and of the extremes.
    thermal
        PyBaMM thermal option (``"lumped"``).
    min_plating_margin_volt
        Lowest plating margin (:data:`PLATING_VARIABLE`) allowed, V: 0 (default) is the
        thermodynamic onset of plating; a positive value (e.g. 0.01) keeps a safety margin for
        model error and cell-to-cell spread.

    Returns
    -------
    ProtocolEvaluation

    Raises
    ------
    SimulationSetupError
        Unknown model or parameter set, ``vmax_volt`` above the set's upper cut-off, a
        non-finite ``min_plating_margin_volt``.
    SimulationError
        The PyBaMM solver failed; the message names the protocol.
    """
    run = _runner(model, parameters, thermal, _check_positive("period_second", period_second))
    tmax = float(tmax_celsius)
    if not math.isfinite(tmax):
        raise SimulationSetupError(f"tmax_celsius must be a finite temperature in °C, got {tmax_celsius!r}",
                                   value=tmax_celsius)
    eta_limit = _check_finite("min_plating_margin_volt", min_plating_margin_volt)
    if protocol.vmax_volt > run.upper_cutoff_volt + 1e-9:
        raise SimulationSetupError(
            f"vmax_volt={protocol.vmax_volt:g} V is above the upper voltage cut-off of {parameters!r} "
            f"({run.upper_cutoff_volt:g} V), where PyBaMM stops the model; use vmax_volt <= "
            f"{run.upper_cutoff_volt:g}", value=protocol.vmax_volt)
    pybamm = run._pybamm
    soc0 = protocol.initial_soc_percent / 100.0
    t0 = time.perf_counter()
    try:
        sol = run.solve(protocol.steps(), soc0)
    except pybamm.SolverError as exc:
        raise SimulationError(
            f"PyBaMM could not solve protocol {protocol.describe()!r} ({model}, {parameters}): {exc}; lower the "
            "C-rates or use a finer period_second", value=protocol.to_dict()) from exc
    elapsed = time.perf_counter() - t0
    if sol is None or not hasattr(sol, "t"):
        raise SimulationError(f"PyBaMM returned no solution for protocol {protocol.describe()!r}",
                              value=protocol.to_dict())
    t_min = np.asarray(sol["Time [min]"].entries, dtype=float)
    q = -np.asarray(sol["Discharge capacity [A.h]"].entries, dtype=float)
    q = q - q[0]
    soc = 100.0 * (soc0 + q / run.nominal_capacity_ah)
    v = np.asarray(sol[_VOLTAGE].entries, dtype=float)
    temp = np.asarray(sol[_TEMPERATURE].entries, dtype=float)
    eta = np.asarray(sol[PLATING_VARIABLE].entries, dtype=float)
    target = protocol.target_soc_percent
    # A window that ends on time ends at the target up to solver tolerance: count it as reached, so the
    # next step's first sample (same time, new current) is not part of the charge to the target.
    level = target - _SOC_TOL
    hit = np.nonzero(soc >= level)[0]
    t80 = math.inf
    if hit.size:
        i = int(hit[0])
        frac = 1.0 if i == 0 or soc[i] == soc[i - 1] else float((level - soc[i - 1]) / (soc[i] - soc[i - 1]))
        j = max(i - 1, 0)
        t80 = float(t_min[j] + frac * (t_min[i] - t_min[j]))
        at = [float(a[j] + frac * (a[i] - a[j])) for a in (v, temp, eta)]
        vmax_seen = max(float(v[: i].max()) if i else at[0], at[0])
        tmax_seen = max(float(temp[: i].max()) if i else at[1], at[1])
        eta_min = min(float(eta[: i].min()) if i else at[2], at[2])
        charge = (target / 100.0 - soc0) * run.nominal_capacity_ah
    else:
        vmax_seen, tmax_seen, eta_min = float(v.max()), float(temp.max()), float(eta.min())
        charge = float(q.max())
    violations: list[str] = []
    if not math.isfinite(t80):
        violations.append(f"SOC reached only {float(soc.max()):.1f} % of the {target:g} % target")
    if vmax_seen > protocol.vmax_volt + _VOLTAGE_TOL:
        violations.append(f"voltage {vmax_seen:.4f} V > {protocol.vmax_volt:g} V")
    if tmax_seen > tmax:
        violations.append(f"temperature {tmax_seen:.2f} °C > {tmax:g} °C")
    if eta_min < eta_limit:
        violations.append(f"plating: negative electrode potential {eta_min * 1000:.1f} mV vs Li < "
                          f"{eta_limit * 1000:g} mV")
    return ProtocolEvaluation(
        protocol=protocol, time_to_target_min=t80, reached_soc_percent=float(soc.max()), charge_ah=charge,
        max_voltage_volt=vmax_seen, max_temperature_celsius=tmax_seen, min_plating_margin_volt=eta_min,
        vmax_volt=protocol.vmax_volt, tmax_celsius=tmax, violations=tuple(violations),
        nominal_capacity_ah=run.nominal_capacity_ah, solve_time_second=elapsed, model=model, parameters=parameters,
        plating_margin_limit_volt=eta_limit,
    )


def protocol_trace(protocol: Protocol, *, model: str = "SPMe", parameters: str = "Chen2020",
                   period_second: float = 20.0, thermal: str = "lumped") -> pd.DataFrame:
    """Time series of one charge: the same simulation :func:`evaluate_protocol` judges.

    Returns
    -------
    pandas.DataFrame
        ``time_min``, ``soc_percent``, ``c_rate`` (1/h, charge positive), ``voltage_volt``,
        ``temperature_celsius`` and ``plating_margin_volt`` (:data:`PLATING_VARIABLE`), one row per
        output step up to the end of the protocol.
    """
    run = _runner(model, parameters, thermal, _check_positive("period_second", period_second))
    soc0 = protocol.initial_soc_percent / 100.0
    try:
        sol = run.solve(protocol.steps(), soc0)
    except run._pybamm.SolverError as exc:
        raise SimulationError(f"PyBaMM could not solve protocol {protocol.describe()!r}: {exc}",
                              value=protocol.to_dict()) from exc
    q = -np.asarray(sol["Discharge capacity [A.h]"].entries, dtype=float)
    current = -np.asarray(sol["Current [A]"].entries, dtype=float)
    return pd.DataFrame({
        "time_min": np.asarray(sol["Time [min]"].entries, dtype=float),
        "soc_percent": 100.0 * (soc0 + (q - q[0]) / run.nominal_capacity_ah),
        "c_rate": current / run.nominal_capacity_ah,
        "voltage_volt": np.asarray(sol[_VOLTAGE].entries, dtype=float),
        "temperature_celsius": np.asarray(sol[_TEMPERATURE].entries, dtype=float),
        "plating_margin_volt": np.asarray(sol[PLATING_VARIABLE].entries, dtype=float),
    })


# --------------------------------------------------------------------------- CC-CV baseline
def cccv_baseline(
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    c_range: tuple[float, float] = (0.2, 6.0),
    initial_soc_percent: float = 0.0,
    target_soc_percent: float = 80.0,
    tolerance_c: float = 0.02,
    period_second: float = 20.0,
    min_plating_margin_volt: float = 0.0,
) -> tuple[ProtocolEvaluation, list[ProtocolEvaluation]]:
    """The fastest CC-CV charge that meets the constraints, by bisection on the C-rate.

    Feasibility (no plating, V and T within limits) is assumed to be lost
    once for all as the rate rises (it is for the plating margin and the
    temperature of a CC-CV charge); the bisection keeps the highest feasible
    rate found to ``tolerance_c``.

    Parameters
    ----------
    model, parameters, vmax_volt, tmax_celsius, period_second, min_plating_margin_volt
        As :func:`evaluate_protocol`.
    c_range
        Lowest and highest C-rate searched, 1/h.
    initial_soc_percent, target_soc_percent
        Start SOC and the SOC the time is measured to, %.
    tolerance_c
        Bisection stops when the bracket is narrower than this, 1/h.

    Returns
    -------
    best, trials
        The best feasible evaluation and every evaluation made, in order.

    Raises
    ------
    SimulationSetupError
        Bad ``c_range`` or ``tolerance_c``; or even ``c_range[0]`` violates a constraint (the
        message says which, and to lower ``c_range[0]`` or relax the limit).
    """
    lo, hi = (float(c) for c in c_range)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise SimulationSetupError(f"c_range must be (low, high) C-rates with 0 < low < high, got {c_range!r}",
                                   value=c_range)
    tol = _check_positive("tolerance_c", tolerance_c)
    trials: list[ProtocolEvaluation] = []

    def ev(c: float) -> ProtocolEvaluation:
        e = evaluate_protocol(CCCVProtocol(c, vmax_volt, initial_soc_percent, target_soc_percent), model=model,
                              parameters=parameters, tmax_celsius=tmax_celsius, period_second=period_second,
                              min_plating_margin_volt=min_plating_margin_volt)
        trials.append(e)
        return e

    found = _search_window(ev, lo, hi, tol, [])  # ev keeps the trials; one bisection rule for every search
    if found is None:
        slowest = trials[-1]
        raise SimulationSetupError(
            f"even the slowest CC-CV charge searched ({lo:g}C) violates the constraints: "
            f"{'; '.join(slowest.violations)}; lower c_range[0] or relax vmax/tmax", value=c_range)
    return found[1], trials


def window_search(
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    windows: Sequence[float] = (0, 20, 40, 60, 80),
    c_bounds: tuple[float, float] = (0.2, 4.0),
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    tolerance_c: float = 0.02,
    period_second: float = 20.0,
    min_plating_margin_volt: float = 0.0,
) -> tuple[ProtocolEvaluation | None, list[ProtocolEvaluation]]:
    """The fastest multi-step CC protocol built window by window: bisection on each window's C-rate in turn.

    A charge is causal: what happens in window ``k`` depends only on the
    rates of windows ``0..k``. So the windows are fixed one after the other.
    For window ``k`` the protocol truncated at its end (windows ``0..k``,
    earlier rates already fixed) is simulated, and the highest rate in
    ``c_bounds`` is kept for which that charge

    * stays feasible up to the window's end (no plating, V and T within the
      limits), and
    * passes the whole window at constant current (the window does not stop
      at ``vmax``, which would hand over to the slow finishing CC-CV).

    When a higher rate met ``vmax`` but stayed feasible, a second bisection
    above that rate (up to the lowest infeasible rate tried) keeps a higher
    rate whenever it reaches the window's end sooner: near the target a short
    CV tail at ``vmax`` can be faster than a lower constant current.

    Feasibility is assumed to be lost once as the rate rises (as in
    :func:`cccv_baseline`). The search is greedy: a window at its limit
    leaves later windows the temperature it reached, so the result is a
    feasible, near-boundary protocol, not a proven optimum;
    :func:`design_fast_charge` starts its BO from it. About
    ``log2((hi - lo) / tolerance_c) + 2`` simulations per window (more with the second bisection).

    Parameters
    ----------
    model, parameters, vmax_volt, tmax_celsius, period_second, min_plating_margin_volt
        As :func:`evaluate_protocol`.
    windows
        SOC window boundaries, % (the first is the start, the last the target).
    c_bounds
        Lowest and highest C-rate searched per window, 1/h.
    tolerance_c
        Each bisection stops when its bracket is narrower than this, 1/h.

    Returns
    -------
    best, trials
        The full protocol's evaluation (``None`` when even ``c_bounds[0]``
        breaks a limit in some window) and every (truncated) evaluation made, in order.

    Raises
    ------
    SimulationSetupError
        Bad windows, ``c_bounds`` or ``tolerance_c``.
    """
    lo, hi = _check_c_bounds(c_bounds)
    tol = _check_positive("tolerance_c", tolerance_c)
    w = ChargeProtocol(tuple(windows), (1.0,) * (len(tuple(windows)) - 1), vmax_volt).soc_windows_percent
    trials: list[ProtocolEvaluation] = []

    rates: list[float] = []
    accepted: ProtocolEvaluation | None = None
    for _ in range(len(w) - 1):
        found = _search_window(
            lambda c, fixed=tuple(rates): evaluate_protocol(
                ChargeProtocol(w[: len(fixed) + 2], (*fixed, c), vmax_volt), model=model, parameters=parameters,
                tmax_celsius=tmax_celsius, period_second=period_second,
                min_plating_margin_volt=min_plating_margin_volt),
            lo, hi, tol, trials)
        if found is None:
            return None, trials
        rate, accepted = found
        rates.append(rate)
    return accepted, trials  # the last window's accepted evaluation is the whole protocol's


def _on_current(e: ProtocolEvaluation) -> bool:
    """Feasible, and its last window passed at constant current (not stopped by vmax into the slower CC-CV).

    A CC-CV protocol has no window: there it is just "feasible" (so :func:`cccv_baseline`'s bisection
    is :func:`_search_window`'s first one)."""
    nominal = e.protocol.nominal_time_minutes() if isinstance(e.protocol, ChargeProtocol) else math.inf
    return e.feasible and e.time_to_target_min <= nominal * (1 + 1e-3) + 0.05


def _search_window(simulate: Callable[[float], ProtocolEvaluation], lo: float, hi: float, tol: float,
                   trials: list[ProtocolEvaluation]) -> tuple[float, ProtocolEvaluation] | None:
    """One window of :func:`window_search`: its rate and the evaluation up to its end (``None``: even ``lo`` fails).

    ``simulate(c)`` evaluates the protocol truncated at this window's end with rate ``c`` here;
    every evaluation is appended to ``trials``.
    """
    tried: dict[float, ProtocolEvaluation] = {}

    def run(c: float) -> ProtocolEvaluation:
        e = tried[c] = simulate(c)
        trials.append(e)
        return e

    def bisect(a: float, best: ProtocolEvaluation, b: float,
               ok: Callable[[ProtocolEvaluation, ProtocolEvaluation], bool]) -> tuple[float, ProtocolEvaluation]:
        while b - a > tol:
            mid = 0.5 * (a + b)
            e = run(mid)
            if ok(e, best):
                a, best = mid, e
            else:
                b = mid
        return a, best

    top = run(hi)
    if _on_current(top):
        return hi, top
    bottom = run(lo)
    if not _on_current(bottom):
        return None
    a, best = bisect(lo, bottom, hi, lambda e, _best: _on_current(e))
    # Above the constant-current limit the window meets vmax and ends in the CV hold. Near the target a short
    # CV tail can beat the slower constant current: search up to the first infeasible rate for a faster end.
    if any(c > a and e.feasible for c, e in tried.items()):
        b = min((c for c, e in tried.items() if c > a and not e.feasible), default=hi)
        bisect(a, best, b, lambda e, best: e.feasible and e.time_to_target_min < best.time_to_target_min)
        # any feasible rate tried in this window, in either bisection, may be the fastest
        a, best = min(((c, e) for c, e in tried.items() if e.feasible), key=lambda ce: ce[1].time_to_target_min)
    return a, best


# --------------------------------------------------------------------------- BO design
def _window_names(windows: Sequence[float]) -> list[str]:
    return [f"c_rate_{_fmt(a)}_{_fmt(b)}_pct" for a, b in itertools.pairwise(windows)]


@dataclass
class FastChargeDesign:
    """Result of :func:`design_fast_charge`.

    Attributes
    ----------
    best
        Evaluation of the best feasible protocol (``None`` if none was feasible).
    baseline
        The CC-CV baseline it is compared with (``None`` if not computed).
    campaign
        The voltlab :class:`~voltlab.optimize.Campaign` (closed-file path in ``campaign.path``).
    evaluations
        Every protocol evaluated, in order.
    sources
        Where each of ``evaluations`` came from: ``"cc-cv rate"`` (the constant protocol at the
        baseline's rate), ``"window search"`` or ``"campaign (<suggestion source>)"``, e.g.
        ``"campaign (sobol)"``.
    message
        Why no protocol beat the baseline (empty when one did).
    start
        The :func:`window_search` protocol told before the BO (``None`` with ``start="none"`` or when the
        search found no feasible protocol).
    start_trials
        Simulations the window search made (truncated protocols included), not counted in ``budget``.
    """

    best: ProtocolEvaluation | None
    baseline: ProtocolEvaluation | None
    campaign: Campaign
    evaluations: list[ProtocolEvaluation] = field(default_factory=list)
    message: str = ""
    start: ProtocolEvaluation | None = None
    sources: list[str] = field(default_factory=list)
    start_trials: int = 0

    @property
    def bo_improvement_min(self) -> float:
        """Time the BO proposals saved over the window-search start, min (0 when none beat it; NaN without one)."""
        if self.start is None or self.best is None:
            return math.nan
        return max(0.0, self.start.time_to_target_min - self.best.time_to_target_min)

    @property
    def speedup_percent(self) -> float:
        """``100 * (1 - t_best / t_baseline)``, % (NaN without both)."""
        if self.best is None or self.baseline is None:
            return math.nan
        return 100.0 * (1.0 - self.best.time_to_target_min / self.baseline.time_to_target_min)


def design_fast_charge(
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    windows: Sequence[float] = (0, 20, 40, 60, 80),
    c_bounds: tuple[float, float] = (0.2, 4.0),
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    budget: int = 30,
    n_init: int | None = None,
    seed: int = 0,
    baseline: ProtocolEvaluation | None = None,
    campaign_path: str | Path | None = None,
    period_second: float = 20.0,
    surrogate: str = "gp",
    start: str = "window-search",
    min_plating_margin_volt: float = 0.0,
) -> FastChargeDesign:
    """Bayesian optimisation of a multi-step CC protocol: minimise time to target SOC under the constraints.

    One objective, ``time_to_target_min`` (minimised), and outcome constraints
    ``min_plating_margin_volt >= min_plating_margin_volt`` (0 V by default) and
    ``max_temperature_celsius <= tmax``,
    through voltlab's ask/tell :class:`~voltlab.optimize.Campaign`. The voltage
    limit and reaching the target are guaranteed by the protocol family (every
    step stops at ``vmax``, the finishing CC-CV reaches the target); an
    evaluation that breaks either anyway is told as failed. When a
    ``baseline`` CC-CV is given, the constant-rate protocol at its C-rate is
    told first (an external observation), so the campaign starts from a
    feasible point. With ``start="window-search"`` (default) the protocol of
    :func:`window_search` (same windows, bounds and limits) is told too: a
    feasible protocol near the constraint boundary that the BO refines. Its
    simulations are not part of ``budget``.

    Parameters
    ----------
    model, parameters, vmax_volt, tmax_celsius, period_second, min_plating_margin_volt
        As :func:`evaluate_protocol`.
    windows
        SOC window boundaries, % (the first is the start, the last the target).
    c_bounds
        Bounds of each window's C-rate, 1/h.
    budget
        Protocols the campaign proposes (Sobol then BO), >= 1.
    n_init
        Sobol points before the GP (default ``max(4, 2 * windows)``, capped at ``budget``).
    seed
        Seed of the campaign (Sobol scrambling, acquisition optimisation).
    baseline
        CC-CV evaluation to start from and compare with.
    campaign_path
        Campaign SQLite file (default: a temporary file).
    surrogate
        ``"gp"`` (BoTorch), ``"rf"`` or ``"random"``.
    start
        ``"window-search"`` (tell :func:`window_search`'s protocol before the BO) or ``"none"``.

    Returns
    -------
    FastChargeDesign

    Raises
    ------
    SimulationSetupError
        Bad windows, bounds, budget or ``start``.
    """
    from voltlab.optimize import Campaign, Objective, OutcomeConstraint, Real, SearchSpace

    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SimulationSetupError(f"budget must be an integer >= 1 (protocols to simulate), got {budget!r}",
                                   value=budget)
    if start not in ("window-search", "none"):
        raise SimulationSetupError(f"start must be 'window-search' or 'none', got {start!r}", value=start)
    lo, hi = _check_c_bounds(c_bounds)
    template = ChargeProtocol(tuple(windows), (1.0,) * (len(tuple(windows)) - 1), vmax_volt)
    w = template.soc_windows_percent
    names = _window_names(w)
    space = SearchSpace([Real(n, lo, hi) for n in names])
    eta_limit = _check_finite("min_plating_margin_volt", min_plating_margin_volt)
    cons = [OutcomeConstraint("min_plating_margin_volt", ">=", eta_limit),
            OutcomeConstraint("max_temperature_celsius", "<=", float(tmax_celsius))]
    if campaign_path is None:
        campaign_path = Path(tempfile.mkdtemp(prefix="voltlab-fastcharge-")) / "fastcharge.campaign"
    k = len(names)
    n0 = min(budget, n_init if n_init is not None else max(4, 2 * k))
    camp = Campaign.create(campaign_path, space, [Objective("time_to_target_min", "minimize")], cons,
                           seed=seed, n_init=n0, surrogate=surrogate, num_restarts=4, raw_samples=128,
                           mc_samples=64, overwrite=True)
    evaluations: list[ProtocolEvaluation] = []
    sources: list[str] = []

    def run(rates: Sequence[float], source: str) -> tuple[ProtocolEvaluation | None, dict[str, float] | None, str]:
        p = ChargeProtocol(w, tuple(rates), vmax_volt)
        try:
            e = evaluate_protocol(p, model=model, parameters=parameters, tmax_celsius=tmax_celsius,
                                  period_second=period_second, min_plating_margin_volt=eta_limit)
        except SimulationError as exc:
            return None, None, str(exc)
        evaluations.append(e)
        sources.append(source)
        other = [v for v in e.violations if v.startswith(("voltage", "SOC"))]
        if other:  # the finishing CC-CV stops at vmax and reaches the target; only a solver problem lands here
            return e, None, "; ".join(other)
        vals = {"time_to_target_min": e.time_to_target_min, "min_plating_margin_volt": e.min_plating_margin_volt,
                "max_temperature_celsius": e.max_temperature_celsius}
        return e, vals, ""

    if baseline is not None and isinstance(baseline.protocol, CCCVProtocol):
        c0 = min(max(baseline.protocol.c_rate, lo), hi)
        _, vals, _ = run([c0] * k, "cc-cv rate")
        if vals is not None:
            camp.tell(dict.fromkeys(names, c0), vals)
    found: ProtocolEvaluation | None = None
    start_trials = 0
    if start == "window-search":
        found, tried = window_search(model=model, parameters=parameters, windows=w, c_bounds=(lo, hi),
                                     vmax_volt=vmax_volt, tmax_celsius=tmax_celsius, period_second=period_second,
                                     min_plating_margin_volt=eta_limit)
        start_trials = len(tried)
        if found is not None:
            evaluations.append(found)
            sources.append("window search")
            rates = found.protocol.c_rates if isinstance(found.protocol, ChargeProtocol) else ()
            camp.tell(dict(zip(names, rates, strict=True)),
                      {"time_to_target_min": found.time_to_target_min,
                       "min_plating_margin_volt": found.min_plating_margin_volt,
                       "max_temperature_celsius": found.max_temperature_celsius})
    for _ in range(budget):
        [s] = camp.ask(1)
        _e, vals, reason = run([s.point[n] for n in names], f"campaign ({s.source})")
        if vals is None:
            camp.tell(s.id, failed=True, reason=reason)
        else:
            camp.tell(s.id, vals)
    feas = [e for e in evaluations if e.feasible]
    best = min(feas, key=lambda e: e.time_to_target_min) if feas else None
    message = ""
    if best is None:
        message = (f"no protocol of the {len(evaluations)} simulated met the constraints; widen c_bounds downwards, "
                   "raise the budget or relax tmax")
    elif baseline is not None and best.time_to_target_min >= baseline.time_to_target_min:
        message = (f"the best feasible multi-step protocol ({best.time_to_target_min:.1f} min) is not faster than "
                   f"the CC-CV baseline ({baseline.time_to_target_min:.1f} min) within budget={budget}; raise the "
                   "budget (the CV phase of CC-CV is not in the multi-step family)")
    return FastChargeDesign(best=best, baseline=baseline, campaign=camp, evaluations=evaluations, message=message,
                            start=found, start_trials=start_trials, sources=sources)


# --------------------------------------------------------------------------- comparison
_COLUMNS = ("time_to_target_min", "max_voltage_volt", "max_temperature_celsius", "min_plating_margin_volt")


def comparison_table(rows: Mapping[str, ProtocolEvaluation | None],
                     fades: Mapping[str, FadeEvaluation | None] | None = None) -> str:
    """Markdown table of evaluations (method, protocol, time, max V, max T, min plating margin, feasible).

    With ``fades`` (method -> :func:`protocol_fade` result or ``None``), two more columns: capacity
    fade after the fade run's cycles (%) and the capacity lost to lithium plating (mAh).
    """
    head = "| method | protocol | time to target (min) | max V (V) | max T (°C) | min plating margin (mV) | feasible |"
    rule = "|---|---|---|---|---|---|---|"
    if fades is not None:
        n = next((f.cycles for f in fades.values() if f is not None), 0)
        head += f" fade after {n} cycles (%) | plating loss (mAh) |"
        rule += "---|---|"
    lines = [head, rule]
    for name, e in rows.items():
        if e is None:
            lines.append(f"| {name} | - | - | - | - | - | - |" + (" - | - |" if fades is not None else ""))
            continue
        line = (f"| {name} | {e.protocol.describe()} | {e.time_to_target_min:.1f} | {e.max_voltage_volt:.3f} | "
                f"{e.max_temperature_celsius:.1f} | {1000 * e.min_plating_margin_volt:.1f} | "
                f"{'yes' if e.feasible else 'no: ' + '; '.join(e.violations)} |")
        if fades is not None:
            f = fades.get(name)
            line += (f" {f.capacity_fade_percent:.4f} | {1000 * f.plating_loss_ah:.3f} |" if f is not None
                     else " - | - |")
        lines.append(line)
    return "\n".join(lines)


def compare_fast_charge(
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    windows: Sequence[float] = (0, 20, 40, 60, 80),
    max_c_rate: float = 4.0,
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    budget: int = 30,
    seed: int = 0,
    rl: bool = True,
    rl_timesteps: int = 3000,
    rl_windows: Sequence[float] | None = None,
    period_second: float = 20.0,
    start: str = "window-search",
    fade_cycles: int = 0,
    min_plating_margin_volt: float = 0.0,
) -> dict[str, Any]:
    """CC-CV baseline vs window search vs BO multi-step protocol vs RL policy, on one simulator and constraints.

    Parameters
    ----------
    model, parameters, vmax_volt, tmax_celsius, period_second, min_plating_margin_volt
        As :func:`evaluate_protocol` (every method is held to the same limits).
    windows
        SOC windows of the BO protocol, %.
    max_c_rate
        Highest C-rate any method may use, 1/h.
    budget, seed
        BO budget (protocols) and seed (also of the RL training).
    rl
        Also train and evaluate the RL policy (:func:`voltlab.simulate.rl.train_rl_protocol`).
    rl_timesteps
        PPO environment steps.
    rl_windows
        SOC windows of the RL episode (default: 10 % windows over the same range).
    start
        Start of the BO (:func:`design_fast_charge`): ``"window-search"`` or ``"none"``.
    fade_cycles
        When >= 2, every method's protocol is also cycled ``fade_cycles`` times with SEI and plating
        ageing (:func:`protocol_fade`, its defaults: SPMe / OKane2022, isothermal 25 °C, 1C discharge)
        and the table gains the capacity fade and the plating loss. 0 (default) skips it.

    Returns
    -------
    dict
        ``"table"`` (markdown), ``"rows"`` (method -> :class:`ProtocolEvaluation` or ``None``),
        ``"flat"`` (flat JSON-ready numbers, units in the keys), ``"design"`` (:class:`FastChargeDesign`),
        ``"baseline_trials"``, ``"rl"`` (the RL result or ``None``), ``"fades"`` (method ->
        :class:`FadeEvaluation` or ``None``; empty without ``fade_cycles``).

    Raises
    ------
    SimulationSetupError
        ``fade_cycles`` not 0 or an integer >= 2, and as :func:`cccv_baseline` / :func:`design_fast_charge`.
    """
    if isinstance(fade_cycles, bool) or not isinstance(fade_cycles, int) or fade_cycles == 1 or fade_cycles < 0:
        raise SimulationSetupError(f"fade_cycles must be 0 (no fade run) or an integer >= 2, got {fade_cycles!r}",
                                   value=fade_cycles)
    t0 = time.perf_counter()
    base, trials = cccv_baseline(model=model, parameters=parameters, vmax_volt=vmax_volt, tmax_celsius=tmax_celsius,
                                 c_range=(0.2, float(max_c_rate)), initial_soc_percent=float(windows[0]),
                                 target_soc_percent=float(windows[-1]), period_second=period_second,
                                 min_plating_margin_volt=min_plating_margin_volt)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    design = design_fast_charge(model=model, parameters=parameters, windows=windows, c_bounds=(0.2, max_c_rate),
                                vmax_volt=vmax_volt, tmax_celsius=tmax_celsius, budget=budget, seed=seed,
                                baseline=base, period_second=period_second, start=start,
                                min_plating_margin_volt=min_plating_margin_volt)
    t_bo = time.perf_counter() - t0
    rows: dict[str, ProtocolEvaluation | None] = {"CC-CV baseline": base}
    if start != "none":
        rows["Window search (BO start)"] = design.start
    rows["BO multi-step"] = design.best
    rl_result = None
    rl_error = ""
    t_rl = math.nan
    if rl:
        from voltlab.simulate.rl import train_rl_protocol

        t0 = time.perf_counter()
        lo, hi = float(windows[0]), float(windows[-1])
        rw = tuple(rl_windows) if rl_windows is not None else tuple(np.linspace(lo, hi, round((hi - lo) / 10) + 1))
        try:
            rl_result = train_rl_protocol(model=model, parameters=parameters, windows=rw,
                                          c_bounds=(0.2, max_c_rate), vmax_volt=vmax_volt, tmax_celsius=tmax_celsius,
                                          min_plating_margin_volt=min_plating_margin_volt,
                                          timesteps=rl_timesteps, seed=seed, period_second=period_second)
        except SimulationError as exc:  # keep the CC-CV and BO results; say why RL has none
            rl_error = str(exc)
        t_rl = time.perf_counter() - t0
        rows["RL (PPO)"] = rl_result.evaluation if rl_result is not None else None
    flat: dict[str, Any] = {"model": model, "parameters": parameters, "vmax_volt": vmax_volt,
                            "tmax_celsius": tmax_celsius, "max_c_rate": max_c_rate, "bo_budget": budget,
                            "seed": seed, "target_soc_percent": float(windows[-1]),
                            "plating_variable": PLATING_VARIABLE, "bo_start": start,
                            "plating_margin_limit_volt": float(min_plating_margin_volt)}
    for key, e in (("cccv", base), ("window_search", design.start), ("bo", design.best),
                   ("rl", rl_result.evaluation if rl_result else None)):
        if e is None:
            continue
        for col in _COLUMNS:
            flat[f"{key}_{col}"] = float(getattr(e, col))
        flat[f"{key}_feasible"] = e.feasible
        flat[f"{key}_protocol"] = e.protocol.describe()
    flat["cccv_best_c_rate"] = base.protocol.c_rate if isinstance(base.protocol, CCCVProtocol) else math.nan
    flat["bo_speedup_vs_cccv_percent"] = design.speedup_percent
    flat["bo_goal_met"] = bool(design.best is not None and design.best.feasible and design.speedup_percent >= 20.0)
    if design.start is not None:
        flat["window_search_speedup_vs_cccv_percent"] = 100.0 * (1 - design.start.time_to_target_min
                                                                 / base.time_to_target_min)
        flat["bo_improvement_over_start_min"] = design.bo_improvement_min
    flat["window_search_simulations"] = design.start_trials
    if rl_result is not None:
        flat["rl_speedup_vs_cccv_percent"] = 100.0 * (1 - rl_result.evaluation.time_to_target_min
                                                      / base.time_to_target_min)
        flat["rl_train_second"] = t_rl
    if rl_error:
        flat["rl_error"] = rl_error
    fades: dict[str, FadeEvaluation | None] = {}
    if fade_cycles:
        t0 = time.perf_counter()
        done: dict[Protocol, FadeEvaluation | None] = {}
        keys = {"CC-CV baseline": "cccv", "Window search (BO start)": "window_search", "BO multi-step": "bo",
                "RL (PPO)": "rl"}
        for name, e in rows.items():
            if e is None:
                fades[name] = None
                continue
            if e.protocol not in done:
                try:
                    done[e.protocol] = protocol_fade(e.protocol, cycles=fade_cycles)
                except SimulationError as exc:  # keep the other rows; say why this one has no fade
                    done[e.protocol] = None
                    flat[f"{keys[name]}_fade_error"] = str(exc)
            f = fades[name] = done[e.protocol]
            if f is not None:
                flat[f"{keys[name]}_capacity_fade_percent"] = f.capacity_fade_percent
                flat[f"{keys[name]}_plating_loss_mah"] = 1000.0 * f.plating_loss_ah
                flat[f"{keys[name]}_lli_percent"] = f.lli_percent
        flat["fade_cycles"] = fade_cycles
        flat["fade_second"] = time.perf_counter() - t0
    flat["cccv_search_second"] = t_base
    flat["bo_search_second"] = t_bo
    flat["bo_evaluations"] = len(design.evaluations) - (design.start is not None)  # the start is counted apart
    flat["cccv_evaluations"] = len(trials)
    return {"table": comparison_table(rows, fades if fade_cycles else None), "rows": rows, "flat": flat,
            "design": design, "baseline_trials": trials, "rl": rl_result, "fades": fades}


def write_fast_charge_report(comparison: Mapping[str, Any], path: str | Path) -> Path:
    """Write a :func:`compare_fast_charge` result as Markdown (``.md``) or flat JSON (``.json``).

    Parameters
    ----------
    comparison
        The dict returned by :func:`compare_fast_charge`.
    path
        Output file; the suffix picks the format.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SimulationSetupError
        The suffix is neither ``.md`` nor ``.json``.
    """
    import json

    out = Path(path)
    flat = dict(comparison["flat"])
    if out.suffix.lower() == ".json":
        text = json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                           for k, v in flat.items()}, indent=2, sort_keys=True) + "\n"
    elif out.suffix.lower() == ".md":
        design = comparison["design"]
        goal = "met" if flat.get("bo_goal_met") else "not met"
        lines = [
            "# Fast charge: CC-CV vs window search + Bayesian-optimised multi-step CC vs RL", "",
            f"Model {flat['model']} / {flat['parameters']} (lumped thermal), 0 to {flat['target_soc_percent']:g} % "
            f"SOC (charge throughput / nominal capacity). Limits: V <= {flat['vmax_volt']:g} V, T <= "
            f"{flat['tmax_celsius']:g} °C, plating margin (`{PLATING_VARIABLE}`) >= "
            f"{1000 * flat.get('plating_margin_limit_volt', 0.0):g} mV; C-rates <= "
            f"{flat['max_c_rate']:g}C. BO budget {flat['bo_budget']} protocols, seed {flat['seed']}.", "",
            comparison["table"], "",
            f"BO speed-up vs the best feasible CC-CV: {flat['bo_speedup_vs_cccv_percent']:.1f} % "
            f"(goal >= 20 %: {goal}).",
        ]
        if "window_search_speedup_vs_cccv_percent" in flat:
            lines.append(
                f"The BO started from the window search's protocol ({flat['window_search_speedup_vs_cccv_percent']:.1f}"
                f" % faster than CC-CV, {flat['window_search_simulations']} simulations, truncated protocols included) and "
                f"saved {flat['bo_improvement_over_start_min']:.2f} min more.")
        if "rl_speedup_vs_cccv_percent" in flat:
            lines.append(f"RL (PPO, {flat.get('rl_train_second', math.nan):.0f} s of training) speed-up vs CC-CV: "
                         f"{flat['rl_speedup_vs_cccv_percent']:.1f} %.")
        if "fade_cycles" in flat:
            lines.append(f"Fade: each protocol cycled {flat['fade_cycles']} times (then `Discharge at 1C until 2.5 V`, "
                         f"`Rest for 10 minutes`) in SPMe / OKane2022 with SEI `{FADE_SEI}` and lithium plating "
                         f"`{FADE_PLATING}`, isothermal 25 °C; fade = 1 - Q_N / Q_1 of the discharges "
                         f"({flat['fade_second']:.0f} s).")
        if design.message:
            lines += ["", f"Note: {design.message}."]
        lines += ["", f"CC-CV search: {flat['cccv_evaluations']} simulations in {flat['cccv_search_second']:.0f} s; "
                  f"window search + BO: {flat['window_search_simulations']} + {flat['bo_evaluations']} simulations "
                  f"in {flat['bo_search_second']:.0f} s.", ""]
        text = "\n".join(lines)
    else:
        raise SimulationSetupError(f"report path {str(out)!r} must end in .md or .json", value=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out


# --------------------------------------------------------------------------- fade after N cycles
FADE_SEI = "solvent-diffusion limited"
"""PyBaMM ``"SEI"`` option of :func:`protocol_fade` (O'Kane et al. 2022 use it with OKane2022)."""

FADE_PLATING = "partially reversible"
"""PyBaMM ``"lithium plating"`` option of :func:`protocol_fade` (stripping included; ``"irreversible"``
plates at every rate with OKane2022, ~7 % fade in 5 cycles even at C/2)."""

_PLATING_LOSS = "Loss of capacity to negative lithium plating [A.h]"
_LLI = "Loss of lithium inventory [%]"


@dataclass(frozen=True, slots=True)
class FadeEvaluation:
    """A charge protocol cycled ``cycles`` times with SEI and lithium-plating ageing.

    Attributes
    ----------
    protocol
        The protocol cycled (its steps, then the discharge and the rest).
    cycles
        Cycles simulated.
    capacity_fade_percent
        ``100 * (1 - Q_N / Q_1)`` with ``Q_k`` the charge passed by the discharge step of cycle ``k``, %.
    lli_percent
        PyBaMM's ``"Loss of lithium inventory [%]"`` at the end of the last cycle, % (from the start).
    plating_loss_ah
        ``"Loss of capacity to negative lithium plating [A.h]"`` at the end of the last cycle, Ah.
    sei_loss_ah
        ``"Loss of capacity to negative SEI [A.h]"`` at the end of the last cycle, Ah.
    time_to_target_min
        Time from the start of cycle 1 to the target SOC, min (``inf`` if never reached).
    discharge_capacity_ah
        Discharge capacity of each cycle, Ah.
    min_plating_margin_volt
        Minimum of :data:`PLATING_VARIABLE` over the charge of cycle 1 up to the target, V.
    model, parameters, thermal, discharge
        The simulation's PyBaMM model, parameter set, thermal option and discharge step.
    solve_time_second
        Wall time of the solve, s.
    """

    protocol: Protocol
    cycles: int
    capacity_fade_percent: float
    lli_percent: float
    plating_loss_ah: float
    sei_loss_ah: float
    time_to_target_min: float
    discharge_capacity_ah: tuple[float, ...]
    min_plating_margin_volt: float
    model: str
    parameters: str
    thermal: str
    discharge: str
    solve_time_second: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready form (units in the keys)."""
        return {
            "protocol": self.protocol.describe(), "cycles": self.cycles,
            "capacity_fade_percent": self.capacity_fade_percent, "lli_percent": self.lli_percent,
            "plating_loss_ah": self.plating_loss_ah, "sei_loss_ah": self.sei_loss_ah,
            "time_to_target_min": self.time_to_target_min, "min_plating_margin_volt": self.min_plating_margin_volt,
            "model": self.model, "parameters": self.parameters, "thermal": self.thermal,
            "discharge": self.discharge,
        }


def protocol_fade(
    protocol: Protocol,
    *,
    cycles: int = 10,
    model: str = "SPMe",
    parameters: str = "OKane2022",
    discharge: str = "Discharge at 1C until 2.5 V",
    rest: str = "Rest for 10 minutes",
    thermal: str = "isothermal",
    period_second: float = 30.0,
) -> FadeEvaluation:
    """Cycle a charge protocol ``cycles`` times with SEI and lithium-plating ageing; fade and time to target.

    One cycle is the protocol's steps, then ``discharge`` and ``rest``. The model has the
    :data:`FADE_SEI` SEI and :data:`FADE_PLATING` lithium-plating submodels (PyBaMM ``"SEI"`` and
    ``"lithium plating"`` options); it is built once per step structure and cycle count and reused
    (unified experiment mode, as :func:`evaluate_protocol`).

    Parameters
    ----------
    protocol
        A :class:`ChargeProtocol` or :class:`CCCVProtocol`; cycle 1 starts at its initial SOC.
    cycles
        Number of cycles, >= 2 (fade is cycle ``cycles`` against cycle 1).
    model
        ``"SPMe"`` (default; the electrolyte potential enters the plating overpotential) or ``"SPM"``.
    parameters
        PyBaMM parameter set with SEI and plating parameters (``"OKane2022"``, LG M50, 5 Ah).
    discharge, rest
        PyBaMM step strings after the charge.
    thermal
        PyBaMM thermal option: ``"isothermal"`` (default; ageing at the ambient 25 °C, so fade reflects
        the protocol, not self-heating, which lowers plating in the lumped model) or ``"lumped"``.
    period_second
        Output interval, s.

    Returns
    -------
    FadeEvaluation

    Raises
    ------
    SimulationSetupError
        Bad ``cycles``, model, parameter set, step string or ``vmax_volt`` above the set's cut-off.
    SimulationError
        The solver failed or stopped before the last cycle; the message names the protocol.
    """
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 2:
        raise SimulationSetupError(f"cycles must be an integer >= 2 (fade is cycle N vs cycle 1), got {cycles!r}",
                                   value=cycles)
    if thermal not in ("isothermal", "lumped"):
        raise SimulationSetupError(f"thermal must be 'isothermal' or 'lumped', got {thermal!r}", value=thermal)
    run = _runner(model, parameters, thermal, _check_positive("period_second", period_second), ageing=True)
    pybamm = run._pybamm
    for name, step in (("discharge", discharge), ("rest", rest)):
        try:
            pybamm.step.string(step)
        except (ValueError, TypeError, KeyError) as exc:
            raise SimulationSetupError(f"{name}={step!r} is not a PyBaMM step string ({exc}); e.g. "
                                       "'Discharge at 1C until 2.5 V'", value=step) from exc
    if protocol.vmax_volt > run.upper_cutoff_volt + 1e-9:
        raise SimulationSetupError(
            f"vmax_volt={protocol.vmax_volt:g} V is above the upper voltage cut-off of {parameters!r} "
            f"({run.upper_cutoff_volt:g} V)", value=protocol.vmax_volt)
    charge_steps = protocol.steps()
    steps = [*charge_steps, discharge, rest]
    soc0 = protocol.initial_soc_percent / 100.0
    where = f"protocol {protocol.describe()!r} ({model}, {parameters}, {cycles} cycles)"
    t0 = time.perf_counter()
    try:
        sol = run.solve(steps, soc0, cycles=cycles)
    except pybamm.SolverError as exc:
        raise SimulationError(f"PyBaMM could not cycle {where}: {exc}", value=protocol.to_dict()) from exc
    elapsed = time.perf_counter() - t0
    cyc = list(getattr(sol, "cycles", None) or [])
    if len(cyc) < cycles:
        raise SimulationError(f"PyBaMM stopped {where} after {len(cyc)} of {cycles} cycles (solver failure); lower "
                              "the C-rates", value=protocol.to_dict())
    q_dis = []
    for k, c in enumerate(cyc, 1):
        st = c.steps[len(charge_steps)]
        if isinstance(st, pybamm.EmptySolution):
            raise SimulationError(f"the discharge of cycle {k} of {where} was skipped", value=protocol.to_dict())
        q = np.asarray(st["Discharge capacity [A.h]"].entries, dtype=float)
        q_dis.append(float(q[-1] - q[0]))
    first = cyc[0]
    t_min = np.asarray(first["Time [min]"].entries, dtype=float)
    qc = -np.asarray(first["Discharge capacity [A.h]"].entries, dtype=float)
    qc = qc - qc[0]
    eta = np.asarray(first[PLATING_VARIABLE].entries, dtype=float)
    soc = 100.0 * (soc0 + qc / run.nominal_capacity_ah)
    level = protocol.target_soc_percent - _SOC_TOL
    hit = np.nonzero(soc >= level)[0]
    t80, eta_min = math.inf, float(eta.min())
    if hit.size:
        i = int(hit[0])
        frac = 1.0 if i == 0 or soc[i] == soc[i - 1] else float((level - soc[i - 1]) / (soc[i] - soc[i - 1]))
        j = max(i - 1, 0)
        t80 = float(t_min[j] + frac * (t_min[i] - t_min[j]))
        eta_min = min(float(eta[: i + 1].min()), float(eta[j] + frac * (eta[i] - eta[j])))
    sv = sol.summary_variables

    def last(name: str) -> float:
        try:
            return float(np.asarray(sv[name], dtype=float).reshape(-1)[cycles - 1])
        except (KeyError, IndexError, TypeError):
            return math.nan

    return FadeEvaluation(
        protocol=protocol, cycles=cycles, capacity_fade_percent=100.0 * (1.0 - q_dis[-1] / q_dis[0]),
        lli_percent=last(_LLI), plating_loss_ah=last(_PLATING_LOSS),
        sei_loss_ah=last("Loss of capacity to negative SEI [A.h]"), time_to_target_min=t80,
        discharge_capacity_ah=tuple(q_dis), min_plating_margin_volt=eta_min, model=model, parameters=parameters,
        thermal=thermal, discharge=discharge, solve_time_second=elapsed)


@dataclass
class FadeParetoDesign:
    """Result of :func:`design_fast_charge_pareto`.

    Attributes
    ----------
    front
        Pareto-optimal feasible protocols (time to target, fade), sorted by time.
    baseline
        The CC-CV baseline cycled the same way (``None`` if it failed).
    hypervolume
        Hypervolume of the feasible observations after each complete evaluation (utility units,
        min x %; maximisation form, see :meth:`~voltlab.optimize.Campaign.hypervolume_trace`).
    ref_point
        Reference point of the trace, objective units ``(time min, fade %)``.
    campaign
        The two-objective voltlab :class:`~voltlab.optimize.Campaign`.
    evaluations
        Every protocol cycled, in order, with its feasibility evaluation (``None`` if that failed).
    failures
        ``(protocol, reason)`` of every evaluation told as failed.
    """

    front: list[FadeEvaluation]
    baseline: FadeEvaluation | None
    hypervolume: list[float]
    ref_point: tuple[float, ...]
    campaign: Campaign
    evaluations: list[tuple[FadeEvaluation, ProtocolEvaluation | None]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def dominating_baseline(self) -> list[FadeEvaluation]:
        """Front members at least as fast and as gentle as the baseline, strictly better in one."""
        b = self.baseline
        if b is None:
            return []
        return [e for e in self.front if e.time_to_target_min <= b.time_to_target_min
                and e.capacity_fade_percent <= b.capacity_fade_percent
                and (e.time_to_target_min < b.time_to_target_min or e.capacity_fade_percent < b.capacity_fade_percent)]


def design_fast_charge_pareto(
    *,
    budget: int = 16,
    seed: int = 0,
    cycles: int = 5,
    ref_point: Sequence[float] | None = None,
    windows: Sequence[float] = (0, 40, 80),
    c_bounds: tuple[float, float] = (0.3, 2.5),
    model: str = "SPMe",
    parameters: str = "OKane2022",
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    min_plating_margin_volt: float | None = 0.0,
    baseline_c_rate: float = 1.0,
    discharge: str = "Discharge at 1C until 2.5 V",
    n_init: int | None = None,
    surrogate: str = "gp",
    campaign_path: str | Path | None = None,
    period_second: float = 30.0,
) -> FadeParetoDesign:
    """Two-objective BO of a multi-step CC protocol: minimise time to target and fade after ``cycles`` cycles.

    Objectives ``time_to_target_min`` and ``capacity_fade_percent`` (both minimised, from one
    :func:`protocol_fade` simulation; qLogNEHVI with ``surrogate="gp"``). Outcome constraints as in
    :func:`design_fast_charge`, from :func:`evaluate_protocol` (lumped thermal, same model and set):
    ``max_temperature_celsius <= tmax_celsius`` and, unless ``min_plating_margin_volt`` is ``None``,
    ``min_plating_margin_volt >= min_plating_margin_volt``. A protocol whose ageing run or feasibility
    run fails, or that breaks the voltage limit or misses the target, is told as failed. The
    constant-rate protocol at ``baseline_c_rate`` is told first.

    Parameters
    ----------
    budget
        Protocols the campaign proposes, >= 1.
    seed
        Campaign seed.
    cycles
        Ageing cycles per protocol, >= 2.
    ref_point
        Reference point ``(time min, fade %)``; ``None``: the campaign's rule (nadir minus 10 % of range).
    windows
        SOC window boundaries, %.
    c_bounds
        Bounds of each window's C-rate, 1/h.
    model, parameters, discharge, period_second
        As :func:`protocol_fade`.
    vmax_volt, tmax_celsius
        Voltage limit (V) and temperature limit (°C).
    min_plating_margin_volt
        Lowest allowed plating margin of the lumped charge, V; ``None`` drops the constraint.
    baseline_c_rate
        C-rate of the CC-CV baseline, 1/h.
    n_init, surrogate, campaign_path
        As :func:`design_fast_charge` (``n_init`` default ``max(4, 2 * windows)``).

    Returns
    -------
    FadeParetoDesign

    Raises
    ------
    SimulationSetupError
        Bad budget, bounds, cycles or ref_point.
    """
    from voltlab.optimize import Campaign, Objective, OutcomeConstraint, Real, SearchSpace

    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SimulationSetupError(f"budget must be an integer >= 1 (protocols to simulate), got {budget!r}",
                                   value=budget)
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 2:
        raise SimulationSetupError(f"cycles must be an integer >= 2, got {cycles!r}", value=cycles)
    lo, hi = _check_c_bounds(c_bounds)
    if ref_point is not None and (len(tuple(ref_point)) != 2
                                  or not all(math.isfinite(float(r)) for r in ref_point)):
        raise SimulationSetupError(f"ref_point must be (time min, fade %), two finite numbers, got {ref_point!r}",
                                   value=ref_point)
    template = ChargeProtocol(tuple(windows), (1.0,) * (len(tuple(windows)) - 1), vmax_volt)
    w = template.soc_windows_percent
    names = _window_names(w)
    k = len(names)
    space = SearchSpace([Real(n, lo, hi) for n in names])
    cons = [OutcomeConstraint("max_temperature_celsius", "<=", float(tmax_celsius))]
    if min_plating_margin_volt is not None:
        cons.append(OutcomeConstraint("min_plating_margin_volt", ">=", float(min_plating_margin_volt)))
    if campaign_path is None:
        campaign_path = Path(tempfile.mkdtemp(prefix="voltlab-fastcharge-fade-")) / "fade.campaign"
    n0 = min(budget, n_init if n_init is not None else max(4, 2 * k))
    camp = Campaign.create(campaign_path, space, [Objective("time_to_target_min", "minimize"),
                                                 Objective("capacity_fade_percent", "minimize")], cons,
                           seed=seed, n_init=n0, surrogate=surrogate, ref_point=ref_point, num_restarts=2,
                           raw_samples=64, mc_samples=64, overwrite=True)
    evaluations: list[tuple[FadeEvaluation, ProtocolEvaluation | None]] = []
    failures: list[tuple[str, str]] = []
    by_key: dict[tuple[float, ...], FadeEvaluation] = {}

    def run(rates: Sequence[float]) -> tuple[dict[str, float] | None, str]:
        p = ChargeProtocol(w, tuple(float(r) for r in rates), vmax_volt)
        try:
            fe = protocol_fade(p, cycles=cycles, model=model, parameters=parameters, discharge=discharge,
                               period_second=period_second)
        except SimulationError as exc:
            failures.append((p.describe(), str(exc)))
            return None, str(exc)
        try:
            pe: ProtocolEvaluation | None = evaluate_protocol(p, model=model, parameters=parameters,
                                                              tmax_celsius=tmax_celsius,
                                                              period_second=period_second)
        except SimulationError as exc:
            pe = None
            reason = f"feasibility run of {p.describe()!r} failed: {exc}"
        evaluations.append((fe, pe))
        if pe is None:
            failures.append((p.describe(), reason))
            return None, reason
        other = [v for v in pe.violations if v.startswith(("voltage", "SOC"))]
        if other or not math.isfinite(fe.time_to_target_min):
            reason = "; ".join(other) or f"{p.describe()!r} did not reach the target in the ageing run"
            failures.append((p.describe(), reason))
            return None, reason
        by_key[tuple(round(r, 9) for r in p.c_rates)] = fe
        out = {"time_to_target_min": fe.time_to_target_min, "capacity_fade_percent": fe.capacity_fade_percent,
               "max_temperature_celsius": pe.max_temperature_celsius}
        if min_plating_margin_volt is not None:
            out["min_plating_margin_volt"] = pe.min_plating_margin_volt
        return out, ""

    c0 = min(max(float(baseline_c_rate), lo), hi)
    vals, _ = run([c0] * k)
    if vals is not None:
        camp.tell(dict.fromkeys(names, c0), vals)
    for _ in range(budget):
        [s] = camp.ask(1)
        vals, reason = run([s.point[n] for n in names])
        if vals is None:
            camp.tell(s.id, failed=True, reason=reason)
        else:
            camp.tell(s.id, vals)
    front = []
    for s in camp.pareto_front():
        key = tuple(round(float(s.point[n]), 9) for n in names)
        if key in by_key:
            front.append(by_key[key])
    front.sort(key=lambda e: (e.time_to_target_min, e.capacity_fade_percent))
    trace, ref_u = camp.hypervolume_trace()
    ref = tuple(-float(r) for r in ref_u)  # both objectives minimised: utility = -value
    try:
        base: FadeEvaluation | None = protocol_fade(
            CCCVProtocol(float(baseline_c_rate), vmax_volt, w[0], w[-1]), cycles=cycles, model=model,
            parameters=parameters, discharge=discharge, period_second=period_second)
    except SimulationError as exc:
        base = None
        failures.append((f"CC-CV {baseline_c_rate:g}C baseline", str(exc)))
    return FadeParetoDesign(front=front, baseline=base, hypervolume=[float(x) for x in trace], ref_point=ref,
                            campaign=camp, evaluations=evaluations, failures=failures)
