"""CHGNetFeaturizer: pretrained CHGNet crystal features and energy (weights from the wheel, offline)."""

from __future__ import annotations

import numpy as np
import pytest

from voltlab.errors import DataFormatError, VoltlabError

pytest.importorskip("chgnet")
pmg = pytest.importorskip("pymatgen.core")


@pytest.fixture(scope="module")
def featurizer():
    from voltlab.features import CHGNetFeaturizer

    return CHGNetFeaturizer(device="cpu")


def _rocksalt_lif(a: float = 4.03):
    return pmg.Structure.from_spacegroup("Fm-3m", pmg.Lattice.cubic(a), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def lif_features(featurizer):
    return np.asarray(featurizer.featurize(_rocksalt_lif()))


def test_labels_and_citation(featurizer) -> None:
    labels = featurizer.feature_labels()
    assert len(labels) == 65 and labels[0] == "chgnet_crystal_feature_0"
    assert labels[-1] == "chgnet_energy_ev_per_atom"
    from voltlab.features import CHGNetFeaturizer

    assert len(CHGNetFeaturizer(include_energy=False).feature_labels()) == 64
    assert "10.1038/s42256-023-00716-3" in featurizer.citations()[0]


def test_features_do_not_depend_on_the_cell_chosen(featurizer, lif_features) -> None:
    """A supercell, a rotated copy and a translated copy are the same crystal: same features."""
    sup = _rocksalt_lif()
    sup.make_supercell([2, 1, 1])
    rot = _rocksalt_lif()
    rot.apply_operation(pmg.operations.SymmOp.from_axis_angle_and_translation([1, 1, 0], 37.0))
    moved = _rocksalt_lif()
    moved.translate_sites(list(range(len(moved))), [0.13, 0.2, 0.31])
    for other in (sup, rot, moved):
        np.testing.assert_allclose(featurizer.featurize(other), lif_features, atol=2e-5)
    assert len(lif_features) == 65 and np.isfinite(lif_features).all()
    assert np.abs(lif_features[:-1]).max() > 1e-3  # an embedding, not zeros


def test_energy_tracks_the_physics(featurizer, lif_features) -> None:
    # bcc Li metal: DFT (MP, GGA) about -1.91 eV/atom
    li = pmg.Structure.from_spacegroup("Im-3m", pmg.Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    e_li = featurizer.featurize(li)[-1]
    assert -2.1 < e_li < -1.7
    # LiF is strongly bound (far below Li metal), and straining it 8 % raises its energy
    assert lif_features[-1] < e_li - 2.5
    assert featurizer.featurize(_rocksalt_lif(4.03 * 1.08))[-1] > lif_features[-1] + 0.02


def test_disordered_sites_become_their_majority_species(featurizer) -> None:
    lattice = pmg.Lattice.cubic(4.03)
    dis = pmg.Structure(lattice, [{"Li": 0.5, "Na": 0.3}, "F", {"Li": 0.3}],
                        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]])
    ordered, dropped, changed = featurizer.ordered(dis)
    assert dropped == 1 and changed == 1  # the 0.3-occupied site is dropped, the Li/Na site becomes Li
    assert ordered.is_ordered and ordered.composition.reduced_formula == "LiF"
    # so its features are those of the ordered LiF cell with one formula unit at the same positions
    plain = pmg.Structure(lattice, ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(featurizer.featurize(dis), featurizer.featurize(plain), atol=1e-6)
    from voltlab.features import CHGNetFeaturizer

    keep_all = CHGNetFeaturizer(min_site_occupancy=0.0)
    assert keep_all.ordered(dis)[1:] == (0, 2)
    with pytest.raises(DataFormatError, match="min_site_occupancy"):
        CHGNetFeaturizer(min_site_occupancy=0.9).ordered(pmg.Structure(lattice, [{"Li": 0.5}], [[0, 0, 0]]))


def test_featurize_many_matches_featurize_and_keeps_errors(featurizer, lif_features, tmp_path) -> None:
    cif = tmp_path / "LiF.cif"
    cif.write_text(_rocksalt_lif().to(fmt="cif"))
    li = pmg.Structure.from_spacegroup("Im-3m", pmg.Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    df = featurizer.featurize_many([str(cif), "missing.cif", li], ignore_errors=True, index=["a", "b", "c"])
    assert list(df.index) == ["a", "b", "c"] and df.shape == (3, 65)
    from voltlab.features import CHGNetFeaturizer

    # batches of one: each structure is predicted alone, with the same numbers as one batch of all
    one = CHGNetFeaturizer(device="cpu", batch_size=1).featurize_many([li, "missing.cif", str(cif)],
                                                                       ignore_errors=True)
    np.testing.assert_allclose(one.iloc[[2, 0]].to_numpy(), df.loc[["a", "c"]].to_numpy(), atol=2e-5)
    assert one.iloc[1].isna().all() and list(one.attrs["errors"]) == [1]
    np.testing.assert_allclose(df.loc["a"].to_numpy(), lif_features, atol=2e-5)  # a CIF path, batched
    np.testing.assert_allclose(df.loc["c"].to_numpy(), featurizer.featurize(li), atol=1e-6)
    assert df.loc["b"].isna().all() and "missing.cif" in df.attrs["errors"][1]
    with pytest.raises(VoltlabError, match="no such CIF file"):
        featurizer.featurize_many(["missing.cif"])


def test_bad_arguments_are_named() -> None:
    from voltlab.features import CHGNetFeaturizer

    with pytest.raises(DataFormatError, match="min_site_occupancy"):
        CHGNetFeaturizer(min_site_occupancy=1.5)
    with pytest.raises(DataFormatError, match="batch_size"):
        CHGNetFeaturizer(batch_size=0)
    with pytest.raises(DataFormatError, match="device"):
        CHGNetFeaturizer(device="gpu0")
    with pytest.raises(DataFormatError, match="model_name"):
        CHGNetFeaturizer(model_name="9.9").featurize(_rocksalt_lif())
