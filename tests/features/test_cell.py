"""Cell features: equal to the structure features where both apply, hand-checked Li2O / garnet numbers,
cell-choice invariance (hypothesis), the Li3P anion rule, bad inputs, OBELiX."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pymatgen")

from pymatgen.core import Lattice, Structure

from voltlab.errors import DataFormatError, VoltlabError
from voltlab.features import CellFeaturizer
from voltlab.features.cell import cell_volume_angstrom3
from voltlab.features.structure import StructureFeaturizer

FEAT = CellFeaturizer()
LABELS = FEAT.feature_labels()
A_LI2O = 4.619  # Å, antifluorite Li2O
SHARED_WITH_STRUCTURE = [
    "density_g_per_cm3", "volume_per_atom_angstrom3", "packing_fraction_ionic_radii", "packing_fraction_atomic_radii",
    "a_angstrom", "b_angstrom", "c_angstrom", "alpha_degree", "beta_degree", "gamma_degree", "space_group_number",
    "crystal_system_triclinic", "crystal_system_monoclinic", "crystal_system_orthorhombic",
    "crystal_system_tetragonal", "crystal_system_trigonal", "crystal_system_hexagonal", "crystal_system_cubic",
    "li_atomic_fraction",
]


def _row(s: Structure, sg: int | None = None) -> dict[str, object]:
    lat = s.lattice
    row: dict[str, object] = {"cell_composition": s.composition.formula, "a_angstrom": lat.a, "b_angstrom": lat.b,
                              "c_angstrom": lat.c, "alpha_degree": lat.alpha, "beta_degree": lat.beta,
                              "gamma_degree": lat.gamma}
    if sg is not None:
        row["space_group_number"] = sg
    return row


def _x(row: dict[str, object], feat: CellFeaturizer = FEAT) -> dict[str, float]:
    return dict(zip(feat.feature_labels(), feat.featurize(row), strict=True))


def _li2o_row(**extra: object) -> dict[str, object]:
    row: dict[str, object] = {"composition": "Li2O", "formula_units_per_cell": 4, "a_angstrom": A_LI2O,
                              "b_angstrom": A_LI2O, "c_angstrom": A_LI2O, "alpha_degree": 90, "beta_degree": 90,
                              "gamma_degree": 90, "space_group_number": 225}
    row.update(extra)
    return row


STRUCTURES = {
    "Li2O antifluorite": (Structure.from_spacegroup("Fm-3m", Lattice.cubic(A_LI2O), ["Li", "O"],
                                                    [[0.25, 0.25, 0.25], [0, 0, 0]]), 225),
    "LiCoO2 R-3m": (Structure.from_spacegroup("R-3m", Lattice.hexagonal(2.816, 14.05), ["Li", "Co", "O"],
                                              [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.2396]]), 166),
    "monoclinic Li3PS4-like, half-occupied Li": (Structure(
        Lattice.monoclinic(6.1, 8.0, 7.3, 101.5),
        [{"Li": 0.5}, "Li", "P", "S", "S", "S", "S"],
        [[0.1, 0.2, 0.3], [0.6, 0.1, 0.8], [0.3, 0.5, 0.5], [0.2, 0.7, 0.1], [0.8, 0.3, 0.4], [0.5, 0.9, 0.7],
         [0.0, 0.4, 0.9]]), 14),
}


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_equal_to_the_structure_features_on_the_same_cell(name):
    s, sg = STRUCTURES[name]
    want = dict(zip(StructureFeaturizer().feature_labels(), StructureFeaturizer().featurize(s), strict=True))
    got = _x(_row(s, sg))
    for lab in SHARED_WITH_STRUCTURE:
        if lab == "space_group_number" or lab.startswith("crystal_system"):
            continue  # the structure's comes from spglib; compared below for the ordered cells
        assert got[lab] == pytest.approx(want[lab], rel=1e-9, abs=1e-12), lab
    if "half" not in name:  # spglib finds the given group on the ordered cells
        for lab in SHARED_WITH_STRUCTURE:
            if lab == "space_group_number" or lab.startswith("crystal_system"):
                assert got[lab] == want[lab], lab


def test_li2o_hand_checked():
    x = _x(_li2o_row())
    v = A_LI2O**3
    assert x["volume_angstrom3"] == pytest.approx(v, rel=1e-12)
    assert x["atoms_per_cell"] == 12
    assert x["li_mean_spacing_angstrom"] == pytest.approx(A_LI2O / 2, rel=1e-12)  # simple cubic Li, edge a/2
    assert x["li_per_nm3"] == pytest.approx(8 / v * 1000, rel=1e-12)
    assert x["li_per_anion"] == 2.0
    assert x["volume_per_anion_angstrom3"] == pytest.approx(v / 4, rel=1e-12)
    assert x["li_atomic_fraction"] == pytest.approx(2 / 3)
    # density: 4 x (2 x 6.94 + 16.00) g/mol in a^3
    assert x["density_g_per_cm3"] == pytest.approx(4 * (2 * 6.94 + 15.999) / v * 1e24 / 6.02214076e23, rel=1e-3)
    assert x["crystal_system_cubic"] == 1 and x["crystal_system_trigonal"] == 0
    assert x["noninteger_content_per_atom"] == 0 and x["noninteger_elements"] == 0
    assert x["composition_entropy_kb_per_atom"] == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    assert x["axis_ratio_max_min"] == 1.0


def test_doped_garnet_noninteger_contents():
    """Li6.4La3Zr1.4Ta0.6O12, 8 formula units: Li 51.2, La 24, Zr 11.2, Ta 4.8, O 96 per cell."""
    a = 12.94
    x = _x({"composition": "Li6.4La3Zr1.4Ta0.6O12", "formula_units_per_cell": 8, "a_angstrom": a, "b_angstrom": a,
            "c_angstrom": a, "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90, "space_group_number": 230})
    assert x["atoms_per_cell"] == pytest.approx(187.2)
    assert x["noninteger_elements"] == 3
    assert x["noninteger_content_per_atom"] == pytest.approx(0.6 / 187.2)
    assert x["li_noninteger_content"] == pytest.approx(0.2)
    assert x["li_per_anion"] == pytest.approx(51.2 / 96)
    # the same cell given by its contents directly
    y = _x({"cell_composition": "Li51.2La24Zr11.2Ta4.8O96", "a_angstrom": a, "b_angstrom": a, "c_angstrom": a,
            "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90, "space_group_number": 230})
    assert list(x.values()) == pytest.approx(list(y.values()), rel=1e-12)


def test_phosphide_counts_p_as_the_anion():
    """Li3P (P6_3/mmc, a = 4.27, c = 7.59 Å, Z = 2): no O/S/halogen, so P is the anion."""
    x = _x({"composition": "Li3P", "formula_units_per_cell": 2, "a_angstrom": 4.27, "b_angstrom": 4.27,
            "c_angstrom": 7.59, "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 120,
            "space_group_number": 194})
    assert x["li_per_anion"] == 3.0
    assert x["crystal_system_hexagonal"] == 1
    assert x["volume_angstrom3"] == pytest.approx(4.27**2 * math.sqrt(3) / 2 * 7.59, rel=1e-12)
    # in Li3PO4 P is a cation: the anion is O
    z = _x({"composition": "Li3PO4", "formula_units_per_cell": 2, "a_angstrom": 6.1, "b_angstrom": 5.2,
            "c_angstrom": 4.9, "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90})
    assert z["li_per_anion"] == 0.75


def test_without_the_ion_or_space_group():
    x = _x({"composition": "MgO", "formula_units_per_cell": 4, "a_angstrom": 4.21, "b_angstrom": 4.21,
            "c_angstrom": 4.21, "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90})
    assert x["li_atomic_fraction"] == 0 and x["li_per_nm3"] == 0
    assert math.isnan(x["li_mean_spacing_angstrom"])
    assert math.isnan(x["space_group_number"]) and all(math.isnan(x[k]) for k in x if k.startswith("crystal_"))
    na = CellFeaturizer(ion="Na")
    labels = na.feature_labels()
    assert "na_per_nm3" in labels and "li_per_nm3" not in labels
    y = dict(zip(labels, na.featurize({"composition": "NaCl", "formula_units_per_cell": 4, "a_angstrom": 5.64,
                                        "b_angstrom": 5.64, "c_angstrom": 5.64, "alpha_degree": 90,
                                        "beta_degree": 90, "gamma_degree": 90}), strict=True))
    assert y["na_mean_spacing_angstrom"] == pytest.approx(5.64 / 4 ** (1 / 3))


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 4), a=st.floats(3.0, 15.0), b=st.floats(3.0, 15.0), c=st.floats(3.0, 15.0),
       gamma=st.floats(60.0, 120.0), li=st.floats(0.1, 8.0))
def test_per_atom_features_do_not_depend_on_the_cell_choice(k, a, b, c, gamma, li):
    """A k-fold supercell along a (k times the contents, k a) changes only the cell-size features."""
    base = {"cell_composition": f"Li{li}Zr2O7", "a_angstrom": a, "b_angstrom": b, "c_angstrom": c,
            "alpha_degree": 90.0, "beta_degree": 90.0, "gamma_degree": gamma}
    sup = dict(base, cell_composition=f"Li{li * k}Zr{2 * k}O{7 * k}", a_angstrom=a * k)
    x, y = _x(base), _x(sup)
    size = {"volume_angstrom3", "atoms_per_cell", "a_angstrom", "axis_ratio_max_min", "noninteger_content_per_atom",
            "noninteger_elements", "li_noninteger_content"}
    for lab in LABELS:
        if lab in size or lab.startswith("crystal_system") or lab == "space_group_number":
            continue
        assert y[lab] == pytest.approx(x[lab], rel=1e-9), lab
    assert y["volume_angstrom3"] == pytest.approx(k * x["volume_angstrom3"], rel=1e-9)


def test_cell_volume_of_a_triclinic_cell_matches_pymatgen():
    lat = Lattice.from_parameters(5.1, 6.2, 7.3, 81.0, 97.0, 112.0)
    assert float(cell_volume_angstrom3(5.1, 6.2, 7.3, 81.0, 97.0, 112.0)) == pytest.approx(lat.volume, rel=1e-12)
    assert math.isnan(float(cell_volume_angstrom3(5, 5, 5, 10, 10, 150)))  # no such cell


def test_featurize_many_dataframe_index_and_mappings():
    rows = [_li2o_row(), _li2o_row(a_angstrom=4.7, b_angstrom=4.7, c_angstrom=4.7)]
    df = pd.DataFrame(rows, index=["a", "b"])
    out = FEAT.featurize_many(df)
    assert list(out.index) == ["a", "b"] and list(out.columns) == LABELS
    assert out.loc["b", "volume_angstrom3"] == pytest.approx(4.7**3)
    assert np.allclose(FEAT.featurize_many(rows).to_numpy(), out.to_numpy())
    assert FEAT.featurize_many(pd.DataFrame(columns=list(rows[0]))).shape == (0, len(LABELS))


@pytest.mark.parametrize(("change", "match", "column"), [
    ({"a_angstrom": -4.6}, "positive finite length", "a_angstrom"),
    ({"b_angstrom": "n/a"}, "positive finite length", "b_angstrom"),
    ({"gamma_degree": 180.0}, "between 0 and 180", "gamma_degree"),
    ({"alpha_degree": 10.0, "beta_degree": 10.0, "gamma_degree": 150.0}, "do not form a cell", "alpha_degree"),
    ({"space_group_number": 231}, "integer from 1 to 230", "space_group_number"),
    ({"space_group_number": 12.5}, "integer from 1 to 230", "space_group_number"),
    ({"composition": "Li2Xq"}, "unknown element .Xq.", "composition"),
    ({"formula_units_per_cell": 0}, "positive number", "formula_units_per_cell"),
])
def test_bad_inputs_name_the_row_and_column(change, match, column):
    with pytest.raises(DataFormatError, match=match) as err:
        FEAT.featurize_many([_li2o_row(), _li2o_row(**change)])
    assert err.value.row == 1 and err.value.column == column
    out = FEAT.featurize_many([_li2o_row(), _li2o_row(**change)], ignore_errors=True)
    assert list(out.attrs["errors"]) == [1] and column in out.attrs["errors"][1]
    assert out.iloc[1].isna().all() and out.iloc[0].notna().all()


def test_missing_inputs_and_bad_arguments():
    row = _li2o_row()
    del row["c_angstrom"]
    with pytest.raises(DataFormatError, match="missing input 'c_angstrom'"):
        FEAT.featurize(row)
    with pytest.raises(DataFormatError, match="missing input 'c_angstrom'"):  # a table-wide problem: always raised
        FEAT.featurize_many([row], ignore_errors=True)
    row = _li2o_row()
    del row["formula_units_per_cell"]
    with pytest.raises(DataFormatError, match="cell_composition"):
        FEAT.featurize(row)
    with pytest.raises(DataFormatError, match="mapping"):
        FEAT.featurize("Li2O")  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="row 1"):
        FEAT.featurize_many([_li2o_row(), "Li2O"])  # type: ignore[list-item]
    with pytest.raises(VoltlabError, match="element symbol"):
        CellFeaturizer(ion="Xx")


def test_obelix_table(shared_file):
    from voltlab.data.datasets.materials import load_obelix

    df = load_obelix(shared_file("obelix_solid_electrolyte_conductivity")).rename(columns={"true_composition": "cell_composition"})
    out = FEAT.featurize_many(df)
    assert out.attrs["errors"] == {} and len(out) == len(df) == 599
    assert out.drop(columns=[c for c in LABELS if c.startswith("li_mean") or c == "li_per_anion"]).notna().all().all()
    llzo = out[df["composition"].eq("Li7La3Zr2O12").to_numpy()]
    assert len(llzo) >= 1
    # cubic or tetragonal LLZO: ~56 Li in ~1.7-2.2 nm^3 -> 25-33 Li per nm^3, packing of a dense oxide
    assert llzo["li_per_nm3"].between(24, 34).all()
    assert (llzo["crystal_system_cubic"] + llzo["crystal_system_tetragonal"]).eq(1).all()
