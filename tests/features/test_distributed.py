"""Partitioned featurisation equals the in-process result on every backend, errors keep their positions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import DataFormatError, SchemaError
from voltlab.features import MagpieFeaturizer
from voltlab.features.distributed import featurize_dask_dataframe, featurize_partitions

FORMULAS = [f"Li{1 + k % 7}Fe{1 + k % 3}P{k % 2 + 1}O{4 + k % 5}" for k in range(300)] + [
    "LiCoO2", "Li6.25La3Zr1.25Ta0.75O12", "LiNi0.8Co0.1Mn0.1O2", "Na3V2(PO4)3"]


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
