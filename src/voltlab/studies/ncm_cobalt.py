"""Study ``ncm-cobalt``: high-nickel NCM cathodes with less cobalt, within a thermal-stability limit.

Question: which Ni:Co:Mn ratio (plus an optional dopant) keeps ≥ 200 mAh/g initial
capacity and a good 50-cycle retention with less cobalt, while the thermal-stability
proxy stays above a limit?

Pipeline: a search space over the Ni + Co + Mn = 1 simplex (per-component bounds in
the config; the Co upper bound is ``co_max``), a dopant (categorical) and its amount
→ a two-objective Bayesian-optimisation campaign (BoTorch ``qLogNoisyExpectedHypervolumeImprovement``)
maximising initial capacity (mAh/g) and 50-cycle retention (%), with the outcome
constraint ``thermal_onset_c >= thermal_min_c`` → the same budget with Sobol points
(random search) over several seeds, hypervolumes against one fixed reference point →
the feasible Pareto front, its Co content, and a shortlist.

**Cobalt is a constraint, not a third objective.** ``co_max`` is the Co upper bound of
the search space, so every suggestion satisfies it by construction (checked to 1e-9);
the Pareto front stays two-dimensional (capacity, retention), the hypervolume is in
mAh/g·% and easy to read, and the Co fraction of every Pareto member is reported and
used to colour the front. Rerun with a lower ``co_max`` to see what the last few
percent of cobalt cost.

The "lab"
---------
Without ``--data`` the lab is :func:`ncm_emulator`, a **synthetic emulator** (not
data, not fitted to data). Its functional form (``ni``, ``co``, ``mn`` are mole
fractions on the transition-metal site, ``x`` the dopant amount per formula unit)::

    mixing   = 0.01 + 0.06 ni^3 exp(-co / 0.07)                  (Li/Ni cation mixing, fraction)
    s(x)     = 1 - exp(-x / 0.01)                                (saturating dopant effect)
    capacity = (135 + 95 ni - 250 mixing) (1 - k_cap[d] x)        mAh/g
    fade_50  = 1.5 + 13 ni^4 + 80 mixing - 6 mn - g_ret[d] s(x)   % of the initial capacity
    retention_50 = 100 - max(fade_50, 0.2)                        %
    thermal_onset = 318 - 105 ni^2 + 30 mn - 15 co + g_T[d] s(x)  °C

with per-dopant parameters ``k_cap`` (capacity penalty per unit amount), ``g_ret``
(retention gain, %) and ``g_T`` (onset gain, °C) in :data:`DOPANT_EFFECTS`. The trends
are the qualitative ones reported for layered NCM: capacity rises with Ni; retention
and thermal stability fall with Ni; Mn (electrochemically inactive Mn⁴⁺) stabilises
retention and thermal behaviour; Co suppresses Li/Ni cation mixing (better ordering:
more capacity and retention at high Ni); dopants (Al, Mg, Zr, Ti) trade a little capacity
for retention and thermal stability. The parameter values are **illustrative** (chosen
so that NCM333 ≈ 166 mAh/g, NCM811 ≈ 207 mAh/g), not fitted to or cited from any paper.
With a ``seed`` it adds Gaussian "measurement" noise (σ = 2 mAh/g, 0.5 %, 2 °C).

**Thermal-stability proxy.** ``thermal_onset_c`` stands in for the onset temperature of
the exothermic reaction of the charged (delithiated) cathode with electrolyte, as
measured by DSC. DSC studies of the NCM series (e.g. Noh et al., J. Power Sources 233
(2013) 121) report that it falls as Ni rises; voltlab does not embed a quantitative
relation from them. The proxy is the emulator output above in both modes (the
doped-NCM table has no thermal data), so the constraint value is a labelled emulator
number, not a measurement.

With ``--data`` (the doped-NCM CSV layout, e.g.
``../shared/data/doped_ncm_capacity/NMC_doped_with_dopant_and_doi.csv``) the lab
becomes two :class:`~voltlab.models.PropertyRegressor` surrogates (random forest by
default) fitted on the real table: initial capacity ``IC`` and 50-cycle retention
``100 EC / IC``, from ``li, ni, co, mn, dopant amount, V_max, V_min, current density``
and the dopant's electronegativity and ionic radius (taken from the table's rows of
that dopant). Their scores under group K-fold cross-validation by source paper
(``ref_doi``) are in the model card. The campaign then asks the surrogates at fixed
cycling conditions (``li``, ``v_max_volt``, ``v_min_volt``, ``current_density_ma_per_g``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, StudyConfigError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["DOPANT_EFFECTS", "NcmCobaltConfig", "NcmSurrogateLab", "ncm_emulator", "ncm_properties",
           "run_ncm_cobalt"]

#: Emulator parameters per dopant: ``(k_cap, g_ret, g_T)`` = capacity penalty per unit amount (1/amount),
#: retention gain at saturation (% points), thermal-onset gain at saturation (°C). Illustrative values.
DOPANT_EFFECTS: dict[str, tuple[float, float, float]] = {
    "none": (0.0, 0.0, 0.0),
    "Al": (1.5, 3.0, 8.0),
    "Mg": (1.8, 2.5, 5.0),
    "Zr": (2.2, 3.5, 6.0),
    "Ti": (1.6, 2.0, 4.0),
}
_NOISE = {"capacity_mah_g": 2.0, "retention_50_percent": 0.5, "thermal_onset_c": 2.0}
OUTCOMES = ("capacity_mah_g", "retention_50_percent", "thermal_onset_c")


def _check_composition(ni: float, co: float, mn: float, dopant: str, amount: float) -> tuple[float, float, float]:
    vals = (float(ni), float(co), float(mn))
    if not all(math.isfinite(v) and v >= -1e-12 for v in vals):
        raise DataFormatError(f"ni, co, mn must be finite mole fractions >= 0, got {vals}", value=vals)
    total = sum(vals)
    if abs(total - 1.0) > 1e-6:
        raise DataFormatError(f"ni + co + mn must be 1 (mole fractions on the TM site), got {total:.6g}",
                              value=vals)
    if dopant not in DOPANT_EFFECTS:
        raise DataFormatError(f"dopant {dopant!r} is not one of {list(DOPANT_EFFECTS)}", value=dopant)
    if not (math.isfinite(float(amount)) and 0.0 <= float(amount) <= 0.2):
        raise DataFormatError(f"dopant amount must be in [0, 0.2] per formula unit, got {amount!r}", value=amount)
    return vals[0], vals[1], vals[2]


def ncm_properties(ni: float, co: float, mn: float, dopant: str = "none", amount: float = 0.0, *,
                   seed: int | None = None) -> dict[str, float]:
    """The synthetic NCM emulator at one composition (see the module docstring for the formulas).

    Parameters
    ----------
    ni, co, mn
        Mole fractions on the transition-metal site (sum 1, to 1e-6).
    dopant
        ``"none"`` or a key of :data:`DOPANT_EFFECTS` (``"Al"``, ``"Mg"``, ``"Zr"``, ``"Ti"``).
    amount
        Dopant amount per formula unit (0 to 0.2); ignored for ``"none"``.
    seed
        ``None``: the noiseless emulator. An integer: add Gaussian measurement noise
        (σ = 2 mAh/g, 0.5 %, 2 °C), the same for the same seed and composition.

    Returns
    -------
    dict
        ``capacity_mah_g`` (initial discharge capacity, mAh/g), ``retention_50_percent``
        (capacity after 50 cycles, % of initial), ``thermal_onset_c`` (emulated DSC
        exotherm onset of the charged cathode, °C), ``cation_mixing_fraction`` (Li/Ni
        mixing, fraction) and ``co_fraction``.

    Raises
    ------
    DataFormatError
        Fractions not summing to 1, an unknown dopant or an amount out of range.

    Examples
    --------
    >>> a = ncm_properties(0.6, 0.2, 0.2)["capacity_mah_g"]
    >>> b = ncm_properties(0.8, 0.1, 0.1)["capacity_mah_g"]
    >>> bool(b > a)
    True
    """
    ni, co, mn = _check_composition(ni, co, mn, dopant, amount)
    x = float(amount) if dopant != "none" else 0.0
    k_cap, g_ret, g_t = DOPANT_EFFECTS[dopant]
    sat = 1.0 - math.exp(-x / 0.01)
    mixing = 0.01 + 0.06 * ni**3 * math.exp(-co / 0.07)
    capacity = (135.0 + 95.0 * ni - 250.0 * mixing) * (1.0 - k_cap * x)
    fade = 1.5 + 13.0 * ni**4 + 80.0 * mixing - 6.0 * mn - g_ret * sat
    retention = 100.0 - max(fade, 0.2)
    thermal = 318.0 - 105.0 * ni**2 + 30.0 * mn - 15.0 * co + g_t * sat
    out = {"capacity_mah_g": capacity, "retention_50_percent": retention, "thermal_onset_c": thermal}
    if seed is not None:
        key = zlib.crc32(repr((round(ni, 12), round(co, 12), round(mn, 12), dopant, round(x, 12))).encode())
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, key])
        out = {k: v + float(rng.normal(0.0, _NOISE[k])) for k, v in out.items()}
        out["retention_50_percent"] = min(out["retention_50_percent"], 100.0)
    return {**out, "cation_mixing_fraction": mixing, "co_fraction": co}


def ncm_emulator(points: Iterable[Mapping[str, Any]], seed: int | None = None) -> list[dict[str, float]]:
    """:func:`ncm_properties` of each point (keys ``ni``, ``co``, ``mn``, ``dopant``, ``dopant_amount``)."""
    return [ncm_properties(float(p["ni"]), float(p["co"]), float(p["mn"]), str(p.get("dopant", "none")),
                           float(p.get("dopant_amount", 0.0)), seed=seed) for p in points]


def composition_string(point: Mapping[str, Any]) -> str:
    """``LiNi0.85Co0.05Mn0.10O2`` (+ ``-Al0.010`` when doped)."""
    s = f"LiNi{float(point['ni']):.2f}Co{float(point['co']):.2f}Mn{float(point['mn']):.2f}O2"
    d, x = str(point.get("dopant", "none")), float(point.get("dopant_amount", 0.0))
    return s + (f" + {d}{x:.3f}" if d != "none" and x >= 5e-4 else "")


# --------------------------------------------------------------------------------------------- surrogate lab
_FEATURES = ("li", "ni", "co", "mn", "dopant_amount", "v_max_volt", "v_min_volt", "current_density_ma_per_g",
             "dopant_electronegativity_pauling", "dopant_ionic_radius_pm")


class NcmSurrogateLab:
    """Capacity and retention surrogates fitted on a doped-NCM table (the ``--data`` lab).

    Parameters
    ----------
    table
        :func:`voltlab.data.datasets.materials.load_doped_ncm` output.
    method
        :class:`~voltlab.models.PropertyRegressor` method (``"rf"`` or ``"gp"``).
    conditions
        Fixed ``li`` (per formula unit), ``v_max_volt``, ``v_min_volt`` (V) and
        ``current_density_ma_per_g`` (mA/g) at which the campaign asks the surrogates.
    cv_folds
        Group K-fold folds (groups = source paper DOI) for the reported scores.
    seed
        Seed of the folds and the models.

    Attributes
    ----------
    cv_scores
        ``{target: {"mae", "rmse", "r2", "n"}}`` out-of-fold by paper, in target units.
    """

    targets: ClassVar[dict[str, str]] = {"capacity_mah_g": "initial discharge capacity IC (mAh/g)",
                                         "retention_50_percent": "50-cycle retention 100·EC/IC (%)"}

    def __init__(self, table: pd.DataFrame, *, method: str, conditions: Mapping[str, float], cv_folds: int,
                 seed: int) -> None:
        from voltlab.models import PropertyRegressor, group_kfold_indices, regression_metrics

        self.table = table
        self.method = method
        self.conditions = dict(conditions)
        X = table[list(_FEATURES)].to_numpy(dtype=np.float64)
        ys = {"capacity_mah_g": table["initial_discharge_capacity_mah_per_g"].to_numpy(dtype=np.float64),
              "retention_50_percent": 100.0 * table["discharge_capacity_cycle50_mah_per_g"].to_numpy(dtype=np.float64)
              / table["initial_discharge_capacity_mah_per_g"].to_numpy(dtype=np.float64)}
        groups = table["group"].astype(str).tolist()
        folds = group_kfold_indices(groups, min(cv_folds, len(set(groups))), seed=seed)
        params = {"n_estimators": 200} if method == "rf" else None
        self.models: dict[str, Any] = {}
        self.cv_scores: dict[str, dict[str, float]] = {}
        for name, y in ys.items():
            oof = np.full(y.size, np.nan)
            for tr, te in folds:
                m = PropertyRegressor(method, interval="none", params=params, random_state=seed).fit(X[tr], y[tr])
                oof[te] = m.predict(X[te])
            self.cv_scores[name] = regression_metrics(y, oof)
            self.models[name] = PropertyRegressor(method, interval="none", params=params,
                                                  random_state=seed).fit(X, y)
        self.descriptors = {}
        for d, g in table.groupby(table["dopant"].astype(str)):
            self.descriptors[str(d)] = (float(g["dopant_electronegativity_pauling"].median()),
                                        float(g["dopant_ionic_radius_pm"].median()))
        self.n_rows, self.n_groups = len(table), len(set(groups))

    def features(self, point: Mapping[str, Any]) -> np.ndarray:
        """The feature row of a campaign point at the fixed conditions."""
        d = str(point.get("dopant", "none"))
        x = float(point.get("dopant_amount", 0.0)) if d != "none" else 0.0
        en, ir = self.descriptors.get(d, (math.nan, math.nan))  # none / unseen dopant: median-imputed
        c = self.conditions
        return np.array([[c["li"], float(point["ni"]), float(point["co"]), float(point["mn"]), x, c["v_max_volt"],
                          c["v_min_volt"], c["current_density_ma_per_g"], en, ir]], dtype=np.float64)

    def __call__(self, point: Mapping[str, Any]) -> dict[str, float]:
        """Predicted capacity and retention, plus the emulator's thermal proxy."""
        row = self.features(point)
        out = {k: float(m.predict(row)[0]) for k, m in self.models.items()}
        emu = ncm_properties(float(point["ni"]), float(point["co"]), float(point["mn"]),
                             str(point.get("dopant", "none")), float(point.get("dopant_amount", 0.0)))
        out["thermal_onset_c"] = emu["thermal_onset_c"]
        return out


# --------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class NcmCobaltConfig(StudyConfig):
    """Configuration of the ``ncm-cobalt`` study."""

    ni_low: float = field(default=0.50, metadata={"help": "lowest Ni fraction searched", "unit": "mol/mol TM"})
    ni_high: float = field(default=0.95, metadata={"help": "highest Ni fraction searched", "unit": "mol/mol TM"})
    co_low: float = field(default=0.0, metadata={"help": "lowest Co fraction searched", "unit": "mol/mol TM"})
    co_max: float = field(default=0.05, metadata={"help": "Co cap: upper bound of Co in the search space",
                                                  "unit": "mol/mol TM"})
    mn_low: float = field(default=0.02, metadata={"help": "lowest Mn fraction searched", "unit": "mol/mol TM"})
    mn_high: float = field(default=0.45, metadata={"help": "highest Mn fraction searched", "unit": "mol/mol TM"})
    dopants: tuple[str, ...] = field(default=("none", "Al", "Mg", "Zr", "Ti"),
                                     metadata={"help": "dopant choices (subset of none, Al, Mg, Zr, Ti)"})
    dopant_max: float = field(default=0.03, metadata={"help": "largest dopant amount", "unit": "per formula unit"})
    thermal_min_c: float = field(default=240.0, metadata={"help": "constraint: thermal-onset proxy >= this",
                                                          "unit": "°C"})
    capacity_target_mah_g: float = field(default=200.0, metadata={"help": "shortlist: capacity at least",
                                                                  "unit": "mAh/g"})
    retention_target_percent: float = field(default=90.0, metadata={"help": "shortlist: 50-cycle retention at least",
                                                                    "unit": "%"})
    ref_capacity_mah_g: float = field(default=150.0, metadata={"help": "hypervolume reference: capacity",
                                                               "unit": "mAh/g"})
    ref_retention_percent: float = field(default=70.0, metadata={"help": "hypervolume reference: retention",
                                                                 "unit": "%"})
    budget: int = field(default=16, metadata={"help": "evaluations per campaign (BO and random alike)"})
    n_init: int = field(default=8, metadata={"help": "Sobol points before the GP takes over"})
    batch_size: int = field(default=4, metadata={"help": "suggestions per ask"})
    n_seeds: int = field(default=2, metadata={"help": "campaign seeds seed, seed+1, ... (BO and random each)"})
    noise: bool = field(default=True, metadata={"help": "emulator: add measurement noise"})
    surrogate_method: str = field(default="rf", metadata={"help": "--data: PropertyRegressor method, rf or gp"})
    cv_folds: int = field(default=5, metadata={"help": "--data: group K-fold folds by source paper"})
    li: float = field(default=1.0, metadata={"help": "--data: Li per formula unit at which to predict",
                                             "unit": "per formula unit"})
    v_max_volt: float = field(default=4.3, metadata={"help": "--data: upper cut-off voltage", "unit": "V"})
    v_min_volt: float = field(default=2.8, metadata={"help": "--data: lower cut-off voltage", "unit": "V"})
    current_density_ma_per_g: float = field(default=20.0, metadata={"help": "--data: cycling current density",
                                                                    "unit": "mA/g"})

    def validate(self) -> None:
        for key in ("ni_low", "ni_high", "co_low", "co_max", "mn_low", "mn_high"):
            v = getattr(self, key)
            if not 0.0 <= v <= 1.0:
                raise StudyConfigError(f"config key {key!r} must be a mole fraction in [0, 1], got {v}", value=v)
        for lo, hi in (("ni_low", "ni_high"), ("co_low", "co_max"), ("mn_low", "mn_high")):
            if getattr(self, lo) >= getattr(self, hi):
                raise StudyConfigError(f"config key {lo!r} ({getattr(self, lo)}) must be below {hi!r} "
                                       f"({getattr(self, hi)})", value=getattr(self, lo))
        if self.ni_low + self.co_low + self.mn_low > 1.0 or self.ni_high + self.co_max + self.mn_high < 1.0:
            raise StudyConfigError("config keys 'ni_low'/'co_low'/'mn_low' and 'ni_high'/'co_max'/'mn_high': "
                                   "the bounds leave no composition with Ni + Co + Mn = 1", value=self.co_max)
        bad = [d for d in self.dopants if d not in DOPANT_EFFECTS]
        if bad or len(set(self.dopants)) != len(self.dopants) or not self.dopants:
            raise StudyConfigError(f"config key 'dopants': {list(self.dopants)} must be distinct values of "
                                   f"{list(DOPANT_EFFECTS)}", value=list(self.dopants))
        if not 0.0 < self.dopant_max <= 0.2:
            raise StudyConfigError(f"config key 'dopant_max' must be in (0, 0.2], got {self.dopant_max}",
                                   value=self.dopant_max)
        if self.n_init < 2:
            raise StudyConfigError(f"config key 'n_init' must be >= 2, got {self.n_init}", value=self.n_init)
        if self.budget <= self.n_init:
            raise StudyConfigError(f"config key 'budget' ({self.budget}) must exceed n_init ({self.n_init})",
                                   value=self.budget)
        for key in ("batch_size", "n_seeds"):
            if getattr(self, key) < 1:
                raise StudyConfigError(f"config key {key!r} must be >= 1, got {getattr(self, key)}")
        if self.surrogate_method not in ("rf", "gp"):
            raise StudyConfigError(f"config key 'surrogate_method': {self.surrogate_method!r} is not one of "
                                   "['rf', 'gp']", value=self.surrogate_method)
        if self.cv_folds < 2:
            raise StudyConfigError(f"config key 'cv_folds' must be >= 2, got {self.cv_folds}", value=self.cv_folds)
        for key in ("li", "v_max_volt", "v_min_volt", "current_density_ma_per_g"):
            if getattr(self, key) <= 0:
                raise StudyConfigError(f"config key {key!r} must be > 0, got {getattr(self, key)}")
        if self.v_min_volt >= self.v_max_volt:
            raise StudyConfigError("config key 'v_min_volt' must be below 'v_max_volt'", value=self.v_min_volt)


def search_space(config: NcmCobaltConfig) -> Any:
    """The campaign's search space: the Ni + Co + Mn = 1 simplex, the dopant and its amount."""
    from voltlab.optimize import Categorical, Real, SearchSpace, Simplex

    params: list[Any] = [Real("ni", config.ni_low, config.ni_high), Real("co", config.co_low, config.co_max),
                         Real("mn", config.mn_low, config.mn_high)]
    if len(config.dopants) > 1:
        params.append(Categorical("dopant", tuple(config.dopants)))
    params.append(Real("dopant_amount", 0.0, config.dopant_max))
    return SearchSpace(params, simplexes=[Simplex(("ni", "co", "mn"), total=1.0)])


def _load_lab(config: NcmCobaltConfig, data: Path) -> NcmSurrogateLab:
    from voltlab.data.datasets.materials import load_doped_ncm

    table = load_doped_ncm(data)
    ic = table["initial_discharge_capacity_mah_per_g"].to_numpy(dtype=np.float64)
    if len(table) < 2 * config.cv_folds or table["group"].nunique() < config.cv_folds:
        raise DataFormatError(f"the doped-NCM table has {len(table)} rows from {table['group'].nunique()} papers; "
                              f"group CV with cv_folds={config.cv_folds} needs at least that many papers",
                              path=data, value=len(table))
    if not np.all(ic > 0):
        raise DataFormatError("initial capacity IC must be > 0 in every row (retention is EC / IC)", path=data,
                              column="IC")
    return NcmSurrogateLab(table, method=config.surrogate_method, cv_folds=config.cv_folds, seed=config.seed,
                           conditions={"li": config.li, "v_max_volt": config.v_max_volt,
                                       "v_min_volt": config.v_min_volt,
                                       "current_density_ma_per_g": config.current_density_ma_per_g})


def _co_level(co: float, co_max: float) -> str:
    """Co level of a point: the lower, middle or upper third of ``[0, co_max]``."""
    a, b = co_max / 3.0, 2.0 * co_max / 3.0
    if co <= a + 1e-12:
        return f"Co ≤ {a:.3f}"
    if co <= b + 1e-12:
        return f"{a:.3f} < Co ≤ {b:.3f}"
    return f"{b:.3f} < Co ≤ {co_max:.3f}"


@register_study("ncm-cobalt", title="Less cobalt in high-nickel NCM cathodes",
                question="Which Ni:Co:Mn ratio (+ dopant) keeps ≥ 200 mAh/g and good retention with less cobalt, "
                         "within a thermal-stability limit?",
                config=NcmCobaltConfig, runtime="≈ 80 s",
                data="the doped-NCM table (NMC_doped_with_dopant_and_doi.csv, with dopant and ref_doi columns)")
def run_ncm_cobalt(config: NcmCobaltConfig, *, data: Path | None, out_dir: Path,
                   progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    import torch

    from voltlab.optimize import Objective, pareto_mask
    from voltlab.studies.loop import convergence_figure, run_campaign

    torch.set_num_threads(1)
    space = search_space(config)
    lab: NcmSurrogateLab | None = None
    if data is not None:
        progress("fitting capacity and retention surrogates on the doped-NCM table (group CV by paper)")
        lab = _load_lab(config, data)
    noise_seed = config.seed if config.noise else None

    def evaluate(point: Mapping[str, Any]) -> dict[str, float]:
        p = {"dopant": config.dopants[0], **point}
        if lab is not None:
            return lab(p)
        r = ncm_properties(float(p["ni"]), float(p["co"]), float(p["mn"]), str(p["dopant"]),
                           float(p["dopant_amount"]), seed=noise_seed)
        return {k: r[k] for k in OUTCOMES}

    objectives = [Objective("capacity_mah_g", "maximize"), Objective("retention_50_percent", "maximize")]
    constraint = f"thermal_onset_c >= {config.thermal_min_c}"
    ref = (config.ref_capacity_mah_g, config.ref_retention_percent)
    seeds = [config.seed + i for i in range(config.n_seeds)]
    progress(f"BO (qLogNEHVI / qLogEHVI) and random search, {config.budget} evaluations x {len(seeds)} seed(s)")
    rows: list[dict[str, Any]] = []
    runs: dict[int, Any] = {}
    folder = out_dir / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for method in ("gp", "random"):
            # Light acquisition optimisation (2 restarts, 64 raw samples, 32 MC samples) keeps an ask at seconds.
            res = run_campaign(folder / f"{method}-seed{seed}.campaign", space, objectives, evaluate,
                               budget=config.budget, batch_size=config.batch_size, seed=seed, n_init=config.n_init,
                               surrogate=method, outcome_constraints=[constraint], ref_point=ref,
                               num_restarts=2, raw_samples=64, mc_samples=32, progress=progress)
            label = "BO (gp)" if method == "gp" else "random"
            rows += [{"seed": seed, "method": label, "evaluation": int(e), "best_so_far": float(b)}
                     for e, b in zip(res.log["evaluation"], res.log["best_so_far"], strict=True)]
            if method == "gp":
                runs[seed] = res
            res.campaign.close()
    traces = pd.DataFrame(rows)
    final = traces.sort_values("evaluation").groupby(["method", "seed"])["best_so_far"].last().unstack(0)
    hv_bo = final["BO (gp)"].to_numpy(dtype=float)
    hv_rand = final["random"].to_numpy(dtype=float)

    # ---- all BO evaluations, the feasible Pareto front, the shortlist
    logs = []
    for seed, res in runs.items():
        lg = res.log.copy()
        lg.insert(0, "seed", seed)
        logs.append(lg)
    log = pd.concat(logs, ignore_index=True)
    if "dopant" not in log.columns:
        log["dopant"] = config.dopants[0]
    log = log[log["status"] == "complete"].reset_index(drop=True)
    log["composition"] = [composition_string(r) for r in log.to_dict("records")]
    feas = log[log["thermal_onset_c"] >= config.thermal_min_c].copy()
    if len(feas):
        U = feas[["capacity_mah_g", "retention_50_percent"]].to_numpy(dtype=float)
        feas["pareto"] = pareto_mask(U)
    else:
        feas["pareto"] = []
    front = feas[feas["pareto"]].sort_values("capacity_mah_g").reset_index(drop=True)
    cols = ["seed", "evaluation", "composition", "ni", "co", "mn", "dopant", "dopant_amount", "capacity_mah_g",
            "retention_50_percent", "thermal_onset_c"]
    front_table = front[cols].rename(columns={"co": "co_fraction"})
    short = front[(front["capacity_mah_g"] >= config.capacity_target_mah_g)
                  & (front["retention_50_percent"] >= config.retention_target_percent)].copy()
    met = len(short) > 0
    if not met:  # none meets both targets: the Pareto members closest to the capacity target
        short = front.assign(gap=(config.capacity_target_mah_g - front["capacity_mah_g"]).clip(lower=0)
                             + (config.retention_target_percent - front["retention_50_percent"]).clip(lower=0))
        short = short.sort_values("gap").head(5)
    short = short.sort_values(["co", "capacity_mah_g"], ascending=[True, False]).head(5).reset_index(drop=True)
    why = []
    for i, r in short.iterrows():
        bits = ["Pareto-optimal (capacity vs retention)", f"thermal proxy {r['thermal_onset_c']:.0f} °C ≥ "
                f"{config.thermal_min_c:g} °C"]
        bits.append(f"meets ≥ {config.capacity_target_mah_g:g} mAh/g and ≥ {config.retention_target_percent:g} %"
                    if met else "closest to the capacity/retention targets (none met both)")
        if i == 0:
            bits.append("lowest Co of the shortlist")
        if r["capacity_mah_g"] == short["capacity_mah_g"].max():
            bits.append("highest capacity of the shortlist")
        why.append("; ".join(bits))
    shortlist = pd.DataFrame({
        "composition": short["composition"], "capacity_mah_g": short["capacity_mah_g"].round(1),
        "retention_50_percent": short["retention_50_percent"].round(2),
        "thermal_onset_c": short["thermal_onset_c"].round(1), "co_fraction": short["co"].round(4),
        "why shortlisted": why})

    # ---- references: the emulator at classic compositions (noiseless) for context
    refs = []
    for name, (ni, co, mn) in {"NCM622": (0.6, 0.2, 0.2), "NCM811": (0.8, 0.1, 0.1),
                               "NCM90-5-5": (0.9, 0.05, 0.05)}.items():
        r = evaluate({"ni": ni, "co": co, "mn": mn, "dopant": "none", "dopant_amount": 0.0}) if lab is not None \
            else ncm_properties(ni, co, mn)
        refs.append({"composition": name, "co_fraction": co, "capacity_mah_g": round(r["capacity_mah_g"], 1),
                     "retention_50_percent": round(r["retention_50_percent"], 2),
                     "thermal_onset_c": round(r["thermal_onset_c"], 1),
                     "within thermal limit": bool(r["thermal_onset_c"] >= config.thermal_min_c)})

    # ---- figures
    lab_name = "surrogates fitted on the doped-NCM table" if lab is not None else "synthetic emulator"
    figures = [convergence_figure(traces, key="hypervolume", y_label="hypervolume (mAh/g × %)",
                                  title="Hypervolume of the feasible observations: BO vs random",
                                  note=f"Median over {len(seeds)} seed(s); fixed reference point ({ref[0]:g} mAh/g, "
                                       f"{ref[1]:g} %); only points with thermal proxy ≥ {config.thermal_min_c:g} °C "
                                       f"count. Lab: {lab_name}.")]
    series = []
    levels = feas.assign(level=[_co_level(c, config.co_max) for c in feas["co"]])
    for lev, g in levels.groupby("level", sort=True):
        series.append(Series(f"feasible, {lev}", g["capacity_mah_g"].tolist(), g["retention_50_percent"].tolist(),
                             mode="markers", text=g["composition"].tolist()))
    if len(front):
        series.append(Series("Pareto front", front["capacity_mah_g"].tolist(), front["retention_50_percent"].tolist(),
                             mode="lines+markers", text=front["composition"].tolist()))
    infeas = log[log["thermal_onset_c"] < config.thermal_min_c]
    if len(infeas):
        series.append(Series("over the thermal limit", infeas["capacity_mah_g"].tolist(),
                             infeas["retention_50_percent"].tolist(), mode="markers",
                             text=infeas["composition"].tolist()))
    figures.append(Figure("pareto", "Capacity vs 50-cycle retention of the BO evaluations, by Co level",
                          "initial capacity (mAh/g)", "50-cycle retention (%)", series,
                          note="Feasible points split by Co fraction; the line joins the feasible non-dominated set "
                               "(all seeds pooled)."))
    s3 = [Series(name, g["ni"].tolist(), g["co"].tolist(), mode="markers", z=g["capacity_mah_g"].tolist(),
                 text=g["composition"].tolist())
          for name, g in (("feasible", feas[~feas["pareto"].astype(bool)]), ("Pareto front", front),
                          ("over the thermal limit", infeas)) if len(g)]
    figures.append(Figure("pareto_3d", "Ni and Co fractions against capacity", "Ni fraction", "Co fraction", s3,
                          z_label="initial capacity (mAh/g)"))

    # ---- metrics and text
    metrics: dict[str, float] = {
        "hypervolume_bo_median_mah_g_percent": float(np.median(hv_bo)),
        "hypervolume_random_median_mah_g_percent": float(np.median(hv_rand)),
        "hypervolume_bo_min_mah_g_percent": float(np.min(hv_bo)),
        "hypervolume_random_max_mah_g_percent": float(np.max(hv_rand)),
        "bo_minus_random_hypervolume_median_mah_g_percent": float(np.median(hv_bo - hv_rand)),
        "n_seeds": float(len(seeds)), "budget_evaluations": float(config.budget),
        "pareto_size": float(len(front)), "shortlist_size": float(len(shortlist)),
        "targets_met": float(met), "co_max_fraction": config.co_max,
    }
    if len(shortlist):
        top = short.iloc[0]
        metrics |= {"shortlist_top_capacity_mah_g": float(top["capacity_mah_g"]),
                    "shortlist_top_retention_50_percent": float(top["retention_50_percent"]),
                    "shortlist_top_thermal_onset_c": float(top["thermal_onset_c"]),
                    "shortlist_top_co_fraction": float(top["co"])}
        answer = (f"{'On the ' + lab_name + ', ' if lab is None else 'With ' + lab_name + ', '}"
                  f"{top['composition']} gives {top['capacity_mah_g']:.0f} mAh/g and "
                  f"{top['retention_50_percent']:.1f} % after 50 cycles at Co = {top['co']:.3f} "
                  f"(cap co_max = {config.co_max:g}; NCM811 has 0.10), thermal proxy {top['thermal_onset_c']:.0f} °C ≥ "
                  f"{config.thermal_min_c:g} °C. "
                  + ("It meets both targets." if met else "No evaluated point met both targets; this is the closest.")
                  + f" BO reached a median hypervolume of {np.median(hv_bo):.0f} vs {np.median(hv_rand):.0f} "
                  f"(mAh/g·%) for random search with the same {config.budget} evaluations over {len(seeds)} seed(s).")
    else:
        answer = "No evaluated composition satisfied the thermal limit; relax thermal_min_c or widen the Ni/Mn bounds."
    kpis = {"BO hypervolume (median)": f"{np.median(hv_bo):.0f} mAh/g·%",
            "random hypervolume (median)": f"{np.median(hv_rand):.0f} mAh/g·%",
            "Pareto members": f"{len(front)}"}
    if len(shortlist):
        kpis["top shortlist"] = f"{short.iloc[0]['composition']} (Co {short.iloc[0]['co']:.3f})"
    per_seed = pd.DataFrame({"seed": final.index, "hypervolume_bo_mah_g_percent": hv_bo,
                             "hypervolume_random_mah_g_percent": hv_rand})
    notes = ["Thermal-stability proxy: thermal_onset_c, an emulated DSC exotherm onset of the charged cathode "
             "(formula in the module docstring, illustrative parameters, trend after DSC studies such as Noh et al. "
             "2013). It is an emulator output in both modes, not a measurement.",
             f"Cobalt is capped in the search space (Co ≤ co_max = {config.co_max:g}), not a third objective; the "
             f"Co fraction of each Pareto member is reported and colours the front."]
    cards: list[dict[str, Any]] = []
    if lab is None:
        notes.insert(0, "SYNTHETIC: every capacity, retention and thermal value comes from voltlab's NCM emulator "
                        "(ncm_properties), a stated functional form with illustrative parameters, not from "
                        "experiments or a fitted model.")
        cards.append({"model": "ncm_properties (synthetic emulator)",
                      "predicts": "capacity_mah_g, retention_50_percent, thermal_onset_c",
                      "form": "capacity = (135 + 95 ni - 250 mixing)(1 - k_cap x); fade = 1.5 + 13 ni^4 + 80 mixing "
                              "- 6 mn - g_ret s(x); onset = 318 - 105 ni^2 + 30 mn - 15 co + g_T s(x); "
                              "mixing = 0.01 + 0.06 ni^3 exp(-co/0.07); s(x) = 1 - exp(-x/0.01)",
                      "dopant parameters (k_cap, g_ret %, g_T °C)": {k: list(v) for k, v in DOPANT_EFFECTS.items()},
                      "noise": "σ = 2 mAh/g, 0.5 %, 2 °C" if config.noise else "none",
                      "training data": "none (not fitted)", "limits": "illustrative trends only"})
    else:
        for name, desc in NcmSurrogateLab.targets.items():
            sc = lab.cv_scores[name]
            cards.append({"model": f"PropertyRegressor({config.surrogate_method!r})", "predicts": desc,
                          "features": ", ".join(_FEATURES), "training data": f"{data} ({lab.n_rows} rows, "
                                                                              f"{lab.n_groups} papers)",
                          "validation": f"group {config.cv_folds}-fold CV by ref_doi (out-of-fold)",
                          "cv_mae": round(sc["mae"], 3), "cv_rmse": round(sc["rmse"], 3), "cv_r2": round(sc["r2"], 3),
                          "conditions asked": lab.conditions,
                          "limits": "168 literature rows mixing Li-rich and conventional NCM; predictions at new "
                                    "compositions are interpolations of a small table"})
            metrics[f"cv_mae_{name}"] = float(sc["mae"])
            metrics[f"cv_r2_{name.replace('_mah_g', '').replace('_percent', '')}"] = float(sc["r2"])
        for name, desc in NcmSurrogateLab.targets.items():
            if not lab.cv_scores[name]["r2"] > 0:
                notes.insert(0, f"The {desc} surrogate has no skill on unseen papers (group-CV R² = "
                                f"{lab.cv_scores[name]['r2']:.2f} ≤ 0): its optimum is not trustworthy; treat the "
                                "front as a capacity screen only.")
        notes.insert(0, f"Capacity and retention come from {config.surrogate_method.upper()} surrogates fitted on the "
                        f"literature table at fixed conditions (Li {config.li:g}, {config.v_min_volt:g}-"
                        f"{config.v_max_volt:g} V, {config.current_density_ma_per_g:g} mA/g); group-CV scores in the "
                        "model cards. The thermal proxy remains the emulator's.")
    log_cols = ["seed", "evaluation", "source", "composition", "ni", "co", "mn", "dopant", "dopant_amount",
                "capacity_mah_g", "retention_50_percent", "thermal_onset_c", "feasible", "best_so_far"]
    return StudyResult(
        "ncm-cobalt", "Less cobalt in high-nickel NCM cathodes",
        question=f"Which Ni:Co:Mn ratio (+ dopant) keeps ≥ {config.capacity_target_mah_g:g} mAh/g and ≥ "
                 f"{config.retention_target_percent:g} % 50-cycle retention with Co ≤ {config.co_max:g}, within "
                 f"thermal proxy ≥ {config.thermal_min_c:g} °C?",
        answer=answer, metrics=metrics, kpis=kpis,
        tables={"Shortlist": shortlist, "Pareto front": front_table, "Reference compositions": pd.DataFrame(refs),
                "Hypervolume per seed": per_seed, "BO campaign log": log[[c for c in log_cols if c in log.columns]]},
        figures=figures, model_cards=cards, notes=notes,
        provenance=study_provenance("ncm-cobalt", config, inputs={"data": data} if data is not None else None))
