"""Curated literature tables that ship with voltlab (small, every row cited).

:func:`load_curated_solid_electrolytes`
    Room-temperature Li-ion conductivities of solid electrolytes
    (``solid_electrolytes.csv``), one row per (composition, paper), each value
    taken from the original paper: ``composition``, ``family``,
    ``conductivity_s_cm`` (S/cm), ``temperature_c`` (°C, the temperature the
    paper reports the value at), ``measurement`` (``total`` = bulk + grain
    boundary, or ``bulk``), ``citation`` (authors, journal, volume, page,
    year) and ``doi``.

Curation rule: a row is here only when its value could be attributed to the
original paper with confidence; values that could not be attributed stayed
out, and rows that disagreed with the OBELiX / Liverpool databases by more
than 0.5 decades for the same composition (and could not be confirmed) were
dropped (``tests/data/test_curated.py`` runs the cross-check). The table is
small (15 rows, 7 families, 5 garnets): a demonstration set, not a training
set for a production model; use ``--data`` with OBELiX for that.

Examples
--------
>>> from voltlab.data.embedded.curated import load_curated_solid_electrolytes
>>> df = load_curated_solid_electrolytes()
>>> bool((df["conductivity_s_cm"] > 0).all()), "garnet" in set(df["family"])
(True, True)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError, MissingFileError

__all__ = ["CURATED_SOLID_ELECTROLYTE_COLUMNS", "curated_solid_electrolytes_path", "load_curated_solid_electrolytes"]

#: Columns of ``solid_electrolytes.csv``, in order.
CURATED_SOLID_ELECTROLYTE_COLUMNS: tuple[str, ...] = (
    "composition", "family", "conductivity_s_cm", "temperature_c", "measurement", "citation", "doi")


def curated_solid_electrolytes_path() -> Path:
    """Path of the embedded ``solid_electrolytes.csv``."""
    return Path(str(resources.files(__package__ or "voltlab.data.embedded").joinpath("solid_electrolytes.csv")))


def load_curated_solid_electrolytes() -> pd.DataFrame:
    """The curated solid-electrolyte conductivity table (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        The CSV's columns plus ``log10_conductivity_s_cm`` (log10 of S/cm).

    Raises
    ------
    MissingFileError
        The CSV is not installed with the package.
    DataFormatError
        A column is missing or a conductivity is not a positive number (the file was edited).
    """
    path = curated_solid_electrolytes_path()
    if not path.is_file():
        raise MissingFileError("the curated solid-electrolyte table is not installed; reinstall voltlab",
                               path=path)
    df = pd.read_csv(path, dtype={"composition": str, "family": str, "measurement": str, "citation": str,
                                  "doi": str})
    for col in CURATED_SOLID_ELECTROLYTE_COLUMNS:
        if col not in df.columns:
            raise DataFormatError(f"missing column {col!r} in the curated table", path=path, column=col)
    sigma = pd.to_numeric(df["conductivity_s_cm"], errors="coerce").to_numpy(dtype=np.float64)
    if not (np.isfinite(sigma) & (sigma > 0)).all():
        r = int(np.flatnonzero(~(np.isfinite(sigma) & (sigma > 0)))[0])
        raise DataFormatError("conductivity must be a positive number in S/cm", path=path, row=r,
                              column="conductivity_s_cm", value=df["conductivity_s_cm"].iloc[r])
    df["conductivity_s_cm"] = sigma
    df["log10_conductivity_s_cm"] = np.log10(sigma)
    df.attrs["source"] = f"voltlab curated table ({path.name}); one citation per row"
    return df
