"""The main job (``voltlab demo``): ingest the embedded cells, summarise, flag, compare.

Runs offline on the cells embedded in the package (generated with PyBaMM by
``python -m voltlab.data.embedded.generate_demo``) and returns a
:class:`DemoResult` for :func:`voltlab.report.demo.write_demo_report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.data.cleaning import CleaningResult, clean_cycles, flag_cycles
from voltlab.data.cycling import CyclingData
from voltlab.data.store import Store

__all__ = ["DemoResult", "fade_kpis", "run_demo"]


@dataclass
class DemoResult:
    """Everything the demo report shows."""

    out_dir: Path
    store: Store
    cells: pd.DataFrame
    data: dict[str, CyclingData]
    summaries: dict[str, pd.DataFrame]
    cleaning: dict[str, CleaningResult]
    kpis: pd.DataFrame
    sql_example: tuple[str, pd.DataFrame]
    inputs: dict[str, str] = field(default_factory=dict)


def _cycles_to(retention: np.ndarray, cycles: np.ndarray, level: float) -> float:
    below = np.flatnonzero(retention < level)
    return float(cycles[below[0]]) if below.size else float("nan")


def fade_kpis(cell_id: str, summary: pd.DataFrame) -> dict[str, float | str]:
    """Headline numbers of one cell from its cleaned per-cycle summary.

    Returns initial and final discharge capacity (Ah), final retention (%),
    fade rate (% of initial per 100 cycles, least squares over all cycles),
    cycles to 95 % and 90 % retention (NaN if not reached), mean coulombic
    efficiency (%) and the change of DC resistance (mOhm) from first to last cycle.
    """
    s = summary[summary["discharge_capacity_ah"] > 0]
    cyc = s["cycle_count"].to_numpy(dtype=np.float64)
    q = s["discharge_capacity_ah"].to_numpy(dtype=np.float64)
    ret = s["capacity_retention"].to_numpy(dtype=np.float64)
    slope = float(np.polyfit(cyc, 100 * ret, 1)[0]) * 100 if cyc.size >= 2 else float("nan")
    r = s["dc_resistance_ohm"].to_numpy(dtype=np.float64)
    r_ok = r[np.isfinite(r)]
    return {
        "cell_id": cell_id,
        "cycles": int(cyc.size),
        "initial_capacity_ah": float(q[0]),
        "final_capacity_ah": float(q[-1]),
        "final_retention_percent": float(100 * ret[-1]),
        "fade_percent_per_100_cycles": -slope,
        "cycles_to_95_percent": _cycles_to(ret, cyc, 0.95),
        "cycles_to_90_percent": _cycles_to(ret, cyc, 0.90),
        "mean_coulombic_efficiency_percent": float(100 * np.nanmean(s["coulombic_efficiency"])),
        "dc_resistance_change_milliohm": float(1000 * (r_ok[-1] - r_ok[0])) if r_ok.size >= 2 else float("nan"),
    }


def run_demo(out_dir: str | Path, *, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Run the demo pipeline into ``out_dir`` (store in ``out_dir/store``).

    Re-running into the same folder reuses the store: cells already ingested
    (same content hash) are skipped, so results are identical.
    """
    from voltlab.data.embedded import demo_cells

    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / "store")
    cells = demo_cells()
    say(f"loaded {len(cells)} embedded cells")
    for data in cells:
        store.add(data, on_duplicate="skip")
    say(f"store ready: {out / 'store'} ({len(store)} cells)")
    summaries: dict[str, pd.DataFrame] = {}
    cleaning: dict[str, CleaningResult] = {}
    kpis = []
    for data in cells:
        flagged = flag_cycles(store.summary(data.cell_id))
        res = clean_cycles(flagged)
        summaries[data.cell_id] = flagged
        cleaning[data.cell_id] = res
        kpis.append(fade_kpis(data.cell_id, res.kept))
    say("per-cycle summaries, outlier flags and fade KPIs computed")
    sql = (
        "SELECT c.cell_id, m.protocol, count(*) AS cycles, "
        "round(max(c.discharge_capacity_ah), 4) AS max_capacity_ah, "
        "round(min(c.capacity_retention) * 100, 2) AS min_retention_percent, "
        "round(avg(c.coulombic_efficiency) * 100, 3) AS mean_ce_percent "
        "FROM cycles c JOIN cells m USING (cell_id) GROUP BY ALL ORDER BY min_retention_percent"
    )
    return DemoResult(
        out_dir=out,
        store=store,
        cells=store.cells(),
        data={d.cell_id: store.load(d.cell_id) for d in cells},
        summaries=summaries,
        cleaning=cleaning,
        kpis=pd.DataFrame(kpis),
        sql_example=(sql, store.query(sql)),
        inputs={d.cell_id: d.metadata.content_sha256 for d in cells},
    )
