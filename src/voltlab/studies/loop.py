"""Run an optimisation campaign against an evaluation function, and compare it with random search.

Studies use :func:`run_campaign` for their closed loops (the "lab" is a model, an
emulator or a PyBaMM simulation) and :func:`compare_with_random` for the BO-vs-random
check that every study reports: the same budget, the same seed, a Sobol/random
campaign as the baseline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import OptimizationError, VoltlabError
from voltlab.optimize import Campaign, Objective, OutcomeConstraint, SearchSpace
from voltlab.studies.base import Figure, Series

__all__ = ["LoopResult", "compare_with_random", "convergence_figure", "run_campaign", "summarise_traces"]

Evaluate = Callable[[Mapping[str, Any]], Mapping[str, float]]


@dataclass
class LoopResult:
    """A finished campaign and its per-evaluation log.

    Attributes
    ----------
    campaign
        The campaign (its SQLite file stays in the study's output folder).
    log
        One row per evaluation in order: ``evaluation`` (1-based), the point, the outcomes,
        ``status`` and ``best_so_far`` (best feasible utility of objective 0, or the
        hypervolume for several objectives).
    """

    campaign: Campaign
    log: pd.DataFrame

    @property
    def best_so_far(self) -> np.ndarray:
        """Best feasible utility (one objective) or hypervolume (several) after each evaluation."""
        return self.log["best_so_far"].to_numpy(dtype=np.float64)


def run_campaign(path: str | os.PathLike[str], space: SearchSpace, objectives: Sequence[Objective | str],
                 evaluate: Evaluate, *, budget: int, batch_size: int = 1, seed: int = 0, n_init: int | None = None,
                 surrogate: str = "gp", outcome_constraints: Sequence[OutcomeConstraint | str] = (),
                 ref_point: Sequence[float] | None = None, num_restarts: int = 4, raw_samples: int = 128,
                 mc_samples: int = 64, progress: Callable[[str], None] | None = None) -> LoopResult:
    """Ask, evaluate and tell until ``budget`` evaluations are done (failures count and are recorded).

    ``evaluate(point)`` returns the outcomes (objectives and constrained outcomes); any
    :class:`~voltlab.errors.VoltlabError` or ``ArithmeticError`` it raises is told as a failed
    evaluation with its message, and the campaign goes on. The campaign file at ``path``
    is replaced.
    """
    if budget < 1 or batch_size < 1:
        raise OptimizationError(f"budget ({budget}) and batch_size ({batch_size}) must be positive")
    camp = Campaign.create(path, space, objectives, outcome_constraints, seed=seed, n_init=n_init,
                           surrogate=surrogate, ref_point=ref_point, num_restarts=num_restarts,
                           raw_samples=raw_samples, mc_samples=mc_samples, overwrite=True)
    done = 0
    while done < budget:
        for s in camp.ask(min(batch_size, budget - done)):
            try:
                values = {k: float(v) for k, v in evaluate(s.point).items()}
            except (VoltlabError, ArithmeticError) as exc:
                camp.tell(s.id, failed=True, reason=str(exc)[:500])
            else:
                camp.tell(s.id, values)
            done += 1
        if progress is not None:
            progress(f"{surrogate}: {done}/{budget} evaluations")
    return LoopResult(camp, _log(camp))


def _log(camp: Campaign) -> pd.DataFrame:
    sugg = sorted((s for s in camp.suggestions() if s.status != "pending"), key=lambda s: (s.told_utc or "", s.id))
    multi = len(camp.objectives) > 1
    hv = camp.hypervolume_trace()[0] if multi else None
    rows, best, k = [], float("nan"), 0
    for i, s in enumerate(sugg, start=1):
        row: dict[str, Any] = {"evaluation": i, "suggestion": s.id, "source": s.source, "status": s.status,
                               **s.point, **(s.values or {})}
        if s.status == "complete":
            if multi:
                best = float(hv[k])  # type: ignore[index]
            elif camp.feasible(s):
                u = camp.utilities(s)[0]
                best = u if not np.isfinite(best) else max(best, u)
            k += 1
        row["feasible"] = bool(camp.feasible(s))
        row["best_so_far"] = best
        row["reason"] = s.reason or ""
        rows.append(row)
    return pd.DataFrame(rows)


def compare_with_random(folder: str | os.PathLike[str], space: SearchSpace, objectives: Sequence[Objective | str],
                        evaluate: Evaluate, *, budget: int, seeds: Sequence[int], batch_size: int = 1,
                        n_init: int | None = None, surrogate: str = "gp",
                        outcome_constraints: Sequence[OutcomeConstraint | str] = (),
                        ref_point: Sequence[float] | None = None,
                        progress: Callable[[str], None] | None = None,
                        **campaign_options: int) -> tuple[pd.DataFrame, dict[int, LoopResult]]:
    """The same campaign with the model (``surrogate``) and with random (Sobol) points, over ``seeds``.

    Returns
    -------
    traces, runs
        ``traces``: long table ``seed, method, evaluation, best_so_far``; ``runs``: the model
        campaign of each seed (left open). ``campaign_options`` (``num_restarts``,
        ``raw_samples``, ``mc_samples``) go to :func:`run_campaign`. For several objectives give ``ref_point`` so that the
        hypervolumes of both methods are on the same scale.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, runs = [], {}
    for seed in seeds:
        for method in (surrogate, "random"):
            res = run_campaign(folder / f"{method}-seed{seed}.campaign", space, objectives, evaluate, budget=budget,
                               batch_size=batch_size, seed=seed, n_init=n_init, surrogate=method,
                               outcome_constraints=outcome_constraints, ref_point=ref_point, progress=progress,
                               **campaign_options)
            for e, b in zip(res.log["evaluation"], res.log["best_so_far"], strict=True):
                rows.append({"seed": seed, "method": "random" if method == "random" else f"BO ({method})",
                             "evaluation": int(e), "best_so_far": float(b)})
            if method != "random":
                runs[seed] = res  # left open for the caller
            else:
                res.campaign.close()
    return pd.DataFrame(rows), runs


def summarise_traces(traces: pd.DataFrame) -> pd.DataFrame:
    """Median best-so-far per method and evaluation (for the convergence figure)."""
    return (traces.groupby(["method", "evaluation"], as_index=False)["best_so_far"].median()
            .sort_values(["method", "evaluation"]))


def convergence_figure(traces: pd.DataFrame, *, key: str = "convergence", y_label: str = "best so far",
                       title: str = "Convergence: the model-guided campaign against random search",
                       note: str = "") -> Figure:
    """Median (over seeds) best-so-far against evaluations, one line per method."""
    med = summarise_traces(traces)
    series = [Series(m, g["evaluation"].tolist(), g["best_so_far"].tolist(), mode="lines+markers",
                     dash=(m == "random")) for m, g in med.groupby("method", sort=True)]
    n_seeds = traces["seed"].nunique()
    return Figure(key, title, "evaluations", y_label, series,
                  note=note or f"Median over {n_seeds} seed(s); same budget and seeds for both methods.")
