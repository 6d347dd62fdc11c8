"""Figures and HTML reports of early-life cycle-life models (``voltlab lifetime ...``).

``parity_figure``
    Predicted against observed cycle life (cycles, log axes), with each
    cell's prediction interval as an error bar and the ±15 % band.
``trajectory_figure``
    Capacity retention (%) against cycle per cell, with the end-of-life
    line, the predicted life and its interval as a shaded band, and the
    Bacon-Watts knee point marked.
``write_lifetime_report``
    Model card (data, split, settings, seed, metrics), both figures and the
    per-cell table in one self-contained HTML file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError
from voltlab.models.early_life import EarlyLifePredictor
from voltlab.models.knee import knee_point
from voltlab.report.html import Report

__all__ = ["parity_figure", "trajectory_figure", "write_lifetime_report"]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def parity_figure(predictions: pd.DataFrame, *, title: str = "Predicted vs observed cycle life") -> Any:
    """Plotly parity plot of cells with an observed life (columns of ``predict_table``)."""
    import plotly.graph_objects as go

    p = predictions[np.isfinite(predictions["observed_life_cycles"].to_numpy(dtype=np.float64))]
    if p.empty:
        raise DataFormatError("no cell with an observed cycle life to plot")
    fig = go.Figure()
    lo = float(min(p["observed_life_cycles"].min(), p["lower_cycles"].min()) * 0.9)
    hi = float(max(p["observed_life_cycles"].max(), p["upper_cycles"].max()) * 1.1)
    line = np.array([lo, hi])
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", name="ideal", line={"color": "#444", "dash": "dash"}))
    fig.add_trace(go.Scatter(x=np.r_[line, line[::-1]], y=np.r_[line * 1.15, line[::-1] * 0.85], fill="toself",
                             fillcolor="rgba(120,120,120,0.12)", line={"width": 0}, name="±15 %", hoverinfo="skip"))
    for k, (label, group) in enumerate(p.groupby(p["in_training"].map({True: "training (fit)", False: "held out"}))):
        fig.add_trace(go.Scatter(
            x=group["observed_life_cycles"], y=group["predicted_life_cycles"], mode="markers", name=label,
            text=list(group.index), marker={"size": 9, "color": _COLORS[k]},
            error_y={"type": "data", "symmetric": False,
                     "array": group["upper_cycles"] - group["predicted_life_cycles"],
                     "arrayminus": group["predicted_life_cycles"] - group["lower_cycles"]},
            hovertemplate="%{text}<br>observed %{x:.0f}<br>predicted %{y:.0f} cycles<extra></extra>",
        ))
    fig.update_layout(title=title, xaxis_title="Observed cycle life [cycles]",
                      yaxis_title="Predicted cycle life [cycles]", template="plotly_white", height=520)
    fig.update_xaxes(type="log", range=[np.log10(lo), np.log10(hi)])
    fig.update_yaxes(type="log", range=[np.log10(lo), np.log10(hi)])
    return fig


def _retention(summary: pd.DataFrame, reference_ah: float) -> tuple[np.ndarray, np.ndarray]:
    s = summary[summary["discharge_capacity_ah"] > 0]
    return s["cycle_count"].to_numpy(dtype=np.float64), s["discharge_capacity_ah"].to_numpy() / reference_ah


def trajectory_figure(
    summaries: Mapping[str, pd.DataFrame],
    predictions: pd.DataFrame,
    references_ah: Mapping[str, float],
    *,
    eol_fraction: float = 0.8,
    max_cells: int = 12,
) -> tuple[Any, dict[str, float]]:
    """Retention trajectories with predicted end-of-life bands and knee points.

    Returns
    -------
    (figure, knees)
        The Plotly figure and each plotted cell's knee point (cycle; NaN when
        the curve is too short or flat for a knee).
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    knees: dict[str, float] = {}
    shown = [c for c in predictions.index if c in summaries][:max_cells]
    for k, cell in enumerate(shown):
        color = _COLORS[k % len(_COLORS)]
        x, y = _retention(summaries[cell], references_ah[cell])
        fig.add_trace(go.Scatter(x=x, y=100 * y, mode="lines", name=cell, line={"color": color},
                                 legendgroup=cell))
        r = predictions.loc[cell]
        fig.add_trace(go.Scatter(
            x=[r["lower_cycles"], r["upper_cycles"], r["upper_cycles"], r["lower_cycles"]],
            y=[100 * eol_fraction - 1.5, 100 * eol_fraction - 1.5, 100 * eol_fraction + 1.5,
               100 * eol_fraction + 1.5], fill="toself", mode="lines", line={"width": 0, "color": color},
            opacity=0.25, legendgroup=cell, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[r["predicted_life_cycles"]], y=[100 * eol_fraction], mode="markers",
                                 marker={"symbol": "diamond", "size": 10, "color": color}, legendgroup=cell,
                                 showlegend=False, name=f"{cell} predicted life",
                                 hovertemplate=f"{cell}: predicted life %{{x:.0f}} cycles<extra></extra>"))
        try:
            knee = knee_point(x, y) if x.size >= 20 else float("nan")
        except DataFormatError:
            knee = float("nan")
        knees[cell] = knee
        if np.isfinite(knee):
            fig.add_trace(go.Scatter(x=[knee], y=[100 * float(np.interp(knee, x, y))], mode="markers",
                                     marker={"symbol": "x", "size": 11, "color": color}, legendgroup=cell,
                                     showlegend=False, hovertemplate=f"{cell}: knee at %{{x:.0f}}<extra></extra>"))
    fig.add_hline(y=100 * eol_fraction, line_dash="dot", line_color="#555",
                  annotation_text=f"end of life ({eol_fraction:.0%})")
    fig.update_layout(title="Capacity retention, predicted end of life (diamond, band = interval), knee (x)",
                      xaxis_title="Cycle number", yaxis_title="Capacity retention [% of reference]",
                      template="plotly_white", height=560)
    return fig, knees


def _metric_rows(metrics: Mapping[str, float], label: str) -> dict[str, Any]:
    return {"cells": label, "n": int(metrics.get("n_cells", 0)), "RMSE [cycles]": metrics.get("rmse_cycles"),
            "MAPE [%]": metrics.get("mape_percent"), "15 %-accuracy": metrics.get("accuracy_15pct"),
            "interval coverage": metrics.get("interval_coverage", np.nan),
            "mean interval width [cycles]": metrics.get("interval_width_mean_cycles", np.nan)}


def write_lifetime_report(
    path: str | os.PathLike[str],
    model: EarlyLifePredictor,
    predictions: pd.DataFrame,
    *,
    summaries: Mapping[str, pd.DataFrame],
    references_ah: Mapping[str, float],
    metrics: Mapping[str, float] | None = None,
    skipped: list[tuple[str, str]] | None = None,
    title: str = "voltlab lifetime: early cycle-life prediction",
    provenance: Mapping[str, str] | None = None,
) -> Path:
    """Write the HTML report of a trained / evaluated model; returns its path.

    Parameters
    ----------
    path
        Output ``.html`` file.
    model
        The fitted :class:`EarlyLifePredictor`.
    predictions
        :meth:`EarlyLifePredictor.predict_table` output of the cells to show.
    summaries, references_ah
        Per-cycle summary and reference capacity (Ah) of each shown cell.
    metrics
        Held-out metrics (:meth:`EarlyLifePredictor.evaluate_table`), if any.
    skipped
        ``(cell, reason)`` of cells that could not be featurised.
    """
    c = model.config
    cv = model.cv_metrics()
    rep = Report(title, f"{c.feature_set} features of cycles 2-{c.window_cycles}, {c.method}, "
                        f"end of life at {c.eol_fraction:.0%} of reference capacity")
    rep.provenance.update({"seed": str(c.random_state), **(provenance or {})})
    tiles = {"training cells": str(len(model.train_cells_)),
             "train CV RMSE": f"{cv['rmse_cycles']:.0f} cycles",
             "train CV MAPE": f"{cv['mape_percent']:.1f} %"}
    if metrics:
        tiles.update({"held-out cells": str(int(metrics["n_cells"])),
                      "held-out RMSE": f"{metrics['rmse_cycles']:.0f} cycles",
                      "held-out MAPE": f"{metrics['mape_percent']:.1f} %",
                      f"{c.coverage:.0%} interval coverage": f"{metrics.get('interval_coverage', np.nan):.2f}"})
    rep.add_kpis("Headline", tiles)
    rep.add_text(
        "Model card",
        f"Features: Severson et al. (2019) '{c.feature_set}' set from the discharge Q(V) curves of cycles 2 to "
        f"{c.window_cycles} ({', '.join(model.feature_labels_)}), interpolated on a {len(model.voltage_grid_volt_)}"
        f"-point grid from {model.voltage_grid_volt_[0]:.3f} to {model.voltage_grid_volt_[-1]:.3f} V. Target: "
        f"log10 of cycle life, the first cycle whose discharge capacity stays below {c.eol_fraction:.0%} of the "
        f"reference (nominal capacity, else the best of the first 10 cycles) for {c.consecutive} cycles. "
        f"Method: {c.method}, seed {c.random_state}. Intervals: {c.coverage:.0%} split-conformal from "
        f"{c.interval_cv}-fold cross-validated residuals on the training cells. Split by cell: "
        f"{len(model.train_cells_)} training cells, {len(model.test_cells_)} held out at training time; no cycle of "
        "a held-out cell is ever used to fit.",
    )
    rows = [_metric_rows(cv, f"training, {c.interval_cv}-fold CV by cell")]
    if metrics:
        rows.append(_metric_rows(metrics, "held out"))
    rep.add_table("Metrics", pd.DataFrame(rows), float_format="{:.3g}",
                  note="RMSE in cycles; 15 %-accuracy = fraction of cells predicted within ±15 % of their life.")
    shown = predictions
    if np.isfinite(shown["observed_life_cycles"].to_numpy(dtype=np.float64)).any():
        rep.add_figure("Predicted vs observed life", parity_figure(shown),
                       note="Error bars: prediction intervals. Training cells show in-sample fits.")
    fig, knees = trajectory_figure(summaries, shown, references_ah, eol_fraction=c.eol_fraction)
    rep.add_figure("Trajectories", fig, note="Knee point: Bacon-Watts breakpoint of the retention curve "
                                             "(voltlab.models.knee_point).")
    table = shown.copy()
    table["knee_point_cycle"] = pd.Series(knees).reindex(table.index)
    table["error_percent"] = 100 * (table["predicted_life_cycles"] / table["observed_life_cycles"] - 1)
    table.insert(0, "cell_id", table.index)
    rep.add_table("Cells", table.reset_index(drop=True), float_format="{:.0f}",
                  note="observed_life_cycles empty = censored (has not reached end of life yet).")
    if skipped:
        rep.add_table("Cells without a prediction", pd.DataFrame(skipped, columns=["cell_id", "reason"]))
    return rep.write(path)
