"""RedoxFeaturizer: oxidation-state changes of insertion electrodes, checked against NIST ionization
energies (Fe III 30.651 eV, Fe IV 54.91 eV, Co IV 51.27 eV, Mn IV 51.21 eV as pymatgen ships them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pymatgen")

from voltlab.errors import DataFormatError
from voltlab.features import REDOX_FEATURES, RedoxFeaturizer
from voltlab.features.redox import ionization_energy_between


def _x(discharged: str, charged: str, **kw) -> dict[str, float]:
    f = RedoxFeaturizer(**kw)
    return dict(zip(f.feature_labels(), f.featurize(discharged, charged), strict=True))


def test_ionization_energy_between_weights_each_step_by_its_overlap():
    assert ionization_energy_between("Fe", 2, 3) == pytest.approx(30.651)
    assert ionization_energy_between("Fe", 2, 4) == pytest.approx((30.651 + 54.91) / 2)
    assert ionization_energy_between("Fe", 2.5, 4) == pytest.approx((0.5 * 30.651 + 54.91) / 1.5)
    assert ionization_energy_between("Mn", 3.5, 4) == pytest.approx(51.21)
    assert math.isnan(ionization_energy_between("Fe", 3, 3)) and math.isnan(ionization_energy_between("Fe", 3, 2))


def test_lifepo4_by_hand():
    """Fe2+ -> Fe3+: Fe's 3rd ionization energy; one electron per Li; FePO4's cations Fe3+ and P5+."""
    x = _x("LiFePO4", "FePO4")
    assert x == pytest.approx({"redox_ionization_energy_ev": 30.651, "redox_max_ionization_energy_ev": 30.651,
                               "redox_electrons_per_ion": 1.0, "anion_redox_share": 0.0,
                               "host_mean_cation_oxidation_state": 4.0, "host_max_cation_oxidation_state": 5.0})


@pytest.mark.parametrize(("discharged", "charged", "ie"), [
    ("LiCoO2", "CoO2", 51.27),         # Co3+ -> Co4+
    ("Li0.5CoO2", "CoO2", 51.27),      # Co3.5+ -> Co4+ (amounts scaled x2 for the oxidation-state search)
    ("LiMn2O4", "Mn2O4", 51.21),       # Mn3.5+ -> Mn4+: the 4th ionization energy only
    ("Li2Fe2P2O8", "FePO4", 30.651),   # formula units as written do not matter
])
def test_couples_and_fractional_states(discharged, charged, ie):
    x = _x(discharged, charged)
    assert x["redox_ionization_energy_ev"] == pytest.approx(ie)
    assert x["redox_electrons_per_ion"] == pytest.approx(1.0) and x["anion_redox_share"] == 0.0


def test_anion_redox_and_other_ions():
    s = _x("Li2S", "S")  # S2- -> S0: two electrons, both from the anion, per 2 Li
    assert s["redox_electrons_per_ion"] == pytest.approx(1.0) and s["anion_redox_share"] == 1.0
    assert math.isnan(s["redox_ionization_energy_ev"]) and math.isnan(s["host_mean_cation_oxidation_state"])
    na = _x("NaCoO2", "CoO2", ion="Na")
    assert na["redox_ionization_energy_ev"] == pytest.approx(51.27) and na["redox_electrons_per_ion"] == 1.0
    # with the wrong working ion nothing is removed: no electrons per ion, the couple is still seen
    li = _x("NaCoO2", "CoO2")
    assert math.isnan(li["redox_electrons_per_ion"]) and li["redox_ionization_energy_ev"] == pytest.approx(51.27)


def test_no_oxidation_states_is_nan_not_an_error():
    df = RedoxFeaturizer().featurize_many([("LiAl", "Al"), ("LiFePO4", "FePO4")], index=["a", "b"])
    assert list(df.columns) == list(REDOX_FEATURES) and list(df.index) == ["a", "b"]
    assert np.isnan(df.loc["a"]).all() and np.isfinite(df.loc["b"]).all()
    assert df.attrs["no_oxidation_states"] == [0] and df.attrs["errors"] == {}


def test_bad_input_names_the_electrode_side_and_setting():
    f = RedoxFeaturizer()
    with pytest.raises(DataFormatError, match=r"electrode 1: charged formula: 'Qq2' is not a valid formula"):
        f.featurize_many([("LiCoO2", "CoO2"), ("LiCoO2", "Qq2")])
    with pytest.raises(DataFormatError, match=r"electrode 0: expected a \(discharged, charged\) pair"):
        f.featurize_many(["LiCoO2"])
    got = f.featurize_many([("Xx", "CoO2"), ("LiCoO2", "CoO2")], ignore_errors=True)
    assert list(got.attrs["errors"]) == [0] and "discharged formula" in got.attrs["errors"][0]
    assert np.isnan(got.iloc[0]).all() and got.attrs["no_oxidation_states"] == []
    with pytest.raises(DataFormatError, match="ion must be an element symbol"):
        RedoxFeaturizer(ion="Lithium").featurize("LiCoO2", "CoO2")
    with pytest.raises(DataFormatError, match="max_sites must be an integer"):
        RedoxFeaturizer(max_sites=0).featurize("LiCoO2", "CoO2")
    assert f.citations() and "pymatgen" in f.citations()[0]
