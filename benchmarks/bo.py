#!/usr/bin/env python
"""voltlab Bayesian optimisation against random search, Sobol and four peer libraries.

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/bo.py            # full run (writes results/bo.md, bo.json)
    .venv/bin/python benchmarks/bo.py --quick              # smoke run (writes results/bo-quick.*)

Problems
--------
``hartmann6``
    BoTorch ``Hartmann(dim=6)``, minimised (optimum -3.32237), unit cube.
``ncm_emulator``
    An **emulator** built from shared data, not a real experiment: a scikit-learn
    ``GaussianProcessRegressor`` (constant x ARD Matern-5/2 on the Ni and Co fractions
    + white noise, ``normalize_y``) fitted to all 168 rows of the doped-NCM table
    (``voltlab.data.datasets.load_doped_ncm``), inputs ``Ni/(Ni+Co+Mn)`` and
    ``Co/(Ni+Co+Mn)``, target the 50th-cycle discharge capacity (mAh/g). The dopant,
    its amount and the cycling window are ignored (their effect goes into the noise
    term); the lengthscales are bounded below by 0.1 (a tenth of the simplex) so the
    emulator follows the composition trend rather than paper-to-paper offsets between
    near-identical compositions. The emulator is the GP posterior mean, maximised on the simplex
    ``Ni + Co + Mn = 1`` (each in [0, 1]); its optimum is taken on a triangular grid of
    step 1/600 (so a regret can be slightly below 0 and is clipped at 0).
``branin_currin``
    BoTorch ``BraninCurrin`` (2 objectives, both minimised), unit square; hypervolume
    reference point ``(18, 6)``, maximum hypervolume from BoTorch.
``c2dtlz2``
    BoTorch ``C2DTLZ2(dim=4, num_objectives=2)`` (2 minimised objectives and one outcome
    constraint ``slack >= 0``), unit cube; reference point ``(1.1, 1.1)``.

Methods
-------
Every method gets the same number of evaluations (one at a time), with its own default
initial design:

``voltlab``
    ``Campaign.create(..., seed=seed)`` with default settings (GP + qLogNEI / qLogNEHVI;
    initial design: the centre of the space and 4 Sobol points; 20 restarts x 1024 raw samples).
``random``
    Uniform points (``numpy.random.default_rng(seed)``; Dirichlet(1, 1, 1) on the simplex).
``sobol``
    ``Campaign(surrogate="random")``: voltlab's scrambled Sobol stream.
``skopt``
    ``skopt.gp_minimize`` with defaults (single objective only).
``bayes_opt``
    ``bayes_opt.BayesianOptimization.maximize`` with defaults (single objective only).
``optuna_tpe``
    ``optuna.samplers.TPESampler(seed=seed)`` (multi-objective TPE for two objectives,
    ``constraints_func`` for the outcome constraint).
``ax``
    ``ax.Client`` with its default generation strategy.

The peers (random excepted: it samples the simplex exactly) search the simplex through
the area-preserving map of the unit square onto the triangle, ``Ni = 1 - sqrt(u1)``,
``Co = sqrt(u1) (1 - u2)``, ``Mn = sqrt(u1) u2``; voltlab uses its ``Simplex``. Ax could
take the parameter constraint ``Ni + Co <= 1`` instead, but with it one Ax ask took about
22 s (its constrained acquisition optimiser) against about 4 s in the box, which the run
time cannot afford.

Metrics
-------
Simple regret ``f* - max_{i<=t} u(x_i)`` (single objective, utility ``u`` = maximisation
form), ``log10`` hypervolume difference ``log10(HV* - HV_t)`` (two objectives, feasible
points only), median over seeds. Acceleration and enhancement factors follow Liang et al.
(2021, npj Comput. Mater. 7, 188): with ``y(i)`` a performance that grows with the number of
evaluations ``i`` (here the best utility found for single objective, the hypervolume for
two), aggregated over seeds by the median,

* ``EF(i) = y_method(i) / y_random(i)`` (at the common budget ``i = B``),
* ``AF(a) = i_random(a) / i_method(a)``, ``i(a)`` the first ``i`` with ``y(i) >= a``; the
  target ``a`` is random search's median performance at the budget ``B``. A method that
  does not reach ``a`` within ``B`` gets ``AF < i_random(a) / B``, reported as that bound.

Single-objective utilities must be positive for EF: Hartmann-6's utility is ``-f``
(positive once any point has ``f < 0``), the emulator's the capacity.

Ask latency: ``BraninCurrin`` with the same 100 Sobol observations given to voltlab and
to Ax, then a few asks each (evaluated and told), wall time per ask (median), and the
hypervolume after them.

Run time: the full run must stay under 25 min on 2 shared cores. One voltlab or Ax ask
costs seconds, skopt's and bayes_opt's GP steps several seconds on Hartmann-6, so the
defaults are 10 seeds for every method but Ax, which gets 4 (the full run took 380 s on
2 cores in December 2026), and budgets of 25 (Hartmann-6), 15 (emulator), 20 (Branin-Currin,
C2-DTLZ2) evaluations. Torch runs on one thread per process (tiny GPs are
overhead-bound); ``--workers`` processes (default 2) run the (problem, method, seed) tasks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voltlab.optimize import (  # noqa: E402
    Campaign,
    Objective,
    OutcomeConstraint,
    Real,
    SearchSpace,
    Simplex,
    hypervolume,
)

NCM_CSV = REPO.parent / "shared" / "data" / "doped_ncm_capacity" / "NMC_doped_with_dopant_and_doi.csv"
METHODS = ("voltlab", "random", "sobol", "skopt", "bayes_opt", "optuna_tpe", "ax")
SINGLE_ONLY = ("skopt", "bayes_opt")
PEERS = ("skopt", "bayes_opt", "optuna_tpe", "ax")


# ------------------------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One benchmark problem.

    Attributes
    ----------
    params
        ``(name, low, high)`` of the parameters voltlab, Ax and random see.
    objectives
        ``(name, "minimize" | "maximize")``.
    constraints
        Outcome names that must be ``>= 0``.
    evaluate
        Point (mapping over ``params``) to outcome values.
    simplex
        Names that sum to 1 (``None``: a box).
    f_opt
        Best utility (single objective) or maximum hypervolume (two objectives).
    ref_utility
        Hypervolume reference point in utility (maximisation) form.
    """

    name: str
    params: list[tuple[str, float, float]]
    objectives: list[tuple[str, str]]
    evaluate: Callable[[Mapping[str, float]], dict[str, float]]
    budget: int
    f_opt: float
    constraints: list[str] = field(default_factory=list)
    simplex: tuple[str, ...] | None = None
    ref_utility: list[float] | None = None
    description: str = ""
    unit: str = "dimensionless"

    @property
    def multi(self) -> bool:
        """Two or more objectives."""
        return len(self.objectives) > 1

    def peer_params(self) -> list[tuple[str, float, float]]:
        """Box parameters for peers without linear constraints."""
        return [("u1", 0.0, 1.0), ("u2", 0.0, 1.0)] if self.simplex else self.params

    def from_peer(self, x: Mapping[str, float]) -> dict[str, float]:
        """A peer's box point to a problem point (the triangle map on the simplex)."""
        if not self.simplex:
            return {k: float(x[k]) for k, _, _ in self.params}
        r = math.sqrt(min(max(float(x["u1"]), 0.0), 1.0))
        u2 = min(max(float(x["u2"]), 0.0), 1.0)
        a, b, c = self.simplex
        return {a: 1.0 - r, b: r * (1.0 - u2), c: r * u2}

    def utilities(self, y: Mapping[str, float]) -> list[float]:
        """Objective values in maximisation form."""
        return [y[n] if d == "maximize" else -y[n] for n, d in self.objectives]

    def feasible(self, y: Mapping[str, float]) -> bool:
        """All outcome constraints hold."""
        return all(y[c] >= 0 for c in self.constraints)


def _botorch_problem(name: str, fn: Any, budget: int, description: str) -> Problem:
    import torch

    dim = fn.dim
    names = [f"x{i + 1}" for i in range(dim)]
    n_obj = getattr(fn, "num_objectives", 1)
    obj_names = ["f"] if n_obj == 1 else [f"f{i + 1}" for i in range(n_obj)]
    n_con = getattr(fn, "num_constraints", 0)

    def evaluate(x: Mapping[str, float]) -> dict[str, float]:
        X = torch.tensor([[float(x[n]) for n in names]], dtype=torch.float64)
        with torch.no_grad():
            y = fn(X).reshape(-1).tolist()
            out = dict(zip(obj_names, y, strict=True))
            if n_con:
                out["slack"] = float(fn.evaluate_slack(X).reshape(-1)[0])
        return out

    if n_obj == 1:
        f_opt, ref = -float(fn.optimal_value), None
    else:
        f_opt, ref = float(fn.max_hv), [-float(r) for r in fn.ref_point]
    return Problem(name, [(n, 0.0, 1.0) for n in names], [(o, "minimize") for o in obj_names], evaluate, budget,
                   f_opt, constraints=["slack"] if n_con else [], ref_utility=ref, description=description)


def _ncm_emulator(budget: int) -> tuple[Problem, dict[str, Any]]:
    """Fit the doped-NCM emulator (see the module docstring) and its grid optimum."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from voltlab.data.datasets import load_doped_ncm

    df = load_doped_ncm(NCM_CSV)
    s = (df["ni"] + df["co"] + df["mn"]).to_numpy()
    X = np.column_stack([df["ni"].to_numpy() / s, df["co"].to_numpy() / s])
    y = df["discharge_capacity_cycle50_mah_per_g"].to_numpy(dtype=float)
    kernel = ConstantKernel(1.0) * Matern(length_scale=[0.2, 0.2], length_scale_bounds=(0.1, 10.0), nu=2.5) \
        + WhiteKernel(0.5, noise_level_bounds=(1e-4, 1e1))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=5, random_state=0).fit(X, y)
    step = 600
    i, j = np.meshgrid(np.arange(step + 1), np.arange(step + 1), indexing="ij")
    keep = (i + j) <= step
    grid = np.column_stack([i[keep], j[keep]]) / step
    pred = gp.predict(grid)
    best = int(np.argmax(pred))

    def evaluate(x: Mapping[str, float]) -> dict[str, float]:
        ni, co, mn = (max(float(x[k]), 0.0) for k in ("Ni", "Co", "Mn"))
        tot = ni + co + mn
        return {"capacity_mAh_g": float(gp.predict(np.array([[ni / tot, co / tot]]))[0])}

    info = {
        "rows": len(df), "kernel_fitted": str(gp.kernel_), "log_marginal_likelihood": float(gp.log_marginal_likelihood_value_),
        "grid_step": 1 / step, "grid_points": len(grid), "optimum_mAh_g": float(pred[best]),
        "optimum_Ni": float(grid[best, 0]), "optimum_Co": float(grid[best, 1]),
        "optimum_Mn": float(1 - grid[best].sum()), "data_best_mAh_g": float(y.max()),
        "grid_median_mAh_g": float(np.median(pred)),
    }
    prob = Problem("ncm_emulator", [("Ni", 0.0, 1.0), ("Co", 0.0, 1.0), ("Mn", 0.0, 1.0)],
                   [("capacity_mAh_g", "maximize")], evaluate, budget, float(pred[best]), simplex=("Ni", "Co", "Mn"),
                   description="GP-mean emulator of the doped-NCM table, 50th-cycle capacity on Ni+Co+Mn=1",
                   unit="mAh/g")
    return prob, info


def make_problems(budgets: Mapping[str, int]) -> tuple[dict[str, Problem], dict[str, Any]]:
    """All problems with their budgets, and the emulator's fit summary."""
    from botorch.test_functions import C2DTLZ2, BraninCurrin, Hartmann

    probs = {
        "hartmann6": _botorch_problem("hartmann6", Hartmann(dim=6), budgets["hartmann6"], "BoTorch Hartmann(dim=6)"),
        "branin_currin": _botorch_problem("branin_currin", BraninCurrin(), budgets["branin_currin"],
                                          "BoTorch BraninCurrin, 2 objectives"),
        "c2dtlz2": _botorch_problem("c2dtlz2", C2DTLZ2(dim=4, num_objectives=2), budgets["c2dtlz2"],
                                    "BoTorch C2DTLZ2(dim=4, M=2), 1 outcome constraint"),
    }
    ncm, info = _ncm_emulator(budgets["ncm_emulator"])
    probs["ncm_emulator"] = ncm
    return probs, info


# -------------------------------------------------------------------------------------------- methods
Record = list[dict[str, float]]


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def _voltlab_space(p: Problem) -> SearchSpace:
    return SearchSpace([Real(n, lo, hi) for n, lo, hi in p.params],
                       simplexes=[Simplex(p.simplex)] if p.simplex else [])


def run_voltlab(p: Problem, seed: int, folder: Path, surrogate: str = "gp",
                simplex_map: str = "fractions") -> tuple[Record, list[float]]:
    """voltlab ``Campaign`` with default settings (``surrogate="random"``: the Sobol baseline), except
    ``simplex_map`` (``--simplex-map``)."""
    camp = Campaign.create(folder / f"{p.name}-{surrogate}-{seed}.sqlite", _voltlab_space(p),
                           [Objective(n, d) for n, d in p.objectives],
                           [OutcomeConstraint(c, ">=", 0.0) for c in p.constraints], seed=seed, surrogate=surrogate,
                           simplex_map=simplex_map)
    rec: Record = []
    times: list[float] = []
    while len(rec) < p.budget:
        t0 = time.perf_counter()
        [s] = camp.ask(1)
        times.append(time.perf_counter() - t0)
        y = p.evaluate(s.point)
        camp.tell(s.id, y)
        rec.append(y)
    camp.close()
    return rec, times


def run_random(p: Problem, seed: int) -> tuple[Record, list[float]]:
    """Uniform random points (Dirichlet(1, ..., 1) on the simplex)."""
    rng = np.random.default_rng(seed)
    rec = []
    for _ in range(p.budget):
        if p.simplex:
            w = rng.dirichlet(np.ones(len(p.simplex)))
            x = dict(zip(p.simplex, w.tolist(), strict=True))
        else:
            x = {n: float(rng.uniform(lo, hi)) for n, lo, hi in p.params}
        rec.append(p.evaluate(x))
    return rec, []


def run_skopt(p: Problem, seed: int) -> tuple[Record, list[float]]:
    """``skopt.gp_minimize`` with defaults, minimising the negated utility."""
    from skopt import gp_minimize

    names = [n for n, _, _ in p.peer_params()]
    rec: Record = []

    def f(x: list[float]) -> float:
        y = p.evaluate(p.from_peer(dict(zip(names, x, strict=True))))
        rec.append(y)
        return -p.utilities(y)[0]

    gp_minimize(f, [(lo, hi) for _, lo, hi in p.peer_params()], n_calls=p.budget, random_state=seed)
    return rec, []


def run_bayes_opt(p: Problem, seed: int) -> tuple[Record, list[float]]:
    """``bayes_opt.BayesianOptimization.maximize`` with its default 5 random initial points."""
    from bayes_opt import BayesianOptimization

    rec: Record = []

    def f(**x: float) -> float:
        y = p.evaluate(p.from_peer(x))
        rec.append(y)
        return p.utilities(y)[0]

    opt = BayesianOptimization(f, {n: (lo, hi) for n, lo, hi in p.peer_params()}, random_state=seed, verbose=0)
    n0 = min(5, p.budget)
    opt.maximize(init_points=n0, n_iter=p.budget - n0)
    return rec[: p.budget], []


def run_optuna(p: Problem, seed: int) -> tuple[Record, list[float]]:
    """Optuna ``TPESampler(seed=seed)`` (ask/tell; ``constraints_func`` for outcome constraints)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cons = p.constraints

    def constraints_func(trial: Any) -> list[float]:
        return [-trial.user_attrs[c] for c in cons]  # <= 0 is feasible in Optuna

    sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=constraints_func if cons else None)
    study = optuna.create_study(directions=[d for _, d in p.objectives], sampler=sampler)
    rec: Record = []
    times: list[float] = []
    for _ in range(p.budget):
        t0 = time.perf_counter()
        trial = study.ask()
        x = {n: trial.suggest_float(n, lo, hi) for n, lo, hi in p.peer_params()}
        times.append(time.perf_counter() - t0)
        y = p.evaluate(p.from_peer(x))
        for c in cons:
            trial.set_user_attr(c, y[c])
        study.tell(trial, [y[n] for n, _ in p.objectives])
        rec.append(y)
    return rec, times


def _ax_client(p: Problem, seed: int) -> Any:
    from ax import Client, RangeParameterConfig

    for name in ("ax", "pyro"):
        logging.getLogger(name).setLevel(logging.ERROR)
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=[RangeParameterConfig(name=n, parameter_type="float", bounds=(lo, hi))
                                            for n, lo, hi in p.peer_params()])
    objective = ", ".join(n if d == "maximize" else f"-{n}" for n, d in p.objectives)
    client.configure_optimization(objective=objective, outcome_constraints=[f"{c} >= 0" for c in p.constraints] or None)
    return client


def _ax_point(p: Problem, params: Mapping[str, Any]) -> dict[str, float]:
    return p.from_peer({k: float(v) for k, v in params.items()})


def run_ax(p: Problem, seed: int) -> tuple[Record, list[float]]:
    """``ax.Client`` with its default generation strategy, one trial at a time."""
    client = _ax_client(p, seed)
    rec: Record = []
    times: list[float] = []
    while len(rec) < p.budget:
        t0 = time.perf_counter()
        trials = client.get_next_trials(max_trials=1)
        times.append(time.perf_counter() - t0)
        for idx, params in trials.items():
            y = p.evaluate(_ax_point(p, params))
            client.complete_trial(idx, raw_data={k: float(v) for k, v in y.items()})
            rec.append(y)
    return rec, times


def run_task(task: tuple[str, str, int, dict[str, int], str]) -> dict[str, Any]:
    """One (problem, method, seed) run in a worker process."""
    import torch

    torch.set_num_threads(1)
    pname, method, seed, budgets, simplex_map = task
    probs, _ = _problems_cached(tuple(sorted(budgets.items())))
    p = probs[pname]
    t0 = time.perf_counter()
    err = None
    with _quiet(), tempfile.TemporaryDirectory() as tmp:
        try:
            if method in ("voltlab", "sobol"):
                rec, ask_s = run_voltlab(p, seed, Path(tmp), "gp" if method == "voltlab" else "random", simplex_map)
            else:
                rec, ask_s = {"random": run_random, "skopt": run_skopt, "bayes_opt": run_bayes_opt,
                              "optuna_tpe": run_optuna, "ax": run_ax}[method](p, seed)
        except Exception as exc:  # noqa: BLE001 - a peer failing is a result, not a crash of the benchmark
            rec, ask_s, err = [], [], f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return {"problem": pname, "method": method, "seed": seed, "outcomes": rec, "ask_s": ask_s,
            "wall_s": time.perf_counter() - t0, "error": err}


_CACHE: dict[Any, Any] = {}


def _problems_cached(key: tuple[tuple[str, int], ...]) -> tuple[dict[str, Problem], dict[str, Any]]:
    if key not in _CACHE:
        with _quiet():
            _CACHE[key] = make_problems(dict(key))
    return _CACHE[key]


# -------------------------------------------------------------------------------------------- metrics
def performance_trace(p: Problem, rec: Record) -> np.ndarray:
    """Best feasible utility (single objective) or feasible hypervolume after each evaluation."""
    out = np.full(len(rec), np.nan)
    if p.multi:
        pts: list[list[float]] = []
        for t, y in enumerate(rec):
            if p.feasible(y):
                pts.append(p.utilities(y))
            out[t] = hypervolume(np.array(pts), p.ref_utility) if pts else 0.0
        return out
    best = -np.inf
    for t, y in enumerate(rec):
        if p.feasible(y):
            best = max(best, p.utilities(y)[0])
        out[t] = best
    return out


def first_reach(curve: np.ndarray, a: float) -> int | None:
    """1-based first evaluation where ``curve >= a`` (``None``: never)."""
    hit = np.flatnonzero(curve >= a - 1e-12)
    return int(hit[0]) + 1 if len(hit) else None


def summarise(p: Problem, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-method medians, regret / log-HV-difference, AF and EF vs random for one problem."""
    by: dict[str, list[np.ndarray]] = {}
    errors: dict[str, list[str]] = {}
    ask: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    for r in runs:
        if r["error"] or len(r["outcomes"]) < p.budget:
            errors.setdefault(r["method"], []).append(r["error"] or f"only {len(r['outcomes'])} evaluations")
            continue
        by.setdefault(r["method"], []).append(performance_trace(p, r["outcomes"][: p.budget]))
        ask.setdefault(r["method"], []).extend(r["ask_s"])
        wall.setdefault(r["method"], []).append(r["wall_s"])
    med = {m: np.median(np.vstack(c), axis=0) for m, c in by.items()}
    out: dict[str, Any] = {"budget_evaluations": p.budget, "f_opt": p.f_opt, "methods": {},
                           "unit_of_regret_performance_f_opt": p.unit if not p.multi else "hypervolume, dimensionless"}
    rand = med.get("random")
    target = float(rand[-1]) if rand is not None else float("nan")
    i_rand = first_reach(rand, target) if rand is not None else None
    out["af_target"] = target
    out["af_target_evals_random"] = i_rand
    for m, curves in by.items():
        arr = np.vstack(curves)
        gap = p.f_opt - arr  # regret (single) or HV difference (multi)
        gap_final = np.maximum(gap[:, -1], 0.0)
        s: dict[str, Any] = {
            "seeds_ok": len(curves),
            "median_performance_trace": med[m].tolist(),
            "median_final_performance": float(med[m][-1]),
            "wall_s_per_run": float(np.mean(wall[m])),
            "median_ask_s": float(np.median(ask[m])) if ask.get(m) else None,
        }
        if p.multi:
            s["median_final_log10_hv_diff"] = float(np.median(np.log10(np.maximum(gap_final, 1e-12))))
            s["median_log10_hv_diff_trace"] = np.median(np.log10(np.maximum(gap, 1e-12)), axis=0).tolist()
        else:
            s["median_final_regret"] = float(np.median(gap_final))
            s["regret_final_min"], s["regret_final_max"] = float(gap_final.min()), float(gap_final.max())
            s["median_regret_trace"] = np.median(np.maximum(gap, 0.0), axis=0).tolist()
        if rand is not None and target > 0:
            i_m = first_reach(med[m], target)
            s["ef_at_budget"] = float(med[m][-1] / rand[-1]) if rand[-1] > 0 else None
            s["af_reached"] = i_m is not None
            s["af"] = (i_rand / i_m) if i_m is not None else i_rand / p.budget  # upper bound when not reached
        out["methods"][m] = s
    out["errors"] = errors
    return out


# -------------------------------------------------------------------------------------------- latency
def ask_latency(p: Problem, n_obs: int, n_asks: int, seed: int = 0) -> dict[str, Any]:
    """voltlab vs Ax ask time on ``p`` (BraninCurrin) after the same ``n_obs`` Sobol observations."""
    import torch
    from scipy.stats import qmc

    torch.set_num_threads(1)
    X = qmc.Sobol(2, scramble=True, seed=seed).random(n_obs)
    init = [{"x1": float(a), "x2": float(b)} for a, b in X]
    init_y = [p.evaluate(x) for x in init]
    out: dict[str, Any] = {"problem": "branin_currin", "n_observations": n_obs, "n_asks": n_asks}
    with _quiet(), tempfile.TemporaryDirectory() as tmp:
        camp = Campaign.create(Path(tmp) / "lat.sqlite", _voltlab_space(p), [Objective(n, d) for n, d in p.objectives],
                               seed=seed)
        for x, y in zip(init, init_y, strict=True):
            camp.tell(x, y)
        rec = list(init_y)
        times = []
        for _ in range(n_asks):
            t0 = time.perf_counter()
            [s] = camp.ask(1)
            times.append(time.perf_counter() - t0)
            y = p.evaluate(s.point)
            camp.tell(s.id, y)
            rec.append(y)
        src = s.source
        camp.close()
    out["voltlab_ask_s"] = times
    out["voltlab_median_ask_s"] = float(np.median(times))
    out["voltlab_source"] = src
    out["voltlab_hv_after"] = float(performance_trace(p, rec)[-1])
    try:
        with _quiet():
            client = _ax_client(p, seed)
            for x, y in zip(init, init_y, strict=True):
                idx = client.attach_trial(parameters=x)
                client.complete_trial(idx, raw_data=y)
            rec = list(init_y)
            times = []
            for _ in range(n_asks):
                t0 = time.perf_counter()
                trials = client.get_next_trials(max_trials=1)
                times.append(time.perf_counter() - t0)
                for idx, params in trials.items():
                    y = p.evaluate(_ax_point(p, params))
                    client.complete_trial(idx, raw_data=y)
                    rec.append(y)
            node = getattr(client._generation_strategy, "current_node_name", "?")
        out["ax_ask_s"] = times
        out["ax_median_ask_s"] = float(np.median(times))
        out["ax_generation_node"] = str(node)
        out["ax_hv_after"] = float(performance_trace(p, rec)[-1])
        out["latency_ratio_voltlab_over_ax"] = out["voltlab_median_ask_s"] / out["ax_median_ask_s"]
    except Exception as exc:  # noqa: BLE001 - reported as the result
        out["ax_error"] = f"{type(exc).__name__}: {exc}"
    out["hv_max"] = p.f_opt
    return out


# -------------------------------------------------------------------------------------------- report
def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("botorch", "gpytorch", "torch", "scikit-learn", "scikit-optimize", "bayesian-optimization",
                "optuna", "ax-platform", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flat ``a.b.c`` keys; lists are kept as values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def report(res: dict[str, Any]) -> str:
    """Markdown for ``bo.md``."""
    L = [f"# Bayesian optimisation benchmark{' (quick smoke run)' if res['quick'] else ''}", "",
         f"Generated by `benchmarks/bo.py{' --quick' if res['quick'] else ''}` on {res['date_utc']}. "
         f"Machine: {res['machine']['platform']}, Python {res['machine']['python']}, "
         f"{res['machine']['cpu_count']} CPUs visible, {res['workers']} worker processes, 1 torch thread each. "
         f"Total wall time {res['total_wall_s']:.0f} s.", "",
         "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".", "",
         "Seeds per method (0 to n-1, the same on every problem): "
         + ", ".join(f"{m} {n}" for m, n in res["seeds_per_method"].items()) + "; budgets (evaluations, one at a "
         "time): " + ", ".join(f"{k} {v}" for k, v in res["budgets"].items()) + ".", "",
         "Definitions (Liang et al. 2021, npj Comput. Mater. 7, 188): y(i) = best feasible utility after i "
         "evaluations (single objective) or feasible hypervolume (two objectives), median over seeds. "
         "EF = y_method(B) / y_random(B) at the budget B. AF = i_random(a) / i_method(a), i(a) = first i with "
         "y(i) >= a, target a = random's median y(B); `<x` = the method never reached a within B (upper bound). "
         "Regret = f* - best utility (median [min, max] over seeds); log HV diff = log10(HV* - HV(B)), median.", ""]
    for pname, s in res["problems"].items():
        L += [f"## {pname}: {res['problem_descriptions'][pname]}", "",
              f"Budget {s['budget_evaluations']}; f* = {s['f_opt']:.6g} ({s['unit_of_regret_performance_f_opt']}); AF target a = {_fmt(s['af_target'], '.5g')} "
              f"(random reaches it at i = {s['af_target_evals_random']}).", ""]
        multi = "median_final_log10_hv_diff" in next(iter(s["methods"].values()), {})
        head = "median final log10 HV diff" if multi else "median final regret [min, max]"
        L += [f"| method | {head} | median y(B) | AF vs random | EF vs random | median ask s | wall s / run |",
              "|---|---|---|---|---|---|---|"]
        for m in METHODS:
            if m not in s["methods"]:
                continue
            r = s["methods"][m]
            q = _fmt(r["median_final_log10_hv_diff"]) if multi else \
                f"{_fmt(r['median_final_regret'])} [{_fmt(r['regret_final_min'], '.2g')}, {_fmt(r['regret_final_max'], '.2g')}]"
            af = "n/a" if r.get("af") is None else \
                _fmt(r["af"], ".2f") if r["af_reached"] else f"<{_fmt(r['af'], '.2f')}"
            L.append(f"| {m} | {q} | {_fmt(r['median_final_performance'], '.4g')} | {af} | "
                     f"{_fmt(r.get('ef_at_budget'), '.3f')} | {_fmt(r['median_ask_s'], '.3f')} | "
                     f"{r['wall_s_per_run']:.1f} |")
        skipped = [m for m in METHODS if m not in s["methods"] and m not in s["errors"]]
        if skipped:
            L += ["", f"Not run (single-objective libraries): {', '.join(skipped)}."]
        for m, errs in s["errors"].items():
            L += ["", f"{m}: {len(errs)} run(s) failed, first: `{errs[0]}`."]
        L.append("")
    lat = res["latency"]
    L += ["## Ask latency: voltlab vs Ax, BraninCurrin, 2 objectives", "",
          f"{lat['n_observations']} identical scrambled-Sobol observations told to both, then {lat['n_asks']} asks "
          "(each evaluated and told before the next).", "",
          "| | median ask s | HV after the asks | generator |", "|---|---|---|---|",
          f"| voltlab | {_fmt(lat['voltlab_median_ask_s'])} | {_fmt(lat['voltlab_hv_after'], '.5g')} | "
          f"{lat['voltlab_source']} |"]
    if "ax_median_ask_s" in lat:
        L.append(f"| Ax | {_fmt(lat['ax_median_ask_s'])} | {_fmt(lat['ax_hv_after'], '.5g')} | "
                 f"{lat['ax_generation_node']} |")
        L += ["", f"Latency ratio voltlab / Ax: {lat['latency_ratio_voltlab_over_ax']:.3f}; "
              f"max HV {lat['hv_max']:.5g}."]
    else:
        L += ["", f"Ax failed: `{lat['ax_error']}`."]
    L += ["", "## Goals", ""]
    for g in res["goals"]:
        L.append(f"- {g['goal']}: **{'met' if g['met'] else 'not met'}** ({g['detail']})")
    L += ["", "## Emulator", "", "Fitted on the shared doped-NCM table (an emulator, not measurements): "
          + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in res["emulator"].items())
          + ".", "", "## Notes", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(L) + "\n"


def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate the acceptance goals of issue 6."""
    out = []
    em = res["problems"].get("ncm_emulator", {}).get("methods", {}).get("voltlab")
    if em is not None:
        out.append({"goal": "AF >= 2 vs random on every emulator (ncm_emulator)", "met": bool(em.get("af_reached") and em["af"] >= 2),
                    "detail": f"AF {_fmt(em.get('af'), '.2f')}"
                              f"{'' if em.get('af_reached') else ' (upper bound, target not reached)'}"})
    worse = []
    compared = []
    for pname, s in res["problems"].items():
        ms = s["methods"]
        if "voltlab" not in ms:
            continue
        key = "median_final_log10_hv_diff" if "median_final_log10_hv_diff" in ms["voltlab"] else "median_final_regret"
        for peer in PEERS:
            if peer in ms:
                compared.append(f"{pname}/{peer}")
                if not ms["voltlab"][key] < ms[peer][key]:
                    worse.append(f"{pname}: {peer} {ms[peer][key]:.3g} vs voltlab {ms['voltlab'][key]:.3g}")
    if compared:  # a voltlab-only run has no verdict on this goal
        out.append({"goal": "better median final regret (log HV diff for 2 objectives) than each peer",
                    "met": not worse, "detail": "; ".join(worse) if worse else f"all {len(compared)} comparisons"})
    lat = res["latency"]
    if "latency_ratio_voltlab_over_ax" in lat:
        ok = lat["latency_ratio_voltlab_over_ax"] <= 0.5 and lat["voltlab_hv_after"] >= lat["ax_hv_after"]
        out.append({"goal": "ask latency <= 0.5x Ax at equal or better hypervolume (100 observations, 2 objectives)",
                    "met": bool(ok), "detail": f"ratio {lat['latency_ratio_voltlab_over_ax']:.3f}, HV voltlab "
                    f"{lat['voltlab_hv_after']:.5g} vs Ax {lat['ax_hv_after']:.5g}"})
    return out


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, small budgets, bo-quick.* outputs")
    ap.add_argument("--seeds", type=int, default=None,
                    help="seeds of the cheap methods (random, sobol, optuna_tpe); default 10, quick 2")
    ap.add_argument("--gp-seeds", type=int, default=None,
                    help="seeds of voltlab, skopt and bayes_opt; default 10, quick 2")
    ap.add_argument("--ax-seeds", type=int, default=None, help="seeds of Ax; default 4, quick 1")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of methods")
    ap.add_argument("--problems", default="hartmann6,ncm_emulator,branin_currin,c2dtlz2")
    ap.add_argument("--simplex-map", choices=("fractions", "box"), default="fractions",
                    help="voltlab's simplex_map setting (default: the Campaign default, fractions)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    t_start = time.perf_counter()
    n_seeds = args.seeds or (2 if args.quick else 10)
    gp_seeds = min(n_seeds, args.gp_seeds or (2 if args.quick else 10))
    seeds = dict.fromkeys(METHODS, n_seeds) | dict.fromkeys(("voltlab", "skopt", "bayes_opt"), gp_seeds)
    seeds["ax"] = min(gp_seeds, args.ax_seeds or (1 if args.quick else 4))
    budgets = ({"hartmann6": 16, "ncm_emulator": 10, "branin_currin": 10, "c2dtlz2": 10} if args.quick else
               {"hartmann6": 25, "ncm_emulator": 15, "branin_currin": 20, "c2dtlz2": 20})
    pnames = [p for p in args.problems.split(",") if p]
    methods = [m for m in args.methods.split(",") if m]
    probs, emulator = _problems_cached(tuple(sorted(budgets.items())))
    tasks = [(pn, m, seed, budgets, args.simplex_map) for pn in pnames for m in methods for seed in range(seeds[m])
             if not (probs[pn].multi and m in SINGLE_ONLY)]
    # Slow methods first so the pool does not end on one long task.
    order = {"ax": 0, "voltlab": 1, "skopt": 2, "bayes_opt": 3, "optuna_tpe": 4, "sobol": 5, "random": 6}
    tasks.sort(key=lambda t: order[t[1]])
    runs: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for r in pool.map(run_task, tasks):
            runs.append(r)
            print(f"{r['problem']:14s} {r['method']:10s} seed {r['seed']:2d} {r['wall_s']:7.1f} s"
                  f"{'  ERROR ' + r['error'] if r['error'] else ''}", flush=True)
    t_lat = time.perf_counter()
    latency = ask_latency(probs["branin_currin"], 100, 3 if args.quick else 5)
    print(f"latency check {time.perf_counter() - t_lat:.0f} s: {latency}", flush=True)
    summaries = {pn: summarise(probs[pn], [r for r in runs if r["problem"] == pn]) for pn in pnames}
    import torch

    res: dict[str, Any] = {
        "quick": args.quick, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "workers": args.workers,
        "voltlab_simplex_map": args.simplex_map, "n_seeds": n_seeds, "seeds_per_method": {m: seeds[m] for m in methods}, "budgets": {pn: budgets[pn] for pn in pnames}, "versions": _versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch_threads": 1, "torch": torch.__version__},
        "problem_descriptions": {pn: probs[pn].description for pn in pnames},
        "problems": summaries, "latency": latency, "emulator": emulator,
    }
    res["goals"] = goals(res)
    res["total_wall_s"] = time.perf_counter() - t_start
    few = {m: k for m, k in seeds.items() if m in methods and k < 10}
    res["notes"] = [
        (f"Fewer than 10 seeds for {', '.join(f'{m} ({k})' for m, k in sorted(few.items()))}, to fit the time "
         "on 2 shared cores; medians over so few seeds are noisy, so those goal verdicts are indicative only."
         if few else "10 or more seeds for every method run."),
        "Each method uses its own default initial design: voltlab the centre + 4 Sobol, skopt 10, bayes_opt 5, "
        "Optuna TPE 10 startup trials, Ax 5 (its default initialization budget in 1.3.1: centre point + Sobol).",
        "skopt and bayes_opt have no multi-objective mode, so they are not run on branin_currin and c2dtlz2.",
        "The NCM problem is an emulator (GP posterior mean fitted to literature data), not an experiment; "
        "its optimum is the grid maximum, so a method can beat it slightly (regret clipped at 0).",
        "Wall times include the evaluation and, for voltlab, SQLite persistence; 2 cores were shared with other jobs.",
    ]
    stem = "bo-quick" if args.quick else "bo"
    args.out.mkdir(parents=True, exist_ok=True)
    flat = flatten({k: v for k, v in res.items() if k not in ("notes", "goals")})
    flat["goals"] = res["goals"]
    flat["notes"] = res["notes"]
    (args.out / f"{stem}.json").write_text(json.dumps(flat, indent=1) + "\n")
    md = report(res)
    (args.out / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
