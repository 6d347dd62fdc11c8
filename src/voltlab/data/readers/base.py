"""Protocol shared by every cycler-file reader.

A reader is a subclass of :class:`CyclerReader` registered with
:func:`register_reader`. It implements two class methods:

``sniff(path, head) -> float``
    Confidence in [0, 1] that the file is in this format, judged from its
    *content* (``head`` holds the first :data:`SNIFF_BYTES` bytes). The
    extension may only break ties (add at most 0.05).
``_read(path, **options) -> (DataFrame, dict)``
    Parse the file into canonical columns (units converted, current signed
    positive = charge, capacities cumulative within cycle) and return a
    dict of metadata fields (``extra`` for vendor header items).

:meth:`CyclerReader.read` wraps ``_read``: it checks the file exists, turns
any unexpected exception into a :class:`~voltlab.errors.DataFormatError`
naming the file and format, finalises and validates the table, and hashes the
raw file.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata
from voltlab.data.readers._text import reject_crashing_numbers
from voltlab.data.validation import DEFAULT_LIMITS, ValidationLimits, finalize_timeseries
from voltlab.errors import DataFormatError, MissingFileError, VoltlabError

__all__ = ["SNIFF_BYTES", "CyclerReader", "read_head", "register_reader", "registered_readers"]

SNIFF_BYTES = 64 * 1024

_REGISTRY: dict[str, type[CyclerReader]] = {}

R = TypeVar("R", bound="type[CyclerReader]")


def register_reader(cls: R) -> R:
    """Class decorator adding a reader to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"reader name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered_readers() -> dict[str, type[CyclerReader]]:
    """Name -> reader class for every registered reader (import side effect)."""
    return dict(_REGISTRY)


def read_head(path: str | os.PathLike[str], n: int = SNIFF_BYTES) -> bytes:
    """First ``n`` bytes of a file."""
    with open(path, "rb") as fh:
        return fh.read(n)


class CyclerReader(ABC):
    """Base class of cycler-export readers; see the module docstring."""

    #: Registry key, e.g. ``"maccor_text"``.
    name: ClassVar[str]
    #: Instrument maker, e.g. ``"Maccor"``.
    vendor: ClassVar[str]
    #: One line on what files this reads.
    description: ClassVar[str]
    #: Typical extensions (lower case, with dot); used only to break ties.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: Names of the reader-specific options ``read`` accepts (documented on each reader).
    options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def companion_of(cls, path: Path) -> Path | None:
        """The data file that ``path`` accompanies, if it is a companion this reader loads together
        with its data (e.g. an Arbin ``<stem>_Metadata.csv``); None otherwise. Used to skip companions
        when a whole folder is ingested."""
        return None

    @classmethod
    @abstractmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """Confidence in [0, 1] that ``path`` is in this format (by content)."""

    @classmethod
    @abstractmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Parse ``path`` into canonical columns and metadata fields."""

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        *,
        cell_id: str | None = None,
        chemistry: str | None = None,
        nominal_capacity_ah: float | None = None,
        form_factor: str | None = None,
        protocol: str | None = None,
        batch: str | None = None,
        validate: bool = True,
        limits: ValidationLimits = DEFAULT_LIMITS,
        **options: Any,
    ) -> CyclingData:
        """Read one file into a validated :class:`~voltlab.data.cycling.CyclingData`.

        Parameters
        ----------
        path
            The raw export.
        cell_id, chemistry, nominal_capacity_ah, form_factor, protocol, batch
            Metadata overrides (see :class:`~voltlab.data.metadata.CellMetadata`);
            ``nominal_capacity_ah`` is in Ah.
        validate
            Run :func:`~voltlab.data.validation.validate_timeseries`.
        limits
            Validation tolerances.
        **options
            Reader-specific options (documented on each reader).

        Raises
        ------
        MissingFileError
            The file does not exist.
        DataFormatError
            The file is not valid in this format or fails validation.
        """
        p = Path(path)
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            accepted = ", ".join(cls.options) if cls.options else "none"
            raise DataFormatError(
                f"the {cls.name} reader takes no option {', '.join(map(repr, unknown))} (its options: "
                f"{accepted}); check the spelling, or pass format= for the reader the option belongs to",
                path=p, value=unknown,
            )
        if not p.is_file():
            raise MissingFileError("file not found (check the path)", path=p)
        if b"\x00" not in read_head(p, 4096):
            reject_crashing_numbers(p)
        try:
            df, meta = cls._read(p, **options)
        except VoltlabError:
            raise
        except Exception as exc:
            raise DataFormatError(
                f"cannot read as {cls.vendor} ({cls.name}): {type(exc).__name__}: {exc}",
                path=p,
            ) from exc
        overrides = {
            "cell_id": cell_id,
            "chemistry": chemistry,
            "nominal_capacity_ah": nominal_capacity_ah,
            "form_factor": form_factor,
            "protocol": protocol,
            "batch": batch,
        }
        fields: dict[str, Any] = {k: v for k, v in meta.items() if v is not None}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        metadata = CellMetadata.for_file(p, cls.name, **fields)
        try:
            ts = finalize_timeseries(
                df,
                path=p,
                nominal_capacity_ah=metadata.nominal_capacity_ah,
                limits=limits,
                validate=validate,
            )
        except VoltlabError:
            raise
        except Exception as exc:
            raise DataFormatError(
                f"{cls.vendor} ({cls.name}) data could not be converted: {type(exc).__name__}: {exc}",
                path=p,
            ) from exc
        return CyclingData(ts, metadata)
