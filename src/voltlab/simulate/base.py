"""The picklable description of a simulation and the errors of :mod:`voltlab.simulate`.

A :class:`SimulationSpec` holds only plain values (names, strings, numbers),
so it pickles cheaply to worker processes, hashes (the key of each worker's
cache of built models) and round-trips through JSON. PyBaMM objects are made
from it at the boundary, in :mod:`voltlab.simulate.simulator`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from voltlab.errors import SimulationError

__all__ = [
    "AGEING_OPTIONS",
    "MODELS",
    "THERMAL_OPTIONS",
    "SimulationSetupError",
    "SimulationSpec",
    "close_matches",
]

MODELS: tuple[str, ...] = ("DFN", "MPM", "MSMR", "SPM", "SPMe")
"""Model names accepted (classes of :mod:`pybamm.lithium_ion`)."""

THERMAL_OPTIONS: tuple[str, ...] = ("isothermal", "lumped", "x-full")
"""PyBaMM ``"thermal"`` model options."""

AGEING_OPTIONS: dict[str, str] = {
    "sei": "SEI",
    "lithium_plating": "lithium plating",
    "loss_of_active_material": "loss of active material",
    "particle_mechanics": "particle mechanics",
    "sei_porosity_change": "SEI porosity change",
}
"""voltlab keyword -> PyBaMM model option for the ageing submodels."""

SkippedSteps = Literal["raise", "allow"]


class SimulationSetupError(SimulationError, ValueError):
    """A model, option, parameter, input or experiment step given to voltlab.simulate is not valid."""


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Text ``"; did you mean 'a', 'b'?"`` naming the closest candidates, or ``""``.

    Examples
    --------
    >>> close_matches("Chen2021", ["Chen2020", "Ai2020", "Marquis2019"])
    "; did you mean 'Chen2020'?"
    """
    pool = list(candidates)
    found = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if not found:
        # Parameter names are long: compare case-insensitively on the part before the unit too.
        lower = {c.lower(): c for c in pool}
        found = [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)]
    return f"; did you mean {', '.join(repr(f) for f in found)}?" if found else ""


def _pairs(mapping: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in (mapping or {}).items()))


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    """Everything that defines a built PyBaMM simulation, as plain values.

    Attributes
    ----------
    model
        PyBaMM lithium-ion model class name, one of :data:`MODELS`.
    parameters
        PyBaMM parameter set name (``"Chen2020"``, ``"OKane2022"``, ...).
    steps
        PyBaMM experiment step strings of one cycle.
    cycles
        Number of times the cycle is repeated.
    options
        PyBaMM model options as sorted ``(name, value)`` pairs.
    overrides
        Parameter values replacing those of the set, sorted ``(name, value)``
        pairs in PyBaMM units (names carry the unit, ``"[m2.s-1]"``).
    inputs
        Names of parameters made PyBaMM input parameters, so that solves with
        different values reuse the built model (sorted).
    initial_soc
        Initial state of charge (0-1); ``None`` keeps the set's initial
        concentrations.
    period_second
        Output interval of each step, s; ``None`` keeps the solver's own time
        points.
    skipped_steps
        ``"raise"``: a step infeasible at its initial conditions (PyBaMM
        skips it) is an error; ``"allow"``: it is skipped and recorded.
    """

    model: str = "SPM"
    parameters: str = "Chen2020"
    steps: tuple[str, ...] = ("Discharge at 1C until 3.0 V",)
    cycles: int = 1
    options: tuple[tuple[str, Any], ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    inputs: tuple[str, ...] = ()
    initial_soc: float | None = None
    period_second: float | None = 60.0
    skipped_steps: SkippedSteps = "raise"

    @classmethod
    def create(
        cls,
        *,
        model: str = "SPM",
        parameters: str = "Chen2020",
        experiment: str | Sequence[str] = ("Discharge at 1C until 3.0 V",),
        cycles: int = 1,
        options: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        inputs: Iterable[str] = (),
        initial_soc: float | None = None,
        period_second: float | None = 60.0,
        skipped_steps: SkippedSteps = "raise",
    ) -> SimulationSpec:
        """Normalise and check plain arguments (no PyBaMM needed); see the attributes.

        Raises
        ------
        SimulationSetupError
            Unknown model, empty experiment, bad cycle count, SOC or period.
        """
        if model not in MODELS:
            raise SimulationSetupError(
                f"unknown model {model!r}{close_matches(model, MODELS)}; accepted: {', '.join(MODELS)}",
                value=model,
            )
        steps = (experiment,) if isinstance(experiment, str) else tuple(experiment)
        if not steps or not all(isinstance(s, str) and s.strip() for s in steps):
            raise SimulationSetupError(
                f"experiment must be one or more PyBaMM step strings such as 'Discharge at 1C until "
                f"3.0 V', got {experiment!r}",
                value=experiment,
            )
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise SimulationSetupError(f"cycles must be an integer >= 1, got {cycles!r}", value=cycles)
        if initial_soc is not None and not (0.0 <= float(initial_soc) <= 1.0):
            raise SimulationSetupError(
                f"initial_soc must be between 0 and 1 (or None for the set's initial state), got {initial_soc!r}",
                value=initial_soc,
            )
        if period_second is not None and not (math.isfinite(period_second) and period_second > 0):
            raise SimulationSetupError(
                f"period_second must be a positive number of seconds or None, got {period_second!r}",
                value=period_second,
            )
        if skipped_steps not in ("raise", "allow"):
            raise SimulationSetupError(
                f"skipped_steps must be 'raise' or 'allow', got {skipped_steps!r}", value=skipped_steps
            )
        names = tuple(sorted(set(inputs)))
        return cls(
            model=model,
            parameters=parameters,
            steps=tuple(s.strip() for s in steps),
            cycles=cycles,
            options=_pairs(options),
            overrides=_pairs({k: float(v) if isinstance(v, int | float) else v for k, v in (overrides or {}).items()}),
            inputs=names,
            initial_soc=None if initial_soc is None else float(initial_soc),
            period_second=None if period_second is None else float(period_second),
            skipped_steps=skipped_steps,
        )

    @property
    def options_dict(self) -> dict[str, Any]:
        """PyBaMM model options as a dict."""
        return dict(self.options)

    @property
    def overrides_dict(self) -> dict[str, Any]:
        """Parameter overrides as a dict."""
        return dict(self.overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (lists instead of tuples, options and overrides as dicts)."""
        d = asdict(self)
        d["steps"] = list(self.steps)
        d["options"] = self.options_dict
        d["overrides"] = self.overrides_dict
        d["inputs"] = list(self.inputs)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationSpec:
        """Inverse of :meth:`to_dict`."""
        return cls.create(
            model=data.get("model", "SPM"),
            parameters=data.get("parameters", "Chen2020"),
            experiment=data.get("steps", ("Discharge at 1C until 3.0 V",)),
            cycles=int(data.get("cycles", 1)),
            options=data.get("options"),
            overrides=data.get("overrides"),
            inputs=data.get("inputs", ()),
            initial_soc=data.get("initial_soc"),
            period_second=data.get("period_second", 60.0),
            skipped_steps=data.get("skipped_steps", "raise"),
        )
