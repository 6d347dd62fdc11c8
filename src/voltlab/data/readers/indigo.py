"""Indigo cycler time series stored as a pandas HDFStore (HDF5), as used by TRI's beep.

The file holds one group ``time_series_data`` written by pandas (PyTables
"fixed" layout: ``axis0`` column names, ``blockN_items``/``blockN_values``).
It is read with :func:`pandas.read_hdf` (needs PyTables), or, without
PyTables, by joining the blocks with h5py.

Mapping: ``time_s`` -> ``test_time_second``; ``cell_voltage_v`` ->
``voltage_volt``; ``cell_current_a`` -> ``current_ampere`` (already signed
positive = charge, negative = discharge); ``cycle_count`` ->
``cycle_count``; ``system_time_us`` (Unix µs) -> ``unix_time_second``;
``cell_temperature_c`` -> ``temperature_celsius``; ``cell_power_w`` ->
``power_watt``. ``half_cycle_count``, ``experiment_count`` and
``experiment_type`` are kept as extras, and each half cycle (one charge or
one discharge) is one step: ``step_count`` counts half cycles (there is no
programmed step number, so no ``step_index``); ``cell_id`` goes to
``metadata.extra["indigo_cell_id"]``.

Capacity and energy: ``cell_coulomb_count_c`` (C) and ``cell_energy_j`` (J)
are signed net counters that restart at every half cycle. A half cycle
whose counter ends negative is a discharge half: its discharged charge is
``max(0, -counter)/3600`` Ah, made non-decreasing (the drive-cycle
discharges contain short charging pulses); charge halves likewise. The
halves are then accumulated within each cycle, so
``discharging_capacity_ah`` at the end of a cycle equals the most negative
counter of its discharge half / 3600.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, step_count_from
from voltlab.errors import DataFormatError, DependencyError, SchemaError

__all__ = ["IndigoReader"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KEY = "time_series_data"
_REQUIRED = ("time_s", "cell_voltage_v", "cell_current_a")
_CANONICAL = {
    "time_s": ("test_time_second", 1.0),
    "cell_voltage_v": ("voltage_volt", 1.0),
    "cell_current_a": ("current_ampere", 1.0),
    "cycle_count": ("cycle_count", 1.0),
    "system_time_us": ("unix_time_second", 1e-6),
    "cell_temperature_c": ("temperature_celsius", 1.0),
    "cell_power_w": ("power_watt", 1.0),
}
_EXTRAS = ("half_cycle_count", "experiment_count", "experiment_type")


class _NotFixedFormatError(Exception):
    """The group is a pandas 'table'-format store, which only PyTables reads."""


def _load(path: Path) -> pd.DataFrame:
    """The ``time_series_data`` frame: through h5py (pandas' fixed layout), else PyTables.

    h5py goes first because it checks object addresses: on a corrupted file PyTables' HDF5
    calls crashed the whole process (a segfault, found by the fuzz test), where h5py raises
    an error that names the file. PyTables is used only for 'table'-format stores.
    """
    try:
        return _load_h5py(path)
    except _NotFixedFormatError:
        pass
    try:
        import tables  # noqa: F401
    except ImportError as exc:
        raise DependencyError("this Indigo .h5 is a pandas 'table'-format store; reading it needs PyTables "
                              "(pip install tables)", path=path) from exc
    try:
        with pd.HDFStore(path, mode="r") as store:
            df = store.get(_KEY)
    except KeyError as exc:
        raise DataFormatError(
            f"HDF5 file has no '{_KEY}' group; this reader expects Indigo data written by pandas "
            "HDFStore (beep layout)",
            path=path,
        ) from exc
    if not isinstance(df, pd.DataFrame):
        raise DataFormatError(f"'{_KEY}' is not a table", path=path)
    return df


def _load_h5py(path: Path) -> pd.DataFrame:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a dependency
        raise DependencyError("reading Indigo .h5 needs PyTables or h5py (pip install tables)",
                              path=path) from exc
    with h5py.File(path, "r") as fh:
        if _KEY not in fh:
            raise DataFormatError(f"HDF5 file has no '{_KEY}' group", path=path)
        grp = fh[_KEY]
        if "block0_values" not in grp and "table" in grp:
            raise _NotFixedFormatError
        frames = []
        k = 0
        while f"block{k}_values" in grp:
            items = [x.decode() if isinstance(x, bytes) else str(x) for x in grp[f"block{k}_items"][()]]
            frames.append(pd.DataFrame(np.asarray(grp[f"block{k}_values"][()]), columns=items))
            k += 1
        order = [x.decode() if isinstance(x, bytes) else str(x) for x in grp["axis0"][()]]
    if not frames:
        raise DataFormatError(f"'{_KEY}' holds no data blocks", path=path)
    df = pd.concat(frames, axis=1)
    return df[[c for c in order if c in df.columns]]


@register_reader
class IndigoReader(CyclerReader):
    """Indigo cycler HDF5 (pandas HDFStore, group ``time_series_data``)."""

    name: ClassVar[str] = "indigo_hdf5"
    vendor: ClassVar[str] = "Indigo"
    description: ClassVar[str] = "Indigo time series in HDF5 (pandas HDFStore 'time_series_data', beep layout)"
    extensions: ClassVar[tuple[str, ...]] = (".h5", ".hdf5", ".hdf")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 for HDF5 with a ``time_series_data`` table holding Indigo columns."""
        if not head.startswith(_HDF5_MAGIC):
            return 0.0
        if b"cell_coulomb_count_c" in head or b"time_series_data" in head:
            return 0.95
        try:
            import h5py

            with h5py.File(path, "r") as fh:
                if _KEY in fh and "axis0" in fh[_KEY]:
                    names = {x.decode() if isinstance(x, bytes) else str(x) for x in fh[_KEY]["axis0"][()]}
                    return 0.95 if set(_REQUIRED) <= names else 0.3
        except Exception:  # noqa: BLE001 - unreadable HDF5 is not ours to judge
            return 0.0
        return 0.0

    @classmethod
    def _read(cls, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if magic != _HDF5_MAGIC:
            raise DataFormatError(
                f"not an HDF5 file (starts with {magic!r}); Indigo data come as pandas HDFStore .h5",
                path=path,
            )
        raw = _load(path)
        missing = [c for c in _REQUIRED if c not in raw.columns]
        if missing:
            raise SchemaError(f"Indigo columns {missing} missing; the table has {list(raw.columns)}",
                              path=path, column=missing[0])
        raw = raw.reset_index(drop=True)
        table = pd.DataFrame(
            {t: raw[c].to_numpy(dtype=np.float64) * f for c, (t, f) in _CANONICAL.items() if c in raw.columns}
        )
        if "cycle_count" not in table.columns:
            table["cycle_count"] = 1
        table["cycle_count"] = _whole(table["cycle_count"].to_numpy(dtype=np.float64), path)
        half = (raw["half_cycle_count"].to_numpy() if "half_cycle_count" in raw.columns
                else table["cycle_count"].to_numpy())
        cycle = table["cycle_count"].to_numpy()
        for src, stem, factor in (("cell_coulomb_count_c", "capacity_ah", 1 / 3600.0),
                                  ("cell_energy_j", "energy_wh", 1 / 3600.0)):
            if src in raw.columns:
                chg, dis = _halves_to_cycle(raw[src].to_numpy(dtype=np.float64) * factor, half, cycle)
                table[f"charging_{stem}"], table[f"discharging_{stem}"] = chg, dis
        for c in _EXTRAS:
            if c in raw.columns:
                table[c] = raw[c].to_numpy()
        if "half_cycle_count" in raw.columns:
            table["step_count"] = step_count_from(cycle, half)
        extra: dict[str, Any] = {"hdf5_key": _KEY}
        if "cell_id" in raw.columns and raw["cell_id"].nunique() == 1:
            extra["indigo_cell_id"] = int(raw["cell_id"].iloc[0])
        if "experiment_count" in raw.columns:
            extra["experiments"] = sorted(int(x) for x in raw["experiment_count"].unique())
        return table, {"extra": extra}


def _whole(values: np.ndarray, path: Path) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2**53))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"cycle_count must be a whole number, got {values[r]!r}", path=path, row=r,
                              column="cycle_count", value=float(values[r]))
    return values.astype(np.int64)


def _halves_to_cycle(net: np.ndarray, half: np.ndarray, cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge counters (cumulative within cycle) from a per-half-cycle net counter."""
    n = net.size
    chg = np.full(n, np.nan)
    dis = np.full(n, np.nan)
    key = np.asarray(half)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.array([], dtype=int)
    ends = np.r_[starts[1:], n]
    for a, b in zip(starts, ends, strict=True):
        seg = np.nan_to_num(net[a:b])
        if seg[-1] < 0:
            dis[a:b] = np.maximum.accumulate(np.maximum(-seg, 0.0))
        else:
            chg[a:b] = np.maximum.accumulate(np.maximum(seg, 0.0))
    return counter_to_cycle_cumulative(chg, cycle), counter_to_cycle_cumulative(dis, cycle)
