"""Structure features of crystals (pymatgen ``Structure`` or CIF): cell, symmetry and Li-environment descriptors.

:class:`StructureFeaturizer` (matminer protocol) gives 42 features per
structure: the cell and symmetry features, and the Li-environment
descriptors of Sendek et al. (2017) that are cheap to compute for Li-ion
conductors.

=====================================  =========================================================
``density_g_per_cm3``                  mass of the cell / its volume (occupancy-weighted masses)
``volume_per_atom_angstrom3``          cell volume / number of atoms (sum of site occupancies)
``packing_fraction_ionic_radii``       sum over sites of occupancy x (4/3) pi r^3 / cell volume, r =
                                       Shannon crystal radius from pymatgen's element table: anions
                                       (rule below) at their negative oxidation state
                                       (``Element.average_anionic_radius``), other elements averaged
                                       over their positive states (``average_cationic_radius``); the
                                       atomic radius where the table has none (P and H as anions).
                                       No oxidation states are assigned. Li2O: 0.59
``packing_fraction_atomic_radii``      the same with ``Element.atomic_radius`` (empirical atomic
                                       radii, Slater 1964; Li 1.45 Å, so > 1 for Li-rich oxides)
``a_angstrom`` ... ``gamma_degree``    lattice parameters of the cell *as given* (the CIF's setting;
                                       no reduction, so a primitive and a conventional cell differ)
``space_group_number``                 spglib through pymatgen's ``SpacegroupAnalyzer`` (``symprec``
                                       0.01 Å, ``angle_tolerance`` 5°); NaN when spglib fails
``crystal_system_<name>``              one-hot of the 7 crystal systems (triclinic ... cubic) from
                                       the space-group number; NaN when that is NaN
``li_atomic_fraction``                 Li atoms / all atoms (occupancy-weighted)
``li_li_min_distance_angstrom``        shortest distance between two Li positions (split-site rule)
``li_anion_min_distance_angstrom``     shortest distance from a Li position to an anion position
``li_anion_coordination_mean``         mean number of anions around a Li (rule below)
``rdf_li_all_<r0>_<r1>_angstrom``      Li-centred radial distribution of all atoms, g(r), 10 bins
``rdf_li_li_<r0>_<r1>_angstrom``       Li-centred radial distribution of Li atoms, g(r), 10 bins
=====================================  =========================================================

Definitions and rules

* **Partial occupancies** are kept as pymatgen's disordered sites (no
  ordering, no supercell): each site carries occupancy-weighted species.
  Masses, atom counts, radius volumes, coordination numbers and RDF counts
  are weighted by the occupancies; a "Li position" is any site with Li on
  it and an "anion position" any site with an anion on it, whatever the
  occupancy.
* **Split sites**: in disordered Li conductors (garnets, argyrodites, ...)
  Li is spread over positions closer to each other than two Li ions can be
  (down to 0.04 Å in the OBELiX CIFs; 1.6-1.9 Å for the garnet 24d-96h and
  argyrodite 48h-48h pairs); they are alternatives, not neighbours. A pair
  of positions of which at least one is partially occupied is ignored by
  the shortest-distance and coordination features when it is closer than
  ``li_li_split_angstrom`` (2.0 Å, the shortest Li-Li distance between
  fully occupied sites in the OBELiX CIFs) for Li-Li, or
  ``li_anion_split_angstrom`` (1.4 Å; the shortest ordered Li-anion
  distance there is 1.51 Å) for Li-anion. Pairs of fully occupied sites
  always count. The RDFs count every pair, occupancy-weighted.
* **Anions** are O, S, Se, Te, F, Cl, Br, I and N; P and H count as anions
  only when none of those is present (phosphides such as Li3P, hydrides
  such as LiAlH4), since in phosphates, thiophosphates and hydroxides they
  are cations. (The composition features count P always; this is the
  structural refinement.) See :func:`anion_elements`.
* **Coordination** (pymatgen's ``MinimumDistanceNN`` rule restricted to
  anions): the anions of a Li position are those within
  (1 + ``coordination_tolerance``) x its shortest Li-anion distance
  (tolerance 0.25: 4 in antifluorite Li2O, whose next O shell is 1.91x
  farther, and 6 in rock-salt LiF, 1.73x), counted with their anion
  occupancy; the mean is weighted by the Li occupancy of the positions. A
  cutoff relative to each site adapts to the anion size (Li-O ~ 2.0 Å vs
  Li-I ~ 2.8 Å), which a single fixed cutoff would not, and is about 1000x
  faster than ``CrystalNN``.
* **RDF**: bins of width ``rdf_bin_angstrom`` (0.5 Å) from ``rdf_min_angstrom``
  (1.0 Å) to ``rdf_max_angstrom`` (6.0 Å). For bin [r0, r1),
  g = (mean over Li atoms of the occupancy-weighted number of atoms at a
  distance in [r0, r1)) / (rho x 4/3 pi (r1^3 - r0^3)), rho = atoms per Å^3
  in the cell (all atoms for ``rdf_li_all``, Li atoms for ``rdf_li_li``), so
  a uniform random arrangement gives 1. Labels name the bin edges in Å
  (``rdf_li_li_2p5_3_angstrom``: 2.5-3.0 Å).
* **Without Li**: ``li_atomic_fraction`` is 0 and every other Li feature
  (distances, coordination, RDFs) is NaN. Without anions the Li-anion
  distance and the coordination are NaN. A shortest distance with no
  partner within ``max_distance_angstrom`` (8 Å) is NaN.

Vectorisation: one periodic neighbour list (pymatgen's, in C) from the Li
positions to every site within 8 Å, then numpy on the pair arrays
(``bincount``, ``minimum.at``); structures are featurised one by one (no
cross-structure batching: they differ in size). About 20 ms per OBELiX
structure (median 76 sites, space-group search included) on one core of a
shared machine; reading the CIF with pymatgen takes ~70 ms more.

References: A. D. Sendek, Q. Yang, E. D. Cubuk, K.-A. N. Duerloo, Y. Cui,
E. J. Reed, "Holistic computational structure screening of more than 12000
candidates for solid lithium-ion conductor materials", Energy Environ. Sci.
10, 306-320 (2017); S. P. Ong et al., "Python Materials Genomics (pymatgen)",
Comput. Mater. Sci. 68, 314-319 (2013); A. Togo et al., spglib, Sci.
Technol. Adv. Mater. Methods 4, 2384822 (2024).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from voltlab.errors import DataFormatError, DependencyError
from voltlab.features.base import BaseFeaturizer

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "CRYSTAL_SYSTEMS",
    "STRUCTURE_ANION_ELEMENTS",
    "StructureFeaturizer",
    "anion_elements",
    "crystal_system",
    "majority_species",
    "read_structure",
]

#: Crystal systems, in the order of the one-hot columns, with the last space-group number of each.
CRYSTAL_SYSTEMS: tuple[tuple[str, int], ...] = (
    ("triclinic", 2), ("monoclinic", 15), ("orthorhombic", 74), ("tetragonal", 142),
    ("trigonal", 167), ("hexagonal", 194), ("cubic", 230),
)

#: Anion elements of the structure features (P is added only when none of these is present).
STRUCTURE_ANION_ELEMENTS: tuple[str, ...] = ("O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N")

#: g/cm^3 per (g/mol / Å^3): 1e24 / N_A.
_DENSITY_FACTOR = 1e24 / 6.02214076e23
_SELF_TOL = 1e-6

SENDEK_BIBTEX = (
    "@article{sendek_2017, title={Holistic computational structure screening of more than 12000 candidates "
    "for solid lithium-ion conductor materials}, volume={10}, DOI={10.1039/C6EE02697D}, number={1}, "
    "journal={Energy & Environmental Science}, author={Sendek, Austin D. and Yang, Qian and Cubuk, Ekin D. "
    "and Duerloo, Karel-Alexander N. and Cui, Yi and Reed, Evan J.}, year={2017}, pages={306--320}}"
)
PYMATGEN_BIBTEX = (
    "@article{ong_2013, title={Python Materials Genomics (pymatgen): A robust, open-source python library "
    "for materials analysis}, volume={68}, DOI={10.1016/j.commatsci.2012.10.028}, "
    "journal={Computational Materials Science}, author={Ong, Shyue Ping and Richards, William Davidson and "
    "Jain, Anubhav and Hautier, Geoffroy and Kocher, Michael and Cholia, Shreyas and Gunter, Dan and "
    "Chevrier, Vincent L. and Persson, Kristin A. and Ceder, Gerbrand}, year={2013}, pages={314--319}}"
)
SPGLIB_BIBTEX = (
    "@article{togo_2024, title={Spglib: a software library for crystal symmetry search}, volume={4}, "
    "DOI={10.1080/27660400.2024.2384822}, number={1}, journal={Science and Technology of Advanced Materials: "
    "Methods}, author={Togo, Atsushi and Shinohara, Kohei and Tanaka, Isao}, year={2024}, pages={2384822}}"
)


def _import_pymatgen() -> Any:
    try:
        import pymatgen.core
        import pymatgen.io.cif
        import pymatgen.symmetry.analyzer
    except ImportError as exc:
        raise DependencyError(
            "structure features need pymatgen (and spglib); install them with `pip install pymatgen` "
            "(versions pinned in constraints.txt)"
        ) from exc
    return pymatgen


def crystal_system(space_group_number: float) -> str | None:
    """Crystal system of an international space-group number (1-230), ``None`` if out of range or NaN."""
    if not (isinstance(space_group_number, int | float | np.integer | np.floating)
            and math.isfinite(space_group_number) and 1 <= space_group_number <= 230):
        return None
    for name, last in CRYSTAL_SYSTEMS:
        if space_group_number <= last:
            return name
    return None  # pragma: no cover - unreachable


def read_structure(x: Structure | str | os.PathLike[str], *, name: str | None = None) -> Structure:
    """A pymatgen ``Structure`` from a ``Structure``, a CIF path or CIF text.

    Parameters
    ----------
    x
        A ``Structure`` (returned as is), the path of a CIF file, or the text
        of a CIF (anything containing a newline and ``_cell_length_a``). The
        first data block with a structure is used, in the cell as written
        (``primitive=False``); pymatgen's parser warnings are silenced.
    name
        How to call the input in error messages (default: the path, or
        ``"CIF text"``).

    Raises
    ------
    DataFormatError
        The file does not exist, is not a CIF pymatgen can read, or ``x`` is
        of another type.
    """
    pmg = _import_pymatgen()
    if isinstance(x, pmg.core.Structure):
        return x
    if isinstance(x, str) and "\n" in x and "_cell_length_a" in x:
        text, where = x, name or "CIF text"
    elif isinstance(x, str | os.PathLike):
        p = Path(x)
        where = name or str(p)
        if not p.is_file():
            raise DataFormatError("no such CIF file (pass a pymatgen Structure, a CIF path or CIF text)",
                                  path=where)
        try:
            text = p.read_text(errors="replace")
        except OSError as exc:
            raise DataFormatError(f"cannot read the CIF file ({exc})", path=where) from exc
    else:
        raise DataFormatError(
            f"expected a pymatgen Structure, a CIF path or CIF text, got {type(x).__name__}", value=x)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = pmg.io.cif.CifParser.from_str(text).parse_structures(primitive=False)
    except Exception as exc:  # pymatgen raises ValueError, KeyError, IndexError, ... on bad CIFs
        raise DataFormatError(f"cannot read as a CIF crystal structure ({type(exc).__name__}: {exc})",
                              path=where) from exc
    if not structures:
        raise DataFormatError("the CIF holds no crystal structure", path=where)
    return structures[0]


def majority_species(site: Any) -> tuple[int, float, float]:
    """(atomic number, its occupancy, total site occupancy) of a possibly disordered pymatgen site.

    The majority species is the one with the largest occupancy (ties: the lighter element).
    Used where a model needs one element per site (the graph network, CHGNet features).

    Raises
    ------
    DataFormatError
        A species that is not an element (a pymatgen ``DummySpecies``).
    """
    items = []
    for sp, occ in site.species.items():
        el = getattr(sp, "element", sp)  # Species (with oxidation state) -> Element
        z = getattr(el, "Z", None)
        if z is None:  # a DummySpecies
            raise DataFormatError(f"site species {sp!s} is not an element; replace it by an element")
        items.append((int(z), float(occ)))
    total = float(sum(o for _, o in items))
    z, occ = min(items, key=lambda t: (-t[1], t[0]))
    return z, occ, total


def anion_elements(elements: Iterable[str]) -> set[str]:
    """The elements of a structure treated as anions by the structure features.

    Those of :data:`STRUCTURE_ANION_ELEMENTS` present; when there is none, P
    and H (phosphides such as Li3P, hydrides such as LiAlH4).
    """
    present = set(elements)
    return (set(STRUCTURE_ANION_ELEMENTS) & present) or ({"P", "H"} & present)


def _radius(r: Any) -> float:
    """A pymatgen radius (FloatWithUnit, float or None) in Å; NaN when missing."""
    return math.nan if r is None else float(r)


@functools.cache
def element_table() -> dict[str, npt.NDArray[Any]]:
    """pymatgen's per-element data the crystal features use, indexed by Z - 1: ``symbols``, ``mass``
    (g/mol), ``atomic``, ``cation`` and ``anion`` radius (Å; ``Element.atomic_radius``,
    ``average_cationic_radius``, ``average_anionic_radius``; NaN where pymatgen has none). Built once."""
    pmg = _import_pymatgen()
    n = 118
    mass, atomic, cation, anion = (np.full(n, np.nan) for _ in range(4))
    symbols = []
    for z in range(1, n + 1):
        el = pmg.core.Element.from_Z(z)
        symbols.append(el.symbol)
        mass[z - 1] = float(el.atomic_mass)
        atomic[z - 1] = _radius(el.atomic_radius)
        cation[z - 1] = _radius(el.average_cationic_radius)
        anion[z - 1] = _radius(el.average_anionic_radius)
    return {"mass": mass, "atomic": atomic, "cation": cation, "anion": anion, "symbols": np.array(symbols)}


def element_index(symbol: str) -> int:
    """Column (Z - 1) of an element symbol in :func:`element_table`; -1 if it is not an element."""
    hits = np.flatnonzero(element_table()["symbols"] == symbol)
    return int(hits[0]) if hits.size else -1


def ionic_radii(idx: npt.ArrayLike, is_anion: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Radii (Å) of the elements in columns ``idx`` as the packing fraction takes them: the anionic
    radius where ``is_anion``, the cationic one elsewhere, the atomic radius where that is missing."""
    tab = element_table()
    i = np.asarray(idx)
    r = np.where(np.asarray(is_anion, dtype=bool), tab["anion"][i], tab["cation"][i])
    return np.asarray(np.where(r > 0, r, tab["atomic"][i]), dtype=np.float64)  # NaN > 0 is False


def _fmt(r: float) -> str:
    return f"{r:g}".replace(".", "p").replace("-", "m")


class StructureFeaturizer(BaseFeaturizer):
    """Density, packing, cell, symmetry and Li-environment (Sendek-style) features of a crystal.

    Parameters
    ----------
    li_li_split_angstrom, li_anion_split_angstrom
        Pairs of positions closer than this (Å; Li-Li 2.0, Li-anion 1.4), at
        least one partially occupied, are split-site alternatives and are
        ignored by the shortest-distance and coordination features.
    coordination_tolerance
        Anions within (1 + tolerance) x the shortest Li-anion distance of a Li
        position are its coordination shell (default 0.25).
    rdf_min_angstrom, rdf_max_angstrom, rdf_bin_angstrom
        RDF bins: from ``rdf_min`` to ``rdf_max`` in steps of ``rdf_bin`` (Å;
        default 1.0, 6.0, 0.5: 10 bins per RDF).
    max_distance_angstrom
        Search radius of the shortest distances (Å, default 8); farther
        partners give NaN.
    symprec, angle_tolerance
        spglib tolerances of the space-group search (Å, degrees).

    Notes
    -----
    See the module docstring for the definitions. Inputs: a pymatgen
    ``Structure``, a CIF path or CIF text (:func:`read_structure`).
    """

    def __init__(
        self,
        *,
        li_li_split_angstrom: float = 2.0,
        li_anion_split_angstrom: float = 1.4,
        coordination_tolerance: float = 0.25,
        rdf_min_angstrom: float = 1.0,
        rdf_max_angstrom: float = 6.0,
        rdf_bin_angstrom: float = 0.5,
        max_distance_angstrom: float = 8.0,
        symprec: float = 0.01,
        angle_tolerance: float = 5.0,
    ) -> None:
        n_bins = (rdf_max_angstrom - rdf_min_angstrom) / rdf_bin_angstrom
        if not (rdf_bin_angstrom > 0 and rdf_min_angstrom >= 0 and n_bins >= 1
                and abs(n_bins - round(n_bins)) < 1e-9):
            raise DataFormatError(
                "RDF bins need 0 <= rdf_min_angstrom < rdf_max_angstrom and a positive rdf_bin_angstrom that "
                f"divides the range, got {rdf_min_angstrom}, {rdf_max_angstrom}, {rdf_bin_angstrom}")
        if not (li_li_split_angstrom >= 0 and li_anion_split_angstrom >= 0 and coordination_tolerance >= 0
                and max_distance_angstrom > 0):
            raise DataFormatError("li_li_split_angstrom, li_anion_split_angstrom and coordination_tolerance must "
                                  "be >= 0 and max_distance_angstrom > 0")
        self.li_li_split_angstrom = float(li_li_split_angstrom)
        self.li_anion_split_angstrom = float(li_anion_split_angstrom)
        self.coordination_tolerance = float(coordination_tolerance)
        self.rdf_edges_angstrom = rdf_min_angstrom + rdf_bin_angstrom * np.arange(round(n_bins) + 1)
        self.max_distance_angstrom = float(max_distance_angstrom)
        self.symprec = float(symprec)
        self.angle_tolerance = float(angle_tolerance)

    # ------------------------------------------------------------------ protocol

    def feature_labels(self) -> list[str]:
        """Feature names with units (see the module docstring)."""
        rdf = [f"{_fmt(r0)}_{_fmt(r1)}_angstrom"
               for r0, r1 in zip(self.rdf_edges_angstrom[:-1], self.rdf_edges_angstrom[1:], strict=True)]
        return [
            "density_g_per_cm3", "volume_per_atom_angstrom3", "packing_fraction_ionic_radii",
            "packing_fraction_atomic_radii",
            "a_angstrom", "b_angstrom", "c_angstrom", "alpha_degree", "beta_degree", "gamma_degree",
            "space_group_number", *[f"crystal_system_{name}" for name, _ in CRYSTAL_SYSTEMS],
            "li_atomic_fraction", "li_li_min_distance_angstrom", "li_anion_min_distance_angstrom",
            "li_anion_coordination_mean",
            *[f"rdf_li_all_{b}" for b in rdf], *[f"rdf_li_li_{b}" for b in rdf],
        ]

    def citations(self) -> list[str]:
        """Sendek et al. 2017 (Li-conductor descriptors), pymatgen and spglib."""
        return [SENDEK_BIBTEX, PYMATGEN_BIBTEX, SPGLIB_BIBTEX]

    def implementors(self) -> list[str]:
        """Authors of the implementation."""
        return ["voltlab developers"]

    def featurize(self, x: Any) -> list[float]:
        """Features of one structure.

        Parameters
        ----------
        x
            A pymatgen ``Structure``, a CIF path or CIF text.

        Returns
        -------
        list of float
            In the order of :meth:`feature_labels`; units in the labels.

        Raises
        ------
        DataFormatError
            Unreadable CIF, a site with a non-element species, or an empty
            structure.
        """
        s = read_structure(x)
        if len(s) == 0:
            raise DataFormatError("the structure has no sites")
        symbols, amounts = self._site_species(s)
        volume = float(s.volume)
        elements = sorted({e for row in symbols for e in row})
        anions = anion_elements(elements)
        cols = {e: element_index(e) for e in elements}
        if any(i < 0 for i in cols.values()):
            bad = next(e for e, i in cols.items() if i < 0)
            raise DataFormatError(f"the structure has a species that is not an element ({bad!r})")
        tab = element_table()
        masses = {e: float(tab["mass"][i]) for e, i in cols.items()}
        atomic_r = {e: float(tab["atomic"][i]) for e, i in cols.items()}
        ionic_r = dict(zip(cols, ionic_radii(list(cols.values()), [e in anions for e in cols]).tolist(), strict=True))
        n_sites = len(s)
        occ_total = np.array([sum(a) for a in amounts])
        occ_li = np.array([sum(a for e, a in zip(es, am, strict=True) if e == "Li")
                           for es, am in zip(symbols, amounts, strict=True)])
        occ_anion = np.array([sum(a for e, a in zip(es, am, strict=True) if e in anions)
                              for es, am in zip(symbols, amounts, strict=True)])
        pairs = [(e, a) for es, am in zip(symbols, amounts, strict=True) for e, a in zip(es, am, strict=True)]
        mass = sum(a * masses[e] for e, a in pairs)
        v_atomic = sum(a * 4.0 / 3.0 * math.pi * atomic_r[e] ** 3 for e, a in pairs)
        v_ionic = sum(a * 4.0 / 3.0 * math.pi * ionic_r[e] ** 3 for e, a in pairs)
        n_atoms = float(occ_total.sum())
        lat = s.lattice
        out: list[float] = [
            mass / volume * _DENSITY_FACTOR, volume / n_atoms, v_ionic / volume, v_atomic / volume,
            *map(float, lat.abc), *map(float, lat.angles),
        ]
        sg = self._space_group(s)
        system = crystal_system(sg)
        out.append(sg)
        out += [math.nan] * len(CRYSTAL_SYSTEMS) if system is None else [
            float(name == system) for name, _ in CRYSTAL_SYSTEMS]
        n_li = float(occ_li.sum())
        out.append(n_li / n_atoms)
        out += self._li_features(s, occ_total, occ_li, occ_anion, volume, n_atoms, n_li, n_sites)
        return out

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _site_species(s: Structure) -> tuple[list[list[str]], list[list[float]]]:
        symbols: list[list[str]] = []
        amounts: list[list[float]] = []
        for k, site in enumerate(s):
            es, am = [], []
            for sp, a in site.species.items():
                sym = getattr(sp, "symbol", None)
                if sym is None or not hasattr(sp, "Z") or type(sp).__name__ == "DummySpecies":
                    raise DataFormatError(f"site {k} holds {sp!s}, which is not an element; structure features "
                                          "need real elements")
                es.append(str(sym))
                am.append(float(a))
            symbols.append(es)
            amounts.append(am)
        return symbols, amounts

    def _space_group(self, s: Structure) -> float:
        pmg = _import_pymatgen()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # spglib's OLD_ERROR_HANDLING notice
                sga = pmg.symmetry.analyzer.SpacegroupAnalyzer(s, symprec=self.symprec,
                                                                angle_tolerance=self.angle_tolerance)
                return float(sga.get_space_group_number())
        except Exception:  # noqa: BLE001 - spglib gives up on some noisy or odd cells: NaN, documented
            return math.nan

    def _li_features(
        self, s: Structure, occ_total: npt.NDArray[np.float64], occ_li: npt.NDArray[np.float64],
        occ_anion: npt.NDArray[np.float64], volume: float, n_atoms: float, n_li: float, n_sites: int,
    ) -> list[float]:
        edges = self.rdf_edges_angstrom
        n_bins = len(edges) - 1
        li_idx = np.flatnonzero(occ_li > 0)
        if li_idx.size == 0:
            return [math.nan] * (3 + 2 * n_bins)
        radius = max(float(edges[-1]), self.max_distance_angstrom)
        centers, points, _, dist = s.get_neighbor_list(radius, sites=[s[int(i)] for i in li_idx],
                                                       exclude_self=False)
        centers = li_idx[centers]
        keep = dist > _SELF_TOL  # the subset's own positions are not excluded by pymatgen
        centers, points, dist = centers[keep], points[keep], dist[keep]
        partial = occ_total < 1.0 - 1e-6
        either_partial = partial[centers] | partial[points]
        w_center = occ_li[centers]

        # shortest Li-Li and Li-anion distances (split-site pairs ignored)
        li_pair = (occ_li[points] > 0) & ~(either_partial & (dist < self.li_li_split_angstrom))
        li_li = float(dist[li_pair].min()) if li_pair.any() else math.nan
        an_pair = (occ_anion[points] > 0) & ~(either_partial & (dist < self.li_anion_split_angstrom))
        li_an = float(dist[an_pair].min()) if an_pair.any() else math.nan

        # coordination: anions within (1 + tol) x the shortest Li-anion distance of each Li position
        if an_pair.any():
            d_an = np.where(an_pair, dist, np.inf)
            d_min = np.full(n_sites, np.inf)
            np.minimum.at(d_min, centers, d_an)
            shell = an_pair & (dist <= (1.0 + self.coordination_tolerance) * d_min[centers])
            cn = np.bincount(centers[shell], weights=occ_anion[points[shell]], minlength=n_sites)
            has = np.isfinite(d_min[li_idx])
            coord = (float(np.sum(occ_li[li_idx][has] * cn[li_idx][has]) / occ_li[li_idx][has].sum())
                     if has.any() else math.nan)
        else:
            coord = math.nan

        # Li-centred RDFs
        shell_vol = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        in_range = (dist >= edges[0]) & (dist < edges[-1])
        b = np.searchsorted(edges, dist[in_range], side="right") - 1
        wc = w_center[in_range]
        all_counts = np.bincount(b, weights=wc * occ_total[points[in_range]], minlength=n_bins)[:n_bins]
        li_counts = np.bincount(b, weights=wc * occ_li[points[in_range]], minlength=n_bins)[:n_bins]
        rdf_all = all_counts / n_li / (n_atoms / volume * shell_vol)
        rdf_li = li_counts / n_li / (n_li / volume * shell_vol)
        return [li_li, li_an, coord, *rdf_all.tolist(), *rdf_li.tolist()]
