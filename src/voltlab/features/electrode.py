"""Insertion-electrode features from the discharged and charged formulas: the host and the change.

An insertion electrode is a pair of compositions, e.g. ``LiFePO4`` (discharged, lithiated) and
``FePO4`` (charged). Its average voltage is the reaction energy of moving the working ion
between them, so a model sees it best as *the host* and *what insertion changes*:

* ``host_<f>``: the Magpie feature ``f`` (:class:`~voltlab.features.MagpieFeaturizer`, 143
  features) of the charged formula, the framework the ion enters;
* ``change_<f>``: ``f(discharged) - f(charged)``, the change the inserted ions make
  (e.g. ``change_magpie_mean_electronegativity_pauling``).

Every feature is per atom (fractions) and so does not depend on how a formula is written, except
Magpie's theoretical capacity, which is per formula unit as written (``Fe2P2O8`` has half the
capacity of ``FePO4``).

These are the same numbers as the two formulas' features side by side, rearranged; for
gradient-boosted trees the rearrangement lowers the leave-cluster-out voltage MAE on the
Materials Project Li electrodes from 0.646 to 0.597 V (XGBoost) and 0.643 to 0.603 V
(LightGBM), 5 seeds (``benchmarks/electrode_voltage.py``).

With ``redox=True`` (the default) the six :class:`~voltlab.features.RedoxFeaturizer` features
follow (the redox couple's ionization energy, electrons per ion, anion redox, the host's cation
oxidation states, from pymatgen's oxidation-state guesses): 292 features in all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError
from voltlab.features.base import BaseFeaturizer
from voltlab.features.composition import WARD_BIBTEX, MagpieFeaturizer
from voltlab.features.redox import REDOX_FEATURES, RedoxFeaturizer, electrode_pairs

__all__ = ["ElectrodePairFeaturizer"]

_SIDES = ("discharged", "charged")


class ElectrodePairFeaturizer(BaseFeaturizer):
    """Host (charged-formula) and change (discharged - charged) Magpie features of insertion electrodes.

    Follows matminer's protocol for a featuriser of two inputs: ``featurize(discharged, charged)``,
    ``feature_labels()`` (143 ``host_`` then 143 ``change_``, units in the names; a change
    has its feature's unit; then the 6 redox features with ``redox``), ``citations()``.

    Parameters
    ----------
    n_electrons
        Electrons per formula unit for the Magpie theoretical-capacity feature (see
        :class:`~voltlab.features.MagpieFeaturizer`).
    redox
        Append :class:`~voltlab.features.RedoxFeaturizer`'s six features (needs pymatgen; about
        5 ms per new formula for the oxidation-state guesses).
    ion
        The working ion of the redox features (``"Li"``, ``"Na"``, ...).

    Examples
    --------
    >>> f = ElectrodePairFeaturizer()
    >>> x = dict(zip(f.feature_labels(), f.featurize("LiFePO4", "FePO4")))
    >>> round(x["host_li_atomic_fraction"], 3), round(x["change_li_atomic_fraction"], 3)
    (0.0, 0.143)
    """

    def __init__(self, n_electrons: float = 1.0, redox: bool = True, ion: str = "Li") -> None:
        self.n_electrons = n_electrons
        self.redox = redox
        self.ion = ion

    def _magpie(self) -> MagpieFeaturizer:
        return MagpieFeaturizer(n_electrons=self.n_electrons)

    def feature_labels(self) -> list[str]:
        """``host_<label>`` then ``change_<label>`` for each MagpieFeaturizer label, then the redox ones."""
        base = self._magpie().feature_labels()
        return [f"host_{b}" for b in base] + [f"change_{b}" for b in base] + (list(REDOX_FEATURES) if self.redox else [])

    def citations(self) -> list[str]:
        """Ward et al. 2016 (the Magpie features of both formulas); pymatgen with ``redox``."""
        return [WARD_BIBTEX, *(RedoxFeaturizer().citations() if self.redox else [])]

    def featurize(self, discharged: Any, charged: Any) -> list[float]:  # type: ignore[override]
        """Features of one electrode (see :meth:`feature_labels`).

        Parameters
        ----------
        discharged, charged
            Formulas (strings or pymatgen Compositions) of the two states.

        Raises
        ------
        DataFormatError
            Either formula is invalid (the message says which).
        """
        return [float(v) for v in self.featurize_many([(discharged, charged)]).iloc[0]]

    def featurize_many(  # type: ignore[override]
        self, items: Iterable[Sequence[Any]], *, ignore_errors: bool = False, index: Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """Features of many electrodes, shape (n_electrodes, 292), or 286 without ``redox``.

        Parameters
        ----------
        items
            ``(discharged, charged)`` formula pairs.
        ignore_errors
            If True, an electrode with an invalid formula gets a row of NaN and its message
            (naming the side) is kept in ``df.attrs["errors"]`` (position -> message).
            ``df.attrs["no_oxidation_states"]`` lists the electrodes whose redox features are NaN
            because pymatgen found no oxidation states (intermetallics; not an error).
        index
            Row labels.

        Raises
        ------
        DataFormatError
            An item that is not a pair, or an invalid formula (``ignore_errors=False``); the
            message names the electrode's position and the side.
        """
        pairs = electrode_pairs(items)
        magpie = self._magpie()
        sides = {side: magpie.featurize_many([p[j] for p in pairs], ignore_errors=True)
                 for j, side in enumerate(_SIDES)}
        errors: dict[int, str] = {}
        for side, feats in sides.items():
            for k, msg in feats.attrs["errors"].items():
                errors[k] = (errors[k] + "; " if k in errors else "") + f"{side} formula: {msg}"
        if errors and not ignore_errors:
            k = min(errors)
            raise DataFormatError(f"electrode {k}: {errors[k]}; fix the formula or pass ignore_errors=True", row=k)
        charged = sides["charged"].to_numpy(dtype=np.float64)
        blocks = [charged, sides["discharged"].to_numpy(dtype=np.float64) - charged]
        unassigned: list[int] = []
        if self.redox:
            ok = [k for k in range(len(pairs)) if k not in errors]
            redox = np.full((len(pairs), len(REDOX_FEATURES)), np.nan)
            got = RedoxFeaturizer(ion=self.ion).featurize_many([pairs[k] for k in ok])
            redox[ok] = got.to_numpy()
            unassigned = [ok[j] for j in got.attrs["no_oxidation_states"]]
            blocks.append(redox)
        values = np.hstack(blocks) if pairs else np.zeros((0, len(self.feature_labels())))
        values[sorted(errors)] = np.nan
        df = pd.DataFrame(values, columns=self.feature_labels(), index=list(index) if index is not None else None)
        df.attrs["errors"] = dict(sorted(errors.items()))
        df.attrs["no_oxidation_states"] = unassigned
        return df
