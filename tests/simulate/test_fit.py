"""fit_parameters: PyBOP recovers two diffusivities from a noisy synthetic SPM discharge."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pybop")

from voltlab.data.cycling import CyclingData
from voltlab.simulate import FitParameter, SimulationSetupError, fit_parameters, simulate

from .conftest import DN

DP = "Positive particle diffusivity [m2.s-1]"
TRUTH = {DN: 3.3e-14, DP: 4e-15}  # Chen2020
NOISE_V = 0.002


@pytest.fixture(scope="module")
def noisy_discharge() -> CyclingData:
    data = simulate("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0,
                    period_second=10.0).to_cycling_data("synthetic")
    ts = data.timeseries.copy()
    ts["voltage_volt"] += np.random.default_rng(1).normal(0.0, NOISE_V, len(ts))
    return CyclingData(ts, data.metadata)


def test_two_diffusivities_recovered_within_2_percent(noisy_discharge):
    guesses = [FitParameter(DN, 1.5e-14, (3e-15, 3e-13)), FitParameter(DP, 8e-15, (4e-16, 4e-14))]
    res = fit_parameters(noisy_discharge, guesses, initial_soc=1.0)
    assert res.moved
    for name, err in res.relative_error(TRUTH).items():
        assert abs(err) < 0.02, (name, err)
    # At the optimum only the noise is left: RMSE near 2 mV, far below the guess's.
    assert 0.7 * NOISE_V < res.rmse_volt < 1.2 * NOISE_V
    assert res.initial_rmse_volt > 10 * res.rmse_volt
    assert res.optimiser == "NelderMead" and res.n_evaluations > 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimiser": "AdamW"}, r"not one of the gradient-free"),
        ({"parameters": [FitParameter("Negative particle diffusivity [m2.s]", 1e-14, (1e-15, 1e-13))]},
         r"did you mean 'Negative particle diffusivity \[m2\.s-1\]'"),
    ],
)
def test_bad_fit_setup(noisy_discharge, kwargs, match):
    args = {"parameters": [FitParameter(DN, 1.5e-14, (3e-15, 3e-13))], **kwargs}
    with pytest.raises(SimulationSetupError, match=match):
        fit_parameters(noisy_discharge, **args)


def test_fit_parameter_checks_bounds():
    with pytest.raises(SimulationSetupError, match="initial value inside"):
        FitParameter(DN, 1e-12, (1e-15, 1e-13))
    with pytest.raises(SimulationSetupError, match="log_scale needs positive bounds"):
        FitParameter("x", 0.0, (-1.0, 1.0))
