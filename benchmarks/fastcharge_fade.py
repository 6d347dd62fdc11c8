"""Fast charge against fade: two-objective BO (time to 80 % vs capacity fade after N cycles).

Run: ``nice -n 5 .venv/bin/python benchmarks/fastcharge_fade.py``; writes
``benchmarks/results/fastcharge_fade.md`` and ``.json`` (flat keys, units in the names).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from voltlab.simulate.fastcharge import FADE_PLATING, FADE_SEI, design_fast_charge_pareto

SETTINGS = {"budget": 12, "seed": 0, "cycles": 5, "windows": (0, 40, 80), "c_bounds": (0.3, 2.5),
            "model": "SPMe", "parameters": "OKane2022", "tmax_celsius": 45.0, "min_plating_margin_volt": None,
            "baseline_c_rate": 1.0, "n_init": 4, "period_second": 30.0}
OUT = Path(__file__).parent / "results"


def main() -> None:
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    d = design_fast_charge_pareto(**SETTINGS)  # type: ignore[arg-type]
    runtime = time.perf_counter() - t0
    b = d.baseline
    dom = d.dominating_baseline()
    flat: dict[str, object] = {f"setting_{k}": (list(v) if isinstance(v, tuple) else v) for k, v in SETTINGS.items()}
    flat.update({"sei_option": FADE_SEI, "plating_option": FADE_PLATING, "thermal_ageing": "isothermal",
                 "thermal_feasibility": "lumped", "runtime_second": runtime, "evaluations": len(d.evaluations),
                 "failed_evaluations": len(d.failures), "front_size": len(d.front),
                 "final_hypervolume_min_percent": d.hypervolume[-1] if d.hypervolume else math.nan,
                 "ref_point_time_min": d.ref_point[0] if d.ref_point else math.nan,
                 "ref_point_fade_percent": d.ref_point[1] if d.ref_point else math.nan,
                 "front_dominating_baseline": len(dom)})
    if b is not None:
        flat.update({"baseline_protocol": b.protocol.describe(), "baseline_time_to_target_min": b.time_to_target_min,
                     "baseline_capacity_fade_percent": b.capacity_fade_percent, "baseline_lli_percent": b.lli_percent,
                     "baseline_plating_loss_ah": b.plating_loss_ah})
    rows = ["| # | protocol | time to 80 % (min) | fade after N (%) | LLI (%) | plating loss (mAh) "
            "| dominates CC-CV |", "|---|---|---|---|---|---|---|"]
    for i, e in enumerate(d.front):
        flat[f"front_{i}_protocol"] = e.protocol.describe()
        flat[f"front_{i}_time_to_target_min"] = e.time_to_target_min
        flat[f"front_{i}_capacity_fade_percent"] = e.capacity_fade_percent
        flat[f"front_{i}_lli_percent"] = e.lli_percent
        flat[f"front_{i}_plating_loss_ah"] = e.plating_loss_ah
        rows.append(f"| {i} | {e.protocol.describe()} | {e.time_to_target_min:.2f} | {e.capacity_fade_percent:.4f} "
                    f"| {e.lli_percent:.4f} | {1000 * e.plating_loss_ah:.3f} | {'yes' if e in dom else 'no'} |")
    if b is not None:
        rows.append(f"| base | {b.protocol.describe()} | {b.time_to_target_min:.2f} | {b.capacity_fade_percent:.4f} "
                    f"| {b.lli_percent:.4f} | {1000 * b.plating_loss_ah:.3f} | - |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fastcharge_fade.json").write_text(json.dumps(
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in flat.items()},
        indent=2, sort_keys=True) + "\n", encoding="utf-8")
    s = SETTINGS
    md = ["# Fast charge against fade: time to 80 % vs capacity fade after N cycles", "",
          f"{s['model']} / {s['parameters']}, SEI `{FADE_SEI}`, lithium plating `{FADE_PLATING}`, isothermal "
          f"ageing at 25 °C; one cycle = the charge protocol (windows {s['windows']} % SOC, then 1C to 4.2 V "
          "and CV to C/20), `Discharge at 1C until 2.5 V`, `Rest for 10 minutes`. "
          f"N = {s['cycles']} cycles, C-rates {s['c_bounds']}, two-objective voltlab Campaign (qLogNEHVI), "
          f"budget {s['budget']} + the told 1C point, n_init {s['n_init']}, seed {s['seed']}; feasibility: lumped "
          f"T <= {s['tmax_celsius']} °C, plating-margin constraint off (fade carries plating). "
          f"Runtime {runtime:.0f} s on 2 shared cores; {len(d.failures)} failed evaluations.", "",
          *rows, "",
          f"Hypervolume trace (min x %, ref point {tuple(round(r, 4) for r in d.ref_point)}): "
          + ", ".join(f"{h:.4f}" for h in d.hypervolume), "",
          ("Front protocols that dominate the CC-CV baseline: " + "; ".join(e.protocol.describe() for e in dom))
          if dom else "No front protocol dominates the CC-CV baseline.", ""]
    for p, r in d.failures:
        md.append(f"- failed: {p}: {r[:160]}")
    (OUT / "fastcharge_fade.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
