"""Features: descriptors computed from cycling data compositions (Magpie) and crystal structures."""

from __future__ import annotations

from voltlab.features.base import BaseFeaturizer
from voltlab.features.cell import (
    CellFeaturizer,  # unit-cell descriptors from lattice parameters (no positions)
)
from voltlab.features.chgnet import CHGNetFeaturizer  # pretrained CHGNet embeddings (weights in the wheel)
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
from voltlab.features.electrode import (
    ElectrodePairFeaturizer,  # insertion electrodes: host (charged) + change (discharged - charged)
)
from voltlab.features.protocol import (  # charging-policy (protocol) features: design inputs
    PROTOCOL_FEATURES,
    ChargingPolicy,
    ChargingProtocolFeaturizer,
    parse_charging_policy,
)
from voltlab.features.redox import (  # electrode redox: oxidation-state changes, ionization energies
    REDOX_FEATURES,
    RedoxFeaturizer,
)
from voltlab.features.structure import StructureFeaturizer, read_structure  # crystal-structure descriptors

__all__ = [
    "PROTOCOL_FEATURES",
    "REDOX_FEATURES",
    "BaseFeaturizer",
    "CHGNetFeaturizer",
    "CellFeaturizer",
    "ChargingPolicy",
    "ChargingProtocolFeaturizer",
    "CyclingSummaryFeaturizer",
    "DeltaQCurveFeaturizer",
    "DeltaQFeaturizer",
    "DischargeCapacityFeaturizer",
    "EarlyCycleData",
    "ElectrodePairFeaturizer",
    "ICAPeakFeaturizer",
    "MagpieFeaturizer",
    "RedoxFeaturizer",
    "SeversonFeaturizer",
    "StructureFeaturizer",
    "SummarySequences",
    "composition_amounts",
    "delta_q_statistics",
    "linear_fit",
    "parse_charging_policy",
    "parse_composition",
    "read_structure",
    "severson_early_cycles",
    "summary_sequences",
]
