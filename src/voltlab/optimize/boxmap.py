"""Box coordinates for composition simplexes: what the GP sees instead of the fractions.

A plain simplex ``x_1 + ... + x_k = total`` (every member a linear ``Real`` from 0 to at least
``total``, so only the sum binds, and in no linear constraint) is a (k-1)-dimensional set. The
campaign's unit encoding keeps its k fractions and hands the optimiser an equality constraint.
:class:`SimplexBoxMap` instead gives each such simplex k-1 columns in ``[0, 1]`` through the
stick-breaking map of the uniform (Dirichlet(1, ..., 1)) distribution::

    rest = 1;  f_i = rest * (1 - z_i ** (1 / (k - 1 - i)))  (i < k - 1);  rest -= f_i;  f_k = rest

For k = 3 this is the area-preserving triangle map ``Ni = 1 - sqrt(z1)``,
``Co = sqrt(z1) (1 - z2)``, ``Mn = sqrt(z1) z2``. It is a bijection from the open box onto the
open simplex that carries uniform points to uniform points, so Sobol designs and GP
lengthscales mean the same as in a box. The acquisition is then optimised in a box with no
equality constraint (L-BFGS-B instead of SLSQP).

Used by a campaign with ``simplex_map="box"`` (not the default). Measured, 10 seeds each: on
the doped-NCM emulator (Ni + Co + Mn = 1, 15 evaluations) median regret 3.46 mAh/g against
18.9 with the fractions (``benchmarks/results/bo_ncm_emulator_boxmap_10seeds.md``); on two
smooth quadratic bumps on a 4-component simplex it lost, 6.15 against 0.32 and 18.0 against
1.99 (``benchmarks/results/bo_simplex.md``). See ``docs/optimize.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voltlab.optimize.space import Real, SearchSpace

__all__ = ["SimplexBoxMap"]


@dataclass(frozen=True)
class _Block:
    columns: tuple[int, ...]  # unit-box columns of the members, in simplex order
    scales: tuple[float, ...]  # (high - low) / total: fraction = unit value * scale


class SimplexBoxMap:
    """Unit-box encodings of ``space`` (:meth:`SearchSpace.encode`) to and from box coordinates.

    Columns that are in no simplex keep their order and come first; each simplex then adds
    ``k - 1`` columns. Build it with :meth:`for_space`, which returns None when a simplex of
    the space is not plain (a member bound that binds, a log scale, a linear constraint on a
    member): then the fractions and the equality constraint stay.
    """

    def __init__(self, space: SearchSpace, blocks: list[_Block]) -> None:
        self.space = space
        self._blocks = blocks
        in_block = {c for b in blocks for c in b.columns}
        self._keep = [j for j in range(space.dim) if j not in in_block]
        self.dim = len(self._keep) + sum(len(b.columns) - 1 for b in blocks)

    @classmethod
    def for_space(cls, space: SearchSpace) -> SimplexBoxMap | None:
        """The map for ``space``, or None (no simplex, or one that is not plain)."""
        if not space.simplexes:
            return None
        constrained = {n for c in space.constraints for n in c.coefficients}
        blocks = []
        for s in space.simplexes:
            if s.total <= 0:
                return None
            cols, scales = [], []
            for name in s.names:
                p = space[name]
                if not isinstance(p, Real) or p.log or name in constrained or p.low != 0.0 or p.high < s.total:
                    return None
                cols.append(space._column(name))
                scales.append((p.high - p.low) / s.total)
            blocks.append(_Block(tuple(cols), tuple(scales)))
        return cls(space, blocks)

    def column(self, unit_column: int) -> int:
        """Box column of a unit-box column that is in no simplex."""
        return self._keep.index(unit_column)

    def to_box(self, U: np.ndarray) -> np.ndarray:
        """Unit-box encodings, shape ``(n, space.dim)`` -> box coordinates ``(n, dim)``."""
        U = np.asarray(U, dtype=np.float64).reshape(-1, self.space.dim)
        parts = [U[:, self._keep]]
        for b in self._blocks:
            f = np.clip(U[:, list(b.columns)] * np.asarray(b.scales), 0.0, None)
            total = f.sum(axis=1, keepdims=True)
            f = f / np.where(total > 0, total, 1.0)
            k = f.shape[1]
            rest = np.ones(len(U))
            z = np.empty((len(U), k - 1))
            for i in range(k - 1):
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(rest > 1e-15, f[:, i] / rest, 0.0)
                z[:, i] = np.clip(1.0 - share, 0.0, 1.0) ** (k - 1 - i)
                rest = np.clip(rest - f[:, i], 0.0, None)
            parts.append(z)
        return np.column_stack(parts)

    def from_box(self, Z: np.ndarray) -> np.ndarray:
        """Box coordinates ``(n, dim)`` -> unit-box encodings ``(n, space.dim)`` (on the simplexes)."""
        Z = np.clip(np.asarray(Z, dtype=np.float64).reshape(-1, self.dim), 0.0, 1.0)
        U = np.zeros((len(Z), self.space.dim))
        U[:, self._keep] = Z[:, : len(self._keep)]
        at = len(self._keep)
        for b in self._blocks:
            k = len(b.columns)
            rest = np.ones(len(Z))
            f = np.empty((len(Z), k))
            for i in range(k - 1):
                f[:, i] = rest * (1.0 - Z[:, at + i] ** (1.0 / (k - 1 - i)))
                rest = rest - f[:, i]
            f[:, k - 1] = rest
            U[:, list(b.columns)] = f / np.asarray(b.scales)
            at += k - 1
        return U

    def unit_constraints(self) -> tuple[list[tuple[list[int], list[float], float]],
                                        list[tuple[list[int], list[float], float]]]:
        """The space's linear inequalities on the box columns (none involve a simplex member);
        no equalities: every mapped simplex holds by construction."""
        _, ineq = self.space.unit_constraints()
        return [], [([self.column(c) for c in cols], coefs, rhs) for cols, coefs, rhs in ineq]
