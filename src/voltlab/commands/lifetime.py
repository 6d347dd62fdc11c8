"""``voltlab lifetime train|predict|evaluate``: early cycle-life prediction on a store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from voltlab.errors import VoltlabError

lifetime_app = typer.Typer(
    help="Cycle-life prediction from early cycles (Severson et al. 2019 features), with intervals.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[Path, typer.Option("--store", "-s", help="Dataset store folder (see 'voltlab ingest').")]
ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model file (.json) from 'voltlab lifetime train'.")]
CellsArgument = Annotated[list[str] | None, typer.Argument(metavar="[CELLS]...", help="Cell ids; default all.")]


class FeatureSet(StrEnum):
    variance = "variance"
    discharge = "discharge"
    full = "full"


class Method(StrEnum):
    linear = "linear"
    ridge = "ridge"
    elastic_net = "elastic_net"
    pcr = "pcr"
    plsr = "plsr"
    rf = "rf"
    xgboost = "xgboost"
    gp = "gp"
    gp_linear = "gp_linear"


class SplitBy(StrEnum):
    cell = "cell"
    batch = "batch"
    chemistry = "chemistry"


def _progress(total: int, label: str):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"), console=err_console, transient=True)
    task = bar.add_task("", total=total)
    return bar, (lambda cell: bar.update(task, advance=1, description=cell))


def _report_inputs(store, table, cells):  # type: ignore[no-untyped-def]
    summaries = {c: store.summary(c) for c in cells}
    refs = {c: float(table.cells.loc[c, "reference_capacity_ah"]) for c in cells}
    return summaries, refs


def _print_predictions(pred) -> None:  # type: ignore[no-untyped-def]
    table = Table("cell", "predicted life", "interval", "observed", "last cycle", "RUL", "in training")
    for cell, r in pred.iterrows():
        obs = r["observed_life_cycles"]
        table.add_row(
            str(cell), f"{r['predicted_life_cycles']:.0f}", f"{r['lower_cycles']:.0f}-{r['upper_cycles']:.0f}",
            "-" if obs != obs else f"{obs:.0f}", f"{int(r['last_cycle'])}",
            f"{r['predicted_rul_cycles']:.0f}", "yes" if r["in_training"] else "",
        )
    console.print(table)


@lifetime_app.command("train")
def train(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (.json).")] = Path(
        "lifetime-model.json"),
    window: Annotated[int, typer.Option(help="Early window: features from cycles 2..WINDOW.")] = 100,
    features: Annotated[FeatureSet, typer.Option(help="Severson feature set.")] = FeatureSet.discharge,
    method: Annotated[Method, typer.Option(help="Regression method.")] = Method.elastic_net,
    eol: Annotated[float, typer.Option(help="End of life: fraction of reference capacity, e.g. 0.8.")] = 0.8,
    test_fraction: Annotated[float, typer.Option(
        help="Share of known-life cells held out for 'evaluate' (0 = train on all).")] = 0.25,
    split_by: Annotated[SplitBy, typer.Option(help="Hold out whole cells, batches or chemistries.")] = SplitBy.cell,
    coverage: Annotated[float, typer.Option(help="Nominal coverage of the intervals.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of the split and of every model component.")] = 0,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML model report here.")] = None,
    cells: CellsArgument = None,
) -> None:
    """Fit a cycle-life model on the cells of a store that reached end of life."""
    from voltlab.data.splits import split_by_cell, split_by_group
    from voltlab.data.store import Store
    from voltlab.models.early_life import EarlyLifeConfig, EarlyLifePredictor, early_life_table

    config = EarlyLifeConfig(window_cycles=window, feature_set=features.value, method=method.value,
                             eol_fraction=eol, coverage=coverage, random_state=seed)
    st = Store(store, create=False)
    ids = cells or st.cell_ids()
    bar, tick = _progress(len(ids), "features")
    with bar:
        table = early_life_table(st, config, ids, progress=tick)
    known = list(table.known)
    test: list[str] = []
    if test_fraction > 0:
        if len(known) < 4:
            raise VoltlabError(f"only {len(known)} cells with a known life: too few to hold any out; use "
                               "--test-fraction 0")
        if split_by == SplitBy.cell:
            test = split_by_cell(known, test_fraction=test_fraction, seed=seed).test
        else:
            meta = st.cells().set_index("cell_id").loc[known].reset_index()
            test = split_by_group(meta, split_by.value, test_fraction=test_fraction, seed=seed).test
    train_cells = [c for c in known if c not in set(test)]
    with console.status("fitting..."):
        model = EarlyLifePredictor(config).fit_table(table, train_cells, test)
    model.save(out)
    cv = model.cv_metrics()
    censored = int(table.cells["censored"].sum())
    console.print(
        f"trained {method.value} on {len(model.train_cells_)} cells ({len(test)} held out, {censored} censored, "
        f"{len(table.skipped)} skipped); train CV RMSE {cv['rmse_cycles']:.0f} cycles, MAPE "
        f"{cv['mape_percent']:.1f} %", highlight=False,
    )
    for cell, why in table.skipped:
        console.print(f"  skipped {cell}: {why}", highlight=False)
    console.print(f"[green]model:[/] {out}")
    if report is not None:
        from voltlab.report.lifetime import write_lifetime_report

        pred = model.predict_table(table).loc[model.train_cells_]
        summaries, refs = _report_inputs(st, table, list(pred.index))
        path = write_lifetime_report(report, model, pred, summaries=summaries, references_ah=refs,
                                     skipped=table.skipped, provenance={"store": str(st.root), "model": str(out)})
        console.print(f"[green]report:[/] {path}")


@lifetime_app.command("predict")
def predict(
    store: StoreOption,
    model: ModelOption,
    cells: CellsArgument = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write predictions to .csv or .parquet.")] = None,
) -> None:
    """Predict cycle life, interval and RUL of cells from their early cycles."""
    from voltlab.data.store import Store
    from voltlab.models.early_life import EarlyLifePredictor

    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise VoltlabError("--out must end in .csv or .parquet", path=out)
    predictor = EarlyLifePredictor.load(model)
    st = Store(store, create=False)
    ids = cells or st.cell_ids()
    bar, tick = _progress(len(ids), "features")
    with bar:
        table = predictor.table(st, ids, progress=tick)
    pred = predictor.predict_table(table)
    _print_predictions(pred)
    for cell, why in table.skipped:
        console.print(f"  no prediction for {cell}: {why}", highlight=False)
    if out is not None:
        frame = pred.reset_index()
        if out.suffix.lower() == ".csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
        console.print(f"wrote {len(frame)} predictions to {out}")


@lifetime_app.command("evaluate")
def evaluate(
    store: StoreOption,
    model: ModelOption,
    cells: CellsArgument = None,
    report: Annotated[Path, typer.Option(help="HTML report to write.")] = Path("lifetime-report.html"),
) -> None:
    """Score a model on held-out cells with a known life and write an HTML report.

    Default cells: those held out when the model was trained. Cells used for
    training are refused (that would leak).
    """
    from voltlab.data.store import Store
    from voltlab.models.early_life import EarlyLifePredictor
    from voltlab.report.lifetime import write_lifetime_report

    predictor = EarlyLifePredictor.load(model)
    st = Store(store, create=False)
    ids = cells or predictor.test_cells_ or [c for c in st.cell_ids() if c not in set(predictor.train_cells_)]
    bar, tick = _progress(len(ids), "features")
    with bar:
        table = predictor.table(st, ids, progress=tick)
    metrics = predictor.evaluate_table(table, ids)
    pred = predictor.predict_table(table)
    _print_predictions(pred)
    console.print(
        f"{int(metrics['n_cells'])} held-out cells: RMSE {metrics['rmse_cycles']:.0f} cycles, MAPE "
        f"{metrics['mape_percent']:.1f} %, 15 %-accuracy {metrics['accuracy_15pct']:.2f}, "
        f"{predictor.config.coverage:.0%}-interval coverage {metrics['interval_coverage']:.2f}", highlight=False,
    )
    summaries, refs = _report_inputs(st, table, list(pred.index))
    path = write_lifetime_report(report, predictor, pred, summaries=summaries, references_ah=refs, metrics=metrics,
                                 skipped=table.skipped, provenance={"store": str(st.root), "model": str(model)})
    console.print(f"[green]report:[/] {path}")
