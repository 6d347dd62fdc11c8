"""PyBaMM simulation, wrapped thinly: models and parameter sets by name, experiments as step strings.

:class:`Simulator` builds a PyBaMM model once (IDAKLU solver) and solves it
for many input-parameter values; :func:`simulate` is the one-shot form and
:func:`sweep` solves many points on worker processes. A
:class:`SimulationResult` converts to a voltlab
:class:`~voltlab.data.cycling.CyclingData` (canonical schema: current
positive on charge, capacities cumulative within a cycle) and gives
per-cycle capacity fade and degradation modes (LLI, LAM) for ageing runs.

PyBaMM is imported only when a simulator is created.

Examples
--------
>>> from voltlab.simulate import simulate
>>> result = simulate("SPM", "Chen2020", ["Discharge at 1C until 3.0 V"], initial_soc=1.0)
>>> data = result.to_cycling_data("spm_1C")
>>> bool((data.timeseries["current_ampere"] < 0).any())
True
"""

from __future__ import annotations

from voltlab.simulate.base import (
    AGEING_OPTIONS,
    MODELS,
    THERMAL_OPTIONS,
    SimulationSetupError,
    SimulationSpec,
)
from voltlab.simulate.batch import sweep
from voltlab.simulate.fastcharge import (
    FADE_PLATING,
    FADE_SEI,
    PLATING_VARIABLE,
    CCCVProtocol,
    ChargeProtocol,
    FadeEvaluation,
    FadeParetoDesign,
    FastChargeDesign,
    ProtocolEvaluation,
    cccv_baseline,
    compare_fast_charge,
    design_fast_charge,
    design_fast_charge_pareto,
    evaluate_protocol,
    protocol_fade,
    protocol_trace,
    window_search,
    write_fast_charge_report,
)
from voltlab.simulate.fit import GRADIENT_FREE_OPTIMISERS, FitParameter, FitResult, fit_parameters
from voltlab.simulate.material import CellEstimate, cell_energy_density, practical_cathode_capacity
from voltlab.simulate.result import DEGRADATION_VARIABLES, SimulationFailure, SimulationResult
from voltlab.simulate.rl import FastChargeEnv, RLResult, train_rl_protocol
from voltlab.simulate.simulator import Simulator, simulate

__all__ = [
    "AGEING_OPTIONS",
    "DEGRADATION_VARIABLES",
    "FADE_PLATING",
    "FADE_SEI",
    "GRADIENT_FREE_OPTIMISERS",
    "MODELS",
    "PLATING_VARIABLE",
    "THERMAL_OPTIONS",
    "CCCVProtocol",
    "CellEstimate",
    "ChargeProtocol",
    "FadeEvaluation",
    "FadeParetoDesign",
    "FastChargeDesign",
    "FastChargeEnv",
    "FitParameter",
    "FitResult",
    "ProtocolEvaluation",
    "RLResult",
    "SimulationFailure",
    "SimulationResult",
    "SimulationSetupError",
    "SimulationSpec",
    "Simulator",
    "cccv_baseline",
    "cell_energy_density",
    "compare_fast_charge",
    "design_fast_charge",
    "design_fast_charge_pareto",
    "evaluate_protocol",
    "fit_parameters",
    "practical_cathode_capacity",
    "protocol_fade",
    "protocol_trace",
    "simulate",
    "sweep",
    "train_rl_protocol",
    "window_search",
    "write_fast_charge_report",
]
