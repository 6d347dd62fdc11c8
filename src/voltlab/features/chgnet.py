"""Pretrained CHGNet embeddings and energy as crystal-structure features.

CHGNet (Deng et al. 2023) is a universal graph-network potential pretrained
on the Materials Project trajectory dataset (MPtrj, ~1.6 M DFT frames). Its
weights ship inside the ``chgnet`` wheel, so the model loads offline; nothing
is downloaded. For each structure :class:`CHGNetFeaturizer` returns

``chgnet_crystal_feature_0`` .. ``_63``  the pretrained model's crystal feature
                                         vector (dimensionless), which CHGNet
                                         sums over atoms, divided here by the
                                         number of atoms: a mean over atoms
``chgnet_energy_ev_per_atom``            CHGNet's predicted energy of the structure
                                         as given (no relaxation), eV/atom, on the
                                         MPtrj (GGA/GGA+U, MP2020-compatible) scale

Disordered structures (partial occupancies, as in most CIFs of solid
electrolytes) are not understood by CHGNet, which needs one element per site.
They are made ordered in the cell as written (no supercell, no enumeration):
a site whose total occupancy is below ``min_site_occupancy`` (default 0.5) is
dropped as mostly vacant, any other site becomes its majority species
(:func:`voltlab.features.structure.majority_species`). The features of such a
structure describe that approximation, not the disordered crystal; the
number of sites dropped or changed is what :meth:`CHGNetFeaturizer.ordered`
reports.

The crystal feature is a mean over atoms, so it is the same for a cell and
any supercell of it (tested), and for rotated or translated copies.

Runs on the CPU by default (``device="auto"`` picks a CUDA GPU when torch
sees one). About 0.1-0.5 s per structure of 10-300 atoms on one CPU core
(the 321 OBELiX CIFs: 85 s).

Examples
--------
>>> f = CHGNetFeaturizer()                                   # doctest: +SKIP
>>> f.featurize("LiCoO2.cif")[-1]                            # doctest: +SKIP
-5.64...
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, DependencyError, VoltlabError
from voltlab.features.base import BaseFeaturizer
from voltlab.features.structure import majority_species, read_structure

__all__ = ["CHGNET_BIBTEX", "CHGNetFeaturizer"]

CHGNET_BIBTEX = (
    "@article{deng2023chgnet, title={CHGNet as a pretrained universal neural network potential for "
    "charge-informed atomistic modelling}, author={Deng, Bowen and Zhong, Peichen and Jun, KyuJung and "
    "Riebesell, Janosh and Han, Kevin and Bartel, Christopher J. and Ceder, Gerbrand}, journal={Nature Machine "
    "Intelligence}, volume={5}, pages={1031--1041}, year={2023}, doi={10.1038/s42256-023-00716-3}}"
)

_MODELS: dict[tuple[str, str], Any] = {}  # (model name, device) -> loaded CHGNet, one per process


def _load(model_name: str, device: str) -> Any:
    """The pretrained CHGNet, loaded once per process and device (its banner silenced)."""
    key = (model_name, device)
    if key not in _MODELS:
        try:
            from chgnet.model import CHGNet
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DependencyError(
                "CHGNetFeaturizer needs the chgnet package (pretrained weights inside the wheel); install the "
                "'materials' extra: pip install -c constraints.txt -e '.[materials]'") from exc
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
            except ValueError as exc:
                raise DataFormatError(f"unknown CHGNet model_name {model_name!r} ({exc}); use '0.3.0'",
                                      value=model_name) from exc
        model.eval()
        _MODELS[key] = model
    return _MODELS[key]


def _device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:  # pragma: no cover
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


class CHGNetFeaturizer(BaseFeaturizer):
    """Pretrained CHGNet crystal feature (64 numbers) and energy per atom of a structure.

    Parameters
    ----------
    model_name
        CHGNet checkpoint shipped in the wheel: ``"0.3.0"`` (default, MPtrj) or ``"r2scan"``.
    include_energy
        Append ``chgnet_energy_ev_per_atom`` (default True).
    min_site_occupancy
        Sites of a disordered structure with a total occupancy below this are dropped
        (0-1, default 0.5); the others become their majority species.
    batch_size
        Structures per CHGNet batch in :meth:`featurize_many`.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available, else CPU).

    Notes
    -----
    Inputs: a pymatgen ``Structure``, a CIF path or CIF text (:func:`read_structure`).
    The model is loaded at the first featurisation (about 5 s), not at construction,
    and kept for the process.
    """

    N_CRYSTAL_FEATURES = 64

    def __init__(self, *, model_name: str = "0.3.0", include_energy: bool = True, min_site_occupancy: float = 0.5,
                 batch_size: int = 16, device: str = "auto") -> None:
        if not isinstance(min_site_occupancy, int | float) or isinstance(min_site_occupancy, bool) or not (
                0.0 <= float(min_site_occupancy) <= 1.0):
            raise DataFormatError(f"min_site_occupancy must be a number in [0, 1], got {min_site_occupancy!r}",
                                  value=min_site_occupancy)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataFormatError(f"batch_size must be an integer >= 1, got {batch_size!r}", value=batch_size)
        if device not in ("auto", "cpu", "cuda", "mps"):
            raise DataFormatError(f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {device!r}", value=device)
        self.model_name = str(model_name)
        self.include_energy = bool(include_energy)
        self.min_site_occupancy = float(min_site_occupancy)
        self.batch_size = batch_size
        self.device = device

    # ------------------------------------------------------------------ protocol
    def feature_labels(self) -> list[str]:
        """``chgnet_crystal_feature_0..63`` and, with ``include_energy``, ``chgnet_energy_ev_per_atom``."""
        labels = [f"chgnet_crystal_feature_{i}" for i in range(self.N_CRYSTAL_FEATURES)]
        return [*labels, "chgnet_energy_ev_per_atom"] if self.include_energy else labels

    def citations(self) -> list[str]:
        """Deng et al. 2023 (CHGNet)."""
        return [CHGNET_BIBTEX]

    def implementors(self) -> list[str]:
        """Authors of the implementation (the model: Deng et al., CederGroupHub/chgnet)."""
        return ["voltlab developers"]

    def ordered(self, x: Any) -> tuple[Any, int, int]:
        """The ordered structure CHGNet sees, and how many sites were dropped and changed.

        Returns
        -------
        structure, n_dropped, n_changed
            A pymatgen ``Structure`` with one element per site; sites dropped (total
            occupancy below ``min_site_occupancy``); sites that were disordered and
            became their majority species.

        Raises
        ------
        DataFormatError
            Not a structure, CIF path or CIF text; a non-element species; no site left.
        """
        s = read_structure(x)
        if s.is_ordered:
            return s, 0, 0
        from pymatgen.core import Structure

        species, coords = [], []
        dropped = changed = 0
        for site in s:
            z, _occ, total = majority_species(site)
            if total < self.min_site_occupancy:
                dropped += 1
                continue
            changed += int(not site.is_ordered)
            species.append(int(z))
            coords.append(site.frac_coords)
        if not species:
            raise DataFormatError(f"every site of {s.composition.reduced_formula} has a total occupancy below "
                                  f"min_site_occupancy={self.min_site_occupancy:g}; lower it", value=str(s.formula))
        return Structure(s.lattice, species, coords), dropped, changed

    def _row(self, out: dict[str, Any], n_atoms: int) -> list[float]:
        fea = np.asarray(out["crystal_fea"], dtype=np.float64).reshape(-1) / n_atoms  # CHGNet sums over atoms
        if fea.size != self.N_CRYSTAL_FEATURES:  # pragma: no cover - a different checkpoint
            raise VoltlabError(f"CHGNet {self.model_name} returned {fea.size} crystal features, expected "
                               f"{self.N_CRYSTAL_FEATURES}")
        row = fea.tolist()
        if self.include_energy:
            row.append(float(np.asarray(out["e"]).reshape(-1)[0]))
        return row

    def _predict(self, structures: Sequence[Any]) -> list[dict[str, Any]]:
        model = _load(self.model_name, _device(self.device))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = model.predict_structure(list(structures), task="e", return_crystal_feas=True,
                                              batch_size=self.batch_size)
            except (ValueError, RuntimeError, IndexError) as exc:
                raise DataFormatError(f"CHGNet could not featurise the structure ({type(exc).__name__}: {exc}); "
                                      "check that atoms are not on top of each other") from exc
        return out if isinstance(out, list) else [out]

    def featurize(self, x: Any) -> list[float]:
        """Features of one structure (a pymatgen ``Structure``, a CIF path or CIF text)."""
        s, _, _ = self.ordered(x)
        return self._row(self._predict([s])[0], len(s))

    def featurize_many(self, items: Iterable[Any], *, ignore_errors: bool = False,
                       index: Sequence[Any] | None = None) -> pd.DataFrame:
        """Featurise many structures in CHGNet batches of ``batch_size``.

        Same contract as :meth:`BaseFeaturizer.featurize_many`: with ``ignore_errors`` an input
        that cannot be read or featurised gets NaN features and its message in ``df.attrs["errors"]``.
        A batch that fails as a whole is retried one structure at a time, so one bad
        structure does not cost the others their features.
        """
        labels = self.feature_labels()
        rows: list[list[float]] = []
        errors: dict[int, str] = {}
        batch: list[tuple[int, Any]] = []

        def flush() -> None:
            try:
                outs: list[dict[str, Any] | None] = list(self._predict([s for _, s in batch]))
            except VoltlabError:
                outs = []
                for k, s in batch:  # find the structure that failed
                    try:
                        outs.append(self._predict([s])[0])
                    except VoltlabError as exc:
                        if not ignore_errors:
                            raise
                        errors[k] = str(exc)
                        outs.append(None)
            for (k, s), out in zip(batch, outs, strict=True):
                if out is not None:
                    rows[k] = self._row(out, len(s))
            batch.clear()

        for k, item in enumerate(items):  # streamed: at most batch_size ordered structures held at once
            rows.append([math.nan] * len(labels))
            try:
                batch.append((k, self.ordered(item)[0]))
            except VoltlabError as exc:
                if not ignore_errors:
                    raise
                errors[k] = str(exc)
            if len(batch) >= self.batch_size:
                flush()
        if batch:
            flush()
        df = pd.DataFrame(rows, columns=labels, index=list(index) if index is not None else None)
        df.attrs["errors"] = errors
        return df
