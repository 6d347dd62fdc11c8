"""Bayesian optimisation with a related task: reuse a finished campaign's data in a new one (offline, ~1 min).

A lab has a finished Li campaign (30 measured compositions x1, x2 in [0, 1]) and starts the
Na analogue, whose response has the same shape, 20 % larger and shifted (both are toy
functions here, so the optimum is known). The Na campaign is run twice from the same seed,
without and with the Li campaign as a related task (``Campaign.add_related``), and the
best Na value after each evaluation is printed with the GP's fitted Li/Na correlation.

Run: ``.venv/bin/python examples/transfer_campaign.py [OUT_DIR]``. On the command line the
same step is ``voltlab campaign relate na.campaign li.campaign``.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from voltlab.optimize import Campaign, Objective, Real, SearchSpace

SPACE = SearchSpace([Real("x1", 0.0, 1.0), Real("x2", 0.0, 1.0)])
BEST_NA = 1.2 * (1.0 + 0.5) + 0.3  # at x1 = pi/12, x2 = 1


def li(p: dict[str, float]) -> float:
    return math.sin(6 * p["x1"]) + 0.5 * p["x2"]


def na(p: dict[str, float]) -> float:
    return 1.2 * li(p) + 0.3


def run(out: Path, n_evaluations: int = 10, *, related: Path | None, **settings: int) -> tuple[list[float], float | None]:
    """Best Na value after each evaluation, and the last fitted Li/Na correlation (None without transfer)."""
    name = "na-transfer" if related else "na-alone"
    camp = Campaign.create(out / f"{name}.campaign", SPACE, [Objective("y")], n_init=2, seed=1, overwrite=True,
                           **settings)
    if related is not None:
        camp.add_related(related, task="Li")
    best: list[float] = []
    corr = None
    for _ in range(n_evaluations):
        [s] = camp.ask(1)
        camp.tell(s.id, {"y": na(s.point)})
        best.append(camp.best().values["y"])  # type: ignore[union-attr]
        corr = s.model_state.get("task_correlation", {}).get("y", {}).get("Li", corr)
    camp.close()
    return best, corr


def main(out: Path, n_evaluations: int = 10, **settings: int) -> dict[str, list[float]]:
    out.mkdir(parents=True, exist_ok=True)
    li_camp = Campaign.create(out / "li.campaign", SPACE, [Objective("y")], surrogate="random", seed=5, overwrite=True)
    for s in li_camp.ask(30):
        li_camp.tell(s.id, {"y": li(s.point)})
    li_camp.close()
    alone, _ = run(out, n_evaluations, related=None, **settings)
    transfer, corr = run(out, n_evaluations, related=out / "li.campaign", **settings)
    print(f"Na optimum {BEST_NA:.3f}; best Na value after each evaluation:")
    print("evaluation   alone   with the Li campaign")
    for i, (a, t) in enumerate(zip(alone, transfer, strict=True), start=1):
        print(f"{i:10d}  {a:6.3f}  {t:6.3f}")
    print(f"fitted Li/Na correlation: {corr:.2f}" if corr is not None else "no GP ask yet")
    return {"alone": alone, "transfer": transfer}


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="voltlab-transfer-"))
    main(folder)
    print(f"campaign files in {folder}")
