"""Random-forest ensemble surrogate with expected improvement from the tree spread.

Each outcome gets a scikit-learn ``RandomForestRegressor``. At a candidate,
the per-tree predictions give a mean ``mu`` and spread ``sigma`` of the
objective's utility; expected improvement over the best feasible observed
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

from voltlab.optimize.objectives import Objective, OutcomeConstraint

__all__ = ["propose_forest"]


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
    n_trees: int = 200,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Pick ``n`` of ``candidates`` (shape ``(m, dim)``, unit box) by forest EI (or spread in explore mode).

    Returns
    -------
    U, states
        Chosen rows ``(n, dim)`` and one model-state dict per row.
    """
    from scipy.stats import norm
    from sklearn.ensemble import RandomForestRegressor

    k = len(objectives)
    per_tree = []
    for j in range(Y_train.shape[1]):
        rf = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=1, random_state=seed + j, n_jobs=1)
        rf.fit(X_train, Y_train[:, j])
        per_tree.append(np.stack([t.predict(candidates) for t in rf.estimators_]))  # (trees, m)
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
        name = "rf-max-spread"
    else:
        util_obs = obj.utility(Y_train[:, 0])
        best = util_obs[feas_obs].max() if feas_obs.any() else util_obs.min()
        sd = np.maximum(sigma, 1e-12)
        z = (mu - best) / sd
        score = ((mu - best) * norm.cdf(z) + sd * norm.pdf(z)) * pof
        name = "rf-EI"
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
            "surrogate": "rf", "model": f"RandomForestRegressor(n_estimators={n_trees})", "acquisition": name,
            "acquisition_value": float(score[i]), "n_train": len(X_train), "n_pending": len(X_pending),
            "n_candidates": len(candidates), "seed": seed, "batch_index": b,
            "posterior": {obj.name + "_utility": {"mean": float(mu[i]), "std": float(sigma[i])}},
            "probability_feasible": float(pof[i]),
        }
        for b, i in enumerate(chosen)
    ]
    return candidates[chosen], states
