"""Synthetic per-cycle trajectories with a known knee, end of life and faults (for tests and demos).

Each cell fades linearly at ``a`` (fraction of initial capacity per cycle) and,
after a smooth knee at cycle ``k_knee``, at ``a + b``:

``retention(k) = 1 - a k - b tau softplus((k - k_knee) / tau)``

(``softplus(z) = log(1 + e^z)``; ``tau`` cycles set how sharp the knee is).
Capacity is ``q0 * retention`` plus Gaussian noise. Mean temperature and
internal resistance rise with the capacity lost. The true knee, the end of
life at ``eol_retention`` and the parameters are returned beside the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError

__all__ = ["synthetic_cycling_fleet", "synthetic_fade_trajectories"]


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def synthetic_fade_trajectories(
    n_cells: int = 10,
    *,
    seed: int = 0,
    n_cycles: int | None = None,
    eol_retention: float = 0.8,
    noise_retention: float = 0.002,
    knee_range: tuple[float, float] = (300.0, 900.0),
    initial_rate_range: tuple[float, float] = (2e-5, 8e-5),
    post_knee_rate_range: tuple[float, float] = (5e-4, 1.5e-3),
    knee_width_cycles: float = 15.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-cycle summaries of ``n_cells`` synthetic cells with knee-shaped fade.

    Parameters
    ----------
    n_cells
        Number of cells.
    seed
        Seed of every random draw (same seed, same data).
    n_cycles
        Cycles per cell; None = until 5 % below ``eol_retention`` (cell-specific).
    eol_retention
        End-of-life retention used for ``eol_cycle`` in the parameters table.
    noise_retention
        Standard deviation of the capacity noise, fraction of initial capacity.
    knee_range, initial_rate_range, post_knee_rate_range
        Uniform ranges of the knee cycle, the pre-knee fade rate ``a`` and the
        extra post-knee fade rate ``b`` (fraction per cycle).
    knee_width_cycles
        ``tau`` of the softplus transition, cycles.

    Returns
    -------
    table : pandas.DataFrame
        ``cell_id``, ``cycle_count`` (1-based), ``discharge_capacity_ah`` (Ah),
        ``capacity_retention`` (fraction of the noiseless initial capacity),
        ``temperature_mean_celsius`` (°C), ``internal_resistance_ohm`` (Ω).
    params : pandas.DataFrame
        Index ``cell_id``: ``q0_ah``, ``initial_rate_per_cycle``,
        ``post_knee_rate_per_cycle``, ``knee_cycle``, ``eol_cycle`` (first
        cycle whose noiseless retention is below ``eol_retention``).

    Examples
    --------
    >>> table, params = synthetic_fade_trajectories(2, seed=1, n_cycles=50)
    >>> table.shape, list(params.index)
    ((100, 6), ['syn000', 'syn001'])
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 1:
        raise DataFormatError(f"n_cells must be an integer >= 1, got {n_cells!r}", value=n_cells)
    if not 0 < eol_retention < 1:
        raise DataFormatError(f"eol_retention must be in (0, 1), got {eol_retention!r}", value=eol_retention)
    if n_cycles is not None and n_cycles < 2:
        raise DataFormatError(f"n_cycles must be >= 2 or None, got {n_cycles!r}", value=n_cycles)
    rng = np.random.default_rng(seed)
    frames = []
    rows = []
    for c in range(n_cells):
        cell = f"syn{c:03d}"
        q0 = rng.normal(1.1, 0.02)
        a = rng.uniform(*initial_rate_range)
        b = rng.uniform(*post_knee_rate_range)
        knee = rng.uniform(*knee_range)
        tau = knee_width_cycles
        horizon = int(knee + (1.0 - a * knee) / (a + b)) + 50
        k = np.arange(1, horizon + 1, dtype=np.float64)
        ret = 1.0 - a * k - b * tau * (_softplus((k - knee) / tau) - _softplus(-knee / tau))
        below = np.flatnonzero(ret < eol_retention)
        eol = int(k[below[0]]) if below.size else np.nan
        stop = n_cycles if n_cycles is not None else int(np.flatnonzero(ret < eol_retention - 0.05)[0]) + 1
        k, ret = k[:stop], ret[:stop]
        if k.size < stop:  # n_cycles beyond the horizon: extend the post-knee line
            extra = np.arange(k.size + 1, stop + 1, dtype=np.float64)
            k = np.r_[k, extra]
            ret = np.r_[ret, ret[-1] - (a + b) * (extra - extra[0] + 1)]
        lost = 1.0 - ret
        noise = rng.normal(0.0, noise_retention, k.size)
        frames.append(
            pd.DataFrame(
                {
                    "cell_id": cell,
                    "cycle_count": k.astype(np.int64),
                    "discharge_capacity_ah": q0 * (ret + noise),
                    "capacity_retention": ret + noise,
                    "temperature_mean_celsius": 30.0 + 20.0 * lost + rng.normal(0.0, 0.15, k.size),
                    "internal_resistance_ohm": 0.015 * (1.0 + 1.5 * lost) + rng.normal(0.0, 1.5e-4, k.size),
                }
            )
        )
        rows.append(
            {"cell_id": cell, "q0_ah": q0, "initial_rate_per_cycle": a, "post_knee_rate_per_cycle": b,
             "knee_cycle": knee, "eol_cycle": eol}
        )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows).set_index("cell_id")


def synthetic_cycling_fleet(
    n_cells: int = 24,
    *,
    seed: int = 0,
    window_cycles: int = 100,
    nominal_capacity_ah: float = 1.1,
    life_range_cycles: tuple[float, float] = (400.0, 1400.0),
    signal_noise: float = 0.1,
    points_per_discharge: int = 60,
    points_after_window: int = 6,
) -> tuple[list[Any], pd.DataFrame]:
    """Raw cycling time series of a fleet whose early Q(V) curves foretell its cycle life.

    Each cell is cycled at 1C (CC charge, CC discharge to 2.0 V) until its
    capacity falls below 77.5 % of nominal. Its life ``L`` (cycles to 80 % of
    ``nominal_capacity_ah``, drawn log-uniformly from ``life_range_cycles``)
    fixes a knee-shaped fade (knee at 0.75 L) and a "hidden" early signal: a
    polarisation that grows linearly with cycle number at a rate
    proportional to ``L ** -1.2`` (times log-normal noise of standard deviation
    ``signal_noise``). It shifts the discharge curve down by
    ``d(n) x`` V at depth of discharge ``x`` and so changes the shape of
    Q(V) between cycles 10 and 100 long before the capacity fades, as in
    Severson et al. (2019): log10 var ΔQ_{100-10}(V) falls linearly with
    log10 L. The discharge open-circuit curve is
    ``V0(x) = 3.40 - 0.20 x - 1.20 x^14`` V (an LFP-like plateau ending at 2.0 V).

    Cycles up to ``window_cycles + 1`` are logged with ``points_per_discharge``
    points per discharge; later cycles with ``points_after_window`` (enough for
    capacity, which is what the rest of the life needs).

    Parameters
    ----------
    n_cells
        Number of cells.
    seed
        Seed of every random draw (same seed, same fleet).
    window_cycles
        Last cycle logged at full resolution.
    nominal_capacity_ah
        Rated capacity, Ah (stored in each cell's metadata).
    life_range_cycles
        Range of cycle lives, cycles.
    signal_noise
        Log-normal noise of the early signal (0 = life is a deterministic
        function of the early curves).
    points_per_discharge, points_after_window
        Logged points per discharge in and after the early window.

    Returns
    -------
    cells : list of CyclingData
        One per cell, ids ``fleet000``..., canonical schema, batch ``"A"`` or ``"B"``
        alternating.
    params : pandas.DataFrame
        Index ``cell_id``: ``cycle_life`` (cycles to 80 % of nominal on the
        noiseless trajectory), ``knee_cycle``, ``polarisation_volt_per_cycle``,
        ``last_cycle``.

    Examples
    --------
    >>> cells, params = synthetic_cycling_fleet(2, seed=1, life_range_cycles=(150, 200), window_cycles=20)
    >>> [c.cell_id for c in cells], bool((params["cycle_life"] >= 150).all())
    (['fleet000', 'fleet001'], True)
    """
    from voltlab.data.cycling import CyclingData
    from voltlab.data.metadata import CellMetadata
    from voltlab.data.validation import finalize_timeseries

    for name, value, low in (("n_cells", n_cells, 1), ("window_cycles", window_cycles, 11),
                             ("points_per_discharge", points_per_discharge, 5),
                             ("points_after_window", points_after_window, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataFormatError(f"{name} must be an integer >= {low}, got {value!r}", value=value)
    lo, hi = (float(v) for v in life_range_cycles)
    if not (np.isfinite(lo) and np.isfinite(hi) and window_cycles + 20 < lo <= hi):
        raise DataFormatError(
            f"life_range_cycles must be (low, high) with window_cycles + 20 < low <= high, got {life_range_cycles!r}",
            value=life_range_cycles,
        )
    if not (np.isfinite(nominal_capacity_ah) and nominal_capacity_ah > 0):
        raise DataFormatError(f"nominal_capacity_ah must be > 0, got {nominal_capacity_ah!r}", value=nominal_capacity_ah)
    if not (np.isfinite(signal_noise) and signal_noise >= 0):
        raise DataFormatError(f"signal_noise must be >= 0, got {signal_noise!r}", value=signal_noise)

    rng = np.random.default_rng(seed)
    current = nominal_capacity_ah  # 1C, A
    tau = 20.0
    cells, rows = [], []
    for c in range(n_cells):
        cell_id = f"fleet{c:03d}"
        life = 10.0 ** rng.uniform(np.log10(lo), np.log10(hi))
        r0 = rng.normal(1.0, 0.004)
        knee = 0.75 * life
        a = 0.06 / life
        base = _softplus(np.array([(life - knee) / tau]))[0] - _softplus(np.array([-knee / tau]))[0]
        b = (r0 - 0.8 - a * life) / (tau * base)
        polarisation = 2.0e-4 * (life / 800.0) ** -1.2 * float(np.exp(rng.normal(0.0, signal_noise)))
        horizon = int(3 * hi)
        k = np.arange(1, horizon + 1, dtype=np.float64)
        ret = r0 - a * k - b * tau * (_softplus((k - knee) / tau) - _softplus(-knee / tau))
        below = np.flatnonzero(ret < 0.8)
        eol = float(k[below[0]]) if below.size else float("nan")
        last = int(np.flatnonzero(ret < 0.775)[0]) + 1 if (ret < 0.775).any() else horizon
        ret = ret[:last] * (1.0 + rng.normal(0.0, 5e-4, last))
        # Vectorised over cycles: every cycle logs 8 charge points and npts(n) discharge points.
        n_all = np.arange(1, last + 1)
        q = ret * nominal_capacity_ah
        d = polarisation * n_all
        dur = q / current * 3600.0
        npts = np.where(n_all <= window_cycles + 1, points_per_discharge, points_after_window)
        start = np.r_[0.0, np.cumsum(2 * dur + 120.0)[:-1]]
        xc = np.tile(np.linspace(0.0, 1.0, 8), last)
        cyc_c = np.repeat(n_all, 8)
        xd = np.concatenate([np.linspace(0.0, 1.0, m) for m in npts])
        cyc_d = np.repeat(n_all, npts)
        ic, idis = cyc_c - 1, cyc_d - 1
        v_charge = np.clip(3.40 - 0.20 * (1 - xc) - 1.20 * (1 - xc) ** 14 + 0.05 + d[ic] * (1 - xc), 2.0, 3.65)
        v_dis = np.maximum(3.40 - 0.20 * xd - 1.20 * xd**14 - 0.05 - d[idis] * xd, 1.9)
        charge = pd.DataFrame({
            "test_time_second": start[ic] + xc * dur[ic], "voltage_volt": v_charge,
            "current_ampere": np.full(xc.size, current), "cycle_count": cyc_c,
            "step_index": np.ones(xc.size, np.int64), "charging_capacity_ah": xc * q[ic],
            "discharging_capacity_ah": np.zeros(xc.size),
            "temperature_celsius": 30.0 + 2.0 * (1.0 - ret[ic]),
        })
        discharge = pd.DataFrame({
            "test_time_second": start[idis] + dur[idis] + 60.0 + xd * dur[idis], "voltage_volt": v_dis,
            "current_ampere": np.full(xd.size, -current), "cycle_count": cyc_d,
            "step_index": np.full(xd.size, 2, np.int64), "charging_capacity_ah": q[idis],
            "discharging_capacity_ah": xd * q[idis],
            "temperature_celsius": 30.0 + 2.0 * (1.0 - ret[idis]) + 1.5 * xd,
        })
        frames = pd.concat([charge, discharge], ignore_index=True)
        frames = frames.sort_values(["test_time_second"], kind="stable").reset_index(drop=True)
        ts = finalize_timeseries(frames, nominal_capacity_ah=nominal_capacity_ah)
        meta = CellMetadata(cell_id, chemistry="LFP/graphite (synthetic)", nominal_capacity_ah=nominal_capacity_ah,
                            form_factor="cylindrical", protocol="1C CC charge / 1C CC discharge to 2.0 V",
                            source=f"voltlab.models.synthetic_cycling_fleet(seed={seed})",
                            batch="A" if c % 2 == 0 else "B")
        cells.append(CyclingData(ts, meta))
        rows.append({"cell_id": cell_id, "cycle_life": eol, "knee_cycle": knee,
                     "polarisation_volt_per_cycle": polarisation, "last_cycle": last})
    return cells, pd.DataFrame(rows).set_index("cell_id")
