import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voltlab.data.splits import group_kfold, split_by_cell, split_by_chemistry, split_by_group
from voltlab.errors import DataFormatError


@pytest.fixture
def cells():
    return pd.DataFrame({
        "cell_id": [f"c{i:02d}" for i in range(20)],
        "batch": [f"b{i // 4}" for i in range(20)],
        "chemistry": ["LFP"] * 8 + ["NMC"] * 8 + ["LCO"] * 4,
    })


def test_split_by_cell_is_disjoint_complete_and_seeded(cells):
    a = split_by_cell(cells, test_fraction=0.25, seed=3)
    b = split_by_cell(cells, test_fraction=0.25, seed=3)
    c = split_by_cell(cells, test_fraction=0.25, seed=4)
    assert a == b and a != c
    assert len(a.test) == 5 and len(a.train) == 15
    assert set(a.train).isdisjoint(a.test)
    assert sorted(a.train + a.test) == cells["cell_id"].tolist()


def test_split_by_group_keeps_groups_whole(cells):
    s = split_by_group(cells, "batch", test_fraction=0.4, seed=0)
    test_batches = set(cells.loc[cells["cell_id"].isin(s.test), "batch"])
    train_batches = set(cells.loc[cells["cell_id"].isin(s.train), "batch"])
    assert test_batches.isdisjoint(train_batches)
    assert len(s.test) == 8  # two whole batches of 4 = 40 %
    assert s.mask(cells["cell_id"]).sum() == 8


def test_split_by_chemistry_holds_out_a_family(cells):
    s = split_by_chemistry(cells, test_fraction=0.2, seed=0)
    assert s.test_groups == ["LCO"] or len(s.test_groups) == 1
    fam = set(cells.loc[cells["cell_id"].isin(s.test), "chemistry"])
    assert fam == set(s.test_groups)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(2, 6), seed=st.integers(0, 1000), frac=st.floats(0.05, 0.95))
def test_no_group_on_both_sides(n, k, seed, frac):
    df = pd.DataFrame({"cell_id": [f"x{i}" for i in range(n)], "g": [f"g{i % k}" for i in range(n)]})
    if df["g"].nunique() < 2:
        return
    s = split_by_group(df, "g", test_fraction=frac, seed=seed)
    assert s.train and s.test
    assert set(s.train_groups).isdisjoint(s.test_groups)


def test_group_kfold_tests_each_group_once(cells):
    seen = []
    for fold in group_kfold(cells, 5, by="batch", seed=1):
        assert set(fold.train).isdisjoint(fold.test)
        seen += fold.test_groups
    assert sorted(seen) == sorted(cells["batch"].unique())


def test_errors(cells):
    with pytest.raises(DataFormatError, match="strictly between 0 and 1"):
        split_by_cell(cells, test_fraction=1.0)
    with pytest.raises(DataFormatError, match="no column 'family'"):
        split_by_group(cells, "family")
    one = cells.assign(batch="same")
    with pytest.raises(DataFormatError, match="at least two distinct"):
        split_by_group(one, "batch")
    blank = cells.copy()
    blank.loc[3, "batch"] = ""
    with pytest.raises(DataFormatError, match=r"cells \['c03'\] have no 'batch'"):
        split_by_group(blank, "batch")
    with pytest.raises(DataFormatError, match="not unique"):
        split_by_cell(["a", "a", "b"])
