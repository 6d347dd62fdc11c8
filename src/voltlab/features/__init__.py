"""Features: descriptors computed from cycling data (and, later, compositions and structures)."""

from __future__ import annotations

from voltlab.features.base import BaseFeaturizer
from voltlab.features.composition import (  # Magpie, stoichiometry and battery composition features
    MagpieFeaturizer,
    composition_amounts,
    parse_composition,
)
from voltlab.features.cycling import (  # Severson et al. 2019 early-life features
    CyclingSummaryFeaturizer,
    DeltaQCurveFeaturizer,
    DeltaQFeaturizer,
    DischargeCapacityFeaturizer,
    EarlyCycleData,
    ICAPeakFeaturizer,
    SeversonFeaturizer,
    SummarySequences,
    delta_q_statistics,
    linear_fit,
    severson_early_cycles,
    summary_sequences,
)

__all__ = [
    "BaseFeaturizer",
    "CyclingSummaryFeaturizer",
    "DeltaQCurveFeaturizer",
    "DeltaQFeaturizer",
    "DischargeCapacityFeaturizer",
    "EarlyCycleData",
    "ICAPeakFeaturizer",
    "MagpieFeaturizer",
    "SeversonFeaturizer",
    "SummarySequences",
    "composition_amounts",
    "delta_q_statistics",
    "linear_fit",
    "parse_composition",
    "severson_early_cycles",
    "summary_sequences",
]
