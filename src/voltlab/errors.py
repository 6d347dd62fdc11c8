"""Exceptions raised by voltlab.

Every error voltlab raises on purpose derives from :class:`VoltlabError`, and
each subclass also inherits the builtin exception it refines, so callers can
catch either ``VoltlabError`` or the familiar builtin
(``except ValueError`` still works for a :class:`DataFormatError`).

Errors carry the data needed to locate the problem (``path``, ``row``,
``column``, ``value``) as attributes, and their message says what was
received, what is accepted and how to fix it.

Examples
--------
>>> from voltlab.errors import DataFormatError
>>> err = DataFormatError("voltage looks like millivolts", path="cell.csv", column="voltage_volt")
>>> str(err)
"cell.csv: column 'voltage_volt': voltage looks like millivolts"
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "DataFormatError",
    "DependencyError",
    "DuplicateDataError",
    "MissingFileError",
    "NotFittedError",
    "OptimizationError",
    "RemoteDataError",
    "SchemaError",
    "SimulationError",
    "StoreError",
    "StudyConfigError",
    "UnitError",
    "UnknownFormatError",
    "VoltlabError",
]


class VoltlabError(Exception):
    """Root of every error voltlab raises on purpose.

    Parameters
    ----------
    message
        What went wrong and how to fix it.
    path
        The file concerned, if any.
    row
        0-based data row (after the header) where the problem was found.
    column
        Column name concerned.
    value
        The offending value, kept for programmatic use.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.row = row
        self.column = column
        self.value = value
        super().__init__(self._format())

    def _format(self) -> str:
        where: list[str] = []
        if self.path is not None:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword-only data through pickling (multiprocessing, Dask).
        return (
            _rebuild,
            (type(self), self.message, self.path, self.row, self.column, self.value),
        )


def _rebuild(
    cls: type[VoltlabError],
    message: str,
    path: str | None,
    row: int | None,
    column: str | None,
    value: Any,
) -> VoltlabError:
    return cls(message, path=path, row=row, column=column, value=value)


class DataFormatError(VoltlabError, ValueError):
    """A file or table could not be parsed or holds impossible values."""


class UnknownFormatError(DataFormatError):
    """No reader recognises the content of a file."""


class SchemaError(DataFormatError):
    """A table does not follow voltlab's cycling schema (missing, duplicated or mistyped columns)."""


class UnitError(DataFormatError):
    """Values are in other units than declared (e.g. mA given as A)."""


class MissingFileError(VoltlabError, FileNotFoundError):
    """A file or folder that should exist does not (with where to get it)."""


class DependencyError(VoltlabError, ImportError):
    """An optional package or system tool needed for this operation is missing."""


class RemoteDataError(VoltlabError, OSError):
    """A remote data service (e.g. the Materials Project API) refused, failed or answered nonsense."""


class StoreError(VoltlabError, OSError):
    """A dataset store is missing, locked or inconsistent."""


class DuplicateDataError(StoreError):
    """The same raw file (by content hash) or cell id is already in a store."""


class NotFittedError(VoltlabError, AttributeError):
    """An estimator was used before ``fit``: call fit first."""


class OptimizationError(VoltlabError, ValueError):
    """A search space, objective or campaign request is invalid (names the parameter and the fix)."""


class SimulationError(VoltlabError, RuntimeError):
    """A PyBaMM simulation failed or its experiment is infeasible (names the cycle and step)."""


class StudyConfigError(VoltlabError, ValueError):
    """A study's configuration is invalid (unknown key, wrong type, value out of range)."""
