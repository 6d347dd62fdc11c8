"""``voltlab featurize|train|predict|explain``: composition features and property models from tables.

Tables are CSV or Parquet with a formula column (default ``formula``).
``train`` writes a JSON model file (settings, training table, recorded
predictions, model card; no pickle) and an HTML report; ``predict`` and
``explain`` load it (refit and verified, see
:class:`voltlab.models.property.PropertyRegressor`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from voltlab.errors import DataFormatError, MissingFileError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

materials_app = typer.Typer(
    help="Composition features and materials-property models (conductivity, voltage, capacity, ...).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

FormulaOption = Annotated[str, typer.Option("--formula-column", "-f", help="Column holding the formulas.")]
ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model file (.json) from 'voltlab train'.")]
_CHARGED_HELP = (
    "Column of the charged (delithiated) formula of insertion electrodes: the formula column is then the "
    "discharged state, and the features are ElectrodePairFeaturizer's host (charged) + change "
    "(discharged - charged) and the 6 RedoxFeaturizer features (oxidation-state changes, the redox couple's "
    "ionization energy), 292 in all: the representation that predicts average voltage best here "
    "(benchmarks/electrode_voltage.py).")


class Method(StrEnum):
    rf = "rf"
    xgboost = "xgboost"
    lightgbm = "lightgbm"
    gp = "gp"
    mlp = "mlp"


class SplitKind(StrEnum):
    cluster = "cluster"
    random = "random"
    group_column = "group-column"


class Interval(StrEnum):
    cv = "cv"
    split_conformal = "split"  # not "split": that would shadow str.split
    native = "native"


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet table (by extension), with voltlab errors naming the file.

    Raises
    ------
    MissingFileError
        No such file.
    DataFormatError
        Not ``.csv`` / ``.parquet``, unreadable or empty.
    """
    import pandas as pd

    if not path.is_file():
        raise MissingFileError("no such table; pass a CSV or Parquet file with a formula column", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise DataFormatError(f"unsupported table type {suffix!r}; use .csv or .parquet", path=path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"cannot read the table ({exc}); pass a valid CSV or Parquet file", path=path) from exc
    if df.empty:
        raise DataFormatError("the table has no rows", path=path)
    return df


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write CSV or Parquet by extension (``.parquet`` / ``.pq``, else CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _column(df: pd.DataFrame, name: str, path: Path, option: str) -> Any:
    if name not in df.columns:
        cols = ", ".join(map(str, list(df.columns)[:12]))
        raise SchemaError(f"no such column; the table has: {cols}. Pass the right one with {option}", path=path,
                          column=name)
    return df[name]


def _features(df: pd.DataFrame, formula_column: str, path: Path, *, cell: bool = False,
              charged_column: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Magpie features of the formula column (NaN rows for unparseable formulas), with the cell features
    of the lattice columns after them when ``cell``; with ``charged_column``, the formula column is an
    electrode's discharged state and the features are ElectrodePairFeaturizer's host + change."""
    from voltlab.features import MagpieFeaturizer

    formulas = _column(df, formula_column, path, "--formula-column").astype(str)
    if charged_column is not None:
        if cell:
            raise DataFormatError("--cell and --charged-column cannot be combined: the cell features describe "
                                  "one structure, an electrode has two states", path=path)
        if charged_column == formula_column:
            raise DataFormatError(f"--charged-column and --formula-column are both {formula_column!r}; the "
                                  "formula column is the discharged state, give the charged one's column",
                                  path=path, column=charged_column)
        from voltlab.features import ElectrodePairFeaturizer

        charged = _column(df, charged_column, path, "--charged-column").astype(str)
        feats = ElectrodePairFeaturizer().featurize_many(zip(formulas, charged, strict=True), ignore_errors=True)
        _check_some_parsed(feats.attrs["errors"], len(df), path, f"{formula_column}/{charged_column}")
        return feats, list(formulas)
    feats = MagpieFeaturizer().featurize_many(formulas, ignore_errors=True)
    _check_some_parsed(feats.attrs["errors"], len(df), path, formula_column)
    if cell:
        import pandas as pd

        errors = feats.attrs["errors"]
        feats = pd.concat([feats.reset_index(drop=True), _cell_features(df, formula_column, path)], axis=1)
        feats.attrs["errors"] = errors
    return feats, list(formulas)


def _parsed(feats: pd.DataFrame) -> Any:
    """Rows whose formula parsed (a boolean array): the others have NaN Magpie features, whatever the cell
    features say."""
    import numpy as np

    return ~np.isin(np.arange(len(feats)), list(feats.attrs.get("errors", {})))


def _cell_features(df: pd.DataFrame, formula_column: str, path: Path) -> pd.DataFrame:
    """CellFeaturizer features of every row (``li_atomic_fraction`` left out: Magpie's has the same value);
    a bad row is an error naming the table, the row and the column."""
    from voltlab.errors import VoltlabError
    from voltlab.features import CellFeaturizer

    inputs = df.reset_index(drop=True)
    if "cell_composition" not in inputs.columns:
        inputs = inputs.rename(columns={formula_column: "composition"})
    try:
        feats = CellFeaturizer().featurize_many(inputs)
    except VoltlabError as exc:
        raise DataFormatError(exc.message + " (cell features, see --cell)", path=path, row=exc.row,
                              column=exc.column) from exc
    return feats.drop(columns=["li_atomic_fraction"])


@materials_app.command("featurize")
def featurize(
    table: Annotated[Path, typer.Argument(help="CSV or Parquet table with a formula column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help=(
        "Features table to write (.csv or .parquet), or a folder (no suffix): a Parquet dataset whose parts "
        "the workers write themselves, for millions of formulas."))] = Path("features.csv"),
    formula_column: FormulaOption = "formula",
    workers: Annotated[int, typer.Option(help="Local worker processes (1: in this process).", min=1)] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:port) to featurise on; default $VOLTLAB_SCHEDULER.")] = None,
    partition_size: Annotated[int, typer.Option(help="Formulas per task (and per part file).", min=1)] = 50_000,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing features folder.")] = False,
    cell: Annotated[bool, typer.Option("--cell", help=(
        "Add the 29 other CellFeaturizer features (density, volumes, packing, lattice, crystal system, Li "
        "concentration, non-integer contents) from the columns a_angstrom, b_angstrom, c_angstrom, alpha_degree, "
        "beta_degree, gamma_degree, the cell contents (cell_composition, or the formula column with "
        "formula_units_per_cell) and optionally space_group_number. Table output only."))] = False,
    charged_column: Annotated[str | None, typer.Option("--charged-column", help=_CHARGED_HELP + (
        " Table output only."))] = None,
) -> None:
    """Magpie composition features (143 per formula, units in the names) of every row; with --cell, also
    unit-cell features from lattice columns; with --charged-column, electrode host + change features."""
    from voltlab.parallel import resolve_scheduler

    df = read_table(table)
    formulas = _column(df, formula_column, table, "--formula-column").astype(str).tolist()
    address = resolve_scheduler(scheduler)
    one_table = "--cell" if cell else "--charged-column" if charged_column is not None else None
    if one_table and (out.suffix.lower() not in (".csv", ".parquet", ".pq") or workers > 1 or address is not None):
        raise DataFormatError(f"{one_table} writes one table in this process: give --out a .csv or .parquet file "
                              "(not a folder), and no --workers or scheduler", path=out)
    no_states = 0
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        n_rows, n_features, bad = _featurize_folder(formulas, out, formula_column, workers, address,
                                                    partition_size, overwrite)
        where = f"{out}/ ({-(-n_rows // partition_size)} Parquet parts)"
    else:
        if workers > 1 or address is not None:
            feats = _featurize_parallel(formulas, workers, address, partition_size)
        else:
            feats, formulas = _features(df, formula_column, table, cell=cell, charged_column=charged_column)
        no_states = len(feats.attrs.get("no_oxidation_states", []))
        _check_some_parsed(feats.attrs.get("errors", {}), len(formulas), table, formula_column)
        feats.insert(0, formula_column, formulas)
        if charged_column is not None:
            feats.insert(1, charged_column, df[charged_column].astype(str).tolist())
        write_table(feats, out)
        n_rows, n_features = len(feats), feats.shape[1] - (2 if charged_column is not None else 1)
        bad, where = feats.attrs.get("errors", {}), str(out)
    console.print(f"{n_rows} rows x {n_features} features -> {where}"
                  + (f" ({len(bad)} unparseable formulas have NaN features)" if bad else ""))
    if charged_column is not None and no_states:
        console.print(f"{no_states} electrodes have no charge-balanced oxidation states (alloys, intermetallics): "
                      "their redox_* features are NaN")


def _check_some_parsed(bad: dict[int, str], n_rows: int, path: Path, formula_column: str) -> None:
    if n_rows and len(bad) == n_rows:
        r, msg = next(iter(bad.items()))
        raise DataFormatError(f"no formula could be parsed (first: {msg}); check --formula-column", path=path,
                              row=int(r), column=formula_column)


def _progress_bar(total: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]featurize"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("", total=total)
    return bar, lambda done: bar.update(task, completed=done)


def _featurize_parallel(formulas: list[str], workers: int, address: str | None, partition_size: int) -> pd.DataFrame:
    from voltlab.features import MagpieFeaturizer
    from voltlab.features.distributed import featurize_partitions

    bar, progress = _progress_bar(len(formulas))
    with bar:
        return featurize_partitions(MagpieFeaturizer(), formulas, partition_size=partition_size, workers=workers,
                                    scheduler=address, ignore_errors=True, progress=progress)


def _featurize_folder(formulas: list[str], out: Path, formula_column: str, workers: int, address: str | None,
                      partition_size: int, overwrite: bool) -> tuple[int, int, dict[int, str]]:
    from voltlab.features import MagpieFeaturizer
    from voltlab.features.distributed import featurize_to_parquet

    bar, progress = _progress_bar(len(formulas))
    with bar:
        res = featurize_to_parquet(MagpieFeaturizer(), formulas, out, partition_size=partition_size,
                                   workers=workers, scheduler=address, ignore_errors=True, overwrite=overwrite,
                                   formula_column=formula_column, progress=progress)
    _check_some_parsed(res.errors, res.n_rows, out, formula_column)
    return res.n_rows, res.n_features, res.errors


def _split(kind: SplitKind, X: Any, df: pd.DataFrame, group_column: str | None, test_fraction: float, seed: int,
           path: Path) -> tuple[Any, Any, str]:
    import numpy as np

    from voltlab.models.property import cluster_holdout, group_kfold_indices

    n = len(df)
    if not 0 < test_fraction < 0.6:
        raise DataFormatError(f"--test-fraction must be in (0, 0.6), got {test_fraction}", value=test_fraction)
    if kind == SplitKind.cluster:
        k = max(2, min(5, n // 10))
        tr, te, _ = cluster_holdout(X, n_clusters=k, test_fraction=test_fraction, seed=seed)
        return tr, te, (f"leave-cluster-out: KMeans ({k} clusters, seed {seed}) on standardised features; whole "
                        f"clusters held out until >= {test_fraction:.0%} of rows")
    if kind == SplitKind.random:
        perm = np.random.default_rng(seed).permutation(n)
        n_te = max(1, round(test_fraction * n))
        return np.sort(perm[n_te:]), np.sort(perm[:n_te]), f"random {test_fraction:.0%} of rows (seed {seed})"
    if not group_column:
        raise DataFormatError("--split group-column needs --group-column NAME (e.g. a chemical-family column)")
    groups = _column(df, group_column, path, "--group-column").astype(str).to_numpy()
    k = max(2, min(round(1 / test_fraction), np.unique(groups).size))
    tr, te = group_kfold_indices(groups, k, seed)[0]
    return tr, te, f"group hold-out by column {group_column!r}: 1 of {k} group folds (seed {seed})"


@materials_app.command("train")
def train(
    table: Annotated[Path, typer.Argument(help="CSV or Parquet table: formula column + target column.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target column (e.g. average_voltage_volt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (.json).")] = Path(
        "property-model.json"),
    report: Annotated[Path | None, typer.Option(help="HTML report to write (default: next to the model).")] = None,
    formula_column: FormulaOption = "formula",
    method: Annotated[Method, typer.Option(help="Regression method.")] = Method.rf,
    split: Annotated[SplitKind, typer.Option(help="Hold-out split: KMeans clusters, random rows or groups.")] = (
        SplitKind.cluster),
    group_column: Annotated[str | None, typer.Option(help="Group column for --split group-column.")] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of rows held out.")] = 0.2,
    interval: Annotated[Interval, typer.Option(help="Interval method (cv, split conformal, or native).")] = (
        Interval.cv),
    coverage: Annotated[float, typer.Option(help="Nominal coverage of the intervals.")] = 0.9,
    unit: Annotated[str, typer.Option(help="Unit of the target, for the card and plots (e.g. V).")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the split and of the model.")] = 0,
    learning_curve: Annotated[bool, typer.Option(help="Add a learning curve to the report (extra fits).")] = True,
    cell: Annotated[bool, typer.Option("--cell", help=(
        "Also use the CellFeaturizer features of the lattice columns (see `voltlab featurize --cell`); "
        "predict and explain then need those columns too (the model card says so)."))] = False,
    charged_column: Annotated[str | None, typer.Option("--charged-column", help=_CHARGED_HELP + (
        " The model card records it; predict and explain then read the same column."))] = None,
) -> None:
    """Fit a property model on the training split, report held-out metrics, write model + report."""
    import numpy as np
    import pandas as pd

    from voltlab.models.property import PropertyRegressor, explain, regression_metrics
    from voltlab.report.property import learning_curve as curve_of
    from voltlab.report.property import write_property_report

    df = read_table(table)
    y_all = pd.to_numeric(_column(df, target, table, "--target"), errors="coerce").to_numpy(dtype=np.float64)
    feats, formulas = _features(df, formula_column, table, cell=cell, charged_column=charged_column)
    keep = np.isfinite(y_all) & _parsed(feats)
    if keep.sum() < 10:
        raise DataFormatError(f"only {int(keep.sum())} rows have a numeric target and a parseable formula; need "
                              "at least 10", path=table, column=target)
    df, feats = df.loc[keep].reset_index(drop=True), feats.loc[keep].reset_index(drop=True)
    formulas = [f for f, k in zip(formulas, keep, strict=True) if k]
    X, y = feats.to_numpy(dtype=np.float64), y_all[keep]
    tr, te, split_text = _split(split, X, df, group_column, test_fraction, seed, table)
    with console.status(f"fitting {method.value} on {tr.size} rows..."):
        model = PropertyRegressor(method.value, interval=interval.value, random_state=seed).fit(X[tr], y[tr])
        pred = model.predict(X[te])
        lo, hi = model.predict_interval(X[te], coverage)
    metrics = {f"test_{k}": v for k, v in regression_metrics(y[te], pred, lo, hi).items()}
    from voltlab import __version__
    from voltlab.models.property import _versions

    card = {
        "data_source": str(table), "target": target, "target_unit": unit, "formula_column": formula_column,
        "n_rows": len(df), "n_train": int(tr.size), "n_test": int(te.size), "split": split_text,
        "method": method.value, "interval": interval.value, "coverage": coverage, "seed": seed,
        "features": (f"ElectrodePairFeaturizer (voltlab.features), {X.shape[1]} features: MagpieFeaturizer of "
                     f"the charged formula ({charged_column!r}, host_), discharged - charged ({formula_column!r}, "
                     "change_), and RedoxFeaturizer's redox_* features") if charged_column is not None else (
            "MagpieFeaturizer (voltlab.features), 143 composition features" + (
                f", and {X.shape[1] - 143} CellFeaturizer cell features of the lattice columns" if cell else "")),
        "cell_features": cell, "charged_column": charged_column, "n_features": X.shape[1],
        "metrics": metrics, "feature_labels": list(feats.columns), "voltlab_version": __version__,
        "versions": _versions(), "train_formulas": [formulas[i] for i in tr],
    }
    out_path = model.save(out, X[tr], y[tr], feature_labels=list(feats.columns), card=card)
    curve = curve_of(model, X[tr], y[tr], seed=seed) if learning_curve and tr.size >= 15 else None
    importance = explain(model, X[te], feature_labels=list(feats.columns), seed=seed)
    rep = write_property_report(report or out.with_suffix(".html"), model, {**card, "train_formulas": len(tr)},
                                y_test=y[te], pred_test=pred, lower=lo, upper=hi,
                                test_labels=[formulas[i] for i in te], curve=curve, importance=importance)
    console.print(f"{method.value}: held-out MAE {metrics['test_mae']:.4g} {unit}, R² {metrics['test_r2']:.3f}, "
                  f"{coverage:.0%} interval coverage {metrics['test_coverage']:.2f} ({te.size} rows; {split_text})")
    console.print(f"model: {out_path}\nreport: {rep}")


def _model_features(m: Any, df: pd.DataFrame, formula_column: str, path: Path, charged_column: str | None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The features a loaded model was trained on (its card says which), for the rows of ``df``."""
    charged = charged_column or m.card_.get("charged_column")
    if charged_column is not None and not m.card_.get("charged_column"):
        raise DataFormatError("--charged-column is for electrode models (trained with --charged-column); this "
                              "model takes one formula per row", path=path)
    return _features(df, formula_column, path, cell=bool(m.card_.get("cell_features", False)),
                     charged_column=charged or None)


def _load(model: Path) -> Any:
    from voltlab.models.property import PropertyRegressor

    with console.status("loading (refit and verify)..."):
        return PropertyRegressor.load(model)


@materials_app.command("predict")
def predict(
    table: Annotated[Path, typer.Argument(help="CSV or Parquet table with a formula column.")],
    model: ModelOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictions table (.csv or .parquet).")] = Path(
        "predictions.csv"),
    formula_column: FormulaOption = "formula",
    coverage: Annotated[float | None, typer.Option(help="Interval coverage (default: the model card's).")] = None,
    charged_column: Annotated[str | None, typer.Option("--charged-column", help=(
        "Charged-formula column of an electrode model (default: the one named in the model card)."))] = None,
) -> None:
    """Predict the model's target (with an interval) for every formula of a table."""
    import numpy as np
    import pandas as pd

    m = _load(model)
    df = read_table(table)
    feats, formulas = _model_features(m, df, formula_column, table, charged_column)
    if list(feats.columns) != m.feature_labels_:
        raise DataFormatError("the model was trained on other features; retrain it with this voltlab", path=model)
    cov = float(coverage if coverage is not None else m.card_.get("coverage", 0.9))
    X = feats.to_numpy(dtype=np.float64)
    ok = _parsed(feats)
    pred, lo, hi = (np.full(len(df), np.nan) for _ in range(3))
    if ok.any():
        pred[ok] = m.predict(X[ok])
        lo[ok], hi[ok] = m.predict_interval(X[ok], cov)
    name = str(m.card_.get("target", "property"))
    res = pd.DataFrame({formula_column: formulas, f"predicted_{name}": pred, "lower": lo, "upper": hi})
    charged = charged_column or m.card_.get("charged_column")
    if charged:
        res.insert(1, charged, df[charged].astype(str).tolist())
    res.attrs["coverage"] = cov
    write_table(res, out)
    console.print(f"{int(ok.sum())} predictions ({cov:.0%} intervals) -> {out}"
                  + (f"; {int((~ok).sum())} unparseable formulas left empty" if (~ok).any() else ""))


@materials_app.command("explain")
def explain_command(
    model: ModelOption,
    table: Annotated[Path | None, typer.Argument(help="Rows to explain (default: the training rows).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Importance table (.csv or .parquet).")] = Path(
        "importance.csv"),
    formula_column: FormulaOption = "formula",
    top: Annotated[int, typer.Option(help="Features to print.")] = 10,
    charged_column: Annotated[str | None, typer.Option("--charged-column", help=(
        "Charged-formula column of an electrode model (default: the one named in the model card)."))] = None,
) -> None:
    """Mean |SHAP| per feature (target units), largest first."""
    import numpy as np
    import pandas as pd

    from voltlab.models.property import explain

    m = _load(model)
    if table is None:
        X = m.train_X_
    else:
        feats, _ = _model_features(m, read_table(table), formula_column, table, charged_column)
        X = feats.to_numpy(dtype=np.float64)[_parsed(feats)]
    imp = explain(m, X, feature_labels=m.feature_labels_)
    write_table(pd.DataFrame({"feature": imp.index, "mean_abs_shap": imp.to_numpy()}), out)
    unit = m.card_.get("target_unit", "")
    for name, v in imp.head(top).items():
        console.print(f"{v:10.4g} {unit}  {name}", highlight=False)
    console.print(f"-> {out}")
