"""Study ``cathode-challenge`` (the main job): a layered cathode with > 200 mAh/g that lasts 2,000 cycles.

Pipeline, each step a voltlab stage:

1. **Candidates**: doped layered oxides ``Li(Ni_a Co_b Mn_c)_(1-w) M_w O2`` (M in the
   config's dopant list), a seeded Sobol library over the config's bounds.
2. **Lab data**: ``n_lab`` candidates "measured" for initial discharge capacity (mAh/g)
   and 50-cycle capacity retention (%). Offline this lab is the labelled synthetic NCM
   emulator of :mod:`voltlab.studies.ncm_cobalt` (``ncm_properties``); with ``--data`` it
   is the user's table (the doped-NCM literature table layout: ``Li, Ni, Co, Mn, M, IC, EC``
   and optionally ``dopant``).
3. **Descriptors**: Magpie element statistics of each formula (:class:`~voltlab.features.MagpieFeaturizer`).
4. **Models**: random-forest property models (:class:`~voltlab.models.PropertyRegressor`,
   split-conformal intervals) for capacity and retention, with 5-fold CV scores in their
   model cards.
5. **BO**: a two-objective campaign (qLogNEHVI, or qLogEHVI once the emulator's outcomes fit as exact) over the composition space whose
   evaluations are the models' predictions, with the hypervolume reference point's
   capacity 10 mAh/g under the target (so only candidates near or above it count).
   Compared with random search at the same budget.
6. **Shortlist and confirmation**: the Pareto candidates meeting the capacity target are
   re-measured in the lab (offline: the emulator) and the best ``n_cells`` are cycled in
   PyBaMM (SPM, OKane2022 graphite|NMC811 cell, SEI growth + stress-driven loss of
   positive active material). The cathode's measured 50-cycle loss sets the positive
   electrode's LAM rate (calibrated in the same run: LAM is linear in the rate constant
   over this range, checked); the simulated full-cell fade is extrapolated linearly to
   80 % retention. The verdict for each candidate says which target it meets and why it
   is on the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, StudyConfigError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["CathodeChallengeConfig", "calibrate_lam", "cathode_formula", "project_cycle_life", "run_cathode_challenge",
           "run_cell"]

_LAM = "Positive electrode LAM constant proportional term [s-1]"
_RF = {"n_estimators": 100, "min_samples_leaf": 1}
_CYCLE = ("Charge at 1C until 4.2 V", "Hold at 4.2 V until C/20", "Discharge at 1C until 2.5 V")


@dataclass(frozen=True)
class CathodeChallengeConfig(StudyConfig):
    """Configuration of the ``cathode-challenge`` study (the main job)."""

    capacity_target_mah_g: float = field(default=200.0, metadata={"help": "initial discharge capacity target",
                                                                  "unit": "mAh/g"})
    cycle_target: int = field(default=2000, metadata={"help": "full-cell cycles to 80 % retention target"})
    ni_bounds: tuple[float, ...] = field(default=(0.5, 0.95), metadata={"help": "Ni share of Ni+Co+Mn"})
    co_bounds: tuple[float, ...] = field(default=(0.0, 0.2), metadata={"help": "Co share of Ni+Co+Mn"})
    mn_bounds: tuple[float, ...] = field(default=(0.02, 0.4), metadata={"help": "Mn share of Ni+Co+Mn"})
    dopants: tuple[str, ...] = field(default=("none", "Al", "Mg", "Zr", "Ti"),
                                     metadata={"help": "dopants on the transition-metal site ('none' = undoped)"})
    max_dopant: float = field(default=0.03, metadata={"help": "largest dopant share w of the TM site"})
    n_lab: int = field(default=40, metadata={"help": "candidates measured in the lab to train the models"})
    budget: int = field(default=30, metadata={"help": "BO evaluations (on the models)"})
    batch_size: int = field(default=5, metadata={"help": "BO batch size"})
    n_cells: int = field(default=3, metadata={"help": "shortlisted candidates cycled in PyBaMM"})
    sim_cycles: int = field(default=30, metadata={"help": "cycles simulated per candidate (then extrapolated)"})
    compare_random: bool = field(default=True, metadata={"help": "also run random search at the same budget"})
    average_voltage_volt: float = field(default=3.7, metadata={"help": "average discharge voltage assumed for the "
                                                                       "stack energy density", "unit": "V"})

    def validate(self) -> None:
        for key in ("ni_bounds", "co_bounds", "mn_bounds"):
            b = getattr(self, key)
            if len(b) != 2 or not 0.0 <= b[0] < b[1] <= 1.0:
                raise StudyConfigError(f"config key {key!r}: {list(b)} must be [low, high] with 0 <= low < high <= 1",
                                       value=b)
        lows = self.ni_bounds[0] + self.co_bounds[0] + self.mn_bounds[0]
        highs = self.ni_bounds[1] + self.co_bounds[1] + self.mn_bounds[1]
        if not lows <= 1.0 <= highs:
            raise StudyConfigError(f"config keys ni/co/mn_bounds: Ni + Co + Mn = 1 cannot hold (lows sum {lows:g}, "
                                   f"highs sum {highs:g})")
        known = {"none", "Al", "Mg", "Zr", "Ti", "Nb", "W", "B"}
        bad = [d for d in self.dopants if d not in known]
        if not self.dopants or bad:
            raise StudyConfigError(f"config key 'dopants': {bad or 'empty'}; choose from {sorted(known)}")
        if not 0.0 <= self.max_dopant <= 0.1:
            raise StudyConfigError(f"config key 'max_dopant' must be in [0, 0.1], got {self.max_dopant}")
        for key, low in (("n_lab", 10), ("budget", 6), ("batch_size", 1), ("n_cells", 1), ("sim_cycles", 5),
                         ("cycle_target", 1)):
            if getattr(self, key) < low:
                raise StudyConfigError(f"config key {key!r} must be >= {low}, got {getattr(self, key)}")
        if not 2.5 <= self.average_voltage_volt <= 5.0:
            raise StudyConfigError(f"config key 'average_voltage_volt' must be in [2.5, 5] V, got "
                                   f"{self.average_voltage_volt}")
        if not 50.0 <= self.capacity_target_mah_g <= 350.0:
            raise StudyConfigError("config key 'capacity_target_mah_g' must be in [50, 350] mAh/g, "
                                   f"got {self.capacity_target_mah_g}")


def cathode_formula(ni: float, co: float, mn: float, dopant: str = "none", amount: float = 0.0) -> str:
    """Formula of ``Li(Ni Co Mn)_(1-w) M_w O2`` with Ni + Co + Mn normalised to 1 (``w = amount``).

    Examples
    --------
    >>> cathode_formula(0.8, 0.1, 0.1)
    'LiNi0.8Co0.1Mn0.1O2'
    >>> cathode_formula(0.8, 0.1, 0.1, "Al", 0.02)
    'LiNi0.784Co0.098Mn0.098Al0.02O2'
    """
    total = ni + co + mn
    if total <= 0 or min(ni, co, mn) < 0:
        raise DataFormatError(f"Ni, Co, Mn = {ni}, {co}, {mn}: shares must be >= 0 with a positive sum")
    w = float(amount) if dopant not in ("none", "") and round(float(amount), 4) > 0 else 0.0
    parts = [("Ni", ni), ("Co", co), ("Mn", mn)]
    text = "Li" + "".join(f"{el}{round((1 - w) * x / total, 4):g}" for el, x in parts if round((1 - w) * x / total, 4))
    if w > 0:
        text += f"{dopant}{round(w, 4):g}"
    return text + "O2"


def project_cycle_life(cycles: np.ndarray, retention: np.ndarray, level: float = 0.8, skip: int = 3) -> float:
    """Cycles to ``level`` retention from a linear fit of retention after the first ``skip`` cycles.

    Returns the first cycle below ``level`` if the data reach it, else the linear
    extrapolation (``inf`` if the fitted fade rate is not positive).

    Examples
    --------
    >>> import numpy as np
    >>> c = np.arange(1, 31); project_cycle_life(c, 1 - 1e-4 * c)
    2000.0
    """
    c = np.asarray(cycles, dtype=np.float64)
    r = np.asarray(retention, dtype=np.float64)
    below = np.flatnonzero(r < level)
    if below.size:
        return float(c[below[0]])
    sel = c > c[0] + skip - 1 if c.size > skip + 2 else np.ones_like(c, dtype=bool)
    slope, intercept = np.polyfit(c[sel], r[sel], 1)
    if slope >= -1e-12:  # no measurable fade
        return math.inf
    return float(round((level - intercept) / slope, 1))


def _space(cfg: CathodeChallengeConfig) -> Any:
    from voltlab.optimize import Categorical, Real, SearchSpace, Simplex

    params: list[Any] = [Real("Ni", *cfg.ni_bounds), Real("Co", *cfg.co_bounds), Real("Mn", *cfg.mn_bounds)]
    if len(cfg.dopants) > 1:
        params.append(Categorical("dopant", tuple(cfg.dopants)))
    if cfg.max_dopant > 0 and any(d != "none" for d in cfg.dopants):
        params.append(Real("dopant_amount", 0.0, cfg.max_dopant))
    return SearchSpace(params, simplexes=[Simplex(("Ni", "Co", "Mn"), total=1.0)])


def _dopant_of(point: Mapping[str, Any], cfg: CathodeChallengeConfig) -> tuple[str, float]:
    dop = str(point.get("dopant", cfg.dopants[0]))
    amt = float(point.get("dopant_amount", 0.0)) if dop != "none" else 0.0
    return dop, amt


def _lab_from_emulator(points: list[dict[str, Any]], cfg: CathodeChallengeConfig, seed: int) -> pd.DataFrame:
    from voltlab.studies.ncm_cobalt import ncm_properties

    rows = []
    for i, p in enumerate(points):
        dop, amt = _dopant_of(p, cfg)
        props = ncm_properties(p["Ni"], p["Co"], p["Mn"], dop, amt, seed=seed * 100_003 + i)
        rows.append({"formula": cathode_formula(p["Ni"], p["Co"], p["Mn"], dop, amt), "Ni": p["Ni"], "Co": p["Co"],
                     "Mn": p["Mn"], "dopant": dop, "dopant_amount": amt,
                     "capacity_mah_g": float(props["capacity_mah_g"]),
                     "retention_50_percent": float(props["retention_50_percent"])})
    return pd.DataFrame(rows)


def _lab_from_file(path: Path) -> pd.DataFrame:
    """The user's table in the doped-NCM layout; Li-rich rows (Li > 1.1 per formula) are left out."""
    from voltlab.data.datasets.materials import load_doped_ncm

    table = load_doped_ncm(path)
    table = table[table["li"] <= 1.1].reset_index(drop=True)
    if len(table) < 10:
        raise DataFormatError(f"only {len(table)} conventional (Li <= 1.1) NCM rows; the models need >= 10", path=path)
    tm = table["ni"] + table["co"] + table["mn"]
    dop = table["dopant"].astype(str).where(table["dopant_amount"] > 0, "none")
    ic = table["initial_discharge_capacity_mah_per_g"].astype(float)
    return pd.DataFrame({
        "formula": table["formula"], "Ni": table["ni"] / tm, "Co": table["co"] / tm, "Mn": table["mn"] / tm,
        "dopant": dop, "dopant_amount": table["dopant_amount"].astype(float), "capacity_mah_g": ic,
        "retention_50_percent": 100.0 * table["discharge_capacity_cycle50_mah_per_g"].astype(float) / ic,
        "group": table["group"].astype(str)})


def _ageing_simulator(cycles: int) -> Any:
    from voltlab.simulate import Simulator

    return Simulator("SPM", "OKane2022", list(_CYCLE), cycles=cycles, initial_soc=0.0,
                     sei="solvent-diffusion limited", loss_of_active_material="stress-driven", inputs=[_LAM],
                     period_second=120)


def calibrate_lam(sim: Any, reference_rate: float = 1e-5) -> float:
    """Positive-electrode active material lost per cycle (%) at ``reference_rate`` (s^-1) in ``sim``."""
    d = sim.solve(inputs={_LAM: reference_rate}, on_failure="raise").degradation()
    return float(d["lam_pe_percent"].iloc[-1]) / float(d["cycle_count"].iloc[-1])


def run_cell(sim: Any, retention_50_percent: float, *, reference_rate: float, lam_per_cycle_at_reference: float
             ) -> tuple[pd.DataFrame, float, float]:
    """Cycle the cell with the positive-LAM rate that loses the cathode's 50-cycle loss evenly per cycle.

    Returns the PyBaMM degradation table, the rate constant used (s^-1) and the target
    loss of positive active material per cycle (%).
    """
    target_per_cycle = max(100.0 - float(retention_50_percent), 0.0) / 50.0
    rate = reference_rate * target_per_cycle / lam_per_cycle_at_reference if lam_per_cycle_at_reference > 0 else 0.0
    deg = sim.solve(inputs={_LAM: rate}, on_failure="return").degradation()
    return deg, rate, target_per_cycle


@register_study("cathode-challenge", title="The cathode challenge: > 200 mAh/g and 2,000 cycles",
                question="Which doped Ni-rich layered cathode delivers more than 200 mAh/g and keeps 80 % of its "
                         "capacity for 2,000 cycles in a full cell?",
                config=CathodeChallengeConfig,
                data="a doped-NCM table (CSV: Li, Ni, Co, Mn, M, IC, EC [, dopant, ref_doi]) to train the models on",
                runtime="≈ 75 s")
def run_cathode_challenge(config: CathodeChallengeConfig, *, data: Path | None, out_dir: Path,
                          progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    from voltlab.features import MagpieFeaturizer
    from voltlab.models import PropertyRegressor, regression_metrics
    from voltlab.simulate import cell_energy_density
    from voltlab.studies.loop import compare_with_random, convergence_figure, run_campaign

    cfg = config
    space = _space(cfg)
    feat = MagpieFeaturizer()
    # 2. lab data
    if data is None:
        progress(f"lab: measuring {cfg.n_lab} Sobol candidates (synthetic NCM emulator)")
        lab = _lab_from_emulator(space.sample(cfg.n_lab, seed=cfg.seed), cfg, cfg.seed)
        source = "synthetic NCM emulator (voltlab.studies.ncm_cobalt.ncm_properties), not measurements"
    else:
        progress(f"lab: reading {data}")
        lab = _lab_from_file(data)
        source = f"user table {data.name} ({len(lab)} rows)"
    # 3-4. descriptors and models
    x_lab = feat.featurize_many(lab["formula"].tolist())
    models: dict[str, Any] = {}
    cards = []
    cv_pred: dict[str, np.ndarray] = {}
    for target, unit in (("capacity_mah_g", "mAh/g"), ("retention_50_percent", "%")):
        y = lab[target].to_numpy(dtype=np.float64)
        rng = np.random.default_rng(cfg.seed)
        groups = lab["group"].to_numpy() if "group" in lab.columns else rng.permutation(len(lab)) % 5
        uniq = np.unique(groups)
        fold_of = {g: i % 5 for i, g in enumerate(rng.permutation(uniq))}
        folds = np.array([fold_of[g] for g in groups])
        pred = np.full(len(y), np.nan)
        for k in range(5):
            test = folds == k
            if test.sum() == 0 or (~test).sum() < 5:
                continue
            m = PropertyRegressor(method="rf", interval="none", random_state=cfg.seed,
                                  params=_RF).fit(x_lab[~test], y[~test])
            pred[test] = m.predict(x_lab[test])
        ok = np.isfinite(pred)
        scores = regression_metrics(y[ok], pred[ok])
        cv_pred[target] = pred
        models[target] = PropertyRegressor(method="rf", interval="split", random_state=cfg.seed,
                                           params=_RF).fit(x_lab, y)
        cards.append({"model": f"{target} ({unit})", "method": "random forest on Magpie descriptors",
                      "training data": source, "rows": len(lab),
                      "validation": "5-fold CV" + (" grouped by source paper" if "group" in lab.columns else ""),
                      "CV MAE": f"{scores['mae']:.3g} {unit}", "CV R2": f"{scores['r2']:.3f}",
                      "intervals": "split-conformal, 90 %",
                      "limits": "interpolates within the lab compositions; not valid for other structure types"})

    def predict(point: Mapping[str, Any]) -> dict[str, float]:
        dop, amt = _dopant_of(point, cfg)
        x = feat.featurize_many([cathode_formula(point["Ni"], point["Co"], point["Mn"], dop, amt)])
        return {"capacity_mah_g": float(models["capacity_mah_g"].predict(x)[0]),
                "retention_50_percent": float(models["retention_50_percent"].predict(x)[0])}

    # 5. BO on the models
    objectives = ["capacity_mah_g", "retention_50_percent"]
    # The reference point puts capacity just under the target: hypervolume (and qLogNEHVI) count only
    # candidates near or above it, so the front is the capacity-retention trade-off where it matters.
    ref_point = [cfg.capacity_target_mah_g - 10.0, float(np.percentile(lab["retention_50_percent"], 5))]
    constraint: list[str] = []
    progress(f"BO: {cfg.budget} model evaluations (hypervolume improvement, reference capacity {ref_point[0]:g} mAh/g)")
    metrics: dict[str, float] = {}
    figures: list[Figure] = []
    if cfg.compare_random:
        traces, runs = compare_with_random(out_dir / "campaigns", space, objectives, predict, budget=cfg.budget,
                                           seeds=[cfg.seed], batch_size=cfg.batch_size, outcome_constraints=constraint,
                                           ref_point=ref_point)
        loop = runs[cfg.seed]
        final = traces.groupby("method")["best_so_far"].last()
        metrics["bo_hypervolume"] = float(final.drop("random").iloc[0])
        metrics["random_hypervolume"] = float(final["random"])
        figures.append(convergence_figure(traces, y_label="hypervolume (mAh/g × %)",
                                          title="BO against random search on the property models"))
    else:
        loop = run_campaign(out_dir / "campaigns" / "bo.campaign", space, objectives, predict, budget=cfg.budget,
                            batch_size=cfg.batch_size, seed=cfg.seed, outcome_constraints=constraint,
                            ref_point=ref_point)
        metrics["bo_hypervolume"] = float(loop.best_so_far[-1])
    camp = loop.campaign
    front = camp.pareto_front()
    # 6. shortlist: Pareto points over the capacity target, confirmed in the lab and cycled in PyBaMM
    short = []
    for s in front:
        dop, amt = _dopant_of(s.point, cfg)
        short.append({"formula": cathode_formula(s.point["Ni"], s.point["Co"], s.point["Mn"], dop, amt),
                      **{k: s.point[k] for k in ("Ni", "Co", "Mn")}, "dopant": dop, "dopant_amount": amt,
                      "predicted_capacity_mah_g": s.values["capacity_mah_g"],  # type: ignore[index]
                      "predicted_retention_50_percent": s.values["retention_50_percent"]})  # type: ignore[index]
    shortlist = pd.DataFrame(short)
    if len(shortlist):
        xs = feat.featurize_many(shortlist["formula"].tolist())
        for target, col in (("capacity_mah_g", "capacity"), ("retention_50_percent", "retention")):
            lo, hi = models[target].predict_interval(xs, coverage=0.9)
            shortlist[f"{col}_interval_90"] = [f"{a:.1f}–{b:.1f}" for a, b in zip(lo, hi, strict=True)]
        shortlist = shortlist.sort_values("predicted_retention_50_percent", ascending=False).reset_index(drop=True)
    if data is None and len(shortlist):
        confirm = _lab_from_emulator(shortlist[["Ni", "Co", "Mn", "dopant", "dopant_amount"]].to_dict("records"),
                                     cfg, cfg.seed + 7)
        shortlist["lab_capacity_mah_g"] = confirm["capacity_mah_g"].to_numpy()
        shortlist["lab_retention_50_percent"] = confirm["retention_50_percent"].to_numpy()
        cap_col, ret_col = "lab_capacity_mah_g", "lab_retention_50_percent"
    else:
        cap_col, ret_col = "predicted_capacity_mah_g", "predicted_retention_50_percent"
    cells = shortlist[shortlist[cap_col] >= cfg.capacity_target_mah_g].head(cfg.n_cells) if len(shortlist) else shortlist
    if len(cells) == 0 and len(shortlist):
        cells = shortlist.sort_values(cap_col, ascending=False).head(cfg.n_cells)
    sim_rows, fade_series = [], []
    if len(cells):
        sim = _ageing_simulator(cfg.sim_cycles)
        progress("PyBaMM: calibrating the positive-electrode LAM rate")
        ref_rate = 1e-5
        lam_ref = calibrate_lam(sim, ref_rate)
    for _, c in cells.iterrows():
        progress(f"PyBaMM: {c['formula']} for {cfg.sim_cycles} cycles (SEI + positive LAM)")
        deg, rate, lam_cycle = run_cell(sim, float(c[ret_col]), reference_rate=ref_rate,
                                        lam_per_cycle_at_reference=lam_ref)
        cyc = deg["cycle_count"].to_numpy(dtype=np.float64)
        ret = deg["discharge_capacity_ah"].to_numpy(dtype=np.float64) / float(deg["discharge_capacity_ah"].iloc[0])
        life = project_cycle_life(cyc, ret)
        stack = cell_energy_density(float(c[cap_col]), cfg.average_voltage_volt, parameters="OKane2022")
        sim_rows.append({"formula": c["formula"], "cathode_loss_percent_per_cycle": lam_cycle,
                         "simulated_lam_pe_percent_per_cycle": float(deg["lam_pe_percent"].iloc[-1]) / cyc[-1],
                         "lam_rate_constant_s-1": rate, "simulated_cycles": int(cyc[-1]),
                         "retention_at_last_simulated_cycle_percent": 100 * ret[-1],
                         "projected_cycles_to_80_percent": life,
                         "stack_energy_density_wh_kg": stack.gravimetric_energy_density_wh_kg,
                         "stack_energy_density_wh_l": stack.volumetric_energy_density_wh_l})
        fade_series.append(Series(c["formula"], cyc.tolist(), (100 * ret).tolist(), mode="lines+markers"))
    sims = pd.DataFrame(sim_rows)
    if len(shortlist):
        shortlist = shortlist.merge(sims[["formula", "projected_cycles_to_80_percent"]], on="formula", how="left")
        shortlist["why"] = [_why(r, cap_col, ret_col, cfg) for r in shortlist.to_dict("records")]
    winners = shortlist[(shortlist[cap_col] >= cfg.capacity_target_mah_g)
                        & (shortlist["projected_cycles_to_80_percent"] >= cfg.cycle_target)] if len(shortlist) else []
    # figures
    all_pts = camp.suggestions("complete")
    figures.insert(0, Figure(
        "pareto", "Predicted capacity against retention: BO evaluations and the Pareto front",
        "capacity (mAh/g)", "50-cycle retention (%)",
        [Series("BO evaluations", [s.values["capacity_mah_g"] for s in all_pts],  # type: ignore[index]
                [s.values["retention_50_percent"] for s in all_pts], mode="markers",  # type: ignore[index]
                text=[f"Ni {s.point['Ni']:.2f} Co {s.point['Co']:.2f} Mn {s.point['Mn']:.2f}" for s in all_pts]),
         Series("Pareto front", shortlist["predicted_capacity_mah_g"].tolist() if len(shortlist) else [],
                shortlist["predicted_retention_50_percent"].tolist() if len(shortlist) else [], mode="markers",
                text=shortlist["formula"].tolist() if len(shortlist) else None),
         Series("lab data", lab["capacity_mah_g"].tolist(), lab["retention_50_percent"].tolist(), mode="markers")]))
    for target, label in (("capacity_mah_g", "capacity (mAh/g)"), ("retention_50_percent", "retention (%)")):
        y = lab[target].to_numpy()
        p = cv_pred[target]
        ok = np.isfinite(p)
        lo, hi = float(min(y.min(), p[ok].min())), float(max(y.max(), p[ok].max()))
        figures.append(Figure(f"parity_{target}", f"Cross-validated parity: {label}", f"measured {label}",
                              f"predicted {label}", [Series("5-fold CV", y[ok].tolist(), p[ok].tolist(), mode="markers",
                                                            text=lab["formula"][ok].tolist()),
                                                     Series("y = x", [lo, hi], [lo, hi], dash=True)]))
    if fade_series:
        figures.append(Figure("cell_fade", f"PyBaMM full-cell retention of the shortlisted cathodes "
                                           f"({cfg.sim_cycles} cycles, 1C/1C)", "cycle", "retention (%)",
                              fade_series, note="Extrapolated linearly to 80 % for the projected cycle life."))
    metrics |= {"lab_rows": float(len(lab)), "pareto_size": float(len(shortlist)),
                "candidates_meeting_both_targets": float(len(winners)),
                "capacity_cv_mae_mah_g": float(np.nanmean(np.abs(cv_pred["capacity_mah_g"]
                                                                 - lab["capacity_mah_g"].to_numpy()))),
                "retention_cv_mae_percent": float(np.nanmean(np.abs(cv_pred["retention_50_percent"]
                                                                    - lab["retention_50_percent"].to_numpy())))}
    if len(sims):
        best = sims.sort_values("projected_cycles_to_80_percent", ascending=False).iloc[0]
        metrics["best_projected_cycles_to_80_percent"] = float(best["projected_cycles_to_80_percent"])
        best_row = shortlist[shortlist["formula"] == best["formula"]].iloc[0]
        metrics["best_capacity_mah_g"] = float(best_row[cap_col])
        metrics["best_stack_energy_density_wh_kg"] = float(best["stack_energy_density_wh_kg"])
    kpis = {"lab rows": f"{len(lab)}", "Pareto candidates": f"{len(shortlist)}",
            "meet both targets": f"{len(winners)}",
            "capacity model CV MAE": f"{metrics['capacity_cv_mae_mah_g']:.1f} mAh/g"}
    if "best_projected_cycles_to_80_percent" in metrics:
        kpis["best projected cycle life"] = f"{metrics['best_projected_cycles_to_80_percent']:.0f} cycles"
        kpis["its electrode-stack energy"] = f"{metrics['best_stack_energy_density_wh_kg']:.0f} Wh/kg"
    if len(winners):
        w = winners.iloc[0]
        answer = (f"{len(winners)} candidate(s) meet both targets; the first is {w['formula']} with "
                  f"{w[cap_col]:.0f} mAh/g and a projected {w['projected_cycles_to_80_percent']:.0f} cycles to 80 % "
                  f"in the simulated full cell.")
    elif len(sims):
        answer = (f"No candidate meets both targets: the best simulated cathode, {best['formula']}, projects "
                  f"{best['projected_cycles_to_80_percent']:.0f} cycles at {metrics['best_capacity_mah_g']:.0f} mAh/g "
                  f"(targets {cfg.capacity_target_mah_g:g} mAh/g and {cfg.cycle_target} cycles): its simulated "
                  f"full-cell fade of {20.0 / best['projected_cycles_to_80_percent']:.3f} %/cycle would have to fall "
                  f"to {20.0 / cfg.cycle_target:.3f} %/cycle "
                  f"({cfg.cycle_target / best['projected_cycles_to_80_percent']:.1f}× lower). The Pareto front "
                  "shows the capacity each point of retention costs.")
    else:
        answer = "The BO found no candidate on the Pareto front; widen the bounds or raise the budget."
    notes = [f"Lab data: {source}.",
             "Cycle life is a projection: the cathode's 50-cycle half-cell loss is taken as its rate of active-"
             "material loss in a graphite|NMC811 full cell (PyBaMM OKane2022, SPM, SEI + stress-driven LAM), "
             "the simulated fade is extrapolated linearly to 80 %. Real cells add electrolyte and anode ageing "
             "beyond the SEI model.",
             f"Stack energy density: voltlab.simulate.cell_energy_density with the OKane2022 cell design (anode and "
             f"N/P ratio kept, the cathode coating scaled to the candidate's capacity), at an assumed "
             f"{cfg.average_voltage_volt:g} V average discharge voltage; packaging excluded."]
    tables = {"Shortlist (Pareto candidates)": shortlist, "PyBaMM cycling of the shortlist": sims,
              "Lab data": lab, "BO campaign log": loop.log}
    camp.close()
    return StudyResult("cathode-challenge", "The cathode challenge: > 200 mAh/g and 2,000 cycles",
                       question=f"Which doped layered cathode delivers > {cfg.capacity_target_mah_g:g} mAh/g and "
                                f"keeps 80 % capacity for {cfg.cycle_target} cycles?",
                       answer=answer, metrics=metrics, kpis=kpis, tables=tables, figures=figures,
                       model_cards=[*cards, {"model": "PyBaMM SPM (OKane2022)", "options": "SEI solvent-diffusion limited, stress-driven loss of active material", "protocol": " / ".join(_CYCLE), "cycles simulated": cfg.sim_cycles, "mapping": "cathode 50-cycle loss → positive LAM rate constant " "(calibrated each run)"}],
                       notes=notes,
                       provenance=study_provenance("cathode-challenge", cfg, {"data": data} if data else None))


def _why(r: Mapping[str, Any], cap_col: str, ret_col: str, cfg: CathodeChallengeConfig) -> str:
    parts = [f"Pareto-optimal (capacity {r['predicted_capacity_mah_g']:.0f} mAh/g vs retention "
             f"{r['predicted_retention_50_percent']:.1f} %)"]
    parts.append("meets capacity target" if r[cap_col] >= cfg.capacity_target_mah_g else "below capacity target")
    life = r.get("projected_cycles_to_80_percent")
    if life is not None and np.isfinite(life):
        parts.append(f"projects {life:.0f} cycles" + (" (meets)" if life >= cfg.cycle_target else " (short)"))
    if r["Co"] <= 0.05:
        parts.append("low cobalt")
    return "; ".join(parts)
