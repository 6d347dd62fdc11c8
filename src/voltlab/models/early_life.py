"""Cycle-life prediction for the cells of a store: early-window features, a model, a model file.

This joins the pieces that :mod:`voltlab.features.cycling` and
:mod:`voltlab.models.lifetime` provide into the workflow behind
``voltlab lifetime train|predict|evaluate``:

1. :func:`cycle_life` reads each cell's end of life from its per-cycle
   summary: the first cycle whose discharge capacity stays below
   ``eol_fraction`` (default 0.8) of the reference capacity for
   ``consecutive`` (default 2) cycles in a row. The reference is the cell's
   nominal capacity when its metadata has one, else the largest discharge
   capacity of its first 10 cycles. Cells that never get there are
   *censored*: they are predicted, never trained on.
2. :func:`common_voltage_grid` chooses one discharge voltage grid that every
   cell's early curves cover (so ΔQ(V) compares like with like across
   chemistries): from the highest per-cycle minimum to the lowest
   per-cycle maximum of the discharge voltage over the early window, 2 % of
   the span trimmed at each end.
3. :func:`early_life_table` computes Severson et al.'s features
   (:class:`~voltlab.features.cycling.SeversonFeaturizer` for the window)
   for every cell, next to its life.
4. :class:`EarlyLifePredictor` fits a :class:`~voltlab.models.lifetime.LifetimeRegressor`
   on the cells with a known life, with split-conformal intervals from
   cross-validated residuals, and predicts life and RUL with intervals.

Model files are JSON (no pickle): the settings, the voltage grid, the
training table and the fitted training predictions. Loading refits the
model from that table with the recorded seed and checks that it gives the
recorded predictions again (to 1e-6 relative), so a file can never run
different code silently.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab._files import atomic_write_text
from voltlab.errors import DataFormatError, MissingFileError, NotFittedError
from voltlab.models.lifetime import LIFETIME_METHODS, LifetimeRegressor
from voltlab.models.metrics import lifetime_metrics
from voltlab.models.rul import end_of_life_cycle

if TYPE_CHECKING:
    from voltlab.data.cycling import CyclingData
    from voltlab.data.store import Store

__all__ = [
    "EarlyLifeConfig",
    "EarlyLifePredictor",
    "EarlyLifeTable",
    "common_voltage_grid",
    "cycle_life",
    "early_life_table",
]

MODEL_FORMAT = "voltlab.early_life/1"
_FEATURE_SETS = ("variance", "discharge", "full")


@dataclass(frozen=True)
class EarlyLifeConfig:
    """Settings of an early-life cycle-life model.

    Attributes
    ----------
    window_cycles
        Early window: features use cycles 2..``window_cycles`` (ΔQ_{window-10}).
    feature_set
        Severson et al.'s set: ``"variance"``, ``"discharge"`` or ``"full"``
        (``"full"`` needs per-cycle resistance, temperature and charge time).
    method
        A :data:`~voltlab.models.lifetime.LIFETIME_METHODS` name.
    eol_fraction
        End of life: capacity below this fraction of the reference, e.g. 0.8.
    consecutive
        Cycles in a row below it (ignores single-cycle dips).
    coverage
        Nominal coverage of the prediction intervals, e.g. 0.9.
    interval_cv
        Folds of the cross-validation whose residuals calibrate the intervals.
    random_state
        Seed of every random component (folds, trees, restarts).
    grid_points
        Points of the voltage grid.
    """

    window_cycles: int = 100
    feature_set: str = "discharge"
    method: str = "elastic_net"
    eol_fraction: float = 0.8
    consecutive: int = 2
    coverage: float = 0.9
    interval_cv: int = 5
    random_state: int = 0
    grid_points: int = 1000

    def __post_init__(self) -> None:
        def integer(name: str, low: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise DataFormatError(f"{name} must be an integer >= {low}, got {v!r}", value=v)

        integer("window_cycles", 3)
        integer("consecutive", 1)
        integer("interval_cv", 2)
        integer("random_state", 0)
        integer("grid_points", 10)
        if self.feature_set not in _FEATURE_SETS:
            raise DataFormatError(f"feature_set must be one of {_FEATURE_SETS}, got {self.feature_set!r}",
                                  value=self.feature_set)
        if self.method not in LIFETIME_METHODS:
            raise DataFormatError(f"method must be one of {LIFETIME_METHODS}, got {self.method!r}", value=self.method)
        for name in ("eol_fraction", "coverage"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                raise DataFormatError(f"{name} must be a fraction in (0, 1), e.g. 0.8, got {v!r}", value=v)

    def featurizer(self) -> Any:
        """The :class:`~voltlab.features.cycling.SeversonFeaturizer` of this window and set."""
        from voltlab.features.cycling import SeversonFeaturizer

        return SeversonFeaturizer.for_window(self.window_cycles, self.feature_set)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EarlyLifeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataFormatError(f"unknown early-life setting(s) {unknown}; known: {sorted(known)}", value=unknown)
        return cls(**d)


def cycle_life(
    summary: pd.DataFrame,
    *,
    nominal_capacity_ah: float = 0.0,
    eol_fraction: float = 0.8,
    consecutive: int = 2,
) -> tuple[float, float, int]:
    """End of life of one cell from its per-cycle summary.

    Parameters
    ----------
    summary
        Per-cycle summary (``cycle_count``, ``discharge_capacity_ah``).
    nominal_capacity_ah
        Rated capacity, Ah; 0 = use the largest discharge capacity of the
        first 10 cycles as the reference.
    eol_fraction, consecutive
        See :class:`EarlyLifeConfig`.

    Returns
    -------
    (life_cycles, reference_ah, last_cycle)
        ``life_cycles`` is NaN when the cell has not reached end of life
        (censored); ``last_cycle`` is the last cycle with a discharge.

    Raises
    ------
    DataFormatError
        No discharge capacity in the summary.

    Examples
    --------
    >>> s = pd.DataFrame({"cycle_count": [1, 2, 3, 4, 5], "discharge_capacity_ah": [1.0, 0.9, 0.79, 0.78, 0.7]})
    >>> cycle_life(s, nominal_capacity_ah=1.0)
    (3.0, 1.0, 5)
    """
    if not isinstance(summary, pd.DataFrame) or not {"cycle_count", "discharge_capacity_ah"} <= set(summary.columns):
        raise DataFormatError("summary must be a per-cycle summary with 'cycle_count' and 'discharge_capacity_ah'")
    s = summary
    if "is_placeholder" in s.columns:
        s = s.loc[~s["is_placeholder"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    cyc = pd.to_numeric(s["cycle_count"], errors="coerce").to_numpy(dtype=np.float64)
    cap = pd.to_numeric(s["discharge_capacity_ah"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(cyc) & np.isfinite(cap) & (cap > 0)
    cyc, cap = cyc[ok], cap[ok]
    if cyc.size == 0:
        raise DataFormatError("the cell has no cycle with a discharge capacity > 0; it cannot have a cycle life")
    order = np.argsort(cyc, kind="stable")
    cyc, cap = cyc[order], cap[order]
    keep = np.r_[True, np.diff(cyc) > 0]
    cyc, cap = cyc[keep], cap[keep]
    ref = float(nominal_capacity_ah) if nominal_capacity_ah and nominal_capacity_ah > 0 else float(
        np.max(cap[cyc <= cyc[0] + 9]))
    life = end_of_life_cycle(cyc, cap / ref, eol_fraction, consecutive=consecutive)
    return life, ref, int(cyc[-1])


def _discharge_range(data: CyclingData, window: int) -> tuple[float, float]:
    ts = data.timeseries
    sel = (ts["cycle_count"].to_numpy() <= window) & (ts["current_ampere"].to_numpy() < 0)
    if not sel.any():
        raise DataFormatError(f"cell {data.cell_id!r} has no discharge in its first {window} cycles",
                              path=data.metadata.source or None)
    g = pd.DataFrame({"c": ts["cycle_count"].to_numpy()[sel], "v": ts["voltage_volt"].to_numpy()[sel]})
    per = g.groupby("c")["v"].agg(["min", "max"])
    per = per[(per["max"] - per["min"]) > 0]
    if per.empty:
        raise DataFormatError(f"cell {data.cell_id!r}: the early discharges have no voltage span")
    return float(per["min"].quantile(0.9)), float(per["max"].quantile(0.1))


def common_voltage_grid(
    cells: Sequence[CyclingData], window_cycles: int, n_points: int = 1000
) -> npt.NDArray[np.float64]:
    """A descending discharge-voltage grid covered by every cell's early discharges, V.

    From the highest per-cell low end to the lowest per-cell high end of the
    discharge voltage over cycles 1..``window_cycles`` (per cell: the 90th
    percentile of the per-cycle minima and the 10th of the maxima, so a few
    odd cycles do not shrink the grid), 2 % of the span trimmed at each end.

    Raises
    ------
    DataFormatError
        No cells, or their voltage ranges do not overlap (e.g. mixed chemistries).
    """
    from voltlab.data.curves import voltage_grid

    if not cells:
        raise DataFormatError("no cells to build a voltage grid from")
    ranges = [_discharge_range(c, window_cycles) for c in cells]
    low = max(r[0] for r in ranges)
    high = min(r[1] for r in ranges)
    if not high > low:
        raise DataFormatError(
            f"the cells' early discharge voltages do not overlap (common range {low:.3f}..{high:.3f} V); "
            "model cells of one chemistry together", value=(low, high),
        )
    trim = 0.02 * (high - low)
    return voltage_grid(high - trim, low + trim, n_points)


@dataclass
class EarlyLifeTable:
    """Early-life features and cycle lives of many cells.

    Attributes
    ----------
    features
        Index ``cell_id``, one column per feature (labels with units).
    cells
        Index ``cell_id``: ``cycle_life`` (cycles, NaN = censored),
        ``censored`` (bool), ``last_cycle``, ``reference_capacity_ah``, ``batch``.
    skipped
        ``(cell_id, reason)`` of cells without features (too few cycles, no
        discharge, ...).
    voltage_grid_volt
        The grid the Q(V) curves were interpolated on, V.
    """

    features: pd.DataFrame
    cells: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    voltage_grid_volt: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    @property
    def known(self) -> pd.Index:
        """Cells with features and a known cycle life (trainable, evaluable)."""
        ok = ~self.cells["censored"].to_numpy(dtype=bool)
        return self.cells.index[ok].intersection(self.features.index, sort=False)


def early_life_table(
    store: Store,
    config: EarlyLifeConfig,
    cells: Sequence[str] | None = None,
    *,
    voltage_grid_volt: npt.ArrayLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> EarlyLifeTable:
    """Features of the early window and cycle life of each cell in a store.

    Parameters
    ----------
    store
        A :class:`~voltlab.data.store.Store`.
    config
        Window, feature set and end-of-life rule.
    cells
        Cell ids; default every cell.
    voltage_grid_volt
        Q(V) grid, V; default :func:`common_voltage_grid` of these cells
        (a trained model passes its own, so features match).
    progress
        Called with each cell id as it is done.

    Raises
    ------
    DataFormatError
        A requested cell is not in the store, or no cell has features.
    """
    from voltlab.features.cycling import EarlyCycleData

    ids = list(store.cell_ids() if cells is None else cells)
    missing = [c for c in ids if c not in store]
    if missing:
        raise DataFormatError(f"cell(s) {missing} are not in the store {store.root}; see 'voltlab cells'",
                              value=missing)
    if not ids:
        raise DataFormatError(f"the store {store.root} has no cells; add some with 'voltlab ingest'")
    featurizer = config.featurizer()
    loaded: dict[str, CyclingData] = {}
    skipped: list[tuple[str, str]] = []
    info = []
    for cid in ids:
        summary = store.summary(cid)
        meta = store.metadata(cid)
        try:
            life, ref, last = cycle_life(summary, nominal_capacity_ah=meta.nominal_capacity_ah,
                                         eol_fraction=config.eol_fraction, consecutive=config.consecutive)
        except DataFormatError as exc:
            skipped.append((cid, str(exc)))
            continue
        info.append({"cell_id": cid, "cycle_life": life, "censored": not math.isfinite(life),
                     "last_cycle": last, "reference_capacity_ah": ref, "batch": meta.batch})
        if last < config.window_cycles:
            skipped.append((cid, f"only {last} cycles; the early window needs {config.window_cycles}"))
            continue
        loaded[cid] = store.load(cid)
    if voltage_grid_volt is None:
        if not loaded:
            raise DataFormatError(
                f"no cell has the {config.window_cycles} cycles the early window needs: "
                + "; ".join(f"{c}: {w}" for c, w in skipped[:5]), value=config.window_cycles,
            )
        grid = common_voltage_grid(list(loaded.values()), config.window_cycles, config.grid_points)
    else:
        grid = np.asarray(voltage_grid_volt, dtype=np.float64)
    rows = {}
    for cid, data in loaded.items():
        try:
            early = EarlyCycleData.from_cycling_data(data, grid=grid, max_cycle=config.window_cycles)
            values = featurizer.featurize(early)
        except DataFormatError as exc:
            skipped.append((cid, str(exc)))
            continue
        if not np.all(np.isfinite(values)):
            bad = [lab for lab, v in zip(featurizer.feature_labels(), values, strict=True) if not np.isfinite(v)]
            skipped.append((cid, f"features not finite: {bad} (curves do not cover the grid?)"))
            continue
        rows[cid] = values
        if progress is not None:
            progress(cid)
    features = pd.DataFrame.from_dict(rows, orient="index", columns=featurizer.feature_labels())
    features.index.name = "cell_id"
    table = pd.DataFrame(info).set_index("cell_id") if info else pd.DataFrame(
        columns=["cycle_life", "censored", "last_cycle", "reference_capacity_ah", "batch"])
    return EarlyLifeTable(features, table, skipped, grid)


class EarlyLifePredictor:
    """Cycle life from early cycles, with intervals, for cells in a store.

    Parameters
    ----------
    config
        :class:`EarlyLifeConfig` (window, features, method, seed, ...).

    Attributes
    ----------
    model_
        The fitted :class:`~voltlab.models.lifetime.LifetimeRegressor`.
    voltage_grid_volt_
        Q(V) grid the features were computed on, V.
    train_cells_, test_cells_
        Cells used to fit, and cells held out by the split at training time.
    train_table_
        Features and cycle life of the training cells.
    cv_predictions_
        Out-of-fold predicted life of each training cell, cycles (k-fold by cell).

    Examples
    --------
    >>> import tempfile
    >>> from voltlab.data.store import Store
    >>> from voltlab.models.synthetic import synthetic_cycling_fleet
    >>> store = Store(tempfile.mkdtemp())
    >>> fleet, truth = synthetic_cycling_fleet(8, seed=0, life_range_cycles=(150, 300), window_cycles=30)
    >>> for cell in fleet:
    ...     _ = store.add(cell)
    >>> cfg = EarlyLifeConfig(window_cycles=30, feature_set="variance", method="linear", interval_cv=3)
    >>> model = EarlyLifePredictor(cfg).fit_store(store)
    >>> len(model.train_cells_)
    8
    """

    def __init__(self, config: EarlyLifeConfig | None = None) -> None:
        self.config = config if config is not None else EarlyLifeConfig()

    # ------------------------------------------------------------------ fitting

    def _regressor(self) -> LifetimeRegressor:
        c = self.config
        return LifetimeRegressor(c.method, interval_cv=c.interval_cv, random_state=c.random_state)

    def fit_table(self, table: EarlyLifeTable, train_cells: Sequence[str] | None = None,
                  test_cells: Sequence[str] = ()) -> EarlyLifePredictor:
        """Fit on the known-life cells of a table (or the given subset of them).

        Raises
        ------
        DataFormatError
            Fewer known-life training cells than ``max(3, interval_cv)``.
        """
        from sklearn.model_selection import KFold, cross_val_predict

        known = list(table.known)
        chosen = known if train_cells is None else [c for c in train_cells if c in set(known)]
        need = max(3, self.config.interval_cv)
        if len(chosen) < need:
            raise DataFormatError(
                f"{len(chosen)} training cell(s) with a known cycle life and features; need at least {need} "
                f"(cells reaching {self.config.eol_fraction:.0%} of reference capacity after "
                f"{self.config.window_cycles} cycles). Skipped: "
                + ("; ".join(f"{c}: {w}" for c, w in table.skipped[:5]) or "none"), value=len(chosen),
            )
        X = table.features.loc[chosen].to_numpy(dtype=np.float64)
        y = table.cells.loc[chosen, "cycle_life"].to_numpy(dtype=np.float64)
        self.model_ = self._regressor().fit(X, y)
        cv = KFold(min(self.config.interval_cv, len(chosen)), shuffle=True, random_state=self.config.random_state)
        self.cv_predictions_ = pd.Series(
            cross_val_predict(self._regressor(), X, y, cv=cv), index=pd.Index(chosen, name="cell_id"))
        self.voltage_grid_volt_ = np.asarray(table.voltage_grid_volt, dtype=np.float64)
        self.feature_labels_ = list(table.features.columns)
        self.train_cells_ = chosen
        self.test_cells_ = [c for c in test_cells if c not in set(chosen)]
        self.train_table_ = pd.concat([table.features.loc[chosen], table.cells.loc[chosen, ["cycle_life"]]], axis=1)
        self.train_predictions_ = self.model_.predict(X)
        return self

    def fit_store(self, store: Store, cells: Sequence[str] | None = None, *,
                  test_cells: Sequence[str] = (), progress: Callable[[str], None] | None = None,
                  ) -> EarlyLifePredictor:
        """Build the table of ``cells`` (default all) and fit on those with a known life."""
        table = early_life_table(store, self.config, cells, progress=progress)
        train = [c for c in table.known if c not in set(test_cells)]
        self.last_table_ = table
        return self.fit_table(table, train, test_cells)

    # ------------------------------------------------------------------ prediction

    def _require(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this EarlyLifePredictor is not fitted: call fit_store/fit_table first, or load()")

    def table(self, store: Store, cells: Sequence[str] | None = None,
              progress: Callable[[str], None] | None = None) -> EarlyLifeTable:
        """Features of ``cells`` on this model's voltage grid."""
        self._require()
        return early_life_table(store, self.config, cells, voltage_grid_volt=self.voltage_grid_volt_,
                                progress=progress)

    def predict_table(self, table: EarlyLifeTable) -> pd.DataFrame:
        """Predicted life and interval of every cell of the table with features.

        Returns
        -------
        pandas.DataFrame
            Index ``cell_id``: ``predicted_life_cycles``, ``lower_cycles``,
            ``upper_cycles`` (the interval at ``config.coverage``),
            ``observed_life_cycles`` (NaN = censored), ``last_cycle``,
            ``predicted_rul_cycles`` (predicted life minus last cycle, at
            least 0), ``in_training`` (bool).
        """
        self._require()
        feats = table.features
        if list(feats.columns) != self.feature_labels_:
            raise DataFormatError(
                f"the table's features {list(feats.columns)[:3]}... differ from the model's "
                f"{self.feature_labels_[:3]}...; build it with predictor.table(store)",
            )
        X = feats.to_numpy(dtype=np.float64)
        if X.shape[0] == 0:
            return pd.DataFrame(columns=["predicted_life_cycles", "lower_cycles", "upper_cycles",
                                         "observed_life_cycles", "last_cycle", "predicted_rul_cycles",
                                         "in_training"])
        pred = self.model_.predict(X)
        lo, hi = self.model_.predict_interval(X, self.config.coverage)
        out = pd.DataFrame({"predicted_life_cycles": pred, "lower_cycles": lo, "upper_cycles": hi},
                           index=feats.index)
        info = table.cells.reindex(feats.index)
        out["observed_life_cycles"] = info["cycle_life"].to_numpy(dtype=np.float64)
        out["last_cycle"] = info["last_cycle"].to_numpy()
        out["predicted_rul_cycles"] = np.maximum(out["predicted_life_cycles"] - out["last_cycle"], 0.0)
        out["in_training"] = out.index.isin(self.train_cells_)
        return out

    def evaluate_table(self, table: EarlyLifeTable, cells: Sequence[str] | None = None) -> dict[str, float]:
        """RMSE (cycles), MAPE (%), 15 %-accuracy and interval coverage on known-life cells.

        ``cells`` default: the model's held-out test cells when it has any,
        else every known-life cell not used for training.

        Raises
        ------
        DataFormatError
            No known-life cell outside the training set to evaluate on.
        """
        pred = self.predict_table(table)
        if cells is None:
            pool = self.test_cells_ or [c for c in pred.index if c not in set(self.train_cells_)]
        else:
            pool = list(cells)
        pool = [c for c in pool if c in pred.index and np.isfinite(pred.loc[c, "observed_life_cycles"])]
        leaked = sorted(set(pool) & set(self.train_cells_))
        if leaked:
            raise DataFormatError(
                f"cells {leaked} were used to train this model; evaluating on them would leak. Choose other cells "
                "or retrain with --test-fraction", value=leaked,
            )
        if not pool:
            raise DataFormatError(
                "no held-out cell with a known cycle life to evaluate on: train with --test-fraction > 0 or add "
                "cells that reached end of life", value=0,
            )
        p = pred.loc[pool]
        return lifetime_metrics(p["observed_life_cycles"], p["predicted_life_cycles"], p["lower_cycles"],
                                p["upper_cycles"])

    def cv_metrics(self) -> dict[str, float]:
        """Cross-validated metrics on the training cells (k-fold by cell, seeded)."""
        self._require()
        y = self.train_table_["cycle_life"].to_numpy(dtype=np.float64)
        return lifetime_metrics(y, self.cv_predictions_.loc[self.train_cells_].to_numpy())

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (JSON-serialisable)."""
        self._require()
        from voltlab import __version__

        return {
            "format": MODEL_FORMAT,
            "voltlab_version": __version__,
            "config": self.config.to_dict(),
            "voltage_grid_volt": self.voltage_grid_volt_.tolist(),
            "feature_labels": self.feature_labels_,
            "train_cells": list(self.train_cells_),
            "test_cells": list(self.test_cells_),
            "train_features": self.train_table_[self.feature_labels_].to_numpy(dtype=np.float64).tolist(),
            "train_cycle_life": self.train_table_["cycle_life"].to_numpy(dtype=np.float64).tolist(),
            "train_predictions_cycles": np.asarray(self.train_predictions_, dtype=np.float64).tolist(),
            "cv_predictions_cycles": self.cv_predictions_.loc[self.train_cells_].to_numpy().tolist(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model file (JSON) atomically; returns its path."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "model") -> EarlyLifePredictor:
        """Rebuild from :meth:`to_dict` output: refit and check the recorded predictions."""
        if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise DataFormatError(f"{source}: not a voltlab early-life model file (format {got!r}, expected "
                                  f"{MODEL_FORMAT!r}); train one with 'voltlab lifetime train'", path=source)
        try:
            self = cls(EarlyLifeConfig.from_dict(d["config"]))
            labels = [str(x) for x in d["feature_labels"]]
            cells = [str(x) for x in d["train_cells"]]
            X = np.asarray(d["train_features"], dtype=np.float64).reshape(len(cells), len(labels))
            y = np.asarray(d["train_cycle_life"], dtype=np.float64)
            grid = np.asarray(d["voltage_grid_volt"], dtype=np.float64)
            recorded = np.asarray(d["train_predictions_cycles"], dtype=np.float64)
            cvp = np.asarray(d["cv_predictions_cycles"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"{source}: the model file is incomplete or damaged ({exc}); retrain it",
                                  path=source) from exc
        features = pd.DataFrame(X, index=pd.Index(cells, name="cell_id"), columns=labels)
        info = pd.DataFrame({"cycle_life": y, "censored": False, "last_cycle": np.nan,
                             "reference_capacity_ah": np.nan, "batch": ""}, index=features.index)
        self.fit_table(EarlyLifeTable(features, info, [], grid), cells, [str(c) for c in d.get("test_cells", [])])
        if not np.allclose(self.train_predictions_, recorded, rtol=1e-6, atol=0.0):
            worst = float(np.max(np.abs(self.train_predictions_ / recorded - 1.0)))
            raise DataFormatError(
                f"{source}: refitting the model does not reproduce its recorded predictions (worst relative "
                f"difference {worst:.2e}); it was made with voltlab {d.get('voltlab_version')!r} and different "
                "library versions. Retrain it with this installation", path=source,
            )
        self.cv_predictions_ = pd.Series(cvp, index=pd.Index(cells, name="cell_id"))
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EarlyLifePredictor:
        """Read a model file written by :meth:`save`.

        Raises
        ------
        MissingFileError
            No such file.
        DataFormatError
            Not a model file, damaged, or not reproducible with this installation.
        """
        p = Path(path)
        if not p.is_file():
            raise MissingFileError(f"{p}: no such model file; train one with 'voltlab lifetime train'", path=p)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(f"{p}: not a JSON model file ({exc}); train one with 'voltlab lifetime train'",
                                  path=p) from exc
        return cls.from_dict(d, source=str(p))
