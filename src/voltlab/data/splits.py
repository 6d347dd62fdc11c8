"""Leakage-free train/test splits: whole cells, whole groups, never cycles of one cell.

Every function takes the *cell-level* table (one row per cell, e.g.
``Store.cells()``) and returns cell ids, so cycles of one cell never land on
both sides. Groups (batch, protocol, chemistry family) are kept whole.
Results depend only on the inputs and ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError

__all__ = ["Split", "group_kfold", "split_by_cell", "split_by_chemistry", "split_by_group"]


@dataclass(frozen=True, slots=True)
class Split:
    """Cell ids on each side, and the groups on each side when split by group."""

    train: list[str]
    test: list[str]
    train_groups: list[str]
    test_groups: list[str]

    def mask(self, cell_ids: Sequence[str] | pd.Series) -> np.ndarray:
        """Boolean array: True where a row's cell is in the test set."""
        test = set(self.test)
        return np.array([c in test for c in cell_ids], dtype=bool)


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise DataFormatError(
            f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}", value=test_fraction
        )


def _cells_and_groups(cells: pd.DataFrame | Sequence[str], by: str | None) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(cells, pd.DataFrame):
        if "cell_id" not in cells.columns:
            raise DataFormatError("cell table needs a 'cell_id' column", column="cell_id")
        ids = cells["cell_id"].astype(str).to_numpy()
        if by is None:
            groups = ids
        elif by not in cells.columns:
            raise DataFormatError(
                f"no column {by!r} to group by; columns are {list(cells.columns)}", column=by
            )
        else:
            g = cells[by]
            if g.isna().any() or (g.astype(str).str.strip() == "").any():
                bad = cells.loc[g.isna() | (g.astype(str).str.strip() == ""), "cell_id"].tolist()
                raise DataFormatError(
                    f"cells {bad[:5]} have no {by!r}; fill it in so they can be grouped", column=by
                )
            groups = g.astype(str).to_numpy()
    else:
        ids = np.asarray([str(c) for c in cells])
        groups = ids
    if len(set(ids.tolist())) != len(ids):
        raise DataFormatError("cell ids are not unique; pass one row per cell", column="cell_id")
    return ids, groups


def split_by_group(
    cells: pd.DataFrame, by: str, *, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Hold out whole groups (e.g. ``by="batch"``) until about ``test_fraction`` of cells is held out.

    Groups are shuffled with ``seed`` and taken into the test set while that
    brings the test share closer to ``test_fraction``; at least one group is
    on each side.

    Raises
    ------
    DataFormatError
        Fewer than two groups, missing group labels or a bad fraction.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"cell_id": list("abcdef"), "batch": list("xxyyzz")})
    >>> s = split_by_group(cells, "batch", test_fraction=0.3, seed=1)
    >>> len(s.test), set(s.train_groups).isdisjoint(s.test_groups)
    (2, True)
    """
    _check_fraction(test_fraction)
    ids, groups = _cells_and_groups(cells, by)
    uniq, counts = np.unique(groups, return_counts=True)
    if uniq.size < 2:
        raise DataFormatError(
            f"need at least two distinct {by!r} values to split by group, got {uniq.tolist()}", column=by
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    target = test_fraction * ids.size
    test_groups: list[str] = []
    n_test = 0
    for k in order:
        if len(test_groups) == uniq.size - 1:
            break
        if not test_groups or abs(n_test + counts[k] - target) < abs(n_test - target):
            test_groups.append(str(uniq[k]))
            n_test += int(counts[k])
    is_test = np.isin(groups, test_groups)
    train_groups = sorted(set(groups[~is_test].tolist()))
    return Split(
        train=sorted(ids[~is_test].tolist()),
        test=sorted(ids[is_test].tolist()),
        train_groups=train_groups,
        test_groups=sorted(test_groups),
    )


def split_by_cell(
    cells: pd.DataFrame | Sequence[str], *, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Random split of whole cells (each cell is its own group)."""
    _check_fraction(test_fraction)
    ids, _ = _cells_and_groups(cells, None)
    if ids.size < 2:
        raise DataFormatError(f"need at least 2 cells to split, got {ids.size}")
    rng = np.random.default_rng(seed)
    n_test = min(max(1, round(test_fraction * ids.size)), ids.size - 1)
    perm = rng.permutation(ids.size)
    test = sorted(ids[perm[:n_test]].tolist())
    train = sorted(ids[perm[n_test:]].tolist())
    return Split(train=train, test=test, train_groups=train, test_groups=test)


def split_by_chemistry(
    cells: pd.DataFrame, *, column: str = "chemistry", test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Hold out whole chemistry families (e.g. all LFP cells), see :func:`split_by_group`."""
    return split_by_group(cells, column, test_fraction=test_fraction, seed=seed)


def group_kfold(
    cells: pd.DataFrame | Sequence[str], n_splits: int = 5, *, by: str | None = None, seed: int = 0
) -> Iterator[Split]:
    """K folds over whole groups (cells if ``by`` is None); each group is tested exactly once."""
    ids, groups = _cells_and_groups(cells, by)
    uniq = np.unique(groups)
    if not 2 <= n_splits <= uniq.size:
        raise DataFormatError(
            f"n_splits must be between 2 and the number of groups ({uniq.size}), got {n_splits}",
            value=n_splits,
        )
    rng = np.random.default_rng(seed)
    shuffled = uniq[rng.permutation(uniq.size)]
    for fold in np.array_split(shuffled, n_splits):
        is_test = np.isin(groups, fold)
        yield Split(
            train=sorted(ids[~is_test].tolist()),
            test=sorted(ids[is_test].tolist()),
            train_groups=sorted(set(groups[~is_test].tolist())),
            test_groups=sorted(fold.tolist()),
        )
