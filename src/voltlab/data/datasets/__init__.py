"""Loaders for public battery data sets (NASA PCoE, Severson et al., OBELiX, MP electrodes, doped NCM).

The data are not shipped with voltlab: each loader takes the path of the
files as published (or the common CSV conversions) and raises a
:class:`~voltlab.errors.MissingFileError` saying where to download them when
a path does not exist. The Materials Project can also be asked directly
(:func:`fetch_mp_insertion_electrodes`, :func:`fetch_mp_summary`) when
``$MP_API_KEY`` is set; nothing is downloaded otherwise.
"""

from __future__ import annotations

from voltlab.data.datasets.materials import (
    load_doped_ncm,
    load_liverpool_ionics,
    load_mp_insertion_electrodes,
    load_obelix,
    load_obelix_structures,
    read_obelix_cifs,
    read_obelix_table,
)
from voltlab.data.datasets.mp_api import (
    MaterialsProjectClient,
    fetch_mp_insertion_electrodes,
    fetch_mp_summary,
)
from voltlab.data.datasets.nasa import (
    NasaPcoeMat,
    load_nasa_pcoe,
    load_nasa_pcoe_mat,
    load_nasa_pcoe_summary,
)
from voltlab.data.datasets.per_cycle import load_per_cycle_table
from voltlab.data.datasets.severson import (
    SeversonBatch,
    SeversonDataset,
    load_severson_batch1_summary,
    load_severson_batch_mat,
    load_severson_qdlin,
)

__all__ = [
    "MaterialsProjectClient",
    "NasaPcoeMat",
    "SeversonBatch",
    "SeversonDataset",
    "fetch_mp_insertion_electrodes",
    "fetch_mp_summary",
    "load_doped_ncm",
    "load_liverpool_ionics",
    "load_mp_insertion_electrodes",
    "load_nasa_pcoe",
    "load_nasa_pcoe_mat",
    "load_nasa_pcoe_summary",
    "load_obelix",
    "load_obelix_structures",
    "load_per_cycle_table",
    "load_severson_batch1_summary",
    "load_severson_batch_mat",
    "load_severson_qdlin",
    "read_obelix_cifs",
    "read_obelix_table",
]
