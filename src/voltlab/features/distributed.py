"""Featurise many compositions in partitions: a local process pool or a Dask cluster.

:func:`featurize_partitions` cuts a list of formulas into partitions of
``partition_size``, featurises each with the featuriser's vectorised
``featurize_many`` on a worker (:func:`voltlab.parallel.parallel_map`: local
processes by default; a Dask cluster with ``scheduler=`` or
``$VOLTLAB_SCHEDULER``) and puts the rows back in input order, so the result
equals ``featurizer.featurize_many(formulas)`` whatever the backend.

:func:`featurize_to_parquet` is the form for very many formulas: each worker writes
its partition's features straight to one Parquet file of a dataset folder and only
a row count travels back, so one client never receives the whole table (10^6
formulas x 143 features is 1.1 GB of float64).

:func:`featurize_dask_dataframe` does the same lazily on a Dask DataFrame
(``map_partitions``), for tables larger than memory (e.g. read with
``dask.dataframe.read_parquet``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab._files import atomic_write_text
from voltlab.errors import DataFormatError, SchemaError

__all__ = ["FormulaBlock", "ParquetFeatures", "featurize_dask_dataframe", "featurize_partitions", "featurize_to_parquet"]


class FormulaBlock:
    """One partition's formulas on their way to a worker, pickled as one string rather than a list.

    Every task's arguments are pickled by the client, unpickled and pickled again by the Dask
    scheduler, and unpickled by the worker; on a LocalCluster the first three happen in the
    client's process, which on a small machine shares the cores with the workers. For a list of
    50,000 formulas that is about 20 ms per partition (0.45 s of CPU for 10^6 formulas), against
    about 1 ms for one newline-joined string. A block pickles its formulas joined when they are
    all strings without a newline (``str.join`` refuses anything else), as the list otherwise
    (pymatgen Compositions); they are joined when the block is pickled, so the first task is on
    its way before the last partition is joined. :meth:`items` gives the list back.
    """

    __slots__ = ("_items", "_joined", "_n")

    def __init__(self, items: Sequence[Any]) -> None:
        self._items: list[Any] | None = list(items)
        self._joined: str | None = None  # set in a block unpickled from the joined form
        self._n = len(self._items)

    @classmethod
    def _from_joined(cls, joined: str, n: int) -> FormulaBlock:
        block = cls.__new__(cls)
        block._items, block._joined, block._n = None, joined, n
        return block

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        joined = self._joined
        if joined is None and self._items:
            try:
                joined = "\n".join(self._items)
            except TypeError:  # not all strings
                joined = None
            if joined is not None and joined.count("\n") != self._n - 1:  # a formula holds a newline itself
                joined = None
        if joined is not None:
            return FormulaBlock._from_joined, (joined, self._n)
        return FormulaBlock, (self._items,)

    def __len__(self) -> int:
        return self._n

    def items(self) -> list[Any]:
        """The formulas, as given (strings come back as ``str``)."""
        if self._items is None:
            assert self._joined is not None
            self._items = self._joined.split("\n")
        return self._items


def _featurize_partition(job: tuple[Any, int, FormulaBlock, bool]) -> tuple[int, np.ndarray, dict[str, Any]]:
    """One partition (module level: shipped to worker processes)."""
    featurizer, start, block, ignore_errors = job
    df = featurizer.featurize_many(block.items(), ignore_errors=ignore_errors)
    return start, df.to_numpy(dtype=np.float64), dict(df.attrs)


def _merge_row_attrs(merged: dict[str, Any], attrs: dict[str, Any], start: int) -> None:
    """Add one partition's per-row ``attrs`` to ``merged``, positions shifted by ``start``.

    A featuriser reports rows in ``attrs`` as ``{position: message}`` (``errors``) or as a list of
    positions (e.g. ``no_oxidation_states``); other values are kept as the first partition gave them.
    """
    for key, value in attrs.items():
        if isinstance(value, dict) and all(isinstance(k, (int, np.integer)) for k in value):
            merged.setdefault(key, {}).update({start + int(k): v for k, v in value.items()})
        elif isinstance(value, (list, tuple)) and all(isinstance(k, (int, np.integer)) for k in value):
            merged.setdefault(key, []).extend(start + int(k) for k in value)
        else:
            merged.setdefault(key, value)


def _check_featurizer(featurizer: Any) -> None:
    if not (hasattr(featurizer, "featurize_many") and hasattr(featurizer, "feature_labels")):
        raise DataFormatError(
            f"featurizer must have featurize_many and feature_labels (e.g. MagpieFeaturizer()), got "
            f"{type(featurizer).__name__}", value=type(featurizer).__name__,
        )


def featurize_partitions(
    featurizer: Any,
    formulas: Sequence[Any],
    *,
    partition_size: int = 50_000,
    workers: int | None = None,
    backend: str = "process",
    scheduler: str | None = None,
    ignore_errors: bool = False,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Features of many formulas, computed partition by partition in parallel.

    Parameters
    ----------
    featurizer
        A featuriser with ``featurize_many`` (e.g. :class:`~voltlab.features.MagpieFeaturizer`);
        it is pickled to the workers.
    formulas
        Formula strings (or pymatgen Compositions), shape (n,).
    partition_size
        Formulas per task.
    workers, backend, scheduler
        See :func:`voltlab.parallel.parallel_map` (``scheduler`` or
        ``$VOLTLAB_SCHEDULER`` runs on a Dask cluster).
    ignore_errors
        Invalid formulas give NaN rows; ``df.attrs["errors"]`` maps their
        position in ``formulas`` to the message.
    progress
        Called with the number of formulas done after each partition.

    Returns
    -------
    pandas.DataFrame
        Shape (n, n_features), rows in input order, columns ``feature_labels()``.
        Every per-row ``attrs`` entry of the featuriser (e.g. ``no_oxidation_states`` of
        :class:`~voltlab.features.ElectrodePairFeaturizer`) is merged, in input positions.

    Raises
    ------
    DataFormatError
        An invalid formula (``ignore_errors=False``; the message names its
        position in ``formulas``), a bad partition size, or a featuriser
        without ``featurize_many``.

    Examples
    --------
    >>> from voltlab.features import MagpieFeaturizer
    >>> df = featurize_partitions(MagpieFeaturizer(), ["LiFePO4", "LiCoO2", "NaCl"], partition_size=2,
    ...                           backend="serial")
    >>> df.shape[0], round(float(df.loc[1, "magpie_mean_atomic_weight_g_per_mol"]), 3)
    (3, 24.468)
    """
    from voltlab.parallel import parallel_map

    _check_featurizer(featurizer)
    if isinstance(partition_size, bool) or not isinstance(partition_size, (int, np.integer)) or partition_size < 1:
        raise DataFormatError(f"partition_size must be an integer >= 1, got {partition_size!r}", value=partition_size)
    items = list(formulas)
    labels = list(featurizer.feature_labels())
    # np.empty, not np.full: 10^6 x 143 float64 is 1.1 GB, and every row is written below
    # (the partitions cover 0..n-1 exactly once), so pre-filling would cost a serial pass.
    out = np.empty((len(items), len(labels)), dtype=np.float64)
    merged: dict[str, Any] = {"errors": {}}
    jobs = [(featurizer, s, FormulaBlock(items[s:s + partition_size]), ignore_errors)
            for s in range(0, len(items), partition_size)]
    done = 0
    for job, result, error in parallel_map(_featurize_partition, jobs, workers=workers, backend=backend,  # type: ignore[arg-type]
                                           scheduler=scheduler):
        start = job[1]
        if error is not None:
            if isinstance(error, DataFormatError):
                raise DataFormatError(
                    f"formulas {start}..{start + len(job[2]) - 1}: {error}; fix the formula or pass "
                    "ignore_errors=True", value=start,
                ) from error
            raise error
        assert result is not None
        _, values, attrs = result
        assert values.shape[0] == len(job[2]), "a partition returned the wrong number of rows"
        out[start:start + values.shape[0]] = values
        _merge_row_attrs(merged, attrs, start)
        done += values.shape[0]
        if progress is not None:
            progress(done)
    df = pd.DataFrame(out, columns=labels)
    for key, value in merged.items():  # partitions finish in any order: sort the positions
        df.attrs[key] = dict(sorted(value.items())) if isinstance(value, dict) else (
            sorted(value) if isinstance(value, list) else value)
    return df


def featurize_dask_dataframe(ddf: Any, column: str, featurizer: Any, *, ignore_errors: bool = True) -> Any:
    """Lazily add the featuriser's columns to a Dask DataFrame, partition by partition.

    Parameters
    ----------
    ddf
        A ``dask.dataframe.DataFrame`` with a formula column.
    column
        Name of that column.
    featurizer
        A featuriser with ``featurize_many``.
    ignore_errors
        Invalid formulas give NaN features (default True: one bad row should
        not fail a partition of a large table).

    Returns
    -------
    dask.dataframe.DataFrame
        The input columns plus one column per feature (compute it, or write it
        with ``to_parquet``).

    Raises
    ------
    SchemaError
        ``column`` is not in the table.
    """
    _check_featurizer(featurizer)
    if column not in ddf.columns:
        raise SchemaError(f"no column {column!r} in the table (columns: {list(ddf.columns)}); pass the formula "
                          "column's name", column=column)
    labels = list(featurizer.feature_labels())
    meta = pd.concat([ddf._meta, pd.DataFrame({lab: pd.Series(dtype=np.float64) for lab in labels})], axis=1)

    def _part(pdf: pd.DataFrame) -> pd.DataFrame:
        feats = featurizer.featurize_many(pdf[column].tolist(), ignore_errors=ignore_errors)
        feats.index = pdf.index
        return pd.concat([pdf, feats], axis=1)

    return ddf.map_partitions(_part, meta=meta)


#: Metadata file of a features dataset folder (Parquet readers skip names starting with ``_``).
DATASET_META = "_voltlab_features.json"


@dataclass(frozen=True)
class ParquetFeatures:
    """A features dataset written by :func:`featurize_to_parquet`.

    Attributes
    ----------
    path
        The folder: ``part-00000.parquet``, ``part-00001.parquet``, ... (rows in
        input order across the sorted part names) and ``_voltlab_features.json``.
    n_rows, n_features
        Table shape, without the formula column.
    parts
        Number of part files.
    errors
        Position in the input -> message, for formulas that gave NaN features.
    """

    path: Path
    n_rows: int
    n_features: int
    parts: int
    errors: dict[int, str] = field(default_factory=dict)

    def read(self) -> pd.DataFrame:
        """The whole table (formula column first), rows in input order."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path).to_pandas()  # part names sort in input order


def _part_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


#: Rows featurised and written at a time within a part file (one Parquet row group each): 16,384 x
#: 143 float64 features is 19 MB, which glibc serves from the heap and reuses, where one 57 MB array
#: per 50,000-row partition was a fresh mmap each time, its pages faulted in again (9 % of a
#: partition's time, measured on a Dask worker thread).
ROW_GROUP_ROWS = 16_384


def _write_partition(job: tuple[Any, int, int, FormulaBlock, bool, str, str]) -> tuple[int, int, dict[int, str]]:
    """Featurise one partition on a worker and write it as ``part-KKKKK.parquet`` (atomic rename),
    :data:`ROW_GROUP_ROWS` rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    featurizer, k, _, block, ignore_errors, folder, formula_column = job
    items = block.items()
    target = Path(folder) / _part_name(k)
    # A worker that dies mid-write leaves only a hidden temporary file; the re-run task writes the
    # part again under the same name, so no part is ever half-written or present twice.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    errors: dict[int, str] = {}
    schema = pa.schema([(formula_column, pa.string()),
                        *((str(label), pa.float64()) for label in featurizer.feature_labels())])
    try:
        # no dictionary pages or statistics: floats rarely repeat, and both cost ~60 % of the write
        with pq.ParquetWriter(tmp, schema, compression="snappy", use_dictionary=[formula_column],
                              write_statistics=False) as writer:
            for start in range(0, len(items), ROW_GROUP_ROWS):
                rows = items[start:start + ROW_GROUP_ROWS]
                df = featurizer.featurize_many(rows, ignore_errors=ignore_errors)
                errors.update({start + int(i): msg for i, msg in df.attrs.get("errors", {}).items()})
                values = np.asfortranarray(df.to_numpy(dtype=np.float64))  # contiguous columns: no copy per column
                columns = [pa.array([str(x) for x in rows], type=pa.string())]
                columns += [pa.array(values[:, j]) for j in range(values.shape[1])]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return k, len(items), errors


def featurize_to_parquet(
    featurizer: Any,
    formulas: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    partition_size: int = 50_000,
    workers: int | None = None,
    backend: str = "process",
    scheduler: str | None = None,
    ignore_errors: bool = False,
    overwrite: bool = False,
    formula_column: str = "formula",
    progress: Callable[[int], None] | None = None,
) -> ParquetFeatures:
    """Featurise many formulas into a Parquet dataset folder, each partition written by its worker.

    Parameters
    ----------
    featurizer
        A featuriser with ``featurize_many`` (e.g. :class:`~voltlab.features.MagpieFeaturizer`).
    formulas
        Formula strings (or pymatgen Compositions), shape (n,).
    path
        Dataset folder to create. On a cluster it must be on storage every
        worker can write (a shared file system).
    partition_size
        Formulas per part file (and per task).
    workers, backend, scheduler
        See :func:`voltlab.parallel.parallel_map`.
    ignore_errors
        Invalid formulas give NaN rows, listed in ``errors``.
    overwrite
        Replace the part files of an existing dataset at ``path``.
    formula_column
        Name of the first column, the formula as text.
    progress
        Called with the number of formulas written after each partition.

    Returns
    -------
    ParquetFeatures
        The folder and its shape; ``.read()`` loads it, as do
        ``pandas.read_parquet(path)`` and DuckDB's ``read_parquet('path/*.parquet')``.

    Raises
    ------
    DataFormatError
        An invalid formula (``ignore_errors=False``), a bad partition size, a
        featuriser without ``featurize_many``, or ``path`` holding files other
        than a voltlab features dataset (or one, without ``overwrite``).

    Examples
    --------
    >>> import tempfile
    >>> from voltlab.features import MagpieFeaturizer
    >>> out = featurize_to_parquet(MagpieFeaturizer(), ["LiFePO4", "LiCoO2", "NaCl"], tempfile.mkdtemp() + "/f",
    ...                            partition_size=2, backend="serial")
    >>> out.parts, out.read().shape
    (2, (3, 144))
    """
    from voltlab.parallel import parallel_map

    _check_featurizer(featurizer)
    if isinstance(partition_size, bool) or not isinstance(partition_size, (int, np.integer)) or partition_size < 1:
        raise DataFormatError(f"partition_size must be an integer >= 1, got {partition_size!r}", value=partition_size)
    folder = Path(path)
    _prepare_folder(folder, overwrite)
    items = list(formulas)
    labels = list(featurizer.feature_labels())
    if formula_column in labels:
        raise DataFormatError(f"formula_column {formula_column!r} is also a feature name; choose another",
                              value=formula_column)
    jobs = [(featurizer, k, s, FormulaBlock(items[s:s + partition_size]), ignore_errors, str(folder), formula_column)
            for k, s in enumerate(range(0, len(items), partition_size))]
    errors: dict[int, str] = {}
    done = 0
    for job, result, error in parallel_map(_write_partition, jobs, workers=workers, backend=backend,  # type: ignore[arg-type]
                                           scheduler=scheduler):
        if error is not None:
            if isinstance(error, DataFormatError):
                raise DataFormatError(
                    f"formulas {job[2]}..{job[2] + len(job[3]) - 1}: {error}; fix the formula or pass "
                    f"ignore_errors=True (the parts written so far stay in {folder})", value=job[2], path=folder,
                ) from error
            raise error
        assert result is not None
        _, n, errs = result
        errors.update({job[2] + int(i): msg for i, msg in errs.items()})
        done += n
        if progress is not None:
            progress(done)
    for stale in folder.glob(".part-*.tmp"):  # left by a worker that died mid-write (its task re-ran)
        stale.unlink(missing_ok=True)
    meta = {"n_rows": len(items), "n_features": len(labels), "parts": len(jobs), "partition_size": partition_size,
            "featurizer": type(featurizer).__name__, "formula_column": formula_column,
            "errors": {str(k): v for k, v in sorted(errors.items())}}
    atomic_write_text(folder / DATASET_META, json.dumps(meta, indent=1) + "\n")
    return ParquetFeatures(folder, len(items), len(labels), len(jobs), dict(sorted(errors.items())))


def _prepare_folder(folder: Path, overwrite: bool) -> None:
    """Create ``folder``, or empty a previous features dataset there (``overwrite``)."""
    if folder.exists() and not folder.is_dir():
        raise DataFormatError(f"{folder} is a file; featurize_to_parquet writes a folder of part files, give a "
                              "folder path", path=folder)
    if folder.is_dir():
        present = list(folder.iterdir())
        ours = [p for p in present if p.name == DATASET_META or (p.name.startswith("part-") and p.suffix == ".parquet")
                or (p.name.startswith(".part-") and p.suffix == ".tmp") or p.name == f".{DATASET_META}.tmp"]
        if len(ours) < len(present):
            other = sorted(p.name for p in present if p not in ours)[:3]
            raise DataFormatError(f"{folder} holds files that are not a voltlab features dataset ({other}); "
                                  "give an empty or new folder", path=folder)
        if ours and not overwrite:
            raise DataFormatError(f"{folder} already holds a features dataset; pass overwrite=True "
                                  "(--overwrite) to replace it, or give a new folder", path=folder)
        for p in ours:
            p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
