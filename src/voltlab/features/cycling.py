"""Early-life cycling features (Severson et al. 2019) for cycle-life prediction.

Every featuriser here reads one cell's early cycles as an
:class:`EarlyCycleData`: its discharge Q(V) curves on a common voltage grid
(Ah, one row per cycle) plus, optionally, a per-cycle summary table
(discharge capacity, internal resistance, temperature, charge time). Two
ways in:

* the Severson data set form (a ``Qdlin`` matrix per cell on the 3.5 -> 2.0 V
  grid plus per-cycle summaries): :func:`severson_early_cycles`;
* a voltlab :class:`~voltlab.data.cycling.CyclingData`:
  :meth:`EarlyCycleData.from_cycling_data` computes Q(V) with
  :func:`voltlab.data.curves.qv_curves` on ``voltage_grid(3.5, 2.0, 1000)``
  and the summary with :func:`voltlab.data.summary.cycle_summary`. Every
  featuriser also accepts a ``CyclingData`` directly.

Featurisers (matminer protocol, :class:`~voltlab.features.base.BaseFeaturizer`):

:class:`DeltaQFeaturizer`
    Statistics of ΔQ_{b-a}(V) = Q_b(V) - Q_a(V) (default b = 100, a = 10):
    log10 variance, log10 |min|, log10 |mean|, skewness, kurtosis (and their
    log10 magnitudes, as used in the paper's models), value at 2 V.
:class:`DeltaQCurveFeaturizer`
    The ΔQ_{b-a}(V) curve itself (optionally subsampled): the "full Q(V)
    matrix" input of PCR / PLSR models.
:class:`DischargeCapacityFeaturizer`
    Capacity at the first cycle (2), max minus it, capacity at the last
    cycle, slope and intercept of linear fits over the whole window (2-100)
    and over its last 10 % (91-100).
:class:`CyclingSummaryFeaturizer`
    Mean charge time of the first 5 cycles, integral and maximum of the
    temperature, internal resistance (first cycle, minimum, last minus first).
:class:`SeversonFeaturizer`
    The paper's three feature SETS: ``"variance"``, ``"discharge"`` and
    ``"full"`` (Table 1 of Severson et al.).
:class:`ICAPeakFeaturizer`
    Position (V) and height (Ah/V) of the main dQ/dV peak per cycle and their
    change between two cycles.

:func:`summary_sequences` turns many cells into per-cycle summary sequences,
shape (n_cells, n_cycles, n_features), for sequence models.

Conventions (those of the paper's MATLAB code and of BatteryML): variance with
``ddof=1``; skewness m3 / m2^1.5 and kurtosis m4 / m2^2 (Pearson, not excess)
with population moments m_k; logarithms are base 10 of the magnitude. The
early window is configurable: ``SeversonFeaturizer.for_window(5)`` uses
ΔQ_{5-4} and cycles 2-5, ``for_window(50)`` ΔQ_{50-10}, ``for_window(100)`` the
paper's ΔQ_{100-10}.

Reference: K. A. Severson et al., "Data-driven prediction of battery cycle life
before capacity degradation", Nature Energy 4, 383-391 (2019).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.errors import DataFormatError, SchemaError
from voltlab.features.base import BaseFeaturizer

if TYPE_CHECKING:
    from voltlab.data.datasets.severson import SeversonDataset

__all__ = [
    "FEATURE_SETS",
    "CyclingSummaryFeaturizer",
    "DeltaQCurveFeaturizer",
    "DeltaQFeaturizer",
    "DischargeCapacityFeaturizer",
    "EarlyCycleData",
    "ICAPeakFeaturizer",
    "SeversonFeaturizer",
    "SummarySequences",
    "delta_q_statistics",
    "linear_fit",
    "severson_early_cycles",
    "summary_sequences",
]

SEVERSON_BIBTEX = """@article{severson2019,
  author  = {Severson, Kristen A. and Attia, Peter M. and Jin, Norman and Perkins, Nicholas and
             Jiang, Benben and Yang, Zi and Chen, Michael H. and Aykol, Muratahan and Herring, Patrick K.
             and Fraggedakis, Dimitrios and Bazant, Martin Z. and Harris, Stephen J. and
             Chueh, William C. and Braatz, Richard D.},
  title   = {Data-driven prediction of battery cycle life before capacity degradation},
  journal = {Nature Energy},
  volume  = {4},
  pages   = {383--391},
  year    = {2019},
  doi     = {10.1038/s41560-019-0356-8}
}"""

DUBARRY_BIBTEX = """@article{dubarry2012,
  author  = {Dubarry, Matthieu and Truchot, Cyril and Liaw, Bor Yann},
  title   = {Synthesize battery degradation modes via a diagnostic and prognostic model},
  journal = {Journal of Power Sources},
  volume  = {219},
  pages   = {204--216},
  year    = {2012},
  doi     = {10.1016/j.jpowsour.2012.07.016}
}"""

#: The feature sets of Severson et al. 2019 (Table 1).
FEATURE_SETS: tuple[str, ...] = ("variance", "discharge", "full")

#: Default Q(V) grid of :meth:`EarlyCycleData.from_cycling_data`, V (the Severson ``Vdlin`` grid).
DEFAULT_GRID_VOLT: tuple[float, float, int] = (3.5, 2.0, 1000)

_CHARGE_TIME_COLUMNS = ("charge_time_to_80pct_second", "charge_time_second")

CapacitySource = Literal["auto", "summary", "qv"]


# ---------------------------------------------------------------------------- helpers


def _positive_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise DataFormatError(f"{name} must be an integer >= {low}, got {value!r}", value=value)
    return int(value)


def delta_q_statistics(delta_q: npt.ArrayLike, *, ddof: int = 1) -> dict[str, float]:
    """Summary statistics of one ΔQ(V) curve (NaN points are ignored).

    Parameters
    ----------
    delta_q
        ΔQ(V) = Q_b(V) - Q_a(V), Ah, shape (n_voltage,).
    ddof
        Delta degrees of freedom of the variance (1, as MATLAB's ``var``).

    Returns
    -------
    dict
        ``variance`` (Ah²), ``min``, ``mean`` (Ah), ``skewness`` (m3 / m2^1.5)
        and ``kurtosis`` (m4 / m2², Pearson; 3 for a normal distribution),
        with m_k the population central moments.

    Raises
    ------
    DataFormatError
        Fewer than 3 finite points.

    Examples
    --------
    >>> s = delta_q_statistics([0.0, 1.0, 2.0])
    >>> s["variance"], s["mean"], s["skewness"], s["kurtosis"]
    (1.0, 1.0, 0.0, 1.5)
    """
    x = np.asarray(delta_q, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 3:
        raise DataFormatError(
            f"delta_q needs at least 3 finite points, got {x.size}; check that both cycles cover the "
            "voltage grid", value=x.size,
        )
    mean = float(x.mean())
    dev = x - mean
    m2 = float(np.mean(dev**2))
    m3 = float(np.mean(dev**3))
    m4 = float(np.mean(dev**4))
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = m3 / m2**1.5 if m2 > 0 else float("nan")
        kurt = m4 / m2**2 if m2 > 0 else float("nan")
    return {
        "variance": float(np.sum(dev**2) / (x.size - ddof)),
        "min": float(x.min()),
        "mean": mean,
        "skewness": float(skew),
        "kurtosis": float(kurt),
    }


def _log10_abs(value: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log10(abs(value))) if np.isfinite(value) else float("nan")


def linear_fit(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float]:
    """Least-squares line y = slope * x + intercept.

    Parameters
    ----------
    x, y
        Shape (n,), n >= 2, finite, ``x`` not constant.

    Returns
    -------
    (slope, intercept)

    Examples
    --------
    >>> linear_fit([1, 2, 3], [2.0, 4.0, 6.0])
    (2.0, 0.0)
    """
    xx = np.asarray(x, dtype=np.float64).ravel()
    yy = np.asarray(y, dtype=np.float64).ravel()
    if xx.size != yy.size or xx.size < 2 or np.ptp(xx) == 0:
        raise DataFormatError(
            f"a linear fit needs at least 2 points with distinct x (got {xx.size} x and {yy.size} y values)"
        )
    xm, ym = xx.mean(), yy.mean()
    slope = float(np.sum((xx - xm) * (yy - ym)) / np.sum((xx - xm) ** 2))
    return slope, float(ym - slope * xm)


def _running_median(y: np.ndarray, half: int) -> np.ndarray:
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = np.median(y[max(0, i - half): i + half + 1])
    return out


# ---------------------------------------------------------------------------- input container


@dataclass(frozen=True, slots=True, eq=False)
class EarlyCycleData:
    """One cell's early cycles: Q(V) curves on a common grid plus a per-cycle summary.

    Attributes
    ----------
    qv_ah
        Discharge capacity at each grid voltage, Ah, shape (n_cycles, n_voltage);
        NaN where a cycle does not reach a grid voltage.
    voltage_volt
        The voltage grid, V, shape (n_voltage,), strictly monotonic.
    cycles
        Cycle number of each row of ``qv_ah``, shape (n_cycles,), increasing.
    summary
        Optional per-cycle table with a ``cycle_count`` column and any of
        ``discharge_capacity_ah``, ``internal_resistance_ohm``,
        ``temperature_mean_celsius``, ``temperature_max_celsius``,
        ``charge_time_to_80pct_second`` / ``charge_time_second``. Rows with
        ``is_placeholder`` True are ignored.
    cell_id
        Name of the cell.
    source
        The raw :class:`CyclingData` when known (the ICA featuriser then uses
        :func:`voltlab.data.curves.dqdv` on it).
    """

    qv_ah: npt.NDArray[np.float64]
    voltage_volt: npt.NDArray[np.float64]
    cycles: npt.NDArray[np.int64]
    summary: pd.DataFrame | None = None
    cell_id: str = ""
    source: CyclingData | None = None

    def __post_init__(self) -> None:
        q = np.asarray(self.qv_ah, dtype=np.float64)
        v = np.asarray(self.voltage_volt, dtype=np.float64).ravel()
        c = np.asarray(self.cycles).ravel()
        if q.ndim != 2:
            raise DataFormatError(f"qv_ah must be 2-D (n_cycles, n_voltage), got shape {q.shape}", value=q.shape)
        if v.size != q.shape[1] or v.size < 3:
            raise DataFormatError(
                f"voltage_volt has {v.size} points but qv_ah has {q.shape[1]} columns; they must match "
                "(at least 3)", value=v.size,
            )
        dv = np.diff(v)
        if not np.isfinite(v).all() or not ((dv > 0).all() or (dv < 0).all()):
            raise DataFormatError("voltage_volt must be finite and strictly increasing or decreasing")
        if c.size != q.shape[0]:
            raise DataFormatError(f"cycles has {c.size} values but qv_ah has {q.shape[0]} rows; they must match")
        if c.size and (not np.issubdtype(c.dtype, np.number) or (c != np.round(c)).any()
                       or (np.diff(c) <= 0).any()):
            raise DataFormatError(f"cycles must be strictly increasing integers, got {c[:10].tolist()}...")
        if self.summary is not None and (
            not isinstance(self.summary, pd.DataFrame) or "cycle_count" not in self.summary.columns
        ):
            raise SchemaError("summary must be a DataFrame with a 'cycle_count' column", column="cycle_count")
        object.__setattr__(self, "qv_ah", q)
        object.__setattr__(self, "voltage_volt", v)
        object.__setattr__(self, "cycles", c.astype(np.int64))

    def __repr__(self) -> str:
        span = f"{self.cycles[0]}..{self.cycles[-1]}" if self.cycles.size else "none"
        return (f"EarlyCycleData(cell_id={self.cell_id!r}, cycles={span}, n_voltage={self.voltage_volt.size}, "
                f"summary={'yes' if self.summary is not None else 'no'})")

    def qv(self, cycle: int) -> npt.NDArray[np.float64]:
        """Q(V) of one cycle, Ah, shape (n_voltage,).

        Raises
        ------
        DataFormatError
            The cycle has no Q(V) curve.
        """
        pos = np.flatnonzero(self.cycles == cycle)
        if pos.size == 0:
            span = f"{self.cycles[0]}..{self.cycles[-1]}" if self.cycles.size else "none"
            raise DataFormatError(
                f"cell {self.cell_id!r} has no Q(V) curve for cycle {cycle} (cycles with curves: {span}); "
                "choose cycles inside the data's early window", value=cycle,
            )
        return self.qv_ah[pos[0]]

    def summary_column(self, column: str) -> pd.Series:
        """Per-cycle values of a summary column (index ``cycle_count``), placeholders and NaN dropped.

        Raises
        ------
        SchemaError
            No summary, or the column is missing.
        """
        if self.summary is None or column not in self.summary.columns:
            have = [] if self.summary is None else list(self.summary.columns)
            raise SchemaError(
                f"cell {self.cell_id!r} has no per-cycle {column!r} (summary columns: {have}); pass a summary "
                "with that column (e.g. from cycle_summary or load_severson_batch1_summary)", column=column,
            )
        s = self.summary
        if "is_placeholder" in s.columns:
            s = s.loc[~s["is_placeholder"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
        out = pd.Series(pd.to_numeric(s[column], errors="coerce").to_numpy(dtype=np.float64),
                        index=pd.to_numeric(s["cycle_count"], errors="coerce").to_numpy())
        out = out[np.isfinite(out.to_numpy()) & np.isfinite(out.index.to_numpy(dtype=np.float64))]
        out.index = out.index.astype(np.int64)
        out = out[~out.index.duplicated(keep="first")].sort_index()
        out.index.name = "cycle_count"
        return out

    def discharge_capacity(self, source: CapacitySource = "auto") -> pd.Series:
        """Discharge capacity per cycle, Ah (index ``cycle_count``).

        ``"summary"``: the summary's ``discharge_capacity_ah``; ``"qv"``: the
        largest Q(V) of each curve (Q at the lowest grid voltage it reaches);
        ``"auto"``: the summary when it has the column, else Q(V).
        """
        if source not in ("auto", "summary", "qv"):
            raise DataFormatError(f"capacity source must be 'auto', 'summary' or 'qv', got {source!r}", value=source)
        has_summary = self.summary is not None and "discharge_capacity_ah" in self.summary.columns
        if source == "summary" or (source == "auto" and has_summary):
            out = self.summary_column("discharge_capacity_ah")
            return out[out > 0]
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(self.qv_ah).any(axis=1)
            qmax = np.where(finite, np.nanmax(np.where(np.isfinite(self.qv_ah), self.qv_ah, -np.inf), axis=1),
                            np.nan)
        out = pd.Series(qmax, index=pd.Index(self.cycles, name="cycle_count"))
        return out[np.isfinite(out.to_numpy())]

    @classmethod
    def from_cycling_data(
        cls,
        data: CyclingData,
        *,
        grid: npt.ArrayLike | None = None,
        max_cycle: int | None = None,
    ) -> EarlyCycleData:
        """Discharge Q(V) curves and per-cycle summary of a :class:`CyclingData`.

        Parameters
        ----------
        data
            One cell's cycling data (canonical schema).
        grid
            Voltage grid, V; default ``voltage_grid(3.5, 2.0, 1000)`` (Severson's).
        max_cycle
            Keep cycles up to this number (e.g. 100) to save time; default all.

        Raises
        ------
        DataFormatError
            ``data`` is not a CyclingData, or it has no discharge curve.
        """
        from voltlab.data.curves import qv_curves, voltage_grid
        from voltlab.data.summary import cycle_summary

        if not isinstance(data, CyclingData):
            raise DataFormatError(
                f"data must be a voltlab CyclingData, got {type(data).__name__}; read the file with a voltlab "
                "reader first", value=type(data).__name__,
            )
        g = voltage_grid(*DEFAULT_GRID_VOLT) if grid is None else np.asarray(grid, dtype=np.float64)
        cycles = None
        if max_cycle is not None:
            _positive_int("max_cycle", max_cycle)
            cycles = [c for c in data.cycles if c <= max_cycle]
        qv = qv_curves(data, g, half="discharge", cycles=cycles)
        if qv.empty:
            raise DataFormatError(
                f"cell {data.cell_id!r} has no discharge curve (rows with current < 0) in the cycles asked for",
                path=data.metadata.source or None,
            )
        summary = cycle_summary(data)
        if max_cycle is not None:
            summary = summary[summary["cycle_count"] <= max_cycle].reset_index(drop=True)
        return cls(qv_ah=qv.to_numpy(dtype=np.float64), voltage_volt=g, cycles=qv.index.to_numpy(),
                   summary=summary, cell_id=data.cell_id, source=data)


def _as_early(x: Any) -> EarlyCycleData:
    if isinstance(x, EarlyCycleData):
        return x
    if isinstance(x, CyclingData):
        return EarlyCycleData.from_cycling_data(x)
    raise DataFormatError(
        f"expected an EarlyCycleData or a CyclingData, got {type(x).__name__}; build one with "
        "EarlyCycleData(...), EarlyCycleData.from_cycling_data(...) or severson_early_cycles(...)",
        value=type(x).__name__,
    )


def severson_early_cycles(
    dataset: SeversonDataset, summary: pd.DataFrame | None = None
) -> list[EarlyCycleData]:
    """One :class:`EarlyCycleData` per cell of a Severson data set.

    Parameters
    ----------
    dataset
        From :func:`voltlab.data.datasets.severson.load_severson_qdlin`
        (``qdlin_ah`` (n_cells, 1000, 99) on the 3.5 -> 2.0 V grid, cycles 2..100).
    summary
        Optional per-cycle summary of some cells (e.g.
        :func:`~voltlab.data.datasets.severson.load_severson_batch1_summary`),
        with ``cell_id`` equal to the data set's ``source_cell_id``
        (``"b1c<i>"``); the matching rows become each cell's ``summary``.
        Cells without rows get no summary.

    Returns
    -------
    list of EarlyCycleData
        In the order of ``dataset.cell_ids``.

    Notes
    -----
    With ``capacity_source="auto"`` the capacity features of cells with a
    summary use its ``QDischarge``, the others the Q(V) curves (about
    0.015 Ah lower: Qdlin stops at 2.0 V before the CV hold). Pass
    ``capacity_source="qv"`` to treat all cells alike.
    """
    for attr in ("qdlin_ah", "voltage_grid_volt", "cycle_numbers", "cell_ids", "source_cell_id"):
        if not hasattr(dataset, attr):
            raise DataFormatError(
                f"dataset lacks {attr!r}; pass the SeversonDataset returned by load_severson_qdlin", value=attr
            )
    groups: dict[str, pd.DataFrame] = {}
    if summary is not None:
        if not isinstance(summary, pd.DataFrame) or not {"cell_id", "cycle_count"} <= set(summary.columns):
            raise SchemaError("summary must be a DataFrame with 'cell_id' and 'cycle_count' columns",
                              column="cell_id")
        groups = {str(k): g.reset_index(drop=True) for k, g in summary.groupby("cell_id", sort=False)}
    q = np.asarray(dataset.qdlin_ah, dtype=np.float64)
    return [
        EarlyCycleData(
            qv_ah=q[k].T, voltage_volt=np.asarray(dataset.voltage_grid_volt), cycles=np.asarray(dataset.cycle_numbers),
            summary=groups.get(str(dataset.source_cell_id[k])) if dataset.source_cell_id[k] else None,
            cell_id=str(dataset.cell_ids[k]),
        )
        for k in range(q.shape[0])
    ]


# ---------------------------------------------------------------------------- ΔQ(V)


class DeltaQFeaturizer(BaseFeaturizer):
    """Statistics of ΔQ_{late-early}(V) = Q_late(V) - Q_early(V) (Severson et al. 2019).

    Parameters
    ----------
    late_cycle, early_cycle
        The two cycles (default 100 and 10: ΔQ_{100-10}).
    voltage_at_volt
        Voltage of the ``value_at`` feature (default 2.0 V, the end of discharge),
        linearly interpolated on the grid.
    ddof
        Delta degrees of freedom of the variance.

    Notes
    -----
    Features, in order (``<p>`` = ``delta_q_<late>_<early>``):
    ``<p>_log10_variance_ah2`` (log10 of Ah²), ``<p>_log10_abs_min_ah``,
    ``<p>_log10_abs_mean_ah`` (log10 of Ah), ``<p>_skewness``,
    ``<p>_kurtosis`` (dimensionless), ``<p>_log10_abs_skewness``,
    ``<p>_log10_kurtosis``, ``<p>_at_<v>v_ah`` (Ah). A zero statistic gives
    -inf for its logarithm.
    """

    def __init__(self, late_cycle: int = 100, early_cycle: int = 10, voltage_at_volt: float = 2.0,
                 ddof: int = 1) -> None:
        self.late_cycle = _positive_int("late_cycle", late_cycle, 0)
        self.early_cycle = _positive_int("early_cycle", early_cycle, 0)
        if self.late_cycle == self.early_cycle:
            raise DataFormatError(f"late_cycle and early_cycle must differ, both are {late_cycle}", value=late_cycle)
        if not math.isfinite(voltage_at_volt):
            raise DataFormatError(f"voltage_at_volt must be finite, got {voltage_at_volt!r}", value=voltage_at_volt)
        self.voltage_at_volt = float(voltage_at_volt)
        self.ddof = _positive_int("ddof", ddof, 0)

    @property
    def prefix(self) -> str:
        return f"delta_q_{self.late_cycle}_{self.early_cycle}"

    def delta_q(self, x: EarlyCycleData | CyclingData) -> npt.NDArray[np.float64]:
        """ΔQ(V) of one cell, Ah, shape (n_voltage,)."""
        d = _as_early(x)
        return d.qv(self.late_cycle) - d.qv(self.early_cycle)

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        d = _as_early(x)
        dq = d.qv(self.late_cycle) - d.qv(self.early_cycle)
        s = delta_q_statistics(dq, ddof=self.ddof)
        v = d.voltage_volt
        order = np.argsort(v)
        ok = np.isfinite(dq[order])
        vs, ds = v[order][ok], dq[order][ok]
        at = float(np.interp(self.voltage_at_volt, vs, ds)) if vs[0] <= self.voltage_at_volt <= vs[-1] \
            else float("nan")
        return [
            _log10_abs(s["variance"]), _log10_abs(s["min"]), _log10_abs(s["mean"]),
            s["skewness"], s["kurtosis"], _log10_abs(s["skewness"]), _log10_abs(s["kurtosis"]), at,
        ]

    def feature_labels(self) -> list[str]:
        p = self.prefix
        return [f"{p}_log10_variance_ah2", f"{p}_log10_abs_min_ah", f"{p}_log10_abs_mean_ah", f"{p}_skewness",
                f"{p}_kurtosis", f"{p}_log10_abs_skewness", f"{p}_log10_kurtosis",
                f"{p}_at_{self.voltage_at_volt:g}v_ah"]

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]


class DeltaQCurveFeaturizer(BaseFeaturizer):
    """The ΔQ_{late-early}(V) curve itself, Ah: the Q(V)-matrix input of PCR / PLSR.

    Parameters
    ----------
    late_cycle, early_cycle
        The two cycles (default 100 and 10).
    voltage_volt
        The voltage grid every cell must share, V (default Severson's
        ``voltage_grid(3.5, 2.0, 1000)``); it names the features.
    step
        Keep every ``step``-th grid point (1 = all).
    fill_value
        Replaces NaN points (grid voltages a curve does not reach), Ah.

    Notes
    -----
    Features ``delta_q_<late>_<early>_at_<V>v_ah``, one per kept grid point.
    """

    def __init__(self, late_cycle: int = 100, early_cycle: int = 10, voltage_volt: npt.ArrayLike | None = None,
                 step: int = 1, fill_value: float = 0.0) -> None:
        self.late_cycle = _positive_int("late_cycle", late_cycle, 0)
        self.early_cycle = _positive_int("early_cycle", early_cycle, 0)
        grid = np.linspace(*DEFAULT_GRID_VOLT) if voltage_volt is None else np.asarray(voltage_volt, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or not np.isfinite(grid).all():
            raise DataFormatError("voltage_volt must be a finite 1-D grid of at least 2 voltages (V)")
        self.voltage_volt = grid
        self.step = _positive_int("step", step)
        self.fill_value = float(fill_value)

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        d = _as_early(x)
        if d.voltage_volt.shape != self.voltage_volt.shape or not np.allclose(d.voltage_volt, self.voltage_volt):
            raise DataFormatError(
                f"cell {d.cell_id!r} uses a different voltage grid ({d.voltage_volt.size} points, "
                f"{d.voltage_volt[0]:g}..{d.voltage_volt[-1]:g} V) from voltage_volt; resample it on that grid "
                "(EarlyCycleData.from_cycling_data(grid=...)) or pass its grid as voltage_volt"
            )
        dq = (d.qv(self.late_cycle) - d.qv(self.early_cycle))[:: self.step]
        return np.where(np.isfinite(dq), dq, self.fill_value).tolist()

    def feature_labels(self) -> list[str]:
        return [f"delta_q_{self.late_cycle}_{self.early_cycle}_at_{v:.4f}v_ah" for v in self.voltage_volt[:: self.step]]

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]


# ---------------------------------------------------------------------------- discharge capacity


class DischargeCapacityFeaturizer(BaseFeaturizer):
    """Discharge-capacity fade features over an early window (Severson et al. 2019).

    Parameters
    ----------
    first_cycle, last_cycle
        The window (default 2..100; Severson's data have no cycle 1).
    tail_fraction
        The "tail" fit covers the last ``max(2, round(tail_fraction * n))``
        cycles of the window, n = last - first + 1 (default: 10 % -> 91..100).
    capacity_source
        ``"auto"``, ``"summary"`` or ``"qv"``: see
        :meth:`EarlyCycleData.discharge_capacity`.
    outlier_fraction
        A capacity further than this fraction from the running median of its
        5 neighbours is replaced by that median (the batch files hold
        single-cycle glitches such as 1.539 Ah in a 1.07 Ah cell); None keeps
        all values.

    Notes
    -----
    Features, in order (``a`` = first, ``b`` = last cycle, ``t`` = first tail cycle):
    ``capacity_cycle_<a>_ah``, ``capacity_max_minus_cycle_<a>_ah``,
    ``capacity_cycle_<b>_ah``, ``capacity_fit_<a>_<b>_slope_ah_per_cycle``,
    ``capacity_fit_<a>_<b>_intercept_ah``, ``capacity_fit_<t>_<b>_slope_ah_per_cycle``,
    ``capacity_fit_<t>_<b>_intercept_ah``. Fits regress capacity on the cycle
    number, so intercepts are the line's value at cycle 0. Cycles missing in
    the window are skipped; the first and last cycles must be present.
    """

    def __init__(self, first_cycle: int = 2, last_cycle: int = 100, tail_fraction: float = 0.1,
                 capacity_source: CapacitySource = "auto", outlier_fraction: float | None = 0.05) -> None:
        self.first_cycle = _positive_int("first_cycle", first_cycle, 0)
        self.last_cycle = _positive_int("last_cycle", last_cycle, 0)
        if self.last_cycle <= self.first_cycle:
            raise DataFormatError(
                f"last_cycle ({last_cycle}) must be after first_cycle ({first_cycle})", value=last_cycle
            )
        if not 0 < tail_fraction <= 1:
            raise DataFormatError(f"tail_fraction must be in (0, 1], got {tail_fraction!r}", value=tail_fraction)
        if capacity_source not in ("auto", "summary", "qv"):
            raise DataFormatError(
                f"capacity_source must be 'auto', 'summary' or 'qv', got {capacity_source!r}", value=capacity_source
            )
        if outlier_fraction is not None and not outlier_fraction > 0:
            raise DataFormatError(f"outlier_fraction must be > 0 or None, got {outlier_fraction!r}")
        self.tail_fraction = float(tail_fraction)
        self.capacity_source = capacity_source
        self.outlier_fraction = outlier_fraction

    @property
    def tail_first_cycle(self) -> int:
        n = self.last_cycle - self.first_cycle + 1
        return self.last_cycle - max(2, round(self.tail_fraction * n)) + 1

    def capacity(self, x: EarlyCycleData | CyclingData) -> pd.Series:
        """Cleaned capacity of the window's cycles, Ah (index ``cycle_count``)."""
        d = _as_early(x)
        q = d.discharge_capacity(self.capacity_source)
        q = q[(q.index >= self.first_cycle) & (q.index <= self.last_cycle)]
        for c in (self.first_cycle, self.last_cycle):
            if c not in q.index:
                raise DataFormatError(
                    f"cell {d.cell_id!r} has no discharge capacity for cycle {c} (window {self.first_cycle}.."
                    f"{self.last_cycle}); choose a window inside the data", value=c,
                )
        if self.outlier_fraction is not None and q.size >= 3:
            vals = q.to_numpy(dtype=np.float64)
            med = _running_median(vals, 2)
            bad = np.abs(vals - med) > self.outlier_fraction * np.abs(med)
            q = pd.Series(np.where(bad, med, vals), index=q.index)
        return q

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        q = self.capacity(x)
        cyc = q.index.to_numpy(dtype=np.float64)
        vals = q.to_numpy(dtype=np.float64)
        first = float(q.loc[self.first_cycle])
        slope, intercept = linear_fit(cyc, vals)
        tail = cyc >= self.tail_first_cycle
        if tail.sum() < 2:
            raise DataFormatError(
                f"fewer than 2 cycles with capacity in {self.tail_first_cycle}..{self.last_cycle}; widen the window"
            )
        t_slope, t_intercept = linear_fit(cyc[tail], vals[tail])
        return [first, float(vals.max()) - first, float(q.loc[self.last_cycle]), slope, intercept, t_slope,
                t_intercept]

    def feature_labels(self) -> list[str]:
        a, b, t = self.first_cycle, self.last_cycle, self.tail_first_cycle
        return [f"capacity_cycle_{a}_ah", f"capacity_max_minus_cycle_{a}_ah", f"capacity_cycle_{b}_ah",
                f"capacity_fit_{a}_{b}_slope_ah_per_cycle", f"capacity_fit_{a}_{b}_intercept_ah",
                f"capacity_fit_{t}_{b}_slope_ah_per_cycle", f"capacity_fit_{t}_{b}_intercept_ah"]

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]


# ---------------------------------------------------------------------------- resistance, temperature, time


class CyclingSummaryFeaturizer(BaseFeaturizer):
    """Charge time, temperature and internal-resistance features of Severson's full model.

    Parameters
    ----------
    first_cycle, last_cycle
        The window (default 2..100).
    charge_time_cycles
        Charge time is averaged over the first this-many cycles with data from
        ``first_cycle`` on (default 5).

    Notes
    -----
    Needs the summary columns ``internal_resistance_ohm``,
    ``temperature_mean_celsius``, ``temperature_max_celsius`` and
    ``charge_time_to_80pct_second`` (Severson's ``chargetime``, time to 80 %
    SOC) or else ``charge_time_second``. Features, in order:
    ``charge_time_mean_first_<n>_cycles_second`` (s),
    ``temperature_integral_<a>_<b>_celsius_cycle`` (trapezoid of the per-cycle
    mean temperature over cycle number, °C·cycle; the per-cycle summary has
    no time axis), ``temperature_max_<a>_<b>_celsius``,
    ``internal_resistance_cycle_<a>_ohm``, ``internal_resistance_min_<a>_<b>_ohm``,
    ``internal_resistance_<b>_minus_<a>_ohm``. Non-positive resistances
    (unmeasured) are ignored.
    """

    def __init__(self, first_cycle: int = 2, last_cycle: int = 100, charge_time_cycles: int = 5) -> None:
        self.first_cycle = _positive_int("first_cycle", first_cycle, 0)
        self.last_cycle = _positive_int("last_cycle", last_cycle, 0)
        if self.last_cycle <= self.first_cycle:
            raise DataFormatError(f"last_cycle ({last_cycle}) must be after first_cycle ({first_cycle})")
        self.charge_time_cycles = _positive_int("charge_time_cycles", charge_time_cycles)

    def _window(self, s: pd.Series, what: str, d: EarlyCycleData) -> pd.Series:
        s = s[(s.index >= self.first_cycle) & (s.index <= self.last_cycle)]
        if s.empty:
            raise DataFormatError(
                f"cell {d.cell_id!r} has no {what} in cycles {self.first_cycle}..{self.last_cycle}", column=what
            )
        return s

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        d = _as_early(x)
        cols = set() if d.summary is None else set(d.summary.columns)
        ct_col = next((c for c in _CHARGE_TIME_COLUMNS if c in cols), _CHARGE_TIME_COLUMNS[0])
        ct = self._window(d.summary_column(ct_col), ct_col, d)
        ct = ct[ct > 0]
        if ct.empty:
            raise DataFormatError(f"cell {d.cell_id!r}: no positive {ct_col} in the window", column=ct_col)
        t_mean = self._window(d.summary_column("temperature_mean_celsius"), "temperature_mean_celsius", d)
        t_max = self._window(d.summary_column("temperature_max_celsius"), "temperature_max_celsius", d)
        ir = self._window(d.summary_column("internal_resistance_ohm"), "internal_resistance_ohm", d)
        ir = ir[ir > 0]
        for c in (self.first_cycle, self.last_cycle):
            if c not in ir.index:
                raise DataFormatError(
                    f"cell {d.cell_id!r} has no internal resistance for cycle {c}", column="internal_resistance_ohm",
                    value=c,
                )
        tc = t_mean.index.to_numpy(dtype=np.float64)
        integral = float(np.trapezoid(t_mean.to_numpy(), tc)) if tc.size > 1 else float("nan")
        return [
            float(ct.iloc[: self.charge_time_cycles].mean()), integral, float(t_max.max()),
            float(ir.loc[self.first_cycle]), float(ir.min()), float(ir.loc[self.last_cycle] - ir.loc[self.first_cycle]),
        ]

    def feature_labels(self) -> list[str]:
        a, b = self.first_cycle, self.last_cycle
        return [f"charge_time_mean_first_{self.charge_time_cycles}_cycles_second",
                f"temperature_integral_{a}_{b}_celsius_cycle", f"temperature_max_{a}_{b}_celsius",
                f"internal_resistance_cycle_{a}_ohm", f"internal_resistance_min_{a}_{b}_ohm",
                f"internal_resistance_{b}_minus_{a}_ohm"]

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]


# ---------------------------------------------------------------------------- the paper's feature sets


class SeversonFeaturizer(BaseFeaturizer):
    """The feature sets of Severson et al. 2019 (Table 1): variance, discharge, full.

    Parameters
    ----------
    feature_set
        ``"variance"``: log10 var ΔQ. ``"discharge"``: log10 |min|, log10 var,
        log10 |skewness|, log10 kurtosis of ΔQ, capacity at the first cycle,
        max capacity minus it. ``"full"``: log10 |min|, log10 var of ΔQ,
        slope and intercept of the capacity fit over the whole window,
        capacity at the first cycle, mean charge time of the first 5 cycles,
        temperature integral, minimum internal resistance and its change
        (last minus first cycle).
    late_cycle, early_cycle
        ΔQ_{late-early} (default 100 and 10).
    first_cycle
        First cycle of the window (default 2).
    capacity_source
        See :class:`DischargeCapacityFeaturizer`.

    Notes
    -----
    ``"full"`` needs the per-cycle resistance, temperature and charge time
    (:class:`CyclingSummaryFeaturizer`); without them ``featurize`` raises.
    The capacity window ends at ``late_cycle``.
    """

    _SETS: ClassVar[dict[str, tuple[str, ...]]] = {
        "variance": ("dq:log10_variance_ah2",),
        "discharge": ("dq:log10_abs_min_ah", "dq:log10_variance_ah2", "dq:log10_abs_skewness", "dq:log10_kurtosis",
                      "cap:0", "cap:1"),
        "full": ("dq:log10_abs_min_ah", "dq:log10_variance_ah2", "cap:3", "cap:4", "cap:0", "sum:0", "sum:1",
                 "sum:4", "sum:5"),
    }

    def __init__(self, feature_set: str = "variance", late_cycle: int = 100, early_cycle: int = 10,
                 first_cycle: int = 2, capacity_source: CapacitySource = "auto") -> None:
        if feature_set not in FEATURE_SETS:
            raise DataFormatError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}", value=feature_set)
        self.feature_set = feature_set
        self.delta_q = DeltaQFeaturizer(late_cycle, early_cycle)
        self.capacity = DischargeCapacityFeaturizer(first_cycle, late_cycle, capacity_source=capacity_source)
        self.other = CyclingSummaryFeaturizer(first_cycle, late_cycle)

    @classmethod
    def for_window(cls, n_cycles: int, feature_set: str = "discharge", **kwargs: Any) -> SeversonFeaturizer:
        """Features from the first ``n_cycles`` cycles: ΔQ_{n-10} (ΔQ_{n-(n-1)} when n <= 10).

        Examples
        --------
        >>> SeversonFeaturizer.for_window(5).feature_labels()[0]
        'delta_q_5_4_log10_abs_min_ah'
        """
        n = _positive_int("n_cycles", n_cycles, 3)
        early = 10 if n > 10 else n - 1
        return cls(feature_set, late_cycle=n, early_cycle=early, **kwargs)

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        d = _as_early(x)
        keys = self._SETS[self.feature_set]
        parts: dict[str, list[float]] = {"dq": self.delta_q.featurize(d)}
        if any(k.startswith("cap:") for k in keys):
            parts["cap"] = self.capacity.featurize(d)
        if any(k.startswith("sum:") for k in keys):
            parts["sum"] = self.other.featurize(d)
        dq_labels = [lab.removeprefix(self.delta_q.prefix + "_") for lab in self.delta_q.feature_labels()]
        out = []
        for k in keys:
            kind, what = k.split(":")
            out.append(parts[kind][dq_labels.index(what)] if kind == "dq" else parts[kind][int(what)])
        return out

    def feature_labels(self) -> list[str]:
        out = []
        for k in self._SETS[self.feature_set]:
            kind, what = k.split(":")
            if kind == "dq":
                out.append(f"{self.delta_q.prefix}_{what}")
            else:
                out.append((self.capacity if kind == "cap" else self.other).feature_labels()[int(what)])
        return out

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]


# ---------------------------------------------------------------------------- ICA peaks


def _parabolic_peak(v: np.ndarray, y: np.ndarray, i: int) -> tuple[float, float]:
    """Vertex of the parabola through the peak sample and its neighbours (uniform grid)."""
    if 0 < i < y.size - 1:
        a, b, c = y[i - 1], y[i], y[i + 1]
        den = a - 2 * b + c
        if den < 0:
            off = 0.5 * (a - c) / den
            if abs(off) <= 1:
                return float(v[i] + off * (v[i + 1] - v[i])), float(b - 0.25 * (a - c) * off)
    return float(v[i]), float(y[i])


class ICAPeakFeaturizer(BaseFeaturizer):
    """Position and height of the main incremental-capacity (dQ/dV) peak per cycle.

    Parameters
    ----------
    cycles
        Cycles to describe (default 10 and 100); the last two also give the
        peak shift and height change between them.
    window_volt
        Savitzky-Golay window, V (as :func:`voltlab.data.curves.dqdv`).
    v_min, v_max
        Search the peak between these voltages, V (default the whole curve).
    half
        ``"discharge"`` or ``"charge"``: which half cycle, when the raw
        :class:`CyclingData` is available. Q(V) curves of an
        :class:`EarlyCycleData` without ``source`` are discharge curves.

    Notes
    -----
    With raw data, dQ/dV comes from :func:`voltlab.data.curves.dqdv`; from a
    Q(V) matrix, from a Savitzky-Golay derivative (polynomial order 2) of each
    curve on its grid. The main peak is the largest |dQ/dV| (discharge curves
    are negative), refined by a parabola through the three samples around
    it. Features per cycle c: ``ica_peak_cycle_<c>_volt`` (V),
    ``ica_peak_cycle_<c>_height_ah_per_volt`` (|dQ/dV|, Ah/V); then
    ``ica_peak_shift_<b>_<a>_volt`` and ``ica_peak_height_change_<b>_<a>_ah_per_volt``.
    """

    def __init__(self, cycles: Sequence[int] = (10, 100), window_volt: float = 0.04, v_min: float | None = None,
                 v_max: float | None = None, half: Literal["charge", "discharge"] = "discharge") -> None:
        cyc = [_positive_int("cycles", c, 0) for c in cycles]
        if not cyc or len(set(cyc)) != len(cyc):
            raise DataFormatError(f"cycles must be distinct cycle numbers, got {list(cycles)!r}", value=list(cycles))
        if not window_volt > 0:
            raise DataFormatError(f"window_volt must be > 0 V, got {window_volt!r}", value=window_volt)
        if half not in ("charge", "discharge"):
            raise DataFormatError(f"half must be 'charge' or 'discharge', got {half!r}", value=half)
        self.cycles = tuple(cyc)
        self.window_volt = float(window_volt)
        self.v_min = v_min
        self.v_max = v_max
        self.half = half

    def _in_range(self, v: np.ndarray) -> np.ndarray:
        ok = np.isfinite(v)
        if self.v_min is not None:
            ok &= v >= self.v_min
        if self.v_max is not None:
            ok &= v <= self.v_max
        return ok

    def _peak(self, v: np.ndarray, dqdv: np.ndarray, cycle: int, cell: str) -> tuple[float, float]:
        order = np.argsort(v)
        v, y = v[order], np.abs(dqdv[order])
        ok = self._in_range(v) & np.isfinite(y)
        if ok.sum() < 3:
            raise DataFormatError(f"cell {cell!r} cycle {cycle}: no dQ/dV points in the peak search range",
                                  value=cycle)
        v, y = v[ok], y[ok]
        return _parabolic_peak(v, y, int(np.argmax(y)))

    def peaks(self, x: EarlyCycleData | CyclingData) -> dict[int, tuple[float, float]]:
        """Cycle -> (peak voltage V, peak |dQ/dV| Ah/V)."""
        if isinstance(x, CyclingData) or (isinstance(x, EarlyCycleData) and x.source is not None):
            from voltlab.data.curves import dqdv

            raw = x if isinstance(x, CyclingData) else x.source
            table = dqdv(raw, half=self.half, cycles=list(self.cycles), window_volt=self.window_volt)
            out = {}
            for c in self.cycles:
                rows = table[table["cycle_count"] == c]
                if rows.empty:
                    raise DataFormatError(f"cell {raw.cell_id!r} has no {self.half} dQ/dV for cycle {c}", value=c)
                out[c] = self._peak(rows["voltage_volt"].to_numpy(dtype=np.float64),
                                    rows["dqdv_ah_per_volt"].to_numpy(dtype=np.float64), c, raw.cell_id)
            return out
        d = _as_early(x)
        return {c: self._peak(*self._savgol(d, c), c, d.cell_id) for c in self.cycles}

    def _savgol(self, d: EarlyCycleData, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy.signal import savgol_filter

        q = d.qv(cycle)
        v = d.voltage_volt
        ok = np.flatnonzero(np.isfinite(q))
        if ok.size < 5:
            raise DataFormatError(f"cell {d.cell_id!r} cycle {cycle}: Q(V) has fewer than 5 finite points",
                                  value=cycle)
        seg = slice(ok[0], ok[-1] + 1)
        vv = v[seg]
        qq = pd.Series(q[seg]).interpolate(limit_direction="both").to_numpy()
        dv = float(np.mean(np.diff(vv)))
        window = max(5, round(self.window_volt / abs(dv)) | 1)
        if window > qq.size:
            raise DataFormatError(
                f"cell {d.cell_id!r} cycle {cycle}: the {self.window_volt} V window is wider than the curve "
                f"({qq.size} points); lower window_volt", value=self.window_volt,
            )
        deriv = savgol_filter(qq, window, 2, deriv=1, delta=dv)
        h = window // 2
        keep = slice(h, deriv.size - h) if deriv.size > 2 * h + 2 else slice(0, deriv.size)
        return vv[keep], deriv[keep]

    def featurize(self, x: EarlyCycleData | CyclingData) -> list[float]:
        p = self.peaks(x)
        out: list[float] = []
        for c in self.cycles:
            out.extend(p[c])
        if len(self.cycles) >= 2:
            a, b = self.cycles[-2], self.cycles[-1]
            out.extend([p[b][0] - p[a][0], p[b][1] - p[a][1]])
        return out

    def feature_labels(self) -> list[str]:
        out = []
        for c in self.cycles:
            out.extend([f"ica_peak_cycle_{c}_volt", f"ica_peak_cycle_{c}_height_ah_per_volt"])
        if len(self.cycles) >= 2:
            a, b = self.cycles[-2], self.cycles[-1]
            out.extend([f"ica_peak_shift_{b}_{a}_volt", f"ica_peak_height_change_{b}_{a}_ah_per_volt"])
        return out

    def citations(self) -> list[str]:
        return [DUBARRY_BIBTEX]


# ---------------------------------------------------------------------------- sequences


@dataclass(frozen=True, slots=True, eq=False)
class SummarySequences:
    """Per-cycle feature sequences of many cells.

    Attributes
    ----------
    X
        Shape (n_cells, n_cycles, n_features); ``X[i, j]`` is cycle
        ``cycles[j]`` of cell ``cell_ids[i]``; NaN where the cycle is missing.
    cell_ids
        Shape (n_cells,).
    feature_names
        Shape (n_features,).
    cycles
        Shape (n_cycles,).
    """

    X: npt.NDArray[np.float64]
    cell_ids: tuple[str, ...]
    feature_names: tuple[str, ...]
    cycles: npt.NDArray[np.int64]


#: Features of :func:`summary_sequences` computed from the Q(V) curves.
QV_SEQUENCE_FEATURES = ("qv_capacity_ah", "delta_q_variance_ah2", "delta_q_min_ah", "delta_q_mean_ah")


def summary_sequences(
    items: Iterable[EarlyCycleData | CyclingData | pd.DataFrame],
    *,
    features: Sequence[str] = ("discharge_capacity_ah", "delta_q_variance_ah2", "delta_q_min_ah"),
    first_cycle: int = 2,
    last_cycle: int = 100,
    reference_cycle: int | None = None,
    cell_ids: Sequence[str] | None = None,
    capacity_source: CapacitySource = "auto",
    missing: Literal["raise", "nan"] = "raise",
) -> SummarySequences:
    """Per-cycle summary sequences, shape (n_cells, n_cycles, n_features), for sequence models.

    Parameters
    ----------
    items
        One per cell: an :class:`EarlyCycleData`, a :class:`CyclingData`, or
        a per-cycle summary table (``cycle_count`` plus columns; Q(V)
        features are then unavailable).
    features
        Per cycle: ``"discharge_capacity_ah"`` (see ``capacity_source``),
        ``"qv_capacity_ah"`` (largest Q(V)), ``"delta_q_variance_ah2"``,
        ``"delta_q_min_ah"``, ``"delta_q_mean_ah"`` (ΔQ(V) = Q_cycle(V) -
        Q_reference(V); 0 at the reference cycle), or any summary column
        (e.g. ``"internal_resistance_ohm"``).
    first_cycle, last_cycle
        Cycles of the time axis (all of them, missing ones NaN).
    reference_cycle
        Reference of ΔQ (default ``first_cycle``).
    cell_ids
        Row names (default each item's ``cell_id``, else its position).
    capacity_source
        For ``"discharge_capacity_ah"``: see :meth:`EarlyCycleData.discharge_capacity`.
    missing
        A summary column a cell lacks: ``"raise"`` (SchemaError) or ``"nan"``
        (that feature is NaN for the cell).

    Returns
    -------
    SummarySequences

    Raises
    ------
    DataFormatError, SchemaError
        Bad window, unknown feature, or a feature the item cannot give.
    """
    first = _positive_int("first_cycle", first_cycle, 0)
    last = _positive_int("last_cycle", last_cycle, 0)
    if last < first:
        raise DataFormatError(f"last_cycle ({last_cycle}) must be >= first_cycle ({first_cycle})")
    ref = first if reference_cycle is None else _positive_int("reference_cycle", reference_cycle, 0)
    if missing not in ("raise", "nan"):
        raise DataFormatError(f"missing must be 'raise' or 'nan', got {missing!r}", value=missing)
    feats = tuple(features)
    if not feats:
        raise DataFormatError("features is empty; name at least one per-cycle feature")
    cycles = np.arange(first, last + 1, dtype=np.int64)
    rows: list[np.ndarray] = []
    names: list[str] = []
    for k, item in enumerate(items):
        if isinstance(item, pd.DataFrame):
            if "cycle_count" not in item.columns:
                raise SchemaError(f"item {k}: the summary table has no 'cycle_count' column", column="cycle_count")
            d = EarlyCycleData(qv_ah=np.zeros((0, 3)), voltage_volt=np.array([3.0, 2.5, 2.0]),
                               cycles=np.zeros(0, dtype=np.int64), summary=item,
                               cell_id=str(item.attrs.get("cell_id", "")))
            has_qv = False
        else:
            d = _as_early(item)
            has_qv = True
        out = np.full((cycles.size, len(feats)), np.nan)
        qref = d.qv(ref) if has_qv and any(f.startswith("delta_q_") for f in feats) else None
        for j, f in enumerate(feats):
            if f in QV_SEQUENCE_FEATURES and not has_qv:
                raise DataFormatError(
                    f"item {k} is a summary table: {f!r} needs Q(V) curves (pass an EarlyCycleData or CyclingData)",
                    value=f,
                )
            if f == "discharge_capacity_ah":
                s = d.discharge_capacity(capacity_source if has_qv else "summary")
            elif f == "qv_capacity_ah":
                s = d.discharge_capacity("qv")
            elif f.startswith("delta_q_"):
                stat = {"delta_q_variance_ah2": "variance", "delta_q_min_ah": "min", "delta_q_mean_ah": "mean"}.get(f)
                if stat is None:
                    raise DataFormatError(f"unknown ΔQ feature {f!r}; accepted {QV_SEQUENCE_FEATURES[1:]}", value=f)
                vals = []
                for c in d.cycles:
                    dq = d.qv(int(c)) - qref
                    vals.append(delta_q_statistics(dq)[stat] if np.isfinite(dq).sum() >= 3 else np.nan)
                s = pd.Series(vals, index=d.cycles)
            else:
                try:
                    s = d.summary_column(f)
                except SchemaError:
                    if missing == "raise":
                        raise
                    continue
            s = s[(s.index >= first) & (s.index <= last)]
            out[s.index.to_numpy(dtype=np.int64) - first, j] = s.to_numpy(dtype=np.float64)
        rows.append(out)
        names.append(d.cell_id or str(k))
    if not rows:
        raise DataFormatError("items is empty; pass one entry per cell")
    if cell_ids is not None:
        if len(cell_ids) != len(rows):
            raise DataFormatError(f"cell_ids has {len(cell_ids)} names for {len(rows)} cells")
        names = [str(c) for c in cell_ids]
    return SummarySequences(X=np.stack(rows), cell_ids=tuple(names), feature_names=feats, cycles=cycles)
