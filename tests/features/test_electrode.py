"""ElectrodePairFeaturizer: host (charged) and change (discharged - charged) Magpie features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voltlab.errors import DataFormatError
from voltlab.features import REDOX_FEATURES, ElectrodePairFeaturizer, MagpieFeaturizer, RedoxFeaturizer


def test_labels_host_then_change_of_every_magpie_feature_then_redox():
    f = ElectrodePairFeaturizer()
    base = MagpieFeaturizer().feature_labels()
    labels = f.feature_labels()
    assert len(labels) == 292 and labels[:143] == [f"host_{b}" for b in base]
    assert labels[143:286] == [f"change_{b}" for b in base] and labels[286:] == list(REDOX_FEATURES)
    assert "change_magpie_mean_electronegativity_pauling" in labels
    assert len(f.citations()) == 2 and "ward" in f.citations()[0] and "pymatgen" in f.citations()[1]
    bare = ElectrodePairFeaturizer(redox=False)
    assert bare.feature_labels() == labels[:286] and len(bare.citations()) == 1


def test_redox_columns_are_the_redox_featurizer():
    pairs = [("LiFePO4", "FePO4"), ("LiAl", "Al"), ("NaCoO2", "CoO2")]
    got = ElectrodePairFeaturizer(ion="Na").featurize_many(pairs)
    ref = RedoxFeaturizer(ion="Na").featurize_many(pairs)
    np.testing.assert_array_equal(got[list(REDOX_FEATURES)].to_numpy(), ref.to_numpy())
    assert got.attrs["no_oxidation_states"] == [1]  # LiAl: no charge-balanced states
    assert np.isnan(got["redox_electrons_per_ion"].iloc[0])  # no Na leaves LiFePO4
    np.testing.assert_array_equal(got.iloc[:, :286].to_numpy(),
                                  ElectrodePairFeaturizer(redox=False).featurize_many(pairs).to_numpy())


def test_lifepo4_by_hand():
    """LiFePO4 -> FePO4: Li fraction 1/7 -> 0; mean atomic weight (Magpie's table: Li 6.941, Fe 55.845,
    P 30.973762, O 15.9994 g/mol) 157.7576/7 = 22.5368 -> 150.8163/6 = 25.1361, change -2.5992."""
    x = dict(zip(ElectrodePairFeaturizer().feature_labels(), ElectrodePairFeaturizer().featurize("LiFePO4", "FePO4"),
                 strict=True))
    assert x["host_li_atomic_fraction"] == 0.0
    assert x["change_li_atomic_fraction"] == pytest.approx(1 / 7, abs=1e-12)
    assert x["host_magpie_mean_atomic_weight_g_per_mol"] == pytest.approx(150.816162 / 6, abs=1e-4)
    assert x["change_magpie_mean_atomic_weight_g_per_mol"] == pytest.approx(157.757162 / 7 - 150.816162 / 6,
                                                                             abs=1e-4)
    # the element count grows by one (Li), and with it the 0-norm
    assert x["host_stoichiometry_0_norm"] == 3 and x["change_stoichiometry_0_norm"] == 1


def test_equals_magpie_of_each_side_rearranged():
    pairs = [("LiCoO2", "CoO2"), ("Li2MnO3", "MnO3"), ("NaFePO4", "FePO4"), ("Li3V2(PO4)3", "V2(PO4)3"),
             ("LiNi0.8Co0.1Mn0.1O2", "Ni0.8Co0.1Mn0.1O2")]
    got = ElectrodePairFeaturizer(redox=False).featurize_many(pairs, index=[p[0] for p in pairs])
    m = MagpieFeaturizer()
    dis = m.featurize_many([p[0] for p in pairs]).to_numpy()
    cha = m.featurize_many([p[1] for p in pairs]).to_numpy()
    np.testing.assert_array_equal(got.to_numpy(), np.hstack([cha, dis - cha]))
    assert list(got.index) == [p[0] for p in pairs] and got.attrs["errors"] == {}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6))
def test_formula_multiples_change_only_the_capacity(k, j):
    """Per-formula-unit choices (Fe2P2O8 vs FePO4) are the same electrode: every feature is the same
    except Magpie's theoretical capacity, n_electrons per formula unit as written (1/k of it)."""
    f = ElectrodePairFeaturizer()
    labels = f.feature_labels()
    a = dict(zip(labels, f.featurize("LiFePO4", "FePO4"), strict=True))
    b = dict(zip(labels, f.featurize(f"Li{k}Fe{k}P{k}O{4 * k}", f"Fe{j}P{j}O{4 * j}"), strict=True))
    cap = "theoretical_gravimetric_capacity_mah_per_g"
    for name in labels:
        if not name.endswith(cap):
            assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-12), name
    assert b[f"host_{cap}"] == pytest.approx(a[f"host_{cap}"] / j, rel=1e-12)
    lifepo4 = a[f"host_{cap}"] + a[f"change_{cap}"]
    assert b[f"host_{cap}"] + b[f"change_{cap}"] == pytest.approx(lifepo4 / k, rel=1e-12)


def test_bad_pairs_name_the_electrode_and_the_side():
    f = ElectrodePairFeaturizer()
    with pytest.raises(DataFormatError, match=r"electrode 1: charged formula: 'Qq2' is not a valid formula"):
        f.featurize_many([("LiCoO2", "CoO2"), ("LiCoO2", "Qq2")])
    with pytest.raises(DataFormatError, match=r"electrode 0: discharged formula: .*; charged formula: "):
        f.featurize("LiXx", "Qq")
    with pytest.raises(DataFormatError, match=r"electrode 1: expected a \(discharged, charged\) pair"):
        f.featurize_many([("LiCoO2", "CoO2"), "LiCoO2"])
    with pytest.raises(DataFormatError, match=r"electrode 0: expected a \(discharged, charged\) pair"):
        f.featurize_many([("LiCoO2", "CoO2", "Co3O4")])


def test_ignore_errors_gives_nan_rows_and_keeps_the_messages():
    df = ElectrodePairFeaturizer().featurize_many([("LiCoO2", "CoO2"), ("Li", "Zz"), ("LiMn2O4", "Mn2O4")],
                                                  ignore_errors=True)
    assert df.shape == (3, 292)
    assert np.isnan(df.iloc[1]).all() and np.isfinite(df.iloc[[0, 2]].to_numpy()).all()
    assert list(df.attrs["errors"]) == [1] and df.attrs["errors"][1].startswith("charged formula: 'Zz'")
    empty = ElectrodePairFeaturizer().featurize_many([])
    assert empty.shape == (0, 292)


def test_mp_electrodes_match_the_benchmark_representation(shared_file):
    """On the MP export, the features are the two formulas' Magpie features side by side (the benchmark's
    first representation), rearranged as host + change."""
    from voltlab.data.datasets import load_mp_insertion_electrodes

    df = load_mp_insertion_electrodes(shared_file("materials_project_insertion_electrodes", "mp_batteries.csv"),
                                      working_ion="Li").iloc[::10]
    got = ElectrodePairFeaturizer(redox=False).featurize_many(
        zip(df["formula_discharge"], df["formula_charge"], strict=True), ignore_errors=True)
    m = MagpieFeaturizer()
    dis = m.featurize_many(df["formula_discharge"], ignore_errors=True).to_numpy()
    cha = m.featurize_many(df["formula_charge"], ignore_errors=True).to_numpy()
    side_by_side = np.hstack([dis, cha])
    n = side_by_side.shape[1] // 2
    np.testing.assert_array_equal(got.to_numpy(), np.hstack([side_by_side[:, n:], side_by_side[:, :n] - side_by_side[:, n:]]))
    assert len(df) > 200 and isinstance(got, pd.DataFrame)
    # inserting Li adds Li: the change of Li fraction is positive for every Li electrode
    assert (got["change_li_atomic_fraction"] > 0).all()
