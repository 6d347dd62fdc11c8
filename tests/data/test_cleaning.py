import numpy as np
import pandas as pd
import pytest

from voltlab.data import OutlierOptions, clean_cycles, flag_cycles
from voltlab.errors import DataFormatError


def _summary(q, ce=None):
    n = len(q)
    return pd.DataFrame({
        "cycle_count": np.arange(1, n + 1),
        "discharge_capacity_ah": q,
        "coulombic_efficiency": np.full(n, 0.999) if ce is None else ce,
    })


def test_hampel_flags_a_dip_but_not_the_fade_trend():
    q = 2.0 - 0.002 * np.arange(100)  # steady fade is not an outlier
    q[40] -= 0.05
    q[70] += 0.04
    f = flag_cycles(_summary(q))
    assert f.index[f["flag_capacity_outlier"]].tolist() == [40, 70]
    assert not f.loc[[0, 1, 98, 99], "is_outlier"].any()


def test_incomplete_and_no_discharge_and_efficiency_flags():
    q = np.full(20, 1.0)
    q[5] = 0.3  # interrupted
    q[10] = 0.0  # check-up cycle with no discharge
    ce = np.full(20, 0.998)
    ce[15] = 1.9
    f = flag_cycles(_summary(q, ce))
    assert f["flag_incomplete"].tolist() == [i == 5 for i in range(20)]
    assert f["flag_no_discharge"].tolist() == [i == 10 for i in range(20)]
    assert f["flag_efficiency"].tolist() == [i == 15 for i in range(20)]


def test_clean_reports_every_removed_cycle_with_reasons():
    q = np.full(30, 1.0) - 0.001 * np.arange(30)
    q[3] = 0.2
    res = clean_cycles(_summary(q))
    assert len(res.kept) + len(res.removed) == 30
    assert res.report.to_dict("records") == [
        {"cycle_count": 4, "reasons": "flag_capacity_outlier, flag_incomplete"}
    ]
    assert res.describe() == "kept 29 cycles, removed 1 (flag_capacity_outlier: 1, flag_incomplete: 1)"
    only_incomplete = clean_cycles(_summary(q), remove=("flag_no_discharge",))
    assert len(only_incomplete.removed) == 0
    assert only_incomplete.describe() == "kept all 30 cycles"


def test_bad_options():
    with pytest.raises(DataFormatError, match="window must be >= 3"):
        flag_cycles(_summary(np.ones(5)), OutlierOptions(window=1))
    with pytest.raises(DataFormatError, match="unknown flag"):
        clean_cycles(_summary(np.ones(5)), remove=("flag_bogus",))
    with pytest.raises(DataFormatError, match="discharge_capacity_ah"):
        flag_cycles(pd.DataFrame({"cycle_count": [1]}))
