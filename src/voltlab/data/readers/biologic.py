"""BioLogic readers: EC-Lab/BT-Lab ``.mpt`` text exports and ``.mpr`` binary files.

Two registered formats:

``biologic_mpt``
    Text export ("Export as text") of EC-Lab or BT-Lab. Line 1 is
    ``EC-Lab ASCII FILE`` (or ``BT-Lab ASCII FILE``), line 2
    ``Nb header lines : N``; the column header is line N, data follow,
    tab-separated. Also read: the short variant (``Nb header lines : 3``, no
    settings block), files saved **without** the preamble (column header on
    line 1), **decimal commas** (``3,4228721E+000``, French/German Windows)
    and the **absolute-time** variant where ``time/s`` holds
    ``MM/DD/YYYY hh:mm:ss.fff`` date-times instead of seconds.
``biologic_mpr``
    The binary ``BIO-LOGIC MODULAR FILE`` written during acquisition,
    decoded with the PyPI package ``galvani`` (``BioLogic.MPRfile``). Its
    columns are named as in the ``.mpt``, so both go through the same
    mapping.

Column mapping (units are after the last ``/`` and converted):

* ``time/s`` -> ``test_time_second`` (seconds since acquisition start);
  ``unix_time_second`` = acquisition start (``Acquisition started on`` in the
  ``.mpt`` header, the LOG-module timestamp of an ``.mpr``) + ``time/s``. The
  start is the instrument PC's wall clock, taken as UTC unless
  ``timezone="Europe/Paris"`` (an IANA name) is passed to ``read``;
* ``Ecell/V`` (BT-Lab), else ``Ewe/V`` (EC-Lab), else ``<Ewe>/V`` or
  ``Ewe-Ece/V`` -> ``voltage_volt`` (mV converted). ``Ewe`` is the working
  electrode against the reference, which for two-electrode cells is the cell
  voltage; counter-electrode potentials (``Ece/V``, ``Ewe-Ece/V``) are kept
  as extra columns;
* ``I/mA``, else ``<I>/mA`` -> ``current_ampere`` (mA, µA, A converted).
  BioLogic's sign is oxidation of the working electrode positive, i.e.
  positive = charge for a cathode or full cell and for the usual half-cell
  convention (voltage rising), so it is kept. GCPL ``.mpr`` files have no
  current column: the current is then ``dq/mA.h`` * 3600 / Δ``time/s``, the
  same mean current EC-Lab exports as ``<I>/mA``;
* capacities: from the per-point charge ``dq/mA.h`` (positive increments =
  charge, negative = discharge), else from ``Q charge/mA.h`` and
  ``Q discharge/mA.h`` (BioLogic restarts them every half cycle), else from
  ``(Q-Qo)/mA.h`` increments; converted to Ah, cumulative within cycle.
  ``Energy charge/W.h``/``Energy discharge/W.h`` likewise (Wh);
* ``cycle number`` -> ``cycle_count`` (BioLogic counts from 0). Without it
  (``.mpr`` files) it is ``half cycle // 2``, which reproduces EC-Lab's
  ``cycle number`` in the ``.mpt`` twins; without either, it is inferred
  from the current (:func:`~voltlab.data.schema.infer_cycle_count`, shifted to
  start at 0 like BioLogic's);
* ``Ns`` (sequence/step of the technique) -> ``step_index``;
  ``Temperature/°C`` -> ``temperature_celsius``; ``P/W`` -> ``power_watt``;
  ``R/Ohm`` -> ``internal_resistance_ohm``; the ``.mpr`` ``flags`` byte is
  unpacked into ``mode``, ``ox_red``, ``error``, ... as in the ``.mpt``;
  every other numeric column is kept as a snake_case extra (``ece_v``,
  ``q_charge_discharge_mah``, ``abs_energy_wh``, ...).

Impedance rows (``freq/Hz`` > 0, from PEIS/GEIS techniques in a sequence) are
not cycling data: they are dropped and counted in the metadata ``extra``
(``impedance_rows_dropped``). A file with impedance rows only raises
:class:`~voltlab.errors.DataFormatError`. The sample ``biol.mpr`` (C/20 steps
with GEIS between them) is read this way: its galvanostatic and rest rows
become the time series.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.data.readers._text import decode, read_csv_whole_rows, reject_unnamed_values
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, infer_cycle_count
from voltlab.errors import DataFormatError, DependencyError, SchemaError, UnitError

__all__ = ["BiologicMprReader", "BiologicMptReader", "biologic_columns_to_canonical"]

_MPT_MAGIC = re.compile(r"^\ufeff?\s*(?:EC|BT)-Lab[^\n]*ASCII FILE", re.IGNORECASE)
_MPR_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a"
_NB_HEADER = re.compile(r"Nb\s+header\s+lines\s*:\s*(\d+)", re.IGNORECASE)

#: Unit (normalised: lower case, µ -> u) -> factor, per physical kind.
_UNITS: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "min": 60.0, "h": 3600.0},
    "voltage": {"v": 1.0, "mv": 1e-3},
    "current": {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "na": 1e-9},
    "charge": {"a.h": 1.0, "ma.h": 1e-3, "ua.h": 1e-6, "ah": 1.0, "mah": 1e-3, "c": 1.0 / 3600.0},
    "energy": {"w.h": 1.0, "mw.h": 1e-3, "uw.h": 1e-6, "wh": 1.0, "mwh": 1e-3},
    "power": {"w": 1.0, "mw": 1e-3, "uw": 1e-6},
    "resistance": {"ohm": 1.0, "mohm": 1e-3, "Ω": 1.0, "mΩ": 1e-3},
    "temperature": {"c": 1.0, "°c": 1.0, "\ufffdc": 1.0, "degc": 1.0},
}

#: Role -> (accepted quantity names in preference order, physical kind).
_ROLES: dict[str, tuple[tuple[str, ...], str]] = {
    "time": (("time",), "time"),
    "voltage": (("Ecell", "Ewe", "<Ewe>", "Ewe-Ece"), "voltage"),
    "current": (("I", "<I>"), "current"),
    "dq": (("dq", "dQ"), "charge"),
    "q_charge": (("Q charge",), "charge"),
    "q_discharge": (("Q discharge",), "charge"),
    "q_net": (("(Q-Qo)",), "charge"),
    "e_charge": (("Energy charge",), "energy"),
    "e_discharge": (("Energy discharge",), "energy"),
    "power": (("P",), "power"),
    "resistance": (("R",), "resistance"),
    "temperature": (("Temperature", "T"), "temperature"),
    "freq": (("freq",), ""),
}
_PLAIN = {"cycle": "cycle number", "half_cycle": "half cycle", "ns": "Ns"}


def _split(column: str) -> tuple[str, str]:
    """(quantity, unit) of a BioLogic header: ``"Q charge/discharge/mA.h"`` -> (``"Q charge/discharge"``, ``"mA.h"``)."""
    name = str(column).strip()
    if "/" not in name:
        return name, ""
    base, unit = name.rsplit("/", 1)
    norm = _norm_unit(unit)
    if any(norm in table for table in _UNITS.values()) or norm in ("hz", "deg", "%", "uf", "\ufffdf"):
        return base.strip(), unit.strip()
    return name, ""


def _norm_unit(unit: str) -> str:
    return unit.strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def _find_roles(columns: list[str]) -> dict[str, str]:
    split = {c: _split(c) for c in columns}
    found: dict[str, str] = {}
    for role, (names, kind) in _ROLES.items():
        for want in names:
            hit = next(
                (c for c in columns if split[c][0] == want and (not kind or split[c][1])), None
            )
            if hit is not None:
                found[role] = hit
                break
    for role, name in _PLAIN.items():
        if name in columns:
            found[role] = name
    return found


def _factor(role: str, column: str, path: Path) -> float:
    kind = _ROLES[role][1]
    unit = _norm_unit(_split(column)[1])
    table = _UNITS[kind]
    if unit not in table:
        raise UnitError(
            f"unit {unit!r} not understood for a {kind} column; accepted: {', '.join(table)}. "
            "Re-export from EC-Lab/BT-Lab with standard units",
            path=path, column=column, value=unit,
        )
    return table[unit]


def _snake(name: str) -> str:
    """snake_case extra-column name (``"|Energy|/W.h"`` -> ``"abs_energy_wh"``)."""
    s = str(name).strip()
    if s == "step time/s":
        return "step_time_second"
    s = s.replace("A.h", "Ah").replace("W.h", "Wh")
    s = re.sub(r"\|([^|]*)\|", r"abs_\1", s)
    s = re.sub(r"<([^>]*)>", r"mean_\1", s)
    s = s.replace("-Im(", "neg_im(").replace("(Q-Qo)", "q_qo").replace("µ", "u").replace("\ufffd", "u")
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    return s or "column"


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype):
        out = series.to_numpy(dtype=np.float64)
    else:
        out = pd.to_numeric(series.astype(str).str.strip().str.replace(",", ".", regex=False),
                            errors="coerce").to_numpy(dtype=np.float64)
    out = out.copy()
    out[~np.isfinite(out)] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------

_DATETIME_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
                     "%d.%m.%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S.%f")


def _parse_datetimes(values: pd.Series) -> pd.Series:
    """Naive datetimes from BioLogic date-time text (US ``MM/DD/YYYY`` tried first)."""
    s = values.astype(str).str.strip()
    best = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for fmt in _DATETIME_FORMATS:
        dt = pd.to_datetime(s, format=fmt, errors="coerce")
        if dt.notna().sum() > best.notna().sum():
            best = dt
        if best.notna().all():
            break
    return best


def _to_unix(dt: pd.Series, timezone: str | None) -> np.ndarray:
    if timezone:
        dt = dt.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        dt = dt.dt.tz_localize(None)
    return ((dt - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _start_unix(start: _dt.datetime | None, timezone: str | None) -> float | None:
    if start is None:
        return None
    value = _to_unix(pd.Series([pd.Timestamp(start)]), timezone)[0]
    return float(value) if np.isfinite(value) else None


def _times(raw: pd.DataFrame, col: str, start: float | None, timezone: str | None,
           path: Path) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """(test time s, unix time s or None, notes) from ``time/s`` (seconds or date-times)."""
    notes: dict[str, Any] = {}
    secs = _as_float(raw[col])
    if np.isfinite(secs).mean() > 0.5:
        t = secs * _factor("time", col, path)
        return t, (start + t if start is not None else None), notes
    unix = _to_unix(_parse_datetimes(raw[col]), timezone)
    ok = np.isfinite(unix)
    if ok.mean() <= 0.5:
        raise DataFormatError(
            f"column {col!r} holds neither seconds nor date-times (e.g. {raw[col].iloc[0]!r}); "
            "expected numbers or 'MM/DD/YYYY hh:mm:ss.fff'",
            path=path, column=col,
        )
    t0 = start if start is not None and start <= unix[ok][0] else unix[ok][0]
    notes["time_column"] = "absolute date-times (test time counted from acquisition start)"
    return unix - t0, unix, notes


# --------------------------------------------------------------------------------------------
# Table -> canonical columns
# --------------------------------------------------------------------------------------------


def _current_from_dq(dq_mAh: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mean current (mA) over each interval from the charge increments: dq * 3600 / dt."""
    dt = np.diff(t, prepend=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.where(dt > 0, dq_mAh * 3600.0 / dt, np.nan)
    i[dq_mAh == 0] = 0.0
    return pd.Series(i).ffill().bfill().fillna(0.0).to_numpy()


def _cycles(raw: pd.DataFrame, roles: dict[str, str], current: np.ndarray,
            notes: dict[str, Any]) -> np.ndarray:
    if "cycle" in roles:
        return np.round(_as_float(raw[roles["cycle"]]))
    if "half_cycle" in roles:
        hc = _as_float(raw[roles["half_cycle"]])
        notes["cycle_count"] = "half cycle // 2 (no 'cycle number' column)"
        return np.floor(hc / 2.0)
    notes["cycle_count"] = "inferred from the current (no 'cycle number' or 'half cycle' column)"
    return (infer_cycle_count(np.nan_to_num(current)) - 1).astype(np.float64)


def _capacities(raw: pd.DataFrame, roles: dict[str, str], cycle: np.ndarray,
                path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if "dq" in roles:
        dq = np.nan_to_num(_as_float(raw[roles["dq"]])) * _factor("dq", roles["dq"], path)
        c, d = np.cumsum(np.clip(dq, 0, None)), np.cumsum(np.clip(-dq, 0, None))
    elif "q_charge" in roles and "q_discharge" in roles:
        c = np.abs(_as_float(raw[roles["q_charge"]])) * _factor("q_charge", roles["q_charge"], path)
        d = np.abs(_as_float(raw[roles["q_discharge"]])) * _factor("q_discharge", roles["q_discharge"], path)
    elif "q_net" in roles:
        q = _as_float(raw[roles["q_net"]]) * _factor("q_net", roles["q_net"], path)
        inc = np.diff(np.nan_to_num(q), prepend=np.nan_to_num(q[:1]))
        c, d = np.cumsum(np.clip(inc, 0, None)), np.cumsum(np.clip(-inc, 0, None))
    else:
        return None
    return counter_to_cycle_cumulative(c, cycle), counter_to_cycle_cumulative(d, cycle)


def biologic_columns_to_canonical(
    raw: pd.DataFrame,
    *,
    path: Path,
    start: _dt.datetime | None = None,
    timezone: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Convert a BioLogic table (``.mpt``/``.mpr`` column names) to canonical columns.

    Parameters
    ----------
    raw
        One row per point, columns named as EC-Lab/BT-Lab name them
        (``time/s``, ``Ewe/V``, ``<I>/mA``, ...).
    path
        The file, named in error messages.
    start
        Acquisition start (naive wall clock), for ``unix_time_second``.
    timezone
        IANA zone of that clock; UTC if None.

    Returns
    -------
    (pandas.DataFrame, dict)
        Canonical table (impedance rows removed) and notes for ``extra``.

    Raises
    ------
    SchemaError
        No time, voltage or current information.
    DataFormatError
        Only impedance rows, or unparseable time.
    """
    columns = [str(c) for c in raw.columns]
    roles = _find_roles(columns)
    missing = [name for name, role in (("time/s", "time"), ("Ewe/V or Ecell/V", "voltage"))
               if role not in roles]
    if "current" not in roles and "dq" not in roles:
        missing.append("I/mA, <I>/mA or dq/mA.h")
    if missing:
        raise SchemaError(
            f"not a BioLogic cycling table: no {', '.join(missing)} column; have {columns}",
            path=path,
        )
    notes: dict[str, Any] = {}
    start_unix = _start_unix(start, timezone)
    t, unix, tnotes = _times(raw, roles["time"], start_unix, timezone, path)
    notes.update(tnotes)
    if "current" in roles:
        current = _as_float(raw[roles["current"]]) * _factor("current", roles["current"], path)
    else:
        dq = np.nan_to_num(_as_float(raw[roles["dq"]])) * _factor("dq", roles["dq"], path) * 1e3
        current = _current_from_dq(dq, t) * 1e-3
        notes["current"] = "dq * 3600 / dt (file has no current column)"
    cycle = _cycles(raw, roles, current, notes)
    out: dict[str, Any] = {
        "test_time_second": t,
        "voltage_volt": _as_float(raw[roles["voltage"]]) * _factor("voltage", roles["voltage"], path),
        "current_ampere": current,
        "cycle_count": cycle,
    }
    if "ns" in roles:
        out["step_index"] = np.round(_as_float(raw[roles["ns"]]))
    if unix is not None:
        out["unix_time_second"] = unix
    cyc_key = np.nan_to_num(cycle, nan=-1.0)
    caps = _capacities(raw, roles, cyc_key, path)
    if caps is not None:
        out["charging_capacity_ah"], out["discharging_capacity_ah"] = caps
    for role, target in (("e_charge", "charging_energy_wh"), ("e_discharge", "discharging_energy_wh")):
        if role in roles:
            e = np.abs(_as_float(raw[roles[role]])) * _factor(role, roles[role], path)
            out[target] = counter_to_cycle_cumulative(e, cyc_key)
    for role, target in (("power", "power_watt"), ("resistance", "internal_resistance_ohm"),
                         ("temperature", "temperature_celsius")):
        if role in roles:
            out[target] = _as_float(raw[roles[role]]) * _factor(role, roles[role], path)
    n = len(raw)
    columns_out = {k: np.full(n, v) if np.ndim(v) == 0 else np.asarray(v)
                   for k, v in out.items()}
    _add_extras(columns_out, raw, roles)
    keep = _cycling_rows(raw, roles, path, notes)
    index = raw.index
    if keep is not None:
        columns_out = {k: v[keep] for k, v in columns_out.items()}
        index = index[keep]
    # One frame from whole columns (no per-column inserts, no row take over a built frame).
    return pd.DataFrame(columns_out, index=index, copy=False), notes


def _add_extras(out: dict[str, np.ndarray], raw: pd.DataFrame, roles: dict[str, str]) -> None:
    used = {v for k, v in roles.items() if k not in ("freq", "half_cycle")}
    for col in raw.columns:
        if col in used or str(col).startswith("Unnamed") or not str(col).strip():
            continue
        vals = _as_float(raw[col])
        if not np.isfinite(vals).any():
            continue
        base = name = _snake(col)
        k = 2
        while name in out:
            name = f"{base}_{k}"
            k += 1
        out[name] = vals


def _cycling_rows(raw: pd.DataFrame, roles: dict[str, str], path: Path,
                  notes: dict[str, Any]) -> np.ndarray | None:
    """Mask of the rows that are not impedance points (freq/Hz > 0), or None when all are kept."""
    if "freq" not in roles:
        return None
    eis = np.nan_to_num(_as_float(raw[roles["freq"]])) > 0
    if not eis.any():
        return None
    if eis.all():
        raise DataFormatError(
            "every row is an impedance point (freq/Hz > 0): this is a PEIS/GEIS record, not "
            "cycling data; read it with galvani/yadg as impedance",
            path=path,
        )
    notes["impedance_rows_dropped"] = int(eis.sum())
    return ~eis


# --------------------------------------------------------------------------------------------
# .mpt text
# --------------------------------------------------------------------------------------------

_NUM_COMMA = re.compile(r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$")
_NUM_DOT = re.compile(r"^[-+]?\d+\.\d+(?:[eE][-+]?\d+)?$")


def _decimal_comma(lines: list[str]) -> bool:
    comma = dot = 0
    for line in lines:
        for f in line.split("\t"):
            f = f.strip()
            comma += bool(_NUM_COMMA.match(f))
            dot += bool(_NUM_DOT.match(f))
    return comma > dot


def _header_index(lines: list[str], path: Path) -> int:
    """0-based index of the column-header line."""
    if _MPT_MAGIC.match(lines[0]):
        m = _NB_HEADER.search(lines[1]) if len(lines) > 1 else None
        if m is None:
            raise DataFormatError(
                "BioLogic text export without 'Nb header lines : N' on line 2; re-export from "
                "EC-Lab/BT-Lab ('Export as text')",
                path=path, row=1,
            )
        idx = int(m.group(1)) - 1
        if not 2 <= idx < len(lines) or "time/s" not in lines[idx]:
            raise DataFormatError(
                f"'Nb header lines : {idx + 1}' does not point at the column header (a line with "
                "'time/s'); the file is truncated or was edited",
                path=path, row=min(idx, len(lines) - 1),
            )
        return idx
    if "\t" in lines[0] and "time/s" in lines[0]:
        return 0
    raise DataFormatError(
        "not a BioLogic .mpt text export: expected 'EC-Lab ASCII FILE'/'BT-Lab ASCII FILE' on "
        "line 1 or a tab-separated column header with 'time/s'. For binary .mpr files use "
        "format='biologic_mpr'",
        path=path,
    )


_KV = re.compile(r"^\s*([^:\t]{2,60}?)\s+:\s*(.*?)\s*$")


def _header_items(header: list[str]) -> dict[str, str]:
    """``key : value`` items of the settings block (first occurrence of each key)."""
    items: dict[str, str] = {}
    for line in header[2:]:
        m = _KV.match(line)
        if m and m.group(2) and m.group(1) not in items:
            items[m.group(1).strip()] = m.group(2)
    return items


def _mpt_metadata(header: list[str], timezone: str | None) -> tuple[dict[str, Any], _dt.datetime | None]:
    items = _header_items(header)
    extra: dict[str, Any] = {"software": header[0].strip()} if header else {}
    if len(header) > 3 and header[3].strip() and ":" not in header[3]:
        extra["technique"] = header[3].strip()
    for key in ("Run on channel", "Device", "Acquisition started on", "Technique started on",
                "Characteristic mass", "Mass of active material", "Electrode surface area",
                "Battery capacity", "Cycle Definition", "Number of loops", "Electrode material",
                "Electrolyte", "Comments", "User"):
        if key in items:
            extra[_snake(key)] = items[key]
    for line in header:
        if "(software)" in line:
            extra["software_version"] = line.strip()
            break
    start = None
    if "Acquisition started on" in items:
        dt = _parse_datetimes(pd.Series([items["Acquisition started on"]])).iloc[0]
        start = None if pd.isna(dt) else dt.to_pydatetime()
    meta: dict[str, Any] = {}
    cap = re.match(r"^\s*([-+]?\d+(?:[.,]\d+)?)\s*(m?A\.h)\s*$", items.get("Battery capacity", ""))
    if cap:
        value = float(cap.group(1).replace(",", ".")) * (1e-3 if cap.group(2) == "mA.h" else 1.0)
        if value > 0:
            meta["nominal_capacity_ah"] = value
    if "technique" in extra:
        meta["protocol"] = extra["technique"]
    meta["extra"] = extra
    return meta, start


@register_reader
class BiologicMptReader(CyclerReader):
    """BioLogic EC-Lab/BT-Lab ``.mpt`` text export (see the module docstring).

    Options
    -------
    timezone : str, optional
        IANA time zone of the instrument PC, for ``unix_time_second``; UTC if omitted.
    """

    name = "biologic_mpt"
    options = ("timezone",)
    vendor = "BioLogic"
    description = "EC-Lab/BT-Lab .mpt text export (with or without header block)"
    extensions = (".mpt", ".txt")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """'EC-Lab/BT-Lab ASCII FILE' magic, or a tab header with ``time/s`` and E/I columns."""
        if b"\x00" in head[:4096]:
            return 0.0
        text = decode(head)
        if _MPT_MAGIC.match(text):
            return 0.98 if _NB_HEADER.search(text[:300]) else 0.8
        first = text.split("\n", 1)[0]
        cols = set(first.rstrip("\r").split("\t"))
        if "time/s" not in cols:
            return 0.0
        has_e = bool(cols & {"Ewe/V", "Ecell/V", "<Ewe>/V", "Ewe-Ece/V"})
        has_i = bool(cols & {"I/mA", "<I>/mA", "dq/mA.h", "I/A", "<I>/A"})
        markers = cols & {"ox/red", "control/V/mA", "Ns", "cycle number", "half cycle", "mode",
                          "(Q-Qo)/mA.h", "Q charge/discharge/mA.h"}
        if has_e and has_i:
            return 0.7 + 0.05 * min(len(markers), 3)
        return 0.0

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        timezone = options.pop("timezone", None)
        if options:
            raise TypeError(f"unknown option(s) for biologic_mpt: {sorted(options)}; accepted: timezone")
        raw_bytes = path.read_bytes()
        if raw_bytes.startswith(_MPR_MAGIC[:16]):
            raise DataFormatError(
                "this is a binary BioLogic .mpr file, not a text export; use format='biologic_mpr'",
                path=path,
            )
        if b"\x00" in raw_bytes[:4096]:
            raise DataFormatError("file is binary, not a BioLogic .mpt text export", path=path)
        lines = decode(raw_bytes).splitlines()
        if not lines:
            raise DataFormatError("empty file; expected a BioLogic .mpt text export", path=path)
        idx = _header_index(lines, path)
        meta, start = _mpt_metadata(lines[:idx], timezone)
        body = lines[idx:]
        if len(body) > 2 and not raw_bytes.endswith((b"\n", b"\r")) and (
            body[-1].count("\t") < body[0].rstrip("\t").count("\t")
        ):
            # file cut mid-line (e.g. copied during acquisition): drop the stub, and say so
            meta.setdefault("extra", {}).update({"truncated": True, "truncated_last_line": body[-1][:200]})
            body = body[:-1]
        comma = _decimal_comma(body[1:30])
        try:
            # rows ending in stray tabs read as they are; a row with surplus values is an error
            raw = read_csv_whole_rows("\n".join(body), path, first_line=idx, sep="\t",
                                      decimal="," if comma else ".", engine="c", low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"cannot parse the data block: {exc}", path=path, row=idx) from exc
        reject_unnamed_values(raw, path, header_line=idx)
        raw = raw.loc[:, [c for c in raw.columns if not (str(c).startswith("Unnamed") and raw[c].isna().all())]]
        if raw.empty:
            raise DataFormatError("no data rows after the column header", path=path, row=idx)
        df, notes = biologic_columns_to_canonical(raw, path=path, start=start, timezone=timezone)
        extra = meta.setdefault("extra", {})
        extra.update(notes)
        extra["header_lines"] = idx + 1 if idx else 0
        if comma:
            extra["decimal_comma"] = True
        return df, meta


# --------------------------------------------------------------------------------------------
# .mpr binary (galvani)
# --------------------------------------------------------------------------------------------


def _import_galvani() -> Any:
    try:
        from galvani import BioLogic
    except ImportError as exc:
        raise DependencyError(
            "reading BioLogic .mpr files needs the package 'galvani' (pip install 'galvani>=0.4'); "
            "or export the file as text in EC-Lab/BT-Lab and use format='biologic_mpt'",
        ) from exc
    return BioLogic


_MPR_HEADER_BYTES = 52  # magic padded to 48 bytes + 4 zero bytes


def _check_mpr_structure(data: bytes, path: Path) -> None:
    """Walk the module headers and check every declared length fits in the file.

    Guards galvani, which trusts the 32-bit module lengths (a damaged length would make it
    allocate gigabytes before noticing the file is short).
    """
    if not data.startswith(_MPR_MAGIC):
        raise DataFormatError(
            "not a BioLogic .mpr file (no 'BIO-LOGIC MODULAR FILE' magic); for EC-Lab text "
            "exports use format='biologic_mpt'",
            path=path,
        )
    pos, size, names = _MPR_HEADER_BYTES, len(data), []
    while pos < size:
        if data[pos:pos + 6] != b"MODULE":
            raise DataFormatError(
                f"damaged .mpr: expected a 'MODULE' header at byte {pos}, found {data[pos:pos + 6]!r}",
                path=path,
            )
        hdr = data[pos + 6:pos + 6 + 59]
        v2 = hdr[35:39] == b"\xff\xff\xff\xff"
        hdr_len, len_at = (59, 39) if v2 else (51, 35)
        if len(hdr) < hdr_len:
            raise DataFormatError(f"truncated .mpr: module header at byte {pos} is cut", path=path)
        length = int.from_bytes(hdr[len_at:len_at + 4], "little")
        start = pos + 6 + hdr_len
        name = hdr[:10].decode("latin-1").strip()
        if start + length > size:
            raise DataFormatError(
                f"truncated or damaged .mpr: module {name!r} at byte {pos} declares {length} bytes "
                f"but only {size - start} remain",
                path=path,
            )
        names.append(name)
        pos = start + length
    if "VMP data" not in names or "VMP Set" not in names:
        raise DataFormatError(
            f"incomplete .mpr: modules {names}, expected 'VMP Set' and 'VMP data'", path=path
        )


def _mpr_frame(mpr: Any) -> pd.DataFrame:
    """galvani record array -> DataFrame with the .mpt column names (flags unpacked)."""
    data = mpr.data
    cols: dict[str, np.ndarray] = {}
    for name in data.dtype.names:
        if name == "flags":
            for flag in mpr.flags_dict:
                cols[flag] = np.asarray(mpr.get_flag(flag)).astype(np.int64)
        else:
            cols[name] = np.asarray(data[name])
    return pd.DataFrame(cols, copy=False)  # column views of the record array: no 2-D block copy


@register_reader
class BiologicMprReader(CyclerReader):
    """BioLogic EC-Lab/BT-Lab binary ``.mpr`` file, decoded with galvani.

    Options
    -------
    timezone : str, optional
        IANA time zone of the instrument PC, for ``unix_time_second``; UTC if omitted.
    """

    name = "biologic_mpr"
    options = ("timezone",)
    vendor = "BioLogic"
    description = "EC-Lab/BT-Lab binary .mpr file (BIO-LOGIC MODULAR FILE), via galvani"
    extensions = (".mpr",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """The ``BIO-LOGIC MODULAR FILE`` magic."""
        return 0.98 if head.startswith(_MPR_MAGIC) else 0.0

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        timezone = options.pop("timezone", None)
        if options:
            raise TypeError(f"unknown option(s) for biologic_mpr: {sorted(options)}; accepted: timezone")
        biologic = _import_galvani()
        data = path.read_bytes()
        _check_mpr_structure(data, path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mpr = biologic.MPRfile(io.BytesIO(data))
        except NotImplementedError as exc:
            raise DataFormatError(
                f"galvani cannot decode a column of this .mpr ({exc}); export the file as text "
                "in EC-Lab/BT-Lab and use format='biologic_mpt'",
                path=path,
            ) from exc
        except Exception as exc:
            raise DataFormatError(
                f"damaged or unsupported .mpr ({type(exc).__name__}: {exc}); export it as text "
                "in EC-Lab/BT-Lab and use format='biologic_mpt'",
                path=path,
            ) from exc
        raw = _mpr_frame(mpr)
        if raw.empty:
            raise DataFormatError("the .mpr data module holds no points", path=path)
        start = getattr(mpr, "timestamp", None)
        df, notes = biologic_columns_to_canonical(raw, path=path, start=start, timezone=timezone)
        extra: dict[str, Any] = {
            "decoder": "galvani",
            "data_module_version": int(getattr(mpr, "version", -1)),
            "start_date": str(getattr(mpr, "startdate", "")),
        }
        if getattr(mpr, "enddate", None) is not None:
            extra["end_date"] = str(mpr.enddate)
        if start is not None:
            extra["acquisition_started_on"] = start.isoformat()
        extra.update(notes)
        return df, {"extra": extra}
