"""Build a PyBaMM simulation once from names and step strings, then solve it many times.

:class:`Simulator` turns a :class:`~voltlab.simulate.base.SimulationSpec`
(model name, parameter-set name, overrides, PyBaMM step strings) into a
:class:`pybamm.Simulation` with the IDAKLU solver. The model is built
(parameterised, meshed, discretised) at the first solve and kept, so later
solves with other values of the spec's input parameters reuse it. Nothing
here re-implements physics: voltlab only checks names, converts at the
boundary and turns PyBaMM's silent early stops into errors or records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from voltlab.errors import DependencyError, SimulationError
from voltlab.simulate.base import (
    AGEING_OPTIONS,
    THERMAL_OPTIONS,
    SimulationSetupError,
    SimulationSpec,
    SkippedSteps,
    close_matches,
)

if TYPE_CHECKING:
    from voltlab.simulate.result import SimulationResult

__all__ = ["OnFailure", "Simulator", "import_pybamm", "simulate"]

OnFailure = Literal["raise", "return"]

_SKIPPED = "Event exceeded in initial conditions"


def import_pybamm() -> Any:
    """Import PyBaMM with telemetry disabled; a clear error if it is missing.

    Raises
    ------
    DependencyError
        PyBaMM (or its IDAKLU solver wheel) is not installed.
    """
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError(
            "voltlab.simulate needs PyBaMM: pip install 'voltlab[sim]' (pybamm and pybammsolvers)"
        ) from exc
    return pybamm


class _Recorder:
    """PyBaMM callback that keeps where an experiment stopped and why (PyBaMM only logs it)."""

    def __init__(self) -> None:
        self.cycle = 1
        self.step_number = 1
        self.step = ""
        self.started: list[int] = []
        self.ended: list[int] = []
        self.failure: tuple[int, int, str, str] | None = None

    def _where(self, logs: dict[str, Any]) -> tuple[int, int, str]:
        cycle = int(logs.get("cycle number", (self.cycle,))[0])
        step_number = int(logs.get("step number", (self.step_number,))[0])
        return cycle, step_number, str(logs.get("step operating conditions", self.step))

    def on_experiment_start(self, logs: dict[str, Any]) -> None:
        pass

    def on_cycle_start(self, logs: dict[str, Any]) -> None:
        self.cycle = int(logs["cycle number"][0])
        self.started.append(self.cycle)

    def on_step_start(self, logs: dict[str, Any]) -> None:
        self.cycle, self.step_number, self.step = self._where(logs)

    def on_step_end(self, logs: dict[str, Any]) -> None:
        pass

    def on_cycle_end(self, logs: dict[str, Any]) -> None:
        self.ended.append(int(logs["cycle number"][0]))

    def on_experiment_end(self, logs: dict[str, Any]) -> None:
        pass

    def on_experiment_error(self, logs: dict[str, Any]) -> None:
        self.failure = (*self._where(logs), f"the PyBaMM solver failed: {logs.get('error')}")

    def on_experiment_infeasible_time(self, logs: dict[str, Any]) -> None:
        self.failure = (
            *self._where(logs),
            f"the step ran for its whole default duration ({logs.get('step duration')} s) without reaching "
            "its end condition",
        )

    def on_experiment_infeasible_event(self, logs: dict[str, Any]) -> None:
        self.failure = (
            *self._where(logs),
            f"the step stopped on a model event, not its own end condition ({logs.get('termination')})",
        )


class Simulator:
    """A PyBaMM lithium-ion simulation built once and solved for many inputs.

    Parameters
    ----------
    model
        ``"SPM"``, ``"SPMe"``, ``"DFN"``, ``"MPM"`` or ``"MSMR"``.
    parameters
        PyBaMM parameter-set name: ``"Chen2020"`` (LG M50, 5 Ah),
        ``"Prada2013"`` (LFP), ``"OKane2022"`` (LG M50 with ageing
        parameters), ``"Mohtat2020"``, ...
    experiment
        PyBaMM step strings of one cycle, e.g. ``["Charge at 1C until 4.2 V",
        "Hold at 4.2 V until C/50", "Discharge at 1C until 2.5 V"]``.
    cycles
        Number of repetitions of the cycle.
    thermal
        PyBaMM ``"thermal"`` option: ``"isothermal"`` (default), ``"lumped"``
        or ``"x-full"``.
    sei, lithium_plating, loss_of_active_material
        PyBaMM ageing options ``"SEI"`` (e.g. ``"solvent-diffusion
        limited"``, ``"ec reaction limited"``), ``"lithium plating"``
        (``"irreversible"``, ``"partially reversible"``) and ``"loss of
        active material"`` (``"stress-driven"``, ``"reaction-driven"``).
    options
        Further PyBaMM model options (they win over the keywords above).
    overrides
        Parameter values by PyBaMM name (with unit), e.g.
        ``{"Negative particle diffusivity [m2.s-1]": 1e-14}``.
    inputs
        Parameter names to make PyBaMM input parameters: solves with other
        values of them (``solve(inputs=...)``, :func:`~voltlab.simulate.sweep`)
        reuse the built model. Their default is the override or the set's value.
    initial_soc
        Initial state of charge, 0-1; ``None`` keeps the set's initial state.
    period_second
        Output interval of each step, s (``None``: the solver's own points).
    skipped_steps
        ``"raise"`` (default) or ``"allow"`` steps that are infeasible at their
        initial conditions (PyBaMM skips them with a warning).

    Raises
    ------
    SimulationSetupError
        Unknown model, option, parameter set, parameter name (with the
        closest names), input, or a step string PyBaMM cannot parse.
    DependencyError
        PyBaMM is not installed.

    Examples
    --------
    >>> sim = Simulator("SPM", "Chen2020", ["Discharge at 1C until 3.0 V"], initial_soc=1.0)
    >>> result = sim.solve()
    >>> round(float(result.to_cycling_data("spm").cycle_summary()["discharge_capacity_ah"][0]), 1)
    4.7
    """

    def __init__(
        self,
        model: str = "SPM",
        parameters: str = "Chen2020",
        experiment: str | Sequence[str] = ("Discharge at 1C until 3.0 V",),
        *,
        cycles: int = 1,
        thermal: str | None = None,
        sei: str | None = None,
        lithium_plating: str | None = None,
        loss_of_active_material: str | None = None,
        options: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        inputs: Iterable[str] = (),
        initial_soc: float | None = None,
        period_second: float | None = 60.0,
        skipped_steps: SkippedSteps = "raise",
    ) -> None:
        opts: dict[str, Any] = {}
        if thermal is not None:
            if thermal not in THERMAL_OPTIONS:
                raise SimulationSetupError(
                    f"thermal must be one of {', '.join(THERMAL_OPTIONS)}, got {thermal!r}"
                    f"{close_matches(str(thermal), THERMAL_OPTIONS)}",
                    value=thermal,
                )
            opts["thermal"] = thermal
        for keyword, value in (("sei", sei), ("lithium_plating", lithium_plating),
                               ("loss_of_active_material", loss_of_active_material)):
            if value is not None:
                opts[AGEING_OPTIONS[keyword]] = value
        opts.update(options or {})
        spec = SimulationSpec.create(
            model=model, parameters=parameters, experiment=experiment, cycles=cycles, options=opts,
            overrides=overrides, inputs=inputs, initial_soc=initial_soc, period_second=period_second,
            skipped_steps=skipped_steps,
        )
        self._setup(spec)

    @classmethod
    def from_spec(cls, spec: SimulationSpec) -> Simulator:
        """Simulator of an existing :class:`SimulationSpec` (e.g. one sent to a worker)."""
        obj = cls.__new__(cls)
        obj._setup(spec)
        return obj

    # ------------------------------------------------------------------ setup
    def _setup(self, spec: SimulationSpec) -> None:
        pybamm = import_pybamm()
        self.spec = spec
        self._sim: Any = None
        self.build_time_second: float | None = None
        self._model = self._make_model(pybamm, spec)
        self._parameter_values, self.input_defaults = self._make_parameters(pybamm, spec, self._model)
        self._experiment = self._make_experiment(pybamm, spec)
        nominal = self._parameter_values.get("Nominal cell capacity [A.h]", 0.0)
        self.nominal_capacity_ah = float(nominal) if isinstance(nominal, int | float) else 0.0

    @staticmethod
    def _make_model(pybamm: Any, spec: SimulationSpec) -> Any:
        cls = getattr(pybamm.lithium_ion, spec.model)
        try:
            return cls(spec.options_dict)
        except pybamm.OptionError as exc:
            raise SimulationSetupError(
                f"PyBaMM rejected the options of model {spec.model}: {exc}", value=spec.options_dict
            ) from exc

    @staticmethod
    def _make_parameters(pybamm: Any, spec: SimulationSpec, model: Any) -> tuple[Any, dict[str, float]]:
        sets = sorted(pybamm.parameter_sets.keys())
        if spec.parameters not in sets:
            raise SimulationSetupError(
                f"unknown PyBaMM parameter set {spec.parameters!r}{close_matches(spec.parameters, sets)}; "
                f"available: {', '.join(sets)}",
                value=spec.parameters,
            )
        pv = pybamm.ParameterValues(spec.parameters)
        known = set(pv.keys())
        needed = set(model.get_parameter_info())
        names = set(known | needed)
        overrides = spec.overrides_dict
        for name in [*overrides, *spec.inputs]:
            if name not in names:
                raise SimulationSetupError(
                    f"parameter {name!r} is neither in parameter set {spec.parameters!r} nor used by model "
                    f"{spec.model} with options {spec.options_dict}{close_matches(name, names)}",
                    value=name,
                )
        pv.update(overrides, check_already_exists=False)
        defaults: dict[str, float] = {}
        for name in spec.inputs:
            value = pv[name] if name in known or name in overrides else None
            if not isinstance(value, int | float):
                raise SimulationSetupError(
                    f"input parameter {name!r} has no numeric default in {spec.parameters!r} (it is "
                    f"{type(value).__name__}); give one in overrides={{{name!r}: value}}",
                    value=name,
                )
            defaults[name] = float(value)
        if spec.inputs:
            pv.update(dict.fromkeys(spec.inputs, "[input]"), check_already_exists=False)
        return pv, defaults

    @staticmethod
    def _make_experiment(pybamm: Any, spec: SimulationSpec) -> Any:
        for k, step in enumerate(spec.steps, 1):
            try:
                pybamm.step.string(step)
            except (ValueError, TypeError, KeyError) as exc:
                raise SimulationSetupError(
                    f"experiment step {k} {step!r} is not a PyBaMM step string ({exc}); write e.g. "
                    "'Discharge at 1C until 3.0 V', 'Charge at 0.5 A for 2 hours', 'Hold at 4.2 V until C/50', "
                    "'Rest for 10 minutes'",
                    value=step,
                ) from exc
        period = {} if spec.period_second is None else {"period": f"{spec.period_second:g} seconds"}
        return pybamm.Experiment([tuple(spec.steps)] * spec.cycles, **period)

    # ------------------------------------------------------------------ build
    @property
    def built(self) -> bool:
        """Whether the PyBaMM model has been built (parameterised and discretised)."""
        return self._sim is not None

    def build(self) -> Simulator:
        """Build the PyBaMM simulation now (otherwise done at the first solve); returns ``self``.

        Raises
        ------
        SimulationSetupError
            The parameter set lacks a parameter the chosen options need.
        """
        if self._sim is not None:
            return self
        pybamm = import_pybamm()
        t0 = time.perf_counter()
        sim = pybamm.Simulation(
            self._model.new_copy(),
            parameter_values=self._parameter_values.copy(),
            experiment=self._experiment,
            solver=pybamm.IDAKLUSolver(),
        )
        try:
            sim.build_for_experiment(initial_soc=self.spec.initial_soc, inputs=dict(self.input_defaults))
        except KeyError as exc:
            raise SimulationSetupError(
                f"parameter set {self.spec.parameters!r} lacks a parameter that model {self.spec.model} with "
                f"options {self.spec.options_dict} needs: {exc}; add it in overrides=... or pick a set that "
                "has it (OKane2022 has the ageing parameters)",
                value=str(exc),
            ) from exc
        self._sim = sim
        self.build_time_second = time.perf_counter() - t0
        return self

    @property
    def pybamm_simulation(self) -> Any:
        """The built :class:`pybamm.Simulation` (built on first access)."""
        return self.build()._sim

    # ------------------------------------------------------------------ solve
    def _merge_inputs(self, inputs: Mapping[str, float] | None) -> dict[str, float]:
        merged = dict(self.input_defaults)
        for name, value in (inputs or {}).items():
            if name not in merged:
                raise SimulationSetupError(
                    f"{name!r} is not an input parameter of this simulator (inputs: "
                    f"{list(self.spec.inputs) or 'none'}){close_matches(name, self.spec.inputs)}; create the "
                    f"simulator with inputs=[{name!r}] to sweep it without rebuilding",
                    value=name,
                )
            merged[name] = float(value)
        return merged

    def solve(self, inputs: Mapping[str, float] | None = None, *, on_failure: OnFailure = "raise") -> SimulationResult:
        """Run the experiment, reusing the built model.

        Parameters
        ----------
        inputs
            Values of the input parameters (PyBaMM units), by name; missing ones
            take their defaults.
        on_failure
            ``"raise"`` a :class:`~voltlab.errors.SimulationError`, or
            ``"return"`` the cycles that completed with ``result.failure`` set.

        Returns
        -------
        SimulationResult
            The solution and its conversion to voltlab's schema.

        Raises
        ------
        SimulationError
            The solver failed, a step stopped on a model event or ran out of
            time, or a step was infeasible at its initial conditions; the
            message names the cycle and the step string.
        SimulationSetupError
            Unknown input name.
        """
        from voltlab.simulate.result import SimulationFailure, SimulationResult

        if on_failure not in ("raise", "return"):
            raise SimulationSetupError(f"on_failure must be 'raise' or 'return', got {on_failure!r}", value=on_failure)
        pybamm = import_pybamm()
        merged = self._merge_inputs(inputs)
        sim = self.build()._sim
        rec = _Recorder()
        t0 = time.perf_counter()
        solution = None
        try:
            solution = sim.solve(initial_soc=self.spec.initial_soc, inputs=merged, callbacks=[rec])
        except pybamm.SolverError as exc:
            rec.failure = (rec.cycle, rec.step_number, rec.step or self.spec.steps[0],
                           f"the PyBaMM solver failed: {exc}")
        elapsed = time.perf_counter() - t0

        cycles = list(getattr(solution, "cycles", None) or []) if solution is not None else []
        numbers = list(rec.ended)
        if len(numbers) > len(cycles) and rec.failure is not None:
            numbers = [c for c in numbers if c != rec.failure[0]] if len(numbers) - len(cycles) == 1 else numbers
        if len(numbers) != len(cycles):
            numbers = list(range(1, len(cycles) + 1))
        skipped = [
            (num, j, self.spec.steps[j - 1])
            for num, cyc in zip(numbers, cycles, strict=True)
            for j, st in enumerate(cyc.steps, 1)
            if isinstance(st, pybamm.EmptySolution)
        ]
        # A cycle whose steps were all infeasible is dropped by PyBaMM without ending it.
        failed_cycle = None if rec.failure is None else rec.failure[0]
        skipped += [(c, 1, self.spec.steps[0]) for c in rec.started if c not in rec.ended and c != failed_cycle]
        skipped.sort()
        failure = None
        if rec.failure is not None:
            failure = SimulationFailure(cycle=rec.failure[0], step_number=rec.failure[1], step=rec.failure[2],
                                        reason=rec.failure[3], total_cycles=self.spec.cycles)
        elif skipped and self.spec.skipped_steps == "raise":
            c, j, step = skipped[0]
            failure = SimulationFailure(
                cycle=c, step_number=j, step=step, total_cycles=self.spec.cycles,
                reason="the step is infeasible at its initial conditions (its end condition already holds when "
                "it starts, so PyBaMM skips it); check the step's direction and limit against the initial "
                f"state (initial_soc={self.spec.initial_soc}) or pass skipped_steps='allow'",
            )
        result = SimulationResult(
            spec=self.spec, inputs=merged, solution=solution, cycle_numbers=numbers, failure=failure,
            skipped_steps=skipped, nominal_capacity_ah=self.nominal_capacity_ah, solve_time_second=elapsed,
        )
        if failure is not None and on_failure == "raise":
            raise SimulationError(failure.describe(result.completed_cycles), value=failure.to_dict())
        return result

    # ------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        # Built PyBaMM objects stay in this process; a copy rebuilds from the spec.
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["spec"])

    def __repr__(self) -> str:
        s = self.spec
        return (f"Simulator(model={s.model!r}, parameters={s.parameters!r}, steps={list(s.steps)!r}, "
                f"cycles={s.cycles}, options={s.options_dict!r}, inputs={list(s.inputs)!r}, built={self.built})")


def simulate(
    model: str = "SPM",
    parameters: str = "Chen2020",
    experiment: str | Sequence[str] = ("Discharge at 1C until 3.0 V",),
    *,
    inputs: Mapping[str, float] | None = None,
    on_failure: OnFailure = "raise",
    **kwargs: Any,
) -> SimulationResult:
    """Build a :class:`Simulator` and solve it once.

    Parameters
    ----------
    model, parameters, experiment
        As :class:`Simulator`.
    inputs
        Input-parameter values for this solve.
    on_failure
        As :meth:`Simulator.solve`.
    **kwargs
        Other :class:`Simulator` keywords (``cycles``, ``thermal``, ``sei``,
        ``overrides``, ``initial_soc``, ...).

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError, SimulationSetupError
        As :class:`Simulator` and :meth:`Simulator.solve`.
    """
    return Simulator(model, parameters, experiment, **kwargs).solve(inputs, on_failure=on_failure)
