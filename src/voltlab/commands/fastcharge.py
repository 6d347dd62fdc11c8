"""``voltlab fastcharge``: design a fast-charge protocol (CC-CV baseline, BO multi-step CC, optional RL).

Register with ``app.command("fastcharge")(fastcharge_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voltlab.errors import VoltlabError

__all__ = ["fastcharge_command"]

console = Console()


def _parse_windows(text: str) -> tuple[float, ...]:
    try:
        windows = tuple(float(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError as exc:
        raise VoltlabError(f"--windows {text!r}: write comma-separated SOC boundaries in %, e.g. 0,20,40,60,80",
                           value=text) from exc
    if len(windows) < 2:
        raise VoltlabError(f"--windows {text!r}: give at least two SOC boundaries, e.g. 0,20,40,60,80", value=text)
    return windows


def fastcharge_command(
    model: Annotated[str, typer.Option("--model", "-m", help="PyBaMM model: SPMe (default) or DFN.")] = "SPMe",
    parameters: Annotated[str, typer.Option("--parameters", "-p", help="PyBaMM parameter set.")] = "Chen2020",
    windows: Annotated[
        str, typer.Option("--windows", help="SOC window boundaries, %, comma-separated (first = start, last = target).")
    ] = "0,20,40,60,80",
    max_c_rate: Annotated[float, typer.Option("--max-c-rate", help="Highest C-rate searched, 1/h.")] = 4.0,
    vmax: Annotated[float, typer.Option("--vmax", help="Voltage limit, V.")] = 4.2,
    tmax: Annotated[float, typer.Option("--tmax", help="Temperature limit, °C (lumped thermal model).")] = 45.0,
    budget: Annotated[int, typer.Option("--budget", help="Protocols the BO campaign simulates.")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seed of BO and RL.")] = 0,
    plating_margin: Annotated[
        float, typer.Option("--plating-margin", help="Lowest plating margin allowed, mV vs Li (0 = the onset of "
                                                     "plating; e.g. 10 for a safety margin).")
    ] = 0.0,
    start: Annotated[
        str, typer.Option("--start", help="BO start: window-search (default; a window-by-window bisection "
                                          "protocol, told first) or none.")
    ] = "window-search",
    fade_cycles: Annotated[
        int, typer.Option("--fade-cycles", help="Also cycle each protocol N times with SEI + plating ageing "
                                                "(OKane2022) and report the fade; 0 = off.")
    ] = 0,
    rl: Annotated[bool, typer.Option("--rl/--no-rl", help="Also train a PPO policy (about 3 min).")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report file: .md (table) or .json (flat numbers).")
    ] = None,
) -> None:
    """Find the fastest charge to the target SOC without plating, within the V and T limits."""
    from voltlab.simulate.fastcharge import compare_fast_charge, write_fast_charge_report

    if out is not None and out.suffix.lower() not in (".md", ".json"):
        raise VoltlabError(f"--out {str(out)!r}: the report must end in .md or .json", value=str(out))
    w = _parse_windows(windows)
    with console.status(f"designing a fast charge: {model} / {parameters}, windows {w}, budget {budget}..."):
        result = compare_fast_charge(model=model, parameters=parameters, windows=w, max_c_rate=max_c_rate,
                                     vmax_volt=vmax, tmax_celsius=tmax, budget=budget, seed=seed, rl=rl,
                                     start=start, fade_cycles=fade_cycles,
                                     min_plating_margin_volt=plating_margin / 1000.0)
    typer.echo(result["table"])  # plain, so the markdown table is not wrapped
    flat = result["flat"]
    console.print(f"BO speed-up vs best feasible CC-CV: {flat['bo_speedup_vs_cccv_percent']:.1f} %", markup=False)
    if result["design"].message:
        console.print(f"note: {result['design'].message}", markup=False)
    if out is not None:
        console.print(f"wrote {write_fast_charge_report(result, out)}", markup=False)
