"""Models: property and lifetime prediction with the scikit-learn protocol."""

from __future__ import annotations

from voltlab.models.base import check_xy, require_fitted
from voltlab.models.health import (  # SOH, RUL intervals, degradation rate, knees, anomalies
    CycleAnomalyDetector,
    GroupConformalRegressor,
    KneeFit,
    RulDataset,
    RULRegressor,
    SOHRegressor,
    degradation_rate,
    end_of_life_cycle,
    fit_bacon_watts,
    fit_double_bacon_watts,
    knee_onset,
    knee_point,
    leave_one_cell_out,
    partial_curve_features,
    rul_dataset,
    synthetic_fade_trajectories,
    trajectory_features,
    trajectory_residuals,
)
from voltlab.models.lifetime import LifeClassifier, LifetimeRegressor, long_life_labels
from voltlab.models.metrics import (
    accuracy_within,
    classification_error,
    interval_coverage,
    lifetime_metrics,
    mape,
    rmse,
)
from voltlab.models.sequence import (  # torch is imported on first use, not here
    SequenceDataset,
    SequenceRegressor,
    build_sequence_dataset,
    pad_sequences,
)

__all__ = [
    "CycleAnomalyDetector",
    "GroupConformalRegressor",
    "KneeFit",
    "LifeClassifier",
    "LifetimeRegressor",
    "RULRegressor",
    "RulDataset",
    "SOHRegressor",
    "SequenceDataset",
    "SequenceRegressor",
    "accuracy_within",
    "build_sequence_dataset",
    "check_xy",
    "classification_error",
    "degradation_rate",
    "end_of_life_cycle",
    "fit_bacon_watts",
    "fit_double_bacon_watts",
    "interval_coverage",
    "knee_onset",
    "knee_point",
    "leave_one_cell_out",
    "lifetime_metrics",
    "long_life_labels",
    "mape",
    "pad_sequences",
    "partial_curve_features",
    "require_fitted",
    "rmse",
    "rul_dataset",
    "synthetic_fade_trajectories",
    "trajectory_features",
    "trajectory_residuals",
]
