"""Tree-ensemble surrogates (random forest, bootstrapped XGBoost) with expected improvement from the spread.

``kind="rf"``: each outcome gets a scikit-learn ``RandomForestRegressor``; its trees are
the ensemble members. ``kind="xgb"``: each outcome gets ``n_members`` XGBoost
boosted-tree regressors, each fitted to its own bootstrap resample of the
observations (a bootstrap ensemble: boosting alone gives one prediction, the
resampling gives the spread). At a candidate, the members' predictions give a
mean ``mu`` and spread ``sigma`` of the objective's utility; expected improvement over the best feasible observed
utility ``f*`` is ``(mu - f*) Phi(z) + sigma phi(z)`` with ``z = (mu - f*) / sigma``.
Outcome constraints multiply it by a normal-approximation probability of
feasibility. Candidates are feasible Sobol points of the space; a batch is
built greedily, skipping candidates within ``0.05 * sqrt(dim)`` (unit box) of
points already chosen or pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voltlab.errors import DependencyError
from voltlab.optimize.objectives import Objective, OutcomeConstraint

__all__ = ["ENSEMBLES", "propose_forest"]

ENSEMBLES = ("rf", "xgb")
"""Ensemble kinds: scikit-learn random forest, bootstrapped XGBoost."""

XGB_PARAMS = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "min_child_weight": 1.0,
              "reg_lambda": 1.0, "n_jobs": 1, "tree_method": "hist"}
"""Each XGBoost member's settings: shallow trees, as for a few dozen observations."""


def _members_rf(X: np.ndarray, y: np.ndarray, C: np.ndarray, seed: int, n_trees: int) -> tuple[np.ndarray, str]:
    from sklearn.ensemble import RandomForestRegressor

    rf = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=1, random_state=seed, n_jobs=1)
    rf.fit(X, y)
    return np.stack([t.predict(C) for t in rf.estimators_]), f"RandomForestRegressor(n_estimators={n_trees})"


def _members_xgb(X: np.ndarray, y: np.ndarray, C: np.ndarray, seed: int, n_members: int) -> tuple[np.ndarray, str]:
    try:
        from xgboost import XGBRegressor
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError("surrogate='xgb' needs XGBoost: pip install -c constraints.txt xgboost-cpu") from exc
    rng = np.random.default_rng(seed)
    preds = []
    for b in range(n_members):
        rows = rng.integers(0, len(X), size=len(X))
        model = XGBRegressor(**XGB_PARAMS, random_state=int(seed) + b)
        model.fit(X[rows], y[rows])
        preds.append(model.predict(C).astype(np.float64))
    return np.stack(preds), f"{n_members} bootstrapped XGBRegressor({XGB_PARAMS['n_estimators']} trees, depth " \
                            f"{XGB_PARAMS['max_depth']})"


def propose_forest(
    candidates: np.ndarray,
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint],
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_pending: np.ndarray,
    n: int,
    *,
    mode: str,
    seed: int,
    kind: str = "rf",
    n_trees: int = 200,
    n_members: int = 16,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Pick ``n`` of ``candidates`` (shape ``(m, dim)``, unit box) by ensemble EI (or spread in explore mode).

    ``kind`` is ``"rf"`` (``n_trees`` trees) or ``"xgb"`` (``n_members`` bootstrapped models).

    Returns
    -------
    U, states
        Chosen rows ``(n, dim)`` and one model-state dict per row.
    """
    from scipy.stats import norm

    if kind not in ENSEMBLES:
        raise ValueError(f"kind must be one of {ENSEMBLES}, got {kind!r}")  # checked by Campaign.create
    k = len(objectives)
    per_tree = []  # one (members, m) array per outcome
    model_name = ""
    for j in range(Y_train.shape[1]):
        if kind == "rf":
            preds, model_name = _members_rf(X_train, Y_train[:, j], candidates, seed + j, n_trees)
        else:
            preds, model_name = _members_xgb(X_train, Y_train[:, j], candidates, seed + 1000 * j, n_members)
        per_tree.append(preds)
    obj = objectives[0]
    util_trees = obj.utility(per_tree[0])
    mu, sigma = util_trees.mean(axis=0), util_trees.std(axis=0)
    feas_obs = np.ones(len(Y_train), dtype=bool)
    pof = np.ones(len(candidates))
    for i, c in enumerate(constraints):
        feas_obs &= c.slack(Y_train[:, k + i]) <= 0
        s = c.slack(per_tree[k + i])
        pof *= norm.cdf(-s.mean(axis=0) / np.maximum(s.std(axis=0), 1e-12))
    if mode == "explore":
        score = sigma.copy()
        name = f"{kind}-max-spread"
    else:
        util_obs = obj.utility(Y_train[:, 0])
        best = util_obs[feas_obs].max() if feas_obs.any() else util_obs.min()
        sd = np.maximum(sigma, 1e-12)
        z = (mu - best) / sd
        score = ((mu - best) * norm.cdf(z) + sd * norm.pdf(z)) * pof
        name = f"{kind}-EI"
    radius = 0.05 * np.sqrt(candidates.shape[1])
    taken = list(X_pending)
    order = np.argsort(-score, kind="stable")
    chosen: list[int] = []
    for idx in order:
        if len(chosen) == n:
            break
        if taken and np.min(np.linalg.norm(np.asarray(taken) - candidates[idx], axis=1)) < radius:
            continue
        chosen.append(int(idx))
        taken.append(candidates[idx])
    for idx in order:  # fall back to the best remaining if the radius excluded too much
        if len(chosen) == n:
            break
        if int(idx) not in chosen:
            chosen.append(int(idx))
    states = [
        {
            "surrogate": kind, "model": model_name, "acquisition": name,
            "acquisition_value": float(score[i]), "n_train": len(X_train), "n_pending": len(X_pending),
            "n_candidates": len(candidates), "seed": seed, "batch_index": b,
            "posterior": {obj.name + "_utility": {"mean": float(mu[i]), "std": float(sigma[i])}},
            "probability_feasible": float(pof[i]),
        }
        for b, i in enumerate(chosen)
    ]
    return candidates[chosen], states
