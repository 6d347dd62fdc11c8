#!/usr/bin/env python
"""voltlab Bayesian optimisation vs Sobol and uniform random search on Branin.

Run from the repository root::

    .venv/bin/python benchmarks/bo.py [--seeds 5] [--budget 30]

What one run measures
---------------------
Branin-Hoo on ``x1 in [-5, 10]``, ``x2 in [0, 15]`` (global minimum 0.397887 at three
points), minimised. Each method gets the same budget of evaluations, one at a time:

``gp``
    ``Campaign(surrogate="gp")``: 6 Sobol points, then ``SingleTaskGP`` + qLogNEI,
    ``num_restarts=4``, ``raw_samples=128``.
``sobol``
    ``Campaign(surrogate="random")``: the same scrambled Sobol stream (same seed, so the
    first 6 points equal the GP's).
``uniform``
    ``numpy.random.default_rng(seed).uniform`` points.

Metric: simple regret ``min_{i<=t} f(x_i) - 0.397887`` after ``t`` evaluations, median and
range over seeds ``0..seeds-1``; wall time per method. Torch runs on one thread (tiny GPs
are overhead-bound). Writes ``benchmarks/results/bo.md`` and ``bo.json``.

Not here yet: peers (scikit-optimize, bayes_opt, Optuna, Ax), other test functions,
batches, constraints.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voltlab.optimize import Campaign, Objective, Real, SearchSpace  # noqa: E402

F_MIN = 0.397887357729738
N_INIT = 6
SPACE = SearchSpace([Real("x1", -5.0, 10.0), Real("x2", 0.0, 15.0)])


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo function (dimensionless)."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def run_campaign(surrogate: str, seed: int, budget: int, folder: Path) -> list[float]:
    camp = Campaign.create(folder / f"{surrogate}-{seed}.sqlite", SPACE, [Objective("f", "minimize")],
                           n_init=N_INIT, seed=seed, surrogate=surrogate, num_restarts=4, raw_samples=128)
    values = []
    while len(values) < budget:
        n = N_INIT if not values else 1
        for s in camp.ask(min(n, budget - len(values))):
            y = branin(s.point["x1"], s.point["x2"])
            camp.tell(s.id, {"f": y})
            values.append(y)
    camp.close()
    return values


def run_uniform(seed: int, budget: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [branin(rng.uniform(-5, 10), rng.uniform(0, 15)) for _ in range(budget)]


def regret_curve(values: list[float]) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(values)) - F_MIN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    import botorch
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    curves: dict[str, list[list[float]]] = {"gp": [], "sobol": [], "uniform": []}
    wall: dict[str, float] = dict.fromkeys(curves, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for method in curves:
                t0 = time.perf_counter()
                vals = run_uniform(seed, args.budget) if method == "uniform" else run_campaign(
                    "gp" if method == "gp" else "random", seed, args.budget, Path(tmp))
                wall[method] += time.perf_counter() - t0
                curves[method].append(regret_curve(vals).tolist())
                print(f"seed {seed} {method:8s} final regret {curves[method][-1][-1]:.4g}", flush=True)
    checkpoints = sorted({t for t in (10, 20, args.budget) if t <= args.budget})
    summary = {}
    for method, cs in curves.items():
        arr = np.asarray(cs)
        summary[method] = {
            str(t): {"median": float(np.median(arr[:, t - 1])), "min": float(arr[:, t - 1].min()),
                     "max": float(arr[:, t - 1].max())}
            for t in checkpoints
        } | {"wall_s_per_run": wall[method] / args.seeds}
    result = {
        "benchmark": "branin", "budget": args.budget, "n_init": N_INIT, "seeds": list(range(args.seeds)),
        "f_min": F_MIN, "summary": summary, "regret_curves": curves,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "torch": torch.__version__, "botorch": botorch.__version__, "torch_threads": 1},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bo.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# Branin: simple regret (median [min, max] over seeds)", "",
        f"Budget {args.budget} evaluations, sequential (q=1), {N_INIT} Sobol initial points for gp/sobol, "
        f"seeds 0-{args.seeds - 1}. Regret = best f so far - {F_MIN:.6f}.", "",
        "| method | " + " | ".join(f"after {t}" for t in checkpoints) + " | wall s / run |",
        "|---|" + "---|" * (len(checkpoints) + 1),
    ]
    for method in curves:
        s = summary[method]
        cells = [f"{s[str(t)]['median']:.3g} [{s[str(t)]['min']:.2g}, {s[str(t)]['max']:.2g}]" for t in checkpoints]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {s['wall_s_per_run']:.1f} |")
    (args.out / "bo.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
