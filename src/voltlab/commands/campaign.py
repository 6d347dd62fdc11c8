"""``voltlab campaign new|ask|tell|relate|status|plot|export``: ask/tell optimisation on a campaign file.

A campaign file is one SQLite database (see :mod:`voltlab.optimize.store`);
every command opens it, does one transaction and exits, so commands can be run
from shell scripts, lab schedulers or several terminals.
"""

from __future__ import annotations

import json
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from voltlab.errors import OptimizationError

__all__ = ["campaign_app"]

campaign_app = typer.Typer(
    help="Bayesian-optimisation campaigns: define a space, ask for points, tell results.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

CampaignArg = Annotated[Path, typer.Argument(help="Campaign file (SQLite), e.g. nmc.campaign.")]


class PlotKind(StrEnum):
    convergence = "convergence"
    pareto = "pareto"
    hypervolume = "hypervolume"
    slices = "slices"
    feasibility = "feasibility"


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def read_config(path: Path) -> dict[str, Any]:
    """Read a campaign definition from ``.toml`` or ``.json``.

    Raises
    ------
    OptimizationError
        Unreadable file, wrong suffix or invalid syntax (with the parser's message).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OptimizationError(f"cannot read campaign config: {exc.strerror}", path=path) from exc
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if not isinstance(data, dict):
                raise OptimizationError("campaign config must be a JSON object", path=path)
            return data
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise OptimizationError(f"invalid campaign config: {exc}", path=path) from exc
    raise OptimizationError("campaign config must be a .toml or .json file", path=path)


def _parse_values(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise OptimizationError(f"--value must look like name=number (e.g. capacity_mAh_g=182.5), got {item!r}") \
                from None
    return out


def _open(path: Path) -> Any:
    from voltlab.optimize import Campaign

    return Campaign.open(path)


@campaign_app.command()
def new(
    campaign: CampaignArg,
    config: Annotated[Path, typer.Option("--config", "-c", help="Space, objectives and settings (.toml or .json).")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing campaign file.")] = False,
) -> None:
    """Create a campaign file from a TOML/JSON definition (see docs/optimize.md)."""
    from voltlab.optimize import Campaign

    camp = Campaign.from_config(campaign, read_config(config), overwrite=overwrite)
    objs = ", ".join(f"{o.name} ({o.direction})" for o in camp.objectives)
    console.print(f"created {campaign}: {len(camp.space.parameters)} parameters, objectives {objs}, "
                  f"surrogate {camp.settings.surrogate}, n_init {camp.settings.n_init}, seed {camp.settings.seed}",
                  highlight=False, soft_wrap=True)


@campaign_app.command()
def ask(
    campaign: CampaignArg,
    n: Annotated[int, typer.Option("-n", help="Batch size.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suggestions as JSON lines.")] = False,
) -> None:
    """Propose N points to evaluate next (recorded as pending)."""
    camp = _open(campaign)
    batch = camp.ask(n)
    if as_json:
        for s in batch:
            typer.echo(json.dumps({"id": s.id, "point": s.point, "source": s.source}, sort_keys=True))
        return
    table = Table("id", *camp.space.names, "source")
    for s in batch:
        table.add_row(str(s.id), *[_fmt(s.point[k]) for k in camp.space.names], s.source)
    console.print(table)
    console.print(f"tell results with: voltlab campaign tell {campaign} ID "
                  + " ".join(f"--value {k}=..." for k in camp.outcome_names), highlight=False, soft_wrap=True)


@campaign_app.command()
def tell(
    campaign: CampaignArg,
    suggestion_id: Annotated[int, typer.Argument(metavar="ID", help="Suggestion id (from 'ask').")],
    value: Annotated[list[str] | None, typer.Option("--value", "-v", help="Outcome as name=number; repeat.")] = None,
    failed: Annotated[bool, typer.Option(help="The evaluation failed.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why it failed.")] = None,
) -> None:
    """Record the measured outcomes of suggestion ID (or --failed)."""
    camp = _open(campaign)
    values = _parse_values(value or []) or None
    s = camp.tell(suggestion_id, values, failed=failed, reason=reason)
    console.print(f"suggestion {s.id}: {s.status}", highlight=False, soft_wrap=True)


@campaign_app.command()
def status(campaign: CampaignArg) -> None:
    """Counts, best (or Pareto-optimal) results and pending suggestions."""
    camp = _open(campaign)
    c = camp.counts()
    console.print(f"{campaign}: {c['total']} suggestions: {c['complete']} complete, {c['failed']} failed, "
                  f"{c['pending']} pending; surrogate {camp.settings.surrogate}, mode {camp.settings.mode}",
                  highlight=False, soft_wrap=True)
    for r in camp.related():
        console.print(f"related task {r['task']!r}: {r['n_observations']} observations from {r['source']}",
                      highlight=False, soft_wrap=True)
    shown = ([camp.best()] if len(camp.objectives) == 1 else camp.pareto_front())
    shown = [s for s in shown if s is not None]
    if shown:
        title = "best feasible" if len(camp.objectives) == 1 else "Pareto front (feasible)"
        table = Table("id", *camp.space.names, *camp.outcome_names, title=title)
        for s in shown:
            table.add_row(str(s.id), *[_fmt(s.point[k]) for k in camp.space.names],
                          *[_fmt(s.values[k]) for k in camp.outcome_names])
        console.print(table)
    pending = camp.suggestions("pending")
    if pending:
        console.print("pending ids: " + ", ".join(str(s.id) for s in pending), highlight=False, soft_wrap=True)


@campaign_app.command()
def relate(
    campaign: CampaignArg,
    source: Annotated[Path, typer.Argument(
        help="A related campaign file, or a .csv table with one column per parameter and outcome.")],
    task: Annotated[str | None, typer.Option(help="Name of the related task (default: the file's stem).")] = None,
    skip_outside: Annotated[bool, typer.Option(
        help="Leave out observations outside this campaign's space instead of failing.")] = False,
) -> None:
    """Add a related task's observations (transfer learning: the GP learns how far they carry over)."""
    import pandas as pd

    camp = _open(campaign)
    outside = "skip" if skip_outside else "error"
    if source.suffix.lower() == ".csv":
        try:
            table = pd.read_csv(source)
        except (OSError, ValueError) as exc:
            raise OptimizationError(f"cannot read the related table: {exc}", path=source) from exc
        n = camp.add_related(table, task=task or source.stem, outside=outside)
    else:
        n = camp.add_related(source, task=task, outside=outside)
    name = camp.related()[-1]["task"]
    console.print(f"added {n} observations of related task {name!r} to {campaign}", highlight=False, soft_wrap=True)


@campaign_app.command()
def plot(
    campaign: CampaignArg,
    kind: Annotated[PlotKind, typer.Option("--kind", "-k", help="What to plot.")] = PlotKind.convergence,
    out: Annotated[Path, typer.Option("--out", "-o", help=".png/.svg/.pdf (static) or .html (interactive).")] = Path(
        "campaign.png"
    ),
    outcome: Annotated[str | None, typer.Option(help="slices: the outcome to slice (default objective 0).")] = None,
    x: Annotated[str | None, typer.Option("--x", help="feasibility: the parameter on the x axis.")] = None,
    y: Annotated[str | None, typer.Option("--y", help="feasibility: the parameter on the y axis.")] = None,
    objectives: Annotated[str | None, typer.Option(
        help="pareto: 2 or 3 comma-separated objectives to show (default the first three; 3 = a 3-D plot).")] = None,
) -> None:
    """Plot convergence, the Pareto front, the hypervolume trace, GP slices or the feasibility map."""
    from voltlab.optimize import plots

    camp = _open(campaign)
    backend = plots.backend_for(out)
    if kind == PlotKind.slices:
        fig = plots.gp_slices(camp, outcome, backend)
    elif kind == PlotKind.feasibility:
        if x is None or y is None:
            raise OptimizationError(f"--kind feasibility needs --x and --y, two of the parameters {camp.space.names}")
        fig = plots.feasibility_map(camp, x, y, backend)
    elif kind == PlotKind.pareto:
        names = None if objectives is None else [n.strip() for n in objectives.split(",") if n.strip()]
        fig = plots.pareto_front(camp, backend, objectives=names)
    else:
        draw = {PlotKind.convergence: plots.convergence, PlotKind.hypervolume: plots.hypervolume}[kind]
        fig = draw(camp, backend)
    console.print(f"wrote {plots.save(fig, out)}", highlight=False, soft_wrap=True)


@campaign_app.command()
def export(
    campaign: CampaignArg,
    out: Annotated[Path, typer.Argument(help="JSON file to write (atomically).")],
) -> None:
    """Export everything (space, settings, suggestions, model states) to JSON."""
    camp = _open(campaign)
    console.print(f"wrote {camp.export_json(out)}", highlight=False, soft_wrap=True)
