"""Readers for cycler exports, with detection by content.

Use :func:`read_cycler_file` (detects the format) or a reader class directly.

Examples
--------
>>> from voltlab.data.readers import available_formats
>>> "bdf" in available_formats()
True
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from voltlab.data.cycling import CyclingData
from voltlab.data.readers.base import CyclerReader, read_head, registered_readers
from voltlab.errors import MissingFileError, UnknownFormatError

__all__ = [
    "CyclerReader",
    "available_formats",
    "companion_of",
    "detect_format",
    "get_reader",
    "read_cycler_file",
]

# One module per vendor family; each registers its readers on import.
_READER_MODULES: tuple[str, ...] = (
    "voltlab.data.readers.arbin",
    "voltlab.data.readers.basytec",
    "voltlab.data.readers.bdf",
    "voltlab.data.readers.biologic",
    "voltlab.data.readers.generic",
    "voltlab.data.readers.indigo",
    "voltlab.data.readers.landt",
    "voltlab.data.readers.maccor",
    "voltlab.data.readers.neware",
    "voltlab.data.readers.novonix",
    "voltlab.data.readers.pec",
)

_MIN_CONFIDENCE = 0.5


def _load_all() -> dict[str, type[CyclerReader]]:
    for mod in _READER_MODULES:
        importlib.import_module(mod)
    return registered_readers()


def available_formats() -> dict[str, str]:
    """Format name -> one-line description, for every reader."""
    return {name: f"{cls.vendor}: {cls.description}" for name, cls in sorted(_load_all().items())}


def get_reader(name: str) -> type[CyclerReader]:
    """Reader class registered as ``name``.

    Raises
    ------
    UnknownFormatError
        ``name`` is not a known format (the message lists them).
    """
    readers = _load_all()
    if name not in readers:
        raise UnknownFormatError(
            f"unknown format {name!r}; choose one of: {', '.join(sorted(readers))}", value=name
        )
    return readers[name]


def detect_format(path: str | os.PathLike[str]) -> type[CyclerReader]:
    """Pick the reader for ``path`` by its content (extension only breaks ties).

    Raises
    ------
    MissingFileError
        The file does not exist.
    UnknownFormatError
        No reader is confident enough; the message lists the formats.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError("file not found (check the path)", path=p)
    head = read_head(p)
    scores: list[tuple[float, str]] = []
    for name, cls in _load_all().items():
        try:
            score = float(cls.sniff(p, head))
        except Exception:  # noqa: BLE001 - a sniffer that chokes just says no
            score = 0.0
        if p.suffix.lower() in cls.extensions and score > 0:
            score += 0.05
        scores.append((score, name))
    scores.sort(reverse=True)
    best_score, best = scores[0]
    if best_score < _MIN_CONFIDENCE:
        raise UnknownFormatError(
            "format not recognised from the file content; pass format=... (one of "
            f"{', '.join(sorted(n for _, n in scores))}) or use the generic reader with a column map",
            path=p,
        )
    return registered_readers()[best]


def companion_of(path: str | os.PathLike[str]) -> Path | None:
    """The data file ``path`` accompanies (a companion some reader loads with its data), or None."""
    p = Path(path)
    for cls in _load_all().values():
        data = cls.companion_of(p)
        if data is not None:
            return data
    return None


_METADATA_OVERRIDES = frozenset({
    "cell_id", "chemistry", "nominal_capacity_ah", "form_factor", "protocol", "batch", "validate", "limits",
})


def read_cycler_file(
    path: str | os.PathLike[str], format: str | None = None, **kwargs: Any
) -> CyclingData:
    """Read any supported cycler export into the canonical schema.

    Parameters
    ----------
    path
        The file.
    format
        Reader name (see :func:`available_formats`); detected from content if None.
    **kwargs
        Passed to the reader's ``read``: metadata overrides and reader options
        (each reader lists its own in ``options``). With ``format`` given, an
        option that reader does not take is an error. With the format detected,
        an option that only other readers take (``timezone=`` for a folder of
        Arbin and PEC files) is left out for this file and named in
        ``metadata.extra["options_not_used"]``; one no reader takes is an error.
    """
    if format:
        return get_reader(format).read(path, **kwargs)
    cls = detect_format(path)
    options = {k: v for k, v in kwargs.items() if k not in _METADATA_OVERRIDES}
    elsewhere = sorted(k for k in options if k not in cls.options
                       and any(k in other.options for other in _load_all().values()))
    data = cls.read(path, **{k: v for k, v in kwargs.items() if k not in elsewhere})
    if elsewhere:
        data.metadata.extra["options_not_used"] = elsewhere
    return data
