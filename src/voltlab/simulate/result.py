"""Results of a PyBaMM simulation, converted to voltlab's cycling schema.

Conversion rules (those of :mod:`voltlab.data.schema`):

* ``current_ampere`` is PyBaMM's ``Current [A]`` negated (PyBaMM: positive
  = discharge; voltlab: positive = charge);
* ``cycle_count`` is PyBaMM's experiment cycle number, ``step_index`` the
  step's position (from 1) in the cycle;
* ``charging_capacity_ah``/``discharging_capacity_ah`` are the increases and
  decreases of PyBaMM's ``Discharge capacity [A.h]`` state, cumulative within
  each cycle; energies integrate V*I (trapezoid) at full solver resolution;
* ``temperature_celsius`` is the volume-averaged cell temperature,
  ``ambient_temperature_celsius`` PyBaMM's ambient temperature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata
from voltlab.errors import SimulationError
from voltlab.simulate.base import SimulationSpec

__all__ = ["DEGRADATION_VARIABLES", "SimulationFailure", "SimulationResult"]

DEGRADATION_VARIABLES: dict[str, str] = {
    "capacity_ah": "Capacity [A.h]",
    "lli_percent": "Loss of lithium inventory [%]",
    "lam_ne_percent": "Loss of active material in negative electrode [%]",
    "lam_pe_percent": "Loss of active material in positive electrode [%]",
    "sei_capacity_loss_ah": "Loss of capacity to negative SEI [A.h]",
    "plating_capacity_loss_ah": "Loss of capacity to negative lithium plating [A.h]",
    "side_reaction_capacity_loss_ah": "Total capacity lost to side reactions [A.h]",
}
"""Columns of :meth:`SimulationResult.degradation` -> PyBaMM summary variable (per cycle, end of cycle)."""

_VARIABLES = {
    "t": "Time [s]",
    "v": "Voltage [V]",
    "i": "Current [A]",
    "q": "Discharge capacity [A.h]",
    "temp": "Volume-averaged cell temperature [C]",
    "amb": "Ambient temperature [C]",
}


@dataclass(frozen=True, slots=True)
class SimulationFailure:
    """Where and why a simulated experiment stopped early.

    Attributes
    ----------
    cycle
        Experiment cycle (from 1) in which it stopped.
    step_number
        Position of the step in the cycle (from 1).
    step
        The PyBaMM step string.
    reason
        What PyBaMM reported.
    total_cycles
        Cycles the experiment asked for.
    """

    cycle: int
    step_number: int
    step: str
    reason: str
    total_cycles: int

    def describe(self, completed_cycles: int) -> str:
        """One-line message naming the cycle, the step and the fix."""
        return (
            f"simulation stopped in cycle {self.cycle} of {self.total_cycles}, step {self.step_number} "
            f"{self.step!r}: {self.reason}; {completed_cycles} complete cycle(s) before it. Fix the step or "
            f"the parameters, run fewer cycles, or pass on_failure='return' to keep the completed cycles"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def _cumulative_within_cycle(inc: np.ndarray, new_cycle: np.ndarray) -> np.ndarray:
    inc = inc.copy()
    inc[new_cycle] = 0.0
    total = np.cumsum(inc)
    starts = np.flatnonzero(new_cycle)
    offset = np.repeat(total[starts], np.diff(np.append(starts, inc.shape[0])))
    return total - offset


def _entries(sol: Any, name: str) -> np.ndarray | None:
    try:
        return np.asarray(sol[name].entries, dtype=np.float64).reshape(-1)
    except KeyError:
        return None


def _concat(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if not parts or any(p is None for p in parts) else np.concatenate(parts)  # type: ignore[arg-type]


def _timeseries(solution: Any, cycle_numbers: list[int]) -> pd.DataFrame:
    """Canonical columns from a PyBaMM experiment solution (every solver output point kept)."""
    import pybamm

    pieces: list[tuple[int, int, Any]] = []
    for num, cyc in zip(cycle_numbers, solution.cycles, strict=True):
        for j, st in enumerate(cyc.steps, 1):
            if st is not None and not isinstance(st, pybamm.EmptySolution):
                pieces.append((num, j, st))
    lengths = np.array([len(st.t) for _, _, st in pieces], dtype=np.int64)
    n = int(lengths.sum())
    # Time is the solution's own time axis (no variable to process).
    arrays: dict[str, np.ndarray | None] = {"t": np.asarray(solution.t, dtype=np.float64).reshape(-1)}
    if arrays["t"] is not None and arrays["t"].shape[0] == n:
        arrays.update({k: _entries(solution, name) for k, name in _VARIABLES.items() if k != "t"})
    else:
        # The whole solution does not line up with its steps: evaluate step by step.
        arrays = {k: _concat([_entries(st, name) for _, _, st in pieces]) for k, name in _VARIABLES.items()}
    t, v = arrays["t"], arrays["v"]
    if t is None or v is None or arrays["i"] is None or arrays["q"] is None:
        raise SimulationError("the PyBaMM solution lacks 'Voltage [V]', 'Current [A]' or 'Discharge capacity [A.h]'")
    # "0.0 -" (not unary minus) keeps rests at +0.0 rather than -0.0.
    i = 0.0 - arrays["i"]
    cycle = np.repeat(np.array([p[0] for p in pieces], dtype=np.int64), lengths)
    step = np.repeat(np.array([p[1] for p in pieces], dtype=np.int64), lengths)
    new_cycle = np.ones(n, dtype=bool)
    new_cycle[1:] = cycle[1:] != cycle[:-1]
    dq = np.diff(arrays["q"], prepend=arrays["q"][0])
    dt = np.diff(t, prepend=t[0])
    p_chg = np.clip(i, 0.0, None) * v
    p_dis = np.clip(-i, 0.0, None) * v
    e_chg = 0.5 * (p_chg + np.roll(p_chg, 1)) * dt / 3600.0
    e_dis = 0.5 * (p_dis + np.roll(p_dis, 1)) * dt / 3600.0
    out = {
        "test_time_second": t - t[0],
        "voltage_volt": v,
        "current_ampere": i,
        "cycle_count": cycle,
        "step_index": step,
        "charging_capacity_ah": _cumulative_within_cycle(np.clip(-dq, 0.0, None), new_cycle),
        "discharging_capacity_ah": _cumulative_within_cycle(np.clip(dq, 0.0, None), new_cycle),
        "charging_energy_wh": _cumulative_within_cycle(e_chg, new_cycle),
        "discharging_energy_wh": _cumulative_within_cycle(e_dis, new_cycle),
    }
    if arrays["temp"] is not None and arrays["temp"].shape[0] == n:
        out["temperature_celsius"] = arrays["temp"]
    if arrays["amb"] is not None and arrays["amb"].shape[0] == n:
        out["ambient_temperature_celsius"] = arrays["amb"]
    return pd.DataFrame(out)


class SimulationResult:
    """One solved experiment: the PyBaMM solution and its voltlab views.

    Attributes
    ----------
    spec
        What was simulated.
    inputs
        Input-parameter values of this solve (PyBaMM units).
    failure
        Where and why the experiment stopped early, or ``None``.
    skipped_steps
        ``(cycle, step_number, step)`` of steps PyBaMM skipped as infeasible
        at their initial conditions (only non-empty with
        ``skipped_steps="allow"`` or when the run failed).
    nominal_capacity_ah
        Nominal capacity of the parameter set, Ah.
    solve_time_second
        Wall time of the PyBaMM solve, s.

    Notes
    -----
    Pickling (e.g. back from a sweep worker) keeps the converted time
    series and degradation table but drops the PyBaMM solution:
    :attr:`solution` is then ``None``.
    """

    def __init__(
        self,
        *,
        spec: SimulationSpec,
        inputs: dict[str, float],
        solution: Any,
        cycle_numbers: list[int],
        failure: SimulationFailure | None = None,
        skipped_steps: list[tuple[int, int, str]] | None = None,
        nominal_capacity_ah: float = 0.0,
        solve_time_second: float = float("nan"),
    ) -> None:
        self.spec = spec
        self.inputs = dict(inputs)
        self._solution = solution
        self.cycle_numbers = list(cycle_numbers)
        self.failure = failure
        self.skipped_steps = list(skipped_steps or [])
        self.nominal_capacity_ah = nominal_capacity_ah
        self.solve_time_second = solve_time_second
        self._timeseries: pd.DataFrame | None = None
        self._degradation: pd.DataFrame | None = None
        self._complete = self._complete_cycles()

    @property
    def solution(self) -> Any:
        """The :class:`pybamm.Solution` (``None`` after pickling or if nothing was solved)."""
        return self._solution

    @property
    def ok(self) -> bool:
        """True when every requested cycle completed."""
        return self.failure is None and self.completed_cycles == self.spec.cycles

    def _complete_cycles(self) -> list[int]:
        if self._solution is None:
            return []
        import pybamm

        done = []
        for num, cyc in zip(self.cycle_numbers, getattr(self._solution, "cycles", None) or [], strict=True):
            if self.failure is not None and num >= self.failure.cycle:
                continue
            if len(cyc.steps) == len(self.spec.steps) and not any(
                isinstance(s, pybamm.EmptySolution) for s in cyc.steps
            ):
                done.append(num)
        return done

    @property
    def completed_cycles(self) -> int:
        """Number of cycles that ran all their steps before any failure."""
        return len(self._complete)

    @property
    def timeseries(self) -> pd.DataFrame:
        """Canonical time series of every simulated point (partial last cycle included).

        Raises
        ------
        SimulationError
            Nothing was solved (the first step failed).
        """
        if self._timeseries is None:
            if self._solution is None or not getattr(self._solution, "cycles", None):
                where = "" if self.failure is None else ": " + self.failure.describe(0)
                raise SimulationError(f"the simulation produced no data{where}")
            self._timeseries = _timeseries(self._solution, self.cycle_numbers)
        return self._timeseries

    def to_cycling_data(
        self,
        cell_id: str = "simulated",
        *,
        complete_cycles_only: bool = False,
        chemistry: str | None = None,
        validate: bool = True,
    ) -> CyclingData:
        """The simulated cell as a validated :class:`~voltlab.data.cycling.CyclingData`.

        Parameters
        ----------
        cell_id
            Store-safe id (letters, digits, ``.``, ``_``, ``-``).
        complete_cycles_only
            Drop the partial cycle in which a failed run stopped.
        chemistry
            Free text; default ``"PyBaMM <parameter set>"``.
        validate
            Run :func:`voltlab.data.validation.finalize_timeseries` checks.

        Returns
        -------
        CyclingData
            Canonical schema; ``metadata.extra`` holds the spec, the inputs,
            the PyBaMM version and any failure.

        Raises
        ------
        SimulationError
            Nothing was solved.
        DataFormatError
            Invalid ``cell_id``.
        """
        import pybamm

        from voltlab.data.validation import finalize_timeseries

        ts = self.timeseries
        if complete_cycles_only:
            ts = ts[ts["cycle_count"].isin(self._complete)]
        s = self.spec
        meta = CellMetadata(
            cell_id=cell_id,
            chemistry=chemistry if chemistry is not None else f"PyBaMM {s.parameters}",
            nominal_capacity_ah=max(self.nominal_capacity_ah, 0.0),
            protocol=" | ".join(s.steps) + f" (x{s.cycles})",
            source=f"simulated: pybamm.lithium_ion.{s.model} {s.options_dict or ''}".rstrip(),
            source_format="pybamm",
            extra={
                "simulation": s.to_dict(),
                "inputs": dict(self.inputs),
                "pybamm_version": pybamm.__version__,
                "solver": "IDAKLUSolver",
                "completed_cycles": self.completed_cycles,
                "failure": None if self.failure is None else self.failure.to_dict(),
            },
        )
        table = finalize_timeseries(ts, path=cell_id, nominal_capacity_ah=meta.nominal_capacity_ah,
                                    validate=validate)
        return CyclingData(table, meta)

    def degradation(self) -> pd.DataFrame:
        """Per-cycle capacity fade and degradation modes from PyBaMM's summary variables.

        Returns
        -------
        pandas.DataFrame
            One row per simulated cycle: ``cycle_count``, ``complete`` (bool),
            ``discharge_capacity_ah`` and ``charge_capacity_ah`` (Ah, measured
            in the cycle), ``capacity_fade_percent`` (100 * (1 - Q / Q of the
            first complete cycle); NaN for a partial cycle), and :data:`DEGRADATION_VARIABLES`: eSOH
            ``capacity_ah``, ``lli_percent`` (loss of lithium inventory),
            ``lam_ne_percent``/``lam_pe_percent`` (loss of active material,
            negative/positive electrode), capacity lost to SEI, plating and all
            side reactions (Ah). A variable the model does not have is NaN.

        Raises
        ------
        SimulationError
            Nothing was solved.
        """
        if self._degradation is not None:
            return self._degradation
        ts = self.timeseries
        per = ts.groupby("cycle_count", sort=True)
        q_dis = per["discharging_capacity_ah"].max().reindex(self.cycle_numbers).to_numpy()
        q_chg = per["charging_capacity_ah"].max().reindex(self.cycle_numbers).to_numpy()
        complete = np.isin(self.cycle_numbers, self._complete)
        # Fade is relative to the first complete cycle that discharged, and undefined for a partial cycle.
        ref = q_dis[complete & (q_dis > 0)]
        with np.errstate(divide="ignore", invalid="ignore"):
            fade = 100.0 * (1.0 - q_dis / ref[0]) if ref.size else np.full(q_dis.shape, np.nan)
        out: dict[str, Any] = {
            "cycle_count": np.asarray(self.cycle_numbers, dtype=np.int64),
            "complete": complete,
            "discharge_capacity_ah": q_dis,
            "charge_capacity_ah": q_chg,
            "capacity_fade_percent": np.where(complete, fade, np.nan),
        }
        n = len(self.cycle_numbers)
        summary = getattr(self._solution, "summary_variables", None)
        for col, name in DEGRADATION_VARIABLES.items():
            try:
                vals = np.asarray(summary[name], dtype=np.float64).reshape(-1)[:n]  # type: ignore[index]
            except (KeyError, TypeError):
                vals = np.full(n, np.nan)
            out[col] = vals if vals.shape[0] == n else np.full(n, np.nan)
        self._degradation = pd.DataFrame(out)
        return self._degradation

    def __getstate__(self) -> dict[str, Any]:
        if self._solution is not None and getattr(self._solution, "cycles", None):
            self.timeseries  # noqa: B018 - convert before the solution is dropped
            self.degradation()
        state = {k: getattr(self, k) for k in (
            "spec", "inputs", "cycle_numbers", "failure", "skipped_steps", "nominal_capacity_ah",
            "solve_time_second", "_timeseries", "_degradation", "_complete")}
        state["_solution"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        status = "ok" if self.ok else ("failed: " + self.failure.describe(self.completed_cycles)
                                       if self.failure else "incomplete")
        return (f"SimulationResult(model={self.spec.model!r}, parameters={self.spec.parameters!r}, "
                f"cycles={self.completed_cycles}/{self.spec.cycles}, {status})")
