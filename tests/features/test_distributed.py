"""Partitioned featurisation equals the in-process result on every backend, errors keep their positions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import DataFormatError, SchemaError
from voltlab.features import MagpieFeaturizer
from voltlab.features.distributed import (
    DATASET_META,
    FormulaBlock,
    featurize_dask_dataframe,
    featurize_partitions,
    featurize_to_parquet,
)

FORMULAS = [f"Li{1 + k % 7}Fe{1 + k % 3}P{k % 2 + 1}O{4 + k % 5}" for k in range(300)] + [
    "LiCoO2", "Li6.25La3Zr1.25Ta0.75O12", "LiNi0.8Co0.1Mn0.1O2", "Na3V2(PO4)3"]


def test_formula_block_travels_as_one_string_and_comes_back_as_given():
    import pickle
    import pickletools

    from pymatgen.core import Composition

    def strings_in(payload: bytes) -> int:
        return sum("UNICODE" in op.name for op, _, _ in pickletools.genops(payload))

    payload = pickle.dumps(FormulaBlock(FORMULAS))
    # one joined string (plus module, class and method names), not one string object per formula
    assert strings_in(payload) <= 8 < len(FORMULAS) <= strings_in(pickle.dumps(FORMULAS))
    back = pickle.loads(payload)
    assert len(back) == len(FORMULAS) and back.items() == FORMULAS
    assert pickle.loads(pickle.dumps(back)).items() == FORMULAS  # the scheduler's re-pickling
    # what cannot be joined (Compositions, a newline inside a formula, nothing) travels as the list
    for items in ([Composition("Fe2O3"), "LiCoO2"], ["Li\nCoO2", "NaCl"], [], ["NaCl"]):
        got = pickle.loads(pickle.dumps(FormulaBlock(items))).items()
        assert got == items and len(got) == len(items)


@pytest.fixture(scope="module")
def reference():
    return MagpieFeaturizer().featurize_many(FORMULAS)


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_partitions_equal_one_call(reference, backend):
    done = []
    got = featurize_partitions(MagpieFeaturizer(), FORMULAS, partition_size=37, workers=2, backend=backend,
                               progress=done.append)
    pd.testing.assert_frame_equal(got, reference)
    assert done[-1] == len(FORMULAS) and len(done) == 9  # ceil(304 / 37) partitions


def test_errors_keep_their_position():
    items = ["LiCoO2", "Xx2O", "NaCl", "LiFePO4", "Li7La3Zr2O12Qq"]
    got = featurize_partitions(MagpieFeaturizer(), items, partition_size=2, backend="serial", ignore_errors=True)
    assert sorted(got.attrs["errors"]) == [1, 4]
    assert "Xx" in got.attrs["errors"][1]
    assert got.iloc[[1, 4]].isna().all(axis=None) and not got.iloc[[0, 2, 3], :10].isna().any(axis=None)
    with pytest.raises(DataFormatError, match=r"formulas 0\.\.1: .*Xx.*ignore_errors=True"):
        featurize_partitions(MagpieFeaturizer(), items, partition_size=2, backend="serial")
    with pytest.raises(DataFormatError, match="partition_size must be an integer >= 1"):
        featurize_partitions(MagpieFeaturizer(), items, partition_size=0)
    with pytest.raises(DataFormatError, match="featurize_many"):
        featurize_partitions(object(), items)


def test_electrode_pairs_keep_errors_and_unassigned_positions():
    """Per-row attrs of every partition come back in input positions (errors and no_oxidation_states)."""
    from voltlab.features import ElectrodePairFeaturizer

    pairs = [("LiFePO4", "FePO4"), ("LiAl", "Al"), ("LiCoO2", "CoO2"), ("LiQq", "Qq"),
             ("Li2S", "S"), ("LiSn", "Sn"), ("LiMn2O4", "Mn2O4")]
    whole = ElectrodePairFeaturizer().featurize_many(pairs, ignore_errors=True)
    got = featurize_partitions(ElectrodePairFeaturizer(), pairs, partition_size=2, workers=2, backend="process",
                               ignore_errors=True)
    pd.testing.assert_frame_equal(got, whole)
    assert list(got.attrs["errors"]) == [3]
    # the alloys (LiAl, LiSn) have no charge-balanced oxidation states: positions 1 and 5, not 1 and 1
    assert got.attrs["no_oxidation_states"] == whole.attrs["no_oxidation_states"] == [1, 5]


def test_dask_local_cluster_and_dataframe(reference):
    pytest.importorskip("distributed")
    import dask.dataframe as dd

    got = featurize_partitions(MagpieFeaturizer(), FORMULAS, partition_size=100, workers=2, backend="dask")
    pd.testing.assert_frame_equal(got, reference)
    table = pd.DataFrame({"formula": FORMULAS, "sigma": np.arange(len(FORMULAS), dtype=float)})
    ddf = dd.from_pandas(table, npartitions=4)
    out = featurize_dask_dataframe(ddf, "formula", MagpieFeaturizer()).compute(scheduler="sync")
    np.testing.assert_array_equal(out["sigma"].to_numpy(), table["sigma"].to_numpy())
    np.testing.assert_allclose(out[reference.columns].to_numpy(), reference.to_numpy(), rtol=0, atol=0)
    with pytest.raises(SchemaError, match="no column 'composition'"):
        featurize_dask_dataframe(ddf, "composition", MagpieFeaturizer())


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_parquet_dataset_equals_one_call(reference, tmp_path, backend):
    done = []
    out = featurize_to_parquet(MagpieFeaturizer(), FORMULAS, tmp_path / "feats", partition_size=37, workers=2,
                               backend=backend, progress=done.append)
    assert (out.n_rows, out.n_features, out.parts) == (len(FORMULAS), 143, 9)
    assert sorted(p.name for p in out.path.glob("part-*.parquet"))[-1] == "part-00008.parquet"
    assert done[-1] == len(FORMULAS) and not list(out.path.glob(".*"))  # no temporary file left
    table = out.read()
    assert table["formula"].tolist() == FORMULAS  # rows in input order across the parts
    pd.testing.assert_frame_equal(table.drop(columns="formula"), reference)
    pd.testing.assert_frame_equal(pd.read_parquet(out.path).drop(columns="formula"), reference)
    duckdb = pytest.importorskip("duckdb")
    mean = duckdb.sql(f"select avg(magpie_mean_atomic_weight_g_per_mol) from read_parquet('{out.path}/*.parquet')")
    assert mean.fetchall()[0][0] == pytest.approx(reference["magpie_mean_atomic_weight_g_per_mol"].mean(), rel=1e-12)
    meta = json.loads((out.path / DATASET_META).read_text())
    assert meta["n_rows"] == len(FORMULAS) and meta["parts"] == 9 and meta["errors"] == {}


def test_parquet_part_is_written_in_row_groups(reference, tmp_path, monkeypatch):
    """A partition larger than ROW_GROUP_ROWS is featurised and written a row group at a time: the
    rows, the numbers and the errors' positions are those of one call."""
    import pyarrow.parquet as pq

    from voltlab.features import distributed

    monkeypatch.setattr(distributed, "ROW_GROUP_ROWS", 64)
    items = list(FORMULAS)
    items[70], items[200] = "Xx2O", "Li7La3Zr2O12Qq"  # in the second and fourth row groups of part 0
    out = featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "rg", partition_size=250, backend="serial",
                               ignore_errors=True)
    assert out.parts == 2 and sorted(out.errors) == [70, 200]
    assert [pq.ParquetFile(p).num_row_groups for p in sorted(out.path.glob("part-*.parquet"))] == [4, 1]
    table = out.read()
    assert table["formula"].tolist() == items
    expected = MagpieFeaturizer().featurize_many(items, ignore_errors=True)
    pd.testing.assert_frame_equal(table.drop(columns="formula"), expected)
    assert table.iloc[[70, 200], 1:].isna().all(axis=None)
    pd.testing.assert_frame_equal(table.drop(index=[70, 200], columns="formula").reset_index(drop=True),
                                  reference.drop(index=[70, 200]).reset_index(drop=True))


def test_parquet_dataset_errors_and_folder_rules(tmp_path):
    items = ["LiCoO2", "Xx2O", "NaCl", "LiFePO4", "Li7La3Zr2O12Qq"]
    out = featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "f", partition_size=2, backend="serial",
                               ignore_errors=True)
    assert sorted(out.errors) == [1, 4] and "Xx" in out.errors[1]
    table = out.read()
    assert table.iloc[[1, 4], 1:].isna().all(axis=None) and not table.iloc[[0, 2, 3], 1:10].isna().any(axis=None)
    assert json.loads((out.path / DATASET_META).read_text())["errors"]["4"] == out.errors[4]
    with pytest.raises(DataFormatError, match="already holds a features dataset; pass overwrite=True"):
        featurize_to_parquet(MagpieFeaturizer(), items[:2], out.path, backend="serial", ignore_errors=True)
    again = featurize_to_parquet(MagpieFeaturizer(), ["NaCl"], out.path, backend="serial", overwrite=True)
    assert again.parts == 1 and again.read()["formula"].tolist() == ["NaCl"]  # old parts gone
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.docx").write_text("x")
    with pytest.raises(DataFormatError, match="not a voltlab features dataset"):
        featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "notes", backend="serial", overwrite=True)
    (tmp_path / "file.parquet").write_text("x")
    with pytest.raises(DataFormatError, match="is a file"):
        featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "file.parquet", backend="serial")
    with pytest.raises(DataFormatError, match=r"formulas 0\.\.1: .*Xx.*ignore_errors=True"):
        featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "g", partition_size=2, backend="serial")
    with pytest.raises(DataFormatError, match="is also a feature name"):
        featurize_to_parquet(MagpieFeaturizer(), items, tmp_path / "h", formula_column="magpie_minimum_number")
