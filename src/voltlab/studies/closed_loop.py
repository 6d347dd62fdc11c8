"""Study ``closed-loop``: the multi-fidelity closed loop of Attia et al. (2020) on simulated cells.

Attia et al., "Closed-loop optimization of fast-charging protocols for batteries with
machine learning", Nature 578, 397 (2020), searched 10-minute four-step fast-charging
protocols by combining an early-life prediction of cycle life (from the first 100
cycles) with Bayesian optimisation, so that few cells had to be cycled to the end.
This module makes that loop a reusable feature (:class:`MultiFidelityLoop`) and the
study compares it with the same campaign that only uses full-life tests.

Everything here is **simulated** (no cycling data); the simulator is known, so the
true optimum is known:

Protocol → life map (:class:`ProtocolLifeMap`, a stated synthetic emulator)
    A protocol charges 0 → 80 % SOC in ``charge_time_min`` (10 min) in four constant-current
    steps, one per 20 % SOC window. The search parameters are the minutes spent in each
    window, ``t1..t4`` (a simplex: ``t1 + t2 + t3 + t4 = charge_time_min``); step ``i`` runs at
    ``c_i = 12 / t_i`` C (20 % of the capacity in ``t_i`` minutes). Its mean cycle life to 80 %
    of nominal capacity is::

        D(x) = sum_i w_i exp((c_i - c_ref) / c_scale) / sum_i w_i
        L(x) = life_floor + (life_top - life_floor) / (1 + D(x))        cycles

    with ``w = (0.25, 0.5, 1.0, 2.0)`` (damage per step grows with SOC: plating risk),
    ``c_ref = 4.8`` C, ``c_scale = 0.8`` C, ``life_top = 1600``, ``life_floor = 150`` cycles. Its
    optimum (≈ 950 cycles) charges fast at low SOC and slowly at high SOC (≈ 5.5-5.0-4.6-4.2 C);
    the uniform 4.8 C protocol gives 875 cycles. Illustrative parameters, not fitted to data.
Simulated cells
    Each tested protocol gets one cell (seeded by the study seed and the protocol) whose life
    is ``L(x) × exp(N(0, cell_to_cell_sigma))`` (cell-to-cell variation), simulated with
    :func:`voltlab.models.synthetic_cycling_fleet` (raw time series; the early Q(V) curves carry
    a polarisation signal ∝ life^-1.2 with log-normal noise ``early_signal_noise``).
Fidelities
    *expensive*: the cell's cycle count to 80 % of nominal capacity (the full test; costs its life
    in cycles). *medium*: :class:`voltlab.models.early_life.EarlyLifePredictor` (Severson's
    log-variance ΔQ_{100-10}(V) feature, linear model on log10 life) trained on a separate
    simulated fleet, applied to the cell's first ``window_cycles`` cycles (costs ``window_cycles``).
    *cheap*: a biased, noisy physics-style estimate: the same life formula with the SOC
    dependence of damage ignored (``w = (1, 1, 1, 1)``) times ``exp(N(0, cheap_noise_sigma))`` (costs
    ``cheap_cost_cycles``, a compute-time equivalent).

Multi-fidelity loop (:class:`MultiFidelityLoop`)
    1. Screen ``n_screen`` Sobol protocols with the cheap estimate.
    2. Early-test the ``n_medium_init`` best of them (medium); these start a GP campaign
       (``qLogNoisyExpectedImprovement``) whose outcome is the early-predicted life.
    3. Each round: score the early-tested protocols without a full test by the posterior mean of a
       GP fitted to all early predictions; *promote* the best one to a full-life test (expensive) if
       its score is ≥ (1 − ``promote_margin``) × the best full-life result so far (or if ``patience``
       rounds passed without a promotion); then ask the campaign for ``medium_batch`` more
       protocols and early-test them. Stop when the expensive budget is used.

Expensive-only arm: the same GP campaign (``n_init_expensive`` Sobol points, then qLogNEI)
telling full-life results only. "Reaching the optimum" = the best *true* (noiseless map)
life among the full-tested protocols is within ``tolerance_percent`` of the map's optimum.
BoTorch's own multi-fidelity mode (``Campaign.create(..., fidelity=...)``, qMFKG) is not used:
its asks cost ≈ 5-20 s each on two cores and it handles one continuous fidelity, not a
model-based early prediction.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import StudyConfigError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["ClosedLoopConfig", "LoopRecord", "MultiFidelityLoop", "ProtocolLifeMap", "SimulatedCellLab",
           "expensive_only_loop", "run_arms", "run_closed_loop"]

STEPS = ("t1_min", "t2_min", "t3_min", "t4_min")


# --------------------------------------------------------------------------------------------- simulator
@dataclass(frozen=True)
class ProtocolLifeMap:
    """The synthetic protocol → mean cycle-life map (formula in the module docstring).

    Attributes
    ----------
    weights
        Damage weight of each SOC window (0-20, 20-40, 40-60, 60-80 %), dimensionless.
    c_ref, c_scale
        Reference C-rate and the C-rate scale of the exponential damage, 1/h.
    life_top, life_floor
        Life at zero damage and the asymptotic floor, cycles.
    charge_time_min
        Time from 0 to 80 % SOC, minutes (the simplex total).
    step_min_min, step_max_min
        Bounds on the minutes per 20 % window (C-rate ``12 / t``).
    """

    weights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    c_ref: float = 4.8
    c_scale: float = 0.8
    life_top: float = 1600.0
    life_floor: float = 150.0
    charge_time_min: float = 10.0
    step_min_min: float = 1.5
    step_max_min: float = 3.5

    def c_rates(self, point: Mapping[str, Any]) -> np.ndarray:
        """C-rate of each step, 1/h."""
        return np.array([12.0 / float(point[k]) for k in STEPS])

    def life(self, point: Mapping[str, Any], weights: Sequence[float] | None = None) -> float:
        """Mean cycle life to 80 % of the protocol, cycles (``weights`` overrides the damage weights)."""
        w = np.asarray(self.weights if weights is None else weights, dtype=np.float64)
        c = self.c_rates(point)
        damage = float(np.sum(w * np.exp((c - self.c_ref) / self.c_scale)) / np.sum(w))
        return self.life_floor + (self.life_top - self.life_floor) / (1.0 + damage)

    def space(self) -> Any:
        """The protocol search space: the four step times on the simplex ``sum = charge_time_min``."""
        from voltlab.optimize import Real, SearchSpace, Simplex

        return SearchSpace([Real(k, self.step_min_min, self.step_max_min) for k in STEPS],
                           simplexes=[Simplex(STEPS, total=self.charge_time_min)])

    def optimum(self) -> tuple[dict[str, float], float]:
        """The map's maximiser and its life (multi-start SLSQP on the simplex), cycles."""
        from scipy.optimize import minimize

        lo, hi, total = self.step_min_min, self.step_max_min, self.charge_time_min

        def f(t: np.ndarray) -> float:
            return -self.life(dict(zip(STEPS, t, strict=True)))

        best_t, best = None, math.inf
        starts = [np.full(4, total / 4)] + [self.space().encode([p])[0] * (hi - lo) + lo
                                              for p in self.space().sample(16, seed=0)]
        for t0 in starts:
            r = minimize(f, t0, method="SLSQP", bounds=[(lo, hi)] * 4,
                         constraints=[{"type": "eq", "fun": lambda t: float(np.sum(t) - total)}])
            if r.fun < best:
                best, best_t = float(r.fun), np.clip(r.x, lo, hi)
        assert best_t is not None
        point = dict(zip(STEPS, (float(v) for v in best_t), strict=True))
        return point, -best


def describe(point: Mapping[str, Any]) -> str:
    """``5.5C-5.0C-4.6C-4.2C`` (the C-rate of each 20 % SOC step)."""
    return "-".join(f"{12.0 / float(point[k]):.1f}C" for k in STEPS)


class SimulatedCellLab:
    """The three fidelities on simulated cells (see the module docstring).

    Parameters
    ----------
    life_map
        The protocol → mean life map.
    seed
        Seeds the training fleet, the cells and the cheap model's noise.
    window_cycles
        Early window of the medium fidelity, cycles.
    n_train_cells
        Cells of the fleet the early-life model is trained on.
    cell_to_cell_sigma
        Log-normal cell-to-cell variation of life.
    early_signal_noise
        Log-normal noise of the early polarisation signal (``synthetic_cycling_fleet``).
    cheap_noise_sigma
        Log-normal noise of the cheap estimate.
    """

    def __init__(self, life_map: ProtocolLifeMap, *, seed: int, window_cycles: int = 100, n_train_cells: int = 24,
                 cell_to_cell_sigma: float = 0.03, early_signal_noise: float = 0.1,
                 cheap_noise_sigma: float = 0.15) -> None:
        from voltlab.models.early_life import (
            EarlyLifeConfig,
            EarlyLifePredictor,
            EarlyLifeTable,
            common_voltage_grid,
        )
        from voltlab.models.synthetic import synthetic_cycling_fleet

        self.map, self.seed, self.window = life_map, int(seed), int(window_cycles)
        self.cell_sigma, self.signal_noise, self.cheap_sigma = cell_to_cell_sigma, early_signal_noise, cheap_noise_sigma
        self._cells: dict[int, tuple[Any, float]] = {}
        lo = max(life_map.life_floor, self.window + 21.0)
        fleet, params = synthetic_cycling_fleet(n_train_cells, seed=self.seed + 10_000, window_cycles=self.window,
                                                life_range_cycles=(lo, life_map.life_top),
                                                signal_noise=early_signal_noise)
        self.config = EarlyLifeConfig(window_cycles=self.window, feature_set="variance", method="linear",
                                      interval_cv=5, random_state=self.seed, grid_points=200)
        grid = common_voltage_grid(fleet, self.window, self.config.grid_points)
        self._featurizer = self.config.featurizer()
        feats = pd.DataFrame([self._features(c, grid) for c in fleet], index=pd.Index(params.index, name="cell_id"),
                             columns=self._featurizer.feature_labels())
        cells = pd.DataFrame({"cycle_life": params["cycle_life"].to_numpy(dtype=float), "censored": False,
                              "last_cycle": params["last_cycle"].to_numpy(), "reference_capacity_ah": 1.1,
                              "batch": "train"}, index=feats.index)
        self.predictor = EarlyLifePredictor(self.config).fit_table(EarlyLifeTable(feats, cells, [], grid))
        self.train_cv = self.predictor.cv_metrics()
        self.n_train_cells = n_train_cells

    def _features(self, cell: Any, grid: np.ndarray) -> list[float]:
        from voltlab.features.cycling import EarlyCycleData

        early = EarlyCycleData.from_cycling_data(cell, grid=grid, max_cycle=self.window)
        return [float(v) for v in self._featurizer.featurize(early)]

    def _key(self, point: Mapping[str, Any]) -> int:
        return zlib.crc32(repr(tuple(round(float(point[k]), 9) for k in STEPS)).encode())

    def cell(self, point: Mapping[str, Any]) -> tuple[Any, float]:
        """The simulated cell of a protocol (cached) and its cycle count to 80 % of nominal capacity."""
        from voltlab.models.synthetic import synthetic_cycling_fleet

        key = self._key(point)
        if key not in self._cells:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, key, 1])
            life = max(self.map.life(point) * math.exp(rng.normal(0.0, self.cell_sigma)), self.window + 21.0)
            cells, params = synthetic_cycling_fleet(1, seed=int(rng.integers(2**31 - 1)), window_cycles=self.window,
                                                    life_range_cycles=(life, life), signal_noise=self.signal_noise)
            self._cells[key] = (cells[0], float(params["cycle_life"].iloc[0]))
        return self._cells[key]

    def true_life(self, point: Mapping[str, Any]) -> float:
        """Noiseless mean life of the protocol (the simulator's truth), cycles."""
        return self.map.life(point)

    def cheap(self, point: Mapping[str, Any]) -> float:
        """Cheap fidelity: SOC-blind damage weights, times log-normal noise, cycles."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self._key(point), 2])
        return self.map.life(point, weights=(1.0, 1.0, 1.0, 1.0)) * math.exp(rng.normal(0.0, self.cheap_sigma))

    def medium(self, point: Mapping[str, Any]) -> float:
        """Medium fidelity: early-life prediction from the cell's first ``window_cycles`` cycles, cycles."""
        cell, _ = self.cell(point)
        x = np.array([self._features(cell, self.predictor.voltage_grid_volt_)])
        return float(self.predictor.model_.predict(x)[0])

    def expensive(self, point: Mapping[str, Any]) -> float:
        """Expensive fidelity: the cell's measured cycle count to 80 % of nominal capacity."""
        return self.cell(point)[1]

    def validate(self, n_cells: int = 16, seed: int = 7) -> dict[str, float]:
        """Error of the cheap and medium fidelities against the full-life result on held-out simulated cells.

        Returns
        -------
        dict
            ``cheap_mape_percent``, ``medium_mape_percent`` (mean absolute percentage error of
            each against the cell's measured life, %), ``n_cells``.
        """
        pts = self.map.space().sample(n_cells, seed=self.seed * 1000 + seed)
        full = np.array([self.expensive(p) for p in pts])
        cheap = np.array([self.cheap(p) for p in pts])
        med = np.array([self.medium(p) for p in pts])
        return {"cheap_mape_percent": float(100 * np.mean(np.abs(cheap - full) / full)),
                "medium_mape_percent": float(100 * np.mean(np.abs(med - full) / full)), "n_cells": float(n_cells)}


# --------------------------------------------------------------------------------------------- loops
@dataclass
class LoopRecord:
    """Every evaluation of one arm, in order.

    ``log`` columns: ``step``, ``fidelity`` (cheap / medium / expensive), the protocol
    (``t1_min..t4_min``, ``protocol``), ``value_cycles`` (what that fidelity returned),
    ``true_life_cycles``, ``cost_cycles``, ``cumulative_cost_cycles``, ``expensive_count``
    and ``best_true_life_cycles`` (best true life among full-tested protocols so far).
    """

    arm: str
    seed: int
    log: pd.DataFrame

    def expensive_trace(self) -> pd.DataFrame:
        """One row per expensive evaluation: ``expensive_count``, ``best_true_life_cycles``, cumulative cost."""
        e = self.log[self.log["fidelity"] == "expensive"]
        return e[["expensive_count", "best_true_life_cycles", "cumulative_cost_cycles"]].reset_index(drop=True)

    def evals_to(self, target: float) -> tuple[float, float]:
        """(expensive evaluations, cumulative cost in cycles) when the best true life first reaches ``target``.

        ``(inf, inf)`` when it never does within the budget.
        """
        e = self.expensive_trace()
        hit = e[e["best_true_life_cycles"] >= target]
        if hit.empty:
            return math.inf, math.inf
        return float(hit["expensive_count"].iloc[0]), float(hit["cumulative_cost_cycles"].iloc[0])


class _Recorder:
    def __init__(self, lab: SimulatedCellLab, target: float | None) -> None:
        self.lab, self.target, self.rows, self.cost, self.n_exp, self.best = lab, target, [], 0.0, 0, -math.inf

    def add(self, fidelity: str, point: Mapping[str, Any], value: float, cost: float) -> None:
        true = self.lab.true_life(point)
        self.cost += cost
        if fidelity == "expensive":
            self.n_exp += 1
            self.best = max(self.best, true)
        self.rows.append({"step": len(self.rows) + 1, "fidelity": fidelity, **{k: float(point[k]) for k in STEPS},
                          "protocol": describe(point), "value_cycles": value, "true_life_cycles": true,
                          "cost_cycles": cost, "cumulative_cost_cycles": self.cost, "expensive_count": self.n_exp,
                          "best_true_life_cycles": self.best if self.n_exp else math.nan})

    def reached(self) -> bool:
        return self.target is not None and self.best >= self.target


def _campaign(path: Path, space: Any, objective: str, *, seed: int, n_init: int) -> Any:
    from voltlab.optimize import Campaign, Objective

    return Campaign.create(path, space, [Objective(objective, "maximize")], seed=seed, n_init=n_init,
                           num_restarts=2, raw_samples=64, mc_samples=32, overwrite=True)


class MultiFidelityLoop:
    """Cheap screen → early-life BO → promotion to full-life tests (the rule in the module docstring).

    Parameters
    ----------
    lab
        The three fidelities.
    folder
        Where the medium-fidelity campaign file goes.
    n_screen
        Protocols screened with the cheap estimate.
    n_medium_init
        Best cheap-screened protocols early-tested to start the campaign.
    medium_batch
        Protocols the campaign proposes (and early-tests) per round.
    promote_per_round
        Protocols promoted to a full-life test per round (best score first).
    promote_by
        Score of an early-tested protocol: ``"model"`` (default) = posterior mean of a GP
        (scikit-learn, ARD RBF + white noise, on log early-predicted life) fitted to all early
        predictions, which smooths the per-cell error of a single early prediction;
        ``"prediction"`` = its own early prediction.
    promote_margin
        Promote only when the score is ≥ ``(1 - promote_margin)`` × the best full-life result so far
        (a fraction; always true before the first full test), or when ``patience`` rounds passed
        without a promotion.
    patience
        Rounds without a promotion after which the best candidate is promoted anyway.
    cheap_cost_cycles
        Cost charged per cheap estimate, cycle-equivalents.
    seed
        Seeds the screen and the campaign.
    """

    def __init__(self, lab: SimulatedCellLab, folder: Path, *, n_screen: int = 256, n_medium_init: int = 6,
                 medium_batch: int = 2, promote_per_round: int = 1, cheap_cost_cycles: float = 1.0,
                 promote_by: str = "model", promote_margin: float = 0.05, patience: int = 4,
                 seed: int = 0) -> None:
        if promote_by not in ("model", "prediction"):
            raise ValueError(f"promote_by must be 'model' or 'prediction', got {promote_by!r}")
        self.promote_by, self.promote_margin, self.patience = promote_by, float(promote_margin), int(patience)
        self.lab, self.folder, self.seed = lab, Path(folder), int(seed)
        self.n_screen, self.n_medium_init, self.medium_batch = n_screen, n_medium_init, medium_batch
        self.promote_per_round, self.cheap_cost = promote_per_round, cheap_cost_cycles

    def run(self, expensive_budget: int, *, target: float | None = None, stop_at_target: bool = False) -> LoopRecord:
        """Run until ``expensive_budget`` full-life tests (or, with ``stop_at_target``, until ``target`` is reached)."""
        lab, space = self.lab, self.lab.map.space()
        rec = _Recorder(lab, target)
        screen = space.sample(self.n_screen, seed=self.seed + 50_000)
        cheap = [lab.cheap(p) for p in screen]
        for p, v in zip(screen, cheap, strict=True):
            rec.add("cheap", p, v, self.cheap_cost)
        order = np.argsort(cheap)[::-1][: self.n_medium_init]
        self.folder.mkdir(parents=True, exist_ok=True)
        camp = _campaign(self.folder / f"multifidelity-seed{self.seed}.campaign", space, "predicted_life_cycles",
                         seed=self.seed, n_init=self.n_medium_init)
        early: list[tuple[dict[str, float], float]] = []
        full: set[int] = set()
        try:
            for i in order:
                p = screen[int(i)]
                v = lab.medium(p)
                rec.add("medium", p, v, float(lab.window))
                camp.tell(dict(p), {"predicted_life_cycles": v})
                early.append((dict(p), v))
            best_full, idle = -math.inf, 0
            while rec.n_exp < expensive_budget and not (stop_at_target and rec.reached()):
                cands = self._rank([e for e in early if lab._key(e[0]) not in full], early, space)
                # Promote only a candidate that may beat the best full-life result (within the margin), unless
                # ``patience`` rounds passed without a promotion.
                bar = (1.0 - self.promote_margin) * best_full
                chosen = [c for c in cands[: self.promote_per_round] if c[1] >= bar or idle >= self.patience]
                idle = 0 if chosen else idle + 1
                for p, _ in chosen:
                    if rec.n_exp >= expensive_budget:
                        break
                    full.add(lab._key(p))
                    # The early-tested cell keeps cycling: the full test costs the cycles after the window.
                    life = lab.expensive(p)
                    best_full = max(best_full, life)
                    rec.add("expensive", p, life, max(life - lab.window, 0.0))
                if rec.n_exp >= expensive_budget or (stop_at_target and rec.reached()):
                    break
                for s in camp.ask(self.medium_batch):
                    v = lab.medium(s.point)
                    rec.add("medium", s.point, v, float(lab.window))
                    camp.tell(s.id, {"predicted_life_cycles": v})
                    early.append((dict(s.point), v))
        finally:
            camp.close()
        return LoopRecord("multi-fidelity", self.seed, pd.DataFrame(rec.rows))

    def _rank(self, cands: list[tuple[dict[str, float], float]], early: list[tuple[dict[str, float], float]],
              space: Any) -> list[tuple[dict[str, float], float]]:
        """Untested early-tested protocols, best first: by a GP's posterior mean of all early predictions
        (``promote_by="model"``: smooths the per-cell error of single early predictions) or by the raw prediction."""
        if self.promote_by == "prediction" or len(early) < 4 or not cands:
            return sorted(cands, key=lambda e: -e[1])
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        X = space.encode([e[0] for e in early])
        y = np.log([max(e[1], 1.0) for e in early])
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(np.full(X.shape[1], 0.3), (0.05, 10.0)) + WhiteKernel(
            0.01, (1e-4, 1.0))
        with warnings.catch_warnings():  # hyperparameters at a bound are fine here
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed).fit(X, y)
        mean = np.exp(gp.predict(space.encode([c[0] for c in cands])))
        return [(cands[i][0], float(mean[i])) for i in np.argsort(-mean, kind="stable")]


def expensive_only_loop(lab: SimulatedCellLab, folder: Path, *, expensive_budget: int, n_init: int = 5,
                        seed: int = 0, target: float | None = None, stop_at_target: bool = False) -> LoopRecord:
    """The same GP campaign telling full-life results only (Sobol ``n_init``, then qLogNEI, one cell at a time)."""
    space = lab.map.space()
    folder.mkdir(parents=True, exist_ok=True)
    camp = _campaign(folder / f"expensive-only-seed{seed}.campaign", space, "cycle_life", seed=seed, n_init=n_init)
    rec = _Recorder(lab, target)
    try:
        while rec.n_exp < expensive_budget and not (stop_at_target and rec.reached()):
            [s] = camp.ask(1)
            life = lab.expensive(s.point)
            rec.add("expensive", s.point, life, life)
            camp.tell(s.id, {"cycle_life": life})
    finally:
        camp.close()
    return LoopRecord("expensive-only", seed, pd.DataFrame(rec.rows))


def run_arms(config: ClosedLoopConfig, folder: Path, *, seeds: Sequence[int], stop_at_target: bool = False,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Both arms over ``seeds`` on fresh labs (one per seed); the study and the benchmark call this.

    Returns
    -------
    dict
        ``records`` (list of :class:`LoopRecord`), ``per_seed`` (table), ``optimum_life_cycles``,
        ``optimum_point``, ``target_life_cycles``, ``validation`` (per-seed cheap/medium errors).
    """
    import torch

    torch.set_num_threads(1)
    life_map = ProtocolLifeMap(charge_time_min=config.charge_time_min, step_min_min=config.step_min_min,
                               step_max_min=config.step_max_min)
    opt_point, opt = life_map.optimum()
    target = (1.0 - config.tolerance_percent / 100.0) * opt
    records, rows, vals = [], [], []
    for seed in seeds:
        lab = SimulatedCellLab(life_map, seed=seed, window_cycles=config.window_cycles,
                               n_train_cells=config.n_train_cells, cell_to_cell_sigma=config.cell_to_cell_sigma,
                               early_signal_noise=config.early_signal_noise, cheap_noise_sigma=config.cheap_noise_sigma)
        vals.append({"seed": seed, **lab.validate(config.n_validation_cells)})
        mf = MultiFidelityLoop(lab, folder, n_screen=config.n_screen, n_medium_init=config.n_medium_init,
                               medium_batch=config.medium_batch, cheap_cost_cycles=config.cheap_cost_cycles,
                               promote_by=config.promote_by, promote_margin=config.promote_margin_percent / 100.0,
                               patience=config.patience_rounds, seed=seed).run(config.expensive_budget, target=target, stop_at_target=stop_at_target)
        eo = expensive_only_loop(lab, folder, expensive_budget=config.expensive_budget,
                                 n_init=config.n_init_expensive, seed=seed, target=target,
                                 stop_at_target=stop_at_target)
        for r in (mf, eo):
            records.append(r)
            n, cost = r.evals_to(target)
            counts = r.log["fidelity"].value_counts()
            rows.append({"seed": seed, "arm": r.arm, "expensive_evals_to_optimum": n,
                         "test_cycles_to_optimum": cost,
                         "best_true_life_cycles": float(r.log["best_true_life_cycles"].max()),
                         "expensive_evals": int(counts.get("expensive", 0)),
                         "medium_evals": int(counts.get("medium", 0)), "cheap_evals": int(counts.get("cheap", 0)),
                         "total_cost_cycles": float(r.log["cost_cycles"].sum())})
        if progress is not None:
            progress(f"seed {seed}: multi-fidelity {rows[-2]['expensive_evals_to_optimum']:g}, expensive-only "
                     f"{rows[-1]['expensive_evals_to_optimum']:g} full tests to within "
                     f"{config.tolerance_percent:g} % of the optimum")
    return {"records": records, "per_seed": pd.DataFrame(rows), "optimum_life_cycles": opt,
            "optimum_point": opt_point, "target_life_cycles": target, "validation": pd.DataFrame(vals),
            "life_map": life_map}


def summary_metrics(out: Mapping[str, Any], budget: int) -> dict[str, float]:
    """Flat headline numbers of :func:`run_arms` (never-reached counts as ``budget + 1``)."""
    per = out["per_seed"]
    m: dict[str, float] = {"optimum_life_cycles": float(out["optimum_life_cycles"]),
                           "target_life_cycles": float(out["target_life_cycles"]), "n_seeds": float(per["seed"].nunique())}
    for arm, key in (("multi-fidelity", "multifidelity"), ("expensive-only", "expensive_only")):
        g = per[per["arm"] == arm]
        n = g["expensive_evals_to_optimum"].to_numpy(dtype=float)
        c = g["test_cycles_to_optimum"].to_numpy(dtype=float)
        m[f"expensive_evals_to_optimum_{key}_median"] = float(np.median(np.where(np.isfinite(n), n, budget + 1)))
        m[f"expensive_evals_to_optimum_{key}_mean_reached"] = float(np.mean(n[np.isfinite(n)])) if np.isfinite(
            n).any() else math.nan
        m[f"reached_fraction_{key}"] = float(np.mean(np.isfinite(n)))
        m[f"test_cycles_to_optimum_{key}_median"] = float(np.median(c)) if np.isfinite(c).all() else math.nan
        m[f"best_true_life_{key}_median_cycles"] = float(g["best_true_life_cycles"].median())
    v = out["validation"]
    m["cheap_mape_percent_median"] = float(v["cheap_mape_percent"].median())
    m["medium_mape_percent_median"] = float(v["medium_mape_percent"].median())
    return m


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` extended to length ``n`` with its last value."""
    if len(values) >= n:
        return values[:n]
    return np.r_[values, np.full(n - len(values), values[-1] if len(values) else np.nan)]


# --------------------------------------------------------------------------------------------- study
@dataclass(frozen=True)
class ClosedLoopConfig(StudyConfig):
    """Configuration of the ``closed-loop`` study."""

    n_seeds: int = field(default=2, metadata={"help": "seeds seed, seed+1, ... (each: a new lab and both arms)"})
    expensive_budget: int = field(default=10, metadata={"help": "full-life tests per arm and seed"})
    n_init_expensive: int = field(default=5, metadata={"help": "expensive-only arm: Sobol protocols before the GP"})
    n_screen: int = field(default=256, metadata={"help": "protocols screened with the cheap estimate"})
    n_medium_init: int = field(default=6, metadata={"help": "best cheap-screened protocols early-tested first"})
    medium_batch: int = field(default=2, metadata={"help": "protocols early-tested per round"})
    promote_by: str = field(default="model", metadata={"help": "promotion score: model (GP mean of early "
                                                               "predictions) or prediction (the raw one)"})
    promote_margin_percent: float = field(default=5.0, metadata={"help": "promote if score >= (1 - margin) x best "
                                                                         "full-life result", "unit": "%"})
    patience_rounds: int = field(default=4, metadata={"help": "promote anyway after this many rounds without one"})
    tolerance_percent: float = field(default=5.0, metadata={"help": "'reached the optimum' = within this of it",
                                                            "unit": "%"})
    stop_at_target: bool = field(default=True, metadata={"help": "an arm stops once it reaches the target "
                                                                 "(false: spend the whole budget)"})
    window_cycles: int = field(default=100, metadata={"help": "early window of the medium fidelity",
                                                      "unit": "cycles"})
    n_train_cells: int = field(default=24, metadata={"help": "simulated cells the early-life model is trained on"})
    n_validation_cells: int = field(default=16, metadata={"help": "held-out simulated cells for fidelity errors"})
    cell_to_cell_sigma: float = field(default=0.03, metadata={"help": "log-normal cell-to-cell variation of life"})
    early_signal_noise: float = field(default=0.1, metadata={"help": "log-normal noise of the early Q(V) signal"})
    cheap_noise_sigma: float = field(default=0.15, metadata={"help": "log-normal noise of the cheap estimate"})
    cheap_cost_cycles: float = field(default=1.0, metadata={"help": "cost of one cheap estimate",
                                                            "unit": "cycle-equivalents"})
    charge_time_min: float = field(default=10.0, metadata={"help": "charge time 0-80 % SOC (simplex total)",
                                                           "unit": "min"})
    step_min_min: float = field(default=1.5, metadata={"help": "shortest time per 20 % SOC step", "unit": "min"})
    step_max_min: float = field(default=3.5, metadata={"help": "longest time per 20 % SOC step", "unit": "min"})

    def validate(self) -> None:
        for key, low in (("n_seeds", 1), ("expensive_budget", 2), ("n_init_expensive", 2), ("n_medium_init", 2),
                         ("medium_batch", 1), ("window_cycles", 20), ("n_train_cells", 5), ("n_validation_cells", 2)):
            if getattr(self, key) < low:
                raise StudyConfigError(f"config key {key!r} must be >= {low}, got {getattr(self, key)}",
                                       value=getattr(self, key))
        if self.promote_by not in ("model", "prediction"):
            raise StudyConfigError(f"config key 'promote_by': {self.promote_by!r} is not one of ['model', "
                                   "'prediction']", value=self.promote_by)
        if not 0.0 <= self.promote_margin_percent < 100.0 or self.patience_rounds < 0:
            raise StudyConfigError("config keys 'promote_margin_percent' (0-100) and 'patience_rounds' (>= 0) out of "
                                   "range", value=self.promote_margin_percent)
        if self.n_screen < self.n_medium_init:
            raise StudyConfigError(f"config key 'n_screen' ({self.n_screen}) must be >= n_medium_init "
                                   f"({self.n_medium_init})", value=self.n_screen)
        if not 0.0 < self.tolerance_percent < 50.0:
            raise StudyConfigError(f"config key 'tolerance_percent' must be in (0, 50), got {self.tolerance_percent}",
                                   value=self.tolerance_percent)
        for key in ("cell_to_cell_sigma", "early_signal_noise", "cheap_noise_sigma", "cheap_cost_cycles"):
            if getattr(self, key) < 0:
                raise StudyConfigError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")
        if not 0 < self.step_min_min < self.step_max_min:
            raise StudyConfigError("config keys 'step_min_min' and 'step_max_min' must satisfy 0 < min < max",
                                   value=self.step_min_min)
        if not 4 * self.step_min_min <= self.charge_time_min <= 4 * self.step_max_min:
            raise StudyConfigError(f"config key 'charge_time_min' ({self.charge_time_min}) must lie between 4 × "
                                   "step_min_min and 4 × step_max_min", value=self.charge_time_min)
        if self.window_cycles + 21 > 150:
            raise StudyConfigError("config key 'window_cycles' must be <= 129 (the shortest simulated life is "
                                   "150 cycles)", value=self.window_cycles)


@register_study("closed-loop", title="Multi-fidelity closed-loop optimisation of fast charging (simulated cells)",
                question="How many full-life tests does a cheap-screen + early-prediction + BO loop save when "
                         "searching 10-minute fast-charging protocols?",
                config=ClosedLoopConfig, data=None, runtime="≈ 55 s")
def run_closed_loop(config: ClosedLoopConfig, *, data: Path | None, out_dir: Path,
                    progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    seeds = [config.seed + i for i in range(config.n_seeds)]
    progress(f"both arms over {len(seeds)} seed(s), {config.expensive_budget} full-life tests each")
    out = run_arms(config, out_dir / "campaigns", seeds=seeds, stop_at_target=config.stop_at_target,
                   progress=progress)
    m = summary_metrics(out, config.expensive_budget)
    per, opt, target = out["per_seed"], out["optimum_life_cycles"], out["target_life_cycles"]
    figures = []
    s_exp, s_cost = [], []
    for arm in ("multi-fidelity", "expensive-only"):
        traces = [r.expensive_trace() for r in out["records"] if r.arm == arm]
        k = np.arange(1, config.expensive_budget + 1)
        # An arm that stopped at the target is held flat (its best and its cost stay) up to the budget.
        best = np.array([_pad(t["best_true_life_cycles"].to_numpy(), config.expensive_budget) for t in traces])
        cost = np.array([_pad(t["cumulative_cost_cycles"].to_numpy(), config.expensive_budget) for t in traces])
        s_exp.append(Series(arm, k.tolist(), np.median(best, axis=0).tolist(), mode="lines+markers",
                            dash=arm == "expensive-only"))
        s_cost.append(Series(arm, np.median(cost, axis=0).tolist(), np.median(best, axis=0).tolist(),
                             mode="lines+markers", dash=arm == "expensive-only"))
    line = Series(f"within {config.tolerance_percent:g} % of the optimum", [1, config.expensive_budget], [target] * 2,
                  dash=True)
    figures.append(Figure("best_vs_expensive", "Best true life among full-tested protocols vs full-life tests",
                          "full-life (expensive) tests", "best true cycle life (cycles)", [*s_exp, line],
                          note=f"Median over {len(seeds)} seed(s); true life = the simulator's noiseless map; optimum "
                               f"{opt:.0f} cycles."
                               + (" An arm stops when it reaches the target; its line is then held flat."
                                  if config.stop_at_target else "")))
    figures.append(Figure("best_vs_cost", "Best true life vs total testing cost", "cumulative test cycles (cycles)",
                          "best true cycle life (cycles)", s_cost,
                          note="x: median cumulative cost (cheap estimates + early windows + full tests, in cycles) "
                               "at the k-th full test; y: median best true life."))
    val = out["validation"]
    figures.append(Figure("fidelity_error", "Error of each fidelity against the full-life result (held-out cells)",
                          "seed", "mean absolute percentage error (%)",
                          [Series("cheap (SOC-blind model + noise)", val["seed"].tolist(),
                                  val["cheap_mape_percent"].tolist(), mode="bar"),
                           Series(f"medium (early-life model, {config.window_cycles} cycles)", val["seed"].tolist(),
                                  val["medium_mape_percent"].tolist(), mode="bar")]))
    n_mf, n_eo = m["expensive_evals_to_optimum_multifidelity_median"], m["expensive_evals_to_optimum_expensive_only_median"]
    answer = (f"On simulated cells, the multi-fidelity loop reached within {config.tolerance_percent:g} % of the "
              f"optimum protocol ({describe(out['optimum_point'])}, {opt:.0f} cycles) after a median of {n_mf:g} "
              f"full-life tests, the expensive-only campaign after {n_eo:g} (budget {config.expensive_budget}; "
              f"{config.expensive_budget + 1} = not reached), over {len(seeds)} seed(s). The early-life prediction "
              f"errs by {m['medium_mape_percent_median']:.1f} % on held-out cells, the cheap estimate by "
              f"{m['cheap_mape_percent_median']:.1f} %.")
    kpis = {"full tests to optimum, multi-fidelity": f"{n_mf:g}", "full tests to optimum, expensive-only": f"{n_eo:g}",
            "medium-fidelity error": f"{m['medium_mape_percent_median']:.1f} %",
            "cheap-fidelity error": f"{m['cheap_mape_percent_median']:.1f} %"}
    log = pd.concat([r.log.assign(arm=r.arm, seed=r.seed) for r in out["records"]], ignore_index=True)
    log = log[log["fidelity"] != "cheap"]
    lab_cv = {"fidelity": "medium", "model": "EarlyLifePredictor (variance feature, linear on log10 life)",
              "training data": f"{config.n_train_cells} cells of synthetic_cycling_fleet per seed (simulated)",
              "window": f"{config.window_cycles} cycles",
              "held-out error": f"MAPE {m['medium_mape_percent_median']:.1f} % (median over seeds, "
                                f"{config.n_validation_cells} protocol cells each)"}
    cards = [
        {"model": "ProtocolLifeMap (synthetic emulator)", "predicts": "mean cycle life to 80 % of a 4-step protocol",
         "form": "L = 150 + 1450 / (1 + sum w_i exp((c_i - 4.8)/0.8) / sum w_i), w = (0.25, 0.5, 1, 2), c_i = 12/t_i",
         "training data": "none (stated, not fitted)", "optimum": f"{describe(out['optimum_point'])}, {opt:.1f} cycles"},
        lab_cv,
        {"fidelity": "cheap", "model": "SOC-blind life map (w = 1, 1, 1, 1) x exp(N(0, "
                                        f"{config.cheap_noise_sigma:g}))",
         "held-out error": f"MAPE {m['cheap_mape_percent_median']:.1f} %"},
        {"fidelity": "expensive", "model": "the simulated cell's cycle count to 80 % of nominal capacity",
         "noise": f"cell-to-cell log-normal σ = {config.cell_to_cell_sigma:g}"},
    ]
    notes = ["SIMULATED: the protocols, cells, lives and fidelities are synthetic (ProtocolLifeMap and "
             "synthetic_cycling_fleet); the numbers show how the loop behaves on a known simulator, not how real "
             "cells age.",
             f"'Reached the optimum' = the best true (noiseless) life among full-tested protocols is ≥ "
             f"{100 - config.tolerance_percent:g} % of the map's optimum ({target:.0f} of {opt:.0f} cycles).",
             "Cost accounting: a cheap estimate costs cheap_cost_cycles; an early test costs window_cycles; a promoted "
             "cell continues cycling, so its full test costs its life minus the window; an expensive-only test costs "
             "its full life."]
    return StudyResult(
        "closed-loop", "Multi-fidelity closed-loop optimisation of fast charging (simulated cells)",
        question=f"How many full-life tests does the multi-fidelity loop need to find a {config.charge_time_min:g}-min "
                 f"protocol within {config.tolerance_percent:g} % of the best cycle life, against BO on full-life "
                 "tests only?",
        answer=answer, metrics=m, kpis=kpis,
        tables={"Per seed": per, "Fidelity errors (held-out cells)": val, "Evaluation log (medium and expensive)": log},
        figures=figures, model_cards=cards, notes=notes, provenance=study_provenance("closed-loop", config))
