"""Helpers shared by voltlab estimators (scikit-learn protocol).

Estimators store their keyword arguments in ``__init__`` unchanged, validate in
``fit`` (which returns ``self``), and name fitted attributes with a trailing
underscore. :func:`require_fitted` raises voltlab's
:class:`~voltlab.errors.NotFittedError` ("call fit first") when they are missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from voltlab.errors import DataFormatError, NotFittedError

__all__ = ["check_int", "check_xy", "require_fitted"]


def check_int(name: str, value: Any, low: int) -> int:
    """``value`` as an int, or a DataFormatError naming ``name`` unless it is an integer >= ``low`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise DataFormatError(f"{name} must be an integer >= {low}, got {value!r}", value=value)
    return int(value)


def require_fitted(estimator: Any, *attributes: str) -> None:
    """Raise NotFittedError unless every attribute (default: any ending in ``_``) is set."""
    names = attributes or tuple(a for a in vars(estimator) if a.endswith("_") and not a.startswith("_"))
    if not names or any(getattr(estimator, a, None) is None for a in names):
        raise NotFittedError(
            f"this {type(estimator).__name__} is not fitted yet: call fit first", value=type(estimator).__name__
        )


def check_xy(
    X: npt.ArrayLike, y: npt.ArrayLike | None = None, *, name: str = "X", allow_nan: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a 2-D feature matrix (and a target of matching length).

    Raises
    ------
    DataFormatError
        Wrong dimensions, mismatched lengths, too few samples or non-finite values.
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise DataFormatError(f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}", value=x.shape)
    if x.shape[0] < 2:
        raise DataFormatError(f"{name} needs at least 2 samples, got {x.shape[0]}", value=x.shape[0])
    if not allow_nan and not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise DataFormatError(
            f"{name} has a non-finite value at row {r}, column {c}; impute or drop it first", row=int(r),
            value=float(x[r, c]),
        )
    if y is None:
        return x, None
    t = np.asarray(y, dtype=np.float64).ravel()
    if t.shape[0] != x.shape[0]:
        raise DataFormatError(f"{name} has {x.shape[0]} rows but y has {t.shape[0]}; they must match")
    if not np.isfinite(t).all():
        raise DataFormatError(f"y has a non-finite value at row {int(np.flatnonzero(~np.isfinite(t))[0])}")
    return x, t
