"""Material to cell: stack energy density from a cathode's specific capacity and voltage."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from voltlab.errors import VoltlabError
from voltlab.simulate.base import SimulationSetupError
from voltlab.simulate.material import (
    READ_PARAMETERS,
    CellEstimate,
    cell_energy_density,
    practical_cathode_capacity,
)

# The sets' nominal cell capacity is 5.0 Ah over 0.065 m x 1.58 m = 0.1027 m² (LG M50).
NOMINAL_AH = 5.0
NOMINAL_MAH_CM2 = NOMINAL_AH / (0.065 * 1.58) * 0.1  # 4.869 mAh/cm²
F = 96485.33212


@pytest.mark.parametrize(("name", "expected"), [("OKane2022", 201.76), ("Chen2020", 203.47)])
def test_practical_cathode_capacity_of_the_set(name, expected):
    # c_max,p x (y_0 - y_100) x F / rho_AM, rho_AM = 3262 / (1 - 0.335) = 4905 kg/m³ (NMC811 crystal ~4.8-4.9).
    q = practical_cathode_capacity(name)
    assert q == pytest.approx(expected, abs=0.05)
    assert 190.0 < q < 215.0  # a practical NMC811 capacity, not the 275 mAh/g theoretical one


@pytest.mark.parametrize("name", ["OKane2022", "Chen2020"])
def test_own_cathode_reproduces_nominal_capacity(name):
    est = cell_energy_density(practical_cathode_capacity(name), 3.7, parameters=name)
    # Round trip: the set's own material keeps the set's cathode coating.
    assert est.cathode_thickness_um == pytest.approx(75.6, rel=1e-9)
    assert est.positive_electrode_mass_mg_cm2 == pytest.approx(3262.0 * 75.6e-6 * 100, rel=1e-9)
    # Against the set's nominal capacity (a number it states, not one the mapping computes): within 4 %.
    assert est.cell_capacity_ah == pytest.approx(NOMINAL_AH, rel=0.04)
    assert est.cell_areal_capacity_mah_cm2 == pytest.approx(NOMINAL_MAH_CM2, rel=0.04)
    assert est.nominal_cell_capacity_ah == NOMINAL_AH
    # By hand: eps_AM x L x c_max x window x F, with the eSOH window, in mAh/cm².
    r = est.parameters_read
    window = r["eSOH positive stoichiometry at 0 % SOC (y_0)"] - r["eSOH positive stoichiometry at 100 % SOC (y_100)"]
    by_hand = 0.665 * 75.6e-6 * 63104.0 * window * F / 3600 * 0.1
    assert est.cathode_areal_capacity_mah_cm2 == pytest.approx(by_hand, rel=1e-9)
    # N/P: graphite at full lithiation over the cathode's reversible capacity.
    q_neg = 0.75 * 85.2e-6 * 33133.0 * F / 3600 * 0.1
    assert est.n_p_ratio == pytest.approx(q_neg / by_hand, rel=1e-9)
    assert 1.05 < est.n_p_ratio < 1.2


def test_worked_example_okane2022():
    est = cell_energy_density(200.0, 3.7, parameters="OKane2022")
    assert est.cathode_areal_capacity_mah_cm2 == pytest.approx(4.976, abs=1e-3)
    assert est.cathode_thickness_um == pytest.approx(76.27, abs=0.01)
    assert est.cathode_active_mass_mg_cm2 == pytest.approx(24.88, abs=0.01)
    assert est.stack_mass_mg_cm2 == pytest.approx(53.31, abs=0.01)
    assert est.gravimetric_energy_density_wh_kg == pytest.approx(345.4, abs=0.1)
    assert est.volumetric_energy_density_wh_l == pytest.approx(982.0, abs=0.1)
    assert sum(est.masses_mg_cm2.values()) == pytest.approx(est.stack_mass_mg_cm2, rel=1e-12)
    assert est.areal_energy_mwh_cm2 == pytest.approx(est.cell_areal_capacity_mah_cm2 * 3.7, rel=1e-12)


def test_higher_capacity_raises_energy_density_sublinearly():
    qs = [120.0, 160.0, 200.0, 240.0, 280.0]
    ests = [cell_energy_density(q, 3.7) for q in qs]
    wh_kg = [e.gravimetric_energy_density_wh_kg for e in ests]
    wh_l = [e.volumetric_energy_density_wh_l for e in ests]
    assert all(b > a for a, b in itertools.pairwise(wh_kg))
    assert all(b > a for a, b in itertools.pairwise(wh_l))
    # N/P kept, anode fixed: same areal capacity, less cathode mass.
    assert len({round(e.cathode_areal_capacity_mah_cm2, 12) for e in ests}) == 1
    assert all(b.cathode_thickness_um < a.cathode_thickness_um for a, b in itertools.pairwise(ests))
    # Sublinear: the fixed inactive mass makes the gain per mAh/g shrink.
    gains = [b - a for a, b in itertools.pairwise(wh_kg)]
    assert all(b < a for a, b in itertools.pairwise(gains))
    assert wh_kg[-1] / wh_kg[0] < qs[-1] / qs[0]


def test_doubling_voltage_doubles_energy():
    low, high = cell_energy_density(200.0, 2.0), cell_energy_density(200.0, 4.0)
    assert high.gravimetric_energy_density_wh_kg == pytest.approx(2 * low.gravimetric_energy_density_wh_kg, rel=1e-12)
    assert high.volumetric_energy_density_wh_l == pytest.approx(2 * low.volumetric_energy_density_wh_l, rel=1e-12)
    assert high.cell_energy_wh == pytest.approx(2 * low.cell_energy_wh, rel=1e-12)
    assert high.stack_mass_mg_cm2 == low.stack_mass_mg_cm2


def test_design_options():
    base = cell_energy_density(200.0, 3.7)
    # A larger N/P: less cathode capacity for the same anode.
    more = cell_energy_density(200.0, 3.7, n_p_ratio=1.3)
    assert more.cathode_areal_capacity_mah_cm2 * 1.3 == pytest.approx(
        base.cathode_areal_capacity_mah_cm2 * base.n_p_ratio, rel=1e-12)
    same = cell_energy_density(200.0, 3.7, n_p_ratio=base.n_p_ratio)
    assert same.gravimetric_energy_density_wh_kg == pytest.approx(base.gravimetric_energy_density_wh_kg, rel=1e-12)
    # Single-sided: both collectors counted fully.
    single = cell_energy_density(200.0, 3.7, double_sided=False)
    assert single.negative_current_collector_mass_mg_cm2 == pytest.approx(
        2 * base.negative_current_collector_mass_mg_cm2)
    assert single.gravimetric_energy_density_wh_kg < base.gravimetric_energy_density_wh_kg
    # No electrolyte counted.
    dry = cell_energy_density(200.0, 3.7, electrolyte_density_kg_m3=0.0)
    assert dry.electrolyte_mass_mg_cm2 == 0.0
    assert dry.gravimetric_energy_density_wh_kg > base.gravimetric_energy_density_wh_kg
    # A lighter active material (LFP-like 3600 kg/m³): thicker coating, same dry mass, lower Wh/L.
    light = cell_energy_density(200.0, 3.7, cathode_active_density_kg_m3=3600.0)
    assert light.cathode_thickness_um == pytest.approx(base.cathode_thickness_um * 4905.263157894737 / 3600, rel=1e-9)
    assert light.positive_electrode_mass_mg_cm2 == pytest.approx(base.positive_electrode_mass_mg_cm2, rel=1e-12)
    assert light.volumetric_energy_density_wh_l < base.volumetric_energy_density_wh_l


def test_result_is_frozen_and_names_what_it_read():
    est = cell_energy_density(200.0, 3.7)
    assert isinstance(est, CellEstimate)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.average_voltage_volt = 4.0  # type: ignore[misc]
    assert set(READ_PARAMETERS) <= set(est.parameters_read)
    assert all(math.isfinite(v) for v in est.parameters_read.values())
    assert est.to_dict()["gravimetric_energy_density_wh_kg"] == est.gravimetric_energy_density_wh_kg


@pytest.mark.parametrize("capacity", [0.0, -10.0, math.nan, math.inf, "200"])
def test_bad_capacity(capacity):
    with pytest.raises(SimulationSetupError, match="specific_capacity_mah_g") as info:
        cell_energy_density(capacity, 3.7)
    assert isinstance(info.value, ValueError) and isinstance(info.value, VoltlabError)
    assert "mAh" in str(info.value)


@pytest.mark.parametrize("voltage", [0.5, 5.6, math.nan])
def test_bad_voltage(voltage):
    with pytest.raises(SimulationSetupError, match="average_voltage_volt"):
        cell_energy_density(200.0, voltage)


def test_millivolts_are_named():
    with pytest.raises(SimulationSetupError, match="1-5.5 V.*millivolts"):
        cell_energy_density(200.0, 3700.0)


def test_unknown_parameter_set_lists_close_names():
    with pytest.raises(SimulationSetupError, match="did you mean 'OKane2022'"):
        cell_energy_density(200.0, 3.7, parameters="OKane2021")
    with pytest.raises(SimulationSetupError, match="parameter set name"):
        cell_energy_density(200.0, 3.7, parameters=None)  # type: ignore[arg-type]


def test_missing_density_is_named_and_can_be_given():
    # Prada2013 (LFP) has no densities and no current collectors: all are named at once.
    with pytest.raises(SimulationSetupError, match=r"Prada2013.*'Positive electrode density \[kg\.m-3\]'.*overrides"
                       ) as info:
        cell_energy_density(160.0, 3.3, parameters="Prada2013")
    assert "Separator density [kg.m-3]" in str(info.value)
    lfp = {
        "Negative current collector thickness [m]": 10e-6, "Negative current collector density [kg.m-3]": 8960.0,
        "Negative electrode density [kg.m-3]": 1657.0, "Separator density [kg.m-3]": 397.0,
        "Positive electrode density [kg.m-3]": 2000.0,
        "Positive current collector thickness [m]": 15e-6, "Positive current collector density [kg.m-3]": 2700.0,
    }
    est = cell_energy_density(160.0, 3.3, parameters="Prada2013", overrides=lfp)
    assert est.parameters_read["Positive electrode density [kg.m-3]"] == 2000.0
    assert 50.0 < est.gravimetric_energy_density_wh_kg < 400.0


def test_bad_design_arguments():
    with pytest.raises(SimulationSetupError, match="n_p_ratio = 0.9 is below 1"):
        cell_energy_density(200.0, 3.7, n_p_ratio=0.9)
    with pytest.raises(SimulationSetupError, match="electrolyte_density_kg_m3"):
        cell_energy_density(200.0, 3.7, electrolyte_density_kg_m3=-1.0)
    with pytest.raises(SimulationSetupError, match="cathode_active_density_kg_m3"):
        cell_energy_density(200.0, 3.7, cathode_active_density_kg_m3=0.0)
    with pytest.raises(SimulationSetupError, match="did you mean 'Separator thickness \\[m\\]'"):
        cell_energy_density(200.0, 3.7, overrides={"Separator thickness [um]": 2e-5})
