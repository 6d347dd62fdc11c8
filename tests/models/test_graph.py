"""CGCNN-style graph network: graph construction, learning, determinism, errors, OBELiX smoke test."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch_geometric")
pmg = pytest.importorskip("pymatgen.core")

from voltlab.errors import DataFormatError, NotFittedError  # noqa: E402
from voltlab.models.graph import NODE_FEATURES, CGCNNRegressor, structure_graph  # noqa: E402

Lattice, Structure = pmg.Lattice, pmg.Structure
_FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: these graphs are tiny, and a shared machine's cores are contended."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rock_salt(a: float, cation: str = "Li", anion: str = "F") -> Structure:
    """Conventional rock-salt cell (8 sites) with lattice constant ``a`` in Å."""
    return Structure(Lattice.cubic(a), [cation] * 4 + [anion] * 4, np.vstack([_FCC, np.mod(_FCC + np.array([0.5, 0, 0]), 1)]))


@pytest.fixture(scope="module")
def lif() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def volume_set() -> tuple[list[Structure], np.ndarray]:
    rng = np.random.default_rng(0)
    pairs = [("Li", "F"), ("Na", "Cl"), ("K", "Br"), ("Mg", "O"), ("Li", "Cl")]
    xs = [rock_salt(rng.uniform(3.8, 6.0), *pairs[i % len(pairs)]) for i in range(60)]
    return xs, np.array([s.volume / len(s) for s in xs])


def test_rock_salt_lif_graph(lif):
    g = structure_graph(lif, cutoff_angstrom=2.5, max_neighbors=12)
    assert g.num_nodes == 8
    assert g.edge_index.shape == (2, 48)  # 6 neighbours per site
    np.testing.assert_allclose(g.edge_distance.numpy(), 4.03 / 2, atol=1e-5)
    src, dst = g.edge_index.numpy()
    assert np.bincount(dst, minlength=8).tolist() == [6] * 8
    z = g.z.numpy()
    li = z == 3
    assert li.sum() == 4 and (z[~li] == 9).all()
    assert (z[src[li[dst]]] == 9).all() and (z[src[~li[dst]]] == 3).all()  # Li sees only F, F only Li
    assert g.x.shape == (8, len(NODE_FEATURES))
    np.testing.assert_allclose(g.x[:, :2].numpy(), 1.0)  # ordered: occupancy 1
    assert g.x[li][0, 2].item() == pytest.approx(0.98)  # Pauling electronegativity of Li
    mu = np.arange(0, 2.5 + 1e-9, 0.2)
    assert g.edge_attr.shape == (48, mu.size)
    assert int(g.edge_attr[0].argmax()) == int(np.argmin(np.abs(mu - 2.015)))


def test_max_neighbors_keeps_the_nearest(lif):
    full = structure_graph(lif, cutoff_angstrom=3.0, max_neighbors=30)
    assert full.edge_index.shape[1] == 8 * 18  # 6 F at 2.015 Å and 12 Li at 2.85 Å
    assert structure_graph(lif, cutoff_angstrom=3.0).edge_index.shape[1] == 8 * 12  # default 12
    g = structure_graph(lif, cutoff_angstrom=3.0, max_neighbors=6)
    assert g.edge_index.shape[1] == 48
    np.testing.assert_allclose(g.edge_distance.numpy(), 2.015, atol=1e-5)


def test_disordered_site_majority_species_rule():
    s = Structure(Lattice.cubic(3.0), [{"Li": 0.3, "Na": 0.5}, {"Cl": 1.0}], [[0, 0, 0], [0.5, 0.5, 0.5]])
    g = structure_graph(s, cutoff_angstrom=3.5)
    assert g.z.tolist() == [11, 17]
    np.testing.assert_allclose(g.x[0, :2].numpy(), [0.5, 0.8], atol=1e-6)
    tie = Structure(Lattice.cubic(3.0), [{"Na": 0.5, "Li": 0.5}], [[0, 0, 0]])
    assert structure_graph(tie, cutoff_angstrom=3.5).z.tolist() == [3]  # tie -> lower atomic number


def test_cif_text_input(lif):
    g = structure_graph(lif.to(fmt="cif"), cutoff_angstrom=2.5)
    assert g.edge_index.shape[1] == 48


def test_empty_graph_names_the_structure():
    lonely = Structure(Lattice.cubic(10.0), ["Li"], [[0, 0, 0]])
    with pytest.raises(DataFormatError, match="no pair of sites within"):
        structure_graph(lonely, cutoff_angstrom=5.0)
    with pytest.raises(DataFormatError, match="structure 2"):
        CGCNNRegressor(epochs=1, cutoff_angstrom=5.0, device="cpu").fit(
            [rock_salt(4.0), rock_salt(4.2), lonely], [1.0, 2.0, 3.0])


def test_errors(volume_set):
    xs, y = volume_set
    with pytest.raises(NotFittedError):
        CGCNNRegressor().predict(xs[:2])
    with pytest.raises(DataFormatError, match="epochs"):
        CGCNNRegressor(epochs=0).fit(xs[:4], y[:4])
    with pytest.raises(DataFormatError, match="must match"):
        CGCNNRegressor(epochs=1).fit(xs[:4], y[:3])
    with pytest.raises(DataFormatError, match="non-finite"):
        CGCNNRegressor(epochs=1).fit(xs[:2], [1.0, float("nan")])
    with pytest.raises(DataFormatError, match="cutoff_angstrom"):
        structure_graph(xs[0], cutoff_angstrom=-1.0)
    with pytest.raises(DataFormatError, match="device"):
        CGCNNRegressor(epochs=1, device="tpu").fit(xs[:2], y[:2])


def test_learns_volume_per_atom(volume_set):
    from sklearn.metrics import r2_score

    xs, y = volume_set
    m = CGCNNRegressor(hidden_size=32, n_layers=2, epochs=60, batch_size=16, cutoff_angstrom=5.0,
                       random_state=0, device="cpu").fit(xs[:40], y[:40])
    assert r2_score(y[40:], m.predict(xs[40:])) > 0.8
    assert m.history_["train_loss"][-1] < m.history_["train_loss"][0]
    assert m.n_train_ == 40 and m.device_ == "cpu"


def test_seeded_determinism(volume_set):
    xs, y = volume_set
    kw = {"hidden_size": 16, "n_layers": 2, "epochs": 5, "batch_size": 8, "cutoff_angstrom": 5.0, "device": "cpu"}
    a = CGCNNRegressor(random_state=3, **kw).fit(xs[:20], y[:20]).predict(xs[40:])
    b = CGCNNRegressor(random_state=3, **kw).fit(xs[:20], y[:20]).predict(xs[40:])
    c = CGCNNRegressor(random_state=4, **kw).fit(xs[:20], y[:20]).predict(xs[40:])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_obelix_structures_smoke(shared_file):
    from voltlab.data.datasets import load_obelix
    from voltlab.data.datasets.materials import load_obelix_structures

    folder = shared_file("obelix_solid_electrolyte_conductivity")
    df = load_obelix(folder)
    rows = df[df["has_cif"] & ~df["is_upper_bound"]].head(24)
    structures, skipped = load_obelix_structures(folder, ids=rows["id"])
    assert not skipped
    xs = [structures[i] for i in rows["id"]]
    y = rows["log10_ionic_conductivity_s_per_cm"].to_numpy()
    m = CGCNNRegressor(hidden_size=16, n_layers=2, epochs=3, batch_size=8, device="cpu").fit(xs[:16], y[:16])
    pred = m.predict(xs[16:])
    assert pred.shape == (8,) and np.isfinite(pred).all()
