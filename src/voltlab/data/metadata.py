"""Cell metadata record and content hashing of raw files."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from voltlab.errors import DataFormatError

__all__ = ["CellMetadata", "file_sha256", "sanitize_cell_id"]

_CELL_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HASH_CHUNK_BYTES = 1 << 20
FORM_FACTORS = ("cylindrical", "pouch", "prismatic", "coin", "swagelok", "pellet", "other", "")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def sanitize_cell_id(raw: str) -> str:
    """Turn a file stem or label into a store-safe cell id.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become
    ``_``; the result is at most 128 characters.

    Examples
    --------
    >>> sanitize_cell_id("FastCharge 000025/CH8")
    'FastCharge_000025_CH8'
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._-")[:128]
    return cleaned or "cell"


@dataclass(frozen=True, slots=True)
class CellMetadata:
    """What is known about one tested cell and where its data came from.

    Attributes
    ----------
    cell_id
        Unique id within a store: letters, digits, ``.``, ``_``, ``-``.
    chemistry
        Free text, e.g. ``"NMC811/graphite"``, ``"LFP/graphite"``, ``"Si half cell"``.
    nominal_capacity_ah
        Rated capacity in Ah (0 if unknown).
    form_factor
        One of ``cylindrical``, ``pouch``, ``prismatic``, ``coin``,
        ``swagelok``, ``pellet``, ``other`` or ``""`` (unknown).
    protocol
        Cycling protocol description (free text or schedule file name).
    source
        Where the data came from (file path, dataset name, DOI).
    source_format
        Name of the reader that produced the table (``"arbin_res"``, ...).
    content_sha256
        SHA-256 of the raw file's bytes, used to detect re-ingest.
    batch
        Batch or protocol group, used by group-wise splits.
    extra
        Vendor header fields and anything else, JSON-serialisable.
    """

    cell_id: str
    chemistry: str = ""
    nominal_capacity_ah: float = 0.0
    form_factor: str = ""
    protocol: str = ""
    source: str = ""
    source_format: str = ""
    content_sha256: str = ""
    batch: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if not _CELL_ID_OK.match(self.cell_id):
            raise DataFormatError(
                f"cell_id {self.cell_id!r} is not valid: use 1-128 letters, digits, '.', '_' "
                f"or '-', starting with a letter or digit (e.g. {sanitize_cell_id(self.cell_id)!r})",
                value=self.cell_id,
            )
        if not (self.nominal_capacity_ah >= 0.0):
            raise DataFormatError(
                f"nominal_capacity_ah must be >= 0 Ah (0 = unknown), got {self.nominal_capacity_ah!r}",
                value=self.nominal_capacity_ah,
            )
        if self.form_factor not in FORM_FACTORS:
            raise DataFormatError(
                f"form_factor {self.form_factor!r} is not one of {', '.join(repr(f) for f in FORM_FACTORS)}",
                value=self.form_factor,
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable if ``extra`` is)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellMetadata:
        """Inverse of :meth:`to_dict`; unknown keys go to ``extra``."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        unknown = {k: v for k, v in data.items() if k not in names}
        if unknown:
            known["extra"] = {**dict(known.get("extra") or {}), **unknown}
        if "nominal_capacity_ah" in known:
            known["nominal_capacity_ah"] = float(known["nominal_capacity_ah"] or 0.0)
        return cls(**known)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def with_updates(self, **changes: Any) -> CellMetadata:
        """Copy with some fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def for_file(cls, path: str | os.PathLike[str], source_format: str, **fields_: Any) -> CellMetadata:
        """Metadata for a raw file: cell id from the file name, content hash computed."""
        p = Path(path)
        stem = p.name.split(".")[0] if p.suffix else p.name
        return cls(
            cell_id=fields_.pop("cell_id", None) or sanitize_cell_id(stem),
            source=str(p),
            source_format=source_format,
            content_sha256=file_sha256(p),
            **fields_,
        )
