"""The ``voltlab`` command line.

Errors print one line (``error: <file>: <what and how to fix>``) and exit 1;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from voltlab.commands.campaign import campaign_app
from voltlab.commands.fastcharge import fastcharge_command
from voltlab.commands.fit import fit_command
from voltlab.commands.lifetime import lifetime_app
from voltlab.commands.materials import materials_app
from voltlab.commands.simulate import simulate_command
from voltlab.commands.study import study_app
from voltlab.errors import VoltlabError

app = typer.Typer(
    name="voltlab",
    help="voltlab: battery data, features, models, optimisation and simulation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[
    Path, typer.Option("--store", "-s", help="Dataset store folder (created on first ingest).")
]


class DuplicatePolicy(StrEnum):
    error = "error"
    skip = "skip"
    replace = "replace"


class PlotKind(StrEnum):
    fade = "fade"
    retention = "retention"
    voltage = "voltage"
    dqdv = "dqdv"
    efficiency = "efficiency"


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """voltlab: battery data, features, models, optimisation and simulation."""


def _parse_cycles(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise VoltlabError(f"--cycles must be comma-separated integers like '1,50,100', got {text!r}") from exc


@app.command()
def formats() -> None:
    """List the file formats voltlab reads (names for --format) and each reader's options (for --option)."""
    from voltlab.data.readers import available_formats, get_reader

    table = Table("format", "reads", "options")
    for name, desc in available_formats().items():
        table.add_row(name, desc, ", ".join(get_reader(name).options) or "-")
    console.print(table)


def _reader_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> reader options (VALUE as JSON where it parses, else text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise VoltlabError(f"--option {pair!r}: give KEY=VALUE, e.g. --option engine=mdbtools",
                               value=pair)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(
        help="Raw cycler files (any supported format), or folders of them (read recursively; files no reader "
             "recognises are skipped).")],
    store: StoreOption,
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Reader name (see 'voltlab formats'); detected if omitted.")
    ] = None,
    cell_id: Annotated[str | None, typer.Option(help="Cell id (one file only); default from the file name.")] = None,
    chemistry: Annotated[str | None, typer.Option(help="Cell chemistry, e.g. 'NMC811/graphite'.")] = None,
    nominal_capacity: Annotated[float | None, typer.Option(help="Nominal capacity in Ah.")] = None,
    form_factor: Annotated[str | None, typer.Option(help="cylindrical, pouch, prismatic, coin, ...")] = None,
    protocol: Annotated[str | None, typer.Option(help="Cycling protocol description.")] = None,
    batch: Annotated[str | None, typer.Option(help="Batch or protocol group (for group splits).")] = None,
    on_duplicate: Annotated[
        DuplicatePolicy, typer.Option(help="What to do with files already in the store.")
    ] = DuplicatePolicy.skip,
    workers: Annotated[int, typer.Option(help="Files parsed in parallel processes (the store has one writer).")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:port) to parse on; default $VOLTLAB_SCHEDULER.")] = None,
    timezone: Annotated[str | None, typer.Option(
        help="IANA zone of the cycler's clock, e.g. Europe/Oslo (Arbin, Maccor, Neware, BioLogic); UTC if "
             "omitted.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", metavar="KEY=VALUE",
        help="A reader option (repeatable), e.g. -o engine=mdbtools or -o test_id=2 for Arbin .res; VALUE is "
             "read as JSON when it parses (numbers, true/false, {...}), else as text. 'voltlab formats' "
             "lists each reader's options.")] = None,
) -> None:
    """Read raw cycler files, validate them and add them to a store."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from voltlab.data.store import Store

    if cell_id and (len(paths) > 1 or any(p.is_dir() for p in paths)):
        raise VoltlabError("--cell-id applies to one file; omit it to name cells after their files")
    st = Store(store)
    overrides = {
        "cell_id": cell_id, "chemistry": chemistry, "nominal_capacity_ah": nominal_capacity,
        "form_factor": form_factor, "protocol": protocol, "batch": batch, "timezone": timezone,
        **_reader_options(option or []),
    }
    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=err_console, transient=True,
    ) as bar:
        task = bar.add_task("", total=None)
        report = st.ingest(
            paths, format=format, on_duplicate=on_duplicate.value, workers=workers, scheduler=scheduler,
            progress=lambda name: bar.update(task, advance=1, description=name),
            on_files=lambda n: bar.update(task, total=n),
            **{k: v for k, v in overrides.items() if v is not None},
        )
    for path, why in report.skipped:
        console.print(Text("skipped ", style="yellow") + Text(f"{path}: {why}"), highlight=False)
    for path, why in report.failed:
        msg = why if path in why else f"{path}: {why}"
        err_console.print(Text("failed ", style="bold red") + Text(msg), highlight=False, soft_wrap=True)
    console.print(report.describe())
    if report.failed:
        raise typer.Exit(1)


@app.command()
def cells(store: StoreOption) -> None:
    """List the cells in a store."""
    from voltlab.data.store import Store

    df = Store(store, create=False).cells()
    if df.empty:
        console.print("the store is empty; add files with 'voltlab ingest FILE --store PATH'")
        return
    # The id is what 'voltlab summary CELL' needs and the format what --format takes: neither is cut
    # short. The source file's name (often the id again) is left out on a terminal under 100 columns.
    show_source = console.width >= 100
    table = Table(Column("cell_id", overflow="fold"), Column("format", overflow="fold"),
                  Column("chemistry", overflow="fold"), Column("Q nom [Ah]", overflow="fold"),
                  Column("rows", justify="right"), Column("cycles", justify="right"),
                  *([Column("source", overflow="fold")] if show_source else []))
    for r in df.itertuples():
        table.add_row(
            r.cell_id, r.source_format, r.chemistry or "-",
            f"{r.nominal_capacity_ah:g}" if r.nominal_capacity_ah else "-",
            f"{r.n_rows:,}", str(r.n_cycles), *([Path(str(r.source)).name] if show_source else []),
        )
    console.print(table)


@app.command()
def summary(
    cell: Annotated[str, typer.Argument(help="Cell id (see 'voltlab cells').")],
    store: StoreOption,
    out: Annotated[Path | None, typer.Option(help="Write the full summary to .csv or .parquet.")] = None,
    flags: Annotated[bool, typer.Option(help="Add outlier flag columns.")] = True,
) -> None:
    """Per-cycle summary of one cell (capacity, energy, efficiency, resistance, ...)."""
    from voltlab.data.cleaning import flag_cycles
    from voltlab.data.store import Store

    s = Store(store, create=False).summary(cell)
    if flags and len(s) >= 3:
        s = flag_cycles(s)
    if out is not None:
        if out.suffix.lower() == ".csv":
            s.to_csv(out, index=False)
        elif out.suffix.lower() == ".parquet":
            s.to_parquet(out, index=False)
        else:
            raise VoltlabError("--out must end in .csv or .parquet", path=out)
        console.print(f"wrote {len(s)} cycles to {out}")
    cols = [
        ("cycle_count", "cycle", "{:d}"), ("charge_capacity_ah", "Q ch [Ah]", "{:.4f}"),
        ("discharge_capacity_ah", "Q dis [Ah]", "{:.4f}"), ("coulombic_efficiency", "CE", "{:.4f}"),
        ("energy_efficiency", "EE", "{:.4f}"), ("capacity_retention", "retention", "{:.3f}"),
        ("temperature_max_celsius", "T max [°C]", "{:.1f}"), ("dc_resistance_ohm", "R dc [Ω]", "{:.4f}"),
    ]
    table = Table(*[c[1] for c in cols] + (["flags"] if "is_outlier" in s.columns else []))
    shown = s if len(s) <= 20 else s.iloc[list(range(10)) + list(range(len(s) - 10, len(s)))]
    for _, r in shown.iterrows():
        cells_ = [("-" if r[c] != r[c] else f.format(int(r[c]) if f == "{:d}" else r[c])) for c, _, f in cols]
        if "is_outlier" in s.columns:
            cells_.append(",".join(k[5:] for k in s.columns if k.startswith("flag_") and r[k]) or "")
        table.add_row(*cells_)
    console.print(table)
    if len(s) > 20:
        console.print(f"({len(s)} cycles; first and last 10 shown; use --out for all)")


@app.command()
def plot(
    cells_: Annotated[list[str], typer.Argument(metavar="CELLS...", help="Cell id(s).")],
    store: StoreOption,
    kind: Annotated[PlotKind, typer.Option("--kind", "-k", help="What to plot.")] = PlotKind.fade,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .png (static) or .html (interactive).")] = Path(
        "voltlab-plot.html"
    ),
    cycles: Annotated[str | None, typer.Option(help="Cycles for voltage/dqdv plots, e.g. '1,50,100'.")] = None,
) -> None:
    """Plot capacity fade, retention, efficiency, voltage curves or dQ/dV."""
    from voltlab.data.store import Store
    from voltlab.report import plots

    st = Store(store, create=False)
    backend = "matplotlib" if out.suffix.lower() in (".png", ".svg", ".pdf") else "plotly"
    chosen = _parse_cycles(cycles)
    if kind in (PlotKind.fade, PlotKind.retention, PlotKind.efficiency):
        sums = {c: st.summary(c) for c in cells_}
        if kind == PlotKind.efficiency:
            fig = plots.efficiency(sums, backend=backend)
        else:
            metric = "capacity_retention" if kind == PlotKind.retention else "discharge_capacity_ah"
            fig = plots.capacity_fade(sums, metric=metric, backend=backend)
    else:
        if len(cells_) != 1:
            raise VoltlabError(f"{kind.value} plots show one cell; got {len(cells_)}")
        data = st.load(cells_[0])
        if kind == PlotKind.voltage:
            fig = plots.voltage_curves(data, chosen, backend=backend)
        else:
            fig = plots.dqdv_curves(data, chosen, backend=backend)
    path = plots.save_figure(fig, out)
    console.print(f"wrote {path}")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over views timeseries, cycles, cells.")],
    store: StoreOption,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50,
) -> None:
    """Run DuckDB SQL over a store (views: timeseries, cycles, cells)."""
    from voltlab.data.store import Store

    df = Store(store, create=False).query(sql)
    table = Table(*[str(c) for c in df.columns])
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if len(df) > limit:
        console.print(f"({len(df)} rows; first {limit} shown)")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (report.html, report.pdf, figures).")] = Path(
        "voltlab-demo"
    ),
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the study (default: its config's).")] = None,
    cycling: Annotated[
        bool, typer.Option("--cycling", help="Run the tour of the cycling-data layer on the embedded cells instead.")
    ] = False,
) -> None:
    """Run the main job, the cathode-challenge study, offline on embedded data, and write its report."""
    if cycling:
        from voltlab.report.demo import write_demo_report
        from voltlab.studies.demo import run_demo

        with console.status("running the cycling-data tour..."):
            result = run_demo(out, progress=lambda msg: console.print(f"  {msg}", highlight=False))
            report = write_demo_report(result, out)
        console.print(f"[green]report:[/] {report}")
        return
    from voltlab.commands.study import run_study_command

    run_study_command("cathode-challenge", out, None, None, seed)


# Later stages' command groups, after the data commands so that --help lists them in pipeline order.
app.add_typer(lifetime_app, name="lifetime")
app.command("simulate")(simulate_command)
app.command("fit")(fit_command)
app.command("fastcharge")(fastcharge_command)
app.add_typer(campaign_app, name="campaign")
app.add_typer(study_app, name="study")
for _cmd in materials_app.registered_commands:  # materials property models: featurize / train / predict / explain
    app.registered_commands.append(_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning voltlab errors into one-line messages."""
    import click

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=args, prog_name="voltlab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except VoltlabError as exc:
        if debug:
            raise
        err_console.print(Text("error: ", style="bold red") + Text(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
