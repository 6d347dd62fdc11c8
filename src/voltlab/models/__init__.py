"""Models: property and lifetime prediction with the scikit-learn protocol."""

from __future__ import annotations

from voltlab.models.base import check_xy, require_fitted
from voltlab.models.sequence import (  # torch is imported on first use, not here
    SequenceDataset,
    SequenceRegressor,
    build_sequence_dataset,
    pad_sequences,
)

__all__ = [
    "SequenceDataset",
    "SequenceRegressor",
    "build_sequence_dataset",
    "check_xy",
    "pad_sequences",
    "require_fitted",
]
