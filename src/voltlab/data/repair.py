"""Repairs for common export faults in cycling tables.

:func:`repair_time` fixes test time that steps backwards, the fault of the
Neware "Time_Bug" export in the Battery Data Format reference files.

The rule
--------
Scan the time column in order. Where a sample is earlier than the previous
(repaired) sample by more than ``tolerance_second``:

1. **Glitch** - if, within ``max_glitch_rows`` rows, time jumps back up
   (by more than ``glitch_jump_factor`` median intervals) to at least the
   previous value, only the rows in between are wrong (the Neware export
   writes one sample with time 0 at each step change). Those rows are placed
   evenly between their good neighbours (linear interpolation), and nothing
   else moves.
2. **Reset** - otherwise the clock restarted. The remainder of the table is
   shifted so that time continues from the previous sample plus the median
   sampling interval (median of the positive time steps of the file).

Applying rule 2 to a glitch would add the whole elapsed time to every later
sample (34.9 h of the Time_Bug file would become weeks), which is why the
two cases are told apart. Each repaired row is listed in the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import SchemaError

__all__ = ["TIME_REPAIR_RULE", "repair_time"]

TIME_REPAIR_RULE = (
    "backward time steps: a run of <= {max_glitch_rows} rows after which time jumps back to the "
    "previous value is interpolated between its neighbours (glitch); otherwise the remainder is "
    "shifted to continue from the previous sample plus the median sampling interval (reset)"
)


def _median_interval(t: np.ndarray, tolerance_second: float) -> float:
    d = np.diff(t)
    pos = d[np.isfinite(d) & (d > tolerance_second)]
    return float(np.median(pos)) if pos.size else 0.0


def repair_time(
    df: pd.DataFrame,
    *,
    column: str = "test_time_second",
    tolerance_second: float = 1e-3,
    max_glitch_rows: int = 5,
    glitch_jump_factor: float = 5.0,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Make the time column non-decreasing, repairing glitches and clock resets.

    See the module docstring for the rule.

    Parameters
    ----------
    df
        Table with a time column in seconds.
    column
        Name of the time column (default ``"test_time_second"``).
    tolerance_second
        Backward steps up to this size (s) are jitter and left alone (same
        default as :class:`~voltlab.data.validation.ValidationLimits`).
    max_glitch_rows
        Longest run of wrong rows treated as a glitch rather than a reset.
    glitch_jump_factor
        The return to the previous time must be a jump larger than this many
        median sampling intervals; a smooth return is a clock reset.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        A copy of ``df`` with the repaired time column, and one report entry
        per repaired row: ``row`` (0-based position), ``kind`` (``"glitch"`` or
        ``"reset"``), ``original_s`` and ``repaired_s`` (seconds). NaN times
        are left for the validator to report.

    Raises
    ------
    SchemaError
        ``column`` is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> t = [0.0, 10, 20, 30, 40, 50, 60, 70, 0, 70.01, 80]
    >>> fixed, rep = repair_time(pd.DataFrame({"test_time_second": t}))
    >>> fixed["test_time_second"].tolist()[7:]
    [70.0, 70.005, 70.01, 80.0]
    >>> rep[0]["kind"], rep[0]["row"]
    ('glitch', 8)
    >>> fixed, rep = repair_time(pd.DataFrame({"test_time_second": [0.0, 10, 20, 0, 10, 20, 30, 40, 50, 60]}))
    >>> fixed["test_time_second"].tolist()
    [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    """
    if column not in df.columns:
        raise SchemaError(
            f"no time column {column!r} to repair; columns are {list(df.columns)}", column=column
        )
    t = df[column].to_numpy(dtype=np.float64, na_value=np.nan)
    n = t.size
    out = t.copy()
    report: list[dict[str, Any]] = []
    if n < 2:
        return df.copy(), report
    med = _median_interval(t, tolerance_second)
    events = np.flatnonzero(np.diff(t) < -tolerance_second) + 1
    offset = 0.0
    pos = 0  # out[:pos] is final
    for r in (int(e) for e in events):
        if r < pos:
            continue  # inside a glitch run already repaired
        out[pos:r] = t[pos:r] + offset
        pos = r
        prev = out[r - 1]
        if not t[r] + offset < prev - tolerance_second:
            continue
        ahead = t[r + 1 : min(n, r + 1 + max_glitch_rows)] + offset
        resume = np.flatnonzero(ahead >= prev)
        k = int(resume[0]) + 1 if resume.size else 0  # rows r .. r+k-1 would be the glitch
        if k and t[r + k] - t[r + k - 1] > max(glitch_jump_factor * med, tolerance_second):
            nxt = t[r + k] + offset
            fill = prev + (nxt - prev) * np.arange(1, k + 1) / (k + 1)
            for j in range(k):
                report.append({"row": r + j, "kind": "glitch", "original_s": float(t[r + j]),
                               "repaired_s": float(fill[j])})
            out[r : r + k] = fill
            pos = r + k
        else:
            shift = prev + med - (t[r] + offset)
            offset += shift
            report.append({"row": r, "kind": "reset", "original_s": float(t[r]),
                           "repaired_s": float(t[r] + offset)})
    out[pos:] = t[pos:] + offset
    fixed = df.copy()
    fixed[column] = out
    return fixed, report
