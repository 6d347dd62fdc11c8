"""Materials-property regression and screening from composition features (scikit-learn protocol).

:class:`PropertyRegressor` predicts one scalar property of a material from a
feature matrix (usually :class:`~voltlab.features.MagpieFeaturizer` output):
ionic conductivity in log10(S/cm), average voltage in V, capacity in mAh/g,
formation energy in eV/atom. The unit of the target is the unit of ``y``;
nothing is transformed. One class, several methods (``method=``):

``"rf"``
    Random forest (300 trees, ``max_features=1/3``).
``"xgboost"``
    XGBoost (500 trees of depth 6, learning rate 0.05, subsample 0.8,
    column subsample 0.5, ``hist``).
``"lightgbm"``
    LightGBM (500 trees, 31 leaves, learning rate 0.05, min 5 samples per
    leaf, subsample 0.8, column subsample 0.5).
``"gp"``
    Exact Gaussian process (PyTorch, float64; GPU when present) on
    standardised features with an ARD kernel C * RBF(one length scale per
    feature) + white noise, target normalised, hyperparameters by maximum
    marginal likelihood (150 Adam steps, deterministic start).
    With more than ``max_gp_features`` features (default 20), the
    standardised features are first projected on their first
    ``max_gp_features`` principal components (a ``UserWarning`` says so):
    ARD over 143 Magpie features has 145 hyperparameters and overfits the
    marginal likelihood. GP fitting is O(n^3): more than ``max_gp_samples``
    (default 1000) training rows are subsampled (seeded, with a warning).
``"mlp"``
    Small PyTorch multilayer perceptron (256-128 ReLU, AdamW, learning rate
    1e-3, weight decay 1e-4, 200 epochs, batch 64) on standardised features
    and target; CPU unless a CUDA GPU is present (``device="auto"``); seeded.

Missing feature values (an unparseable formula) are replaced by the training
median of the column (``imputer_``) for every method.

Transfer learning: ``init_model`` (a fitted regressor of the same method)
starts the fit from a pretrained model. ``"mlp"`` fine-tunes all layers from
its weights at ``fine_tune_lr_factor`` (default 0.1) times the learning rate,
keeping its feature centring and target scaling (a feature's scale is widened
to the new data's standard deviation where that is larger, and standardised
MLP inputs are always clipped to ±6); ``"xgboost"`` / ``"lightgbm"`` keep
its trees and add new ones fitted to the residuals of the new data
(warm-started boosting).

Uncertainty (:meth:`PropertyRegressor.predict_interval`), ``interval=``:

``"cv"`` (default)
    Split-conformal with cross-validated residuals: ``interval_cv``-fold
    out-of-fold absolute residuals r_i of the training data; the interval at
    coverage 1 - a is the prediction ± the ceil((n + 1)(1 - a))-th smallest
    r_i (as :class:`~voltlab.models.lifetime.LifetimeRegressor`).
``"split"``
    Split-conformal: a seeded ``calibration_fraction`` of the training rows
    is held out, the model is fitted on the rest, and the residuals of the
    held-out rows set the half-width as above.
``"native"``
    ``"gp"``: prediction ± z * predictive standard deviation (Gaussian);
    ``"rf"``: mean ± z * standard deviation of the per-tree predictions
    (ensemble spread; not calibrated, usually too narrow or too wide).
``"none"``
    No intervals (fastest; for benchmarks and tuning).

Grouped validation: :func:`cluster_labels`, :func:`leave_cluster_out` and
:func:`cluster_holdout` (KMeans on standardised features), and
:func:`chemical_family` + :func:`group_kfold_indices` (by chemical family).
:func:`tune` runs nested grouped cross-validation with Optuna;
:func:`explain` gives mean |SHAP| per feature.

Model files (:meth:`PropertyRegressor.save`) are JSON, never pickle: the
settings, the training table, the recorded training predictions and
interval residuals, a model card and a SHA-256 of the content. Loading
checks the hash, refits from the table with the recorded seed and checks
that the refit reproduces the recorded predictions, so an edited or
incompatible file is refused instead of silently predicting something else.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from voltlab._files import atomic_write_text
from voltlab.errors import DataFormatError, DependencyError, MissingFileError
from voltlab.models.base import check_int, check_xy, require_fitted

__all__ = [
    "CLASSIFIER_METHODS",
    "INTERVAL_METHODS",
    "MODEL_FORMAT",
    "PROPERTY_METHODS",
    "PropertyClassifier",
    "PropertyRegressor",
    "TuneResult",
    "chemical_family",
    "cluster_holdout",
    "cluster_labels",
    "conformal_quantile",
    "explain",
    "group_kfold_indices",
    "leave_cluster_out",
    "regression_metrics",
    "screening_funnel",
    "tune",
]

#: Methods of :class:`PropertyRegressor`.
PROPERTY_METHODS: tuple[str, ...] = ("rf", "xgboost", "lightgbm", "gp", "mlp")
#: Interval methods of :class:`PropertyRegressor`.
INTERVAL_METHODS: tuple[str, ...] = ("cv", "split", "native", "none")
#: Methods of :class:`PropertyClassifier`.
CLASSIFIER_METHODS: tuple[str, ...] = ("rf", "xgboost", "lightgbm", "logistic")
#: Format tag of property model files.
MODEL_FORMAT = "voltlab.property/1"

#: Working ions left out of a chemical family (the host framework defines the family).
WORKING_IONS: tuple[str, ...] = ("Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Zn", "Al", "Y")

_Z_CLIP = 6.0  # standardised MLP inputs are clipped to ±6 standard deviations
_MLP_DEFAULTS: dict[str, Any] = {"hidden": (256, 128), "lr": 1e-3, "weight_decay": 1e-4, "epochs": 200,
                                 "batch_size": 64, "dropout": 0.0}


# ---------------------------------------------------------------------------- small helpers


def _check_coverage(coverage: Any) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0 < coverage < 1:
        raise DataFormatError(f"coverage must be a fraction in (0, 1), e.g. 0.9, got {coverage!r}", value=coverage)
    return float(coverage)


def conformal_quantile(residuals: npt.ArrayLike, coverage: float) -> float:
    """Split-conformal half-width: the ceil((n + 1) * coverage)-th smallest |residual|.

    Parameters
    ----------
    residuals
        Calibration residuals (target units), shape (n,).
    coverage
        Nominal coverage in (0, 1).

    Returns
    -------
    float
        The half-width (target units); ``inf`` when n is too small for the
        coverage (ceil((n + 1) * coverage) > n).

    Examples
    --------
    >>> conformal_quantile([0.1, -0.2, 0.3, -0.4], 0.5)
    0.3
    """
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64).ravel()))
    cov = _check_coverage(coverage)
    if r.size == 0:
        raise DataFormatError("no calibration residuals; fit with interval='cv' or 'split'")
    k = math.ceil((r.size + 1) * cov)
    return float("inf") if k > r.size else float(r[k - 1])


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, lower: npt.ArrayLike | None = None,
                       upper: npt.ArrayLike | None = None) -> dict[str, float]:
    """MAE, RMSE, R² (and interval coverage and mean width) in the target's units.

    Returns
    -------
    dict
        ``n``, ``mae``, ``rmse``, ``r2``, and with intervals ``coverage``
        (fraction of y inside [lower, upper]) and ``mean_width``.

    Examples
    --------
    >>> regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
    0.3333333333333333
    """
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size == 0:
        raise DataFormatError(f"y_true and y_pred must be non-empty and of equal length, got {t.size} and {p.size}")
    err = p - t
    ss = float(np.sum((t - t.mean()) ** 2))
    out = {"n": float(t.size), "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
           "r2": float(1 - np.sum(err ** 2) / ss) if ss > 0 else float("nan")}
    if lower is not None and upper is not None:
        lo = np.asarray(lower, dtype=np.float64).ravel()
        hi = np.asarray(upper, dtype=np.float64).ravel()
        out["coverage"] = float(np.mean((t >= lo) & (t <= hi)))
        out["mean_width"] = float(np.mean(hi - lo))
    return out


# ---------------------------------------------------------------------------- grouped splits


def _standardised(X: npt.ArrayLike) -> np.ndarray:
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataFormatError(f"X must be 2-D with at least 2 rows, got shape {x.shape}", value=x.shape)
    med = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    x = np.where(np.isfinite(x), x, med)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def cluster_labels(X: npt.ArrayLike, n_clusters: int = 5, seed: int = 0) -> npt.NDArray[np.int64]:
    """KMeans cluster of each row of a composition-feature matrix.

    The rule: non-finite values are replaced by the column median, every
    column is standardised (zero mean, unit variance; constant columns left
    at 0), then ``KMeans(n_clusters, n_init=10, random_state=seed)`` on all
    columns (Euclidean distance). Clusters are numbered 0..n_clusters-1.

    Parameters
    ----------
    X
        Features, shape (n_samples, n_features).
    n_clusters
        Number of clusters (2..n_samples).
    seed
        KMeans seed.

    Raises
    ------
    DataFormatError
        Bad ``n_clusters`` or ``X``.

    Examples
    --------
    >>> x = [[0.0], [0.1], [10.0], [10.1]]
    >>> labels = cluster_labels(x, 2, seed=0)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    from sklearn.cluster import KMeans

    z = _standardised(X)
    k = check_int("n_clusters", n_clusters, 2)
    if k > z.shape[0]:
        raise DataFormatError(f"n_clusters={k} exceeds the number of rows ({z.shape[0]}); lower it", value=k)
    km = KMeans(n_clusters=k, n_init=10, random_state=check_int("seed", seed, 0))
    return km.fit_predict(z).astype(np.int64)


def leave_cluster_out(X: npt.ArrayLike, n_clusters: int = 5, seed: int = 0,
                      ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Leave-one-cluster-out folds (Meredig et al. 2018): each cluster is the test set once.

    Clusters are :func:`cluster_labels` (KMeans on standardised features).

    Returns
    -------
    list of (train_indices, test_indices)
        One pair per non-empty cluster, in cluster order; row indices.

    Examples
    --------
    >>> folds = leave_cluster_out([[0.0], [0.1], [10.0], [10.1]], 2)
    >>> sorted(len(te) for _, te in folds)
    [2, 2]
    """
    labels = cluster_labels(X, n_clusters, seed)
    idx = np.arange(labels.size)
    return [(idx[labels != c], idx[labels == c]) for c in np.unique(labels)]


def cluster_holdout(X: npt.ArrayLike, n_clusters: int = 5, test_fraction: float = 0.2, seed: int = 0,
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One train/test split that holds out whole KMeans clusters.

    Clusters (:func:`cluster_labels`, seed ``seed``) are taken in a seeded
    random order and added to the test set until it holds at least
    ``test_fraction`` of the rows; a cluster that would put more than 60 %
    of the rows in the test set is skipped. At least one cluster stays in
    training.

    Returns
    -------
    (train_indices, test_indices, labels)

    Raises
    ------
    DataFormatError
        ``test_fraction`` not in (0, 0.6), or no cluster fits.
    """
    if not (isinstance(test_fraction, int | float) and 0 < test_fraction < 0.6):
        raise DataFormatError(f"test_fraction must be in (0, 0.6), e.g. 0.2, got {test_fraction!r}",
                              value=test_fraction)
    labels = cluster_labels(X, n_clusters, seed)
    n = labels.size
    rng = np.random.default_rng(seed)
    uniq = np.unique(labels)
    test: list[int] = []
    count = 0
    for c in uniq[rng.permutation(uniq.size)]:
        size = int((labels == c).sum())
        if count + size > 0.6 * n or len(test) == uniq.size - 1:
            continue
        test.append(int(c))
        count += size
        if count >= test_fraction * n:
            break
    if not test:
        raise DataFormatError(f"no KMeans cluster fits in 60 % of the {n} rows; use more clusters",
                              value=n_clusters)
    is_test = np.isin(labels, test)
    idx = np.arange(n)
    return idx[~is_test], idx[is_test], labels


def chemical_family(formulas: Sequence[str], exclude: Sequence[str] = WORKING_IONS) -> list[str]:
    """Chemical family of each formula: its elements other than ``exclude``, sorted, joined by '-'.

    With the default ``exclude`` (the working ions Li, Na, K, Rb, Cs, Mg,
    Ca, Zn, Al, Y) the family is the host framework's chemical system:
    LiCoO2 and CoO2 are both ``"Co-O"``, LiFePO4 and NaFePO4 ``"Fe-O-P"``.
    A formula of excluded elements only keeps its own elements.

    Raises
    ------
    DataFormatError
        A formula pymatgen cannot parse (names it).

    Examples
    --------
    >>> chemical_family(["LiCoO2", "Li0.5CoO2", "NaFePO4"])
    ['Co-O', 'Co-O', 'Fe-O-P']
    """
    from voltlab.features.composition import parse_composition

    out = []
    drop = set(exclude)
    for f in formulas:
        els = sorted(str(e) for e in parse_composition(str(f)).elements)
        host = [e for e in els if e not in drop] or els
        out.append("-".join(host))
    return out


def group_kfold_indices(groups: Sequence[Any], n_splits: int = 5, seed: int = 0,
                        ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """K folds over whole groups (seeded shuffle of the groups, then equal-count chunks).

    Returns
    -------
    list of (train_indices, test_indices)
        No group is ever on both sides of a fold; each group is tested once.

    Raises
    ------
    DataFormatError
        ``n_splits`` not in 2..number of groups.

    Examples
    --------
    >>> folds = group_kfold_indices(["a", "a", "b", "c"], 3)
    >>> sorted(te.tolist() for _, te in folds)
    [[0, 1], [2], [3]]
    """
    g = np.asarray([str(x) for x in groups])
    uniq = np.unique(g)
    k = check_int("n_splits", n_splits, 2)
    if k > uniq.size:
        raise DataFormatError(f"n_splits={k} exceeds the number of groups ({uniq.size}); lower it", value=k)
    rng = np.random.default_rng(seed)
    idx = np.arange(g.size)
    folds = []
    for chunk in np.array_split(uniq[rng.permutation(uniq.size)], k):
        is_test = np.isin(g, chunk)
        folds.append((idx[~is_test], idx[is_test]))
    return folds


# ---------------------------------------------------------------------------- torch MLP


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise DependencyError("method='mlp' needs PyTorch: pip install torch") from exc
    return torch


@dataclass
class _MLPNet:
    """A fitted MLP: torch module plus the feature / target scaling it was trained with."""

    module: Any
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    device: str

    def standardise(self, x: np.ndarray) -> np.ndarray:
        # Clipped so that a feature far outside the training range cannot blow up the output.
        return np.clip((x - self.x_mean) / self.x_scale, -_Z_CLIP, _Z_CLIP)

    def predict(self, x: np.ndarray) -> np.ndarray:
        torch = _torch()
        z = torch.as_tensor(self.standardise(x), dtype=torch.float32, device=self.device)
        self.module.eval()
        with torch.no_grad():
            out = self.module(z).squeeze(-1).double().cpu().numpy()
        return out * self.y_scale + self.y_mean


def _device(device: str) -> str:
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DataFormatError(f"device={device!r} but no CUDA GPU is available; use device='cpu' or 'auto'",
                              value=device)
    return device


def _fit_mlp(x: np.ndarray, t: np.ndarray, settings: Mapping[str, Any], seed: int, device: str,
             init: _MLPNet | None = None, lr_factor: float = 1.0) -> _MLPNet:
    torch = _torch()
    dev = _device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if init is None:
        x_mean, x_scale = x.mean(axis=0), x.std(axis=0)
        x_scale = np.where(x_scale > 0, x_scale, 1.0)
        y_mean, y_scale = float(t.mean()), float(t.std()) or 1.0
        layers: list[Any] = []
        width = x.shape[1]
        for h in settings["hidden"]:
            layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
            if settings["dropout"] > 0:
                layers.append(torch.nn.Dropout(float(settings["dropout"])))
            width = int(h)
        layers.append(torch.nn.Linear(width, 1))
        module = torch.nn.Sequential(*layers)
    else:
        # Keep the pretrained centring and target scaling; widen a column's scale where the new data
        # spread more than the pretraining data did (e.g. Na fraction: ~0 spread in Li electrodes).
        x_mean, y_mean, y_scale = init.x_mean, init.y_mean, init.y_scale
        x_scale = np.maximum(init.x_scale, x.std(axis=0))
        module = copy.deepcopy(init.module).cpu()
    module = module.to(dtype=torch.float32, device=dev)
    net = _MLPNet(module, x_mean, x_scale, y_mean, y_scale, dev)
    xs = torch.as_tensor(net.standardise(x), dtype=torch.float32)
    ys = torch.as_tensor((t - y_mean) / y_scale, dtype=torch.float32)
    opt = torch.optim.AdamW(module.parameters(), lr=float(settings["lr"]) * lr_factor,
                            weight_decay=float(settings["weight_decay"]))
    bs = max(1, min(int(settings["batch_size"]), xs.shape[0]))
    module.train()
    for _ in range(int(settings["epochs"])):
        order = torch.randperm(xs.shape[0], generator=gen)
        for start in range(0, xs.shape[0], bs):
            b = order[start:start + bs]
            xb, yb = xs[b].to(dev), ys[b].to(dev)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(module(xb).squeeze(-1), yb)
            loss.backward()
            opt.step()
    module.eval()
    return net


# ---------------------------------------------------------------------------- regressor


class _ARDGaussianProcess(RegressorMixin, BaseEstimator):
    """Exact GP regression, ARD squared-exponential kernel + white noise, in PyTorch (float64).

    Hyperparameters (one length scale per input, signal variance, noise
    variance; all log-parametrised) maximise the log marginal likelihood by
    Adam (``max_iter`` steps, learning rate ``lr``) from length scales
    sqrt(n_inputs), signal variance 1 and noise 0.1 on the normalised target.
    Deterministic (no random start). ``alpha`` is jitter added to the diagonal.
    """

    def __init__(self, max_iter: int = 300, lr: float = 0.05, alpha: float = 1e-6, device: str = "auto") -> None:
        self.max_iter = max_iter
        self.lr = lr
        self.alpha = alpha
        self.device = device

    def _kernel(self, a: Any, b: Any) -> Any:
        torch = _torch()
        ls = torch.exp(self.log_ls_)
        a, b = a / ls, b / ls
        # Expanded squared distance: cdist's backward pass is far slower.
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return torch.exp(self.log_sf2_) * torch.exp(-0.5 * torch.clamp(sq, min=0.0))

    def fit(self, x: np.ndarray, y: np.ndarray) -> _ARDGaussianProcess:
        torch = _torch()
        dev = _device(self.device)
        self.device_ = dev
        self.y_mean_, self.y_scale_ = float(np.mean(y)), float(np.std(y)) or 1.0
        xt = torch.as_tensor(x, dtype=torch.float64, device=dev)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float64, device=dev)
        n, d = xt.shape
        self.log_ls_ = torch.full((d,), 0.5 * math.log(d), dtype=torch.float64, device=dev, requires_grad=True)
        self.log_sf2_ = torch.zeros((), dtype=torch.float64, device=dev, requires_grad=True)
        self.log_noise_ = torch.tensor(math.log(0.1), dtype=torch.float64, device=dev, requires_grad=True)
        opt = torch.optim.Adam([self.log_ls_, self.log_sf2_, self.log_noise_], lr=self.lr)
        eye = torch.eye(n, dtype=torch.float64, device=dev)
        for _ in range(int(self.max_iter)):
            opt.zero_grad()
            k = self._kernel(xt, xt) + (torch.exp(self.log_noise_) + self.alpha) * eye
            chol = torch.linalg.cholesky(k)
            alpha = torch.cholesky_solve(yt[:, None], chol)
            nll = 0.5 * (yt[:, None] * alpha).sum() + torch.log(torch.diagonal(chol)).sum()
            nll.backward()
            opt.step()
            with torch.no_grad():
                self.log_ls_.clamp_(math.log(1e-2), math.log(1e3))
                self.log_noise_.clamp_(math.log(1e-6), math.log(10.0))
                self.log_sf2_.clamp_(math.log(1e-3), math.log(1e3))
        with torch.no_grad():
            k = self._kernel(xt, xt) + (torch.exp(self.log_noise_) + self.alpha) * eye
            self.chol_ = torch.linalg.cholesky(k)
            self.weights_ = torch.cholesky_solve(yt[:, None], self.chol_)
        self.x_train_ = xt
        return self

    @property
    def length_scales_(self) -> np.ndarray:
        """Fitted ARD length scales (standardised input units)."""
        return np.exp(self.log_ls_.detach().cpu().numpy())

    @property
    def noise_variance_(self) -> float:
        """Fitted white-noise variance, in (target units)^2."""
        return float(np.exp(self.log_noise_.detach().cpu().item())) * self.y_scale_ ** 2

    def predict(self, x: np.ndarray, return_std: bool = False) -> Any:
        torch = _torch()
        with torch.no_grad():
            xs = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64, device=self.device_)
            ks = self._kernel(xs, self.x_train_)
            mean = (ks @ self.weights_).squeeze(-1).cpu().numpy() * self.y_scale_ + self.y_mean_
            if not return_std:
                return mean
            v = torch.cholesky_solve(ks.T, self.chol_)
            var = torch.exp(self.log_sf2_) + torch.exp(self.log_noise_) - (ks * v.T).sum(dim=1)
            std = torch.sqrt(torch.clamp(var, min=1e-12)).cpu().numpy() * self.y_scale_
        return mean, std


class PropertyRegressor(RegressorMixin, BaseEstimator):
    """Materials-property regressor on composition features, with intervals.

    Parameters
    ----------
    method
        One of :data:`PROPERTY_METHODS` (see the module notes).
    interval
        One of :data:`INTERVAL_METHODS`: ``"cv"`` (cross-validated
        conformal), ``"split"`` (held-out calibration fold), ``"native"``
        (GP std / RF tree spread) or ``"none"``.
    interval_cv
        Folds of the cross-validation behind ``interval="cv"``.
    calibration_fraction
        Share of the training rows held out for ``interval="split"``.
    max_gp_features
        ``"gp"``: above this many features, fit on this many principal
        components of the standardised features.
    max_gp_samples
        ``"gp"``: above this many rows, fit on a seeded random subset.
    init_model
        A fitted :class:`PropertyRegressor` (same method, same features) to
        start from: fine-tuning (``"mlp"``) or warm-started boosting
        (``"xgboost"``, ``"lightgbm"``).
    fine_tune_lr_factor
        ``"mlp"`` with ``init_model``: learning-rate multiplier.
    params
        Extra keyword arguments of the underlying estimator (for ``"mlp"``:
        ``hidden``, ``lr``, ``weight_decay``, ``epochs``, ``batch_size``,
        ``dropout``; for ``"gp"``: ``max_iter`` (Adam steps, default 150),
        ``lr`` (0.05), ``alpha`` (diagonal jitter, 1e-6)).
    device
        ``"mlp"``: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    random_state
        Seed of every random component (trees, folds, weights, subsets).

    Attributes
    ----------
    estimator_
        The fitted model (scikit-learn / XGBoost / LightGBM estimator, a
        Pipeline for ``"gp"``, or an internal MLP for ``"mlp"``).
    imputer_
        Median imputer of the features (fitted on the training rows).
    n_features_in_
        Number of features seen in ``fit``.
    residuals_
        Calibration residuals (target units) behind ``predict_interval``;
        None with ``interval="native"`` or ``"none"``.
    n_pca_components_
        ``"gp"``: principal components used (None when no PCA).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(200, 3))
    >>> y = 2 * X[:, 0] + X[:, 1] ** 2
    >>> m = PropertyRegressor("rf", params={"n_estimators": 50}, interval_cv=3).fit(X, y)
    >>> lo, hi = m.predict_interval(X[:5], 0.9)
    >>> bool(np.all(lo <= hi))
    True
    """

    def __init__(
        self,
        method: str = "rf",
        *,
        interval: str = "cv",
        interval_cv: int = 5,
        calibration_fraction: float = 0.2,
        max_gp_features: int = 20,
        max_gp_samples: int = 1000,
        init_model: PropertyRegressor | None = None,
        fine_tune_lr_factor: float = 0.1,
        params: Mapping[str, Any] | None = None,
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.interval = interval
        self.interval_cv = interval_cv
        self.calibration_fraction = calibration_fraction
        self.max_gp_features = max_gp_features
        self.max_gp_samples = max_gp_samples
        self.init_model = init_model
        self.fine_tune_lr_factor = fine_tune_lr_factor
        self.params = params
        self.device = device
        self.random_state = random_state

    def __sklearn_clone__(self) -> PropertyRegressor:
        # A pretrained init_model is data, not a sub-estimator: clones share it fitted.
        return type(self)(**self.get_params(deep=False))

    # ------------------------------------------------------------------ building
    def _validate(self) -> None:
        if self.method not in PROPERTY_METHODS:
            raise DataFormatError(f"method must be one of {PROPERTY_METHODS}, got {self.method!r}", value=self.method)
        if self.interval not in INTERVAL_METHODS:
            raise DataFormatError(f"interval must be one of {INTERVAL_METHODS}, got {self.interval!r}",
                                  value=self.interval)
        if self.interval == "native" and self.method not in ("gp", "rf"):
            raise DataFormatError(f"interval='native' exists for 'gp' (predictive std) and 'rf' (tree spread), not "
                                  f"{self.method!r}; use interval='cv' or 'split'", value=self.interval)
        check_int("interval_cv", self.interval_cv, 2)
        check_int("max_gp_features", self.max_gp_features, 1)
        check_int("max_gp_samples", self.max_gp_samples, 10)
        check_int("random_state", self.random_state, 0)
        cf = self.calibration_fraction
        if not (isinstance(cf, int | float) and 0 < cf < 0.9):
            raise DataFormatError(f"calibration_fraction must be in (0, 0.9), e.g. 0.2, got {cf!r}", value=cf)
        if self.params is not None and not isinstance(self.params, Mapping):
            raise DataFormatError(f"params must be a dict of estimator keyword arguments, got {type(self.params)}")
        if self.init_model is not None:
            init = self.init_model
            if not isinstance(init, PropertyRegressor) or not hasattr(init, "estimator_"):
                raise DataFormatError("init_model must be a fitted PropertyRegressor; fit it first")
            if init.method != self.method or self.method not in ("mlp", "xgboost", "lightgbm"):
                raise DataFormatError(
                    f"init_model of method {init.method!r} cannot start a {self.method!r} fit; transfer works for "
                    "'mlp' (fine-tuning) and 'xgboost' / 'lightgbm' (warm-started boosting) of the same method",
                    value=init.method)

    def _build(self, n_features: int) -> Any:
        seed = self.random_state
        extra = dict(self.params or {})
        m = self.method
        if m == "rf":
            from sklearn.ensemble import RandomForestRegressor

            return RandomForestRegressor(**{"n_estimators": 300, "max_features": 1 / 3, "random_state": seed,
                                            "n_jobs": 1, **extra})
        if m == "xgboost":
            from xgboost import XGBRegressor

            return XGBRegressor(**{"n_estimators": 500, "learning_rate": 0.05, "max_depth": 6, "subsample": 0.8,
                                   "colsample_bytree": 0.5, "random_state": seed, "n_jobs": 1,
                                   "tree_method": "hist", **extra})
        if m == "lightgbm":
            from lightgbm import LGBMRegressor

            return LGBMRegressor(**{"n_estimators": 500, "learning_rate": 0.05, "num_leaves": 31,
                                    "min_child_samples": 5, "subsample": 0.8, "subsample_freq": 1,
                                    "colsample_bytree": 0.5, "random_state": seed, "n_jobs": 1, "verbose": -1,
                                    **extra})
        if m == "gp":
            from sklearn.decomposition import PCA
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import StandardScaler

            steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
            if n_features > self.max_gp_features:
                steps += [("pca", PCA(n_components=self.max_gp_features, random_state=seed)),
                          ("rescale", StandardScaler())]
            unknown = sorted(set(extra) - {"max_iter", "lr", "alpha"})
            if unknown:
                raise DataFormatError(f"unknown gp param(s) {unknown}; known: ['alpha', 'lr', 'max_iter']",
                                      value=unknown)
            kw = {"max_iter": 150, "lr": 0.05, "alpha": 1e-6, **extra}
            return Pipeline([*steps, ("model", _ARDGaussianProcess(**kw, device=self.device))])
        unknown = sorted(set(extra) - set(_MLP_DEFAULTS))
        if unknown:
            raise DataFormatError(f"unknown mlp param(s) {unknown}; known: {sorted(_MLP_DEFAULTS)}", value=unknown)
        return {**_MLP_DEFAULTS, **extra}

    def _fit_core(self, x: np.ndarray, t: np.ndarray) -> tuple[Any, Any]:
        """Imputer and estimator fitted on (x, t)."""
        from sklearn.impute import SimpleImputer

        imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)
        xi = imputer.transform(x)
        est = self._build(x.shape[1])
        init = self.init_model
        m = self.method
        if m == "mlp":
            est = _fit_mlp(xi, t, est, self.random_state, self.device,
                           init=init.estimator_ if init is not None else None,
                           lr_factor=self.fine_tune_lr_factor if init is not None else 1.0)
        elif m == "gp":
            xs, ts = xi, t
            if xi.shape[0] > self.max_gp_samples:
                rng = np.random.default_rng(self.random_state)
                keep = np.sort(rng.choice(xi.shape[0], self.max_gp_samples, replace=False))
                xs, ts = xi[keep], t[keep]
            est.fit(xs, ts)
        elif m == "xgboost" and init is not None:
            est.fit(xi, t, xgb_model=init.estimator_.get_booster())
        elif m == "lightgbm" and init is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                est.fit(xi, t, init_model=init.estimator_.booster_)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                est.fit(xi, t)
        return imputer, est

    @staticmethod
    def _predict_with(imputer: Any, est: Any, x: np.ndarray) -> np.ndarray:
        xi = imputer.transform(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(est.predict(xi), dtype=np.float64).ravel()

    def _warn_limits(self, n: int, d: int) -> None:
        if self.method != "gp":
            return
        if d > self.max_gp_features:
            warnings.warn(f"gp: {d} features are too many for one ARD length scale each; fitting on the first "
                          f"{self.max_gp_features} principal components of the standardised features "
                          "(raise max_gp_features to change)", UserWarning, stacklevel=3)
        if n > self.max_gp_samples:
            warnings.warn(f"gp: {n} training rows; fitting on a seeded random subset of {self.max_gp_samples} "
                          "(GP fitting is O(n^3); raise max_gp_samples to change)", UserWarning, stacklevel=3)

    # ------------------------------------------------------------------ protocol
    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> PropertyRegressor:
        """Fit on features X, shape (n_samples, n_features), and targets y, shape (n_samples,), in target units.

        Raises
        ------
        DataFormatError
            Bad settings, shapes, non-finite targets, fewer than 5 rows, or
            an ``init_model`` with other features.
        """
        self._validate()
        x, t = check_xy(X, y, allow_nan=True)
        assert t is not None
        if x.shape[0] < 5:
            raise DataFormatError(f"need at least 5 training rows, got {x.shape[0]}", value=x.shape[0])
        if self.init_model is not None and self.init_model.n_features_in_ != x.shape[1]:
            raise DataFormatError(f"init_model was fitted on {self.init_model.n_features_in_} features, X has "
                                  f"{x.shape[1]}; featurise both data sets the same way", value=x.shape[1])
        self._warn_limits(*x.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self._fit_all(x, t)

    def _fit_all(self, x: np.ndarray, t: np.ndarray) -> PropertyRegressor:
        self.n_features_in_ = x.shape[1]
        self.residuals_ = None
        self.calibration_index_ = None
        seed = self.random_state
        if self.interval == "split":
            n = x.shape[0]
            n_cal = max(1, round(self.calibration_fraction * n))
            perm = np.random.default_rng(seed).permutation(n)
            cal, fit_rows = np.sort(perm[:n_cal]), np.sort(perm[n_cal:])
            self.imputer_, self.estimator_ = self._fit_core(x[fit_rows], t[fit_rows])
            self.residuals_ = t[cal] - self._predict_with(self.imputer_, self.estimator_, x[cal])
            self.calibration_index_ = cal
        else:
            self.imputer_, self.estimator_ = self._fit_core(x, t)
            if self.interval == "cv":
                from sklearn.model_selection import KFold

                res = np.empty_like(t)
                folds = KFold(min(self.interval_cv, x.shape[0]), shuffle=True, random_state=seed)
                for tr, te in folds.split(x):
                    imp, est = self._fit_core(x[tr], t[tr])
                    res[te] = t[te] - self._predict_with(imp, est, x[te])
                self.residuals_ = res
        pca = self.estimator_.named_steps.get("pca") if self.method == "gp" else None
        self.n_pca_components_ = int(pca.n_components_) if pca is not None else None
        return self

    def _check_x(self, X: npt.ArrayLike) -> np.ndarray:
        require_fitted(self, "estimator_")
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataFormatError(f"X must have shape (n_samples, {self.n_features_in_}), got {x.shape}; use the "
                                  "features the model was trained on", value=x.shape)
        return x

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Predicted property, shape (n_samples,), in the units of the training target."""
        x = self._check_x(X)
        return self._predict_with(self.imputer_, self.estimator_, x)

    def predict_std(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Model spread, target units: GP predictive std (``"gp"``) or per-tree std (``"rf"``).

        Raises
        ------
        DataFormatError
            Other methods (use :meth:`predict_interval`).
        """
        x = self.imputer_.transform(self._check_x(X))
        if self.method == "gp":
            return np.asarray(self.estimator_.predict(x, return_std=True)[1], dtype=np.float64)
        if self.method == "rf":
            trees = np.stack([tree.predict(x) for tree in self.estimator_.estimators_])
            return trees.std(axis=0)
        raise DataFormatError(f"predict_std exists for 'gp' and 'rf', not {self.method!r}; use predict_interval",
                              value=self.method)

    def predict_interval(self, X: npt.ArrayLike, coverage: float = 0.9,
                         ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Lower and upper bounds (target units) of the interval at nominal ``coverage``.

        Raises
        ------
        DataFormatError
            ``interval="none"`` or a coverage outside (0, 1).
        """
        from scipy.stats import norm

        cov = _check_coverage(coverage)
        pred = self.predict(X)
        if self.interval == "none":
            raise DataFormatError("this model was fitted with interval='none'; refit with interval='cv', 'split' "
                                  "or 'native' for intervals", value="none")
        if self.interval == "native":
            half = float(norm.ppf(0.5 + cov / 2)) * self.predict_std(X)
        else:
            half = np.full(pred.shape, conformal_quantile(self.residuals_, cov))
        return pred - half, pred + half

    # ------------------------------------------------------------------ model files
    def to_dict(self, X: npt.ArrayLike, y: npt.ArrayLike, *, feature_labels: Sequence[str] | None = None,
                card: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """JSON-serialisable model file content: settings, training table (X, y), recorded predictions, card.

        ``X`` and ``y`` must be the data this model was fitted on (checked
        against the recorded predictions when the file is loaded).
        """
        require_fitted(self, "estimator_")
        from voltlab import __version__

        x, t = check_xy(X, y, allow_nan=True)
        assert t is not None
        labels = list(feature_labels) if feature_labels is not None else [f"x{i}" for i in range(x.shape[1])]
        if len(labels) != x.shape[1]:
            raise DataFormatError(f"{len(labels)} feature labels for {x.shape[1]} features", value=len(labels))
        settings = {k: v for k, v in self.get_params(deep=False).items() if k != "init_model"}
        settings["params"] = _jsonable(dict(settings["params"] or {})) or None
        body = {
            "format": MODEL_FORMAT,
            "voltlab_version": __version__,
            "versions": _versions(),
            "settings": settings,
            "feature_labels": labels,
            "train_features": [[None if not math.isfinite(v) else v for v in row] for row in x.tolist()],
            "train_target": t.tolist(),
            "train_predictions": self.predict(x).tolist(),
            "residuals": None if self.residuals_ is None else np.asarray(self.residuals_).tolist(),
            "init_model": None,
            # Every file carries a card; the caller's fields (data source, split, metrics) win.
            "card": _jsonable({"method": self.method, "seed": self.random_state, "interval": self.interval,
                               "n_train": int(x.shape[0]), "n_features": int(x.shape[1]),
                               "feature_labels": labels, "voltlab_version": __version__, "versions": _versions(),
                               **dict(card or {})}),
        }
        if self.init_model is not None:
            init_d = getattr(self.init_model, "model_file_", None)
            if init_d is None:
                raise DataFormatError("the init_model has no model file content: build it with "
                                      "PropertyRegressor.from_dict/load, or call init.remember(X, y) after fitting")
            body["init_model"] = init_d
        body["sha256"] = _digest(body)
        return body

    def remember(self, X: npt.ArrayLike, y: npt.ArrayLike, **kwargs: Any) -> PropertyRegressor:
        """Keep the model-file content of this fit (needed to save models fine-tuned from this one)."""
        self.model_file_ = self.to_dict(X, y, **kwargs)
        return self

    def save(self, path: str | os.PathLike[str], X: npt.ArrayLike, y: npt.ArrayLike, *,
             feature_labels: Sequence[str] | None = None, card: Mapping[str, Any] | None = None) -> Path:
        """Write the JSON model file atomically (see :meth:`to_dict`); returns its path."""
        return atomic_write_text(path, json.dumps(self.to_dict(X, y, feature_labels=feature_labels, card=card)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "model") -> PropertyRegressor:
        """Rebuild from :meth:`to_dict` output: check the hash, refit, check the recorded predictions.

        Raises
        ------
        DataFormatError
            Not a property model, edited (hash mismatch), damaged, or the refit
            does not reproduce the recorded predictions.
        """
        if not isinstance(d, Mapping) or d.get("format") != MODEL_FORMAT:
            got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise DataFormatError(f"not a voltlab property model file (format {got!r}, expected {MODEL_FORMAT!r}); "
                                  "train one with 'voltlab train'", path=source)
        body = {k: v for k, v in d.items() if k != "sha256"}
        if d.get("sha256") != _digest(body):
            raise DataFormatError("the model file was modified after it was written (SHA-256 of its content does not "
                                  "match); retrain it or restore the original file", path=source)
        try:
            settings = dict(d["settings"])
            init = cls.from_dict(d["init_model"], source=f"{source} (init_model)") if d["init_model"] else None
            labels = [str(s) for s in d["feature_labels"]]
            x = np.array([[np.nan if v is None else v for v in row] for row in d["train_features"]],
                         dtype=np.float64).reshape(-1, len(labels))
            t = np.asarray(d["train_target"], dtype=np.float64)
            recorded = np.asarray(d["train_predictions"], dtype=np.float64)
            residuals = None if d["residuals"] is None else np.asarray(d["residuals"], dtype=np.float64)
            model = cls(**settings, init_model=init)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"the model file is incomplete or damaged ({exc}); retrain it", path=source) from exc
        model._validate()
        # Intervals come from the file: refit the point model only (no extra CV fits).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if model.interval == "split":
                model._fit_all(x, t)
            else:
                model.imputer_, model.estimator_ = model._fit_core(x, t)
                model.n_features_in_ = x.shape[1]
                model.calibration_index_ = None
                pca = model.estimator_.named_steps.get("pca") if model.method == "gp" else None
                model.n_pca_components_ = int(pca.n_components_) if pca is not None else None
        model.residuals_ = residuals
        again = model.predict(x)
        scale = float(np.std(t)) or 1.0
        tol = (1e-4 if model.method == "mlp" else 1e-6) * scale
        worst = float(np.max(np.abs(again - recorded))) if recorded.size else 0.0
        if recorded.shape != again.shape or worst > tol:
            raise DataFormatError(
                f"refitting the model does not reproduce its recorded predictions (worst difference {worst:.3g} "
                f"target units, tolerance {tol:.3g}); it was made with voltlab {d.get('voltlab_version')!r} and "
                f"{d.get('versions')}; retrain it with this installation", path=source)
        model.feature_labels_ = labels
        model.card_ = dict(d.get("card") or {})
        model.train_X_, model.train_y_ = x, t
        model.model_file_ = dict(d)
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PropertyRegressor:
        """Read a model file written by :meth:`save` (refits and verifies; see :meth:`from_dict`).

        Raises
        ------
        MissingFileError
            No such file.
        DataFormatError
            Not a JSON property model, edited, damaged or not reproducible.
        """
        p = Path(path)
        if not p.is_file():
            raise MissingFileError("no such model file; train one with 'voltlab train ... --out MODEL.json'", path=p)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(f"not a JSON model file ({exc}); train one with 'voltlab train'", path=p) from exc
        return cls.from_dict(d, source=str(p))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "torch", "shap", "optuna"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


# ---------------------------------------------------------------------------- classifier and funnel


class PropertyClassifier(ClassifierMixin, BaseEstimator):
    """Binary screening classifier (e.g. sigma > 1e-4 S/cm) on composition features.

    Parameters
    ----------
    method
        One of :data:`CLASSIFIER_METHODS`: ``"rf"`` (300 trees,
        ``class_weight="balanced"``), ``"xgboost"``, ``"lightgbm"`` or
        ``"logistic"`` (standardised L2 logistic regression, balanced).
    params
        Extra keyword arguments of the estimator.
    random_state
        Seed.

    Attributes
    ----------
    estimator_, imputer_, classes_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(0, 1, 40)[:, None]
    >>> c = PropertyClassifier("logistic").fit(X, (X[:, 0] > 0.5).astype(int))
    >>> c.predict([[0.05], [0.95]]).tolist()
    [0, 1]
    """

    def __init__(self, method: str = "rf", *, params: Mapping[str, Any] | None = None, random_state: int = 0) -> None:
        self.method = method
        self.params = params
        self.random_state = random_state

    def _build(self) -> Any:
        seed = self.random_state
        extra = dict(self.params or {})
        if self.method == "rf":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(**{"n_estimators": 300, "class_weight": "balanced", "random_state": seed,
                                             "n_jobs": 1, **extra})
        if self.method == "xgboost":
            from xgboost import XGBClassifier

            return XGBClassifier(**{"n_estimators": 300, "learning_rate": 0.05, "max_depth": 5, "subsample": 0.8,
                                    "colsample_bytree": 0.5, "random_state": seed, "n_jobs": 1, **extra})
        if self.method == "lightgbm":
            from lightgbm import LGBMClassifier

            return LGBMClassifier(**{"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15,
                                     "class_weight": "balanced", "random_state": seed, "n_jobs": 1, "verbose": -1,
                                     **extra})
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(**{"class_weight": "balanced", "max_iter": 5000,
                                                                     **extra}))

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> PropertyClassifier:
        """Fit on features (n_samples, n_features) and 0/1 labels (n_samples,).

        Raises
        ------
        DataFormatError
            Unknown method, labels other than 0/1, or a single class.
        """
        from sklearn.impute import SimpleImputer

        if self.method not in CLASSIFIER_METHODS:
            raise DataFormatError(f"method must be one of {CLASSIFIER_METHODS}, got {self.method!r}",
                                  value=self.method)
        x, lab = check_xy(X, y, allow_nan=True)
        assert lab is not None
        if not np.isin(lab, (0.0, 1.0)).all() or np.unique(lab).size < 2:
            raise DataFormatError("labels must be 0/1 with both classes present; e.g. (sigma > 1e-4).astype(int)",
                                  value=np.unique(lab).tolist()[:5])
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.estimator_ = self._build().fit(self.imputer_.transform(x), lab.astype(np.int64))
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = x.shape[1]
        return self

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities, shape (n_samples, 2): P(0), P(1)."""
        require_fitted(self, "estimator_")
        x = np.asarray(X, dtype=np.float64)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(self.estimator_.predict_proba(self.imputer_.transform(x)), dtype=np.float64)

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """0/1 labels (probability of class 1 above 0.5)."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(np.int64)


def screening_funnel(
    X: npt.ArrayLike,
    *,
    filters: Mapping[str, npt.ArrayLike] | None = None,
    classifier: PropertyClassifier | None = None,
    regressor: PropertyRegressor | None = None,
    probability_threshold: float = 0.5,
    coverage: float = 0.9,
    index: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Staged screening as in Sendek et al. (2017): hard filters, then a classifier, then a regressor.

    Parameters
    ----------
    X
        Features of the candidates, shape (n_candidates, n_features).
    filters
        Name -> boolean mask (n_candidates,) of candidates that pass (e.g.
        "stable": e_hull < 0.05 eV/atom, "no TM": ...). Applied in order.
    classifier
        Fitted :class:`PropertyClassifier`; its P(class 1) is computed for
        candidates that passed the filters.
    regressor
        Fitted :class:`PropertyRegressor`; predicts (with an interval when it
        has one) the candidates that passed the classifier.
    probability_threshold
        P(class 1) needed to pass the classifier stage.
    coverage
        Nominal coverage of the regressor's interval.
    index
        Candidate labels (e.g. formulas).

    Returns
    -------
    pandas.DataFrame
        One row per candidate: ``passed_<filter>`` per filter,
        ``passed_filters``, ``probability``, ``passed_classifier``,
        ``predicted``, ``lower``, ``upper`` (NaN for candidates that stopped
        earlier), ``stage_reached`` (0 = failed a filter .. 3 = predicted).
        ``df.attrs["funnel"]``: candidates left after each stage.
    """
    x = np.asarray(X, dtype=np.float64)
    n = x.shape[0]
    out = pd.DataFrame(index=list(index) if index is not None else None)
    if index is None:
        out = pd.DataFrame(index=range(n))
    alive = np.ones(n, dtype=bool)
    funnel = {"candidates": n}
    for name, mask in (filters or {}).items():
        m = np.asarray(mask, dtype=bool).ravel()
        if m.size != n:
            raise DataFormatError(f"filter {name!r} has {m.size} entries for {n} candidates", value=m.size)
        out[f"passed_{name}"] = m
        alive &= m
        funnel[f"after {name}"] = int(alive.sum())
    out["passed_filters"] = alive.copy()
    prob = np.full(n, np.nan)
    if classifier is not None and alive.any():
        prob[alive] = classifier.predict_proba(x[alive])[:, 1]
        alive &= np.nan_to_num(prob, nan=-1.0) > probability_threshold
        funnel["after classifier"] = int(alive.sum())
    out["probability"] = prob
    out["passed_classifier"] = alive.copy()
    pred, lo, hi = (np.full(n, np.nan) for _ in range(3))
    if regressor is not None and alive.any():
        pred[alive] = regressor.predict(x[alive])
        if regressor.interval != "none":
            lo[alive], hi[alive] = regressor.predict_interval(x[alive], coverage)
    out["predicted"], out["lower"], out["upper"] = pred, lo, hi
    out["stage_reached"] = (out["passed_filters"].astype(int) + out["passed_classifier"].astype(int)
                            + np.isfinite(pred).astype(int))
    out.attrs["funnel"] = funnel
    return out


# ---------------------------------------------------------------------------- tuning


@dataclass
class TuneResult:
    """Nested grouped cross-validation with Optuna.

    Attributes
    ----------
    method
        Regressor method tuned.
    best_params
        Parameters chosen by the inner search on all the data (use these).
    outer_mae
        MAE (target units) of each outer test fold, the model tuned on the
        outer training part only: the honest estimate.
    inner_mae
        Best inner-CV MAE of each outer fold's search (optimistic).
    outer_params
        Parameters chosen in each outer fold.
    n_trials
        Optuna trials per search.
    """

    method: str
    best_params: dict[str, Any]
    outer_mae: list[float]
    inner_mae: list[float]
    outer_params: list[dict[str, Any]] = field(default_factory=list)
    n_trials: int = 0

    @property
    def outer_mae_mean(self) -> float:
        return float(np.mean(self.outer_mae))

    @property
    def inner_mae_mean(self) -> float:
        return float(np.mean(self.inner_mae))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outer_mae_mean": self.outer_mae_mean, "inner_mae_mean": self.inner_mae_mean}


def _space(method: str) -> Callable[[Any], dict[str, Any]]:
    def rf(t: Any) -> dict[str, Any]:
        return {"n_estimators": t.suggest_int("n_estimators", 50, 400, log=True),
                "max_features": t.suggest_float("max_features", 0.1, 1.0),
                "min_samples_leaf": t.suggest_int("min_samples_leaf", 1, 10)}

    def xgb(t: Any) -> dict[str, Any]:
        return {"n_estimators": t.suggest_int("n_estimators", 50, 800, log=True),
                "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_depth": t.suggest_int("max_depth", 2, 10),
                "subsample": t.suggest_float("subsample", 0.5, 1.0),
                "colsample_bytree": t.suggest_float("colsample_bytree", 0.2, 1.0)}

    def lgbm(t: Any) -> dict[str, Any]:
        return {"n_estimators": t.suggest_int("n_estimators", 50, 800, log=True),
                "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "num_leaves": t.suggest_int("num_leaves", 4, 128, log=True),
                "min_child_samples": t.suggest_int("min_child_samples", 2, 50, log=True),
                "colsample_bytree": t.suggest_float("colsample_bytree", 0.2, 1.0)}

    def gp(t: Any) -> dict[str, Any]:
        return {"alpha": t.suggest_float("alpha", 1e-10, 1e-2, log=True)}

    def mlp(t: Any) -> dict[str, Any]:
        w = t.suggest_int("width", 16, 256, log=True)
        return {"hidden": (w, max(8, w // 2)), "lr": t.suggest_float("lr", 1e-4, 1e-2, log=True),
                "weight_decay": t.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
                "epochs": t.suggest_int("epochs", 20, 300, log=True)}

    return {"rf": rf, "xgboost": xgb, "lightgbm": lgbm, "gp": gp, "mlp": mlp}[method]


def _search(method: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_trials: int, inner: int,
            seed: int, base: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    import optuna

    space = _space(method)
    folds = group_kfold_indices(groups, min(inner, np.unique(groups).size), seed)

    def objective(trial: Any) -> float:
        params = {**space(trial), **base}
        errs = []
        for tr, te in folds:
            m = PropertyRegressor(method, interval="none", params=params, random_state=seed).fit(x[tr], y[tr])
            errs.append(np.mean(np.abs(m.predict(x[te]) - y[te])))
        return float(np.mean(errs))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    best = {**space(optuna.trial.FixedTrial(study.best_params)), **base}
    return best, float(study.best_value)


def tune(method: str, X: npt.ArrayLike, y: npt.ArrayLike, groups: Sequence[Any], n_trials: int = 20,
         seed: int = 0, *, outer_splits: int = 3, inner_splits: int = 3,
         base_params: Mapping[str, Any] | None = None) -> TuneResult:
    """Tune a :class:`PropertyRegressor` by nested grouped cross-validation (Optuna TPE, seeded).

    Outer loop: :func:`group_kfold_indices` (``outer_splits`` folds over
    ``groups``); in each, an Optuna search of ``n_trials`` trials minimises
    the mean MAE of an inner grouped ``inner_splits``-fold CV of the outer
    training part, and the best parameters are scored on the outer test
    fold. Then one more search on all data gives ``best_params``.

    Parameters
    ----------
    method
        A :data:`PROPERTY_METHODS` name.
    X, y
        Features (n_samples, n_features) and target (n_samples,).
    groups
        Group of each row (cluster or chemical family); never split.
    n_trials
        Trials per search (``outer_splits + 1`` searches in all).
    seed
        Seed of folds, sampler and models.
    base_params
        Fixed parameters of every trial (they win over the searched ones).

    Raises
    ------
    DataFormatError
        Unknown method, too few groups, bad shapes.
    """
    if method not in PROPERTY_METHODS:
        raise DataFormatError(f"method must be one of {PROPERTY_METHODS}, got {method!r}", value=method)
    x, t = check_xy(X, y, allow_nan=True)
    assert t is not None
    g = np.asarray([str(v) for v in groups])
    if g.size != t.size:
        raise DataFormatError(f"groups has {g.size} entries for {t.size} rows", value=g.size)
    check_int("n_trials", n_trials, 1)
    base = dict(base_params or {})
    outer_mae, inner_mae, outer_params = [], [], []
    for tr, te in group_kfold_indices(g, outer_splits, seed):
        params, inner = _search(method, x[tr], t[tr], g[tr], n_trials, inner_splits, seed, base)
        m = PropertyRegressor(method, interval="none", params=params, random_state=seed).fit(x[tr], t[tr])
        outer_mae.append(float(np.mean(np.abs(m.predict(x[te]) - t[te]))))
        inner_mae.append(inner)
        outer_params.append(_jsonable(params))
    best, _ = _search(method, x, t, g, n_trials, inner_splits, seed, base)
    return TuneResult(method, _jsonable(best), outer_mae, inner_mae, outer_params, n_trials)


# ---------------------------------------------------------------------------- SHAP


def explain(model: PropertyRegressor, X: npt.ArrayLike, *, feature_labels: Sequence[str] | None = None,
            background: int = 20, max_rows: int = 200, nsamples: int = 100, seed: int = 0) -> pd.Series:
    """Mean |SHAP value| of each feature over the rows of X (target units), largest first.

    Tree models use exact tree SHAP: XGBoost's and LightGBM's own
    ``pred_contribs`` / ``pred_contrib`` (the same TreeSHAP algorithm) and
    ``shap.TreeExplainer`` for the random forest. ``"gp"`` and ``"mlp"`` use
    ``shap.KernelExplainer`` with a background of ``background`` k-means
    centres of the rows and ``nsamples`` evaluations per row (approximate).

    Parameters
    ----------
    model
        A fitted :class:`PropertyRegressor`.
    X
        Rows to explain, shape (n, n_features); a seeded subset of
        ``max_rows`` rows when larger.
    feature_labels
        Names of the features (default the model's, else ``x0``...).

    Returns
    -------
    pandas.Series
        Index: feature label; values: mean |SHAP| in target units; sorted descending.
    """
    require_fitted(model, "estimator_")
    x = model.imputer_.transform(model._check_x(X))
    if x.shape[0] > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False))]
    labels = list(feature_labels or getattr(model, "feature_labels_", None) or
                  [f"x{i}" for i in range(x.shape[1])])
    est = model.estimator_
    if model.method == "xgboost":
        import xgboost

        contrib = est.get_booster().predict(xgboost.DMatrix(x), pred_contribs=True)[:, :-1]
    elif model.method == "lightgbm":
        contrib = est.booster_.predict(x, pred_contrib=True)[:, :-1]
    else:
        try:
            import shap
        except ImportError as exc:  # pragma: no cover - shap is a dependency
            raise DependencyError("explain needs the shap package: pip install shap") from exc
        if model.method == "rf":
            contrib = shap.TreeExplainer(est).shap_values(x, check_additivity=False)
        else:
            bg = shap.kmeans(x, min(background, x.shape[0]))
            expl = shap.KernelExplainer(est.predict, bg, seed=seed)
            contrib = expl.shap_values(x, nsamples=nsamples, silent=True)
    values = np.abs(np.asarray(contrib, dtype=np.float64)).mean(axis=0)
    return pd.Series(values, index=labels, name="mean_abs_shap").sort_values(ascending=False)
