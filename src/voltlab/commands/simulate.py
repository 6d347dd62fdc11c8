"""``voltlab simulate``: run a PyBaMM experiment and store the simulated cell like a measured one.

Register with ``app.add_typer(simulate_app, name="simulate")`` (the options
sit on the group callback, so ``voltlab simulate --model SPM ...`` runs it),
or use :func:`simulate_command` as a plain command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from voltlab.errors import VoltlabError

__all__ = ["simulate_app", "simulate_command"]

simulate_app = typer.Typer(
    help="Simulate a cell with PyBaMM (model and parameter set by name, PyBaMM step strings) into a store.",
    rich_markup_mode=None,
)
console = Console()


def _parse_overrides(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            out[name.strip()] = float(value)
        except ValueError as exc:
            raise VoltlabError(
                f"--set {item!r}: write NAME=VALUE with the PyBaMM parameter name and a number, e.g. "
                "--set 'Negative particle diffusivity [m2.s-1]=1e-14'",
                value=item,
            ) from exc
    return out


def simulate_command(
    model: Annotated[str, typer.Option("--model", "-m", help="SPM, SPMe, DFN, MPM or MSMR.")] = "SPM",
    parameters: Annotated[str, typer.Option("--parameters", "-p", help="PyBaMM parameter set name.")] = "Chen2020",
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="PyBaMM step string of one cycle (repeat for several steps)."),
    ] = None,
    cycles: Annotated[int, typer.Option("--cycles", "-n", help="Repetitions of the cycle.")] = 1,
    store: Annotated[Path | None, typer.Option("--store", "-s", help="Store folder to add the cell to.")] = None,
    cell_id: Annotated[str, typer.Option("--cell-id", help="Id of the simulated cell in the store.")] = "simulated",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Voltage-curve plot: .html (interactive) or .png.")
    ] = None,
    initial_soc: Annotated[
        float | None, typer.Option("--initial-soc", help="Initial state of charge 0-1 (default: the set's).")
    ] = None,
    thermal: Annotated[str | None, typer.Option(help="isothermal, lumped or x-full.")] = None,
    sei: Annotated[str | None, typer.Option(help="PyBaMM SEI option, e.g. 'solvent-diffusion limited'.")] = None,
    lithium_plating: Annotated[
        str | None, typer.Option("--lithium-plating", help="PyBaMM plating option, e.g. 'irreversible'.")
    ] = None,
    loss_of_active_material: Annotated[
        str | None, typer.Option("--lam", help="PyBaMM loss-of-active-material option, e.g. 'stress-driven'.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Parameter override NAME=VALUE in PyBaMM units (repeatable).")
    ] = None,
    period: Annotated[float, typer.Option(help="Output interval of each step, s.")] = 60.0,
    keep_partial: Annotated[
        bool, typer.Option("--keep-partial", help="If the run fails mid-way, store the cycles that completed.")
    ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a cell with the same id.")] = False,
) -> None:
    """Simulate a PyBaMM experiment, print per-cycle capacities, store the cell and plot it."""
    from voltlab.data.summary import cycle_summary
    from voltlab.simulate import Simulator

    steps = experiment or ["Discharge at 1C until 3.0 V"]
    with console.status(f"simulating {model} / {parameters}, {cycles} cycle(s)..."):
        sim = Simulator(
            model, parameters, steps, cycles=cycles, thermal=thermal, sei=sei, lithium_plating=lithium_plating,
            loss_of_active_material=loss_of_active_material, overrides=_parse_overrides(overrides),
            initial_soc=initial_soc, period_second=period,
        )
        result = sim.solve(on_failure="return" if keep_partial else "raise")
    data = result.to_cycling_data(cell_id, complete_cycles_only=keep_partial)
    summary = cycle_summary(data)
    table = Table("cycle", "charge [Ah]", "discharge [Ah]", "CE")
    shown = summary if len(summary) <= 12 else summary.iloc[list(range(5)) + list(range(len(summary) - 5, len(summary)))]
    for _, r in shown.iterrows():
        table.add_row(str(int(r["cycle_count"])), f"{r['charge_capacity_ah']:.4f}",
                      f"{r['discharge_capacity_ah']:.4f}", f"{r['coulombic_efficiency']:.4f}")
    console.print(table)
    console.print(f"{data.n_rows} rows, {result.completed_cycles}/{cycles} cycles in {result.solve_time_second:.2f} s")
    if result.failure is not None:
        console.print(f"[yellow]warning:[/] {result.failure.describe(result.completed_cycles)}")
    if store is not None:
        from voltlab.data.store import Store

        added = Store(store).add(data, on_duplicate="replace" if replace else "error")
        console.print(f"stored cell {added!r} in {store}")
    if plot is not None:
        from voltlab.report import plots

        backend: Literal["plotly", "matplotlib"] = (
            "matplotlib" if plot.suffix.lower() in (".png", ".svg", ".pdf") else "plotly"
        )
        path = plots.save_figure(plots.voltage_curves(data, backend=backend), plot)
        console.print(f"wrote {path}")


simulate_app.callback(invoke_without_command=True)(simulate_command)
