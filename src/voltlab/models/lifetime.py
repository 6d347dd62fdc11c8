"""Early-life cycle-life regressors and a long/short-life classifier (scikit-learn protocol).

:class:`LifetimeRegressor` fits log10(cycle life) from early-cycle features, as
Severson et al. (2019) did, and predicts cycles (10 ** prediction). One class,
several methods (``method=``):

``"linear"``
    Ordinary least squares on standardised features (the paper's
    single-feature "variance" model).
``"ridge"``
    Ridge regression, alpha chosen by cross-validation on the training set.
``"elastic_net"``
    Severson's regularised linear model: standardise, then ElasticNetCV over
    100 alphas and l1_ratio in (0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0)
    with shuffled K-fold cross-validation on the training cells.
``"pcr"``
    Principal-component regression: standardise, PCA, least squares. The
    number of components is chosen by cross-validation when
    ``n_components`` is None.
``"plsr"``
    Partial least squares (scaled), components chosen the same way.
``"rf"``
    Random forest (500 trees).
``"xgboost"``
    Gradient-boosted trees (XGBoost; 400 trees of depth 3, learning rate
    0.05, row and column subsampling 0.8).
``"gp"``
    Gaussian process on standardised features with an ARD kernel
    C * RBF(one length scale per feature) + white noise, targets normalised,
    5 optimiser restarts.
``"gp_linear"``
    The same plus a linear (dot-product) kernel, so that predictions follow
    a linear trend outside the training data instead of reverting to the
    mean (better for extrapolation to long lives with few cells).

``params`` passes extra keyword arguments to the underlying estimator
(e.g. ``{"n_estimators": 1000}`` for ``"rf"``). Every random component
(cross-validation shuffles, trees, PCA, optimiser restarts) follows
``random_state``.

Prediction intervals (:meth:`LifetimeRegressor.predict_interval`): with
``interval_cv=k`` the fit also computes out-of-fold residuals of log10 life by
k-fold cross-validation on the training cells and the interval is the
prediction ± their conformal quantile (split-conformal with cross-validated
residuals); a ``"gp"`` / ``"gp_linear"`` without ``interval_cv`` uses its predictive standard
deviation (Gaussian in log10 life).

:class:`LifeClassifier` is a standardised logistic regression (C chosen by
stratified cross-validation) for "long vs short life"; labels come from
:func:`long_life_labels` (Severson's threshold: 550 cycles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from voltlab.errors import DataFormatError, NotFittedError
from voltlab.models.base import check_int, check_xy, require_fitted

__all__ = [
    "LIFETIME_METHODS",
    "LifeClassifier",
    "LifetimeRegressor",
    "long_life_labels",
]

#: Methods of :class:`LifetimeRegressor`.
LIFETIME_METHODS: tuple[str, ...] = (
    "linear", "ridge", "elastic_net", "pcr", "plsr", "rf", "xgboost", "gp", "gp_linear",
)
_L1_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0)


def _check_seed(value: Any) -> int | None:
    if value is None:
        return None
    return check_int("random_state", value, 0)


def long_life_labels(cycle_life: npt.ArrayLike, threshold_cycles: float = 550) -> npt.NDArray[np.int64]:
    """1 for cells whose cycle life exceeds ``threshold_cycles``, else 0.

    Examples
    --------
    >>> long_life_labels([300, 550, 551, 2000]).tolist()
    [0, 0, 1, 1]
    """
    life = np.asarray(cycle_life, dtype=np.float64).ravel()
    if life.size == 0 or not np.isfinite(life).all():
        raise DataFormatError("cycle_life must be a non-empty array of finite cycle counts")
    if not (np.isfinite(threshold_cycles) and threshold_cycles > 0):
        raise DataFormatError(f"threshold_cycles must be > 0, got {threshold_cycles!r}", value=threshold_cycles)
    return (life > threshold_cycles).astype(np.int64)


def _kfold(cv: int, n: int, seed: int | None) -> Any:
    from sklearn.model_selection import KFold

    return KFold(n_splits=min(cv, n), shuffle=True, random_state=seed)


class LifetimeRegressor(RegressorMixin, BaseEstimator):
    """Cycle-life regressor on early-cycle features; fits log10(life), predicts cycles.

    Parameters
    ----------
    method
        One of :data:`LIFETIME_METHODS` (see the module notes).
    log_target
        Fit log10(cycle life) (Severson's choice) instead of cycles.
    n_components
        Components of ``"pcr"`` / ``"plsr"``; None chooses them by
        cross-validation (1..``max_components``).
    max_components
        Largest number of components tried.
    cv
        Folds of every internal cross-validation (hyperparameters, intervals).
    interval_cv
        If set, folds of the cross-validation that gives the out-of-fold
        residuals behind :meth:`predict_interval` (costs that many extra fits).
    params
        Extra keyword arguments of the underlying estimator.
    random_state
        Seed of every random component.

    Attributes
    ----------
    estimator_
        The fitted scikit-learn estimator (a Pipeline), on log10 life.
    n_features_in_
        Number of features seen in ``fit``.
    n_components_
        Components used by ``"pcr"`` / ``"plsr"`` (None otherwise).
    oof_residuals_
        Out-of-fold residuals of the target (log10 life), shape (n_train,),
        when ``interval_cv`` is set, else None.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 20)[:, None]
    >>> m = LifetimeRegressor("linear").fit(x, 10 ** (3 - 0.5 * x[:, 0]))
    >>> float(np.round(m.predict([[0.0]])[0], 6))
    1000.0
    """

    def __init__(
        self,
        method: str = "elastic_net",
        *,
        log_target: bool = True,
        n_components: int | None = None,
        max_components: int = 20,
        cv: int = 5,
        interval_cv: int | None = None,
        params: Mapping[str, Any] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.log_target = log_target
        self.n_components = n_components
        self.max_components = max_components
        self.cv = cv
        self.interval_cv = interval_cv
        self.params = params
        self.random_state = random_state

    # ------------------------------------------------------------------ building
    def _validate(self) -> None:
        if self.method not in LIFETIME_METHODS:
            raise DataFormatError(f"method must be one of {LIFETIME_METHODS}, got {self.method!r}", value=self.method)
        check_int("cv", self.cv, 2)
        check_int("max_components", self.max_components, 1)
        if self.n_components is not None:
            check_int("n_components", self.n_components, 1)
        if self.interval_cv is not None:
            check_int("interval_cv", self.interval_cv, 2)
        if self.params is not None and not isinstance(self.params, Mapping):
            raise DataFormatError(f"params must be a dict of estimator keyword arguments, got {type(self.params)}")
        _check_seed(self.random_state)

    def _build(self, n_samples: int, n_features: int) -> Any:
        from sklearn.cross_decomposition import PLSRegression
        from sklearn.decomposition import PCA
        from sklearn.linear_model import ElasticNetCV, LinearRegression, RidgeCV
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        seed = self.random_state
        extra = dict(self.params or {})
        m = self.method
        if m == "linear":
            return Pipeline([("scale", StandardScaler()), ("model", LinearRegression(**extra))])
        if m == "ridge":
            kw = {"alphas": np.logspace(-3, 3, 25), **extra}
            return Pipeline([("scale", StandardScaler()), ("model", RidgeCV(**kw))])
        if m == "elastic_net":
            kw = {"l1_ratio": list(_L1_RATIOS), "alphas": 100, "cv": _kfold(self.cv, n_samples, seed),
                  "max_iter": 100_000, "random_state": seed, **extra}
            return Pipeline([("scale", StandardScaler()), ("model", ElasticNetCV(**kw))])
        if m in ("pcr", "plsr"):
            if m == "pcr":
                kw = {"random_state": seed, **extra}
                pipe = Pipeline([("scale", StandardScaler()), ("model", PCA(**kw)), ("ols", LinearRegression())])
                key = "model__n_components"
            else:
                kw = {"scale": True, "max_iter": 1000, **extra}
                pipe = Pipeline([("model", PLSRegression(**kw))])
                key = "model__n_components"
            if self.n_components is not None:
                if self.n_components > min(n_samples, n_features):
                    raise DataFormatError(
                        f"n_components={self.n_components} exceeds min(n_samples, n_features) = "
                        f"{min(n_samples, n_features)}; lower it", value=self.n_components,
                    )
                return pipe.set_params(**{key: self.n_components})
            folds = min(self.cv, n_samples)
            cap = min(self.max_components, n_features, n_samples - math.ceil(n_samples / folds) - 1)
            if cap < 1:
                raise DataFormatError(f"too few training samples ({n_samples}) to choose components by CV")
            return GridSearchCV(pipe, {key: list(range(1, cap + 1))}, cv=_kfold(self.cv, n_samples, seed),
                                scoring="neg_mean_squared_error")
        if m == "rf":
            from sklearn.ensemble import RandomForestRegressor

            kw = {"n_estimators": 500, "random_state": seed, "n_jobs": 1, **extra}
            return Pipeline([("model", RandomForestRegressor(**kw))])
        if m == "xgboost":
            try:
                from xgboost import XGBRegressor
            except ImportError as exc:  # pragma: no cover - xgboost is a dependency
                from voltlab.errors import DependencyError

                raise DependencyError("method='xgboost' needs the xgboost package: pip install xgboost-cpu") from exc
            kw = {"n_estimators": 400, "learning_rate": 0.05, "max_depth": 3, "subsample": 0.8,
                  "colsample_bytree": 0.8, "min_child_weight": 1.0, "random_state": seed or 0, "n_jobs": 1,
                  "tree_method": "hist", **extra}
            return Pipeline([("model", XGBRegressor(**kw))])
        # gp, gp_linear
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(n_features), (1e-2, 1e3))
        if m == "gp_linear":
            kernel = kernel + DotProduct(1.0, (1e-3, 1e3))
        kernel = kernel + WhiteKernel(1e-2, (1e-6, 1e1))
        kw = {"kernel": kernel, "normalize_y": True, "n_restarts_optimizer": 5, "random_state": seed, **extra}
        return Pipeline([("scale", StandardScaler()), ("model", GaussianProcessRegressor(**kw))])

    def _target(self, y: np.ndarray) -> np.ndarray:
        if (y <= 0).any() and self.log_target:
            i = int(np.flatnonzero(y <= 0)[0])
            raise DataFormatError(f"cycle life must be > 0 (log10 target), got {y[i]} at row {i}", row=i, value=y[i])
        return np.log10(y) if self.log_target else y

    def _back(self, t: np.ndarray) -> np.ndarray:
        return 10.0 ** t if self.log_target else t

    # ------------------------------------------------------------------ protocol
    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LifetimeRegressor:
        """Fit on features X (n_cells, n_features) and cycle lives y (n_cells,), cycles."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        self._validate()
        x, life = check_xy(X, y)
        assert life is not None
        t = self._target(life)
        if x.shape[0] < 3:
            raise DataFormatError(f"need at least 3 training cells, got {x.shape[0]}", value=x.shape[0])
        est = self._build(*x.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(x, t)
        self.estimator_ = est
        self.n_features_in_ = x.shape[1]
        best = getattr(est, "best_params_", None)
        self.n_components_ = (best["model__n_components"] if best else self.n_components) \
            if self.method in ("pcr", "plsr") else None
        self.oof_residuals_ = None
        if self.interval_cv is not None:
            pred = np.empty_like(t)
            for tr, te in _kfold(self.interval_cv, x.shape[0], self.random_state).split(x):
                fold = self._build(len(tr), x.shape[1])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    fold.fit(x[tr], t[tr])
                pred[te] = np.ravel(fold.predict(x[te]))
            self.oof_residuals_ = t - pred
        return self

    def _check_x(self, X: npt.ArrayLike) -> np.ndarray:
        require_fitted(self, "estimator_")
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataFormatError(
                f"X must have shape (n_cells, {self.n_features_in_}) like the training features, got {x.shape}",
                value=x.shape,
            )
        if not np.isfinite(x).all():
            r = int(np.argwhere(~np.isfinite(x))[0][0])
            raise DataFormatError(f"X has a non-finite value in row {r}; impute or drop it first", row=r)
        return x

    def predict_target(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Prediction in the fitted target space (log10 cycles when ``log_target``), shape (n_cells,)."""
        x = self._check_x(X)
        return np.ravel(self.estimator_.predict(x)).astype(np.float64)

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Predicted cycle life, cycles, shape (n_cells,)."""
        return self._back(self.predict_target(X))

    def predict_interval(
        self, X: npt.ArrayLike, coverage: float = 0.9
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Prediction interval of cycle life, cycles: (lower, upper), each shape (n_cells,).

        Parameters
        ----------
        X
            Features, shape (n_cells, n_features).
        coverage
            Nominal coverage in (0, 1), e.g. 0.9.

        Raises
        ------
        NotFittedError
            Neither ``interval_cv`` was set for the fit nor is the method a GP.
        """
        if not (isinstance(coverage, float | int) and 0 < coverage < 1):
            raise DataFormatError(f"coverage must be a fraction in (0, 1), got {coverage!r}", value=coverage)
        x = self._check_x(X)
        res = getattr(self, "oof_residuals_", None)
        if res is not None:
            center = np.ravel(self.estimator_.predict(x))
            n = res.size
            level = min(1.0, math.ceil((n + 1) * coverage) / n)
            q = float(np.quantile(np.abs(res), level, method="higher"))
            return self._back(center - q), self._back(center + q)
        if self.method in ("gp", "gp_linear"):
            from scipy.stats import norm

            center, std = self.estimator_.predict(x, return_std=True)
            z = float(norm.ppf(0.5 + coverage / 2))
            return self._back(center - z * std), self._back(center + z * std)
        raise NotFittedError(
            f"method={self.method!r} has no intervals from this fit: refit with interval_cv=5 (cross-validated "
            "residuals) or use method='gp' / 'gp_linear'", value=self.method,
        )


class LifeClassifier(ClassifierMixin, BaseEstimator):
    """Long vs short life from early-cycle features: standardised logistic regression.

    Parameters
    ----------
    C
        Inverse L2 regularisation strength; None chooses it from
        ``logspace(-3, 2, 11)`` by stratified cross-validation (log loss).
    cv
        Folds of that cross-validation (fewer when a class is smaller).
    class_weight
        As scikit-learn's (``None`` or ``"balanced"``).
    random_state
        Seed of the cross-validation shuffle.

    Attributes
    ----------
    estimator_
        Fitted Pipeline (StandardScaler, LogisticRegression).
    classes_
        The two labels.
    C_
        The regularisation strength used.

    Notes
    -----
    Labels are any two classes; :func:`long_life_labels` makes Severson's
    (cycle life > 550 -> 1).
    """

    def __init__(self, C: float | None = None, *, cv: int = 5, class_weight: str | None = None,
                 random_state: int | None = 0) -> None:
        self.C = C
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LifeClassifier:
        """Fit on features X (n_cells, n_features) and labels y (n_cells,), two classes."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        check_int("cv", self.cv, 2)
        seed = _check_seed(self.random_state)
        if self.C is not None and not (np.isfinite(self.C) and self.C > 0):
            raise DataFormatError(f"C must be > 0 or None, got {self.C!r}", value=self.C)
        if self.class_weight not in (None, "balanced"):
            raise DataFormatError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        x, _ = check_xy(X)
        labels = np.asarray(y).ravel()
        if labels.size != x.shape[0]:
            raise DataFormatError(f"X has {x.shape[0]} rows but y has {labels.size}; they must match")
        classes, counts = np.unique(labels, return_counts=True)
        if classes.size != 2:
            raise DataFormatError(
                f"y must hold exactly two classes, got {classes.tolist()[:5]}; make labels with "
                "long_life_labels(cycle_life, threshold_cycles=550)", value=classes.size,
            )
        pipe = Pipeline([("scale", StandardScaler()),
                         ("model", LogisticRegression(C=1.0 if self.C is None else float(self.C),
                                                      class_weight=self.class_weight, max_iter=10_000))])
        if self.C is None:
            folds = int(min(self.cv, counts.min()))
            if folds < 2:
                raise DataFormatError("each class needs at least 2 cells to choose C by cross-validation; pass C")
            search = GridSearchCV(pipe, {"model__C": list(np.logspace(-3, 2, 11))}, scoring="neg_log_loss",
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
            search.fit(x, labels)
            pipe = search.best_estimator_
            self.C_ = float(search.best_params_["model__C"])
        else:
            pipe.fit(x, labels)
            self.C_ = float(self.C)
        self.estimator_ = pipe
        self.classes_ = pipe.classes_
        self.n_features_in_ = x.shape[1]
        return self

    def _x(self, X: npt.ArrayLike) -> np.ndarray:
        require_fitted(self, "estimator_")
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_ or not np.isfinite(x).all():
            raise DataFormatError(
                f"X must be a finite array of shape (n_cells, {self.n_features_in_}), got shape {x.shape}"
            )
        return x

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predicted labels, shape (n_cells,)."""
        x = self._x(X)
        return self.estimator_.predict(x)

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities, shape (n_cells, 2), columns in ``classes_`` order."""
        x = self._x(X)
        return self.estimator_.predict_proba(x)

    def decision_function(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Log-odds of ``classes_[1]``, shape (n_cells,)."""
        x = self._x(X)
        return self.estimator_.decision_function(x)

