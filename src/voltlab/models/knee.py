"""Knee point and knee onset of a capacity fade curve (Bacon-Watts, Fermín-Cueto et al. 2020).

Bacon and Watts (1971) model two straight lines joined by a smooth transition:

``y = a0 + a1 (x - x1) + a2 (x - x1) tanh((x - x1) / gamma)``

Far from ``x1`` the slope is ``a1 - a2`` before and ``a1 + a2`` after it, so
``x1`` is where the lines meet. Fermín-Cueto et al. (2020) take ``x1`` of this
model fitted to capacity vs cycle as the **knee point**, and the first
breakpoint ``x0`` of the double Bacon-Watts model

``y = a0 + a1 (x - x0) + a2 (x - x0) tanh((x - x0)/gamma) + a3 (x - x2) tanh((x - x2)/gamma)``

(three lines, breakpoints ``x0 < x2``) as the **knee onset**, the cycle where
the fade starts to bend. As in their implementation, ``gamma`` is tiny
(1e-8 of the cycle span by default), i.e. a sharp corner, and the curve is first
cleaned with a 5-point median filter and a decreasing isotonic regression so
that single-cycle dips or regeneration jumps do not attract the breakpoints.

Fitting: for fixed breakpoints the model is linear in the ``a`` coefficients,
so the least-squares fit is found by a grid search over the breakpoints (exact
linear least squares at each) refined by a bounded 1-D (knee point) or
Nelder-Mead 2-D (onset) search on the profile sum of squares. No initial guess
is needed and the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voltlab.errors import DataFormatError
from voltlab.models.trend import _as_trajectory

__all__ = [
    "KneeFit",
    "bacon_watts",
    "double_bacon_watts",
    "fit_bacon_watts",
    "fit_double_bacon_watts",
    "knee_onset",
    "knee_point",
]

_CITATION = (
    "Fermín-Cueto P., McTurk E., Allerhand M., Medina-Lopez E., Anjos M. F., Sylvester J., dos Reis G. (2020). "
    "Identification and machine learning prediction of knee-point and knee-onset in capacity degradation "
    "curves of lithium-ion cells. Energy and AI 1, 100006. doi:10.1016/j.egyai.2020.100006"
)


def bacon_watts(
    x: npt.ArrayLike, a0: float, a1: float, a2: float, x1: float, gamma: float = 1e-8
) -> npt.NDArray[np.float64]:
    """Bacon-Watts model value at ``x`` (see the module docstring).

    Examples
    --------
    >>> bacon_watts([0.0, 10.0, 20.0], 1.0, -0.015, -0.005, 10.0).round(6).tolist()
    [1.1, 1.0, 0.8]
    """
    z = np.asarray(x, dtype=np.float64) - x1
    return a0 + a1 * z + a2 * z * np.tanh(z / gamma)


def double_bacon_watts(
    x: npt.ArrayLike, a0: float, a1: float, a2: float, a3: float, x0: float, x2: float, gamma: float = 1e-8
) -> npt.NDArray[np.float64]:
    """Double Bacon-Watts model value at ``x`` (see the module docstring)."""
    xa = np.asarray(x, dtype=np.float64)
    z0, z2 = xa - x0, xa - x2
    return a0 + a1 * z0 + a2 * z0 * np.tanh(z0 / gamma) + a3 * z2 * np.tanh(z2 / gamma)


@dataclass(frozen=True, slots=True)
class KneeFit:
    """Least-squares Bacon-Watts fit.

    Attributes
    ----------
    breakpoints
        ``(x1,)`` for the single model (the knee point), ``(x0, x2)`` for the
        double model (``x0`` = knee onset), in cycles.
    coefficients
        ``(a0, a1, a2)`` or ``(a0, a1, a2, a3)``.
    gamma
        Transition width used, cycles.
    sse
        Sum of squared residuals on the (cleaned) data.
    slopes
        Slope of each straight piece, left to right (y units per cycle).
    """

    breakpoints: tuple[float, ...]
    coefficients: tuple[float, ...]
    gamma: float
    sse: float
    slopes: tuple[float, ...]

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Model value at cycles ``x``."""
        if len(self.breakpoints) == 1:
            return bacon_watts(x, *self.coefficients, self.breakpoints[0], self.gamma)
        return double_bacon_watts(x, *self.coefficients, *self.breakpoints, self.gamma)


def _clean(x: np.ndarray, y: np.ndarray, smooth: bool) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 6:
        raise DataFormatError(f"a knee fit needs at least 6 finite points, got {x.size}", value=x.size)
    if smooth:
        from scipy.signal import medfilt
        from sklearn.isotonic import IsotonicRegression

        y = medfilt(y, 5) if y.size >= 5 else y
        y = IsotonicRegression(increasing=False).fit_transform(x, y)
    return x, y


def _design(x: np.ndarray, breaks: tuple[float, ...], gamma: float) -> np.ndarray:
    z0 = x - breaks[0]
    cols = [np.ones_like(x), z0, z0 * np.tanh(z0 / gamma)]
    for b in breaks[1:]:
        z = x - b
        cols.append(z * np.tanh(z / gamma))
    return np.column_stack(cols)


def _lstsq(x: np.ndarray, y: np.ndarray, breaks: tuple[float, ...], gamma: float) -> tuple[float, np.ndarray]:
    a = _design(x, breaks, gamma)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ coef
    return float(r @ r), coef


def _gamma(x: np.ndarray, gamma: float | None) -> float:
    if gamma is None:
        return 1e-8 * max(float(x[-1] - x[0]), 1.0)
    if not gamma > 0:
        raise DataFormatError(f"gamma must be > 0 cycles (1e-8 gives a sharp corner), got {gamma!r}", value=gamma)
    return float(gamma)


def _slopes(coef: np.ndarray) -> tuple[float, ...]:
    a1, rest = coef[1], coef[2:]
    # left of every breakpoint each tanh term contributes -a_k, right of it +a_k
    out = [a1 - float(np.sum(rest))]
    for k in range(rest.size):
        out.append(a1 - float(np.sum(rest[k + 1 :])) + float(np.sum(rest[: k + 1])))
    return tuple(float(s) for s in out)


def fit_bacon_watts(
    cycles: npt.ArrayLike,
    capacity: npt.ArrayLike,
    *,
    gamma: float | None = None,
    smooth: bool = True,
    n_grid: int = 200,
) -> KneeFit:
    """Fit the Bacon-Watts model; ``breakpoints[0]`` is the knee point (cycles).

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing, n >= 6.
    capacity
        Capacity or retention, shape (n,).
    gamma
        Transition width, cycles; default 1e-8 of the cycle span (sharp).
    smooth
        Median filter (5) and decreasing isotonic regression first
        (Fermín-Cueto et al. 2020); False fits the raw values.
    n_grid
        Candidate breakpoints of the grid search.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(1.0, 501.0)
    >>> q = np.where(k < 300, 1.0 - 1e-4 * k, 0.97 - 1e-3 * (k - 300))
    >>> round(fit_bacon_watts(k, q).breakpoints[0], 1)
    300.0
    """
    from scipy.optimize import minimize_scalar

    x, y = _as_trajectory(cycles, capacity)
    x, y = _clean(x, y, smooth)
    g = _gamma(x, gamma)
    lo, hi = x[1], x[-2]
    grid = np.linspace(lo, hi, max(3, int(n_grid)))
    sse = np.array([_lstsq(x, y, (b,), g)[0] for b in grid])
    i = int(np.argmin(sse))
    a, b = grid[max(0, i - 1)], grid[min(grid.size - 1, i + 1)]
    res = minimize_scalar(lambda t: _lstsq(x, y, (t,), g)[0], bounds=(a, b), method="bounded",
                          options={"xatol": 1e-3})
    best = float(res.x) if res.fun <= sse[i] else float(grid[i])
    s, coef = _lstsq(x, y, (best,), g)
    return KneeFit((best,), tuple(float(c) for c in coef), g, s, _slopes(coef))


def fit_double_bacon_watts(
    cycles: npt.ArrayLike,
    capacity: npt.ArrayLike,
    *,
    gamma: float | None = None,
    smooth: bool = True,
    n_grid: int = 60,
) -> KneeFit:
    """Fit the double Bacon-Watts model; ``breakpoints[0]`` is the knee onset (cycles).

    Parameters are as in :func:`fit_bacon_watts`; the grid has ``n_grid``
    candidates per breakpoint (pairs with ``x0 < x2``).
    """
    from scipy.optimize import minimize

    x, y = _as_trajectory(cycles, capacity)
    x, y = _clean(x, y, smooth)
    g = _gamma(x, gamma)
    grid = np.linspace(x[1], x[-2], max(4, int(n_grid)))
    best = (np.inf, grid[0], grid[1])
    for p in range(grid.size - 1):
        for q in range(p + 1, grid.size):
            s = _lstsq(x, y, (grid[p], grid[q]), g)[0]
            if s < best[0]:
                best = (s, grid[p], grid[q])
    step = float(grid[1] - grid[0])
    span = (float(x[1]), float(x[-2]))

    def profile(v: np.ndarray) -> float:
        b0, b2 = float(v[0]), float(v[1])
        if not (span[0] <= b0 < b2 <= span[1]):
            return np.inf
        return _lstsq(x, y, (b0, b2), g)[0]

    res = minimize(profile, np.array([best[1], best[2]]), method="Nelder-Mead",
                   options={"initial_simplex": np.array([[best[1], best[2]], [best[1] + step / 2, best[2]],
                                                         [best[1], best[2] + step / 2]]),
                            "xatol": 1e-3, "fatol": 1e-14, "maxiter": 2000})
    b0, b2 = (float(res.x[0]), float(res.x[1])) if res.fun <= best[0] else (float(best[1]), float(best[2]))
    s, coef = _lstsq(x, y, (b0, b2), g)
    return KneeFit((b0, b2), tuple(float(c) for c in coef), g, s, _slopes(coef))


def knee_point(cycles: npt.ArrayLike, capacity: npt.ArrayLike, **kwargs: float | bool | int | None) -> float:
    """Knee point (cycles): the breakpoint of the Bacon-Watts fit (:func:`fit_bacon_watts`)."""
    return fit_bacon_watts(cycles, capacity, **kwargs).breakpoints[0]  # type: ignore[arg-type]


def knee_onset(cycles: npt.ArrayLike, capacity: npt.ArrayLike, **kwargs: float | bool | int | None) -> float:
    """Knee onset (cycles): the first breakpoint of the double Bacon-Watts fit."""
    return fit_double_bacon_watts(cycles, capacity, **kwargs).breakpoints[0]  # type: ignore[arg-type]
