#!/usr/bin/env python
"""Fast-charge design: best feasible CC-CV vs BO multi-step CC vs RL (PPO), on one simulator.

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/fastcharge.py [--budget 30] [--rl-timesteps 3000] [--no-rl] \
        [--no-cold] [--fade-cycles 5]

What one run measures
---------------------
SPMe + lumped thermal, Chen2020 (5 Ah LG M50), charge from 0 to 80 % SOC (SOC =
charge throughput / nominal capacity). Constraints on every protocol, evaluated
on the simulation up to 80 %: V <= 4.2 V, T <= 45 °C, plating margin (PyBaMM
"Negative electrode surface potential difference at separator interface [V]")
>= 0 V. C-rates <= ``--max-c-rate``.

``cccv``
    Bisection on the CC rate of CC (to 4.2 V) + CV (to C/20): the fastest
    feasible rate to 0.02C.
``window search``
    ``window_search``: the windows are fixed one after the other, each by
    bisection on its C-rate (to 0.02C) on the protocol truncated at the window's
    end; the highest rate that stays feasible and passes the window at constant
    current, then a second bisection above it where a higher rate only met
    4.2 V (a short CV tail can be faster near the target).
``bo``
    voltlab Campaign (BoTorch GP, qLogNEI weighted by the probability of the two
    outcome constraints) over the four C-rates of the 0-20-40-60-80 % windows;
    the constant-rate protocol at the CC-CV rate and the window-search protocol
    are told first; ``--budget`` further protocols.
``bo, cold start``
    The same campaign and budget without the window-search protocol (only the
    CC-CV-rate point told), for comparison; ``--no-cold`` skips it.
``rl``
    PPO (stable-baselines3, one thread, seeded) on the window-by-window
    environment (10 % windows), at most ``--rl-timesteps`` steps and 170 s; its
    deterministic protocol is evaluated like the others.

Every method's protocol is also cycled ``--fade-cycles`` times with SEI and
plating ageing (``protocol_fade``: SPMe / OKane2022, isothermal) for its fade.

Goal: BO time to 80 % at least 20 % below the CC-CV time, feasible. The
seed is stated in the report (``--seed``, default 0).
Writes ``benchmarks/results/fastcharge.md`` and ``fastcharge.json`` (flat keys, units in names).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from voltlab._files import atomic_write_text
    from voltlab.simulate.fastcharge import compare_fast_charge, design_fast_charge, write_fast_charge_report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--max-c-rate", type=float, default=3.0)
    ap.add_argument("--rl-timesteps", type=int, default=3000)
    ap.add_argument("--no-rl", action="store_true")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start BO run")
    ap.add_argument("--fade-cycles", type=int, default=5, help="cycles of the fade run per protocol (0 = off)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = compare_fast_charge(model="SPMe", parameters="Chen2020", windows=(0, 20, 40, 60, 80),
                              max_c_rate=args.max_c_rate, vmax_volt=4.2, tmax_celsius=45.0, budget=args.budget,
                              seed=args.seed, rl=not args.no_rl, rl_timesteps=args.rl_timesteps,
                              fade_cycles=args.fade_cycles)
    flat = res["flat"]
    cold_line = ""
    if not args.no_cold:
        t1 = time.perf_counter()
        base = res["rows"]["CC-CV baseline"]
        cold = design_fast_charge(model="SPMe", parameters="Chen2020", windows=(0, 20, 40, 60, 80),
                                  c_bounds=(0.2, args.max_c_rate), vmax_volt=4.2, tmax_celsius=45.0,
                                  budget=args.budget, seed=args.seed, baseline=base, start="none")
        cold.campaign.close()
        flat["bo_cold_search_second"] = time.perf_counter() - t1
        if cold.best is not None:
            flat["bo_cold_time_to_target_min"] = cold.best.time_to_target_min
            flat["bo_cold_speedup_vs_cccv_percent"] = cold.speedup_percent
            cold_line = (f"Cold-start BO (same campaign and budget, only the CC-CV-rate protocol told): "
                         f"{cold.best.protocol.describe()}, {cold.best.time_to_target_min:.1f} min, "
                         f"{cold.speedup_percent:.1f} % faster than CC-CV, {flat['bo_cold_search_second']:.0f} s.")
    flat["total_second"] = time.perf_counter() - t0
    if res["rl"] is not None:
        flat["rl_timesteps"] = res["rl"].timesteps
    md = write_fast_charge_report(res, args.out / "fastcharge.md")
    if cold_line:
        atomic_write_text(md, md.read_text(encoding="utf-8") + cold_line + "\n")
    js = write_fast_charge_report(res, args.out / "fastcharge.json")
    print(res["table"])
    print(f"BO speed-up {res['flat']['bo_speedup_vs_cccv_percent']:.1f} %; wrote {md} and {js}")


if __name__ == "__main__":
    main()
