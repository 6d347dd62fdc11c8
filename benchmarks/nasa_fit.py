#!/usr/bin/env python
"""``voltlab fit`` on real data: PyBaMM SPM fitted to NASA PCoE B0005 2 A discharges.

Run from the repository root::

    .venv/bin/python benchmarks/nasa_fit.py

Data: ``../shared/data/nasa_pcoe_battery_aging/discharge_curves/B0005.csv`` (set
``VOLTLAB_SHARED_DATA`` to the ``shared/data`` folder elsewhere), read with ``--format
nasa_pcoe_csv``. The step is the discharge (the longest run of samples below -2 % of the
cycle's peak current: the 2 A CC discharge from 4.2 V to the cut-off, without the relaxation tail).

Settings (the same code path as ``voltlab fit``: ``load_fit_source`` -> ``select_step`` -> ``run_fit``)
------------------------------------------------------------------------------------------------------
* Model SPM with PyBaMM's ``"contact resistance"`` option, parameter set ``Ai2020`` (LCO/graphite),
  initial SOC 1 (the discharge starts after the CV charge to 4.2 V), ``Lower voltage cut-off [V]``
  set to 2.0 V (Ai2020's 3.0 V would stop the model before the data end at 2.6 V).
* Fitted: ``Electrode width [m]`` in 0.01-0.1 m (the cell's size: capacity and current density
  scale with it) and ``Contact resistance [Ohm]`` in 0.001-0.3 Ohm (the ohmic drop), both log-scale,
  starting from the geometric means of the bounds.
* Optimiser NelderMead (deterministic), at most 300 iterations, 30 without improvement; seed 0 for
  the CMAES comparison.

Also measured: the same fit at cycles 50, 100 and 168 (ageing), CMAES instead of NelderMead on
cycle 1, and the other PyBaMM parameter sets with the same two parameters on cycle 1 (why Ai2020).
Writes ``benchmarks/results/nasa_fit.md`` and ``nasa_fit.json``. About 1-2 min on 2 cores.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent / "src"))

from voltlab.commands.fit import load_fit_source, parse_fit_parameter, run_fit, select_step  # noqa: E402

CELL = "B0005"
PARAMETER_SET = "Ai2020"
MODEL = "SPM"
PARAMS = ("Electrode width [m]=0.01:0.1", "Contact resistance [Ohm]=0.001:0.3")
OVERRIDES = {"Lower voltage cut-off [V]": 2.0}
MAX_ITERATIONS = 300
SEED = 0
AGEING_CYCLES = (1, 50, 100, 168)
OTHER_SETS = ("Chen2020", "Marquis2019", "Mohtat2020", "NCA_Kim2011", "Ecker2015")


def _shared() -> Path:
    base = Path(os.environ.get("VOLTLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
    return base / "nasa_pcoe_battery_aging" / "discharge_curves" / f"{CELL}.csv"


def _fit(data: Any, cycle: int, params: tuple[str, ...], parameter_set: str = PARAMETER_SET,
         optimiser: str = "NelderMead") -> dict[str, Any]:
    step = select_step(data, cycle, "discharge")
    fit_params = [parse_fit_parameter(p) for p in params]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyBaMM's OCP-extrapolation warnings; counted in the docs instead
        rep = run_fit(step, fit_params, model=MODEL, parameter_set=parameter_set, overrides=OVERRIDES,
                      initial_soc=1.0, optimiser=optimiser, max_iterations=MAX_ITERATIONS, seed=SEED,
                      settings={"cell_id": CELL, "cycle": cycle, "step": "discharge"})
    flat = rep.flat()
    flat["total_wall_time_second"] = time.perf_counter() - t0
    flat["measured_capacity_ah"] = float(step.timeseries["discharging_capacity_ah"].max()
                                         - step.timeseries["discharging_capacity_ah"].min())
    return flat


def _other_set_params(parameter_set: str) -> tuple[str, ...]:
    """Width bounds 1/3-3x the width that scales the set's nominal capacity to 1.86 Ah."""
    import pybamm

    pv = pybamm.ParameterValues(parameter_set)
    w = float(pv["Electrode width [m]"]) * 1.86 / float(pv["Nominal cell capacity [A.h]"])
    return (f"Electrode width [m]={w / 3:.6g}:{w * 3:.6g}", PARAMS[1])


def _key(text: str) -> str:
    """A JSON key from a PyBaMM name: ``'Electrode width [m]'`` -> ``'electrode_width_m'``."""
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def flat_results(payload: dict) -> dict:
    """One level of keys, units in the names (the benchmarks' JSON convention)."""
    out = {k: payload[k] for k in ("generated", "git", "machine", "total_runtime_second")}
    numeric = ("rmse_millivolt", "max_abs_error_millivolt", "n_evaluations", "wall_time_second", "n_samples")
    for prefix, r in [("headline", payload["headline"]), ("cmaes", payload["cmaes"])]:
        for k in numeric:
            if k in r:
                out[f"{prefix}_{k}"] = r[k]
        for p in r.get("fitted_parameters", []):
            for kind in ("fitted", "std"):
                if f"{kind}: {p}" in r:
                    out[f"{prefix}_{kind}_{_key(p)}"] = r[f"{kind}: {p}"]
    h = payload["headline"]
    for k in ("cell_id", "cycle", "model", "parameter_set", "optimiser", "max_iterations", "seed"):
        out[f"headline_{k}"] = h[k]
    for r in payload["ageing"]:
        if "rmse_millivolt" in r:
            out[f"cycle{r['cycle']}_rmse_millivolt"] = r["rmse_millivolt"]
    for r in payload["other_parameter_sets"]:
        if "rmse_millivolt" in r:
            out[f"set_{_key(r['parameter_set'])}_rmse_millivolt"] = r["rmse_millivolt"]
    return out


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    t_all = time.perf_counter()
    path = _shared()
    data = load_fit_source(str(path), format="nasa_pcoe_csv")
    headline = _fit(data, 1, PARAMS)
    ageing = [headline] + [_fit(data, c, PARAMS) for c in AGEING_CYCLES[1:]]
    cmaes = _fit(data, 1, PARAMS, optimiser="CMAES")
    others = []
    for s in OTHER_SETS:
        try:
            others.append(_fit(data, 1, _other_set_params(s), parameter_set=s))
        except Exception as exc:  # noqa: BLE001 - a set that cannot run is reported, not fatal
            others.append({"parameter_set": s, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    total = time.perf_counter() - t_all
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    W, R = "Electrode width [m]", "Contact resistance [Ohm]"

    def pm(row: dict[str, Any], name: str, fmt: str) -> str:
        sd = row.get(f"std: {name}")
        return f"{row[f'fitted: {name}']:{fmt}} ± {sd:{fmt}}" if sd is not None else f"{row[f'fitted: {name}']:{fmt}}"

    h = headline
    lines = [
        "# `voltlab fit` on NASA PCoE B0005 (PyBaMM SPM, PyBOP)",
        "",
        f"Generated by `benchmarks/nasa_fit.py` on {stamp} (voltlab git {_git()}). Machine-readable: "
        "`nasa_fit.json`.",
        "",
        "## Settings",
        "",
        f"- Data: `{CELL}.csv` of `../shared/data/nasa_pcoe_battery_aging/discharge_curves` (`--format "
        "nasa_pcoe_csv`), the 2 A CC discharge of each cycle (relaxation tail excluded), 18650, 2 Ah rated, "
        "24 °C ambient.",
        f"- Model `{MODEL}` + `contact resistance` option, parameter set `{PARAMETER_SET}`, initial SOC 1, "
        f"override `Lower voltage cut-off [V]` = {OVERRIDES['Lower voltage cut-off [V]']} V.",
        f"- Fitted (log scale, start at the geometric mean of the bounds): `{PARAMS[0]}`, `{PARAMS[1]}`.",
        f"- Optimiser NelderMead, max {MAX_ITERATIONS} iterations (30 unchanged), seed {SEED}.",
        f"- Runtime: {total:.0f} s for everything below on {machine}; the headline fit "
        f"{h['total_wall_time_second']:.1f} s ({h['n_evaluations']} solves).",
        "",
        "Equivalent command:",
        "",
        "```bash",
        f"voltlab fit ../shared/data/nasa_pcoe_battery_aging/discharge_curves/{CELL}.csv --format nasa_pcoe_csv \\",
        f"    --cycle 1 --model {MODEL} --parameters {PARAMETER_SET} --set 'Lower voltage cut-off [V]=2.0' \\",
        f"    --param '{PARAMS[0]}' --param '{PARAMS[1]}' --seed {SEED} --out b0005_c1.json --plot b0005_c1.png",
        "```",
        "",
        "## Headline: B0005 cycle 1",
        "",
        f"**RMSE {h['rmse_millivolt']:.1f} mV** over {h['n_samples']} samples ({h['duration_second']:.0f} s of "
        f"discharge, {h['measured_capacity_ah']:.3f} Ah), max |error| {h['max_abs_error_millivolt']:.1f} mV.",
        f"Fitted `{W}` = {pm(h, W, '.5f')}, `{R}` = {pm(h, R, '.4f')} (± 1 sd, Gauss-Newton; it assumes "
        "independent errors, and the residual here is model error, so the real uncertainty is larger).",
        "",
        "## Ageing: same fit at later cycles",
        "",
        "| cycle | capacity [Ah] | RMSE [mV] | max abs error [mV] | electrode width [m] | contact resistance [Ohm] "
        "| solves | time [s] |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ageing:
        lines.append(
            f"| {r['cycle']} | {r['measured_capacity_ah']:.3f} | {r['rmse_millivolt']:.1f} | "
            f"{r['max_abs_error_millivolt']:.1f} | {r[f'fitted: {W}']:.5f} | {r[f'fitted: {R}']:.4f} | "
            f"{r['n_evaluations']} | {r['total_wall_time_second']:.1f} |")
    lines += [
        "",
        "## Optimiser: CMAES (seed 0) on cycle 1",
        "",
        f"RMSE {cmaes['rmse_millivolt']:.2f} mV vs NelderMead {h['rmse_millivolt']:.2f} mV; width "
        f"{cmaes[f'fitted: {W}']:.5f} m, contact resistance {cmaes[f'fitted: {R}']:.4f} Ohm, "
        f"{cmaes['n_evaluations']} solves, {cmaes['total_wall_time_second']:.1f} s.",
        "",
        "## Why Ai2020: other parameter sets, same two parameters, cycle 1",
        "",
        "Width bounds 1/3-3x the width that scales each set's nominal capacity to 1.86 Ah.",
        "",
        "| parameter set | chemistry | RMSE [mV] | max abs error [mV] |",
        "|---|---|---:|---:|",
        f"| Ai2020 | LCO / graphite | {h['rmse_millivolt']:.1f} | {h['max_abs_error_millivolt']:.1f} |",
    ]
    chem = {"Chen2020": "NMC811 / graphite-SiOx", "Marquis2019": "LCO / graphite", "Mohtat2020": "NMC532 / graphite",
            "NCA_Kim2011": "NCA / graphite", "Ecker2015": "NMC / graphite"}
    for r in others:
        s = r["parameter_set"]
        if "error" in r:
            lines.append(f"| {s} | {chem[s]} | failed: {r['error']} | |")
        else:
            lines.append(f"| {s} | {chem[s]} | {r['rmse_millivolt']:.1f} | {r['max_abs_error_millivolt']:.1f} |")
    lines += [
        "",
        "## What limits the fit",
        "",
        "- NASA does not publish the cells' chemistry or design; Ai2020 (an LCO/graphite pouch cell) has the "
        "closest open-circuit-voltage shape of the sets tried, but it is not this cell's.",
        "- The largest errors are at the first samples after the current is switched on (the measured "
        "transient is not a pure series resistance) and in the final knee below 3.3 V.",
        "- The data run to 2.6 V, below Ai2020's 3.0 V cut-off: the LCO OCP table is extrapolated at the end "
        "of discharge (PyBaMM warns).",
        "- Aged cycles fit worse (35-49 mV at cycles 100-168): a smaller electrode (width) stands in for "
        "both lithium-inventory and active-material loss, which shift the electrodes' stoichiometry windows "
        "differently; fitting the initial stoichiometries as well would be the next step.",
        "- SPM has no electrolyte polarisation; the contact resistance absorbs all ohmic and part of the "
        "kinetic overpotential, so it is an effective series resistance, not a measured one.",
        "- Isothermal at 25 °C (Ai2020 ambient 298.15 K) while the cell warms from 24 to about 39 °C during the discharge.",
        "- The Gauss-Newton sd is small (well under 1 %) because many samples constrain two parameters; it "
        "does not include the model error.",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nasa_fit.md").write_text("\n".join(lines) + "\n")
    payload = {"generated": stamp, "git": _git(), "machine": machine, "total_runtime_second": total,
               "headline": headline, "ageing": ageing, "cmaes": cmaes, "other_parameter_sets": others}
    (RESULTS / "nasa_fit.json").write_text(json.dumps(flat_results(payload), indent=1, default=str) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
