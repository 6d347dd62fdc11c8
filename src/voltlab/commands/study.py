"""``voltlab study list|config|run``: the end-to-end case studies, one command each.

Register with ``app.add_typer(study_app, name="study")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["run_study_command", "study_app"]

console = Console()
study_app = typer.Typer(help="End-to-end case studies: list them, print a config, run one into a report.",
                        no_args_is_help=True)


@study_app.command("list")
def list_command() -> None:
    """List the studies with their question and the data they accept."""
    from voltlab.studies import list_studies

    for s in list_studies():
        typer.echo(f"{s.name}\n    {s.question}\n    data: {s.data_help or 'embedded only'}"
                   + (f"; runtime {s.runtime} on 2 cores" if s.runtime else ""))


@study_app.command("config")
def config_command(
    name: Annotated[str, typer.Argument(help="Study name (see `voltlab study list`).")],
) -> None:
    """Print a study's default config as commented TOML (save it, edit it, pass it with --config)."""
    from voltlab.studies import config_to_toml, get_study

    info = get_study(name)
    typer.echo(config_to_toml(info.config_type(), study=name), nl=False)


def run_study_command(name: str, out: Path, config: Path | None, data: Path | None, seed: int | None,
                      pdf: bool = True) -> Path:
    """Run study ``name`` and write its report; returns the report path (shared with ``voltlab demo``)."""
    from voltlab.report.study import write_study_report
    from voltlab.studies import run_study

    with console.status(f"running study {name}..."):
        result = run_study(name, out, config_file=config, data=data, seed=seed,
                           progress=lambda msg: console.print(f"  {msg}", highlight=False))
        report = write_study_report(result, out, pdf=pdf)
    for k, v in result.kpis.items():
        console.print(f"  {k}: [bold]{v}[/]", highlight=False)
    console.print(f"[green]answer:[/] {result.answer}", highlight=False)
    console.print(f"[green]report:[/] {report}")
    return report


@study_app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="Study name (see `voltlab study list`).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: study-NAME).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config file (.toml, .yaml, .json).")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Your data (see `voltlab study list`).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write report.pdf.")] = True,
) -> None:
    """Run one study offline and write report.html, report.pdf, figures/*.png and results.json."""
    run_study_command(name, out or Path(f"study-{name}"), config, data, seed, pdf)
