#!/usr/bin/env python
"""voltlab composition featurisation benchmark: MagpieFeaturizer against matminer, same run, same formulas.

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/featurize.py          # ~1 min on 2 cores

What one run measures
---------------------
1. **Formulas.** 10,000 *distinct* formula strings. First every distinct formula that
   pymatgen can parse from ../shared/data (OBELiX ``Reduced Composition`` of all.csv, MP
   electrodes' ``Formula Charge`` and ``Formula Discharge``, the 168 doped-NCM compositions
   ``Li{Li}Ni{Ni}Co{Co}Mn{Mn}{dopant}{M}O2``), in that order; the rest are *perturbed*
   copies: a source formula (cycling through the list) with every amount multiplied by
   a random factor in [0.9, 1.1] (seed 0) and rounded to 3 decimals, written as a flat
   formula (``Li1.043Co0.951O2.07``). No formula repeats, so neither voltlab's per-call
   de-duplication nor pymatgen's formula cache (512 entries) shortens the work.
2. **voltlab.** ``MagpieFeaturizer().featurize_many(formulas)`` on all 10,000 strings:
   parsing included, 143 features (132 Magpie + 6 stoichiometry p-norms + 5 battery);
   minimum of 3 timed runs after one warm-up call on 100 other formulas (loads the tables).
3. **matminer.** ``ElementProperty.from_preset("magpie").featurize(Composition(f))`` plus
   ``Stoichiometry().featurize(...)`` per formula, in a plain loop (faster than matminer's
   ``featurize_many``, which adds per-item overhead and multiprocessing), on a random
   subsample (seed 1, default 2,000 formulas) timed once (a second pass would hit
   pymatgen's formula cache); its 10,000-formula time is extrapolated linearly from
   the subsample (stated in the results). Parsing (``Composition(f)``) is included.
4. **Agreement.** Max absolute difference, and max |diff| / max(1, |matminer|), of the 138 shared features
   (Magpie + stoichiometry) between the two on the subsample.
5. **Results.** ``benchmarks/results/featurize.md`` (for people) and ``featurize.json``
   (flat keys, units in the names). Goal: voltlab >= 100x matminer's formulas/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VOLTLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
N_SHARED_FEATURES = 138  # 132 Magpie + 6 stoichiometry p-norms, in matminer's order
GOAL_SPEEDUP = 100.0


def source_formulas() -> list[str]:
    """Distinct formulas of the shared datasets that pymatgen parses (skips the unparseable)."""
    from pymatgen.core import Composition

    obelix = pd.read_csv(SHARED / "obelix_solid_electrolyte_conductivity" / "all.csv")
    mp = pd.read_csv(SHARED / "materials_project_insertion_electrodes" / "mp_batteries.csv")
    ncm = pd.read_csv(SHARED / "doped_ncm_capacity" / "NMC_doped_with_dopant_and_doi.csv")
    raw = list(obelix["Reduced Composition"]) + list(mp["Formula Charge"]) + list(mp["Formula Discharge"])
    raw += [f"Li{r.Li}Ni{r.Ni}Co{r.Co}Mn{r.Mn}" + (f"{r.dopant}{r.M}" if r.M > 0 else "") + "O2"
            for r in ncm.itertuples()]
    out = []
    for f in dict.fromkeys(str(x).strip() for x in raw):
        try:
            Composition(f)
        except ValueError:
            continue
        out.append(f)
    return out


def perturbed(sources: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` distinct formulas: the sources, then perturbed copies (amounts x U[0.9, 1.1], 3 decimals)."""
    from pymatgen.core import Composition

    rng = np.random.default_rng(seed)
    out = list(dict.fromkeys(sources))[:n]
    seen = set(out)
    k = 0
    while len(out) < n:
        comp = Composition(sources[k % len(sources)]).element_composition
        k += 1
        f = "".join(f"{el.symbol}{round(float(a) * rng.uniform(0.9, 1.1), 3)!r}" for el, a in comp.items())
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    v = {p: version(p) for p in ("numpy", "pandas", "pymatgen", "matminer")}
    try:
        v["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        v["git"] = "unknown"
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--n", type=int, default=10_000, help="formulas featurised by voltlab")
    ap.add_argument("--matminer-subsample", type=int, default=2_000, help="formulas featurised by matminer")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    from matminer.featurizers.composition import ElementProperty, Stoichiometry
    from pymatgen.core import Composition

    from voltlab.features import MagpieFeaturizer

    load_start = os.getloadavg()[0]
    sources = source_formulas()
    formulas = perturbed(sources, args.n + 100)
    warm, formulas = formulas[args.n:], formulas[: args.n]
    assert len(set(formulas)) == args.n
    n_source = min(len(sources), args.n)

    feat = MagpieFeaturizer()
    feat.featurize_many(warm)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = feat.featurize_many(formulas)
        times.append(time.perf_counter() - t0)
    t_voltlab = min(times)

    rng = np.random.default_rng(1)
    sub_idx = np.sort(rng.choice(args.n, size=min(args.matminer_subsample, args.n), replace=False))
    sub = [formulas[i] for i in sub_idx]
    ep = ElementProperty.from_preset("magpie")
    sto = Stoichiometry()
    for f in warm[:20]:
        c = Composition(f)
        ep.featurize(c), sto.featurize(c)
    t0 = time.perf_counter()
    ref = []
    for f in sub:
        c = Composition(f)
        ref.append(ep.featurize(c) + sto.featurize(c))
    t_mm_sub = time.perf_counter() - t0
    ref_arr = np.array(ref, dtype=np.float64)
    t0 = time.perf_counter()
    ours_sub = feat.featurize_many(sub)
    t_voltlab_sub = time.perf_counter() - t0

    mine = ours.to_numpy()[sub_idx, :N_SHARED_FEATURES]
    diff = np.abs(mine - ref_arr)
    # Relative where values are large, absolute below 1 (avg_dev of one-element formulas is 0 exactly).
    scaled = diff / np.maximum(np.abs(ref_arr), 1.0)
    same_sub = np.allclose(ours_sub.to_numpy()[:, :N_SHARED_FEATURES], mine, rtol=0, atol=0, equal_nan=True)

    mm_rate = len(sub) / t_mm_sub
    v_rate = args.n / t_voltlab
    speedup = v_rate / mm_rate
    load_end = os.getloadavg()[0]
    ver = _versions()
    res = {
        "n_formulas": args.n,
        "n_formulas_from_shared_datasets": n_source,
        "n_formulas_perturbed": args.n - n_source,
        "n_features": ours.shape[1],
        "n_features_compared": N_SHARED_FEATURES,
        "matminer_subsample_formulas": len(sub),
        "voltlab_seconds": t_voltlab,
        "voltlab_formulas_per_second": v_rate,
        "voltlab_microseconds_per_formula": 1e6 * t_voltlab / args.n,
        "voltlab_subsample_seconds": t_voltlab_sub,
        "matminer_subsample_seconds": t_mm_sub,
        "matminer_formulas_per_second": mm_rate,
        "matminer_seconds_extrapolated": t_mm_sub * args.n / len(sub),
        "speedup_vs_matminer": speedup,
        "speedup_vs_matminer_same_subsample": t_mm_sub / t_voltlab_sub,
        "max_abs_diff_vs_matminer": float(diff.max()),
        "max_scaled_diff_vs_matminer": float(scaled.max()),
        "subsample_rows_equal_full_run": bool(same_sub),
        "goal_speedup": GOAL_SPEEDUP,
        "goal_met": bool(speedup >= GOAL_SPEEDUP),
        "load_average_1min_start": load_start,
        "load_average_1min_end": load_end,
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        **{f"{k}_version": v for k, v in ver.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "featurize.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    (args.out / "featurize.md").write_text(_markdown(res))
    print(json.dumps({k: res[k] for k in ("voltlab_formulas_per_second", "matminer_formulas_per_second",
                                           "speedup_vs_matminer", "max_abs_diff_vs_matminer")}, indent=1))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _markdown(r: dict) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    agree = "yes (<= 1e-9)" if r["max_scaled_diff_vs_matminer"] <= 1e-9 else "**no**"
    return f"""# voltlab composition featurisation benchmark

Generated by `benchmarks/featurize.py` on {now}. Machine-readable: `featurize.json`.

## Machine and versions

- {_cpu_name()}, {r["cpu_count"]} logical CPUs; {platform.platform()}
- Python {r["python_version"]}; voltlab (git {r["git_version"]}); numpy {r["numpy_version"]}, \
pandas {r["pandas_version"]}, pymatgen {r["pymatgen_version"]}, matminer {r["matminer_version"]}
- 1-min load average at start / end: {r["load_average_1min_start"]:.2f} / {r["load_average_1min_end"]:.2f} \
(the machine is shared; a load above the CPU count means other work ran at the same time, ratios are more \
reliable than absolute rates)

## Method

- {r["n_formulas"]:,} distinct formulas: {r["n_formulas_from_shared_datasets"]:,} distinct parseable formulas \
of the shared datasets (OBELiX reduced compositions, MP electrodes' charged and discharged formulas, doped NCM), \
then {r["n_formulas_perturbed"]:,} perturbed copies (each amount x U[0.9, 1.1], 3 decimals, seed 0). No formula \
repeats, so no cache shortens either tool's work.
- voltlab: `MagpieFeaturizer().featurize_many(formulas)` on all of them, parsing included, \
{r["n_features"]} features; min of 3 runs after a warm-up on other formulas.
- matminer: `ElementProperty.from_preset("magpie")` + `Stoichiometry()` on `Composition(f)` in a plain loop \
(parsing included), timed once on a random subsample of **{r["matminer_subsample_formulas"]:,}** formulas; \
its rate is **extrapolated** to {r["n_formulas"]:,} formulas linearly (featurisation is per formula, so the \
cost is linear in the count).
- Agreement: the {r["n_features_compared"]} features both compute (132 Magpie + 6 stoichiometry p-norms), \
on the subsample.

## Results

| quantity | voltlab | matminer |
|---|---:|---:|
| formulas/s | {r["voltlab_formulas_per_second"]:,.0f} | {r["matminer_formulas_per_second"]:,.0f} |
| s for {r["n_formulas"]:,} formulas | {r["voltlab_seconds"]:.3f} (measured) | \
{r["matminer_seconds_extrapolated"]:.1f} (extrapolated from {r["matminer_subsample_seconds"]:.1f} s \
for {r["matminer_subsample_formulas"]:,}) |
| µs per formula | {r["voltlab_microseconds_per_formula"]:.1f} | \
{1e6 / r["matminer_formulas_per_second"]:.0f} |

| goal | result | met |
|---|---|---|
| voltlab >= {r["goal_speedup"]:.0f}x matminer's throughput | **{r["speedup_vs_matminer"]:.0f}x** \
({r["speedup_vs_matminer_same_subsample"]:.0f}x on the same subsample, one timed run each) | {"yes" if r["goal_met"] else "**no**"} |
| same values as matminer | max abs diff {r["max_abs_diff_vs_matminer"]:.2e}, max \
abs diff / max(1, abs(matminer)) {r["max_scaled_diff_vs_matminer"]:.2e} over {r["n_features_compared"]} features x \
{r["matminer_subsample_formulas"]:,} formulas | {agree} |

Where the speed comes from: plain formulas (symbols and amounts) are parsed all at once, one Arrow \
regular-expression pass to pick them and numpy on their bytes for symbols and amounts; grouped ones by a \
small per-formula parser, pymatgen only for formulas outside its grammar. Then one (n_formulas x max elements per formula) table of element indices and \
amounts feeds numpy reductions for all 22 properties and 6 statistics at once; matminer builds a pymatgen \
`Composition` and loops in Python over 22 properties x 6 statistics per formula.
"""


if __name__ == "__main__":
    raise SystemExit(main())
