"""Study ``perovskite``: a mixed-cation, mixed-halide composition that balances efficiency and stability.

Composition ``Cs_x FA_y MA_(1-x-y) Pb(I_(1-z) Br_z)3``: a cation simplex (Cs + FA + MA = 1, with
bounds) and the bromide fraction ``z``. Two objectives, maximised together by a
multi-objective BO campaign (qLogNEHVI, or qLogEHVI when the outcomes fit as exact) and by random search on the same budget and seeds;
the hypervolume (fixed reference point) measures both.

**The default "lab" is an emulator, not data.** Its physical ingredients are standard:

* the detailed-balance (Shockley–Queisser) efficiency limit, computed here from first
  principles (:func:`detailed_balance_efficiency`): a blackbody sun at ``sun_temperature_k``
  (6000 K, as in Shockley & Queisser, J. Appl. Phys. 32, 510 (1961)) diluted by the solid
  angle of the solar disk ``(R_sun / 1 au)²``, a 300 K cell emitting as a blackbody above its
  gap from the front surface, radiative recombination only, the Boltzmann diode equation;
  with these assumptions the peak is ≈ 31 % near 1.3 eV (the AM1.5G spectrum gives 33.7 % at
  1.34 eV; no tabulated spectrum is bundled, so it is not used);
* the Goldschmidt tolerance factor ``t = (r_A + r_X) / (√2 (r_B + r_X))`` with Shannon ionic
  radii (Acta Cryst. A32, 751 (1976): Cs⁺ XII 188 pm, Pb²⁺ VI 119 pm, I⁻ 220 pm, Br⁻ 196 pm) and
  the effective radii of the molecular cations of Kieslich, Sun & Cheetham (Chem. Sci. 5,
  4712 (2014): MA⁺ 217 pm, FA⁺ 253 pm); mixed sites take composition-weighted radii;
* the band gap of the iodide end members (MAPbI3 1.57 eV, Noh et al., Nano Lett. 13, 1764
  (2013); FAPbI3 1.48 eV, Eperon et al., Energy Environ. Sci. 7, 982 (2014); CsPbI3 1.73 eV,
  Eperon et al., J. Mater. Chem. A 3, 19688 (2015)), mixed linearly over the cations (an
  emulator assumption), plus the bromide bowing of Noh et al. (2013) for MAPb(I1-zBrz)3,
  ``ΔEg = 0.39 z + 0.33 z²`` eV, applied to every cation mix (an emulator assumption).

The rest is **synthetic**, stated in :data:`EMULATOR_PARAMETERS` and written for testing the
pipeline; its outputs are not measurements:

* ``PCE = 100 · SQ(Eg) · q_max · φ_t`` (%), ``φ_t = exp(-(δ_t / w_t)²)`` where ``δ_t`` is the
  distance of ``t`` outside the window ``[t_low, t_high]``;
* ``ln T80 = ln T_ref + a_Cs·Cs + a_FA·FA + a_MA·MA + a_Br·min(z, z_seg) - b_seg·max(0, z - z_seg)
  - c_delta·max(0, FA - FA_delta)/(1 - FA_delta) + ln φ_t`` (hours): Cs and FA raise T80, the
  volatile MA lowers it, a little bromide helps, light-induced halide segregation above
  ``z_seg`` (Hoke et al., Chem. Sci. 6, 613 (2015) report it for z > 0.2) lowers it, and an
  FA-rich A site without enough Cs/MA is penalised for the δ phase;
* each measured value times ``exp(noise · N(0, 1))``, the draw fixed by the composition.

With ``--data`` (a CSV of measured compositions) random-forest surrogates of PCE and log T80
replace the emulator.
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
from voltlab.studies.tables import numeric_column, read_csv_table

__all__ = ["EMULATOR_PARAMETERS", "IONIC_RADII_PM", "PEROVSKITE_COLUMNS", "PerovskiteConfig", "band_gap_ev",
           "detailed_balance_efficiency", "emulate", "read_perovskite_csv", "run_perovskite", "tolerance_factor"]

# ------------------------------------------------------------------------------------ physical constants (SI)
_H = 6.62607015e-34       # Planck constant, J s
_C = 299792458.0          # speed of light, m/s
_Q = 1.602176634e-19      # elementary charge, C
_KB = 1.380649e-23        # Boltzmann constant, J/K
_SIGMA = 5.670374419e-8   # Stefan–Boltzmann constant, W m^-2 K^-4
_R_SUN = 6.957e8          # nominal solar radius (IAU 2015 B3), m
_AU = 1.495978707e11      # astronomical unit, m

IONIC_RADII_PM: dict[str, float] = {"Cs": 188.0, "MA": 217.0, "FA": 253.0, "Pb": 119.0, "I": 220.0, "Br": 196.0}
"""Ionic radii (pm): Shannon (1976) for Cs⁺ (XII), Pb²⁺ (VI), I⁻, Br⁻ (VI); Kieslich et al. (2014) for MA⁺, FA⁺."""

IODIDE_BAND_GAP_EV: dict[str, float] = {"Cs": 1.73, "FA": 1.48, "MA": 1.57}
"""Band gaps (eV) of CsPbI3, FAPbI3 and MAPbI3 (Eperon 2015, Eperon 2014, Noh 2013)."""

BROMIDE_BOWING_EV: tuple[float, float] = (0.39, 0.33)
"""Noh et al. (2013): Eg(z) = 1.57 + 0.39 z + 0.33 z² eV for MAPb(I1-zBrz)3."""

EMULATOR_PARAMETERS: dict[str, float] = {
    "q_max": 0.80,        # fraction of the detailed-balance limit reached inside the tolerance window
    "t_low": 0.90,        # tolerance-factor window of the photoactive (cubic-like) phase, lower end
    "t_high": 1.00,       # upper end
    "w_t": 0.03,          # width of the penalty outside the window (tolerance-factor units)
    "t80_ref_h": 300.0,   # T80 of a pure-iodide, zero-coefficient reference, h
    "a_Cs": 3.0, "a_FA": 0.8, "a_MA": -1.5,   # cation terms of ln T80 (per unit fraction)
    "a_Br": 2.0,          # ln T80 gain per unit Br fraction below z_seg
    "z_seg": 0.20,        # Br fraction above which halide segregation sets in
    "b_seg": 6.0,         # ln T80 loss per unit Br fraction above z_seg
    "FA_delta": 0.85,     # FA fraction above which the δ-phase penalty starts
    "c_delta": 2.0,       # ln T80 loss at FA = 1
}
"""Every synthetic parameter of the emulator (see the module docstring for the equations)."""

PEROVSKITE_COLUMNS: tuple[str, ...] = ("cs_fraction", "fa_fraction", "ma_fraction", "br_fraction", "pce_percent",
                                       "t80_hours")
"""Columns of a ``--data`` CSV (fractions in [0, 1], Cs + FA + MA = 1)."""


@dataclass(frozen=True)
class PerovskiteConfig(StudyConfig):
    """Configuration of the ``perovskite`` study."""

    cs_max: float = field(default=0.3, metadata={"help": "largest Cs fraction of the A site searched", "unit": "1"})
    ma_max: float = field(default=1.0, metadata={"help": "largest MA fraction of the A site searched", "unit": "1"})
    br_max: float = field(default=0.5, metadata={"help": "largest Br fraction z of the X site searched", "unit": "1"})
    noise_percent: float = field(default=2.0, metadata={"help": "emulator measurement noise (log-normal sigma)",
                                                        "unit": "%"})
    sun_temperature_k: float = field(default=6000.0, metadata={"help": "blackbody sun of the detailed-balance "
                                                                       "limit", "unit": "K"})
    cell_temperature_k: float = field(default=300.0, metadata={"help": "cell temperature", "unit": "K"})
    budget: int = field(default=14, metadata={"help": "evaluations per campaign"})
    batch_size: int = field(default=4, metadata={"help": "suggestions per BO ask"})
    n_init: int = field(default=6, metadata={"help": "Sobol points before the model is used"})
    n_seeds: int = field(default=2, metadata={"help": "seeds of the BO-vs-random comparison (seed, seed+1, ...)"})
    ref_pce_percent: float = field(default=10.0, metadata={"help": "hypervolume reference point, PCE", "unit": "%"})
    ref_t80_hours: float = field(default=0.0, metadata={"help": "hypervolume reference point, T80", "unit": "h"})
    n_trees: int = field(default=200, metadata={"help": "trees of each random forest (with --data)"})

    def validate(self) -> None:
        for key in ("cs_max", "ma_max", "br_max"):
            v = getattr(self, key)
            if not 0.0 < v <= 1.0:
                raise StudyConfigError(f"config key {key!r} must be in (0, 1], got {v}", value=v)
        if not 0.0 <= self.noise_percent <= 50.0:
            raise StudyConfigError(f"config key 'noise_percent' must be in [0, 50], got {self.noise_percent}",
                                   value=self.noise_percent)
        if not 3000.0 <= self.sun_temperature_k <= 10000.0:
            raise StudyConfigError(f"config key 'sun_temperature_k' must be in [3000, 10000] K, got "
                                   f"{self.sun_temperature_k}", value=self.sun_temperature_k)
        if not 200.0 <= self.cell_temperature_k <= 400.0:
            raise StudyConfigError(f"config key 'cell_temperature_k' must be in [200, 400] K, got "
                                   f"{self.cell_temperature_k}", value=self.cell_temperature_k)
        for key, low in (("budget", 2), ("batch_size", 1), ("n_init", 2), ("n_seeds", 1), ("n_trees", 10)):
            if getattr(self, key) < low:
                raise StudyConfigError(f"config key {key!r} must be >= {low}, got {getattr(self, key)}",
                                       value=getattr(self, key))
        if self.n_init >= self.budget:
            raise StudyConfigError(f"config key 'n_init' ({self.n_init}) must be below 'budget' ({self.budget})",
                                   value=self.n_init)
        if self.ref_t80_hours < 0:
            raise StudyConfigError(f"config key 'ref_t80_hours' must be >= 0, got {self.ref_t80_hours}",
                                   value=self.ref_t80_hours)


# ------------------------------------------------------------------------------------ physics
def _photon_flux_above(band_gap_ev: np.ndarray, temperature_k: float) -> np.ndarray:
    """Blackbody photon flux above ``band_gap_ev`` emitted into a hemisphere, photons m⁻² s⁻¹.

    ``(2π/(h³c²)) (kT)³ ∫_xg^∞ x²/(eˣ - 1) dx`` with the exact series
    ``Σ_n e^(-n xg) (xg²/n + 2 xg/n² + 2/n³)``.
    """
    kt = _KB * temperature_k
    xg = np.asarray(band_gap_ev, dtype=np.float64) * _Q / kt
    total = np.zeros_like(xg)
    for n in range(1, 400):
        total += np.exp(-n * xg) * (xg**2 / n + 2 * xg / n**2 + 2 / n**3)
    return 2 * math.pi / (_H**3 * _C**2) * kt**3 * total


def detailed_balance_efficiency(band_gap_ev: Any, *, sun_temperature_k: float = 6000.0,
                                cell_temperature_k: float = 300.0) -> np.ndarray:
    """Shockley–Queisser detailed-balance efficiency (fraction) of a single-junction cell.

    Sun: a blackbody at ``sun_temperature_k`` diluted by ``(R_sun/1 au)² ≈ 2.16e-5`` (incident
    power ``(R_sun/au)² σ T_sun⁴``, ≈ 1.59 kW/m² at 6000 K). Cell: full absorption above the
    gap, radiative recombination only, front-surface blackbody emission at
    ``cell_temperature_k``, ``J(V) = J_sc - J_0 (exp(qV/kT) - 1)``; the maximum power point
    from the Lambert W function. Returns an array shaped like ``band_gap_ev`` (eV).
    """
    from scipy.special import lambertw

    eg = np.atleast_1d(np.asarray(band_gap_ev, dtype=np.float64))
    if np.any(eg <= 0):
        raise ValueError("band gaps must be > 0 eV")
    dilution = (_R_SUN / _AU) ** 2
    p_in = dilution * _SIGMA * sun_temperature_k**4
    jsc = _Q * dilution * _photon_flux_above(eg, sun_temperature_k)
    j0 = _Q * _photon_flux_above(eg, cell_temperature_k)
    vt = _KB * cell_temperature_k / _Q
    # log-space W(e (1 + jsc/j0)) for huge arguments: W(exp(s)) solved with lambertw on exp when safe
    ratio_log = np.log(jsc) - np.log(j0)
    arg_log = 1.0 + np.logaddexp(0.0, ratio_log)
    w = np.where(arg_log < 700, np.real(lambertw(np.exp(np.minimum(arg_log, 700)))), _w_of_exp(arg_log))
    vmp = vt * (w - 1.0)
    pmax = vmp * (jsc - j0 * np.expm1(vmp / vt))
    return (pmax / p_in).reshape(np.shape(band_gap_ev))


def _w_of_exp(s: np.ndarray) -> np.ndarray:
    """Lambert W of ``exp(s)`` for large ``s`` (Newton on w + ln w = s)."""
    w = s - np.log(np.maximum(s, 1.0))
    for _ in range(30):
        w = w - (w + np.log(w) - s) / (1.0 + 1.0 / w)
    return w


def sq_peak(sun_temperature_k: float = 6000.0, cell_temperature_k: float = 300.0) -> tuple[float, float]:
    """Peak detailed-balance efficiency (fraction) and its band gap (eV), on a 1 meV grid over 0.5–3 eV."""
    eg = np.arange(0.5, 3.0, 0.001)
    eff = detailed_balance_efficiency(eg, sun_temperature_k=sun_temperature_k, cell_temperature_k=cell_temperature_k)
    i = int(np.argmax(eff))
    return float(eff[i]), float(eg[i])


def tolerance_factor(cs: Any, fa: Any, ma: Any, br: Any) -> np.ndarray:
    """Goldschmidt tolerance factor with composition-weighted A-site and X-site radii (:data:`IONIC_RADII_PM`)."""
    r = IONIC_RADII_PM
    cs, fa, ma, br = (np.asarray(v, dtype=np.float64) for v in (cs, fa, ma, br))
    ra = cs * r["Cs"] + fa * r["FA"] + ma * r["MA"]
    rx = (1.0 - br) * r["I"] + br * r["Br"]
    return (ra + rx) / (math.sqrt(2.0) * (r["Pb"] + rx))


def band_gap_ev(cs: Any, fa: Any, ma: Any, br: Any) -> np.ndarray:
    """Emulator band gap (eV): cation-weighted iodide gaps plus the Noh (2013) bromide bowing."""
    g = IODIDE_BAND_GAP_EV
    cs, fa, ma, br = (np.asarray(v, dtype=np.float64) for v in (cs, fa, ma, br))
    b1, b2 = BROMIDE_BOWING_EV
    return cs * g["Cs"] + fa * g["FA"] + ma * g["MA"] + b1 * br + b2 * br**2


def emulate(cs: Any, fa: Any, ma: Any, br: Any, *, sun_temperature_k: float = 6000.0,
            cell_temperature_k: float = 300.0) -> dict[str, np.ndarray]:
    """Noise-free emulator outcomes (synthetic): PCE (%), T80 (h), tolerance factor, band gap (eV), SQ limit (%)."""
    p = EMULATOR_PARAMETERS
    cs, fa, ma, br = (np.asarray(v, dtype=np.float64) for v in (cs, fa, ma, br))
    t = tolerance_factor(cs, fa, ma, br)
    eg = band_gap_ev(cs, fa, ma, br)
    sq = detailed_balance_efficiency(eg, sun_temperature_k=sun_temperature_k, cell_temperature_k=cell_temperature_k)
    dt = np.maximum(p["t_low"] - t, 0.0) + np.maximum(t - p["t_high"], 0.0)
    phi = np.exp(-((dt / p["w_t"]) ** 2))
    pce = 100.0 * sq * p["q_max"] * phi
    ln_t80 = (math.log(p["t80_ref_h"]) + p["a_Cs"] * cs + p["a_FA"] * fa + p["a_MA"] * ma
              + p["a_Br"] * np.minimum(br, p["z_seg"]) - p["b_seg"] * np.maximum(br - p["z_seg"], 0.0)
              - p["c_delta"] * np.maximum(fa - p["FA_delta"], 0.0) / (1.0 - p["FA_delta"]) + np.log(phi))
    return {"pce_percent": pce, "t80_hours": np.exp(ln_t80), "tolerance_factor": t, "band_gap_ev": eg,
            "sq_limit_percent": 100.0 * sq}


# ------------------------------------------------------------------------------------ user data
def read_perovskite_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate measured compositions (:data:`PEROVSKITE_COLUMNS`).

    Raises
    ------
    DataFormatError, SchemaError
        Unreadable file, missing column, a non-numeric value, a fraction outside [0, 1],
        Cs + FA + MA ≠ 1 (± 1e-3), PCE outside [0, 100) %, T80 ≤ 0 h, or fewer than 10 rows;
        the message names the file, column (and row) and the fix.
    """
    path = Path(path)
    df = read_csv_table(path, PEROVSKITE_COLUMNS, what="the file",
                        hint="fractions in [0, 1] with cs + fa + ma = 1, PCE in %, T80 in hours")
    for col in PEROVSKITE_COLUMNS:
        if col.endswith("_fraction"):
            df[col] = numeric_column(df, col, path, low=0.0, high=1.0, describe="a fraction in [0, 1] (not percent)")
        elif col == "pce_percent":
            df[col] = numeric_column(df, col, path, low=0.0, high=100.0, high_open=True, describe="a PCE in [0, 100) %")
        else:
            df[col] = numeric_column(df, col, path, low=0.0, low_open=True, describe="a T80 > 0 hours")
    total = df["cs_fraction"] + df["fa_fraction"] + df["ma_fraction"]
    off = np.flatnonzero(np.abs(total.to_numpy() - 1.0) > 1e-3)
    if off.size:
        raise DataFormatError(f"cs + fa + ma = {total.iloc[off[0]]:.4f}, not 1; the A-site fractions must add up "
                              "to 1", path=path, row=int(off[0]), column="ma_fraction", value=float(total.iloc[off[0]]))
    if len(df) < 10:
        raise DataFormatError(f"only {len(df)} compositions; the surrogates need at least 10 rows", path=path)
    return df


def _features(cs: Any, fa: Any, ma: Any, br: Any) -> np.ndarray:
    cs, fa, ma, br = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (cs, fa, ma, br))
    return np.column_stack([cs, fa, ma, br, tolerance_factor(cs, fa, ma, br), band_gap_ev(cs, fa, ma, br)])


# ------------------------------------------------------------------------------------ the study
def _space(config: PerovskiteConfig) -> Any:
    from voltlab.optimize import Real, SearchSpace, Simplex

    return SearchSpace([Real("Cs", 0.0, config.cs_max), Real("FA", 0.0, 1.0), Real("MA", 0.0, config.ma_max),
                        Real("Br", 0.0, config.br_max)], simplexes=[Simplex(("Cs", "FA", "MA"), total=1.0)])


def _noise(config: PerovskiteConfig, point: Mapping[str, Any]) -> tuple[float, float]:
    """Log-normal factors for PCE and T80, fixed by the composition (same point, same 'measurement')."""
    key = [config.seed] + [round(float(point[k]) * 1e9) % (2**32) for k in ("Cs", "FA", "MA", "Br")]
    z = np.random.default_rng(key).standard_normal(2)
    s = config.noise_percent / 100.0
    return float(math.exp(s * z[0])), float(math.exp(s * z[1]))


@register_study("perovskite", title="Perovskite composition: efficiency against stability",
                question="Which Cs/FA/MA and I/Br composition balances power-conversion efficiency and "
                         "stability (T80)?",
                config=PerovskiteConfig, data="a CSV of measured compositions with columns "
                                              + ", ".join(PEROVSKITE_COLUMNS),
                runtime="≈ 40 s")
def run_perovskite(config: PerovskiteConfig, *, data: Path | None, out_dir: Path,
                   progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    import torch

    from voltlab.optimize import Campaign, Objective, hypervolume, pareto_mask
    from voltlab.studies.loop import compare_with_random, convergence_figure

    torch.set_num_threads(1)  # tiny GP problems: thread overhead dominates on shared cores
    synthetic = data is None
    sun, cell = config.sun_temperature_k, config.cell_temperature_k
    card: dict[str, Any]
    if synthetic:
        def truth(cs: Any, fa: Any, ma: Any, br: Any) -> dict[str, np.ndarray]:
            return emulate(cs, fa, ma, br, sun_temperature_k=sun, cell_temperature_k=cell)

        def evaluate(point: Mapping[str, Any]) -> dict[str, float]:
            out = truth(point["Cs"], point["FA"], point["MA"], point["Br"])
            f_pce, f_t80 = _noise(config, point)
            return {"pce_percent": float(out["pce_percent"]) * f_pce, "t80_hours": float(out["t80_hours"]) * f_t80}

        card = {"model": "perovskite emulator (synthetic, not measurements)",
                "predicts": "pce_percent (%), t80_hours (h)",
                "physics": f"detailed-balance limit, {sun:g} K blackbody sun, {cell:g} K cell; Goldschmidt tolerance "
                           "factor with Shannon (1976) / Kieslich (2014) radii; Noh (2013) bromide bowing",
                "synthetic parameters": dict(EMULATOR_PARAMETERS), "noise": f"log-normal, {config.noise_percent:g} %",
                "validation": "none (an emulator is not fitted)"}
        progress("emulator ready (synthetic 'lab')")
    else:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.metrics import mean_absolute_error, r2_score
        from sklearn.model_selection import KFold, cross_val_predict

        df = read_perovskite_csv(data)  # type: ignore[arg-type]
        X = _features(df["cs_fraction"], df["fa_fraction"], df["ma_fraction"], df["br_fraction"])
        y_pce = df["pce_percent"].to_numpy()
        y_t80 = np.log(df["t80_hours"].to_numpy())

        def forest() -> Any:
            return RandomForestRegressor(n_estimators=config.n_trees, min_samples_leaf=2, random_state=config.seed,
                                         n_jobs=1)

        cv = KFold(min(5, len(df)), shuffle=True, random_state=config.seed)
        p_pce = cross_val_predict(forest(), X, y_pce, cv=cv)
        p_t80 = cross_val_predict(forest(), X, y_t80, cv=cv)
        rf_pce, rf_t80 = forest().fit(X, y_pce), forest().fit(X, y_t80)

        def predict(cs: Any, fa: Any, ma: Any, br: Any) -> dict[str, np.ndarray]:
            x = _features(cs, fa, ma, br)
            return {"pce_percent": rf_pce.predict(x), "t80_hours": np.exp(rf_t80.predict(x))}

        def evaluate(point: Mapping[str, Any]) -> dict[str, float]:
            out = predict(point["Cs"], point["FA"], point["MA"], point["Br"])
            return {"pce_percent": float(out["pce_percent"][0]), "t80_hours": float(out["t80_hours"][0])}

        card = {"model": "random forests (scikit-learn) of PCE (%) and ln T80 (h)",
                "training data": f"{len(df)} compositions from {data}",
                "features": "Cs, FA, MA, Br fractions, tolerance factor, emulator band gap (eV)",
                "validation": f"{cv.get_n_splits()}-fold shuffled CV (seed {config.seed})",
                "CV R² pce_percent": round(float(r2_score(y_pce, p_pce)), 4),
                "CV MAE pce_percent": round(float(mean_absolute_error(y_pce, p_pce)), 4),
                "CV R² ln t80_hours": round(float(r2_score(y_t80, p_t80)), 4),
                "CV MAE ln t80_hours": round(float(mean_absolute_error(y_t80, p_t80)), 4),
                "limits": "flat extrapolation outside the measured compositions"}
        progress(f"random forests fitted on {len(df)} compositions from {data}")

    space = _space(config)
    objectives = [Objective("pce_percent", "maximize"), Objective("t80_hours", "maximize")]
    ref = (config.ref_pce_percent, config.ref_t80_hours)
    seeds = [config.seed + i for i in range(config.n_seeds)]
    traces, _runs = compare_with_random(out_dir / "campaigns", space, objectives, evaluate, budget=config.budget,
                                       seeds=seeds, batch_size=config.batch_size, n_init=config.n_init,
                                       surrogate="gp", ref_point=ref, progress=progress)
    finals = traces.sort_values("evaluation").groupby(["method", "seed"])["best_so_far"].last()
    bo_hv = finals.loc["BO (gp)"].to_numpy(dtype=np.float64)
    rnd_hv = finals.loc["random"].to_numpy(dtype=np.float64)

    # every evaluation of both methods
    rows = []
    for seed in seeds:
        for method, name in (("BO (gp)", "gp"), ("random", "random")):
            camp = Campaign.open(out_dir / "campaigns" / f"{name}-seed{seed}.campaign")
            try:
                for s in camp.suggestions("complete"):
                    rows.append({"method": method, "seed": seed, "suggestion": s.id, "source": s.source,
                                 **{k: float(s.point[k]) for k in ("Cs", "FA", "MA", "Br")},
                                 "pce_percent": float(s.values["pce_percent"]),  # type: ignore[index]
                                 "t80_hours": float(s.values["t80_hours"])})  # type: ignore[index]
            finally:
                camp.close()
    evals = pd.DataFrame(rows)
    evals["cation_sum"] = evals["Cs"] + evals["FA"] + evals["MA"]
    phys = emulate(evals["Cs"], evals["FA"], evals["MA"], evals["Br"], sun_temperature_k=sun,
                   cell_temperature_k=cell)
    evals["tolerance_factor"] = phys["tolerance_factor"]
    evals["band_gap_ev"] = phys["band_gap_ev"]
    evals["sq_limit_percent"] = phys["sq_limit_percent"]
    bo = evals[evals["method"] == "BO (gp)"].reset_index(drop=True)
    front_mask = pareto_mask(bo[["pce_percent", "t80_hours"]].to_numpy())
    front = bo[front_mask].sort_values("pce_percent").reset_index(drop=True)
    front_table = front[["seed", "Cs", "FA", "MA", "Br", "pce_percent", "t80_hours", "tolerance_factor",
                         "band_gap_ev", "sq_limit_percent"]]

    # the emulator's own (noise-free) Pareto front, for reference
    metrics: dict[str, float] = {}
    dense = space.sample(2048, seed=config.seed + 10_000)
    dp = pd.DataFrame(dense)
    if synthetic:
        out = emulate(dp["Cs"], dp["FA"], dp["MA"], dp["Br"], sun_temperature_k=sun, cell_temperature_k=cell)
        U = np.column_stack([out["pce_percent"], out["t80_hours"]])
    else:
        out = predict(dp["Cs"], dp["FA"], dp["MA"], dp["Br"])
        U = np.column_stack([out["pce_percent"], out["t80_hours"]])
    m = pareto_mask(U)
    ref_front = U[m][np.argsort(U[m][:, 0])]
    hv_ref = float(hypervolume(ref_front, list(ref)))
    if synthetic:  # BO's evaluated compositions judged on the noise-free emulator (no lucky noise)
        true_hv = []
        for seed in seeds:
            sel = (evals["method"] == "BO (gp)").to_numpy() & (evals["seed"] == seed).to_numpy()
            V = np.column_stack([phys["pce_percent"][sel], phys["t80_hours"][sel]])
            true_hv.append(float(hypervolume(V[pareto_mask(V)], list(ref))))
        metrics["bo_noise_free_hypervolume_fraction_of_reference"] = float(np.median(true_hv) / hv_ref)
    peak_eff, peak_eg = sq_peak(sun, cell)
    t_mapi = float(tolerance_factor(0.0, 0.0, 1.0, 0.0))
    metrics |= {"bo_median_final_hypervolume_percent_h": float(np.median(bo_hv)),
                "random_median_final_hypervolume_percent_h": float(np.median(rnd_hv)),
                "bo_minus_random_median_hypervolume": float(np.median(bo_hv) - np.median(rnd_hv)),
                "reference_front_hypervolume_percent_h": hv_ref,
                "bo_hypervolume_fraction_of_reference": float(np.median(bo_hv) / hv_ref) if hv_ref > 0 else math.nan,
                "max_cation_sum_residual": float(np.max(np.abs(evals["cation_sum"] - 1.0))),
                "sq_peak_efficiency_percent": 100.0 * peak_eff, "sq_peak_band_gap_ev": peak_eg,
                "tolerance_factor_MAPbI3": t_mapi, "pareto_points": float(len(front)),
                "front_max_pce_percent": float(front["pce_percent"].max()),
                "front_max_t80_hours": float(front["t80_hours"].max()),
                "n_seeds": float(len(seeds)), "budget_evaluations": float(config.budget)}

    figures = [convergence_figure(traces, y_label="hypervolume (% · h)",
                                  note=f"Median over {len(seeds)} seeds; hypervolume of (PCE, T80) above the fixed "
                                       f"reference point ({ref[0]:g} %, {ref[1]:g} h).")]
    pareto_series = [Series("random: all evaluations", evals.loc[evals["method"] == "random", "pce_percent"].tolist(),
                            evals.loc[evals["method"] == "random", "t80_hours"].tolist(), mode="markers"),
                     Series("BO: all evaluations", bo["pce_percent"].tolist(), bo["t80_hours"].tolist(),
                            mode="markers"),
                     Series("BO: Pareto front", front["pce_percent"].tolist(), front["t80_hours"].tolist(),
                            mode="lines+markers",
                            text=[f"Cs {r.Cs:.2f} FA {r.FA:.2f} MA {r.MA:.2f} Br {r.Br:.2f}"
                                  for r in front.itertuples()]),
                     Series("emulator front (noise-free, 2048 Sobol points)" if synthetic
                            else "surrogate front (2048 Sobol points)", ref_front[:, 0].tolist(),
                            ref_front[:, 1].tolist(), dash=True)]
    figures.append(Figure("pareto", "Efficiency against stability: every evaluation and the Pareto front",
                          "PCE (%)", "T80 (h)", pareto_series, log_y=True))
    bins = np.quantile(evals["pce_percent"], [1 / 3, 2 / 3])
    series3d = []
    for lo, hi, name in ((-np.inf, bins[0], "PCE low third"), (bins[0], bins[1], "PCE middle third"),
                         (bins[1], np.inf, "PCE top third")):
        g = evals[(evals["pce_percent"] > lo) & (evals["pce_percent"] <= hi)]
        series3d.append(Series(name, g["Cs"].tolist(), g["FA"].tolist(), mode="markers", z=g["Br"].tolist(),
                               text=[f"PCE {v:.1f} %, T80 {t:.0f} h" for v, t in zip(g["pce_percent"], g["t80_hours"],
                                                                                   strict=True)]))
    figures.append(Figure("composition3d", "Compositions evaluated (Cs, FA, Br), grouped by PCE", "Cs fraction",
                          "FA fraction", series3d, z_label="Br fraction z",
                          note=f"Thirds split at PCE {bins[0]:.1f} % and {bins[1]:.1f} %; MA = 1 - Cs - FA."))
    eg_grid = np.linspace(0.8, 2.6, 181)
    sq_curve = 100.0 * detailed_balance_efficiency(eg_grid, sun_temperature_k=sun, cell_temperature_k=cell)
    figures.append(Figure("sq_limit", f"Detailed-balance limit ({sun:g} K blackbody sun, {cell:g} K cell)",
                          "band gap (eV)", "efficiency limit (%)",
                          [Series("detailed-balance limit", eg_grid.tolist(), sq_curve.tolist()),
                           Series("Pareto compositions", front["band_gap_ev"].tolist(),
                                  front["sq_limit_percent"].tolist(), mode="markers")],
                          note=f"Computed here; peak {100 * peak_eff:.1f} % at {peak_eg:.2f} eV. The AM1.5G "
                               "spectrum gives 33.7 % at 1.34 eV."))

    top_pce = front.loc[front["pce_percent"].idxmax()]
    top_t80 = front.loc[front["t80_hours"].idxmax()]
    kpis = {"BO hypervolume (median)": f"{np.median(bo_hv):.4g} %·h",
            "random hypervolume (median)": f"{np.median(rnd_hv):.4g} %·h",
            "Pareto compositions": f"{len(front)}", "SQ peak": f"{100 * peak_eff:.1f} % at {peak_eg:.2f} eV"}
    answer = (f"On the {'emulator (synthetic)' if synthetic else 'random-forest surrogates of the user data'}, BO "
              f"reaches a median hypervolume of {np.median(bo_hv):.4g} %·h against {np.median(rnd_hv):.4g} %·h for "
              f"random search ({config.budget} evaluations, {len(seeds)} seeds; "
              f"{100 * metrics['bo_hypervolume_fraction_of_reference']:.0f} % of the reference front's). The front "
              f"runs from Cs {top_pce['Cs']:.2f} FA {top_pce['FA']:.2f} MA {top_pce['MA']:.2f} Br {top_pce['Br']:.2f} "
              f"(PCE {top_pce['pce_percent']:.1f} %, T80 {top_pce['t80_hours']:.0f} h) to Cs {top_t80['Cs']:.2f} "
              f"FA {top_t80['FA']:.2f} MA {top_t80['MA']:.2f} Br {top_t80['Br']:.2f} (PCE "
              f"{top_t80['pce_percent']:.1f} %, T80 {top_t80['t80_hours']:.0f} h).")
    if synthetic:
        answer += " These are emulator numbers, not measurements."
    notes = []
    if synthetic:
        notes.append("SYNTHETIC 'LAB': PCE = 100 · SQ(Eg) · q_max · φ_t and ln T80 = ln T_ref + a_Cs Cs + a_FA FA + "
                     "a_MA MA + a_Br min(z, z_seg) - b_seg max(0, z - z_seg) - c_delta max(0, FA - FA_delta)/(1 - "
                     f"FA_delta) + ln φ_t with parameters {EMULATOR_PARAMETERS} and {config.noise_percent:g} % "
                     "log-normal noise. It exists to demonstrate and test the pipeline; its outputs are not "
                     "measurements and its front says nothing about real cells.")
    notes += [f"Detailed-balance limit computed for a {sun:g} K blackbody sun (peak {100 * peak_eff:.1f} % at "
              f"{peak_eg:.2f} eV); the AM1.5G limit (33.7 % at 1.34 eV) needs the tabulated spectrum, not bundled.",
              f"Tolerance factor from Shannon / Kieslich radii (MAPbI3: t = {t_mapi:.3f}); mixed sites use "
              "composition-weighted radii, a common approximation.",
              "The band gap mixes the iodide end-member gaps linearly over the cations and applies the Noh et al. "
              "(2013) MA bromide bowing to every cation mix: an approximation of the emulator."]
    tables = {"Pareto compositions (BO)": front_table, "All evaluations": evals}
    return StudyResult("perovskite", "Perovskite composition: efficiency against stability",
                       question="Which Cs_x FA_y MA_(1-x-y) Pb(I_(1-z) Br_z)3 composition balances PCE and T80?",
                       answer=answer, metrics=metrics, kpis=kpis, tables=tables, figures=figures, model_cards=[card],
                       notes=notes,
                       provenance=study_provenance("perovskite", config, inputs={"data": data} if data else None))
