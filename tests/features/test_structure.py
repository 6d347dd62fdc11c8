"""Structure features: hand-checked numbers on Li2O / LiF / Li metal, partial occupancy, no Li, loader, OBELiX."""

from __future__ import annotations

import io
import math
import tarfile

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymatgen")

from pymatgen.core import Element, Lattice, Structure

from voltlab.data.datasets.materials import load_obelix, load_obelix_structures, read_obelix_cifs
from voltlab.errors import DataFormatError, MissingFileError
from voltlab.features.structure import (
    CRYSTAL_SYSTEMS,
    StructureFeaturizer,
    anion_elements,
    crystal_system,
)

FEAT = StructureFeaturizer()
LABELS = FEAT.feature_labels()
LI_FEATURES = ["li_li_min_distance_angstrom", "li_anion_min_distance_angstrom", "li_anion_coordination_mean"]
RDF = [lab for lab in LABELS if lab.startswith("rdf_")]
A_LI2O = 4.61  # Å, antifluorite Li2O
A_LIF = 4.03  # Å, rock-salt LiF
G_PER_CM3 = 1e24 / 6.02214076e23  # (g/mol)/Å^3 -> g/cm^3


def test_fcc_helper_matches_from_spacegroup():
    ref = Structure.from_spacegroup("Fm-3m", Lattice.cubic(A_LI2O), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
    assert ref.matches(_li2o()) and len(ref) == len(_li2o()) == 12


def _x(s, feat: StructureFeaturizer = FEAT) -> dict[str, float]:
    return dict(zip(feat.feature_labels(), feat.featurize(s), strict=True))


FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def _fcc(a: float, basis: list[tuple[object, tuple[float, float, float]]]) -> Structure:
    """Conventional cubic cell of an fcc lattice with a basis (what ``from_spacegroup("Fm-3m")`` gives, faster)."""
    species, coords = [], []
    for sp, xyz in basis:
        for t in FCC:
            species.append(sp)
            coords.append((np.asarray(xyz) + t) % 1.0)
    return Structure(Lattice.cubic(a), species, coords)


def _li2o() -> Structure:
    return _fcc(A_LI2O, [("O", (0, 0, 0)), ("Li", (0.25, 0.25, 0.25)), ("Li", (0.75, 0.75, 0.75))])


def _lif(li: object = "Li") -> Structure:
    return _fcc(A_LIF, [(li, (0, 0, 0)), ("F", (0.5, 0.5, 0.5))])


def _m(el: str) -> float:
    return float(Element(el).atomic_mass)


# --------------------------------------------------------------------------- hand-checked structures


def test_li2o_antifluorite_by_hand():
    x = _x(_li2o())
    v = A_LI2O**3  # 4 Li2O per cubic cell: 8 Li + 4 O
    assert x["density_g_per_cm3"] == pytest.approx((8 * _m("Li") + 4 * _m("O")) / v * G_PER_CM3, rel=1e-9)
    assert x["density_g_per_cm3"] == pytest.approx(2.0258, abs=1e-4)
    assert x["volume_per_atom_angstrom3"] == pytest.approx(v / 12, rel=1e-12)
    assert x["packing_fraction_ionic_radii"] == pytest.approx(4 / 3 * math.pi * (8 * 0.90**3 + 4 * 1.26**3) / v)
    assert x["packing_fraction_atomic_radii"] == pytest.approx(4 / 3 * math.pi * (8 * 1.45**3 + 4 * 0.60**3) / v)
    assert [x[k] for k in ("a_angstrom", "b_angstrom", "c_angstrom")] == pytest.approx([A_LI2O] * 3)
    assert [x[k] for k in ("alpha_degree", "beta_degree", "gamma_degree")] == pytest.approx([90.0] * 3)
    assert x["space_group_number"] == 225
    assert [x[f"crystal_system_{n}"] for n, _ in CRYSTAL_SYSTEMS] == [0, 0, 0, 0, 0, 0, 1]
    assert x["li_atomic_fraction"] == pytest.approx(2 / 3)
    assert x["li_li_min_distance_angstrom"] == pytest.approx(A_LI2O / 2)  # simple cubic Li sublattice
    assert x["li_anion_min_distance_angstrom"] == pytest.approx(A_LI2O * math.sqrt(3) / 4)
    assert x["li_anion_coordination_mean"] == pytest.approx(4.0)  # tetrahedral Li


def test_lif_rock_salt_by_hand_including_rdf():
    x = _x(_lif())
    v = A_LIF**3
    assert x["density_g_per_cm3"] == pytest.approx((4 * _m("Li") + 4 * _m("F")) / v * G_PER_CM3, rel=1e-9)
    assert x["volume_per_atom_angstrom3"] == pytest.approx(v / 8)
    assert x["li_li_min_distance_angstrom"] == pytest.approx(A_LIF / math.sqrt(2))
    assert x["li_anion_min_distance_angstrom"] == pytest.approx(A_LIF / 2)
    assert x["li_anion_coordination_mean"] == pytest.approx(6.0)  # octahedral Li
    # RDF: 6 F at a/2 = 2.015 Å in [2, 2.5); 12 Li at a/sqrt2 = 2.850 Å in [2.5, 3); nothing below 2 Å
    shell = 4 / 3 * math.pi * (2.5**3 - 2.0**3)
    assert x["rdf_li_all_2_2p5_angstrom"] == pytest.approx(6 / (8 / v * shell))
    assert x["rdf_li_li_2_2p5_angstrom"] == 0.0
    shell = 4 / 3 * math.pi * (3.0**3 - 2.5**3)
    assert x["rdf_li_all_2p5_3_angstrom"] == pytest.approx(12 / (8 / v * shell))
    assert x["rdf_li_li_2p5_3_angstrom"] == pytest.approx(12 / (4 / v * shell))
    assert x["rdf_li_all_1_1p5_angstrom"] == x["rdf_li_all_1p5_2_angstrom"] == 0.0


def test_li_metal_has_no_anion_features():
    x = _x(Structure(Lattice.cubic(3.51), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    assert x["space_group_number"] == 229
    assert x["li_atomic_fraction"] == 1.0
    assert x["li_li_min_distance_angstrom"] == pytest.approx(3.51 * math.sqrt(3) / 2)
    assert math.isnan(x["li_anion_min_distance_angstrom"]) and math.isnan(x["li_anion_coordination_mean"])


def test_no_li_structure_gives_nan_li_features():
    x = _x(_fcc(5.64, [("Na", (0, 0, 0)), ("Cl", (0.5, 0.5, 0.5))]))
    assert x["li_atomic_fraction"] == 0.0
    assert all(math.isnan(x[k]) for k in LI_FEATURES + RDF)
    others = [k for k in LABELS if k not in LI_FEATURES + RDF]
    assert all(np.isfinite(x[k]) for k in others)
    assert x["density_g_per_cm3"] == pytest.approx(2.16, abs=0.01)  # NaCl


# --------------------------------------------------------------------------- partial occupancy


def test_half_occupied_li_site_weights_mass_atoms_and_fraction():
    x = _x(_lif({"Li": 0.5}))
    v = A_LIF**3
    assert x["density_g_per_cm3"] == pytest.approx((2 * _m("Li") + 4 * _m("F")) / v * G_PER_CM3, rel=1e-9)
    assert x["volume_per_atom_angstrom3"] == pytest.approx(v / 6)  # 2 Li + 4 F
    assert x["li_atomic_fraction"] == pytest.approx(2 / 6)
    assert x["li_anion_min_distance_angstrom"] == pytest.approx(A_LIF / 2)
    assert x["li_li_min_distance_angstrom"] == pytest.approx(A_LIF / math.sqrt(2))  # 2.85 Å > 2 Å: kept
    assert x["li_anion_coordination_mean"] == pytest.approx(6.0)
    # Li-Li RDF is normalised by the Li density: unchanged by a uniform Li occupancy
    assert x["rdf_li_li_2p5_3_angstrom"] == pytest.approx(_x(_lif())["rdf_li_li_2p5_3_angstrom"])


def test_mixed_site_and_partial_anions_are_occupancy_weighted():
    x = _x(_fcc(5.5, [({"Li": 0.5, "Na": 0.5}, (0, 0, 0)), ({"Cl": 0.75}, (0.5, 0.5, 0.5))]))
    assert x["li_atomic_fraction"] == pytest.approx(2 / 7)  # 2 Li + 2 Na + 3 Cl
    assert x["li_anion_coordination_mean"] == pytest.approx(6 * 0.75)
    assert x["li_anion_min_distance_angstrom"] == pytest.approx(2.75)


def test_split_li_sites_are_not_neighbours():
    coords = [[0, 0, 0], [0.1, 0, 0], [0.5, 0.5, 0.5]]
    split = Structure(Lattice.cubic(5.0), [{"Li": 0.5}, {"Li": 0.5}, "O"], coords)
    x = _x(split)
    # the 0.5 Å pair is one Li spread over two positions; next Li-Li: (0.1,0,0) -> (1,0,0), 4.5 Å
    assert x["li_li_min_distance_angstrom"] == pytest.approx(4.5)
    assert x["li_atomic_fraction"] == pytest.approx(1 / 2)
    # two fully occupied sites 0.5 Å apart are reported as they are
    full = Structure(Lattice.cubic(5.0), ["Li", "Li", "O"], coords)
    assert _x(full)["li_li_min_distance_angstrom"] == pytest.approx(0.5)
    # the threshold is a setting
    f = StructureFeaturizer(li_li_split_angstrom=0.4)
    assert _x(split, f)["li_li_min_distance_angstrom"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- inputs, protocol, rules


def test_cif_text_and_path_give_the_same_features(tmp_path):
    s = _li2o()
    text = s.to(fmt="cif")
    p = tmp_path / "li2o.cif"
    p.write_text(text)
    ref = FEAT.featurize(s)
    np.testing.assert_allclose(FEAT.featurize(text), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(FEAT.featurize(p), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(FEAT.featurize(str(p)), ref, rtol=1e-6, atol=1e-6)


def test_bad_inputs_raise_data_format_errors(tmp_path):
    with pytest.raises(DataFormatError, match="expected a pymatgen Structure"):
        FEAT.featurize(42)
    with pytest.raises(DataFormatError, match=r"nope\.cif"):
        FEAT.featurize(tmp_path / "nope.cif")
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a 4\n_cell_length_b oops\n")
    with pytest.raises(DataFormatError, match=r"bad\.cif"):
        FEAT.featurize(bad)
    df = FEAT.featurize_many([_lif(), 42, bad], ignore_errors=True, index=["lif", "int", "bad"])
    assert list(df.columns) == LABELS and df.shape == (3, len(LABELS))
    assert set(df.attrs["errors"]) == {1, 2}
    assert df.loc["lif", "li_anion_coordination_mean"] == pytest.approx(6.0)
    assert df.loc[["int", "bad"]].isna().all().all()
    with pytest.raises(DataFormatError, match="RDF bins"):
        StructureFeaturizer(rdf_min_angstrom=1.0, rdf_max_angstrom=6.0, rdf_bin_angstrom=0.7)


def test_matminer_protocol():
    assert len(LABELS) == len(FEAT.featurize(_lif())) == len(set(LABELS)) == 42
    assert sum(lab.startswith("rdf_li_all_") for lab in LABELS) == 10
    f = StructureFeaturizer(rdf_min_angstrom=0.0, rdf_max_angstrom=8.0, rdf_bin_angstrom=0.25)
    assert len(f.feature_labels()) == len(f.featurize(_li2o())) == 22 + 2 * 32
    assert "rdf_li_li_0_0p25_angstrom" in f.feature_labels()
    cites = " ".join(FEAT.citations())
    assert "Sendek" in cites and "10.1039/C6EE02697D" in cites and "pymatgen" in cites
    assert FEAT.implementors()


def test_crystal_system_and_anion_rules():
    for n, name in [(1, "triclinic"), (2, "triclinic"), (3, "monoclinic"), (15, "monoclinic"),
                    (16, "orthorhombic"), (74, "orthorhombic"), (75, "tetragonal"), (142, "tetragonal"),
                    (143, "trigonal"), (167, "trigonal"), (168, "hexagonal"), (194, "hexagonal"),
                    (195, "cubic"), (230, "cubic")]:
        assert crystal_system(n) == name
        assert crystal_system(float(n)) == name
    assert crystal_system(0) is None and crystal_system(231) is None and crystal_system(math.nan) is None
    assert anion_elements(["Li", "P", "S", "Cl"]) == {"S", "Cl"}  # P of PS4 is a cation
    assert anion_elements(["Li", "P"]) == {"P"}  # Li3P
    assert anion_elements(["Li", "Al", "H"]) == {"H"}  # LiAlH4
    assert anion_elements(["Li", "O", "H"]) == {"O"}  # LiOH


def test_li3p_counts_phosphide_as_anion():
    # hexagonal Li3P (P6_3/mmc, a = 4.27, c = 7.59 Å): Li around P
    s = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(4.27, 7.59), ["P", "Li", "Li"],
                                  [[1 / 3, 2 / 3, 0.25], [0, 0, 0.25], [1 / 3, 2 / 3, 0.583]])
    x = _x(s)
    assert x["space_group_number"] == 194 and x["crystal_system_hexagonal"] == 1.0
    assert 2.3 < x["li_anion_min_distance_angstrom"] < 2.9
    assert x["li_anion_coordination_mean"] >= 3


# --------------------------------------------------------------------------- loader (synthetic archive)


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_loader_skips_bad_cifs_with_reasons(tmp_path):
    good = _li2o().to(fmt="cif").encode()
    (tmp_path / "cifs").mkdir()
    _tar(tmp_path / "cifs" / "all_cifs.tar.gz", {
        "all_randomized_cifs/aaa.cif": good,
        "all_randomized_cifs/bbb.cif": b"data_x\n_cell_length_a 4\n_cell_length_b oops\n",
        "all_randomized_cifs/README.txt": b"not a cif",
        "other/aaa.cif": good,
    })
    res = load_obelix_structures(tmp_path)
    structures, skipped = res
    assert list(structures) == ["aaa"]
    assert structures["aaa"].composition.reduced_formula == "Li2O"
    assert set(skipped) == {f"{tmp_path / 'cifs' / 'all_cifs.tar.gz'}:all_randomized_cifs/bbb.cif",
                            f"{tmp_path / 'cifs' / 'all_cifs.tar.gz'}:other/aaa.cif"}
    reasons = " ".join(skipped.values())
    assert "bbb.cif" in reasons and "repeats" in reasons
    only = load_obelix_structures(tmp_path / "cifs" / "all_cifs.tar.gz", ids=["bbb"])
    assert only.structures == {} and len(only.skipped) == 1
    # the texts alone: nothing parsed, so the bad CIF is there and only the repeat is skipped
    texts, skipped_texts = read_obelix_cifs(tmp_path)
    assert sorted(texts) == ["aaa", "bbb"] and texts["aaa"] == good.decode()
    assert list(skipped_texts) == [f"{tmp_path / 'cifs' / 'all_cifs.tar.gz'}:other/aaa.cif"]
    feats = StructureFeaturizer().featurize_many(list(texts.values()), ignore_errors=True)
    assert feats.iloc[0].equals(pd.Series(StructureFeaturizer().featurize(structures["aaa"]), index=feats.columns,
                                          name=0))
    assert list(feats.attrs["errors"]) == [1] and "CIF" in feats.attrs["errors"][1]


def test_loader_errors_name_the_archive(tmp_path):
    with pytest.raises(MissingFileError, match="all_cifs.tar.gz"):
        load_obelix_structures(tmp_path)
    bad = tmp_path / "all_cifs.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataFormatError, match=r"all_cifs\.tar\.gz"):
        load_obelix_structures(tmp_path)


# --------------------------------------------------------------------------- OBELiX (shared data)


@pytest.fixture(scope="module")
def obelix(shared_file):
    folder = shared_file("obelix_solid_electrolyte_conductivity")
    shared_file("obelix_solid_electrolyte_conductivity", "cifs", "all_cifs.tar.gz")
    res = load_obelix_structures(folder)
    x = FEAT.featurize_many(res.structures.values(), index=list(res.structures))
    return folder, res, x


def test_obelix_structures_load_and_match_the_table(obelix):
    folder, res, x = obelix
    assert len(res.structures) == 321 and res.skipped == {}
    table = load_obelix(folder).set_index("id")
    assert set(res.structures) == set(table.index[table["has_cif"]])
    assert not x.attrs["errors"]
    # spglib on the CIF structures vs the table's space group (4 of 321 differ from the table; all match the CIFs)
    same = (x["space_group_number"] == table.loc[x.index, "space_group_number"]).mean()
    assert same > 0.98


def test_obelix_features_in_sanity_ranges(obelix):
    _, res, x = obelix
    assert x["density_g_per_cm3"].between(0.8, 8.0).all()  # LiAlH4 0.92 g/cm3 is the lightest
    assert x["volume_per_atom_angstrom3"].between(5.0, 40.0).all()
    assert x["packing_fraction_ionic_radii"].between(0.03, 1.0).all()
    assert x["space_group_number"].between(1, 230).all()
    systems = x[[f"crystal_system_{n}" for n, _ in CRYSTAL_SYSTEMS]]
    assert (systems.sum(axis=1) == 1).all()
    no_li = [k for k, s in res.structures.items() if "Li" not in {e.symbol for e in s.composition.elements}]
    assert len(no_li) == 7
    assert (x.loc[no_li, "li_atomic_fraction"] == 0).all() and x.loc[no_li, LI_FEATURES + RDF].isna().all().all()
    li = x.drop(index=no_li)
    assert li[LI_FEATURES[0]].between(2.0, 7.0).all()  # split-site pairs (< 2 Å, partial) ignored
    d = li["li_anion_min_distance_angstrom"]
    # the randomized CIFs' noise puts 5 % of them below 1.6 Å (ordered ones too); one borohydride at 5 Å
    assert d.between(1.4, 5.2).all() and d.between(1.6, 3.0).mean() > 0.93 and d.median() == pytest.approx(2.05, abs=0.1)
    assert li["li_anion_coordination_mean"].between(1.0, 16.0).all()
    assert li["li_anion_coordination_mean"].median() == pytest.approx(4.0, abs=0.5)
    assert li[RDF].notna().all().all() and (li[RDF] >= 0).all().all()
    assert pd.Series(li[[c for c in RDF if "all" in c]].mean()).between(0.05, 2.0).all()
