"""Health of cycled cells: SOH, RUL with intervals, degradation rate, knees and anomalies.

One import point for the per-cycle health tools, each in its own small module:

=================================  =============================================================
:mod:`voltlab.models.soh`          SOH per cycle from a partial voltage window
                                   (:func:`partial_curve_features`, :class:`SOHRegressor`,
                                   :func:`leave_one_cell_out`)
:mod:`voltlab.models.rul`          end of life, causal trajectory features, RUL labels and
                                   a log-target RUL regressor (:func:`end_of_life_cycle`,
                                   :func:`trajectory_features`, :func:`rul_dataset`,
                                   :class:`RULRegressor`)
:mod:`voltlab.models.conformal`    prediction intervals calibrated on held-out cells
                                   (:class:`GroupConformalRegressor`: split conformal or
                                   jackknife+ by cell)
:mod:`voltlab.models.trend`        robust fade rate and its trend (:func:`degradation_rate`,
                                   :func:`rolling_theil_sen`, :func:`lowess`)
:mod:`voltlab.models.knee`         knee point and knee onset (Bacon-Watts, double
                                   Bacon-Watts; Fermín-Cueto et al. 2020)
:mod:`voltlab.models.anomaly`      anomalous cycles (:class:`CycleAnomalyDetector`: Isolation
                                   Forest on trajectory residuals)
:mod:`voltlab.models.synthetic`    synthetic knee-shaped fleets for tests and demos
=================================  =============================================================

Typical RUL workflow (cells as the unit everywhere)::

    ds = rul_dataset(summary, threshold=0.8, capacity_column="capacity_retention")
    model = GroupConformalRegressor(RULRegressor(), score="relative", alpha=0.1)
    model.fit(ds.X, ds.y, ds.groups)
    now = trajectory_features(cycles_so_far, retention_so_far, threshold=0.8).iloc[[-1]]
    rul, (low, high) = model.predict(now)[0], model.predict_interval(now)[0]
"""

from __future__ import annotations

from voltlab.models.anomaly import CycleAnomalyDetector, trajectory_residuals
from voltlab.models.conformal import GroupConformalRegressor, weighted_quantile
from voltlab.models.knee import (
    KneeFit,
    bacon_watts,
    double_bacon_watts,
    fit_bacon_watts,
    fit_double_bacon_watts,
    knee_onset,
    knee_point,
)
from voltlab.models.rul import RulDataset, RULRegressor, end_of_life_cycle, rul_dataset, trajectory_features
from voltlab.models.soh import SOHRegressor, leave_one_cell_out, partial_curve_features
from voltlab.models.synthetic import synthetic_fade_trajectories
from voltlab.models.trend import degradation_rate, lowess, rolling_theil_sen

__all__ = [
    "CycleAnomalyDetector",
    "GroupConformalRegressor",
    "KneeFit",
    "RULRegressor",
    "RulDataset",
    "SOHRegressor",
    "bacon_watts",
    "degradation_rate",
    "double_bacon_watts",
    "end_of_life_cycle",
    "fit_bacon_watts",
    "fit_double_bacon_watts",
    "knee_onset",
    "knee_point",
    "leave_one_cell_out",
    "lowess",
    "partial_curve_features",
    "rolling_theil_sen",
    "rul_dataset",
    "synthetic_fade_trajectories",
    "trajectory_features",
    "trajectory_residuals",
    "weighted_quantile",
]
