"""The :class:`CyclingData` container: one cell's time series plus its metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from voltlab.data.metadata import CellMetadata

if TYPE_CHECKING:
    from voltlab.data.summary import SummaryOptions

__all__ = ["CyclingData"]


@dataclass(frozen=True, slots=True)
class CyclingData:
    """One cell's cycling time series in the canonical schema, with metadata.

    Attributes
    ----------
    timeseries
        Table with the columns of :mod:`voltlab.data.schema` (SI-style units in
        the names: ``test_time_second``, ``current_ampere``, ...).
    metadata
        What is known about the cell and the raw file.
    """

    timeseries: pd.DataFrame
    metadata: CellMetadata

    @property
    def cell_id(self) -> str:
        return self.metadata.cell_id

    @property
    def n_rows(self) -> int:
        return len(self.timeseries)

    @property
    def cycles(self) -> list[int]:
        """Cycle numbers present, ascending."""
        return sorted(int(c) for c in self.timeseries["cycle_count"].unique())

    def cycle_summary(self, options: SummaryOptions | None = None) -> pd.DataFrame:
        """Per-cycle summary; see :func:`voltlab.data.summary.cycle_summary`."""
        from voltlab.data.summary import cycle_summary

        return cycle_summary(self, options=options)

    def __repr__(self) -> str:
        return (
            f"CyclingData(cell_id={self.cell_id!r}, rows={self.n_rows}, "
            f"cycles={self.timeseries['cycle_count'].nunique()}, "
            f"source_format={self.metadata.source_format!r})"
        )
