"""``voltlab fit``: identify PyBaMM parameters from one measured step with PyBOP.

Register with ``app.command("fit")(fit_command)``. :data:`fit_app` is a
one-command Typer app around the same function (used by the tests).

The pieces are importable for scripts: :func:`parse_fit_parameter` reads the
``--param`` syntax, :func:`load_fit_source` and :func:`select_step` pick the
data, :func:`run_fit` fits and adds an uncertainty estimate and the fitted
curve, and :meth:`CliFitReport.flat` gives the ``--out`` JSON.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from voltlab.data.cycling import CyclingData
from voltlab.errors import VoltlabError

__all__ = [
    "CONTACT_RESISTANCE",
    "CliFitReport",
    "fit_app",
    "fit_command",
    "load_fit_source",
    "parse_fit_parameter",
    "run_fit",
    "select_step",
]

console = Console()

CONTACT_RESISTANCE = "Contact resistance [Ohm]"
"""Fitting this parameter switches on PyBaMM's ``"contact resistance"`` option (a series resistance)."""

DATASET_FORMATS: tuple[str, ...] = ("nasa_pcoe_csv",)
"""``--format`` values read by a :mod:`voltlab.data.datasets` loader instead of a cycler reader."""

_PARAM_HELP = (
    "Parameter to fit: 'NAME=LOW:HIGH' or 'NAME=LOW:HIGH:GUESS' with the PyBaMM name (unit included) and "
    "bounds in its unit, e.g. 'Negative particle diffusivity [m2.s-1]=1e-15:1e-13' (repeatable)."
)


# --------------------------------------------------------------------------- --param parsing


def parse_fit_parameter(text: str, *, log_scale: bool = True) -> Any:
    """Read one ``--param`` value: ``NAME=LOW:HIGH`` or ``NAME=LOW:HIGH:GUESS``.

    Parameters
    ----------
    text
        The option value. ``NAME`` is the PyBaMM parameter name with its unit
        (``"Electrode width [m]"``); the bounds and guess are numbers in that unit.
    log_scale
        Search in log10 space. Without a guess, the start is the geometric mean
        of the bounds (log scale) or their midpoint (linear scale).

    Returns
    -------
    voltlab.simulate.FitParameter

    Raises
    ------
    VoltlabError
        The text does not follow the syntax, the bounds are not ordered, or the
        guess lies outside them; the message shows the expected form.

    Examples
    --------
    >>> p = parse_fit_parameter("Electrode width [m]=0.01:0.1")
    >>> p.name, p.bounds, round(p.initial_value, 6)
    ('Electrode width [m]', (0.01, 0.1), 0.031623)
    """
    from voltlab.simulate import FitParameter, SimulationSetupError

    example = "'Negative particle diffusivity [m2.s-1]=1e-15:1e-13' (NAME=LOW:HIGH, optionally :GUESS)"
    name, sep, spec = text.rpartition("=")
    name = name.strip()
    parts = [s.strip() for s in spec.split(":")]
    try:
        if not sep or not name or len(parts) not in (2, 3):
            raise ValueError(text)
        values = [float(s) for s in parts]
    except ValueError as exc:
        raise VoltlabError(f"--param {text!r}: write {example}", value=text) from exc
    lo, hi = values[0], values[1]
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise VoltlabError(f"--param {text!r}: need finite bounds with LOW < HIGH, e.g. {example}", value=text)
    if log_scale and lo <= 0:
        raise VoltlabError(
            f"--param {text!r}: log-scale search needs LOW > 0; give positive bounds or pass --linear-scale",
            value=text,
        )
    guess = values[2] if len(values) == 3 else (math.sqrt(lo * hi) if log_scale else 0.5 * (lo + hi))
    try:
        return FitParameter(name, guess, (lo, hi), log_scale=log_scale)
    except SimulationSetupError as exc:
        raise VoltlabError(f"--param {text!r}: {exc.message}", value=text) from exc


# --------------------------------------------------------------------------- data selection


def load_fit_source(source: str, *, store: Path | None = None, format: str | None = None) -> CyclingData:
    """The cycling data named on the command line.

    Parameters
    ----------
    source
        A cycler file (any format voltlab reads), or a cell id when ``store`` is given.
    store
        Store folder holding the cell.
    format
        Reader name (``voltlab formats``), or ``"nasa_pcoe_csv"`` for a NASA PCoE
        discharge-curve CSV; detected from the content when ``None``.

    Raises
    ------
    VoltlabError
        Missing file or cell, unknown format (the message names the file and the fix).
    """
    if store is not None:
        from voltlab.data.store import Store

        return Store(store, create=False).load(source)
    path = Path(source)
    if format == "nasa_pcoe_csv":
        from voltlab.data.datasets import load_nasa_pcoe

        return load_nasa_pcoe(path)[0]
    from voltlab.data.readers import read_cycler_file
    from voltlab.errors import UnknownFormatError

    try:
        return read_cycler_file(path, format=format)
    except UnknownFormatError as exc:
        if format is None:
            raise UnknownFormatError(
                f"{exc.message}; for a NASA PCoE discharge-curve CSV pass --format nasa_pcoe_csv",
                path=path,
            ) from exc
        raise


def select_step(data: CyclingData, cycle: int, step: str = "discharge", *, source: str = "") -> CyclingData:
    """The rows of one step of one cycle, as a new :class:`CyclingData`.

    Parameters
    ----------
    data
        One cell.
    cycle
        ``cycle_count`` to use.
    step
        ``"discharge"`` (the longest run of samples with current below -2 % of
        the cycle's largest absolute current), ``"charge"`` (the same with
        positive current), ``"cycle"`` (the whole cycle), or an integer: the
        rows whose ``step_index`` equals it (``step_count`` when the file has
        no step index).
    source
        File or cell named in error messages.

    Raises
    ------
    VoltlabError
        The cycle or the step is absent; the message lists what there is.
    """
    ts = data.timeseries
    where = source or data.cell_id
    cycles = data.cycles
    if cycle not in cycles:
        shown = f"{cycles[0]}-{cycles[-1]}" if len(cycles) > 10 else ", ".join(map(str, cycles))
        raise VoltlabError(
            f"cycle {cycle} is not in the data ({len(cycles)} cycles: {shown}); pass --cycle with one of them",
            path=where, value=cycle,
        )
    rows = ts[ts["cycle_count"].to_numpy() == cycle]
    if step == "cycle":
        picked = rows
    elif step in ("discharge", "charge"):
        i = rows["current_ampere"].to_numpy(dtype=np.float64)
        sign = -1.0 if step == "discharge" else 1.0
        thr = 0.02 * float(np.nanmax(np.abs(i))) if np.isfinite(i).any() else 0.0
        on = np.nan_to_num(sign * i) > max(thr, 1e-9)
        if not on.any():
            raise VoltlabError(
                f"cycle {cycle} has no {step} (no sample with {'negative' if sign < 0 else 'positive'} "
                "current); pick another --cycle or --step (charge, discharge, cycle or a step number)",
                path=where, value=step,
            )
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
        starts, ends = edges[0::2], edges[1::2]
        k = int(np.argmax(ends - starts))
        picked = rows.iloc[int(starts[k]):int(ends[k])]
    else:
        try:
            number = int(step)
        except ValueError as exc:
            raise VoltlabError(f"--step {step!r}: use discharge, charge, cycle or a step number", value=step) from exc
        col = "step_index" if "step_index" in rows.columns else "step_count"
        picked = rows[rows[col].to_numpy() == number]
        if picked.empty:
            have = sorted(int(s) for s in rows[col].unique())
            raise VoltlabError(
                f"cycle {cycle} has no {col} {number} (it has {have}); pass --step with one of them, or "
                "discharge/charge", path=where, value=step,
            )
    return CyclingData(picked.reset_index(drop=True), data.metadata)


# --------------------------------------------------------------------------- fit + uncertainty


@dataclass(frozen=True, slots=True)
class CliFitReport:
    """A fit with its uncertainty estimate and fitted curve, as ``voltlab fit`` reports it.

    Attributes
    ----------
    result
        The :class:`voltlab.simulate.FitResult`.
    parameters
        The fitted :class:`voltlab.simulate.FitParameter` objects (bounds, scale).
    std
        One-standard-deviation uncertainty per parameter, in its unit (NaN when the
        Jacobian is singular).
    time_second, measured_volt, fitted_volt
        The fitted samples: time from the step start (s), measured and model voltage (V;
        the model is NaN after an early stop).
    initial_rmse_millivolt
        RMSE at the initial guess, mV; NaN when the model stopped before the end of the
        data there (PyBOP then reports a penalty, not an RMSE).
    settings
        What was run (source, cycle, model, optimiser, seed, ...).
    """

    result: Any
    parameters: tuple[Any, ...]
    std: dict[str, float]
    time_second: np.ndarray
    measured_volt: np.ndarray
    fitted_volt: np.ndarray
    initial_rmse_millivolt: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rmse_millivolt(self) -> float:
        """RMSE of the voltage at the fitted values (PyBOP's cost), mV."""
        return 1e3 * float(self.result.rmse_volt)

    @property
    def max_abs_error_millivolt(self) -> float:
        """Largest absolute voltage error of the fitted curve, mV (NaN where the model stopped early)."""
        err = np.abs(self.fitted_volt - self.measured_volt)
        return 1e3 * float(np.nanmax(err)) if np.isfinite(err).any() else float("nan")

    def flat(self) -> dict[str, Any]:
        """Flat JSON-able dict; units in the key names (PyBaMM names keep their ``[unit]``)."""
        r = self.result
        out: dict[str, Any] = dict(self.settings)
        out.update({
            "rmse_millivolt": self.rmse_millivolt,
            "initial_rmse_millivolt": self.initial_rmse_millivolt,
            "max_abs_error_millivolt": self.max_abs_error_millivolt,
            "n_samples": int(self.time_second.size),
            "duration_second": float(self.time_second[-1] - self.time_second[0]) if self.time_second.size else 0.0,
            "n_evaluations": int(r.n_evaluations),
            "wall_time_second": float(r.wall_time_second),
            "moved": bool(r.moved),
            "pybop_version": str(r.extra.get("pybop_version", "")),
            "fitted_parameters": [p.name for p in self.parameters],
        })
        for p in self.parameters:
            out[f"fitted: {p.name}"] = float(r.values[p.name])
            out[f"std: {p.name}"] = float(self.std[p.name])
            out[f"initial: {p.name}"] = float(p.initial_value)
            out[f"lower_bound: {p.name}"] = float(p.bounds[0])
            out[f"upper_bound: {p.name}"] = float(p.bounds[1])
            out[f"log_scale: {p.name}"] = bool(p.log_scale)
        out["uncertainty_method"] = (
            "Gauss-Newton: std = sqrt(diag(s^2 (J^T J)^-1)), s^2 = SSE/(n-p), J = central differences of the "
            "model voltage in the search space; assumes independent errors, so it understates the uncertainty "
            "when the residual is model error rather than noise"
        )
        return {k: _jsonable(v) for k, v in out.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _forward_model(
    data: CyclingData, parameters: Sequence[Any], *, model: str, parameter_set: str, options: Mapping[str, Any],
    overrides: Mapping[str, Any], initial_soc: float | None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """A PyBaMM simulation driven by the measured current, the fitted parameters as inputs.

    Returns the times (s, from 0), the measured voltage (V) and ``solve(values) -> voltage``.
    """
    from voltlab.simulate.fit import _dataset_arrays
    from voltlab.simulate.simulator import import_pybamm

    pybamm = import_pybamm()
    arrays = _dataset_arrays(data)
    t, i, v = arrays["Time [s]"], arrays["Current [A]"], arrays["Voltage [V]"]
    pv = pybamm.ParameterValues(parameter_set)
    pv.update(dict(overrides), check_already_exists=False)
    if initial_soc is not None:
        pv.set_initial_state(float(initial_soc))
    pv.update({p.name: "[input]" for p in parameters})
    pv["Current function [A]"] = pybamm.Interpolant(t, i, pybamm.t, interpolator="linear")
    sim = pybamm.Simulation(getattr(pybamm.lithium_ion, model)(dict(options)), parameter_values=pv,
                            solver=pybamm.IDAKLUSolver())

    def solve(values: Mapping[str, float]) -> np.ndarray:
        out = np.full(t.shape, np.nan)
        try:
            sol = sim.solve([float(t[0]), float(t[-1])], inputs=dict(values), t_interp=t)
        except pybamm.SolverError:
            return out
        vm = np.asarray(sol["Voltage [V]"].entries, dtype=np.float64).reshape(-1)
        ts = np.asarray(sol.t, dtype=np.float64).reshape(-1)
        n = min(vm.size, out.size)
        if ts.size == out.size:
            out[:n] = vm[:n]
        else:  # stopped early on an event: put the points where they belong
            out[: ts.size] = np.interp(t[: ts.size], ts, vm)
        return out

    return t, v, solve


def _gauss_newton_std(
    solve: Any, measured: np.ndarray, parameters: Sequence[Any], values: Mapping[str, float],
) -> dict[str, float]:
    """One-sigma parameter uncertainty from the Jacobian of the residuals in the search space."""
    names = [p.name for p in parameters]
    nan = {n: float("nan") for n in names}
    base = solve(values)
    ok = np.isfinite(base) & np.isfinite(measured)
    n_ok, n_p = int(ok.sum()), len(parameters)
    if n_ok <= n_p:
        return nan
    jac = np.empty((n_ok, n_p))
    for k, p in enumerate(parameters):
        x = float(values[p.name])
        if p.log_scale:
            h = 1e-3  # decades
            up, dn = x * 10**h, x * 10**-h
        else:
            h = 1e-3 * max(abs(x), 1e-3 * (p.bounds[1] - p.bounds[0]))
            up, dn = x + h, x - h
        vu = solve({**values, p.name: up})
        vd = solve({**values, p.name: dn})
        if not (np.isfinite(vu[ok]).all() and np.isfinite(vd[ok]).all()):
            return nan
        jac[:, k] = (vu[ok] - vd[ok]) / (2 * h)
    resid = base[ok] - measured[ok]
    s2 = float(resid @ resid) / (n_ok - n_p)
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return nan
    out: dict[str, float] = {}
    for k, p in enumerate(parameters):
        var = float(cov[k, k])
        sd = math.sqrt(var) if var >= 0 else float("nan")
        out[p.name] = float(values[p.name]) * math.log(10) * sd if p.log_scale else sd
    return out


def run_fit(
    data: CyclingData,
    parameters: Sequence[Any],
    *,
    model: str = "SPM",
    parameter_set: str = "Chen2020",
    options: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    initial_soc: float | None = 1.0,
    optimiser: str = "NelderMead",
    max_iterations: int = 300,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
) -> CliFitReport:
    """Fit with :func:`voltlab.simulate.fit_parameters`, then estimate the uncertainty and the fitted curve.

    Parameters
    ----------
    data
        The selected step (see :func:`select_step`).
    parameters
        What to fit.
    model, parameter_set, options, overrides, initial_soc, optimiser, max_iterations
        As :func:`voltlab.simulate.fit_parameters`. Fitting ``"Contact resistance [Ohm]"``
        switches on PyBaMM's ``"contact resistance"`` option and adds the parameter to the set.
    seed
        Seed of NumPy's global generator, which PINTS' stochastic optimisers (CMAES, PSO,
        SNES, XNES) draw from; NelderMead is deterministic.
    settings
        Extra entries for :meth:`CliFitReport.flat` (source, cycle, ...).

    Returns
    -------
    CliFitReport
    """
    from voltlab.simulate import fit_parameters

    opts = dict(options or {})
    ov = dict(overrides or {})
    for p in parameters:
        if p.name == CONTACT_RESISTANCE:
            opts.setdefault("contact resistance", "true")
            ov.setdefault(CONTACT_RESISTANCE, float(p.initial_value))
    np.random.seed(seed)
    res = fit_parameters(data, parameters, model=model, parameter_set=parameter_set, options=opts, overrides=ov,
                         initial_soc=initial_soc, optimiser=optimiser, max_iterations=max_iterations)
    t, v, solve = _forward_model(data, parameters, model=model, parameter_set=parameter_set, options=opts,
                                 overrides=ov, initial_soc=initial_soc)
    fitted = solve(res.values)
    at_guess = solve(res.initial_values)
    initial_rmse = (1e3 * float(np.sqrt(np.mean((at_guess - v) ** 2))) if np.isfinite(at_guess).all()
                    else float("nan"))
    std = _gauss_newton_std(solve, v, parameters, res.values)
    info: dict[str, Any] = dict(settings or {})
    info.update({
        "model": model, "parameter_set": parameter_set, "optimiser": optimiser, "max_iterations": max_iterations,
        "seed": seed, "initial_soc": initial_soc,
        "model_options": json.dumps(opts, sort_keys=True),
        "overrides": json.dumps({k: ov[k] for k in sorted(ov) if k not in {p.name for p in parameters}}),
    })
    return CliFitReport(res, tuple(parameters), std, t, v, fitted, initial_rmse, info)


def _plot(report: CliFitReport, path: Path, title: str) -> Path:
    from voltlab.report import plots

    backend: Literal["plotly", "matplotlib"] = (
        "matplotlib" if path.suffix.lower() in (".png", ".svg", ".pdf") else "plotly"
    )
    fig = plots._new_figure(backend, title, "Time [s]", "Voltage [V]")
    plots._line(fig, backend, report.time_second, report.measured_volt, "measured", "#1f77b4", markers=True)
    plots._line(fig, backend, report.time_second, report.fitted_volt,
                f"fitted (RMSE {report.rmse_millivolt:.1f} mV)", "#d62728", dash=True)
    return plots.save_figure(plots._finish(fig, backend), path)


def _parse_pairs(items: list[str] | None, what: str, example: str, numeric: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            out[name.strip()] = float(value) if numeric else value.strip()
        except ValueError as exc:
            raise VoltlabError(f"{what} {item!r}: write NAME=VALUE, e.g. {what} {example}", value=item) from exc
    return out


# --------------------------------------------------------------------------- the command


def fit_command(
    source: Annotated[str, typer.Argument(help="Cycler file (any format voltlab reads), or a cell id with --store.")],
    param: Annotated[list[str], typer.Option("--param", "-P", help=_PARAM_HELP)],
    cycle: Annotated[int, typer.Option("--cycle", "-c", help="Cycle number (cycle_count) to fit.")] = 1,
    step: Annotated[
        str, typer.Option("--step", help="discharge (default), charge, cycle (all of it) or a step number.")
    ] = "discharge",
    store: Annotated[Path | None, typer.Option("--store", "-s", help="Store folder; SOURCE is then a cell id.")] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Reader name ('voltlab formats') or nasa_pcoe_csv; detected if omitted."),
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="SPM, SPMe, DFN, MPM or MSMR.")] = "SPM",
    parameters: Annotated[str, typer.Option("--parameters", "-p", help="PyBaMM parameter set name.")] = "Chen2020",
    log_scale: Annotated[
        bool, typer.Option("--log-scale/--linear-scale", help="Search the parameters in log10 space (default).")
    ] = True,
    initial_soc: Annotated[
        float | None,
        typer.Option("--initial-soc", help="SOC 0-1 at the step start (default: 1 for a discharge, 0 for a charge)."),
    ] = None,
    optimiser: Annotated[
        str, typer.Option("--optimiser", help="NelderMead (default), CMAES, PSO, SNES or XNES.")
    ] = "NelderMead",
    max_iterations: Annotated[int, typer.Option("--max-iterations", help="Optimiser iterations at most.")] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the stochastic optimisers.")] = 0,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Fixed parameter NAME=VALUE in PyBaMM units (repeatable).")
    ] = None,
    model_options: Annotated[
        list[str] | None, typer.Option("--option", help="PyBaMM model option KEY=VALUE (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result as flat JSON.")] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Measured vs fitted voltage: .png (static) or .html (interactive).")
    ] = None,
) -> None:
    """Fit PyBaMM parameters to one step of a measured cycle (PyBOP) and report the values and RMSE in mV."""
    if out is not None and out.suffix.lower() != ".json":
        raise VoltlabError("--out must end in .json", path=out)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf", ".html"):
        raise VoltlabError("--plot must end in .png, .svg, .pdf (static) or .html (interactive)", path=plot)
    if max_iterations < 1:
        raise VoltlabError(f"--max-iterations must be at least 1, got {max_iterations}", value=max_iterations)
    fit_params = [parse_fit_parameter(p, log_scale=log_scale) for p in param]
    names = [p.name for p in fit_params]
    if len(set(names)) != len(names):
        raise VoltlabError(f"--param names a parameter twice: {names}; give each once")
    ov = _parse_pairs(overrides, "--set", "'Lower voltage cut-off [V]=2.0'", numeric=True)
    opts = _parse_pairs(model_options, "--option", "'contact resistance=true'", numeric=False)
    where = str(store / source) if store is not None else source
    data = select_step(load_fit_source(source, store=store, format=format), cycle, step, source=where)
    soc = initial_soc if initial_soc is not None else {"discharge": 1.0, "charge": 0.0}.get(step)
    settings = {"source": where if store is None else os.fspath(store), "cell_id": data.cell_id, "cycle": cycle,
                "step": step}
    t0 = time.perf_counter()
    with console.status(f"fitting {len(fit_params)} parameter(s) of {model} / {parameters} to {data.n_rows} samples..."):
        report = run_fit(data, fit_params, model=model, parameter_set=parameters, options=opts, overrides=ov,
                         initial_soc=soc, optimiser=optimiser, max_iterations=max_iterations, seed=seed,
                         settings=settings)
    res = report.result
    table = Table("parameter", "initial", "fitted", "± 1 sd", "sd [%]")
    for p in fit_params:
        val, sd = res.values[p.name], report.std[p.name]
        rel = f"{100 * sd / abs(val):.2g}" if math.isfinite(sd) and val != 0 else "-"
        table.add_row(p.name, f"{p.initial_value:.4g}", f"{val:.4g}", f"{sd:.2g}" if math.isfinite(sd) else "-", rel)
    console.print(table)
    guess = (f"{report.initial_rmse_millivolt:.1f} mV" if math.isfinite(report.initial_rmse_millivolt)
             else "model stopped early")
    console.print(
        f"RMSE {report.rmse_millivolt:.2f} mV (initial guess {guess}, max |error| "
        f"{report.max_abs_error_millivolt:.1f} mV) over {report.time_second.size} samples; "
        f"{res.n_evaluations} model solves in {time.perf_counter() - t0:.1f} s",
        highlight=False,
    )
    if not res.moved:
        console.print("[yellow]warning:[/] the fit stayed at its initial guess: the voltage is not sensitive to "
                      "these parameters here, or the bounds are too tight")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.flat(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    if plot is not None:
        title = f"{data.cell_id} cycle {cycle} {step}: {model} / {parameters}"
        console.print(f"wrote {_plot(report, plot, title)}")


fit_app = typer.Typer(help="Fit PyBaMM parameters to a measured step (PyBOP).", rich_markup_mode=None)
fit_app.command()(fit_command)
