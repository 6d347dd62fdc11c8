#!/usr/bin/env python
"""voltlab SOH / RUL benchmark on the NASA PCoE cells B0005, B0006, B0007, B0018.

Run from the repository root::

    .venv/bin/python benchmarks/nasa_soh.py

Data: ``../shared/data/nasa_pcoe_battery_aging`` (resolved from this script's location; set
``VOLTLAB_SHARED_DATA`` to the ``shared/data`` folder elsewhere): the discharge curves
(``load_nasa_pcoe``) and NASA's per-discharge capacity (``load_nasa_pcoe_summary``).

What one run measures
---------------------
1. **SOH from a partial discharge window, leave-one-cell-out.** SOH = NASA ``Capacity`` / 2 Ah
   (rated). Features: the charge passed between evenly spaced voltages of one window of the
   2 A discharge (:func:`voltlab.models.soh.partial_curve_features`). The window (start
   3.95-3.55 V, width 0.3/0.4/0.5 V, 6 or 11 points: 54 candidates) is chosen *inside* each
   outer fold by an inner leave-one-cell-out over the 3 training cells (nested: the test
   cell never influences the window). Model: ``SOHRegressor("ridge")``; boosted trees and a
   GP on the same per-fold windows for comparison; a table of fixed, pre-declared windows
   shows the sensitivity. Intervals: jackknife+ over the 3 training cells of each fold,
   alpha = 0.1.
2. **RUL at 50 % of life.** End of life (EoL) = first discharge below 1.4 Ah (70 % of the
   2 Ah rating; NASA stopped the tests near this 30 % fade). B0005, B0006 and B0018 reach it;
   B0007 does not (min 1.4005 Ah) and is censored. For each EoL cell, trained on the other
   two: prediction at cycle floor(EoL / 2) from the trajectory up to that cycle only
   (:func:`voltlab.models.rul.trajectory_features`, window 20), by ``RULRegressor``
   (boosted trees on log(1 + RUL)) and by the training-free linear and quadratic Theil-Sen
   extrapolations. Intervals: jackknife+ over the 2 training cells.
3. **Context**: robust fade rate, Bacon-Watts knee point / onset and the anomaly detector
   on the capacity trajectories.

Seeds: every random component uses seed 0 (ridge and the extrapolations are deterministic).
Writes ``benchmarks/results/nasa_soh.md`` and ``nasa_soh.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voltlab.data.datasets.nasa import load_nasa_pcoe, load_nasa_pcoe_summary  # noqa: E402
from voltlab.models.anomaly import CycleAnomalyDetector  # noqa: E402
from voltlab.models.conformal import GroupConformalRegressor  # noqa: E402
from voltlab.models.knee import knee_onset, knee_point  # noqa: E402
from voltlab.models.rul import RULRegressor, end_of_life_cycle, rul_dataset, trajectory_features  # noqa: E402
from voltlab.models.soh import SOHRegressor, partial_curve_features  # noqa: E402
from voltlab.models.trend import degradation_rate  # noqa: E402

SEED = 0
NOMINAL_AH = 2.0
EOL_AH = 1.4
ALPHA = 0.1
RUL_WINDOW = 20
STARTS = np.round(np.arange(3.95, 3.549, -0.05), 2)
BROAD_STARTS = np.round(np.arange(3.95, 3.349, -0.05), 2)  # sensitivity: a broader candidate grid
WIDTHS = (0.3, 0.4, 0.5)
N_POINTS = (6, 11)
FIXED_WINDOWS = ((3.9, 3.4, 11), (3.8, 3.3, 11), (3.7, 3.2, 11), (3.6, 3.1, 11))
RESULTS = REPO / "benchmarks" / "results"

# Published context (cited only where the number and its protocol are stated in the source).
PUBLISHED = {
    "soh_goal": "issue 5 goal: leave-one-cell-out SOH RMSE <= 0.01 (fraction)",
    "sci_rep_2025": (
        "Scientific Reports (2025), https://www.nature.com/articles/s41598-025-20995-7: MLP on NASA B0005 "
        "discharge data, SOH relative to the initial capacity, RMSE 0.0069 (abstract). Full discharge curves and "
        "per-cell results; the abstract describes no leave-one-cell-out split, so it is context, not a like-for-like "
        "reference."
    ),
}


def shared_root() -> Path:
    env = os.environ.get("VOLTLAB_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    root = base / "nasa_pcoe_battery_aging"
    if not root.is_dir():
        sys.exit(f"NASA PCoE data not found at {root}; set VOLTLAB_SHARED_DATA to the shared/data folder")
    return root


def rmse(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(e))))


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ----------------------------------------------------------------------------- SOH


def window_tables(cells: list, capacity: pd.DataFrame) -> dict[tuple[float, float, int], pd.DataFrame]:
    """Partial-window features of every candidate window, merged with the capacity label."""
    out = {}
    windows = candidate_windows(BROAD_STARTS)
    for key in sorted(set(windows) | set(FIXED_WINDOWS)):
        frames = []
        for cell in cells:
            f = partial_curve_features(cell, v_start=key[0], v_end=key[1], n_points=key[2]).reset_index()
            f.insert(0, "cell_id", cell.metadata.cell_id)
            frames.append(f)
        tab = pd.concat(frames, ignore_index=True).merge(capacity, on=["cell_id", "cycle_count"], how="inner")
        out[key] = tab
    return out


def candidate_windows(starts: np.ndarray) -> list[tuple[float, float, int]]:
    return [(float(s), round(float(s) - w, 2), n) for s in starts for w in WIDTHS for n in N_POINTS]


def nested_ridge_rmse(tables: dict, cell_ids: list[str], candidates: list) -> float:
    """Pooled RMSE of the nested leave-one-cell-out (window chosen on the training cells), ridge only."""
    errs = []
    for test_cell in cell_ids:
        train_cells = [c for c in cell_ids if c != test_cell]
        best = min(candidates, key=lambda k: (loco_rmse(tables[k], train_cells), k))
        tab = tables[best].dropna(subset=charge_columns(tables[best]))
        cols = charge_columns(tab)
        tr, te = tab["cell_id"] != test_cell, tab["cell_id"] == test_cell
        m = SOHRegressor("ridge").fit(tab.loc[tr, cols], tab.loc[tr, "soh"])
        errs.append(m.predict(tab.loc[te, cols]) - tab.loc[te, "soh"].to_numpy())
    return rmse(np.concatenate(errs))


def charge_columns(tab: pd.DataFrame) -> list[str]:
    return [c for c in tab.columns if c.startswith("partial_charge_to_")]


def loco_rmse(tab: pd.DataFrame, cells: list[str], model: str = "ridge") -> float:
    """Pooled leave-one-cell-out RMSE over ``cells`` (rows with complete features)."""
    sub = tab[tab["cell_id"].isin(cells)].dropna(subset=charge_columns(tab))
    errs = []
    for c in cells:
        test = sub["cell_id"] == c
        if not test.any() or test.all():
            return np.inf
        cols = charge_columns(sub)
        m = SOHRegressor(model, random_state=SEED).fit(sub.loc[~test, cols], sub.loc[~test, "soh"])
        errs.append(m.predict(sub.loc[test, cols]) - sub.loc[test, "soh"].to_numpy())
    return rmse(np.concatenate(errs))


def soh_benchmark(tables: dict, cell_ids: list[str]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    candidates = candidate_windows(STARTS)
    res: dict = {}
    preds = []
    chosen = {}
    t0 = time.perf_counter()
    for test_cell in cell_ids:
        train_cells = [c for c in cell_ids if c != test_cell]
        scores = {k: loco_rmse(tables[k], train_cells) for k in candidates}
        best = min(scores, key=lambda k: (scores[k], k))
        chosen[test_cell] = (best, scores[best])
        tab = tables[best].dropna(subset=charge_columns(tables[best]))
        cols = charge_columns(tab)
        tr, te = tab["cell_id"] != test_cell, tab["cell_id"] == test_cell
        row = {"cell_id": tab.loc[te, "cell_id"].to_numpy(), "cycle_count": tab.loc[te, "cycle_count"].to_numpy(),
               "soh_true": tab.loc[te, "soh"].to_numpy(),
               "first_capacity_ah": tab.loc[te, "first_capacity_ah"].to_numpy()}
        for model in ("ridge", "gbr", "gp"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # GP kernel-bound convergence notes (RBF amplitude -> bound)
                m = SOHRegressor(model, random_state=SEED).fit(tab.loc[tr, cols], tab.loc[tr, "soh"])
                row[f"soh_{model}"] = m.predict(tab.loc[te, cols])
        jk = GroupConformalRegressor(SOHRegressor("ridge"), method="jackknife+", alpha=ALPHA,
                                     group_weighting=False, random_state=SEED)
        jk.fit(tab.loc[tr, cols], tab.loc[tr, "soh"], tab.loc[tr, "cell_id"])
        iv = jk.predict_interval(tab.loc[te, cols])
        row["lower"], row["upper"] = iv[:, 0], iv[:, 1]
        jk_cells = GroupConformalRegressor(SOHRegressor("ridge"), method="jackknife+", alpha=ALPHA,
                                           random_state=SEED).fit(tab.loc[tr, cols], tab.loc[tr, "soh"],
                                                                  tab.loc[tr, "cell_id"])
        row["cell_level_interval_finite"] = np.isfinite(jk_cells.predict_interval(tab.loc[te, cols][:1])).all()
        preds.append(pd.DataFrame(row))
    res["soh_seconds"] = time.perf_counter() - t0
    p = pd.concat(preds, ignore_index=True)
    for model in ("ridge", "gbr", "gp"):
        e = p[f"soh_{model}"] - p["soh_true"]
        res[f"soh_{model}_nested_rmse_pooled_fraction"] = rmse(e.to_numpy())
        per = e.groupby(p["cell_id"]).apply(lambda s: rmse(s.to_numpy()))
        res[f"soh_{model}_nested_rmse_mean_of_cells_fraction"] = float(per.mean())
        for c, v in per.items():
            res[f"soh_{model}_nested_rmse_{c}_fraction"] = float(v)
        res[f"soh_{model}_nested_mae_fraction"] = float(np.mean(np.abs(e)))
        res[f"soh_{model}_nested_max_abs_error_fraction"] = float(np.max(np.abs(e)))
    e = p["soh_ridge"] - p["soh_true"]
    res["soh_ridge_nested_rmse_pooled_ah"] = rmse(e.to_numpy()) * NOMINAL_AH
    # SOH relative to the cell's first measured capacity (NASA's "soh" column convention)
    rel_true = p["soh_true"] * NOMINAL_AH / p["first_capacity_ah"]
    rel_pred = p["soh_ridge"] * NOMINAL_AH / p["first_capacity_ah"]
    res["soh_ridge_nested_rmse_pooled_relative_to_first_cycle_fraction"] = rmse((rel_pred - rel_true).to_numpy())
    inside = (p["soh_true"] >= p["lower"]) & (p["soh_true"] <= p["upper"])
    res["soh_interval_nominal_coverage"] = 1 - ALPHA
    res["soh_interval_coverage_pooled"] = float(inside.mean())
    for c, v in inside.groupby(p["cell_id"]).mean().items():
        res[f"soh_interval_coverage_{c}"] = float(v)
    res["soh_interval_median_width_fraction"] = float(np.median(p["upper"] - p["lower"]))
    res["soh_interval_cell_level_finite"] = bool(p["cell_level_interval_finite"].all())
    for c, (k, s) in chosen.items():
        res[f"soh_window_{c}"] = f"{k[0]:.2f}-{k[1]:.2f} V, {k[2]} points (inner LOCO RMSE {s:.4f})"
    res["soh_ridge_nested_broad_grid_rmse_pooled_fraction"] = nested_ridge_rmse(
        tables, cell_ids, candidate_windows(BROAD_STARTS))
    # fixed windows, plain LOCO over the 4 cells (sensitivity; not the headline)
    fixed = []
    for k in FIXED_WINDOWS:
        r = loco_rmse(tables[k], cell_ids)
        fixed.append({"window": f"{k[0]:.2f}-{k[1]:.2f} V, {k[2]} points", "rmse": r})
        res[f"soh_fixed_window_{k[0]:.2f}_{k[1]:.2f}_{k[2]}pt_rmse_pooled_fraction"] = r
    return res, p, pd.DataFrame(fixed)


# ----------------------------------------------------------------------------- RUL


def rul_benchmark(summary: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    res: dict = {"rul_eol_threshold_ah": EOL_AH, "rul_window_cycles": RUL_WINDOW}
    eol = {}
    for c, g in summary.groupby("cell_id"):
        eol[c] = end_of_life_cycle(g["cycle_count"], g["discharge_capacity_ah"], EOL_AH)
        res[f"rul_eol_cycle_{c}"] = eol[c] if np.isfinite(eol[c]) else None
        res[f"rul_min_capacity_{c}_ah"] = float(g["discharge_capacity_ah"].min())
    reached = [c for c, v in eol.items() if np.isfinite(v)]
    res["rul_cells_reaching_eol"] = ",".join(reached)
    res["rul_cells_censored"] = ",".join(c for c in eol if c not in reached)
    rows = []
    cover = []
    for test in reached:
        train = summary[summary["cell_id"].isin([c for c in reached if c != test])]
        ds = rul_dataset(train, threshold=EOL_AH, window=RUL_WINDOW)
        g = summary[summary["cell_id"] == test].sort_values("cycle_count")
        k50 = int(eol[test] // 2)
        upto = g[g["cycle_count"] <= k50]
        feats = trajectory_features(upto["cycle_count"], upto["discharge_capacity_ah"], threshold=EOL_AH,
                                    window=RUL_WINDOW).iloc[[-1]]
        true = eol[test] - k50
        model = RULRegressor(random_state=SEED).fit(ds.X, ds.y)
        jk = GroupConformalRegressor(RULRegressor(random_state=SEED), method="jackknife+", alpha=ALPHA,
                                     score="relative", group_weighting=False, target_bounds=(0.0, None),
                                     random_state=SEED)
        jk.fit(ds.X, ds.y, ds.groups)
        lo, hi = jk.predict_interval(feats)[0]
        rows.append({
            "cell": test, "eol_cycle": eol[test], "prediction_cycle": k50, "true_rul_cycles": true,
            "rul_regressor": float(model.predict(feats)[0]),
            "linear_extrapolation": float(feats["rul_linear_cycles"].iloc[0]),
            "quadratic_extrapolation": float(feats["rul_quadratic_cycles"].iloc[0]),
            "interval_low": lo, "interval_high": hi,
        })
        # coverage of the intervals at every cycle of the held-out cell up to its end of life
        full = rul_dataset(g, threshold=EOL_AH, window=RUL_WINDOW)
        iv = jk.predict_interval(full.X)
        cover.append(pd.DataFrame({"cell": test, "inside": (full.y >= iv[:, 0]) & (full.y <= iv[:, 1])}))
    t = pd.DataFrame(rows)
    for method in ("rul_regressor", "linear_extrapolation", "quadratic_extrapolation"):
        err = (t[method] - t["true_rul_cycles"]).to_numpy()
        res[f"rul_{method}_mae_at_half_life_cycles"] = float(np.mean(np.abs(err)))
        res[f"rul_{method}_rmse_at_half_life_cycles"] = rmse(err)
        for c, e in zip(t["cell"], err, strict=True):
            res[f"rul_{method}_error_{c}_cycles"] = float(e)
    t["inside"] = (t["true_rul_cycles"] >= t["interval_low"]) & (t["true_rul_cycles"] <= t["interval_high"])
    res["rul_interval_nominal_coverage"] = 1 - ALPHA
    res["rul_interval_covers_at_half_life"] = f"{int(t['inside'].sum())} of {len(t)}"
    cv = pd.concat(cover)
    res["rul_interval_coverage_all_cycles_pooled"] = float(cv["inside"].mean())
    for c, v in cv.groupby("cell")["inside"].mean().items():
        res[f"rul_interval_coverage_all_cycles_{c}"] = float(v)
    return res, t


# ----------------------------------------------------------------------------- context


def context(summary: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    res: dict = {}
    rows = []
    det = CycleAnomalyDetector(["discharge_capacity_ah", "temperature_max_celsius", "discharge_time_second"],
                               contamination=0.02, random_state=SEED).fit(summary)
    flags = det.flag(summary)
    for c, g in summary.groupby("cell_id"):
        k, q = g["cycle_count"].to_numpy(), g["discharge_capacity_ah"].to_numpy()
        rate = degradation_rate(k, q, window=RUL_WINDOW)
        f = flags[flags["cell_id"] == c]
        jumps = np.flatnonzero(np.diff(q) > 0.03) + 1  # capacity up by > 30 mAh after a rest
        flagged = f.loc[f["is_anomaly"], "cycle_count"].astype(int).tolist()
        rows.append({
            "cell": c, "cycles": len(g),
            "median_fade_rate_mah_per_cycle": 1000 * float(np.nanmedian(rate["fade_rate_per_cycle"])),
            "knee_point_cycle": knee_point(k, q), "knee_onset_cycle": knee_onset(k, q),
            "flagged_cycles": flagged,
            "regeneration_jumps": [int(k[j]) for j in jumps],
        })
        res[f"context_median_fade_rate_{c}_mah_per_cycle"] = rows[-1]["median_fade_rate_mah_per_cycle"]
        res[f"context_knee_point_{c}_cycle"] = rows[-1]["knee_point_cycle"]
        res[f"context_knee_onset_{c}_cycle"] = rows[-1]["knee_onset_cycle"]
        res[f"context_anomalies_flagged_{c}"] = len(flagged)
    return res, pd.DataFrame(rows)


# ----------------------------------------------------------------------------- report


def write_report(res: dict, soh_p: pd.DataFrame, fixed: pd.DataFrame, rul: pd.DataFrame, ctx: pd.DataFrame) -> None:
    cells = sorted(soh_p["cell_id"].unique())
    lines = [
        "# NASA PCoE SOH and RUL benchmark",
        "",
        f"Generated by `benchmarks/nasa_soh.py` on {res['generated_utc']} (voltlab git {res['git_revision']}). "
        "Machine-readable: `nasa_soh.json`.",
        "",
        "## Data and protocol",
        "",
        "- Cells B0005, B0006, B0007, B0018 (18650 Li-ion, 2 Ah rated, 24 °C, 2 A CC discharge to 2.7 / 2.5 / "
        "2.2 / 2.5 V), CSV conversion in `../shared/data/nasa_pcoe_battery_aging` (see its SOURCE.md): "
        f"{res['n_discharges']} discharges.",
        "- **SOH** = NASA `Capacity` / 2 Ah rated (fraction). Every split is **leave-one-cell-out**: the cell "
        "whose SOH is predicted is never in training, and the voltage window is chosen inside each fold by an "
        "inner leave-one-cell-out on the 3 training cells (nested; 54 candidate windows: start 3.95-3.55 V, width "
        "0.3/0.4/0.5 V, 6 or 11 points). Features: charge passed from the window start to each later window "
        "voltage (`partial_curve_features`). Only the window is read, not the full discharge.",
        f"- **RUL**: end of life = first discharge below {EOL_AH} Ah (70 % of rated; NASA stopped near 30 % fade). "
        f"Cells reaching it: {res['rul_cells_reaching_eol'].replace(',', ', ')} (EoL cycles "
        + ", ".join(f"{c} {res[f'rul_eol_cycle_{c}']:.0f}" for c in res["rul_cells_reaching_eol"].split(","))
        + f"); censored: {res['rul_cells_censored']} (minimum {res['rul_min_capacity_B0007_ah']:.4f} Ah, never "
        "below 1.4 Ah). Prediction at cycle floor(EoL / 2) from the capacity trajectory up to that cycle only, "
        "model trained on the other two EoL cells.",
        f"- Seeds: {SEED} for every random component (boosting, conformal fold assignment). Intervals: "
        f"alpha = {ALPHA} (nominal {1 - ALPHA:.0%}).",
        f"- Runtime: SOH part {res['soh_seconds']:.0f} s, total {res['total_seconds']:.0f} s on "
        f"{res['machine']}.",
        "",
        "## SOH, leave-one-cell-out (fraction of 2 Ah)",
        "",
        "| model | pooled RMSE | mean of per-cell RMSE | " + " | ".join(cells) + " | max abs error | goal |",
        "|---|---:|---:|" + "---:|" * len(cells) + "---:|---|",
    ]
    for model, name in (("ridge", "ridge (headline)"), ("gbr", "gradient boosting"), ("gp", "GP (linear + RBF)")):
        per = " | ".join(f"{res[f'soh_{model}_nested_rmse_{c}_fraction']:.4f}" for c in cells)
        pooled = res[f"soh_{model}_nested_rmse_pooled_fraction"]
        lines.append(
            f"| {name} | {pooled:.4f} | {res[f'soh_{model}_nested_rmse_mean_of_cells_fraction']:.4f} | {per} | "
            f"{res[f'soh_{model}_nested_max_abs_error_fraction']:.4f} | <= 0.01: "
            f"{'**met**' if pooled <= 0.01 else 'not met'} |"
        )
    lines += [
        "",
        f"Ridge pooled RMSE = {res['soh_ridge_nested_rmse_pooled_ah'] * 1000:.1f} mAh; relative to each cell's "
        f"first-cycle capacity (NASA's `soh` convention) {res['soh_ridge_nested_rmse_pooled_relative_to_first_cycle_fraction']:.4f}.",
        "",
        "Windows chosen by the inner loop (per held-out cell): "
        + "; ".join(f"{c}: {res[f'soh_window_{c}']}" for c in cells) + ".",
        "",
        "Sensitivity (ridge): fixed windows with plain leave-one-cell-out over the 4 cells, and the nested "
        "selection over a broader candidate grid (starts down to 3.35 V, 78 windows):",
        "",
        "| window | pooled RMSE |",
        "|---|---:|",
    ]
    lines += [f"| {r.window} | {r.rmse:.4f} |" for r in fixed.itertuples()]
    lines += [f"| nested, broader grid (start 3.95-3.35 V) | "
              f"{res['soh_ridge_nested_broad_grid_rmse_pooled_fraction']:.4f} |"]
    lines += [
        "",
        f"**Intervals** (jackknife+ over the 3 training cells of each fold, ridge, cycles as the exchangeable "
        f"unit): coverage {res['soh_interval_coverage_pooled']:.3f} pooled (nominal {1 - ALPHA:.2f}); per cell "
        + ", ".join(f"{c} {res[f'soh_interval_coverage_{c}']:.3f}" for c in cells)
        + f"; median width {res['soh_interval_median_width_fraction']:.4f}. With cells as the unit (each cell "
        "weighted equally, finite-sample level (1 - alpha)(1 + 1/3) > 1) the intervals are infinite: three "
        "calibration cells cannot support a cell-level 90 % guarantee (it needs at least 9). The finite intervals "
        "above are therefore optimistic about a truly new cell.",
        "",
        "Published context: " + PUBLISHED["sci_rep_2025"] + " Goal: " + PUBLISHED["soh_goal"] + ".",
        "",
        "## RUL at 50 % of life (cycles)",
        "",
        "| cell | EoL cycle | predicted at | true RUL | RULRegressor | linear extrapolation | quadratic "
        "extrapolation | 90 % interval |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rul.itertuples():
        lines.append(
            f"| {r.cell} | {r.eol_cycle:.0f} | {r.prediction_cycle} | {r.true_rul_cycles:.0f} | "
            f"{r.rul_regressor:.0f} | {r.linear_extrapolation:.0f} | {r.quadratic_extrapolation:.0f} | "
            f"[{r.interval_low:.0f}, {r.interval_high:.0f}] |"
        )
    lines += [
        "",
        "| method | MAE | RMSE |",
        "|---|---:|---:|",
    ]
    for method, name in (("rul_regressor", "RULRegressor (boosted trees on log(1 + RUL), trained on 2 cells)"),
                         ("linear_extrapolation", "linear Theil-Sen extrapolation (no training)"),
                         ("quadratic_extrapolation", "quadratic Theil-Sen extrapolation (no training)")):
        lines.append(f"| {name} | {res[f'rul_{method}_mae_at_half_life_cycles']:.1f} | "
                     f"{res[f'rul_{method}_rmse_at_half_life_cycles']:.1f} |")
    lines += [
        "",
        f"RUL intervals (jackknife+ with relative scores over the 2 training cells, cycles as the unit): the "
        f"true RUL at half life is inside for {res['rul_interval_covers_at_half_life']} cells; over every cycle "
        f"of the held-out cells up to end of life coverage is {res['rul_interval_coverage_all_cycles_pooled']:.3f} "
        f"(nominal {1 - ALPHA:.2f}). Two training cells are far too few for calibrated RUL intervals; the "
        "coverage test on 100 held-out synthetic cells (`tests/models/test_health_rul.py`) is where the "
        "method's calibration is checked.",
        "",
        "## Context: fade rate, knees, anomalies",
        "",
        "| cell | cycles | median fade (mAh/cycle) | knee point (cycle) | knee onset (cycle) | capacity jumps > 30 mAh "
        "| cycles flagged by the anomaly detector |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in ctx.itertuples():
        lines.append(
            f"| {r.cell} | {r.cycles} | {r.median_fade_rate_mah_per_cycle:.2f} | {r.knee_point_cycle:.0f} | "
            f"{r.knee_onset_cycle:.0f} | {', '.join(map(str, r.regeneration_jumps)) or '-'} | "
            f"{', '.join(map(str, r.flagged_cycles)) or '-'} |"
        )
    lines += [
        "",
        "The NASA curves fade almost linearly with capacity regeneration after rests; the Bacon-Watts knee of "
        "such a curve marks its steepest bend, not a lithium-plating knee. The anomaly detector (Isolation "
        "Forest on one-step-ahead trajectory residuals of capacity, max temperature and discharge time, "
        "contamination 0.02) is fitted on all four cells without labels; the regeneration jumps are the "
        "expected finds.",
        "",
        "## Notes",
        "",
        "- Four cells is a very small fleet. B0006 fades further (to 0.58 of rated) than any other cell, so "
        "predicting it is an extrapolation; it has the largest error for every model, and the models that cannot "
        "extrapolate (trees, the GP's RBF part) suffer most.",
        "- The window choice matters (see the sensitivity table); the headline uses nested selection so that "
        "the window is never tuned on the test cell. The candidate grid itself (starts 3.95-3.55 V) was fixed "
        "after exploratory runs on these same four cells, which is a mild form of selection on the test data; "
        "the broader-grid row shows how much that choice matters.",
        "- The GP (DotProduct + RBF + white noise) reverts to its mean outside the training range, so it fails "
        "on B0006; ridge extrapolates linearly, which is what these near-linear features need.",
        "- The knee columns come from near-linear curves with regeneration jumps: the Bacon-Watts breakpoints "
        "there mark the strongest bends (even onset after knee point for B0005), not a knee in the sense of "
        "accelerating fade. The knee tests use synthetic curves with known knees.",
        "- NASA's `Capacity` integrates the discharge down to each cell's own cut-off (2.2-2.7 V); the windows "
        "used here lie above 3.0 V and do not see the cut-off.",
    ]
    (RESULTS / "nasa_soh.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    t_start = time.perf_counter()
    root = shared_root()
    cells = load_nasa_pcoe(root)
    summary = load_nasa_pcoe_summary(root)
    capacity = summary[["cell_id", "cycle_count", "discharge_capacity_ah"]].copy()
    capacity["soh"] = capacity["discharge_capacity_ah"] / NOMINAL_AH
    first = summary.sort_values("cycle_count").groupby("cell_id")["discharge_capacity_ah"].first()
    capacity["first_capacity_ah"] = capacity["cell_id"].map(first)
    cell_ids = [c.metadata.cell_id for c in cells]
    tables = window_tables(cells, capacity)
    res: dict = {
        "generated_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git_revision": git_rev(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "seed": SEED,
        "alpha": ALPHA,
        "nominal_capacity_ah": NOMINAL_AH,
        "n_discharges": len(summary),
        "cells": ",".join(cell_ids),
        "published_context_soh": PUBLISHED["sci_rep_2025"],
        "goal_soh_rmse_fraction": 0.01,
    }
    soh_res, soh_p, fixed = soh_benchmark(tables, cell_ids)
    res.update(soh_res)
    res["goal_soh_rmse_met"] = res["soh_ridge_nested_rmse_pooled_fraction"] <= 0.01
    rul_res, rul = rul_benchmark(summary)
    res.update(rul_res)
    ctx_res, ctx = context(summary)
    res.update(ctx_res)
    res["total_seconds"] = time.perf_counter() - t_start
    RESULTS.mkdir(parents=True, exist_ok=True)
    clean = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in sorted(res.items())}
    (RESULTS / "nasa_soh.json").write_text(json.dumps(clean, indent=1) + "\n")
    write_report(res, soh_p, fixed, rul, ctx)
    print(f"SOH ridge nested LOCO RMSE {res['soh_ridge_nested_rmse_pooled_fraction']:.4f} (goal 0.01); "
          f"RUL MAE at half life {res['rul_rul_regressor_mae_at_half_life_cycles']:.1f} cycles; "
          f"wrote {RESULTS / 'nasa_soh.md'}")


if __name__ == "__main__":
    main()
