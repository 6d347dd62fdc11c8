"""Reading the user tables that studies accept with ``--data``: one CSV reader, one numeric-column check.

Errors name the file, the row (0-based, after the header) and the column, and say how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, SchemaError

__all__ = ["numeric_column", "read_csv_table"]


def read_csv_table(path: str | Path, columns: Sequence[str], *, what: str, hint: str = "") -> pd.DataFrame:
    """Read a CSV and keep ``columns`` (in that order).

    Parameters
    ----------
    path
        The CSV file.
    columns
        Required column names.
    what
        What the table holds, for messages (``"the host table"``).
    hint
        Units or rules of the columns, appended to the missing-column message.

    Raises
    ------
    DataFormatError
        The file cannot be parsed as CSV.
    SchemaError
        A required column is missing (names the first one).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types; all mean "not a readable CSV"
        raise DataFormatError(f"cannot read {what} as CSV ({exc}); give a comma-separated file with a "
                              f"header row {list(columns)}", path=path) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(f"missing column(s) {missing}; {what} needs {list(columns)}" + (f" ({hint})" if hint else ""),
                          path=path, column=missing[0])
    return df[list(columns)].copy()


def numeric_column(df: pd.DataFrame, column: str, path: str | Path, *, low: float = -math.inf,
                   high: float = math.inf, low_open: bool = False, high_open: bool = False,
                   describe: str = "") -> np.ndarray:
    """The values of ``column`` as finite float64 within ``[low, high]`` (``low_open``/``high_open``: strict).

    Raises
    ------
    DataFormatError
        The first non-numeric, non-finite or out-of-range value, with its row and column;
        ``describe`` says what the value should be (``"a fraction in [0, 1] (not percent)"``).
    """
    num = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(num))
    if bad.size:
        raise DataFormatError(f"value {df[column].iloc[bad[0]]!r} is not a finite number; fill or drop the row",
                              path=path, row=int(bad[0]), column=column, value=df[column].iloc[bad[0]])
    below = num <= low if low_open else num < low
    above = num >= high if high_open else num > high
    out = np.flatnonzero(below | above)
    if out.size:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        rule = describe or f"in {lo}{low:g}, {high:g}{hi}"
        raise DataFormatError(f"value {num[out[0]]:g} is not {rule}; check the sign and unit of the column",
                              path=path, row=int(out[0]), column=column, value=float(num[out[0]]))
    return num
