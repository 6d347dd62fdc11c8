"""Search spaces: parameters, composition simplexes and linear constraints.

A :class:`SearchSpace` holds named parameters (:class:`Real`, :class:`Integer`,
:class:`Categorical`, :class:`Fixed`), composition simplexes (:class:`Simplex`,
e.g. ``Ni + Co + Mn = 1`` with the per-component bounds of the ``Real``
parameters) and linear inequalities (:class:`LinearConstraint`,
``sum_i a_i x_i <= b``). Constraints act on ``Real`` parameters with a linear
scale, in the parameters' own units.

Points are plain ``dict[str, float | int | str]``. :meth:`SearchSpace.encode`
maps them to the unit box used by the surrogate models (one column per
``Real``/``Integer``, one-hot columns per ``Categorical``, none for ``Fixed``);
:meth:`SearchSpace.decode` maps back (rounding integers, arg-max for
categoricals). Because encoding is affine for linear ``Real`` parameters, the
simplex and linear constraints stay linear in the unit box
(:meth:`SearchSpace.unit_constraints`).

Examples
--------
>>> from voltlab.optimize.space import Real, SearchSpace, Simplex
>>> space = SearchSpace(
...     [Real("Ni", 0.3, 0.9), Real("Co", 0.05, 0.4), Real("Mn", 0.05, 0.4)],
...     simplexes=[Simplex(("Ni", "Co", "Mn"))],
... )
>>> pts = space.sample(4, seed=0)
>>> all(abs(p["Ni"] + p["Co"] + p["Mn"] - 1.0) <= 1e-12 for p in pts)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from voltlab.errors import OptimizationError

__all__ = [
    "Categorical",
    "Fixed",
    "Integer",
    "LinearConstraint",
    "Parameter",
    "Point",
    "Real",
    "SearchSpace",
    "Simplex",
]

Point: TypeAlias = dict[str, Any]

#: Default feasibility tolerance, in the parameters' own units.
FEASIBILITY_TOL = 1e-9


def _finite(name: str, what: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise OptimizationError(f"parameter {name!r}: {what} must be a number, got {value!r}") from exc
    if not math.isfinite(v):
        raise OptimizationError(f"parameter {name!r}: {what} must be finite, got {value!r}")
    return v


@dataclass(frozen=True, slots=True)
class Real:
    """A continuous parameter on ``[low, high]``.

    Parameters
    ----------
    name
        Parameter name (unique in a space); put the unit in it, e.g. ``"temperature_C"``.
    low, high
        Bounds in the parameter's unit, ``low < high``.
    log
        Encode on a log scale (needs ``low > 0``); such parameters cannot enter
        simplexes or linear constraints.
    """

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        low = _finite(self.name, "low", self.low)
        high = _finite(self.name, "high", self.high)
        if not low < high:
            raise OptimizationError(
                f"parameter {self.name!r}: low={low:g} must be below high={high:g}; "
                "swap them, or use Fixed for a constant"
            )
        if self.log and low <= 0:
            raise OptimizationError(
                f"parameter {self.name!r}: log=True needs low > 0, got low={low:g}; raise low or set log=False"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True, slots=True)
class Integer:
    """An integer parameter on ``[low, high]`` (both included)."""

    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        for what, v in (("low", self.low), ("high", self.high)):
            if isinstance(v, bool) or not float(v).is_integer():
                raise OptimizationError(f"parameter {self.name!r}: {what} must be an integer, got {v!r}")
        low, high = int(self.low), int(self.high)
        if not low < high:
            raise OptimizationError(
                f"parameter {self.name!r}: low={low} must be below high={high}; use Fixed for a constant"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True, slots=True)
class Categorical:
    """A parameter taking one of ``choices`` (strings, at least two, unique)."""

    name: str
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        choices = tuple(str(c) for c in self.choices)
        if len(choices) < 2:
            raise OptimizationError(
                f"parameter {self.name!r}: a Categorical needs at least 2 choices, got {list(choices)}; "
                "use Fixed for a single value"
            )
        if len(set(choices)) != len(choices):
            raise OptimizationError(f"parameter {self.name!r}: choices must be unique, got {list(choices)}")
        object.__setattr__(self, "choices", choices)


@dataclass(frozen=True, slots=True)
class Fixed:
    """A parameter held at ``value`` (recorded in every point, never optimised)."""

    name: str
    value: float | int | str


Parameter: TypeAlias = Real | Integer | Categorical | Fixed


@dataclass(frozen=True, slots=True)
class Simplex:
    """``sum(x[name] for name in names) == total`` over ``Real`` parameters.

    Per-component bounds are those of the named ``Real`` parameters, so a
    composition ``Ni + Co + Mn = 1`` with ``Ni`` in ``[0.6, 0.9]`` is
    ``Simplex(("Ni", "Co", "Mn"))`` beside ``Real("Ni", 0.6, 0.9)``.
    """

    names: tuple[str, ...]
    total: float = 1.0

    def __post_init__(self) -> None:
        names = tuple(self.names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise OptimizationError(f"a Simplex needs at least 2 distinct parameter names, got {list(names)}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "total", _finite("+".join(names), "simplex total", self.total))


@dataclass(frozen=True, slots=True)
class LinearConstraint:
    """``sum(coefficients[name] * x[name]) <= bound`` over ``Real`` parameters (their units)."""

    coefficients: Mapping[str, float]
    bound: float

    def __post_init__(self) -> None:
        if not self.coefficients:
            raise OptimizationError("a LinearConstraint needs at least one coefficient")
        coefs = {str(k): _finite(str(k), "coefficient", v) for k, v in dict(self.coefficients).items()}
        object.__setattr__(self, "coefficients", coefs)
        object.__setattr__(self, "bound", _finite("linear constraint", "bound", self.bound))

    def describe(self) -> str:
        """``"1*Ni + 2*Co <= 1.5"``-style text."""
        lhs = " + ".join(f"{a:g}*{n}" for n, a in self.coefficients.items())
        return f"{lhs} <= {self.bound:g}"


@dataclass(frozen=True)
class SearchSpace:
    """Named parameters with composition simplexes and linear inequality constraints.

    Parameters
    ----------
    parameters
        The parameters; names must be unique.
    simplexes
        Equality constraints ``sum x_i = total``; a parameter may be in at most one.
    constraints
        Linear inequalities ``sum a_i x_i <= b``.

    Raises
    ------
    OptimizationError
        Duplicate or unknown names, constraints on non-``Real`` or log-scaled
        parameters, simplexes whose total cannot be reached within the bounds,
        or a feasible set that is empty.
    """

    parameters: Sequence[Parameter]
    simplexes: Sequence[Simplex] = ()
    constraints: Sequence[LinearConstraint] = ()
    _index: dict[str, Parameter] = field(init=False, repr=False, compare=False)
    _columns: list[tuple[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", tuple(self.parameters))
        object.__setattr__(self, "simplexes", tuple(self.simplexes))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        if not self.parameters:
            raise OptimizationError("a SearchSpace needs at least one parameter")
        index: dict[str, Parameter] = {}
        for p in self.parameters:
            if not isinstance(p, Real | Integer | Categorical | Fixed):
                raise OptimizationError(f"expected Real, Integer, Categorical or Fixed, got {p!r}")
            if p.name in index:
                raise OptimizationError(f"parameter {p.name!r} is defined twice; give each parameter one name")
            index[p.name] = p
        object.__setattr__(self, "_index", index)
        seen: dict[str, int] = {}
        for k, s in enumerate(self.simplexes):
            for n in s.names:
                self._linear_real(n, "Simplex")
                if n in seen:
                    raise OptimizationError(f"parameter {n!r} is in simplexes {seen[n]} and {k}; use one simplex")
                seen[n] = k
            lo = sum(self._linear_real(n, "Simplex").low for n in s.names)
            hi = sum(self._linear_real(n, "Simplex").high for n in s.names)
            if not lo - FEASIBILITY_TOL <= s.total <= hi + FEASIBILITY_TOL:
                raise OptimizationError(
                    f"simplex {'+'.join(s.names)} = {s.total:g} cannot hold: the bounds allow sums in "
                    f"[{lo:g}, {hi:g}]; widen the component bounds or change the total"
                )
        for c in self.constraints:
            for n in c.coefficients:
                self._linear_real(n, "LinearConstraint")
        columns: list[tuple[str, int]] = []
        for p in self.parameters:
            if isinstance(p, Real | Integer):
                columns.append((p.name, -1))
            elif isinstance(p, Categorical):
                columns.extend((p.name, j) for j in range(len(p.choices)))
        if not columns:
            raise OptimizationError("every parameter is Fixed; add at least one parameter to optimise")
        object.__setattr__(self, "_columns", columns)
        if self.constraints:
            self._check_nonempty()

    # ----------------------------------------------------------------- lookups
    def _linear_real(self, name: str, where: str) -> Real:
        p = self._index.get(name)
        if p is None:
            raise OptimizationError(
                f"{where} refers to unknown parameter {name!r}; defined: {sorted(self._index)}"
            )
        if not isinstance(p, Real) or p.log:
            raise OptimizationError(
                f"{where} refers to parameter {name!r}, which is not a linear-scale Real; "
                "constraints act on Real parameters with log=False"
            )
        return p

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._index[name]
        except KeyError:
            raise OptimizationError(f"unknown parameter {name!r}; defined: {sorted(self._index)}") from None

    @property
    def names(self) -> list[str]:
        """Parameter names in definition order."""
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        """Number of columns of the unit-box encoding."""
        return len(self._columns)

    @property
    def is_continuous(self) -> bool:
        """True when every free parameter is a ``Real``."""
        return all(isinstance(p, Real | Fixed) for p in self.parameters)

    # --------------------------------------------------------------- encoding
    def _validate_point(self, point: Mapping[str, Any]) -> None:
        unknown = sorted(set(point) - set(self._index))
        missing = [n for n in self.names if n not in point and not isinstance(self._index[n], Fixed)]
        if unknown or missing:
            raise OptimizationError(
                f"point {dict(point)!r}: unknown names {unknown}, missing names {missing}; "
                f"a point names exactly these parameters: {self.names}"
            )

    def encode(self, points: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Map points to the unit box.

        Parameters
        ----------
        points
            Points as mappings name -> value (``Fixed`` parameters may be omitted).

        Returns
        -------
        numpy.ndarray
            Shape ``(n_points, dim)``, values in ``[0, 1]`` for points inside the bounds.

        Raises
        ------
        OptimizationError
            Unknown or missing names, or a categorical value that is not a choice.
        """
        rows = []
        for point in points:
            self._validate_point(point)
            row: list[float] = []
            for p in self.parameters:
                if isinstance(p, Real):
                    v = _finite(p.name, "value", point[p.name])
                    if p.log:
                        row.append((math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low)))
                    else:
                        row.append((v - p.low) / (p.high - p.low))
                elif isinstance(p, Integer):
                    row.append((_finite(p.name, "value", point[p.name]) - p.low) / (p.high - p.low))
                elif isinstance(p, Categorical):
                    choice = str(point[p.name])
                    if choice not in p.choices:
                        raise OptimizationError(
                            f"parameter {p.name!r}: {choice!r} is not one of the choices {list(p.choices)}"
                        )
                    row.extend(1.0 if c == choice else 0.0 for c in p.choices)
            rows.append(row)
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.dim)

    def decode(self, X: np.ndarray) -> list[Point]:
        """Map unit-box rows back to points (integers rounded, categoricals by arg-max).

        Parameters
        ----------
        X
            Shape ``(n_points, dim)``; values are clipped to ``[0, 1]``.

        Returns
        -------
        list of dict
            One point per row, including ``Fixed`` parameters.
        """
        X = np.clip(np.asarray(X, dtype=np.float64).reshape(-1, self.dim), 0.0, 1.0)
        out: list[Point] = []
        for row in X:
            point: Point = {}
            j = 0
            for p in self.parameters:
                if isinstance(p, Real):
                    u = float(row[j])
                    j += 1
                    if p.log:
                        point[p.name] = float(math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))))
                    else:
                        point[p.name] = float(p.low + u * (p.high - p.low))
                elif isinstance(p, Integer):
                    point[p.name] = round(p.low + float(row[j]) * (p.high - p.low))
                    j += 1
                elif isinstance(p, Categorical):
                    k = len(p.choices)
                    point[p.name] = p.choices[int(np.argmax(row[j : j + k]))]
                    j += k
                else:
                    point[p.name] = p.value
            out.append(point)
        return out

    # ------------------------------------------------------------- constraints
    def violation(self, point: Mapping[str, Any]) -> float:
        """Largest constraint or bound violation of ``point`` (0 when feasible), in parameter units."""
        self._validate_point(point)
        worst = 0.0
        for p in self.parameters:
            v = point.get(p.name, p.value if isinstance(p, Fixed) else None)
            if isinstance(p, Real | Integer):
                x = float(v)
                if not math.isfinite(x):
                    return math.inf
                worst = max(worst, p.low - x, x - p.high)
                if isinstance(p, Integer) and not x.is_integer():
                    worst = max(worst, abs(x - round(x)))
            elif isinstance(p, Categorical):
                if str(v) not in p.choices:
                    return math.inf
            elif v != p.value:
                return math.inf
        for s in self.simplexes:
            worst = max(worst, abs(math.fsum(float(point[n]) for n in s.names) - s.total))
        for c in self.constraints:
            lhs = math.fsum(a * float(point[n]) for n, a in c.coefficients.items())
            worst = max(worst, lhs - c.bound)
        return worst

    def contains(self, point: Mapping[str, Any], tol: float = FEASIBILITY_TOL) -> bool:
        """Whether ``point`` satisfies bounds, simplexes and linear constraints to ``tol`` (parameter units)."""
        return self.violation(point) <= tol

    def _column(self, name: str) -> int:
        return next(j for j, (n, _) in enumerate(self._columns) if n == name)

    def unit_constraints(self) -> tuple[list[tuple[list[int], list[float], float]], list[tuple[list[int], list[float], float]]]:
        """Simplex and linear constraints expressed on the unit-box columns.

        Returns
        -------
        equalities, inequalities
            Lists of ``(columns, coefficients, rhs)``. Equalities mean
            ``sum c_j u_j == rhs``; inequalities follow BoTorch's convention
            ``sum c_j u_j >= rhs``.
        """
        eq = []
        for s in self.simplexes:
            cols, coefs, rhs = [], [], s.total
            for n in s.names:
                p = self._linear_real(n, "Simplex")
                cols.append(self._column(n))
                coefs.append(p.high - p.low)
                rhs -= p.low
            eq.append((cols, coefs, rhs))
        ineq = []
        for c in self.constraints:
            cols, coefs, rhs = [], [], c.bound
            for n, a in c.coefficients.items():
                p = self._linear_real(n, "LinearConstraint")
                cols.append(self._column(n))
                coefs.append(-a * (p.high - p.low))
                rhs -= a * p.low
            ineq.append((cols, coefs, -rhs))
        return eq, ineq

    # -------------------------------------------------------------- projection
    def center(self) -> Point:
        """The middle of the space: each parameter at the middle of its encoded range, made feasible.

        Reals at ``(low + high) / 2`` (the geometric mean for log-scaled ones), integers
        rounded, categoricals at the middle choice; then :meth:`project` onto the
        constraints (a simplex of ``k`` fractions gets ``1/k`` each when its bounds allow).

        Examples
        --------
        >>> SearchSpace([Real("x", 0.0, 2.0)]).center()
        {'x': 1.0}
        """
        return self.project(self.decode(np.full((1, self.dim), 0.5))[0])

    def project(self, point: Mapping[str, Any]) -> Point:
        """Nearest feasible point (Euclidean in unit-box coordinates), made exact on simplex totals.

        Integers are rounded and categoricals kept; the continuous part is
        projected with a small quadratic programme (SLSQP), then each simplex
        is shifted onto its total exactly (bisection on a common offset with
        clipping to the bounds).

        Raises
        ------
        OptimizationError
            When no point within ``FEASIBILITY_TOL`` can be found.
        """
        self._validate_point(point)
        out: Point = self.decode(self.encode([point]))[0]
        for p in self.parameters:
            if isinstance(p, Real):
                out[p.name] = min(max(float(point[p.name]), p.low), p.high)
        if self.contains(out, tol=0.0):
            return out
        if self.constraints:
            out = self._qp_project(out)
        for s in self.simplexes:
            self._fix_simplex(out, s)
        v = self.violation(out)
        if v > FEASIBILITY_TOL:
            raise OptimizationError(
                f"could not project {dict(point)!r} into the search space (violation {v:.3g}); "
                "check that the constraints leave a feasible region"
            )
        return out

    def _qp_project(self, point: Point) -> Point:
        from scipy.optimize import minimize

        names = sorted({n for s in self.simplexes for n in s.names} | {n for c in self.constraints for n in c.coefficients})
        reals = [self._linear_real(n, "constraint") for n in names]
        scale = np.array([p.high - p.low for p in reals])
        low = np.array([p.low for p in reals])
        y = (np.array([point[n] for n in names], dtype=float) - low) / scale
        cons = []
        for s in self.simplexes:
            idx = [names.index(n) for n in s.names]
            cons.append({"type": "eq", "fun": lambda u, idx=idx, t=s.total: float(np.sum(low[idx] + scale[idx] * u[idx]) - t)})
        for c in self.constraints:
            idx = [names.index(n) for n in c.coefficients]
            a = np.array(list(c.coefficients.values()))
            cons.append({"type": "ineq", "fun": lambda u, idx=idx, a=a, b=c.bound: float(b - a @ (low[idx] + scale[idx] * u[idx]))})
        res = minimize(
            lambda u: float(np.sum((u - y) ** 2)), np.clip(y, 0, 1), jac=lambda u: 2 * (u - y),
            bounds=[(0.0, 1.0)] * len(names), constraints=cons, method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 500},
        )
        u = np.clip(res.x, 0.0, 1.0)
        out = dict(point)
        for n, p, ui in zip(names, reals, u, strict=True):
            out[n] = float(min(max(p.low + ui * (p.high - p.low), p.low), p.high))
        return out

    def _fix_simplex(self, point: Point, s: Simplex) -> None:
        reals = [self._linear_real(n, "Simplex") for n in s.names]
        x = np.array([float(point[n]) for n in s.names])
        lo = np.array([p.low for p in reals])
        hi = np.array([p.high for p in reals])
        if np.any(x < lo) or np.any(x > hi) or abs(float(np.sum(x)) - s.total) > 1e-12:
            # Euclidean projection onto {sum = total} within the box: a common shift, clipped.
            a, b = float(np.min(lo - x)), float(np.max(hi - x))
            for _ in range(64):
                mid = 0.5 * (a + b)
                if float(np.sum(np.clip(x + mid, lo, hi))) < s.total:
                    a = mid
                else:
                    b = mid
            x = np.clip(x + 0.5 * (a + b), lo, hi)
        # Put the last rounding residual on the components with the most room.
        for _ in range(3):
            resid = s.total - math.fsum(x)
            if resid == 0.0:
                break
            k = int(np.argmax(np.minimum(x - lo, hi - x)))
            x[k] = min(max(x[k] + resid, lo[k]), hi[k])
        for n, v in zip(s.names, x, strict=True):
            point[n] = float(v)

    # ---------------------------------------------------------------- sampling
    def _check_nonempty(self) -> None:
        from scipy.optimize import linprog

        names = sorted({n for s in self.simplexes for n in s.names} | {n for c in self.constraints for n in c.coefficients})
        reals = [self._linear_real(n, "constraint") for n in names]
        A_ub = [[c.coefficients.get(n, 0.0) for n in names] for c in self.constraints]
        b_ub = [c.bound for c in self.constraints]
        A_eq = [[1.0 if n in s.names else 0.0 for n in names] for s in self.simplexes] or None
        b_eq = [s.total for s in self.simplexes] or None
        res = linprog(np.zeros(len(names)), A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                      bounds=[(p.low, p.high) for p in reals], method="highs")
        if res.status != 0:
            text = "; ".join(c.describe() for c in self.constraints)
            raise OptimizationError(
                f"no point satisfies the bounds, simplexes and linear constraints ({text}); "
                "relax a constraint bound or widen the parameter bounds"
            )

    def _sobol_stream(self, n_raw: int, seed: int) -> list[Point]:
        """``n_raw`` scrambled-Sobol candidates, uniform on each simplex face within its lower bounds."""
        from scipy.stats import qmc

        in_simplex = {n for s in self.simplexes for n in s.names}
        free = [p for p in self.parameters if not isinstance(p, Fixed) and p.name not in in_simplex]
        d = len(free) + sum(len(s.names) - 1 for s in self.simplexes)
        m = max(1, math.ceil(math.log2(max(n_raw, 2))))
        U = qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)[:n_raw]
        pts: list[Point] = []
        for u in U:
            point: Point = {}
            j = 0
            for p in free:
                if isinstance(p, Real):
                    point[p.name] = self.decode_one(p, float(u[j]))
                elif isinstance(p, Integer):
                    point[p.name] = min(p.high, p.low + int(u[j] * (p.high - p.low + 1)))
                else:
                    assert isinstance(p, Categorical)
                    point[p.name] = p.choices[min(len(p.choices) - 1, int(u[j] * len(p.choices)))]
                j += 1
            for s in self.simplexes:
                k = len(s.names)
                # Sorted uniforms give spacings uniform on the standard simplex.
                cuts = np.sort(u[j : j + k - 1])
                j += k - 1
                w = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
                reals = [self._linear_real(n, "Simplex") for n in s.names]
                slack = s.total - sum(r.low for r in reals)
                for r, wi in zip(reals, w, strict=True):
                    point[r.name] = float(r.low + slack * wi)
            for fixed in self.parameters:
                if isinstance(fixed, Fixed):
                    point[fixed.name] = fixed.value
            pts.append({n: point[n] for n in self.names})
        return pts

    @staticmethod
    def decode_one(p: Real, u: float) -> float:
        """Value of a ``Real`` at unit coordinate ``u``."""
        if p.log:
            return float(math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))))
        return float(p.low + u * (p.high - p.low))

    def sample(self, n: int, seed: int = 0, skip: int = 0) -> list[Point]:
        """Feasible points from a scrambled Sobol sequence, by rejection.

        The stream of feasible points is fixed by ``seed``, so ``sample(n, seed,
        skip=k)`` continues ``sample(k, seed)`` without repeating it. Simplex
        components are drawn uniformly on the face above their lower bounds;
        points outside upper bounds or linear constraints are rejected; the
        accepted points are then made exact on the simplex totals.

        Parameters
        ----------
        n
            Number of points wanted.
        seed
            Sobol scrambling seed.
        skip
            Feasible points of the stream to skip.

        Returns
        -------
        list of dict
            ``n`` points, each with ``contains(point)`` true.

        Raises
        ------
        OptimizationError
            If fewer than 1 in 2**16 candidates are feasible (use a polytope
            sampler or looser constraints).
        """
        if n <= 0:
            return []
        want = n + skip
        n_raw = max(64, 2 * want)
        while True:
            cand = self._sobol_stream(n_raw, seed)
            feasible = []
            for c in cand:
                # Reject before the exact simplex fix, which clips and would pile points on bounds.
                if not self.contains(c):
                    continue
                for s in self.simplexes:
                    self._fix_simplex(c, s)
                if self.contains(c):
                    feasible.append(c)
                    if len(feasible) == want:
                        return feasible[skip:]
            if n_raw >= 2**20 or (n_raw >= 2**16 and not feasible):
                raise OptimizationError(
                    f"only {len(feasible)} of {n_raw} Sobol candidates satisfy the constraints; "
                    "the feasible region is too small for rejection sampling: widen the bounds or relax constraints"
                )
            n_raw *= 4

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :meth:`from_dict`)."""
        params: list[dict[str, Any]] = []
        for p in self.parameters:
            if isinstance(p, Real):
                params.append({"type": "real", "name": p.name, "low": p.low, "high": p.high, "log": p.log})
            elif isinstance(p, Integer):
                params.append({"type": "integer", "name": p.name, "low": p.low, "high": p.high})
            elif isinstance(p, Categorical):
                params.append({"type": "categorical", "name": p.name, "choices": list(p.choices)})
            else:
                params.append({"type": "fixed", "name": p.name, "value": p.value})
        return {
            "parameters": params,
            "simplexes": [{"names": list(s.names), "total": s.total} for s in self.simplexes],
            "constraints": [{"coefficients": dict(c.coefficients), "bound": c.bound} for c in self.constraints],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Build a space from :meth:`to_dict` output (also the ``[[parameters]]`` tables of a campaign TOML).

        Raises
        ------
        OptimizationError
            Unknown parameter types or missing keys.
        """
        kinds = {"real": Real, "integer": Integer, "categorical": Categorical, "fixed": Fixed}
        params: list[Parameter] = []
        for i, raw in enumerate(data.get("parameters", [])):
            spec = dict(raw)
            kind = str(spec.pop("type", "")).lower()
            if kind not in kinds:
                raise OptimizationError(
                    f"parameters[{i}]: type {kind!r} is not one of {sorted(kinds)}", value=raw
                )
            if kind == "categorical":
                spec["choices"] = tuple(spec.get("choices", ()))
            try:
                params.append(kinds[kind](**spec))
            except TypeError as exc:
                raise OptimizationError(f"parameters[{i}] ({kind}): {exc}; see docs/optimize.md", value=raw) from exc
        simplexes = [Simplex(tuple(s["names"]), s.get("total", 1.0)) for s in data.get("simplexes", [])]
        constraints = [LinearConstraint(c["coefficients"], c["bound"]) for c in data.get("constraints", [])]
        return cls(params, simplexes, constraints)
