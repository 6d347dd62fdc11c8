"""Embedded demo dataset: four PyBaMM-simulated cells that ship with voltlab.

The cells are LG M50 21700 cells (NMC811 / graphite-SiOx, PyBaMM's
``OKane2022`` parameters, 5 Ah) cycled 300 times with a CC-CV charge, a rest,
a 1C discharge and a rest, at different charge rates and ambient
temperatures; they lose roughly 7 to 15 % of their discharge capacity.
:mod:`voltlab.data.embedded.generate_demo` made the files (``cells.json``
records the exact model, options, parameter overrides and PyBaMM version);
loading them needs only pandas and pyarrow.

Examples
--------
>>> from voltlab.data.embedded import demo_cells
>>> cells = demo_cells()
>>> [c.cell_id for c in cells]
['demo_0.5C_25C', 'demo_2C_25C', 'demo_1C_10C', 'demo_1C_45C']
>>> cells[0].cycles[-1]
300
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata, file_sha256
from voltlab.errors import MissingFileError

__all__ = ["SOURCE_FORMAT", "demo_cells", "demo_dir", "demo_manifest"]

SOURCE_FORMAT = "voltlab_demo"
"""``CellMetadata.source_format`` of the embedded cells."""

_MANIFEST = "cells.json"
# Keys of a cells.json record that map to CellMetadata fields; the rest go to ``extra``.
_METADATA_KEYS = ("chemistry", "nominal_capacity_ah", "form_factor", "source")


def demo_dir() -> Path:
    """Folder holding the embedded demo files (``cells.json`` and one Parquet file per cell).

    Returns
    -------
    pathlib.Path
        ``<site-packages or src>/voltlab/data/embedded/demo``.
    """
    return Path(str(resources.files(__name__).joinpath("demo")))


def demo_manifest() -> dict[str, Any]:
    """The parsed ``cells.json``: ``{"description": str, "cells": [record, ...]}``.

    Raises
    ------
    MissingFileError
        If the demo files are not installed.
    """
    path = demo_dir() / _MANIFEST
    if not path.is_file():
        raise MissingFileError(
            "the embedded demo dataset is missing; reinstall voltlab or regenerate it with "
            "'python -m voltlab.data.embedded.generate_demo'",
            path=path,
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _metadata(record: dict[str, Any], path: Path) -> CellMetadata:
    protocol = record.get("protocol", "")
    extra = {k: v for k, v in record.items() if k not in ("cell_id", "protocol", *_METADATA_KEYS)}
    return CellMetadata(
        cell_id=record["cell_id"],
        chemistry=record.get("chemistry", ""),
        nominal_capacity_ah=float(record.get("nominal_capacity_ah", 0.0)),
        form_factor=record.get("form_factor", ""),
        protocol="; ".join(protocol) if isinstance(protocol, list) else str(protocol),
        source=record.get("source", ""),
        source_format=SOURCE_FORMAT,
        content_sha256=file_sha256(path),
        batch="voltlab_demo",
        extra=extra,
    )


def demo_cells(cell_ids: list[str] | None = None) -> list[CyclingData]:
    """Load the embedded demo cells.

    Parameters
    ----------
    cell_ids
        Cells to load (default: all four, in ``cells.json`` order).

    Returns
    -------
    list of CyclingData
        Canonical, validated time series (``test_time_second`` in s,
        ``voltage_volt`` in V, ``current_ampere`` in A with positive =
        charge, capacities in Ah and energies in Wh cumulative within each
        cycle, ``temperature_celsius`` and ``ambient_temperature_celsius`` in
        degC), with metadata whose ``content_sha256`` is the Parquet file's
        hash and whose ``extra`` holds the simulation provenance.

    Raises
    ------
    MissingFileError
        If the demo files are not installed.
    KeyError
        If a requested cell id is not in the demo set.
    """
    import pandas as pd

    from voltlab.data.validation import finalize_timeseries

    records = demo_manifest()["cells"]
    by_id = {r["cell_id"]: r for r in records}
    wanted = list(by_id) if cell_ids is None else list(cell_ids)
    unknown = [c for c in wanted if c not in by_id]
    if unknown:
        raise KeyError(f"unknown demo cell(s) {unknown}; available: {list(by_id)}")
    out = []
    for cell_id in wanted:
        record = by_id[cell_id]
        path = demo_dir() / record.get("file", f"{cell_id}.parquet")
        if not path.is_file():
            raise MissingFileError(f"embedded demo file for {cell_id!r} is missing", path=path)
        meta = _metadata(record, path)
        df = finalize_timeseries(
            pd.read_parquet(path), path=path, nominal_capacity_ah=meta.nominal_capacity_ah
        )
        out.append(CyclingData(timeseries=df, metadata=meta))
    return out
