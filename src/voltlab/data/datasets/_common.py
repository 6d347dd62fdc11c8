"""Helpers shared by the public-dataset loaders (private)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.readers._text import reject_crashing_numbers
from voltlab.errors import DataFormatError, DependencyError, MissingFileError, SchemaError, VoltlabError

__all__ = [
    "coulomb_count_within_cycle",
    "import_h5py",
    "import_scipy_io",
    "missing",
    "numeric_column",
    "read_csv_table",
    "require_columns",
    "stitch_cycle_time",
    "unexpected_as_format_error",
]


@contextmanager
def unexpected_as_format_error(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Turn any non-voltlab exception raised inside into a :class:`DataFormatError` naming ``path``.

    Parsers of third-party layouts (pandas, scipy.io, h5py) fail in many ways
    on damaged files; the caller should always get one clear error type.
    """
    try:
        yield
    except VoltlabError:
        raise
    except Exception as exc:
        raise DataFormatError(
            f"cannot read as {what} ({type(exc).__name__}: {exc}); is this an unmodified original file?",
            path=path,
        ) from exc


def missing(path: str | os.PathLike[str], what: str, where_to_get: str) -> MissingFileError:
    """A :class:`MissingFileError` saying what was expected and where to download it."""
    return MissingFileError(f"{what} not found. Get it from {where_to_get}", path=path)


def read_csv_table(path: Path, **kwargs: object) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures become :class:`DataFormatError` naming ``path``."""
    if not str(path).endswith(".gz"):
        reject_crashing_numbers(path)
    try:
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload]
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError("file is empty (no header, no rows)", path=path) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        raise DataFormatError(
            f"cannot parse as CSV ({type(exc).__name__}: {exc}); is this the right file?", path=path
        ) from exc


def require_columns(df: pd.DataFrame, required: Iterable[str], path: Path, what: str) -> None:
    """Raise :class:`SchemaError` naming the first missing column and those present."""
    have = [str(c) for c in df.columns]
    for col in required:
        if col not in df.columns:
            raise SchemaError(
                f"missing column {col!r} expected in {what}; the file has {have[:12]}"
                f"{' ...' if len(have) > 12 else ''}. Pass the file from the original dataset",
                path=path,
                column=col,
            )


def numeric_column(
    df: pd.DataFrame, name: str, path: Path, *, allow_nan: bool = True
) -> npt.NDArray[np.float64]:
    """Column ``name`` as float64; text that is not a number raises, naming the row.

    Empty cells become NaN (allowed unless ``allow_nan`` is False).
    """
    raw = df[name]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values)
    if bad.any():
        if not pd.api.types.is_numeric_dtype(raw.dtype):
            text = raw.astype("string").str.strip()
            not_blank = (text.notna() & (text != "")).to_numpy(dtype=bool)
            junk = np.flatnonzero(bad & not_blank)
            if junk.size:
                r = int(junk[0])
                raise DataFormatError(
                    f"value {raw.iloc[r]!r} is not a number ({junk.size} such row(s)); "
                    "check that the file is an unmodified export",
                    path=path, row=r, column=name, value=raw.iloc[r],
                )
        if not allow_nan:
            r = int(np.flatnonzero(bad)[0])
            raise DataFormatError(
                "value missing; every row needs one", path=path, row=r, column=name
            )
    return values


def _segment_starts(cycle: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    n = cycle.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, cycle[1:] != cycle[:-1]])


def stitch_cycle_time(
    cycle_time_second: npt.ArrayLike, cycle: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Continuous test time from a clock that restarts in every cycle record.

    Each cycle record keeps its own spacing (time relative to its first
    sample). Record ``k`` is placed so that it starts one *typical sampling
    interval* (the median positive within-record step of the whole file)
    after the last sample of record ``k-1``. The real pause between records
    (charge, rest) is not in such files, so the result is a continuous,
    strictly increasing clock across records, not the wall-clock test time.

    Parameters
    ----------
    cycle_time_second
        Time within each record, s, shape (n,).
    cycle
        Record (cycle) number per row, shape (n,); a change starts a record.

    Returns
    -------
    numpy.ndarray
        Shape (n,), s, starting at 0.

    Examples
    --------
    >>> stitch_cycle_time([0, 10, 20, 0, 10], [1, 1, 1, 2, 2]).tolist()
    [0.0, 10.0, 20.0, 30.0, 40.0]
    """
    t = np.asarray(cycle_time_second, dtype=np.float64)
    c = np.asarray(cycle)
    n = t.shape[0]
    if n == 0:
        return t.copy()
    starts = _segment_starts(c)
    lengths = np.diff(np.r_[starts, n])
    rel = t - np.repeat(t[starts], lengths)
    steps = np.diff(rel)
    same = c[1:] == c[:-1]
    positive = steps[same & (steps > 0)]
    gap = float(np.median(positive)) if positive.size else 1.0
    ends = np.r_[starts[1:] - 1, n - 1]
    durations = np.nan_to_num(rel[ends])
    offsets = np.r_[0.0, np.cumsum(durations[:-1] + gap)]
    return rel + np.repeat(offsets, lengths)


def coulomb_count_within_cycle(
    current_ampere: npt.ArrayLike,
    time_second: npt.ArrayLike,
    cycle: npt.ArrayLike,
    *,
    direction: int,
    record: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """Charge passed in one direction since the start of each cycle (trapezoid rule).

    Parameters
    ----------
    current_ampere
        Signed current, A (positive = charge), shape (n,). NaN counts as 0.
    time_second
        Time, s, shape (n,), non-decreasing within each cycle.
    cycle
        Cycle number per row, shape (n,).
    direction
        ``+1`` counts charge (I > 0), ``-1`` counts discharge (I < 0).
    record
        Optional record number per row, shape (n,). Nothing is counted across
        a change of record (the gap between two separately logged records
        of one cycle, e.g. a charge and the discharge after it, is not
        integrated); the total still runs over the whole cycle.

    Returns
    -------
    numpy.ndarray
        Ah, shape (n,), zero at the first row of each cycle, non-decreasing.

    Examples
    --------
    >>> coulomb_count_within_cycle([-1, -1, -1], [0, 1800, 3600], [1, 1, 1], direction=-1).tolist()
    [0.0, 0.5, 1.0]
    """
    i = np.nan_to_num(np.asarray(current_ampere, dtype=np.float64))
    t = np.asarray(time_second, dtype=np.float64)
    c = np.asarray(cycle)
    n = i.shape[0]
    if n == 0:
        return np.zeros(0)
    x = np.clip(direction * i, 0.0, None)
    inc = np.zeros(n)
    inc[1:] = 0.5 * (x[1:] + x[:-1]) * np.clip(np.diff(t), 0.0, None) / 3600.0
    starts = _segment_starts(c)
    inc[starts] = 0.0
    if record is not None:
        rec = np.asarray(record)
        inc[1:][rec[1:] != rec[:-1]] = 0.0
    total = np.cumsum(inc)
    return total - np.repeat(total[starts], np.diff(np.r_[starts, n]))


def import_scipy_io() -> ModuleType:
    """``scipy.io``, or a :class:`DependencyError` saying how to install it."""
    try:
        import scipy.io
    except ImportError as exc:  # pragma: no cover - scipy is a core dependency
        raise DependencyError(
            "reading MATLAB v5 .mat files needs scipy; install it with 'pip install scipy'"
        ) from exc
    return scipy.io


def import_h5py() -> ModuleType:
    """``h5py``, or a :class:`DependencyError` saying how to install it."""
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a core dependency
        raise DependencyError(
            "reading MATLAB v7.3 (HDF5) .mat files needs h5py; install it with 'pip install h5py'"
        ) from exc
    return h5py
