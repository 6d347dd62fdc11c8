"""Featurise many compositions in partitions: a local process pool or a Dask cluster.

:func:`featurize_partitions` cuts a list of formulas into partitions of
``partition_size``, featurises each with the featuriser's vectorised
``featurize_many`` on a worker (:func:`voltlab.parallel.parallel_map`: local
processes by default; a Dask cluster with ``scheduler=`` or
``$VOLTLAB_SCHEDULER``) and puts the rows back in input order, so the result
equals ``featurizer.featurize_many(formulas)`` whatever the backend.

:func:`featurize_dask_dataframe` does the same lazily on a Dask DataFrame
(``map_partitions``), for tables larger than memory (e.g. read with
``dask.dataframe.read_parquet``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, SchemaError

__all__ = ["featurize_dask_dataframe", "featurize_partitions"]


def _featurize_partition(job: tuple[Any, int, list[Any], bool]) -> tuple[int, np.ndarray, dict[int, str]]:
    """One partition (module level: shipped to worker processes)."""
    featurizer, start, items, ignore_errors = job
    df = featurizer.featurize_many(items, ignore_errors=ignore_errors)
    return start, df.to_numpy(dtype=np.float64), dict(df.attrs.get("errors", {}))


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
    out = np.full((len(items), len(labels)), np.nan)
    errors: dict[int, str] = {}
    jobs = [(featurizer, s, items[s:s + partition_size], ignore_errors) for s in range(0, len(items), partition_size)]
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
        _, values, errs = result
        out[start:start + values.shape[0]] = values
        errors.update({start + int(k): v for k, v in errs.items()})
        done += values.shape[0]
        if progress is not None:
            progress(done)
    df = pd.DataFrame(out, columns=labels)
    df.attrs["errors"] = dict(sorted(errors.items()))
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
