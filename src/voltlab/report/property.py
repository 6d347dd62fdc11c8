"""Figures and the HTML report of materials-property models (``voltlab train``).

``parity_figure``
    Predicted against observed property, with each row's prediction
    interval as an error bar, the ideal line, MAE and R² in the title.
``residual_figure``
    Residual (predicted - observed) against predicted, with the interval
    half-width band when there is one.
``learning_curve``
    Train / validation MAE against training-set size (cross-validated).
``learning_curve_figure``
    Plot of :func:`learning_curve`.
``write_property_report``
    Model card (data source, split, method, seed, metrics, features,
    versions), the figures and the importance table in one HTML file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.errors import DataFormatError
from voltlab.models.property import PropertyRegressor, regression_metrics
from voltlab.report.html import Report

__all__ = ["learning_curve", "learning_curve_figure", "parity_figure", "residual_figure", "write_property_report"]


def _arrays(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.size == 0 or t.shape != p.shape:
        raise DataFormatError(f"y_true and y_pred must be non-empty and of equal length, got {t.size} and {p.size}")
    return t, p


def parity_figure(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, lower: npt.ArrayLike | None = None,
                  upper: npt.ArrayLike | None = None, *, target_label: str = "property",
                  labels: Sequence[str] | None = None) -> Any:
    """Plotly parity plot: predicted vs observed, interval error bars, ideal line.

    Parameters
    ----------
    y_true, y_pred
        Observed and predicted values (target units), shape (n,).
    lower, upper
        Interval bounds (target units), shape (n,), optional.
    target_label
        Axis title with the unit, e.g. ``"average voltage [V]"``.
    labels
        Hover text per point (e.g. formulas).
    """
    import plotly.graph_objects as go

    t, p = _arrays(y_true, y_pred)
    m = regression_metrics(t, p)
    lo_all, hi_all = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    pad = 0.05 * (hi_all - lo_all or 1.0)
    line = [lo_all - pad, hi_all + pad]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", name="ideal", line={"color": "#444", "dash": "dash"}))
    err = None
    if lower is not None and upper is not None:
        lo = np.asarray(lower, dtype=np.float64).ravel()
        hi = np.asarray(upper, dtype=np.float64).ravel()
        err = {"type": "data", "symmetric": False, "array": hi - p, "arrayminus": p - lo, "thickness": 1,
               "color": "rgba(31,119,180,0.35)"}
    fig.add_trace(go.Scatter(x=t, y=p, mode="markers", name="test rows", error_y=err,
                             text=list(labels) if labels is not None else None,
                             marker={"size": 6, "color": "#1f77b4", "opacity": 0.75}))
    fig.update_layout(title=f"Parity: MAE {m['mae']:.3g}, R² {m['r2']:.3f} (n = {t.size})",
                      xaxis_title=f"Observed {target_label}", yaxis_title=f"Predicted {target_label}",
                      template="plotly_white", height=520)
    return fig


def residual_figure(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, half_width: float | None = None, *,
                    target_label: str = "property") -> Any:
    """Residuals (predicted - observed, target units) against predicted, with the ±half-width band."""
    import plotly.graph_objects as go

    t, p = _arrays(y_true, y_pred)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=p, y=p - t, mode="markers", name="residual",
                             marker={"size": 6, "color": "#d62728", "opacity": 0.7}))
    xs = [float(p.min()), float(p.max())]
    fig.add_trace(go.Scatter(x=xs, y=[0, 0], mode="lines", name="zero", line={"color": "#444", "dash": "dash"}))
    if half_width is not None and np.isfinite(half_width):
        for sign in (1, -1):
            fig.add_trace(go.Scatter(x=xs, y=[sign * half_width] * 2, mode="lines", showlegend=sign == 1,
                                     name="interval half-width", line={"color": "#2ca02c", "dash": "dot"}))
    fig.update_layout(title="Residuals", xaxis_title=f"Predicted {target_label}",
                      yaxis_title=f"Predicted - observed {target_label}", template="plotly_white", height=420)
    return fig


def learning_curve(model: PropertyRegressor, X: npt.ArrayLike, y: npt.ArrayLike, *,
                   fractions: Sequence[float] = (0.2, 0.4, 0.7, 1.0), cv: int = 3, seed: int = 0) -> pd.DataFrame:
    """Cross-validated learning curve: train and validation MAE (target units) against training size.

    For each of ``cv`` shuffled folds (seeded) and each fraction, a clone of
    ``model`` (with ``interval="none"``) is fitted on that fraction of the
    fold's training rows and scored on the fold's validation rows.

    Returns
    -------
    pandas.DataFrame
        ``n_train``, ``train_mae``, ``validation_mae``, ``validation_mae_std`` per fraction.
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    x = np.asarray(X, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64).ravel()
    rows: dict[float, list[tuple[int, float, float]]] = {f: [] for f in fractions}
    rng = np.random.default_rng(seed)
    for tr, va in KFold(cv, shuffle=True, random_state=seed).split(x):
        order = tr[rng.permutation(tr.size)]
        for f in fractions:
            sub = order[: max(5, round(f * tr.size))]
            m = clone(model).set_params(interval="none").fit(x[sub], t[sub])
            rows[f].append((sub.size, float(np.mean(np.abs(m.predict(x[sub]) - t[sub]))),
                            float(np.mean(np.abs(m.predict(x[va]) - t[va])))))
    return pd.DataFrame([{"n_train": int(np.mean([r[0] for r in v])), "train_mae": np.mean([r[1] for r in v]),
                          "validation_mae": np.mean([r[2] for r in v]),
                          "validation_mae_std": np.std([r[2] for r in v])} for v in rows.values()])


def learning_curve_figure(curve: pd.DataFrame, *, target_label: str = "property") -> Any:
    """Plot of :func:`learning_curve` output."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["n_train"], y=curve["train_mae"], mode="lines+markers", name="training"))
    fig.add_trace(go.Scatter(x=curve["n_train"], y=curve["validation_mae"], mode="lines+markers",
                             name="validation (CV)",
                             error_y={"type": "data", "array": curve["validation_mae_std"]}))
    fig.update_layout(title="Learning curve", xaxis_title="Training rows",
                      yaxis_title=f"MAE of {target_label}", template="plotly_white", height=420)
    return fig


def write_property_report(
    path: str | os.PathLike[str],
    model: PropertyRegressor,
    card: Mapping[str, Any],
    *,
    y_test: npt.ArrayLike | None = None,
    pred_test: npt.ArrayLike | None = None,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    test_labels: Sequence[str] | None = None,
    curve: pd.DataFrame | None = None,
    importance: pd.Series | None = None,
    title: str = "voltlab property model",
) -> Path:
    """Write the HTML report of a trained property model; returns its path.

    Parameters
    ----------
    path
        Output ``.html``.
    model
        The fitted :class:`~voltlab.models.property.PropertyRegressor`.
    card
        The model card (as saved in the model file): ``target``,
        ``target_unit``, ``data_source``, ``split``, ``metrics``, ``seed``,
        ``feature_labels``, ``versions``, ...
    y_test, pred_test, lower, upper
        Held-out observations, predictions and interval bounds (target units).
    curve
        :func:`learning_curve` output.
    importance
        Mean |SHAP| per feature (:func:`voltlab.models.property.explain`).
    """
    unit = str(card.get("target_unit", ""))
    target = f"{card.get('target', 'property')}" + (f" [{unit}]" if unit else "")
    rep = Report(title, f"{model.method} on {card.get('n_features', '?')} composition features; target {target}")
    rep.provenance.update({"seed": str(model.random_state)})
    metrics = dict(card.get("metrics") or {})
    tiles = {k: (f"{v:.3g}" if isinstance(v, float) else str(v)) for k, v in metrics.items()}
    if tiles:
        rep.add_kpis("Held-out metrics", tiles)
    scalar = {k: v for k, v in card.items() if k not in ("feature_labels", "metrics", "versions")}
    rows = [{"field": k, "value": str(v)} for k, v in scalar.items()]
    rows += [{"field": f"version {k}", "value": str(v)} for k, v in (card.get("versions") or {}).items()]
    rep.add_table("Model card", pd.DataFrame(rows))
    labels = list(card.get("feature_labels") or [])
    if labels:
        rep.add_text("Features", f"{len(labels)} features: " + ", ".join(labels))
    if y_test is not None and pred_test is not None:
        rep.add_figure("Parity (held-out rows)", parity_figure(y_test, pred_test, lower, upper, target_label=target,
                                                               labels=test_labels),
                       note="Error bars: prediction intervals at the model card's coverage.")
        half = None
        if lower is not None and upper is not None:
            half = float(np.median((np.asarray(upper) - np.asarray(lower)) / 2))
        rep.add_figure("Residuals", residual_figure(y_test, pred_test, half, target_label=target))
    if curve is not None:
        rep.add_figure("Learning curve", learning_curve_figure(curve, target_label=target),
                       note="Cross-validated within the training rows; the held-out rows are never used.")
        rep.add_table("Learning curve", curve)
    if importance is not None:
        top = importance.head(20)
        rep.add_table("Feature importance (mean |SHAP|)",
                      pd.DataFrame({"feature": top.index, f"mean |SHAP| [{unit}]": top.to_numpy()}))
    return rep.write(path)
