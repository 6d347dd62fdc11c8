"""Generate voltlab's embedded demo dataset with PyBaMM.

Four simulated LG M50 cells (NMC811 / graphite-SiOx, PyBaMM's ``OKane2022``
parameter set, 5 Ah, 21700 cylindrical) are cycled for 300 cycles each with
a CC-CV charge, a rest, a 1C CC discharge and a rest. They differ in charge
rate and ambient temperature, so their capacity fade differs:

==================  =========  ==========  ===================================
cell_id             charge     ambient     contrast
==================  =========  ==========  ===================================
``demo_0.5C_25C``   0.5C       25 degC     slow charge (longest cycles)
``demo_2C_25C``     2C         25 degC     fast charge (more self-heating)
``demo_1C_10C``     1C         10 degC     cold: slowest SEI growth
``demo_1C_45C``     1C         45 degC     hot: fastest SEI growth
==================  =========  ==========  ===================================

Model: :class:`pybamm.lithium_ion.SPM` with solvent-diffusion limited SEI
growth, partially reversible lithium plating and a lumped thermal model (the
cell heats above ambient while it is cycled), solved with the IDAKLU solver.

Ageing is accelerated by one documented override, ``SEI solvent diffusivity``
= 1.5e-19 m2/s instead of OKane2022's 2.5e-22 m2/s: with the published value
the cells lose only about 1 % in 300 cycles. Everything else is the
published parameter set. In this model the SEI grows with time and (through
an Arrhenius factor, 38 kJ/mol) with temperature; charge rate matters mostly
through cycle duration and self-heating, and plating stays small at these
temperatures, so temperature dominates the spread of fade.

Each solution is converted to voltlab's canonical columns (current positive
on charge: PyBaMM's ``Current [A]`` is positive on discharge and is
negated), capacities and energies are integrated at full solver resolution
within each cycle, and each step is then downsampled to a few points chosen
evenly along the step's normalised (time, voltage, current) arc length,
always keeping the first and last point of each step. Tables are written as
zstd-compressed Parquet (float32 except time), one file per cell, plus
``cells.json`` with the provenance.

Run::

    python -m voltlab.data.embedded.generate_demo            # all cells, 300 cycles
    python -m voltlab.data.embedded.generate_demo --cycles 20 --out-dir /tmp/demo

PyBaMM (``pip install voltlab[sim]``) is needed only to run this module;
loading the embedded files (:func:`voltlab.data.embedded.demo_cells`) is not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DependencyError, VoltlabError

__all__ = [
    "CELLS",
    "GENERATOR_COMMAND",
    "MODEL_OPTIONS",
    "N_CYCLES",
    "PARAMETER_OVERRIDES",
    "PARAMETER_SET",
    "POINTS_PER_STEP",
    "STORAGE_DTYPES",
    "STORAGE_RESOLUTION",
    "DemoCell",
    "cell_by_id",
    "downsample_indices",
    "main",
    "nominal_capacity_ah",
    "parameter_values",
    "protocol_steps",
    "simulate_cell",
    "to_storage_table",
    "write_demo",
]

GENERATOR_COMMAND = "python -m voltlab.data.embedded.generate_demo"
SOURCE = "generated with PyBaMM by voltlab's generate_demo.py"
DESCRIPTION = "voltlab embedded demo dataset: PyBaMM-simulated ageing of four LG M50 cells (see generate_demo.py)"
CHEMISTRY = "NMC811/graphite-SiOx (PyBaMM OKane2022)"
FORM_FACTOR = "cylindrical"  # LG M50, 21700

N_CYCLES = 300
"""Cycles simulated per cell."""

PARAMETER_SET = "OKane2022"
MODEL_NAME = "SPM"
MODEL_OPTIONS: dict[str, str] = {
    "SEI": "solvent-diffusion limited",
    "lithium plating": "partially reversible",
    "thermal": "lumped",
}
PARAMETER_OVERRIDES: dict[str, float] = {
    # OKane2022 uses 2.5e-22 m2/s (about 1 % fade in 300 cycles); 600x gives
    # roughly 7-15 % over 300 cycles, within the range of reported fits.
    "SEI solvent diffusivity [m2.s-1]": 1.5e-19,
}
DISCHARGE_C_RATE = 1.0
UPPER_VOLTAGE_V = 4.2
LOWER_VOLTAGE_V = 2.5
REST_MINUTES = 10

POINTS_PER_STEP: tuple[int, ...] = (36, 24, 6, 40, 6)
"""Rows kept per step of a cycle (CC charge, CV hold, rest, CC discharge, rest)."""

STORAGE_DTYPES: dict[str, str] = {
    "test_time_second": "float64",  # up to ~4e6 s: float32 would round to 0.25-0.5 s
    "voltage_volt": "float32",
    "current_ampere": "float32",
    "cycle_count": "int16",
    "step_index": "int8",
    "charging_capacity_ah": "float32",
    "discharging_capacity_ah": "float32",
    "charging_energy_wh": "float32",
    "discharging_energy_wh": "float32",
    "temperature_celsius": "float32",
    "ambient_temperature_celsius": "float32",
}
"""Column dtypes in the Parquet files (the loader casts back to the schema's float64/int64)."""

STORAGE_RESOLUTION: dict[str, float] = {
    "test_time_second": 2.0**-8,  # 3.9 ms
    "voltage_volt": 2.0**-15,  # 31 uV
    "current_ampere": 2.0**-16,  # 15 uA
    "charging_capacity_ah": 2.0**-17,  # 7.6 uAh
    "discharging_capacity_ah": 2.0**-17,
    "charging_energy_wh": 2.0**-15,  # 31 uWh
    "discharging_energy_wh": 2.0**-15,
    "temperature_celsius": 2.0**-10,  # 1 mK
}
"""Values are rounded to these power-of-two steps (in the column's unit) before storage.

The rounded values are exact in the storage dtype and their trailing
mantissa bits are zero, which roughly halves the compressed size; every step
is far below what the demo is used for (voltage needs ~0.1 mV).
"""


@dataclass(frozen=True, slots=True)
class DemoCell:
    """Protocol and conditions of one simulated demo cell.

    Attributes
    ----------
    cell_id
        voltlab cell id (also the Parquet file stem).
    charge_c_rate
        Constant-current charge rate, in C (1C = 5 A for the 5 Ah LG M50).
    ambient_celsius
        Ambient (chamber) temperature, in degC; also the initial cell
        temperature.
    """

    cell_id: str
    charge_c_rate: float
    ambient_celsius: float


CELLS: tuple[DemoCell, ...] = (
    DemoCell("demo_0.5C_25C", 0.5, 25.0),
    DemoCell("demo_2C_25C", 2.0, 25.0),
    DemoCell("demo_1C_10C", 1.0, 10.0),
    DemoCell("demo_1C_45C", 1.0, 45.0),
)


def cell_by_id(cell_id: str) -> DemoCell:
    """Return the demo cell definition named ``cell_id``.

    Raises
    ------
    KeyError
        If no demo cell has that id.
    """
    for cell in CELLS:
        if cell.cell_id == cell_id:
            return cell
    raise KeyError(f"no demo cell {cell_id!r}; known: {[c.cell_id for c in CELLS]}")


def _c(rate: float) -> str:
    return f"{rate:g}C"


def protocol_steps(cell: DemoCell) -> list[str]:
    """PyBaMM experiment step strings of one cycle of ``cell``.

    Returns
    -------
    list of str
        CC charge to 4.2 V, CV hold at 4.2 V to C/20, rest, CC discharge at
        1C to 2.5 V, rest.

    Examples
    --------
    >>> protocol_steps(CELLS[0])[:2]
    ['Charge at 0.5C until 4.2 V', 'Hold at 4.2 V until C/20']
    """
    return [
        f"Charge at {_c(cell.charge_c_rate)} until {UPPER_VOLTAGE_V:g} V",
        f"Hold at {UPPER_VOLTAGE_V:g} V until C/20",
        f"Rest for {REST_MINUTES} minutes",
        f"Discharge at {_c(DISCHARGE_C_RATE)} until {LOWER_VOLTAGE_V:g} V",
        f"Rest for {REST_MINUTES} minutes",
    ]


def _import_pybamm() -> Any:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError(
            "generating the demo dataset needs PyBaMM: pip install 'voltlab[sim]' "
            "(pybamm and pybammsolvers)"
        ) from exc
    return pybamm


def parameter_values(cell: DemoCell) -> Any:
    """PyBaMM parameter values of ``cell``: OKane2022, the overrides and its temperature."""
    pybamm = _import_pybamm()
    pv = pybamm.ParameterValues(PARAMETER_SET)
    kelvin = 273.15 + cell.ambient_celsius
    pv.update(
        {
            **PARAMETER_OVERRIDES,
            "Ambient temperature [K]": kelvin,
            "Initial temperature [K]": kelvin,
        }
    )
    return pv


def nominal_capacity_ah() -> float:
    """Nominal capacity of the parameter set, in Ah."""
    pybamm = _import_pybamm()
    return float(pybamm.ParameterValues(PARAMETER_SET)["Nominal cell capacity [A.h]"])


def downsample_indices(
    t: np.ndarray, v: np.ndarray, i: np.ndarray, n_points: int
) -> np.ndarray:
    """Indices of about ``n_points`` rows spread along a step's curve.

    Rows are chosen evenly along the arc length of the curve in normalised
    coordinates (time / step duration, voltage / voltage span, current /
    current span), so that knees (end of discharge, start of a rest) keep
    more points than flat stretches. The first and last rows are always kept.

    Parameters
    ----------
    t, v, i
        Time (s), voltage (V) and current (A) of the step, shape (n,).
    n_points
        Target number of rows (at least 2).

    Returns
    -------
    numpy.ndarray
        Sorted unique integer indices into the step, at most ``n_points``.

    Examples
    --------
    >>> t = np.linspace(0, 100, 1001)
    >>> idx = downsample_indices(t, 4 - t / 100, np.ones_like(t), 11)
    >>> idx[[0, -1]].tolist(), len(idx)
    ([0, 1000], 11)
    """
    n = t.shape[0]
    if n <= n_points:
        return np.arange(n)
    # Spans have floors (1 mV, 1 mA, 1 ms) so a flat signal adds no noise-driven length.
    span_t = max(float(t[-1] - t[0]), 1e-3)
    span_v = max(float(np.ptp(v)), 1e-3)
    span_i = max(float(np.ptp(i)), 1e-3)
    ds = np.sqrt((np.diff(t) / span_t) ** 2 + (np.diff(v) / span_v) ** 2 + (np.diff(i) / span_i) ** 2)
    s = np.concatenate(([0.0], np.cumsum(ds)))
    targets = np.linspace(0.0, s[-1], n_points)
    idx = np.clip(np.searchsorted(s, targets), 0, n - 1)
    idx[0], idx[-1] = 0, n - 1
    return np.unique(idx)


def _cumulative_within_cycle(y: np.ndarray, t: np.ndarray, new_cycle: np.ndarray) -> np.ndarray:
    """Trapezoidal integral of ``y`` over ``t`` (s) restarted at each new cycle, divided by 3600."""
    dt = np.diff(t, prepend=t[0])
    inc = 0.5 * (y + np.roll(y, 1)) * dt
    inc[new_cycle] = 0.0
    total = np.cumsum(inc)
    starts = np.flatnonzero(new_cycle)
    offset = np.repeat(total[starts], np.diff(np.append(starts, t.shape[0])))
    return (total - offset) / 3600.0


def simulate_cell(
    cell: DemoCell,
    n_cycles: int = N_CYCLES,
    points_per_step: tuple[int, ...] | None = POINTS_PER_STEP,
    period_second: float | None = None,
) -> pd.DataFrame:
    """Simulate ``cell`` for ``n_cycles`` cycles and return the downsampled canonical table.

    Parameters
    ----------
    cell
        Which cell (protocol and ambient temperature).
    n_cycles
        Number of cycles. The first cycles do not depend on ``n_cycles``,
        so a short run reproduces the start of a long one.
    points_per_step
        Rows kept per step of a cycle (see :func:`downsample_indices`);
        ``None`` keeps every solver output point. Capacities and energies
        are integrated at full resolution either way.
    period_second
        Output interval of the solution, s (PyBaMM's experiment ``period``);
        ``None`` (the default, used for the embedded files) reports the
        solver's own adaptive time points, whose density depends on the
        platform. A fixed period gives the same output times everywhere,
        interpolated from the solver's dense output.

    Returns
    -------
    pandas.DataFrame
        float64/int64 columns ``test_time_second`` (s), ``voltage_volt`` (V),
        ``current_ampere`` (A, positive = charge), ``cycle_count`` (from 1),
        ``step_index`` (1-5 within the cycle), ``charging_capacity_ah``,
        ``discharging_capacity_ah`` (Ah), ``charging_energy_wh``,
        ``discharging_energy_wh`` (Wh), all cumulative within the cycle,
        ``temperature_celsius`` (degC, lumped cell temperature) and
        ``ambient_temperature_celsius`` (degC).

    Raises
    ------
    DependencyError
        If PyBaMM is not installed.
    VoltlabError
        If the solver fails or stops before ``n_cycles`` complete cycles.
    """
    if n_cycles < 1:
        raise ValueError(f"n_cycles must be >= 1, got {n_cycles}")
    pybamm = _import_pybamm()
    steps = protocol_steps(cell)
    model = getattr(pybamm.lithium_ion, MODEL_NAME)(dict(MODEL_OPTIONS))
    if period_second is not None and not (np.isfinite(period_second) and period_second > 0):
        raise ValueError(f"period_second must be a positive number of seconds, got {period_second!r}")
    experiment = pybamm.Experiment(
        [tuple(steps)] * n_cycles,
        **({} if period_second is None else {"period": f"{period_second:g} seconds"}),
    )
    sim = pybamm.Simulation(
        model,
        parameter_values=parameter_values(cell),
        experiment=experiment,
        solver=pybamm.IDAKLUSolver(),
    )
    try:
        sol = sim.solve(initial_soc=0.0)
    except pybamm.SolverError as exc:
        raise VoltlabError(f"PyBaMM failed to simulate demo cell {cell.cell_id}: {exc}") from exc
    complete = [c for c in sol.cycles if c is not None and len(c.steps) == len(steps)]
    if len(complete) < n_cycles:
        raise VoltlabError(
            f"PyBaMM stopped demo cell {cell.cell_id} after {len(complete)} of {n_cycles} complete "
            f"cycles (termination: {sol.termination!r}); weaken the ageing overrides or use fewer cycles"
        )

    # Whole-solution arrays, split into steps by the lengths of the step sub-solutions.
    lengths = [len(s.t) for c in complete for s in c.steps]
    n_rows = sum(lengths)
    t = np.asarray(sol["Time [s]"].entries, dtype=np.float64)[:n_rows]
    v = np.asarray(sol["Voltage [V]"].entries, dtype=np.float64)[:n_rows]
    # PyBaMM: + = discharge; "0.0 -" (not unary minus) keeps rests at +0.0 rather than -0.0.
    i = 0.0 - np.asarray(sol["Current [A]"].entries, dtype=np.float64)[:n_rows]
    temp = np.asarray(sol["Volume-averaged cell temperature [C]"].entries, dtype=np.float64)[:n_rows]
    n_steps = len(steps)
    step_no = np.repeat(np.tile(np.arange(1, n_steps + 1), n_cycles), lengths)
    cycle_no = np.repeat(np.repeat(np.arange(1, n_cycles + 1), n_steps), lengths)

    new_cycle = np.ones(n_rows, dtype=bool)
    new_cycle[1:] = cycle_no[1:] != cycle_no[:-1]
    i_chg = np.clip(i, 0.0, None)
    i_dis = np.clip(-i, 0.0, None)
    full = {
        "charging_capacity_ah": _cumulative_within_cycle(i_chg, t, new_cycle),
        "discharging_capacity_ah": _cumulative_within_cycle(i_dis, t, new_cycle),
        "charging_energy_wh": _cumulative_within_cycle(i_chg * v, t, new_cycle),
        "discharging_energy_wh": _cumulative_within_cycle(i_dis * v, t, new_cycle),
    }

    if points_per_step is None:
        rows = np.arange(n_rows)
    else:
        if len(points_per_step) != n_steps:
            raise ValueError(f"points_per_step needs {n_steps} entries, got {points_per_step!r}")
        keep: list[np.ndarray] = []
        start = 0
        for k, length in enumerate(lengths):
            sl = slice(start, start + length)
            n_pts = points_per_step[k % n_steps]
            keep.append(start + downsample_indices(t[sl], v[sl], i[sl], n_pts))
            start += length
        rows = np.concatenate(keep)

    return pd.DataFrame(
        {
            "test_time_second": t[rows] - t[0],
            "voltage_volt": v[rows],
            "current_ampere": i[rows],
            "cycle_count": cycle_no[rows].astype(np.int64),
            "step_index": step_no[rows].astype(np.int64),
            **{name: col[rows] for name, col in full.items()},
            "temperature_celsius": temp[rows],
            "ambient_temperature_celsius": np.full(rows.shape[0], cell.ambient_celsius),
        }
    )


def to_storage_table(df: pd.DataFrame) -> Any:
    """Convert a table from :func:`simulate_cell` to a compact :class:`pyarrow.Table`.

    Values are rounded to :data:`STORAGE_RESOLUTION` and cast to
    :data:`STORAGE_DTYPES` (float32 except time, which needs float64 for
    millisecond resolution over ~1000 h).

    Parameters
    ----------
    df
        Canonical table with the columns of :data:`STORAGE_DTYPES`.

    Returns
    -------
    pyarrow.Table
        The columns of :data:`STORAGE_DTYPES`, in that order.
    """
    import pyarrow as pa

    arrays = {}
    for name, dtype in STORAGE_DTYPES.items():
        x = df[name].to_numpy()
        step = STORAGE_RESOLUTION.get(name)
        if step is not None:
            x = np.round(x.astype(np.float64) / step) * step
        arrays[name] = pa.array(x.astype(dtype))
    return pa.table(arrays)


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    floats = [f.name for f in table.schema if str(f.type).startswith(("float", "double"))]
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=["cycle_count", "step_index", "ambient_temperature_celsius"],
        use_byte_stream_split=floats,
        write_statistics=False,
    )


def _discharge_capacities(df: pd.DataFrame) -> np.ndarray:
    return df.groupby("cycle_count")["discharging_capacity_ah"].max().to_numpy()


def _generate_one(cell: DemoCell, n_cycles: int, out_dir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    df = simulate_cell(cell, n_cycles)
    path = out_dir / f"{cell.cell_id}.parquet"
    _write_parquet(to_storage_table(df), path)
    q = _discharge_capacities(df)
    return {
        "cell_id": cell.cell_id,
        "rows": len(df),
        "seconds": round(time.perf_counter() - t0, 1),
        "first_discharge_capacity_ah": round(float(q[0]), 4),
        "last_discharge_capacity_ah": round(float(q[-1]), 4),
        "capacity_fade_percent": round(float(100.0 * (1.0 - q[-1] / q[0])), 2),
    }


def write_demo(
    out_dir: str | os.PathLike[str] | None = None,
    n_cycles: int = N_CYCLES,
    cells: tuple[DemoCell, ...] = CELLS,
    jobs: int = 1,
    command: str = GENERATOR_COMMAND,
) -> dict[str, Any]:
    """Simulate ``cells`` and write their Parquet files and ``cells.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir
        Target folder (created); default: the package's ``embedded/demo``.
    n_cycles
        Cycles per cell.
    cells
        Cells to generate.
    jobs
        Worker processes (cells are independent).
    command
        Command line recorded in ``cells.json``.

    Returns
    -------
    dict
        The content written to ``cells.json``.

    Raises
    ------
    DependencyError
        If PyBaMM is not installed.
    VoltlabError
        If a simulation fails or stops early.
    """
    pybamm = _import_pybamm()
    from voltlab.data.metadata import file_sha256

    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent / "demo"
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and len(cells) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(cells))) as pool:
            results = list(pool.map(_generate_one, cells, [n_cycles] * len(cells), [out] * len(cells)))
    else:
        results = [_generate_one(c, n_cycles, out) for c in cells]

    capacity = nominal_capacity_ah()
    records = []
    for cell, res in zip(cells, results, strict=True):
        path = out / f"{cell.cell_id}.parquet"
        records.append(
            {
                "cell_id": cell.cell_id,
                "file": path.name,
                "sha256": file_sha256(path),
                "chemistry": CHEMISTRY,
                "nominal_capacity_ah": capacity,
                "form_factor": FORM_FACTOR,
                "protocol": protocol_steps(cell),
                "charge_c_rate": cell.charge_c_rate,
                "discharge_c_rate": DISCHARGE_C_RATE,
                "ambient_temperature_celsius": cell.ambient_celsius,
                "n_cycles": n_cycles,
                "rows": res["rows"],
                "capacity_fade_percent": res["capacity_fade_percent"],
                "first_discharge_capacity_ah": res["first_discharge_capacity_ah"],
                "last_discharge_capacity_ah": res["last_discharge_capacity_ah"],
                "model": f"pybamm.lithium_ion.{MODEL_NAME}",
                "model_options": dict(MODEL_OPTIONS),
                "parameter_set": PARAMETER_SET,
                "parameter_overrides": dict(PARAMETER_OVERRIDES),
                "initial_soc": 0.0,
                "solver": "IDAKLUSolver",
                "pybamm_version": pybamm.__version__,
                "generator": command,
                "source": SOURCE,
            }
        )
    content = {"description": DESCRIPTION, "cells": records}
    (out / "cells.json").write_text(json.dumps(content, indent=2) + "\n")
    for res in results:
        print(
            f"{res['cell_id']}: {res['rows']} rows, fade {res['capacity_fade_percent']} % "
            f"({res['first_discharge_capacity_ah']} -> {res['last_discharge_capacity_ah']} Ah), "
            f"{res['seconds']} s",
            file=sys.stderr,
        )
    return content


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog=GENERATOR_COMMAND, description="Simulate voltlab's embedded demo cells with PyBaMM."
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="output folder (default: the package's demo/)")
    parser.add_argument("--cycles", type=int, default=N_CYCLES, help=f"cycles per cell (default {N_CYCLES})")
    parser.add_argument(
        "--cell", action="append", choices=[c.cell_id for c in CELLS], help="only this cell (repeatable)"
    )
    parser.add_argument("--jobs", type=int, default=min(len(CELLS), os.cpu_count() or 1), help="worker processes")
    args = parser.parse_args(args_list)
    cells = tuple(cell_by_id(c) for c in args.cell) if args.cell else CELLS
    command = " ".join([GENERATOR_COMMAND, *args_list])
    t0 = time.perf_counter()
    write_demo(args.out_dir, args.cycles, cells, jobs=args.jobs, command=command)
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
