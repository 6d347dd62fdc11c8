"""Featuriser protocol shared by every voltlab featuriser (matminer's conventions).

A featuriser is stateless (configuration only, set in ``__init__``) and provides

``featurize(x) -> list[float]``
    Features of one input.
``feature_labels() -> list[str]``
    Names, same length and order as ``featurize``'s output, with units in the
    name where they have one (``"delta_q_log10_variance_ah2"``).
``citations() -> list[str]``
    BibTeX entries of the methods implemented.
``implementors() -> list[str]``
    Who wrote it.

:meth:`BaseFeaturizer.featurize_many` applies ``featurize`` to many inputs and
returns a DataFrame; subclasses override it with a vectorised version where
that is faster. With ``ignore_errors=True`` a failing input gives a row of NaN
and its error is kept in ``featurize_many(...).attrs["errors"]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import VoltlabError

__all__ = ["BaseFeaturizer"]


class BaseFeaturizer(ABC):
    """Base class of voltlab featurisers (matminer protocol)."""

    @abstractmethod
    def featurize(self, x: Any) -> list[float]:
        """Features of one input."""

    @abstractmethod
    def feature_labels(self) -> list[str]:
        """Feature names (with units), same order as :meth:`featurize`."""

    def citations(self) -> list[str]:
        """BibTeX entries of the implemented methods."""
        return []

    def implementors(self) -> list[str]:
        """Authors of the implementation."""
        return ["voltlab developers"]

    def featurize_many(
        self, items: Iterable[Any], *, ignore_errors: bool = False, index: Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """Featurise many inputs into a DataFrame (rows = inputs, columns = labels).

        Parameters
        ----------
        items
            Inputs.
        ignore_errors
            If True, an input whose featurisation raises a ``VoltlabError`` gets
            NaN features and the error is recorded in ``df.attrs["errors"]``
            (position -> message); otherwise the error propagates.
        index
            Row labels (e.g. cell ids).
        """
        labels = self.feature_labels()
        rows: list[list[float]] = []
        errors: dict[int, str] = {}
        for k, item in enumerate(items):
            try:
                row = self.featurize(item)
            except VoltlabError as exc:
                if not ignore_errors:
                    raise
                errors[k] = str(exc)
                row = [np.nan] * len(labels)
            rows.append(row)
        df = pd.DataFrame(rows, columns=labels, index=list(index) if index is not None else None)
        df.attrs["errors"] = errors
        return df
