"""HTML report of the main job (``voltlab demo``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.report import plots
from voltlab.report.html import Report
from voltlab.studies.demo import DemoResult

__all__ = ["write_demo_report"]


def _fmt(x: float, unit: str, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}g} {unit}".strip()


def write_demo_report(result: DemoResult, out_dir: str | Path | None = None) -> Path:
    """Write ``report.html`` and PNG figures (``figures/``) for a demo run; returns the report path."""
    out = Path(out_dir) if out_dir is not None else result.out_dir
    figs = out / "figures"
    k = result.kpis
    worst = k.loc[k["final_retention_percent"].idxmin()]
    best = k.loc[k["final_retention_percent"].idxmax()]
    rep = Report(
        "voltlab demo: capacity fade of four simulated cells",
        "Ingest -> validate -> store (Parquet + DuckDB) -> per-cycle summary -> outlier flags -> plots",
    )
    rep.provenance.update(
        {"store": str(result.store.root), **{f"input sha256 {c}": h for c, h in result.inputs.items()}}
    )
    rep.add_text(
        "What this is",
        "Four cells simulated with PyBaMM (single-particle model with SEI growth; the generator script "
        "ships with voltlab as voltlab.data.embedded.generate_demo) under different charge rates and "
        "temperatures, stored small inside the package. To make ageing visible within 300 cycles the SEI "
        "solvent diffusivity is raised above the OKane2022 value (the override is recorded per cell in the "
        "cell metadata), so these cells age faster than the published parameter set predicts, and in this "
        "model temperature, not charge rate, drives the fade. voltlab ingested them into a dataset store, "
        "validated units and signs, computed per-cycle capacity, energy, efficiency and resistance, "
        "flagged outlier cycles and compared the cells.\n\n"
        "Conventions: current is positive on charge; capacities in Ah; retention is relative to the "
        "first full cycle; coulombic efficiency = discharge / charge capacity of the same cycle.",
    )
    rep.add_kpis(
        "Headline",
        {
            "cells": str(len(k)),
            "cycles in total": f"{int(k['cycles'].sum()):,}",
            "best retention": f"{best['final_retention_percent']:.1f} % ({best['cell_id']})",
            "worst retention": f"{worst['final_retention_percent']:.1f} % ({worst['cell_id']})",
            "fastest fade": _fmt(float(k["fade_percent_per_100_cycles"].max()), "%/100 cycles"),
        },
    )
    cells = result.cells[
        [c for c in ("cell_id", "chemistry", "nominal_capacity_ah", "form_factor", "protocol", "n_rows", "n_cycles")
         if c in result.cells.columns]
    ]
    rep.add_table("Cells", cells)
    rep.add_table(
        "Fade per cell",
        k,
        note="Fade rate is a least-squares slope over all kept cycles; 'cycles to' is the first cycle "
        "below that retention (blank if never reached).",
    )
    summaries = result.summaries
    rep.add_figure("Discharge capacity", plots.capacity_fade(summaries))
    rep.add_figure("Capacity retention", plots.capacity_fade(summaries, metric="capacity_retention"))
    rep.add_figure("Coulombic efficiency", plots.efficiency(summaries))
    for cell_id, data in result.data.items():
        rep.add_figure(f"Voltage curves: {cell_id}", plots.voltage_curves(data))
        rep.add_figure(
            f"Incremental capacity dQ/dV: {cell_id}",
            plots.dqdv_curves(data),
            note="Savitzky-Golay smoothed derivative of Q(V) on a 2 mV grid (window widened to the sampling of these downsampled curves); discharge "
            "curves are negative by convention.",
        )
    cleaning_rows = [
        {"cell_id": c, "result": r.describe(),
         "removed cycles": ", ".join(str(x) for x in r.report["cycle_count"].tolist()[:20])}
        for c, r in result.cleaning.items()
    ]
    rep.add_table("Cleaning (nothing is dropped silently)", pd.DataFrame(cleaning_rows))
    sql, table = result.sql_example
    rep.add_table("Query the store with DuckDB", table, note=f"SQL: {sql}")
    first_summary = next(iter(summaries.values()))
    show = first_summary.head(10).drop(columns=[c for c in first_summary.columns if c.startswith("flag_")])
    rep.add_table(f"Per-cycle summary (first 10 cycles of {next(iter(summaries))})", show)

    # Static copies for papers and slides.
    plots.save_figure(plots.capacity_fade(summaries, backend="matplotlib"), figs / "capacity_fade.png")
    plots.save_figure(
        plots.capacity_fade(summaries, metric="capacity_retention", backend="matplotlib"), figs / "retention.png"
    )
    for cell_id, data in result.data.items():
        plots.save_figure(plots.voltage_curves(data, backend="matplotlib"), figs / f"voltage_{cell_id}.png")
        plots.save_figure(plots.dqdv_curves(data, backend="matplotlib"), figs / f"dqdv_{cell_id}.png")
    return rep.write(out / "report.html")
