"""Reports and plots: self-contained HTML, interactive Plotly and static PNG figures."""

from __future__ import annotations

from voltlab.report.html import Report, package_versions
from voltlab.report.plots import (
    PLOT_KINDS,
    capacity_fade,
    dqdv_curves,
    efficiency,
    pick_cycles,
    save_figure,
    voltage_curves,
)

__all__ = [
    "PLOT_KINDS",
    "Report",
    "capacity_fade",
    "dqdv_curves",
    "efficiency",
    "package_versions",
    "pick_cycles",
    "save_figure",
    "voltage_curves",
]
