"""Study ``solid-electrolyte``: which dopant and amount raise the conductivity of garnet Li7La3Zr2O12?

Pipeline

1. **Training table**: room-temperature Li-ion conductivities (log10 S/cm). Offline default:
   the curated, cited table :func:`voltlab.data.embedded.curated.load_curated_solid_electrolytes`
   (15 rows, 7 families, 5 garnets). ``--data``: the OBELiX folder (``train.csv`` + ``test.csv``), the
   OBELiX ``all.csv`` (or ``train.csv``/``test.csv``) file, or a user CSV with a ``composition`` column
   and one conductivity column (see :data:`CONDUCTIVITY_COLUMNS`), optionally ``family``.
2. **Descriptors**: :class:`~voltlab.features.MagpieFeaturizer` (Magpie statistics, stoichiometry
   norms, battery descriptors) of each composition.
3. **Model**: :class:`~voltlab.models.PropertyRegressor` (``method``, random forest by default) of
   log10 σ. Validation is *grouped*: leave-one-family-out (or group k-fold over families when there
   are more than ``max_family_folds`` families, or leave-KMeans-cluster-out with ``cv = "cluster"``),
   so a score says how well the model does on a family it has not seen. The out-of-fold absolute
   residuals also set the prediction interval (split-conformal half-width at ``coverage``).
4. **Search**: a voltlab :class:`~voltlab.optimize.Campaign` over the doped garnet family
   Li(7 - x (v - 4)) La3 Zr(2 - x) M(x) O12 with M a supervalent dopant of valence v on the Zr site
   (``dopants``; Ta5+, Nb5+, Sb5+, Bi5+, Te6+, W6+, Mo6+). The campaign searches the dopant
   (categorical) and the Li content inside ``li_window``; the dopant amount follows from charge
   balance, x = (7 - Li) / (v - 4), rounded to ``x_step`` (x > ``x_max`` is a failed evaluation).
   Objective: predicted log10 σ − ``risk_aversion`` × model spread (tree std for ``rf``, predictive
   std for ``gp``). The same campaign with random (Sobol) points, same budget and seeds, is the
   baseline (:func:`voltlab.studies.loop.compare_with_random`); the model's optimum on the x grid is
   the reference both are judged against (evaluations are cheap model calls here).
5. **Stability filter** on the evaluated candidates: (a) charge balance checked independently with
   pymatgen's ``Composition.oxi_state_guesses()`` (common oxidation states ranked by ICSD occurrence,
   Ong et al., Comput. Mater. Sci. 68, 314 (2013)): its most likely assignment must be the intended
   Li+ La3+ Zr4+ M^v+ O2- (a formula balanced only with mixed valence fails), (b) the Li content
   inside ``li_window`` (a **user-set bound**; the default brackets the Li contents of the cubic
   doped garnets in the curated table, it is not a literature stability rule), (c) the Shannon six-coordinate radius of the dopant
   within ``max_radius_mismatch`` of Zr4+ (radii from R. D. Shannon, Acta Cryst. A32, 751 (1976), via
   pymatgen; the bound itself is user-set).
6. **Shortlist**: the best filtered candidates with predicted σ, interval, Li content and why each is there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, SchemaError, StudyConfigError, VoltlabError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["CONDUCTIVITY_COLUMNS", "DOPANT_VALENCE", "SolidElectrolyteConfig", "charge_balance", "charge_balanced",
           "garnet_formula", "intended_states", "load_conductivity_table", "radius_mismatch", "run_solid_electrolyte"]

#: Supervalent Zr-site dopants of Li7La3Zr2O12 the study knows, with the valence assumed for charge balance.
DOPANT_VALENCE: dict[str, int] = {"Ta": 5, "Nb": 5, "Sb": 5, "Bi": 5, "Te": 6, "W": 6, "Mo": 6}

#: Accepted conductivity columns of a user CSV: name -> True when the column is log10(S/cm).
CONDUCTIVITY_COLUMNS: dict[str, bool] = {
    "conductivity_s_cm": False, "ionic_conductivity_s_per_cm": False, "conductivity_s_per_cm": False,
    "log10_conductivity_s_cm": True, "log10_ionic_conductivity_s_per_cm": True, "log10_conductivity_s_per_cm": True,
}
_OBELIX_HEADER = ("Reduced Composition", "Ionic conductivity (S cm-1)")
_ZR_RADIUS_ANGSTROM = 0.72  # Shannon 1976, Zr4+ six-coordinate
_TITLE = "Doped garnet Li7La3Zr2O12 solid electrolytes"
_QUESTION = ("Which dopant and amount raise the room-temperature Li-ion conductivity of garnet "
             "Li7La3Zr2O12?")


@dataclass(frozen=True)
class SolidElectrolyteConfig(StudyConfig):
    """Configuration of the ``solid-electrolyte`` study."""

    method: Literal["rf", "gp", "xgboost", "lightgbm"] = field(
        default="rf", metadata={"help": "conductivity model (PropertyRegressor method)"})
    n_trees: int = field(default=200, metadata={"help": "trees of the random forest (method = 'rf')"})
    cv: Literal["family", "cluster"] = field(
        default="family", metadata={"help": "grouped validation: leave-family-out (family column) or "
                                            "leave-KMeans-cluster-out of the descriptors"})
    max_family_folds: int = field(default=10, metadata={
        "help": "with more families than this, group k-fold over families with this many folds"})
    n_clusters: int = field(default=5, metadata={"help": "KMeans clusters for cv = 'cluster'"})
    coverage: float = field(default=0.9, metadata={"help": "nominal coverage of the prediction interval"})
    dopants: tuple[str, ...] = field(default=("Ta", "Nb", "Sb", "Te"), metadata={
        "help": f"Zr-site dopants searched (known: {sorted(DOPANT_VALENCE)})"})
    x_max: float = field(default=1.0, metadata={"help": "largest dopant amount searched", "unit": "per formula unit"})
    x_step: float = field(default=0.05, metadata={"help": "dopant amounts are rounded to this step",
                                                  "unit": "per formula unit"})
    li_window: tuple[float, ...] = field(default=(6.0, 6.75), metadata={
        "help": "allowed Li content (user-set bound, see the docs)", "unit": "Li per formula unit"})
    max_radius_mismatch: float = field(default=0.25, metadata={
        "help": "largest |r(M) - r(Zr4+)| / r(Zr4+) of Shannon six-coordinate radii (user-set bound)"})
    risk_aversion: float = field(default=0.0, metadata={
        "help": "objective = predicted log10 sigma - risk_aversion x model spread (rf/gp only)"})
    budget: int = field(default=10, metadata={"help": "candidates each campaign evaluates"})
    n_init: int = field(default=4, metadata={"help": "Sobol points before the model takes over"})
    seeds: tuple[int, ...] = field(default=(0, 1, 2), metadata={"help": "campaign seeds (BO and random alike)"})
    surrogate: Literal["gp", "rf"] = field(default="rf", metadata={
        "help": "campaign surrogate: 'rf' (random forest + EI, fast) or 'gp' (BoTorch GP, ≈ 5–10 s per ask)"})
    shortlist_size: int = field(default=5, metadata={"help": "candidates in the shortlist"})

    def validate(self) -> None:
        unknown = [d for d in self.dopants if d not in DOPANT_VALENCE]
        if not self.dopants or unknown or len(set(self.dopants)) != len(self.dopants):
            raise StudyConfigError(f"config key 'dopants': {list(self.dopants)} must be distinct names from "
                                   f"{sorted(DOPANT_VALENCE)}", value=self.dopants)
        if not 0 < self.x_max <= 2:
            raise StudyConfigError(f"config key 'x_max' must be in (0, 2] (Zr per formula unit is 2), got "
                                   f"{self.x_max}", value=self.x_max)
        if not 0 < self.x_step <= self.x_max:
            raise StudyConfigError(f"config key 'x_step' must be in (0, x_max], got {self.x_step}", value=self.x_step)
        lw = self.li_window
        if len(lw) != 2 or not 0 <= lw[0] < lw[1] <= 7:
            raise StudyConfigError(f"config key 'li_window': {list(lw)} must be [low, high] with 0 <= low < high <= 7 "
                                   "Li per formula unit, e.g. [6.0, 6.75]", value=lw)
        if not 0 < self.coverage < 1:
            raise StudyConfigError(f"config key 'coverage' must be in (0, 1), got {self.coverage}", value=self.coverage)
        if self.max_radius_mismatch <= 0:
            raise StudyConfigError("config key 'max_radius_mismatch' must be > 0", value=self.max_radius_mismatch)
        if self.risk_aversion < 0:
            raise StudyConfigError("config key 'risk_aversion' must be >= 0", value=self.risk_aversion)
        if self.risk_aversion > 0 and self.method not in ("rf", "gp"):
            raise StudyConfigError(f"config key 'risk_aversion' > 0 needs a model spread: method 'rf' or 'gp', not "
                                   f"{self.method!r}", value=self.risk_aversion)
        for key, low in (("n_trees", 10), ("max_family_folds", 2), ("n_clusters", 2), ("budget", 2), ("n_init", 1),
                         ("shortlist_size", 1)):
            if getattr(self, key) < low:
                raise StudyConfigError(f"config key {key!r} must be >= {low}, got {getattr(self, key)}",
                                       value=getattr(self, key))
        if self.n_init > self.budget:
            raise StudyConfigError(f"config key 'n_init' ({self.n_init}) must be <= budget ({self.budget})",
                                   value=self.n_init)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise StudyConfigError(f"config key 'seeds': {list(self.seeds)} must be distinct integers >= 0",
                                   value=self.seeds)


# --------------------------------------------------------------------------------------------- data
def _num(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return s or "0"


def garnet_formula(dopant: str, x: float) -> tuple[str, float]:
    """Formula and Li content of Li(7 - x (v - 4)) La3 Zr(2 - x) M(x) O12.

    Parameters
    ----------
    dopant
        Zr-site dopant (a key of :data:`DOPANT_VALENCE`).
    x
        Dopant per formula unit (0 <= x <= 2).

    Returns
    -------
    (formula, li_per_formula_unit)

    Examples
    --------
    >>> garnet_formula("Ta", 0.25)
    ('Li6.75La3Zr1.75Ta0.25O12', 6.75)
    >>> garnet_formula("Te", 0.5)
    ('Li6La3Zr1.5Te0.5O12', 6.0)
    """
    x = round(float(x), 6)
    li = round(7.0 - x * (DOPANT_VALENCE[dopant] - 4), 6)
    if x <= 0:
        return "Li7La3Zr2O12", 7.0
    return f"Li{_num(li)}La3Zr{_num(2 - x)}{dopant}{_num(x)}O12", li


def _read_user_table(path: Path) -> pd.DataFrame:
    from voltlab.data.datasets._common import read_csv_table

    raw = read_csv_table(path)
    cols = {str(c).strip(): c for c in raw.columns}
    if "composition" not in cols:
        raise SchemaError(f"missing column 'composition' (a formula per row, e.g. Li6.4La3Zr1.4Ta0.6O12); the file "
                          f"has {list(cols)[:12]}. Add it, or pass the OBELiX folder / all.csv unchanged",
                          path=path, column="composition")
    found = [c for c in CONDUCTIVITY_COLUMNS if c in cols]
    if not found:
        raise SchemaError(f"no conductivity column: name one of {list(CONDUCTIVITY_COLUMNS)} (S/cm, or log10 of "
                          f"S/cm for the log10_ names); the file has {list(cols)[:12]}", path=path,
                          column="conductivity_s_cm")
    col = found[0]
    values = pd.to_numeric(raw[cols[col]], errors="coerce").to_numpy(dtype=np.float64)
    is_log = CONDUCTIVITY_COLUMNS[col]
    bad = ~np.isfinite(values) if is_log else ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        want = "a finite log10(S/cm)" if is_log else "a positive number in S/cm"
        raise DataFormatError(f"{raw[cols[col]].iloc[r]!r} is not {want} ({int(bad.sum())} such row(s)); fix or "
                              "remove those rows", path=path, row=r, column=col, value=raw[cols[col]].iloc[r])
    out = pd.DataFrame({"composition": raw[cols["composition"]].astype("string").str.strip(),
                        "log10_conductivity_s_cm": values if is_log else np.log10(values)})
    out["family"] = (raw[cols["family"]].astype("string").fillna("unknown").to_numpy() if "family" in cols
                     else None)
    for extra in ("doi", "citation"):
        if extra in cols:
            out[extra] = raw[cols[extra]].astype("string")
    out.attrs["description"] = f"user table {path.name} ({len(out)} rows, column {col!r})"
    return out


def load_conductivity_table(data: Path | None) -> pd.DataFrame:
    """Training table: ``composition``, ``log10_conductivity_s_cm``, ``family`` (or None), extras.

    ``data``: ``None`` (the curated table), an OBELiX folder, an OBELiX CSV (``all.csv``, ``train.csv``
    or ``test.csv``: censored ``<1E-10`` rows are dropped and counted in ``attrs["n_censored_dropped"]``),
    or a user CSV (see the module docstring).

    Raises
    ------
    SchemaError, DataFormatError
        A missing column, a bad conductivity or an unparseable formula (file, row, column and fix).
    """
    from voltlab.features import parse_composition

    if data is None:
        from voltlab.data.embedded.curated import load_curated_solid_electrolytes

        cur = load_curated_solid_electrolytes()
        df = cur[["composition", "log10_conductivity_s_cm", "family", "citation", "doi"]].copy()
        df.attrs["description"] = (f"curated literature table shipped with voltlab ({len(df)} rows, "
                                   f"{df['family'].nunique()} families; one citation per row)")
        df.attrs["path"] = "embedded:solid_electrolytes.csv"
    else:
        if data.is_dir():
            from voltlab.data.datasets.materials import load_obelix

            ob = load_obelix(data)
            desc = f"OBELiX folder {data} (train.csv + test.csv)"
        else:
            header = pd.read_csv(data, nrows=0).columns if data.suffix.lower() == ".csv" else []
            if all(h in header for h in _OBELIX_HEADER):
                from voltlab.data.datasets import read_obelix_table

                ob = read_obelix_table(data)
                desc = f"OBELiX table {data.name}"
            else:
                ob = None
        if ob is not None:
            n_cens = int(ob["is_upper_bound"].sum())
            ob = ob[~ob["is_upper_bound"]]
            df = pd.DataFrame({"composition": ob["composition"].astype("string").str.strip(),
                               "log10_conductivity_s_cm": ob["log10_ionic_conductivity_s_per_cm"].to_numpy(),
                               "family": ob["family"].astype("string").fillna("unknown").to_numpy(),
                               "doi": ob["doi"].astype("string").to_numpy()})
            df.attrs["description"] = (f"{desc}: {len(df)} rows with a measured value ({n_cens} censored "
                                       "'<bound' rows dropped)")
            df.attrs["n_censored_dropped"] = n_cens
        else:
            df = _read_user_table(data)
        df.attrs["path"] = str(data)
    bad_rows = []
    for r, f in enumerate(df["composition"]):
        try:
            parse_composition(str(f))
        except VoltlabError as exc:
            if not df.attrs.get("n_censored_dropped") and "OBELiX" not in df.attrs["description"]:
                raise DataFormatError(f"composition {f!r} cannot be parsed ({exc.message}); fix or remove the row",
                                      path=df.attrs.get("path"), row=r, column="composition", value=f) from None
            bad_rows.append(r)
    if bad_rows:  # OBELiX writes a few hydrates as 'A*(H2O)n', which no formula parser reads
        attrs = dict(df.attrs)
        df = df.drop(index=df.index[bad_rows])
        df.attrs.update(attrs, n_unparseable_dropped=len(bad_rows))
        df.attrs["description"] += f"; {len(bad_rows)} unparseable formula(s) dropped"
    if len(df) < 8:
        raise DataFormatError(f"only {len(df)} rows with a conductivity; the model needs at least 8",
                              path=df.attrs.get("path"))
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- stability
def _integer_formula(formula: str) -> Any:
    """The composition scaled to the smallest integer amounts (denominators up to 100)."""
    from fractions import Fraction

    from pymatgen.core import Composition

    fr = {str(e): Fraction(a).limit_denominator(100) for e, a in Composition(formula).items()}
    den = math.lcm(*[f.denominator for f in fr.values()])
    ints = {e: int(f * den) for e, f in fr.items()}
    g = math.gcd(*ints.values())
    return Composition({e: v // g for e, v in ints.items()})


@lru_cache(maxsize=512)
def charge_balance(formula: str) -> str:
    """pymatgen's most likely charge-balanced oxidation states of ``formula`` ("" when none exists).

    Examples
    --------
    >>> charge_balance("Li6.4La3Zr1.4Ta0.6O12")
    'Li+1 La+3 Zr+4 Ta+5 O-2'
    """
    guesses = _integer_formula(formula).oxi_state_guesses()
    if not guesses:
        return ""
    return " ".join(f"{el}{v:+g}" for el, v in guesses[0].items())


def intended_states(dopant: str) -> str:
    """The oxidation states the doped-garnet formula assumes, in :func:`charge_balance`'s format."""
    return f"Li+1 La+3 Zr+4 {dopant}+{DOPANT_VALENCE[dopant]} O-2"


def charge_balanced(formula: str, dopant: str) -> bool:
    """True when pymatgen's most likely charge-balanced assignment is the intended one (Zr4+, M^v+).

    A formula balanced only with mixed valence (e.g. Zr3+/Zr4+) fails.

    Examples
    --------
    >>> charge_balanced("Li6.4La3Zr1.4Ta0.6O12", "Ta"), charge_balanced("Li7La3Zr1.5Ta0.5O12", "Ta")
    (True, False)
    """
    ox = charge_balance(formula)
    if dopant not in formula:  # undoped: no dopant term
        return ox == "Li+1 La+3 Zr+4 O-2"
    return ox == intended_states(dopant)


def radius_mismatch(dopant: str) -> float:
    """|r(M^v+) - r(Zr4+)| / r(Zr4+), Shannon six-coordinate ionic radii (pymatgen)."""
    from pymatgen.core import Species

    r = float(Species(dopant, DOPANT_VALENCE[dopant]).get_shannon_radius("VI"))
    return abs(r - _ZR_RADIUS_ANGSTROM) / _ZR_RADIUS_ANGSTROM


# --------------------------------------------------------------------------------------------- the study
def _folds(cfg: SolidElectrolyteConfig, df: pd.DataFrame, X: np.ndarray) -> tuple[list[Any], str]:
    from voltlab.models import group_kfold_indices, leave_cluster_out

    fam = df["family"]
    if cfg.cv == "family" and fam.notna().all() and fam.nunique() >= 2:
        groups = fam.astype(str).to_numpy()
        k = int(np.unique(groups).size)
        if k <= cfg.max_family_folds:
            idx = np.arange(len(groups))
            return ([(idx[groups != g], idx[groups == g]) for g in np.unique(groups)],
                    f"leave-one-family-out ({k} families)")
        return (group_kfold_indices(groups, cfg.max_family_folds, cfg.seed),
                f"group {cfg.max_family_folds}-fold over {k} families")
    k = min(cfg.n_clusters, len(df) - 1)
    why = "" if cfg.cv == "cluster" else " (no family column)"
    return leave_cluster_out(X, k, cfg.seed), f"leave-one-cluster-out (KMeans, {k} clusters){why}"


def _regressor(cfg: SolidElectrolyteConfig) -> Any:
    from voltlab.models import PropertyRegressor

    params = {"n_estimators": cfg.n_trees} if cfg.method == "rf" else None
    return PropertyRegressor(cfg.method, interval="none", params=params, random_state=cfg.seed)


@register_study("solid-electrolyte", title=_TITLE, question=_QUESTION, config=SolidElectrolyteConfig,
                data="a CSV with 'composition' and a conductivity column (conductivity_s_cm or "
                     "log10_conductivity_s_cm), or OBELiX all.csv / its folder",
                runtime="≈ 50 s (embedded), ≈ 1–2 min on OBELiX")
def run_solid_electrolyte(config: SolidElectrolyteConfig, *, data: Path | None, out_dir: Path,
                          progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    import warnings

    from voltlab.features import MagpieFeaturizer
    from voltlab.models import regression_metrics
    from voltlab.models.property import conformal_quantile
    from voltlab.optimize import Categorical, Objective, Real, SearchSpace
    from voltlab.studies.loop import compare_with_random, convergence_figure

    cfg = config
    df = load_conductivity_table(data)
    y = df["log10_conductivity_s_cm"].to_numpy(dtype=np.float64)
    feat = MagpieFeaturizer()
    X = feat.featurize_many(df["composition"].astype(str).tolist()).to_numpy(dtype=np.float64)
    progress(f"{len(df)} training rows, {X.shape[1]} descriptors; grouped cross-validation")

    folds, split_name = _folds(cfg, df, X)
    oof = np.full(len(y), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for tr, te in folds:
            oof[te] = _regressor(cfg).fit(X[tr], y[tr]).predict(X[te])
        # reference: an ordinary shuffled k-fold (families on both sides), to show what grouping costs
        from sklearn.model_selection import KFold

        oof_random = np.full(len(y), np.nan)
        for tr, te in KFold(min(5, len(y)), shuffle=True, random_state=cfg.seed).split(X):
            oof_random[te] = _regressor(cfg).fit(X[tr], y[tr]).predict(X[te])
        model = _regressor(cfg).fit(X, y)
    cv = regression_metrics(y, oof)
    cv_random = regression_metrics(y, oof_random)
    half = conformal_quantile(oof - y, cfg.coverage)
    spread = cfg.method in ("rf", "gp")

    # ------------------------------------------------------------------ the garnet search
    lo_li, hi_li = cfg.li_window
    cache: dict[tuple[str, float], dict[str, float]] = {}

    def predict(dopant: str, x: float) -> dict[str, float]:
        key = (dopant, round(round(x / cfg.x_step) * cfg.x_step, 6))
        if key not in cache:
            formula, li = garnet_formula(*key)
            f = feat.featurize_many([formula]).to_numpy(dtype=np.float64)
            mean = float(model.predict(f)[0])
            sd = float(model.predict_std(f)[0]) if spread else 0.0
            cache[key] = {"mean": mean, "std": sd, "li": li, "x": key[1]}
        return cache[key]

    def x_of(dopant: str, li: float) -> float:
        """Dopant amount (per formula unit) of Li content ``li`` by charge balance."""
        return (7.0 - li) / (DOPANT_VALENCE[dopant] - 4)

    def evaluate(point: Mapping[str, Any]) -> dict[str, float]:
        dopant = str(point["dopant"])
        x = x_of(dopant, float(point["li_per_formula_unit"]))
        if x > cfg.x_max + 1e-9:
            raise DataFormatError(f"x = {x:.3g} {dopant} per formula unit exceeds x_max = {cfg.x_max:g}")
        p = predict(dopant, x)
        return {"objective_log10_s_cm": p["mean"] - cfg.risk_aversion * p["std"]}

    dop = (Categorical("dopant", tuple(cfg.dopants)) if len(cfg.dopants) > 1 else _fixed_dopant(cfg.dopants[0]))
    space = SearchSpace([dop, Real("li_per_formula_unit", lo_li, hi_li)])
    progress(f"BO ({cfg.surrogate}) vs random: {cfg.budget} candidates x {len(cfg.seeds)} seeds")
    traces, runs = compare_with_random(out_dir / "campaigns", space, [Objective("objective_log10_s_cm", "maximize")],
                                       evaluate, budget=cfg.budget, seeds=cfg.seeds, n_init=cfg.n_init,
                                       surrogate=cfg.surrogate)
    final = traces[traces["evaluation"] == traces["evaluation"].max()]
    med = final.groupby("method")["best_so_far"].median()
    bo_name = f"BO ({cfg.surrogate})"
    bo_final, rnd_final = float(med.get(bo_name, math.nan)), float(med.get("random", math.nan))

    # grid optimum of the same model (the reference the campaigns are judged against)
    n_grid = math.floor(cfg.x_max / cfg.x_step + 1e-9) + 1
    grid_x = [round(i * cfg.x_step, 6) for i in range(n_grid)]
    grid = pd.DataFrame([{"dopant": d, **predict(d, x)} for d in cfg.dopants for x in grid_x])
    grid["objective"] = grid["mean"] - cfg.risk_aversion * grid["std"]
    ok_grid = grid[(grid["li"] >= lo_li - 1e-9) & (grid["li"] <= hi_li + 1e-9)]
    grid_best = float(ok_grid["objective"].max()) if len(ok_grid) else math.nan
    hits = {m: int((g["best_so_far"] >= grid_best - 1e-9).sum()) for m, g in final.groupby("method")}

    # ------------------------------------------------------------------ stability filter + shortlist
    progress("stability filter and shortlist")
    seen: dict[tuple[str, float], dict[str, Any]] = {}
    for seed, run in runs.items():
        log = run.log[run.log["status"] == "complete"]
        for _, row in log.iterrows():
            p = predict(str(row["dopant"]), x_of(str(row["dopant"]), float(row["li_per_formula_unit"])))
            key = (str(row["dopant"]), p["x"])
            if key not in seen:
                seen[key] = {"seed": int(seed), "evaluation": int(row["evaluation"])}
    train_comp = df["composition"].astype(str).to_numpy()
    rows = []
    for (dopant, x), where in seen.items():
        p = predict(dopant, x)
        formula, li = garnet_formula(dopant, x)
        ox = charge_balance(formula)
        balanced = charge_balanced(formula, dopant)
        mis = radius_mismatch(dopant)
        in_window = lo_li - 1e-9 <= li <= hi_li + 1e-9
        fx = feat.featurize_many([formula]).to_numpy(dtype=np.float64)
        near = int(np.nanargmin(np.nansum((_z(X, fx)) ** 2, axis=1)))
        rows.append({"composition": formula, "dopant": dopant, "x_per_formula_unit": x, "li_per_formula_unit": li,
                     "predicted_log10_s_cm": p["mean"], "predicted_s_cm": 10 ** p["mean"],
                     "interval_low_log10_s_cm": p["mean"] - half, "interval_high_log10_s_cm": p["mean"] + half,
                     "model_spread_log10_s_cm": p["std"] if spread else math.nan,
                     "objective_log10_s_cm": p["mean"] - cfg.risk_aversion * p["std"],
                     "oxidation_states": ox, "charge_balanced": balanced, "li_in_window": bool(in_window),
                     "radius_mismatch_fraction": mis, "radius_ok": bool(mis <= cfg.max_radius_mismatch),
                     "nearest_training_composition": train_comp[near],
                     "nearest_training_log10_s_cm": float(y[near]), "found_by": f"BO seed {where['seed']}, "
                     f"evaluation {where['evaluation']}"})
    cand = pd.DataFrame(rows)
    passed = cand[cand["charge_balanced"] & cand["li_in_window"] & cand["radius_ok"]] if len(cand) else cand
    passed = passed.sort_values("objective_log10_s_cm", ascending=False)
    passed = passed.assign(best_of_dopant=~passed["dopant"].duplicated())
    best_per_dopant = passed[passed["best_of_dopant"]]
    short = pd.concat([best_per_dopant, passed[~passed["best_of_dopant"]]]).head(cfg.shortlist_size)
    short = short.sort_values("objective_log10_s_cm", ascending=False).reset_index(drop=True)
    reasons = []
    for rank, (_, r) in enumerate(short.iterrows(), start=1):
        tag = f"best evaluated {r['dopant']} candidate" if r["best_of_dopant"] else f"rank {rank} overall"
        reasons.append(f"{tag} ({r['found_by']}); passes the filter: {r['oxidation_states']} (pymatgen), "
                       f"Li {r['li_per_formula_unit']:g} in [{lo_li:g}, {hi_li:g}], r({r['dopant']}) within "
                       f"{100 * r['radius_mismatch_fraction']:.0f} % of Zr4+; nearest training compound "
                       f"{r['nearest_training_composition']} (measured {10 ** r['nearest_training_log10_s_cm']:.2g} "
                       "S/cm)")
    short.insert(0, "rank", np.arange(1, len(short) + 1))
    short["why"] = reasons
    n_rejected = len(cand) - len(passed)

    # ------------------------------------------------------------------ figures, tables, answer
    parity = [Series(str(fam), y[m].tolist(), oof[m].tolist(), mode="markers",
                     text=df["composition"].astype(str)[m].tolist())
              for fam in sorted(df["family"].astype(str).unique()) for m in [df["family"].astype(str).to_numpy() == fam]]
    lim = [float(min(y.min(), oof.min())) - 0.3, float(max(y.max(), oof.max())) + 0.3]
    parity.append(Series("y = x", lim, lim, dash=True))
    figures = [
        Figure("parity", f"Grouped cross-validation ({split_name})", "measured log10 σ (S/cm)",
               "predicted log10 σ (S/cm)", parity,
               note=f"Out-of-fold predictions: MAE {cv['mae']:.2f}, R² {cv['r2']:.2f} (log10 S/cm)."),
        convergence_figure(traces, y_label="best predicted log10 σ (S/cm)",
                           note=f"Median over {len(cfg.seeds)} seeds; same budget ({cfg.budget}) and seeds for both; "
                                f"dashed grey level = optimum of the model on the x grid ({grid_best:.2f})."),
        Figure("dopant_amount", "Predicted conductivity against dopant amount", "x (dopant per formula unit)",
               "predicted log10 σ (S/cm)",
               [Series(d, g["x"].tolist(), g["mean"].tolist(), mode="lines+markers",
                       error=g["std"].tolist() if spread else None,
                       text=[f"Li {v:g}" for v in g["li"]]) for d, g in grid.groupby("dopant", sort=False)],
               note=f"Model mean ± model spread; the Li window [{lo_li:g}, {hi_li:g}] allows x in "
                    + ", ".join(f"{d}: [{(7 - hi_li) / (DOPANT_VALENCE[d] - 4):.3g}, "
                                f"{min(cfg.x_max, (7 - lo_li) / (DOPANT_VALENCE[d] - 4)):.3g}]" for d in cfg.dopants)),
    ]
    figures[1].series.append(Series("model optimum (grid)", [1, cfg.budget], [grid_best, grid_best], dash=True))
    training = df[["composition", "family"]].astype(str).assign(
        measured_log10_s_cm=y, predicted_oof_log10_s_cm=oof, abs_error_log10=np.abs(oof - y))
    for extra in ("citation", "doi"):
        if extra in df.columns:
            training[extra] = df[extra].astype(str).to_numpy()
    summary = final.pivot_table(index="seed", columns="method", values="best_so_far").reset_index()
    summary.columns = [str(c) for c in summary.columns]
    tables = {"Shortlist": short, "All evaluated candidates (BO)": cand, "BO vs random (final best per seed)": summary,
              "Training data and grouped-CV predictions": training,
              f"Campaign log (BO seed {cfg.seeds[0]})": runs[cfg.seeds[0]].log}
    top = short.iloc[0] if len(short) else None
    spread_d = (float(best_per_dopant["predicted_log10_s_cm"].max() - best_per_dopant["predicted_log10_s_cm"].min())
                if len(best_per_dopant) > 1 else 0.0)
    resolved = "larger" if spread_d > cv["mae"] else "smaller"
    if top is not None:
        answer = (f"The model ranks {top['composition']} ({top['dopant']}, x = {top['x_per_formula_unit']:g}, "
                  f"Li {top['li_per_formula_unit']:g}) highest: predicted σ = {top['predicted_s_cm']:.2g} S/cm "
                  f"({100 * cfg.coverage:.0f} % interval {10 ** top['interval_low_log10_s_cm']:.1g}–"
                  f"{10 ** top['interval_high_log10_s_cm']:.1g} S/cm). "
                  + (f"The best dopants differ by {spread_d:.2f} decades, {resolved} than the grouped-CV error "
                     f"({cv['mae']:.2f} decades, {split_name}), so "
                     + ("the ranking is a lead to test" if resolved == "larger" else "the model does not resolve them")
                     if len(best_per_dopant) > 1 else
                     f"Grouped-CV error: {cv['mae']:.2f} decades ({split_name})")
                  + f". BO's median best after {cfg.budget} candidates is {bo_final:.2f} vs {rnd_final:.2f} for random "
                  f"search (log10 S/cm; grid optimum {grid_best:.2f}).")
    else:
        answer = ("No evaluated candidate passed the stability filter; widen 'li_window' or "
                  "'max_radius_mismatch', or raise the budget.")
    metrics = {"cv_mae_log10_s_cm": cv["mae"], "cv_rmse_log10_s_cm": cv["rmse"], "cv_r2": cv["r2"],
               "random_cv_mae_log10_s_cm": cv_random["mae"], "random_cv_r2": cv_random["r2"],
               "interval_half_width_log10_s_cm": float(half), "n_training_rows": float(len(df)),
               "n_cv_folds": float(len(folds)),
               "bo_median_final_best_log10_s_cm": bo_final, "random_median_final_best_log10_s_cm": rnd_final,
               "grid_optimum_log10_s_cm": grid_best,
               "bo_seeds_at_grid_optimum": float(hits.get(bo_name, 0)),
               "random_seeds_at_grid_optimum": float(hits.get("random", 0)),
               "n_candidates_evaluated": float(len(cand)), "n_candidates_rejected_by_filter": float(n_rejected),
               "n_shortlisted": float(len(short)), "dopant_spread_log10_s_cm": spread_d}
    if top is not None:
        metrics |= {"best_predicted_log10_s_cm": float(top["predicted_log10_s_cm"]),
                    "best_li_per_formula_unit": float(top["li_per_formula_unit"]),
                    "best_x_per_formula_unit": float(top["x_per_formula_unit"])}
    kpis = {"grouped-CV MAE": f"{cv['mae']:.2f} decades", "grouped-CV R²": f"{cv['r2']:.2f}",
            "shuffled-CV MAE (reference)": f"{cv_random['mae']:.2f} decades",
            "best candidate": top["composition"] if top is not None else "none",
            "predicted σ (best)": f"{top['predicted_s_cm']:.2g} S/cm" if top is not None else "–",
            "BO vs random (median best)": f"{bo_final:.2f} vs {rnd_final:.2f} log10 S/cm"}
    notes = [f"Training data: {df.attrs['description']}.",
             "Predictions are of a composition-only model: it cannot see processing (sintering, density, Al "
             "contamination, tetragonal vs cubic phase), which changes garnet conductivities by orders of magnitude; "
             "candidates are leads for synthesis, not results.",
             f"The Li window [{lo_li:g}, {hi_li:g}] Li per formula unit and the radius bound "
             f"({100 * cfg.max_radius_mismatch:.0f} %) are user-set bounds, not literature stability rules; the charge "
             "balance is checked with pymatgen's oxi_state_guesses (ICSD-ranked common oxidation states).",
             "Evaluations are model predictions (cheap), so an exhaustive grid is also shown; BO is demonstrated "
             "because in the lab each evaluation is a synthesis.",
             f"Prediction interval: split-conformal half-width {half:.2f} decades from the grouped-CV residuals at "
             f"{100 * cfg.coverage:.0f} % nominal coverage (exchangeable-families assumption)."]
    if data is None:
        notes.append("The embedded table has 15 cited rows (5 garnets); dopants absent from it (e.g. Sb, Te) are "
                     "extrapolations. Run with --data on OBELiX for a real training set.")
    card = {"model": f"PropertyRegressor(method={cfg.method!r})", "predicts": "log10 room-temperature total Li-ion "
            "conductivity (S/cm)", "features": f"MagpieFeaturizer ({X.shape[1]} composition descriptors, Ward et al. "
            "2016)", "training data": df.attrs["description"], "n training rows": len(df),
            "validation": split_name, "grouped-CV MAE (log10 S/cm)": round(cv["mae"], 4),
            "grouped-CV RMSE (log10 S/cm)": round(cv["rmse"], 4), "grouped-CV R2": round(cv["r2"], 4),
            "reference: shuffled 5-fold CV (families on both sides)": f"MAE {cv_random['mae']:.3f}, "
                                                                    f"R2 {cv_random['r2']:.3f} (log10 S/cm)",
            "interval": f"± {half:.3f} decades (split-conformal on grouped-CV residuals, {cfg.coverage:g} coverage)",
            "limits": "composition only; no processing or phase information; extrapolates to unseen dopants"}
    return StudyResult("solid-electrolyte", _TITLE, question=_QUESTION, answer=answer, metrics=metrics, kpis=kpis,
                       tables=tables, figures=figures, model_cards=[card], notes=notes,
                       provenance=study_provenance("solid-electrolyte", cfg,
                                                   inputs={"data": data} if data is not None else None))


def _fixed_dopant(dopant: str) -> Any:
    from voltlab.optimize import Fixed

    return Fixed("dopant", dopant)


def _z(X: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Standardised differences between the training rows and one candidate (for the nearest neighbour)."""
    mu = np.nanmean(X, axis=0)
    sd = np.nanstd(X, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mu) / sd - (f - mu) / sd
