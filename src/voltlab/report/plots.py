"""Standard cycling plots, as interactive Plotly figures and static matplotlib PNGs.

Each plot exists in two renderings built from the same data-preparation
function, so the HTML report and the PNG export always show the same thing:

``capacity_fade``
    Discharge capacity (Ah) or retention (%) against cycle number, one trace
    per cell, outlier cycles marked.
``voltage_curves``
    Voltage (V) against capacity (Ah) for selected cycles of one cell.
``dqdv_curves``
    Incremental capacity dQ/dV (Ah/V) against voltage for selected cycles.
``efficiency``
    Coulombic efficiency against cycle number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from voltlab.data.cleaning import flag_cycles
from voltlab.data.curves import dqdv
from voltlab.data.cycling import CyclingData
from voltlab.errors import DataFormatError

__all__ = [
    "PLOT_KINDS",
    "capacity_fade",
    "dqdv_curves",
    "efficiency",
    "pick_cycles",
    "save_figure",
    "voltage_curves",
]

PLOT_KINDS = ("fade", "retention", "voltage", "dqdv", "efficiency")
Backend = Literal["plotly", "matplotlib"]
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def pick_cycles(cycles: Sequence[int], n: int = 5) -> list[int]:
    """Up to ``n`` cycles spread evenly from first to last (always both ends).

    Examples
    --------
    >>> pick_cycles(list(range(1, 101)), 3)
    [1, 50, 100]
    """
    c = sorted({int(x) for x in cycles})
    if len(c) <= n:
        return c
    idx = np.unique(np.round(np.linspace(0, len(c) - 1, n)).astype(int))
    return [c[i] for i in idx]


def _new_figure(backend: Backend, title: str, xlabel: str, ylabel: str) -> Any:
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.update_layout(
            title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white",
            legend={"orientation": "h", "y": -0.2}, margin={"l": 60, "r": 20, "t": 50, "b": 60},
        )
        return fig
    if backend == "matplotlib":
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        return fig
    raise DataFormatError(f"backend must be 'plotly' or 'matplotlib', got {backend!r}", value=backend)


def _line(fig: Any, backend: Backend, x: Any, y: Any, name: str, color: str, *, markers: bool = False,
          dash: bool = False) -> None:
    if backend == "plotly":
        import plotly.graph_objects as go

        fig.add_trace(
            go.Scatter(
                x=np.asarray(x), y=np.asarray(y), name=name,
                mode="lines+markers" if markers else "lines",
                line={"color": color, "dash": "dash" if dash else "solid"},
                marker={"size": 4},
            )
        )
    else:
        ax = fig.axes[0]
        ax.plot(x, y, label=name, color=color, linestyle="--" if dash else "-",
                marker="o" if markers else None, markersize=2)


def _scatter(fig: Any, backend: Backend, x: Any, y: Any, name: str, color: str) -> None:
    if backend == "plotly":
        import plotly.graph_objects as go

        fig.add_trace(go.Scatter(x=np.asarray(x), y=np.asarray(y), name=name, mode="markers",
                                 marker={"color": color, "symbol": "x", "size": 9}))
    else:
        fig.axes[0].scatter(x, y, label=name, color=color, marker="x", s=30, zorder=3)


def _finish(fig: Any, backend: Backend) -> Any:
    if backend == "matplotlib":
        ax = fig.axes[0]
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig


def capacity_fade(
    summaries: Mapping[str, pd.DataFrame],
    *,
    metric: Literal["discharge_capacity_ah", "capacity_retention"] = "discharge_capacity_ah",
    backend: Backend = "plotly",
    mark_outliers: bool = True,
) -> Any:
    """Capacity (Ah) or retention (%) against cycle, one trace per cell.

    Parameters
    ----------
    summaries
        Cell id -> per-cycle summary (:func:`voltlab.data.cycle_summary`).
    metric
        Column to plot; retention is shown in %.
    backend
        ``"plotly"`` (interactive) or ``"matplotlib"`` (static).
    mark_outliers
        Mark cycles flagged by :func:`voltlab.data.flag_cycles`.
    """
    if not summaries:
        raise DataFormatError("no cells to plot")
    scale = 100.0 if metric == "capacity_retention" else 1.0
    ylabel = "Capacity retention [%]" if metric == "capacity_retention" else "Discharge capacity [Ah]"
    fig = _new_figure(backend, "Capacity fade", "Cycle number", ylabel)
    for k, (cell, s) in enumerate(summaries.items()):
        color = _COLORS[k % len(_COLORS)]
        if metric not in s.columns:
            raise DataFormatError(f"summary of {cell!r} has no column {metric!r}", column=metric)
        valid = s[s["discharge_capacity_ah"] > 0]
        _line(fig, backend, valid["cycle_count"], valid[metric] * scale, cell, color)
        if mark_outliers and len(valid) >= 3:
            flagged = flag_cycles(valid)
            out = flagged[flagged["is_outlier"]]
            if not out.empty:
                _scatter(fig, backend, out["cycle_count"], out[metric] * scale, f"{cell} outliers", color)
    return _finish(fig, backend)


def efficiency(summaries: Mapping[str, pd.DataFrame], *, backend: Backend = "plotly") -> Any:
    """Coulombic efficiency (%) against cycle, one trace per cell."""
    fig = _new_figure(backend, "Coulombic efficiency", "Cycle number", "Coulombic efficiency [%]")
    for k, (cell, s) in enumerate(summaries.items()):
        ok = s["coulombic_efficiency"].notna()
        _line(fig, backend, s.loc[ok, "cycle_count"], 100 * s.loc[ok, "coulombic_efficiency"], cell,
              _COLORS[k % len(_COLORS)])
    return _finish(fig, backend)


def _half_cycle_rows(ts: pd.DataFrame, cycle: int) -> list[tuple[str, pd.DataFrame]]:
    rows = ts[ts["cycle_count"] == cycle]
    out = []
    for half, mask, col in (("charge", rows["current_ampere"] > 0, "charging_capacity_ah"),
                            ("discharge", rows["current_ampere"] < 0, "discharging_capacity_ah")):
        part = rows[mask]
        if len(part) < 2:
            continue
        if col in part.columns and part[col].notna().all():
            q = part[col].to_numpy(dtype=np.float64)
            q = q - q[0]
        else:
            t = part["test_time_second"].to_numpy(dtype=np.float64)
            i = np.abs(part["current_ampere"].to_numpy(dtype=np.float64))
            q = np.r_[0.0, np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))] / 3600.0
        out.append((half, pd.DataFrame({"q": q, "v": part["voltage_volt"].to_numpy()})))
    return out


def voltage_curves(
    data: CyclingData, cycles: Sequence[int] | None = None, *, backend: Backend = "plotly"
) -> Any:
    """Voltage (V) against capacity passed in the half cycle (Ah), per selected cycle.

    Charge is drawn solid and discharge dashed; by default five cycles from
    first to last.
    """
    chosen = list(cycles) if cycles else pick_cycles(data.cycles, 5)
    missing = sorted(set(chosen) - set(data.cycles))
    if missing:
        raise DataFormatError(
            f"cycle(s) {missing} not in cell {data.cell_id!r} (cycles {data.cycles[0]}..{data.cycles[-1]})",
            value=missing,
        )
    fig = _new_figure(backend, f"Voltage curves: {data.cell_id}", "Capacity [Ah]", "Voltage [V]")
    for k, c in enumerate(chosen):
        color = _COLORS[k % len(_COLORS)]
        for half, df in _half_cycle_rows(data.timeseries, c):
            _line(fig, backend, df["q"], df["v"], f"cycle {c} {half}", color, dash=half == "discharge")
    return _finish(fig, backend)


def dqdv_curves(
    data: CyclingData,
    cycles: Sequence[int] | None = None,
    *,
    half: Literal["charge", "discharge"] = "discharge",
    backend: Backend = "plotly",
    **dqdv_options: Any,
) -> Any:
    """dQ/dV (Ah/V) against voltage for selected cycles (see :func:`voltlab.data.dqdv`)."""
    chosen = list(cycles) if cycles else pick_cycles(data.cycles, 5)
    ica = dqdv(data, half=half, cycles=chosen, **dqdv_options)
    fig = _new_figure(backend, f"Incremental capacity ({half}): {data.cell_id}", "Voltage [V]", "dQ/dV [Ah/V]")
    for k, (c, part) in enumerate(ica.groupby("cycle_count", sort=True)):
        _line(fig, backend, part["voltage_volt"], part["dqdv_ah_per_volt"], f"cycle {c}",
              _COLORS[k % len(_COLORS)])
    return _finish(fig, backend)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write a figure: ``.png`` (matplotlib figure) or ``.html`` (Plotly figure, self-contained).

    Raises
    ------
    DataFormatError
        Extension not supported for this figure type.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    is_plotly = hasattr(fig, "to_html")
    if suffix == ".html" and is_plotly:
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
        tmp.replace(p)
    elif suffix in (".png", ".svg", ".pdf") and not is_plotly:
        import matplotlib.pyplot as plt

        fig.savefig(p)
        plt.close(fig)
    else:
        kind = "Plotly" if is_plotly else "matplotlib"
        raise DataFormatError(
            f"cannot save a {kind} figure as {suffix or 'no extension'}: use .html for interactive "
            "plots and .png/.svg/.pdf for static ones",
            path=p,
        )
    return p
