"""Crystal graph convolutional network (CGCNN-style, PyTorch Geometric) on crystal structures.

:func:`structure_graph` turns a pymatgen ``Structure`` (or a CIF) into a
PyTorch Geometric ``Data`` graph; :class:`CGCNNRegressor` learns a scalar
property from such graphs with the scikit-learn protocol
(``fit(structures, y)``, ``predict(structures)``). The unit of the target is
the unit of ``y`` (e.g. log10 of the ionic conductivity in S/cm); nothing is
transformed except an internal standardisation that ``predict`` undoes.

Graph (one node per site of the cell as given, periodic images as edges)

* **Nodes**: ``z`` (atomic number of the site's element, int64, for a learned
  embedding) and ``x`` (float32, :data:`NODE_FEATURES`): the site occupancy of
  that element, the total occupancy of the site (< 1 on a site with
  vacancies), and of the element its Pauling electronegativity, atomic
  radius (Å), period, group and atomic mass (u) from pymatgen's element
  table (a property the table lacks, e.g. the electronegativity of He, is
  replaced by that property's median over elements 1-103).
* **Disordered sites** (the randomized OBELiX CIFs keep partial
  occupancies): a site is represented by its **majority species**, the one
  with the largest occupancy (a tie goes to the lower atomic number); its
  occupancy and the site's total occupancy are node features. No ordering,
  no supercell; split positions (alternative positions closer than a bond)
  stay separate nodes joined by a short edge. Oxidation states are ignored.
* **Edges**: from every site j to every site i (directed j -> i, PyG's
  ``source_to_target``) with a periodic image of j within
  ``cutoff_angstrom`` of i (pymatgen's periodic neighbour list, the site
  itself at zero distance excluded, its own periodic images included),
  keeping for each i only its ``max_neighbors`` nearest (ties kept in
  pymatgen's order). ``edge_distance`` holds the distances in Å and
  ``edge_attr`` their Gaussian expansion
  exp(-(d - mu_k)^2 / sigma^2), mu_k = 0, step, 2 step, ... <= cutoff,
  sigma = ``gaussian_step_angstrom`` (0.2 Å), as in Xie & Grossman (2018).
* A structure without sites, or whose sites have no neighbour within the
  cutoff (no edge at all), is refused with a :class:`~voltlab.errors.DataFormatError`.

Network (:class:`CGCNNRegressor`): the element embedding (``hidden_size``)
concatenated with the standardised node features, a linear layer to
``hidden_size``, ``n_layers`` ``torch_geometric.nn.CGConv`` layers
(sum aggregation, batch normalisation, residual), mean pooling over the
nodes of each graph, then an MLP head (``hidden_size``, softplus, 1 output).
AdamW on the mean squared error of the standardised target, a fixed number
of epochs, shuffled mini-batches of graphs; no early stopping. Fits are
reproducible on the CPU: the torch RNG is forked and seeded with
``random_state``, batches are shuffled by a seeded NumPy generator, and
deterministic algorithms are on during ``fit``. ``device="auto"`` trains on
CUDA when it is available, else on the CPU (CUDA scatter-add is not
bit-reproducible).

PyTorch and PyTorch Geometric are imported inside the functions, so
``import voltlab.models`` does not load them.

Reference: T. Xie, J. C. Grossman, "Crystal Graph Convolutional Neural
Networks for an Accurate and Interpretable Prediction of Material
Properties", Phys. Rev. Lett. 120, 145301 (2018).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, RegressorMixin

from voltlab.errors import DataFormatError, DependencyError
from voltlab.features.structure import majority_species, read_structure
from voltlab.models.base import check_int, require_fitted
from voltlab.models.sequence import _resolve_device  # one device rule for voltlab's torch models

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["NODE_FEATURES", "CGCNNRegressor", "structure_graph"]

#: Names of the columns of a graph's node features ``x``.
NODE_FEATURES: tuple[str, ...] = (
    "majority_species_occupancy", "site_total_occupancy", "electronegativity_pauling", "atomic_radius_angstrom",
    "period", "group", "atomic_mass_u",
)
_MAX_Z = 103  # embedding rows 0..103 (elements beyond are refused)
_GRAD_CLIP = 10.0

CGCNN_BIBTEX = (
    "@article{xie_2018, title={Crystal Graph Convolutional Neural Networks for an Accurate and Interpretable "
    "Prediction of Material Properties}, volume={120}, DOI={10.1103/PhysRevLett.120.145301}, number={14}, "
    "journal={Physical Review Letters}, author={Xie, Tian and Grossman, Jeffrey C.}, year={2018}, pages={145301}}"
)


def _torch() -> Any:
    try:
        import torch
        import torch_geometric  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "graph networks need PyTorch and PyTorch Geometric; install them with "
            "`pip install -c constraints.txt torch torch-geometric` (versions pinned in constraints.txt)"
        ) from exc
    return torch


@lru_cache(maxsize=1)
def _element_table() -> np.ndarray:
    """Element properties (rows Z = 0..103, columns electronegativity ... mass), NaNs filled by medians."""
    from pymatgen.core.periodic_table import Element

    table = np.full((_MAX_Z + 1, 5), np.nan)
    with warnings.catch_warnings():  # pymatgen warns on elements without an electronegativity
        warnings.simplefilter("ignore")
        for z in range(1, _MAX_Z + 1):
            el = Element.from_Z(z)
            vals = [el.X, el.atomic_radius, el.row, el.group, el.atomic_mass]
            table[z] = [float(v) if v is not None else np.nan for v in vals]
    med = np.nanmedian(table[1:], axis=0)
    return np.where(np.isfinite(table), table, med)


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not math.isfinite(value) or value <= 0:
        raise DataFormatError(f"{name} must be a positive number, got {value!r}", value=value)
    return float(value)


def structure_graph(
    structure: Structure | str | os.PathLike[str],
    cutoff_angstrom: float = 6.0,
    max_neighbors: int = 12,
    gaussian_step_angstrom: float = 0.2,
    *,
    name: str | None = None,
) -> Any:
    """Crystal graph of a structure as a PyTorch Geometric ``Data`` (rules in the module docstring).

    Parameters
    ----------
    structure
        A pymatgen ``Structure``, a CIF path or CIF text
        (:func:`voltlab.features.structure.read_structure`).
    cutoff_angstrom
        Neighbour cutoff radius, Å.
    max_neighbors
        At most this many nearest neighbours per site.
    gaussian_step_angstrom
        Spacing and width of the Gaussians that expand the distances, Å.
    name
        How to call the structure in error messages.

    Returns
    -------
    torch_geometric.data.Data
        ``x`` (n_sites, 7) float32 node features (:data:`NODE_FEATURES`),
        ``z`` (n_sites,) int64 atomic numbers, ``edge_index`` (2, n_edges)
        int64 (row 0 the neighbour j, row 1 the centre i), ``edge_distance``
        (n_edges,) float32 in Å, ``edge_attr`` (n_edges, n_gaussians)
        float32, ``num_nodes``.

    Raises
    ------
    DataFormatError
        No sites, no edge within the cutoff, an element beyond Z = 103 or a
        dummy species, bad parameters, or an unreadable CIF.
    DependencyError
        PyTorch Geometric or pymatgen missing.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> g = structure_graph(lif, cutoff_angstrom=2.5)
    >>> g.num_nodes, g.edge_index.shape[1]
    (8, 48)
    """
    torch = _torch()
    from torch_geometric.data import Data

    cutoff = _check_positive("cutoff_angstrom", cutoff_angstrom)
    step = _check_positive("gaussian_step_angstrom", gaussian_step_angstrom)
    k = check_int("max_neighbors", max_neighbors, 1)
    label = name or "structure"
    s = read_structure(structure, name=name)
    n = len(s)
    if n == 0:
        raise DataFormatError(f"{label} has no sites; a graph needs at least one atom", value=label)
    sites = [majority_species(site) for site in s]
    z = np.array([t[0] for t in sites], dtype=np.int64)
    if z.max() > _MAX_Z:
        raise DataFormatError(f"{label} holds element Z={int(z.max())}; graphs support Z <= {_MAX_Z}",
                              value=int(z.max()))
    props = _element_table()[z]
    x = np.column_stack([[t[1] for t in sites], [t[2] for t in sites], props]).astype(np.float32)

    centers, neighbors, _, dist = s.get_neighbor_list(cutoff, exclude_self=True)
    centers = np.asarray(centers, dtype=np.int64)
    neighbors = np.asarray(neighbors, dtype=np.int64)
    dist = np.asarray(dist, dtype=np.float64)
    if centers.size == 0:
        raise DataFormatError(
            f"{label} has no pair of sites within cutoff_angstrom={cutoff:g} Å, so its graph has no edge; "
            "raise the cutoff", value=label)
    order = np.lexsort((dist, centers))  # by centre, then distance (stable)
    centers, neighbors, dist = centers[order], neighbors[order], dist[order]
    starts = np.searchsorted(centers, centers, side="left")
    rank = np.arange(centers.size) - starts
    keep = rank < k
    centers, neighbors, dist = centers[keep], neighbors[keep], dist[keep]
    mu = np.arange(0.0, cutoff + 1e-9, step)
    attr = np.exp(-((dist[:, None] - mu[None, :]) ** 2) / step ** 2)
    return Data(
        x=torch.as_tensor(x), z=torch.as_tensor(z),
        edge_index=torch.as_tensor(np.vstack([neighbors, centers])),
        edge_distance=torch.as_tensor(dist, dtype=torch.float32),
        edge_attr=torch.as_tensor(attr, dtype=torch.float32), num_nodes=n,
    )


def _build_network(n_node_features: int, edge_dim: int, hidden: int, n_layers: int) -> Any:
    torch = _torch()
    from torch_geometric.nn import CGConv, global_mean_pool

    class _CGCNN(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(_MAX_Z + 1, hidden)
            self.project = torch.nn.Linear(hidden + n_node_features, hidden)
            self.convs = torch.nn.ModuleList(
                CGConv(hidden, dim=edge_dim, aggr="add", batch_norm=True) for _ in range(n_layers))
            self.head = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.Softplus(),
                                            torch.nn.Linear(hidden, 1))

        def forward(self, batch: Any) -> Any:
            h = self.project(torch.cat([self.embed(batch.z), batch.x], dim=1))
            for conv in self.convs:
                h = torch.nn.functional.softplus(conv(h, batch.edge_index, batch.edge_attr))
            return self.head(global_mean_pool(h, batch.batch)).squeeze(-1)

    return _CGCNN()


class CGCNNRegressor(RegressorMixin, BaseEstimator):
    """CGCNN-style graph network regressor on crystal structures (scikit-learn protocol).

    Parameters
    ----------
    hidden_size
        Width of the embedding, the node states and the head.
    n_layers
        Number of ``CGConv`` layers.
    epochs
        Training epochs (passes over the training graphs).
    lr
        AdamW learning rate.
    batch_size
        Graphs per mini-batch.
    weight_decay
        AdamW weight decay.
    cutoff_angstrom, max_neighbors, gaussian_step_angstrom
        Graph construction (:func:`structure_graph`): cutoff in Å,
        neighbours per site, Gaussian spacing in Å.
    random_state
        Seed of the weights and of the batch order (``None``: a random seed,
        recorded in ``seed_``).
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``.

    Attributes
    ----------
    network_
        The trained ``torch.nn.Module`` (on ``device_``, eval mode).
    x_mean_, x_scale_
        Node-feature standardisation (training nodes).
    y_mean_, y_scale_
        Target standardisation (target units).
    history_
        ``{"train_loss": [...]}``: mean standardised MSE per epoch.
    seed_, device_, n_train_
        Seed used, device trained on, number of training structures.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> xs = [Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...       for a in (3.9, 4.0, 4.1, 4.2)]
    >>> m = CGCNNRegressor(hidden_size=8, n_layers=1, epochs=2, device="cpu").fit(xs, [1.0, 2.0, 3.0, 4.0])
    >>> m.predict(xs[:2]).shape
    (2,)
    """

    def __init__(
        self,
        hidden_size: int = 64,
        n_layers: int = 3,
        epochs: int = 100,
        lr: float = 3e-3,
        batch_size: int = 32,
        weight_decay: float = 1e-5,
        cutoff_angstrom: float = 6.0,
        max_neighbors: int = 12,
        gaussian_step_angstrom: float = 0.2,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.cutoff_angstrom = cutoff_angstrom
        self.max_neighbors = max_neighbors
        self.gaussian_step_angstrom = gaussian_step_angstrom
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        check_int("hidden_size", self.hidden_size, 1)
        check_int("n_layers", self.n_layers, 1)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        _check_positive("lr", self.lr)
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, int | float) \
                or not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise DataFormatError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}",
                                  value=self.weight_decay)
        if self.random_state is not None:
            check_int("random_state", self.random_state, 0)

    def graphs(self, structures: Iterable[Any] | Mapping[Any, Any]) -> list[Any]:
        """Graphs of structures with this model's graph settings.

        Parameters
        ----------
        structures
            ``Structure`` objects, CIF paths or CIF texts (a mapping: its values).

        Raises
        ------
        DataFormatError
            A structure that gives no graph (naming its index), or no structures.
        """
        items = list(structures.values()) if isinstance(structures, Mapping) else list(structures)
        if not items:
            raise DataFormatError("no structures given; pass a non-empty list of structures")
        out = []
        for i, s in enumerate(items):
            try:
                out.append(structure_graph(s, self.cutoff_angstrom, self.max_neighbors,
                                           self.gaussian_step_angstrom, name=f"structure {i}"))
            except DataFormatError as exc:
                if f"structure {i}" in str(exc):
                    raise
                raise DataFormatError(f"structure {i}: {exc}", value=i) from exc
        return out

    def fit(self, structures: Iterable[Any] | Mapping[Any, Any], y: npt.ArrayLike) -> CGCNNRegressor:
        """Train on structures and their targets.

        Parameters
        ----------
        structures
            ``Structure`` objects, CIF paths or CIF texts (n_structures).
        y
            Targets, shape (n_structures,), any unit (predictions are in it).

        Returns
        -------
        CGCNNRegressor
            ``self``.

        Raises
        ------
        DataFormatError
            Bad hyperparameters, a structure without a graph (naming its
            index), lengths that differ, non-finite targets or < 2 structures.
        DependencyError
            PyTorch Geometric missing, or CUDA requested but unavailable.
        """
        self._check_params()
        graphs = self.graphs(structures)
        t = np.asarray(y, dtype=np.float64).ravel()
        if t.size != len(graphs):
            raise DataFormatError(f"{len(graphs)} structures but {t.size} targets; they must match",
                                  value=t.size)
        if len(graphs) < 2:
            raise DataFormatError(f"fit needs at least 2 structures, got {len(graphs)}", value=len(graphs))
        if not np.isfinite(t).all():
            i = int(np.flatnonzero(~np.isfinite(t))[0])
            raise DataFormatError(f"y has a non-finite value at index {i} (structure {i})", row=i, value=t[i])
        torch = _torch()
        device = _resolve_device(self.device)
        seed = int(self.random_state) if self.random_state is not None else int(
            np.random.default_rng().integers(2**31 - 1))
        nodes = np.concatenate([g.x.numpy() for g in graphs]).astype(np.float64)
        x_mean = nodes.mean(axis=0)
        x_sd = nodes.std(axis=0)
        x_scale = np.where(x_sd > 1e-12, x_sd, 1.0)
        y_mean = float(t.mean())
        y_sd = float(t.std())
        y_scale = y_sd if y_sd > 1e-12 else 1.0
        self.x_mean_, self.x_scale_ = x_mean, x_scale
        data = self._prepare(graphs, (t - y_mean) / y_scale)
        cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        prev_det = torch.are_deterministic_algorithms_enabled()
        prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            torch.use_deterministic_algorithms(True, warn_only=True)
            try:
                net, history = self._train(torch, device, data, np.random.default_rng(seed))
            finally:
                torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        self.y_mean_, self.y_scale_ = y_mean, y_scale
        self.network_ = net
        self.history_ = history
        self.seed_ = seed
        self.device_ = str(device)
        self.n_train_ = len(graphs)
        return self

    def _prepare(self, graphs: list[Any], target: np.ndarray | None) -> list[Any]:
        torch = _torch()
        mean = torch.as_tensor(self.x_mean_, dtype=torch.float32)
        scale = torch.as_tensor(self.x_scale_, dtype=torch.float32)
        out = []
        for i, g in enumerate(graphs):
            h = g.clone()
            h.x = (g.x - mean) / scale
            if target is not None:
                h.y = torch.tensor([target[i]], dtype=torch.float32)
            out.append(h)
        return out

    def _train(self, torch: Any, device: Any, data: list[Any], rng: np.random.Generator,
               ) -> tuple[Any, dict[str, list[float]]]:
        from torch_geometric.data import Batch

        edge_dim = int(data[0].edge_attr.shape[1])
        net = _build_network(int(data[0].x.shape[1]), edge_dim, int(self.hidden_size), int(self.n_layers))
        net = net.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        bs = int(self.batch_size)
        n = len(data)
        if n % bs == 1 and n > 1:  # a last batch of one graph with batch norm over few nodes: merge it
            bs += 1
        history: dict[str, list[float]] = {"train_loss": []}
        for _ in range(int(self.epochs)):
            net.train()
            perm = rng.permutation(n)
            total = 0.0
            for start in range(0, n, bs):
                batch = Batch.from_data_list([data[j] for j in perm[start:start + bs]]).to(device)
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(net(batch), batch.y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), _GRAD_CLIP)
                opt.step()
                total += float(loss.detach()) * batch.num_graphs
            history["train_loss"].append(total / n)
        net.eval()
        return net, history

    def predict(self, structures: Iterable[Any] | Mapping[Any, Any]) -> npt.NDArray[np.float64]:
        """Predicted targets (units of the training ``y``), shape (n_structures,).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        DataFormatError
            A structure without a graph (naming its index).
        """
        require_fitted(self, "network_", "x_mean_")
        torch = _torch()
        from torch_geometric.data import Batch

        data = self._prepare(self.graphs(structures), None)
        device = next(self.network_.parameters()).device
        out = []
        self.network_.eval()
        with torch.no_grad():
            for start in range(0, len(data), 256):
                batch = Batch.from_data_list(data[start:start + 256]).to(device)
                out.append(self.network_(batch).cpu().numpy().astype(np.float64))
        return np.concatenate(out) * self.y_scale_ + self.y_mean_
