"""Fit PyBaMM parameters to a measured (or simulated) voltage curve with PyBOP.

The cell's time series is handed to PyBOP as a ``pybop.Dataset`` (time,
current in PyBaMM's sign, voltage); PyBOP drives the current as an
interpolant and PINTS minimises the sum of squared voltage errors. Only
gradient-free optimisers are offered: PyBOP's gradients are zero or NaN for
some parameters (e.g. particle radius), which makes gradient-based
optimisers stop silently at the initial guess.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from voltlab.data.cycling import CyclingData
from voltlab.errors import DependencyError, SimulationError
from voltlab.simulate.base import MODELS, SimulationSetupError, close_matches
from voltlab.simulate.simulator import import_pybamm

__all__ = ["GRADIENT_FREE_OPTIMISERS", "FitParameter", "FitResult", "fit_parameters"]

GRADIENT_FREE_OPTIMISERS: tuple[str, ...] = ("CMAES", "NelderMead", "PSO", "SNES", "XNES")
"""PyBOP optimiser class names accepted by :func:`fit_parameters`."""


@dataclass(frozen=True, slots=True)
class FitParameter:
    """One parameter to fit.

    Attributes
    ----------
    name
        PyBaMM parameter name with unit, e.g. ``"Negative particle diffusivity [m2.s-1]"``.
    initial_value
        Starting guess, in the parameter's unit.
    bounds
        ``(lower, upper)`` in the parameter's unit.
    log_scale
        Search in log10 space (for quantities spanning decades, such as
        diffusivities); needs positive bounds.
    """

    name: str
    initial_value: float
    bounds: tuple[float, float]
    log_scale: bool = True

    def __post_init__(self) -> None:
        lo, hi = (float(b) for b in self.bounds)
        if not (lo < hi) or not (lo <= self.initial_value <= hi):
            raise SimulationSetupError(
                f"fit parameter {self.name!r}: need lower < upper bounds and the initial value inside them, got "
                f"bounds {self.bounds!r} and initial value {self.initial_value!r}",
                value=self.name,
            )
        if self.log_scale and lo <= 0:
            raise SimulationSetupError(
                f"fit parameter {self.name!r}: log_scale needs positive bounds, got {self.bounds!r}; pass "
                "log_scale=False for quantities that can be zero or negative",
                value=self.name,
            )


@dataclass(frozen=True, slots=True)
class FitResult:
    """Outcome of :func:`fit_parameters`.

    Attributes
    ----------
    values
        Fitted value per parameter name, in its unit.
    initial_values
        The starting guesses.
    rmse_volt
        Root-mean-square voltage error at the fitted values, V.
    initial_rmse_volt
        The same at the initial guess, V.
    n_evaluations
        Model solves used.
    optimiser
        PyBOP optimiser class name.
    wall_time_second
        Time of the optimisation, s.
    """

    values: dict[str, float]
    initial_values: dict[str, float]
    rmse_volt: float
    initial_rmse_volt: float
    n_evaluations: int
    optimiser: str
    wall_time_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        """Whether any parameter left its initial guess (by more than 1e-6 relative)."""
        return any(
            abs(self.values[k] - v) > 1e-6 * max(abs(v), 1e-300) for k, v in self.initial_values.items()
        )

    def relative_error(self, truth: Mapping[str, float]) -> dict[str, float]:
        """``fitted / truth - 1`` per parameter (for synthetic-data checks)."""
        return {k: self.values[k] / float(v) - 1.0 for k, v in truth.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def _import_pybop() -> Any:
    import_pybamm()
    try:
        import pybop
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError("parameter fitting needs PyBOP: pip install pybop") from exc
    return pybop


def _dataset_arrays(data: CyclingData) -> dict[str, np.ndarray]:
    ts = data.timeseries
    t = ts["test_time_second"].to_numpy(dtype=np.float64)
    v = ts["voltage_volt"].to_numpy(dtype=np.float64)
    i = 0.0 - ts["current_ampere"].to_numpy(dtype=np.float64)  # PyBaMM: positive = discharge
    # PyBOP interpolates the current over time: times must increase strictly.
    keep = np.r_[True, np.diff(t) > 0] & np.isfinite(v) & np.isfinite(i)
    if keep.sum() < 10:
        raise SimulationSetupError(
            f"cell {data.cell_id!r}: need at least 10 finite samples with increasing time to fit, got "
            f"{int(keep.sum())}",
            value=data.cell_id,
        )
    return {"Time [s]": t[keep] - t[keep][0], "Current [A]": i[keep], "Voltage [V]": v[keep]}


def fit_parameters(
    data: CyclingData,
    parameters: Sequence[FitParameter],
    *,
    model: str = "SPM",
    parameter_set: str = "Chen2020",
    options: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    initial_soc: float | None = None,
    optimiser: str = "NelderMead",
    max_iterations: int = 300,
    max_unchanged_iterations: int = 30,
) -> FitResult:
    """Fit PyBaMM parameters to the voltage of ``data`` with a gradient-free PyBOP optimiser.

    Parameters
    ----------
    data
        One cell's cycling data (current drives the model, voltage is the
        target). Use a segment of constant conditions, e.g. one discharge.
    parameters
        What to fit, with starting guesses and bounds.
    model, parameter_set, options, overrides
        The PyBaMM model (as :class:`~voltlab.simulate.Simulator`).
    initial_soc
        Initial state of charge of the data's first sample, 0-1; ``None``
        keeps the set's initial concentrations.
    optimiser
        One of :data:`GRADIENT_FREE_OPTIMISERS`.
    max_iterations, max_unchanged_iterations
        Stopping rules of the PINTS optimiser.

    Returns
    -------
    FitResult
        Check :attr:`FitResult.moved`: a fit that stayed at its guess found no
        sensitivity of the voltage to the parameters.

    Raises
    ------
    SimulationSetupError
        Unknown model, parameter set or parameter name (with close matches),
        optimiser not gradient-free, too few samples.
    SimulationError
        PyBOP failed.
    DependencyError
        PyBaMM or PyBOP is missing.

    Examples
    --------
    >>> from voltlab.simulate import simulate
    >>> data = simulate("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0,
    ...                 period_second=10.0).to_cycling_data("synthetic")
    >>> p = FitParameter("Negative particle diffusivity [m2.s-1]", 1.5e-14, (3e-15, 3e-13))
    >>> res = fit_parameters(data, [p], initial_soc=1.0)
    >>> abs(res.values[p.name] / 3.3e-14 - 1) < 0.01
    True
    """
    pybamm = import_pybamm()
    pybop = _import_pybop()
    if model not in MODELS:
        raise SimulationSetupError(f"unknown model {model!r}{close_matches(model, MODELS)}", value=model)
    if optimiser not in GRADIENT_FREE_OPTIMISERS:
        raise SimulationSetupError(
            f"optimiser {optimiser!r} is not one of the gradient-free {', '.join(GRADIENT_FREE_OPTIMISERS)}"
            f"{close_matches(optimiser, GRADIENT_FREE_OPTIMISERS)} (PyBOP gradients are 0/NaN for some "
            "parameters, so gradient-based optimisers can stop at the initial guess without saying so)",
            value=optimiser,
        )
    if not parameters:
        raise SimulationSetupError("give at least one FitParameter to fit")
    sets = sorted(pybamm.parameter_sets.keys())
    if parameter_set not in sets:
        raise SimulationSetupError(
            f"unknown PyBaMM parameter set {parameter_set!r}{close_matches(parameter_set, sets)}",
            value=parameter_set,
        )
    pv = pybamm.ParameterValues(parameter_set)
    pv.update(dict(overrides or {}), check_already_exists=False)
    names = list(pv.keys())
    for p in parameters:
        if p.name not in names:
            raise SimulationSetupError(
                f"fit parameter {p.name!r} is not in parameter set {parameter_set!r}{close_matches(p.name, names)}",
                value=p.name,
            )
    if initial_soc is not None:
        pv.set_initial_state(float(initial_soc))
    pv.update({
        p.name: pybop.Parameter(
            initial_value=float(p.initial_value), bounds=[float(b) for b in p.bounds],
            transformation=pybop.LogTransformation() if p.log_scale else None,
        )
        for p in parameters
    })
    arrays = _dataset_arrays(data)
    dataset = pybop.Dataset(arrays)
    t0 = time.perf_counter()
    try:
        sim = pybop.pybamm.Simulator(getattr(pybamm.lithium_ion, model)(dict(options or {})), parameter_values=pv,
                                     protocol=dataset)
        problem = pybop.Problem(sim, pybop.SumSquaredError(dataset))
        options_ = pybop.PintsOptions(max_iterations=max_iterations,
                                      max_unchanged_iterations=max_unchanged_iterations)
        with warnings.catch_warnings():
            # PINTS' Nelder-Mead ignores bounds (the log transformation keeps values positive).
            warnings.filterwarnings("ignore", message="NOTE: Boundaries ignored", category=UserWarning)
            result = getattr(pybop, optimiser)(problem, options=options_).run()
        initial_cost = float(problem(np.asarray([p.initial_value for p in parameters], dtype=np.float64)))
    except (pybamm.SolverError, ValueError, RuntimeError) as exc:
        raise SimulationError(f"PyBOP fit of {[p.name for p in parameters]} to cell {data.cell_id!r} failed: "
                              f"{exc}", value=data.cell_id) from exc
    elapsed = time.perf_counter() - t0
    n = arrays["Time [s]"].shape[0]
    x = np.asarray(result.x, dtype=np.float64).reshape(-1)
    return FitResult(
        values={p.name: float(v) for p, v in zip(parameters, x, strict=True)},
        initial_values={p.name: float(p.initial_value) for p in parameters},
        rmse_volt=math.sqrt(float(result.best_cost) / n),
        initial_rmse_volt=math.sqrt(initial_cost / n) if math.isfinite(initial_cost) else float("nan"),
        n_evaluations=int(result.n_evaluations),
        optimiser=optimiser,
        wall_time_second=elapsed,
        extra={"model": model, "parameter_set": parameter_set, "n_samples": n,
               "pybop_version": getattr(pybop, "__version__", "")},
    )
