"""Cycling data: schema, readers, per-cycle summaries, curves, cleaning, store and splits.

The public API of the data stage; see each module for details and units.
"""

from __future__ import annotations

from voltlab.data.cleaning import CleaningResult, OutlierOptions, clean_cycles, flag_cycles
from voltlab.data.curves import dqdv, qv_curves, voltage_grid
from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata, file_sha256
from voltlab.data.readers import available_formats, detect_format, read_cycler_file
from voltlab.data.readers.bdf import write_bdf
from voltlab.data.readers.generic import read_generic
from voltlab.data.repair import repair_time
from voltlab.data.store import IngestReport, Store
from voltlab.data.summary import SummaryOptions, add_retention, cycle_summary
from voltlab.data.validation import ValidationLimits, validate_timeseries

__all__ = [
    "CellMetadata",
    "CleaningResult",
    "CyclingData",
    "IngestReport",
    "OutlierOptions",
    "Store",
    "SummaryOptions",
    "ValidationLimits",
    "add_retention",
    "available_formats",
    "clean_cycles",
    "cycle_summary",
    "detect_format",
    "dqdv",
    "file_sha256",
    "flag_cycles",
    "qv_curves",
    "read_cycler_file",
    "read_generic",
    "repair_time",
    "validate_timeseries",
    "voltage_grid",
    "write_bdf",
]
