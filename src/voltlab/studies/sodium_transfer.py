"""Study ``sodium-transfer``: Li-ion cathode voltages → Na-ion voltages from a handful of Na examples.

Question: can a model trained on many Li-ion intercalation electrodes predict Na-ion average
voltages (V vs Na/Na+) when only a few Na examples are known?

Pipeline

1. **Data**: a source set (Li working ion) and a target set (Na working ion) of insertion
   electrodes with their average voltage (V vs the working-ion metal).
   ``--data``: the Materials Project insertion-electrode CSV (``mp_batteries.csv``), read with
   :func:`voltlab.data.datasets.materials.load_mp_insertion_electrodes` (its default rule keeps
   0 V < average voltage <= 6 V); DFT voltages, not measurements.
   Offline default: the **synthetic** generator :func:`synthetic_electrodes` (below) — made-up
   hosts with made-up voltages, *not measurement data*, used so that the study runs offline.
2. **Working-ion-agnostic features**: the working ion is removed from the discharged formula;
   the remaining *host* gets :class:`~voltlab.features.MagpieFeaturizer` descriptors (the Li/Na
   fraction columns are dropped), plus the working ion per host atom in the charged and the
   discharged state. The same host with Li or Na has the same features, so a Li model can be
   applied to Na electrodes.
3. **Models** (:class:`~voltlab.models.PropertyRegressor`, ``method``), on a learning curve of
   ``n`` Na training electrodes (``n_train``), ``repeats`` seeded splits, a fixed held-out Na test
   set per split (``test_fraction``):

   * ``Na only``: fitted on the n Na electrodes;
   * ``Li only``: fitted on every Li electrode, applied to Na unchanged (no Na data);
   * ``Li + offset``: the Li model plus the mean Na residual of the n electrodes;
   * ``transfer``: ``transfer = "residual"``: the Li model plus a model of the Na residuals
     y_Na − f_Li(x) fitted on the n electrodes; ``"feature"``: a Na model with f_Li(x) as an
     extra feature.

   Reported: test MAE (V) against n per method (mean ± std over the splits), a parity plot at the
   smallest n, and a table.

Synthetic generator (offline default). Each electrode is a host framework (layered AMO2,
spinel AM2O4, olivine AMPO4, pyrophosphate A2MP2O7, fluorophosphate A2MPO4F, fluorosulfate
AMSO4F, silicate A2MSiO4, NASICON A3M2(PO4)3) with one or two 3d/4d metals M. The Li voltage
is the amount-weighted mean of an illustrative per-metal redox level, plus a per-framework
inductive shift, a mixing bump and Gaussian noise (0.08 V); the Na voltage is the Li voltage
minus a framework-dependent offset (0.3–0.55 V) that also tilts with the metal's level, plus
noise. The numbers are chosen to look like intercalation voltages; they are not fitted to, and
must never be reported as, measured or computed voltages. The ≈ 0.2–0.6 V lower Na voltage
mimics the trend reported from DFT by S. P. Ong et al., Energy Environ. Sci. 4, 3680 (2011).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, StudyConfigError, VoltlabError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["SodiumTransferConfig", "host_features", "run_sodium_transfer", "synthetic_electrodes"]

_TITLE = "Li → Na transfer of intercalation voltages"
_QUESTION = ("Can a model trained on many Li-ion intercalation cathodes predict Na-ion average voltages from a "
             "handful of Na examples?")
_METHODS = ("Na only", "Li only", "Li + offset", "transfer")

# ---- synthetic generator parameters (illustrative, not fitted to any data) ----
_SYN_METAL_LEVEL_VOLT = {"Ti": 1.6, "V": 2.7, "Cr": 3.3, "Mn": 3.0, "Fe": 2.6, "Co": 3.6, "Ni": 3.5, "Cu": 3.2,
                         "Nb": 1.8, "Mo": 2.4}
# name: (formula template with {A} (ion count) and {M} (metal block), ions per formula, inductive shift V,
#        Na offset V)
_SYN_FRAMEWORKS: dict[str, tuple[str, int, float, float]] = {
    "layered": ("{A}{M}O2", 1, 0.0, 0.45),
    "spinel": ("{A}{M2}O4", 1, 0.25, 0.55),
    "olivine": ("{A}{M}PO4", 1, 0.45, 0.40),
    "pyrophosphate": ("{A2}{M}P2O7", 2, 0.55, 0.30),
    "fluorophosphate": ("{A2}{M}PO4F", 2, 0.65, 0.35),
    "fluorosulfate": ("{A}{M}SO4F", 1, 0.95, 0.35),
    "silicate": ("{A2}{M}SiO4", 2, -0.15, 0.50),
    "nasicon": ("{A3}{M2}P3O12", 3, 0.40, 0.30),
}


@dataclass(frozen=True)
class SodiumTransferConfig(StudyConfig):
    """Configuration of the ``sodium-transfer`` study."""

    method: Literal["rf", "xgboost", "lightgbm"] = field(
        default="rf", metadata={"help": "regressor of every model (PropertyRegressor method)"})
    n_trees: int = field(default=100, metadata={"help": "trees of the random forests (method = 'rf')"})
    transfer: Literal["residual", "feature"] = field(
        default="residual", metadata={"help": "transfer model: Li model + Na residual model, or Li prediction "
                                              "as a feature of a Na model"})
    n_train: tuple[int, ...] = field(default=(5, 10, 20, 40), metadata={
        "help": "Na training-set sizes of the learning curve", "unit": "electrodes"})
    repeats: int = field(default=5, metadata={"help": "seeded Na train/test splits per size"})
    test_fraction: float = field(default=0.3, metadata={"help": "share of the Na electrodes held out for testing"})
    max_li_rows: int = field(default=0, metadata={"help": "subsample the Li source set to this many rows (0: all)"})
    voltage_range_volt: tuple[float, ...] = field(default=(0.0, 6.0), metadata={
        "help": "MP data: keep low < average voltage <= high", "unit": "V"})
    synthetic_li: int = field(default=400, metadata={"help": "synthetic (offline) Li electrodes"})
    synthetic_na: int = field(default=120, metadata={"help": "synthetic (offline) Na electrodes"})

    def validate(self) -> None:
        if not self.n_train or any(n < 3 for n in self.n_train) or list(self.n_train) != sorted(set(self.n_train)):
            raise StudyConfigError(f"config key 'n_train': {list(self.n_train)} must be distinct increasing sizes "
                                   ">= 3, e.g. [5, 10, 20, 40]", value=self.n_train)
        if not 0.05 <= self.test_fraction <= 0.8:
            raise StudyConfigError(f"config key 'test_fraction' must be in [0.05, 0.8], got {self.test_fraction}",
                                   value=self.test_fraction)
        vr = self.voltage_range_volt
        if len(vr) != 2 or not vr[0] < vr[1]:
            raise StudyConfigError(f"config key 'voltage_range_volt': {list(vr)} must be [low, high] with low < high",
                                   value=vr)
        for key, low in (("n_trees", 10), ("repeats", 1), ("max_li_rows", 0), ("synthetic_li", 20),
                         ("synthetic_na", 10)):
            if getattr(self, key) < low:
                raise StudyConfigError(f"config key {key!r} must be >= {low}, got {getattr(self, key)}",
                                       value=getattr(self, key))
        if 0 < self.max_li_rows < 20:
            raise StudyConfigError("config key 'max_li_rows' must be 0 (all) or >= 20", value=self.max_li_rows)


# --------------------------------------------------------------------------------------------- data
def _metal_block(rng: np.random.Generator, count: int) -> tuple[str, dict[str, float]]:
    metals = list(_SYN_METAL_LEVEL_VOLT)
    m1 = metals[int(rng.integers(len(metals)))]
    y = float(rng.choice([0.0, 0.0, 0.25, 0.5]))
    if y == 0.0:
        return (m1 if count == 1 else f"{m1}{count}"), {m1: 1.0}
    m2 = metals[int(rng.integers(len(metals)))]
    while m2 == m1:
        m2 = metals[int(rng.integers(len(metals)))]
    a1, a2 = count * (1 - y), count * y
    return f"{m1}{a1:g}{m2}{a2:g}", {m1: 1 - y, m2: y}


def synthetic_electrodes(n_li: int = 400, n_na: int = 120, seed: int = 0) -> pd.DataFrame:
    """Synthetic Li and Na insertion electrodes (NOT measurement data; see the module docstring).

    Returns
    -------
    pandas.DataFrame
        ``working_ion`` ("Li"/"Na"), ``framework``, ``formula_charge`` (host), ``formula_discharge``,
        ``average_voltage_volt`` (V vs the working-ion metal, synthetic).

    Examples
    --------
    >>> df = synthetic_electrodes(30, 10, seed=1)
    >>> sorted(df["working_ion"].unique()), bool(df["average_voltage_volt"].between(0, 6).all())
    (['Li', 'Na'], True)
    """
    rng = np.random.default_rng(seed)
    names = list(_SYN_FRAMEWORKS)
    rows = []
    for ion, n in (("Li", n_li), ("Na", n_na)):
        for _ in range(n):
            fw = names[int(rng.integers(len(names)))]
            template, n_ion, shift, na_offset = _SYN_FRAMEWORKS[fw]
            count = 2 if ("{M2}" in template) else 1
            block, frac = _metal_block(rng, count)
            level = sum(_SYN_METAL_LEVEL_VOLT[m] * f for m, f in frac.items())
            mixing = 4 * 0.2 * min(frac.values()) * (1 - min(frac.values())) if len(frac) > 1 else 0.0
            v = level + shift + mixing + rng.normal(0, 0.08)
            if ion == "Na":
                v = v - na_offset - 0.12 * (level - 3.0) + rng.normal(0, 0.08)
            host = template.replace("{A}", "").replace("{A2}", "").replace("{A3}", "")
            host = host.replace("{M}", block).replace("{M2}", block)
            rows.append({"working_ion": ion, "framework": fw, "formula_charge": host,
                         "formula_discharge": f"{ion}{n_ion if n_ion > 1 else ''}{host}",
                         "average_voltage_volt": float(np.clip(v, 0.05, 5.95))})
    df = pd.DataFrame(rows)
    df.attrs["description"] = (f"SYNTHETIC electrodes from voltlab's generator ({n_li} Li, {n_na} Na; seed {seed}); "
                               "not measurement data")
    return df


def host_features(formulas_charge: list[str], formulas_discharge: list[str], ion: str) -> pd.DataFrame:
    """Working-ion-agnostic features: Magpie of the host (discharged formula minus ``ion``) + ion per host atom.

    Returns
    -------
    pandas.DataFrame
        Magpie/stoichiometry/battery columns of the host (without ``li_atomic_fraction`` and
        ``na_atomic_fraction``), ``ion_per_host_atom_discharged`` and ``ion_per_host_atom_charged``.

    Raises
    ------
    DataFormatError
        A formula pymatgen cannot parse, or a host with no atoms left.
    """
    from voltlab.features import MagpieFeaturizer, parse_composition

    hosts, x_dis, x_chg = [], [], []
    for fc, fd in zip(formulas_charge, formulas_discharge, strict=True):
        cd = parse_composition(str(fd))
        cc = parse_composition(str(fc))
        host = {str(e): a for e, a in cd.items() if str(e) != ion}
        n_host = sum(host.values())
        n_host_c = sum(a for e, a in cc.items() if str(e) != ion)
        if n_host <= 0 or n_host_c <= 0:
            raise DataFormatError(f"{fd!r} has no host atoms besides {ion}", value=fd)
        hosts.append("".join(f"{e}{a:g}" for e, a in host.items()))
        x_dis.append(cd[ion] / n_host if ion in [str(e) for e in cd] else 0.0)
        x_chg.append(cc[ion] / n_host_c if ion in [str(e) for e in cc] else 0.0)
    f = MagpieFeaturizer().featurize_many(hosts)
    f = f.drop(columns=["li_atomic_fraction", "na_atomic_fraction"])
    f["ion_per_host_atom_discharged"] = x_dis
    f["ion_per_host_atom_charged"] = x_chg
    return f


def _load(cfg: SodiumTransferConfig, data: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, str, bool]:
    """Li and Na tables (formula_charge, formula_discharge, average_voltage_volt), a description, synthetic?"""
    if data is None:
        df = synthetic_electrodes(cfg.synthetic_li, cfg.synthetic_na, cfg.seed)
        desc, synthetic = df.attrs["description"], True
    else:
        from voltlab.data.datasets.materials import load_mp_insertion_electrodes

        if data.is_dir():
            raise DataFormatError("--data must be the Materials Project CSV file (mp_batteries.csv), not a folder",
                                  path=data)
        df = load_mp_insertion_electrodes(data, voltage_range_volt=(float(cfg.voltage_range_volt[0]),
                                                                    float(cfg.voltage_range_volt[1])))
        desc = (f"Materials Project insertion electrodes {data.name} (DFT average voltages; rule: "
                f"{df.attrs['filter']}; {df.attrs['n_dropped_voltage']} of {df.attrs['n_rows_read']} rows dropped)")
        synthetic = False
    li = df[df["working_ion"] == "Li"].reset_index(drop=True)
    na = df[df["working_ion"] == "Na"].reset_index(drop=True)
    need = math.ceil(max(cfg.n_train) / (1 - cfg.test_fraction)) + 2
    if len(na) < need:
        raise DataFormatError(f"{len(na)} Na electrodes; n_train up to {max(cfg.n_train)} with test_fraction "
                              f"{cfg.test_fraction:g} needs at least {need}: lower 'n_train' or add Na rows",
                              path=data, column="Working Ion")
    if len(li) < 20:
        raise DataFormatError(f"only {len(li)} Li electrodes; the source model needs at least 20", path=data,
                              column="Working Ion")
    if cfg.max_li_rows and len(li) > cfg.max_li_rows:
        li = li.sample(cfg.max_li_rows, random_state=cfg.seed).reset_index(drop=True)
    return li, na, desc, synthetic


# --------------------------------------------------------------------------------------------- the study
@register_study("sodium-transfer", title=_TITLE, question=_QUESTION, config=SodiumTransferConfig,
                data="the Materials Project insertion-electrode CSV (mp_batteries.csv)",
                runtime="≈ 20 s (synthetic), ≈ 1 min on Materials Project data")
def run_sodium_transfer(config: SodiumTransferConfig, *, data: Path | None, out_dir: Path,
                        progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    from voltlab.models import PropertyRegressor, regression_metrics

    cfg = config
    li, na, desc, synthetic = _load(cfg, data)
    try:
        xl = host_features(li["formula_charge"].tolist(), li["formula_discharge"].tolist(), "Li").to_numpy(float)
        xn = host_features(na["formula_charge"].tolist(), na["formula_discharge"].tolist(), "Na").to_numpy(float)
    except VoltlabError as exc:
        raise DataFormatError(exc.message, path=data, column="Formula Discharge", value=exc.value) from None
    yl = li["average_voltage_volt"].to_numpy(float)
    yn = na["average_voltage_volt"].to_numpy(float)
    params = {"n_estimators": cfg.n_trees} if cfg.method == "rf" else None

    def regressor(seed: int) -> Any:
        return PropertyRegressor(cfg.method, interval="none", params=params, random_state=seed)

    progress(f"Li source model on {len(li)} electrodes; {len(na)} Na targets")
    li_model = regressor(cfg.seed).fit(xl, yl)
    f_li = li_model.predict(xn)
    n_test = max(1, math.ceil(cfg.test_fraction * len(na)))
    rows, parity = [], {}
    for rep in range(cfg.repeats):
        rng = np.random.default_rng(cfg.seed * 1000 + rep)
        perm = rng.permutation(len(na))
        test, pool = perm[:n_test], perm[n_test:]
        for n in cfg.n_train:
            tr = pool[:n]
            seed = cfg.seed + rep
            preds = {"Na only": regressor(seed).fit(xn[tr], yn[tr]).predict(xn[test]),
                     "Li only": f_li[test],
                     "Li + offset": f_li[test] + float(np.mean(yn[tr] - f_li[tr]))}
            if cfg.transfer == "residual":
                g = regressor(seed).fit(xn[tr], yn[tr] - f_li[tr])
                preds["transfer"] = f_li[test] + g.predict(xn[test])
            else:
                aug_tr = np.column_stack([xn[tr], f_li[tr]])
                aug_te = np.column_stack([xn[test], f_li[test]])
                preds["transfer"] = regressor(seed).fit(aug_tr, yn[tr]).predict(aug_te)
            for m, p in preds.items():
                met = regression_metrics(yn[test], p)
                rows.append({"repeat": rep, "n_na_train": n, "method": m, "mae_volt": met["mae"],
                             "rmse_volt": met["rmse"], "r2": met["r2"], "n_test": len(test)})
            if rep == 0 and n == cfg.n_train[0]:
                parity = {m: (yn[test], p, na["formula_discharge"].astype(str).to_numpy()[test])
                          for m, p in preds.items()}
        progress(f"learning curve: split {rep + 1}/{cfg.repeats}")
    runs = pd.DataFrame(rows)
    curve = (runs.groupby(["method", "n_na_train"], as_index=False)
             .agg(mae_volt_mean=("mae_volt", "mean"), mae_volt_std=("mae_volt", "std"),
                  rmse_volt_mean=("rmse_volt", "mean"), r2_mean=("r2", "mean")))
    curve["method"] = pd.Categorical(curve["method"], _METHODS, ordered=True)
    curve = curve.sort_values(["method", "n_na_train"]).reset_index(drop=True)
    curve["method"] = curve["method"].astype(str)
    mae = {(r.method, int(r.n_na_train)): float(r.mae_volt_mean) for r in curve.itertuples()}
    n0, n_last = cfg.n_train[0], cfg.n_train[-1]

    # ------------------------------------------------------------------ figures, metrics, answer
    series = []
    for m in _METHODS:
        g = curve[curve["method"] == m]
        series.append(Series(m, g["n_na_train"].tolist(), g["mae_volt_mean"].tolist(), mode="lines+markers",
                             error=g["mae_volt_std"].fillna(0).tolist(), dash=(m == "Li only")))
    lim_lo = float(min(yn.min(), min(p.min() for _, p, _ in parity.values()))) - 0.2
    lim_hi = float(max(yn.max(), max(p.max() for _, p, _ in parity.values()))) + 0.2
    par = [Series(m, t.tolist(), p.tolist(), mode="markers", text=list(names)) for m, (t, p, names) in parity.items()
           if m != "Li + offset"]
    par.append(Series("y = x", [lim_lo, lim_hi], [lim_lo, lim_hi], dash=True))
    kind = "synthetic" if synthetic else "DFT (Materials Project)"
    figures = [
        Figure("learning_curve", "Na-ion voltage error against the number of Na training electrodes",
               "Na training electrodes n", "test MAE (V)", series,
               note=f"Mean ± std over {cfg.repeats} seeded splits; {n_test} held-out Na electrodes per split; "
                    f"{kind} voltages."),
        Figure("parity", f"Na test set at n = {n0} (split 0)", f"{kind} average voltage (V vs Na/Na+)",
               "predicted (V vs Na/Na+)", par),
    ]
    metrics: dict[str, float] = {"n_li_source": float(len(li)), "n_na_target": float(len(na)),
                                 "n_na_test": float(n_test), "synthetic_data": float(synthetic)}
    for (m, n), v in mae.items():
        metrics[f"mae_{m.lower().replace(' + ', '_plus_').replace(' ', '_')}_n{n}_volt"] = v
    na_only0, tr0, li_only = mae[("Na only", n0)], mae[("transfer", n0)], mae[("Li only", n0)]
    offset_mean = float(np.mean(yn - f_li))
    metrics |= {"mae_na_only_smallest_n_volt": na_only0, "mae_transfer_smallest_n_volt": tr0,
                "mae_li_only_volt": li_only, "transfer_gain_smallest_n_volt": na_only0 - tr0,
                "mean_na_minus_li_model_volt": offset_mean}
    catch = next((n for n in cfg.n_train if mae[("Na only", n)] <= mae[("transfer", n)]), None)
    verdict = "yes" if tr0 < na_only0 else "no"
    answer = (f"{verdict.capitalize()}: with {n0} Na examples the transfer model's test MAE is {tr0:.2f} V against "
              f"{na_only0:.2f} V for a Na-only model and {li_only:.2f} V for the Li model applied unchanged "
              f"(Na voltages lie {-offset_mean:.2f} V below the Li model on average). "
              + (f"The Na-only model catches up at n = {catch}." if catch is not None else
                 f"Transfer stays ahead up to n = {n_last} ({mae[('transfer', n_last)]:.2f} vs "
                 f"{mae[('Na only', n_last)]:.2f} V).")
              + (" These are SYNTHETIC voltages (offline demo); run with --data mp_batteries.csv for real (DFT) "
                 "data." if synthetic else ""))
    kpis = {f"transfer MAE (n = {n0})": f"{tr0:.2f} V", f"Na-only MAE (n = {n0})": f"{na_only0:.2f} V",
            "Li-only MAE": f"{li_only:.2f} V", f"transfer MAE (n = {n_last})": f"{mae[('transfer', n_last)]:.2f} V",
            "data": "synthetic" if synthetic else "Materials Project (DFT)"}
    notes = [f"Data: {desc}."]
    if synthetic:
        notes.append("SYNTHETIC DATA: the offline default generates made-up hosts and voltages "
                     "(voltlab.studies.sodium_transfer.synthetic_electrodes: per-metal redox levels, framework "
                     "shifts and a Li→Na offset chosen to look plausible, plus noise). It shows the method, not "
                     "a result about real materials.")
    else:
        notes.append("Materials Project voltages are DFT (GGA/GGA+U) averages, not experiments; many hosts appear "
                     "with both Li and Na, which is what the transfer exploits (the split is random over Na "
                     "electrodes, not grouped by host).")
    notes.append("Features ignore the working ion except through the ion-per-host-atom columns, so the Li model "
                 "applies to Na hosts without change; its error on Na is mostly the Li→Na offset, which a few Na "
                 "examples correct.")
    card_li = {"model": f"PropertyRegressor(method={cfg.method!r}) — Li source model",
               "predicts": "average voltage (V vs Li/Li+)", "training data": f"{len(li)} Li electrodes; {desc}",
               "features": f"working-ion-agnostic host descriptors ({xl.shape[1]}: Magpie of the host + ion per "
                           "host atom)",
               "validation": f"applied to held-out Na electrodes: MAE {li_only:.3f} V (mean over {cfg.repeats} "
                             "splits)", "limits": "predicts Li voltages; on Na it carries the Li→Na offset"}
    card_tr = {"model": f"transfer ({cfg.transfer}) on {cfg.method!r}",
               "predicts": "average voltage (V vs Na/Na+)",
               "training data": f"Li source model + n Na electrodes (n in {list(cfg.n_train)})",
               "validation": f"{cfg.repeats} seeded random Na splits, {n_test} held-out Na electrodes each",
               "test MAE (V) by n": {int(n): round(mae[("transfer", n)], 4) for n in cfg.n_train},
               "Na-only test MAE (V) by n": {int(n): round(mae[("Na only", n)], 4) for n in cfg.n_train},
               "data kind": "SYNTHETIC (not measurements)" if synthetic else "DFT (Materials Project)"}
    return StudyResult("sodium-transfer", _TITLE, question=_QUESTION, answer=answer, metrics=metrics, kpis=kpis,
                       tables={"Learning curve (mean over splits)": curve, "Every split": runs},
                       figures=figures, model_cards=[card_li, card_tr], notes=notes,
                       provenance=study_provenance("sodium-transfer", cfg,
                                                   inputs={"data": data} if data is not None else None))
