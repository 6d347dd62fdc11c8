"""Study ``fast-charge``: the fastest charge to 80 % SOC that does not plate lithium.

Pipeline: PyBaMM (SPMe + lumped thermal, Chen2020 by default) → CC-CV baseline (the
fastest constant-current rate that keeps the plating margin and the temperature
limit) → window-by-window search of a multi-step constant-current protocol (one C-rate
per SOC window), refined by Bayesian optimisation → optionally a reinforcement-learning (PPO) policy on the same
simulator. Every protocol is judged on the same constraints: the negative-electrode
plating overpotential margin stays ≥ ``min_plating_margin_volt`` (0 V by default), the cell stays ≤ ``tmax_celsius`` and the
voltage ≤ ``vmax_volt``. Uses :func:`voltlab.simulate.compare_fast_charge`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from voltlab.errors import StudyConfigError
from voltlab.studies.base import Figure, Series, StudyConfig, StudyResult, register_study, study_provenance

__all__ = ["FastChargeConfig", "run_fast_charge"]


@dataclass(frozen=True)
class FastChargeConfig(StudyConfig):
    """Configuration of the ``fast-charge`` study."""

    model: str = field(default="SPMe", metadata={"help": "PyBaMM model: SPM, SPMe or DFN"})
    parameters: str = field(default="Chen2020", metadata={"help": "PyBaMM parameter set"})
    windows: tuple[float, ...] = field(default=(0.0, 20.0, 40.0, 60.0, 80.0),
                                       metadata={"help": "SOC window boundaries (first = start, last = target)",
                                                 "unit": "%"})
    max_c_rate: float = field(default=4.0, metadata={"help": "highest C-rate searched", "unit": "1/h"})
    vmax_volt: float = field(default=4.2, metadata={"help": "voltage limit", "unit": "V"})
    tmax_celsius: float = field(default=45.0, metadata={"help": "temperature limit (lumped thermal)", "unit": "°C"})
    budget: int = field(default=30, metadata={"help": "protocols the BO campaign evaluates"})
    rl: bool = field(default=False, metadata={"help": "also train a PPO policy (minutes on 2 cores)"})
    rl_timesteps: int = field(default=1500, metadata={"help": "PPO environment steps"})
    period_second: float = field(default=20.0, metadata={"help": "simulation output period", "unit": "s"})
    min_plating_margin_volt: float = field(default=0.0, metadata={
        "help": "lowest plating margin allowed (0 = onset of plating; e.g. 0.01 for a safety margin)", "unit": "V"})

    def validate(self) -> None:
        w = self.windows
        if len(w) < 2 or any(b <= a for a, b in itertools.pairwise(w)) or w[0] < 0 or w[-1] > 100:
            raise StudyConfigError(f"config key 'windows': {list(w)} must rise from >= 0 to <= 100 % "
                                   "with at least two boundaries, e.g. [0, 20, 40, 60, 80]", value=w)
        if self.model not in ("SPM", "SPMe", "DFN"):
            raise StudyConfigError(f"config key 'model': {self.model!r} is not one of ['SPM', 'SPMe', 'DFN']")
        if not (0.0 <= self.min_plating_margin_volt < 0.5):
            raise StudyConfigError(f"config key 'min_plating_margin_volt' must be in [0, 0.5) V, got "
                                   f"{self.min_plating_margin_volt}", value=self.min_plating_margin_volt)
        for key in ("max_c_rate", "vmax_volt", "tmax_celsius", "period_second"):
            if getattr(self, key) <= 0:
                raise StudyConfigError(f"config key {key!r} must be > 0, got {getattr(self, key)}")
        if self.budget < 2:
            raise StudyConfigError(f"config key 'budget' must be >= 2, got {self.budget}")
        if self.rl_timesteps < 64:
            raise StudyConfigError(f"config key 'rl_timesteps' must be >= 64, got {self.rl_timesteps}")


@register_study("fast-charge", title="10-minute fast charging without lithium plating",
                question="What is the fastest charge to the target SOC that keeps the plating margin, "
                         "the voltage and the temperature limits?",
                config=FastChargeConfig, runtime="≈ 100 s (+ ≈ 3 min with rl = true)")
def run_fast_charge(config: FastChargeConfig, *, data: Path | None, out_dir: Path,
                    progress: Callable[[str], None]) -> StudyResult:
    """Run the study (see the module docstring)."""
    from voltlab.simulate import compare_fast_charge

    progress(f"CC-CV baseline, window search and BO over {len(config.windows) - 1} SOC windows "
             f"({config.budget} protocols)")
    comp = compare_fast_charge(model=config.model, parameters=config.parameters, windows=config.windows,
                               max_c_rate=config.max_c_rate, vmax_volt=config.vmax_volt,
                               tmax_celsius=config.tmax_celsius, budget=config.budget, seed=config.seed,
                               rl=config.rl, rl_timesteps=config.rl_timesteps, period_second=config.period_second,
                               min_plating_margin_volt=config.min_plating_margin_volt)
    flat = comp["flat"]
    rows = comp["rows"]
    target = config.windows[-1]
    table = pd.DataFrame([
        {"method": name, **({"protocol": e.protocol.describe(), "time_to_target_min": e.time_to_target_min,
                             "min_plating_margin_volt": e.min_plating_margin_volt,
                             "max_temperature_celsius": e.max_temperature_celsius,
                             "max_voltage_volt": e.max_voltage_volt, "feasible": e.feasible}
                            if e is not None else {"protocol": "none found"})}
        for name, e in rows.items()])
    design = comp["design"]
    log = pd.DataFrame([{"evaluation": i + 1, "source": source, "protocol": e.protocol.describe(),
                         "time_to_target_min": e.time_to_target_min,
                         "min_plating_margin_volt": e.min_plating_margin_volt,
                         "max_temperature_celsius": e.max_temperature_celsius, "feasible": e.feasible}
                        for i, (e, source) in enumerate(zip(design.evaluations, design.sources, strict=True))])
    from voltlab.simulate import protocol_trace

    figures = []
    traces = {name: protocol_trace(e.protocol, model=config.model, parameters=config.parameters,
                                   period_second=config.period_second)
              for name, e in rows.items() if e is not None}
    if traces:
        def series(col: str) -> list[Series]:
            return [Series(n, t["time_min"].tolist(), t[col].tolist()) for n, t in traces.items()]

        figures.append(Figure("soc", f"State of charge during the charge (target {target:g} %)", "time (min)",
                              "SOC (%)", series("soc_percent")))
        figures.append(Figure("plating", "Plating margin (negative-electrode potential vs Li/Li+)", "time (min)",
                              "plating margin (V)", series("plating_margin_volt"),
                              note="Below 0 V lithium plating is thermodynamically possible; a feasible protocol "
                                   "stays above it up to the target SOC."))
        figures.append(Figure("current", "Charging current", "time (min)", "C-rate (1/h)", series("c_rate")))
        figures.append(Figure("temperature", "Cell temperature (lumped)", "time (min)", "temperature (°C)",
                              series("temperature_celsius")))
    if len(log):
        best, trace = math.inf, []
        for t, ok in zip(log["time_to_target_min"], log["feasible"], strict=True):
            if ok:
                best = min(best, float(t))
            trace.append(best if math.isfinite(best) else None)
        xs = [i for i, v in enumerate(trace, start=1) if v is not None]
        figures.append(Figure("convergence", "Campaign (CC-CV-rate point, window-search start, then BO proposals): "
                                             "fastest feasible protocol so far", "evaluations",
                              "time to target (min)",
                              [Series("BO multi-step", xs, [v for v in trace if v is not None], mode="lines+markers"),
                               Series("CC-CV baseline", [1, len(trace)], [flat["cccv_time_to_target_min"]] * 2,
                                      dash=True)]))
    bo_t = flat.get("bo_time_to_target_min", math.nan)
    metrics = {"cccv_time_to_target_min": float(flat["cccv_time_to_target_min"]),
               "bo_time_to_target_min": float(bo_t), "bo_speedup_vs_cccv_percent": float(flat["bo_speedup_vs_cccv_percent"]),
               "bo_min_plating_margin_volt": float(flat.get("bo_min_plating_margin_volt", math.nan)),
               "bo_max_temperature_celsius": float(flat.get("bo_max_temperature_celsius", math.nan)),
               "cccv_best_c_rate": float(flat["cccv_best_c_rate"]), "bo_evaluations": float(flat["bo_evaluations"]),
               "window_search_simulations": float(flat["window_search_simulations"])}
    if "window_search_time_to_target_min" in flat:
        metrics["window_search_time_to_target_min"] = float(flat["window_search_time_to_target_min"])
    if "rl_time_to_target_min" in flat:
        metrics["rl_time_to_target_min"] = float(flat["rl_time_to_target_min"])
        metrics["rl_speedup_vs_cccv_percent"] = float(flat["rl_speedup_vs_cccv_percent"])
    ten = "meets" if bo_t <= 10.0 else "does not meet"
    answer = (f"The best CC-CV charge ({flat['cccv_best_c_rate']:.2f}C) reaches {target:g} % SOC in "
              f"{flat['cccv_time_to_target_min']:.1f} min; the BO multi-step protocol "
              f"({flat.get('bo_protocol', 'none')}) takes {bo_t:.1f} min, {flat['bo_speedup_vs_cccv_percent']:.0f} % "
              f"faster, with the plating margin ≥ {1000 * config.min_plating_margin_volt:g} mV and "
              f"T ≤ {config.tmax_celsius:g} °C. It {ten} the 10-minute goal "
              f"for this {config.parameters} cell.")
    kpis = {"CC-CV time": f"{flat['cccv_time_to_target_min']:.1f} min",
            "BO protocol time": f"{bo_t:.1f} min",
            "speed-up vs CC-CV": f"{flat['bo_speedup_vs_cccv_percent']:.0f} %",
            "BO min plating margin": f"{1000 * metrics['bo_min_plating_margin_volt']:.0f} mV"}
    if "rl_time_to_target_min" in metrics:
        kpis["RL (PPO) time"] = f"{metrics['rl_time_to_target_min']:.1f} min"
    notes = [f"Simulated cell: PyBaMM {config.model} with the {config.parameters} parameter set and a lumped "
             "thermal model; the plating criterion is the negative-electrode surface overpotential against Li/Li+, "
             "a conservative threshold (real plating onset depends on kinetics the model does not include).",
             "The protocol is a multi-step CC, one C-rate per SOC window, each step stopping at the voltage limit, "
             "finished by CC-CV to the target."]
    if comp["flat"].get("rl_error"):
        notes.append(f"RL found no feasible policy: {comp['flat']['rl_error']}")
    return StudyResult(
        "fast-charge", "10-minute fast charging without lithium plating",
        question=f"What is the fastest charge from {config.windows[0]:g} to {target:g} % SOC that keeps the "
                 f"plating margin ≥ 0 V, V ≤ {config.vmax_volt:g} V and T ≤ {config.tmax_celsius:g} °C?",
        answer=answer, metrics=metrics, kpis=kpis, tables={"Protocols compared": table, "BO campaign log": log},
        figures=figures, notes=notes,
        model_cards=[{"model": f"PyBaMM {config.model}", "parameters": config.parameters, "thermal": "lumped",
                      "output period (s)": config.period_second,
                      "constraints": f"plating margin >= 0 V, V <= {config.vmax_volt} V, T <= {config.tmax_celsius} °C"}],
        provenance=study_provenance("fast-charge", config))
