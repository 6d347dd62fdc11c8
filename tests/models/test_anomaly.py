"""Anomalous cycles: injected capacity dips, temperature spikes and resistance jumps are found."""

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import DataFormatError, NotFittedError, SchemaError
from voltlab.models.anomaly import CycleAnomalyDetector, trajectory_residuals
from voltlab.models.synthetic import synthetic_fade_trajectories

COLUMNS = ["discharge_capacity_ah", "temperature_mean_celsius", "internal_resistance_ohm"]


def _inject(table: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cell: 3 capacity dips (-3 %), 3 temperature spikes (+3 degC), 2 resistance jumps (+10 %, kept).

    Noise of the synthetic data: capacity 0.2 %, temperature 0.15 degC, resistance ~0.8 %, so the
    faults are 10-20 standard deviations: clear faults, not borderline ones.
    """
    rng = np.random.default_rng(seed)
    out = table.copy()
    events = []
    for cell, rows in out.groupby("cell_id"):
        idx = rows.index.to_numpy()
        picks = np.sort(rng.choice(np.arange(30, idx.size - 30), size=8, replace=False))
        for p, kind in zip(picks, rng.permutation(["dip"] * 3 + ["temp"] * 3 + ["res"] * 2), strict=True):
            if kind == "dip":
                out.loc[idx[p], "discharge_capacity_ah"] *= 0.97
            elif kind == "temp":
                out.loc[idx[p], "temperature_mean_celsius"] += 3.0
            else:
                out.loc[idx[p:], "internal_resistance_ohm"] *= 1.10
            events.append({"cell_id": cell, "cycle_count": int(out.loc[idx[p], "cycle_count"]), "kind": kind})
    return out, pd.DataFrame(events)


def _recall_precision(flags: pd.DataFrame, events: pd.DataFrame, tol: int = 2) -> tuple[float, float, dict]:
    """Event found if flagged at its cycle or up to ``tol`` after; a flag is true if it follows an event so."""
    hits = flags[flags["is_anomaly"]]
    found = []
    for ev in events.itertuples():
        near = hits[(hits["cell_id"] == ev.cell_id) & hits["cycle_count"].between(ev.cycle_count, ev.cycle_count + tol)]
        found.append(len(near) > 0)
    events = events.assign(found=found)
    true_flag = [
        ((events["cell_id"] == h.cell_id) & (h.cycle_count - events["cycle_count"]).between(0, tol)).any()
        for h in hits.itertuples()
    ]
    return float(np.mean(found)), float(np.mean(true_flag)), events.groupby("kind")["found"].mean().to_dict()


@pytest.fixture(scope="module")
def fleets():
    train, _ = synthetic_fade_trajectories(6, seed=10, knee_range=(300.0, 500.0))
    test, _ = synthetic_fade_trajectories(6, seed=11, knee_range=(300.0, 500.0))
    return train, test


@pytest.mark.parametrize("train_has_faults", [True, False])
def test_injected_faults_are_found_with_few_false_alarms(fleets, train_has_faults):
    train, test = fleets
    if train_has_faults:
        train, _ = _inject(train, seed=1)
    test, events = _inject(test, seed=2)
    assert len(events) == 48
    det = CycleAnomalyDetector(COLUMNS, contamination=0.02, random_state=0).fit(train)
    flags = det.flag(test)
    recall, precision, by_kind = _recall_precision(flags, events)
    assert recall >= 0.95, by_kind
    assert precision >= 0.85
    assert min(by_kind.values()) >= 0.9
    # explanations point at the right signal
    merged = events.merge(flags, on=["cell_id", "cycle_count"])
    expected = {"dip": "discharge_capacity_ah", "temp": "temperature_mean_celsius", "res": "internal_resistance_ohm"}
    right = [row.driver.startswith(expected[row.kind]) for row in merged.itertuples()]
    assert np.mean(right) >= 0.9
    assert (det.predict(test) == -1).sum() == flags["is_anomaly"].sum()


def test_clean_fleet_raises_few_alarms(fleets):
    train, test = fleets
    det = CycleAnomalyDetector(COLUMNS, contamination=0.02).fit(train)
    rate = det.flag(test)["is_anomaly"].mean()
    assert rate < 0.01  # the min_z floor keeps the forest's 2 % tail of normal cycles unflagged


def test_residual_is_against_the_past_only():
    # a step from 1.0 to 1.5 at cycle 31: the residual at 31 is 0.5 / scale; the cycles before are ~0
    k = np.arange(1, 61)
    rng = np.random.default_rng(0)
    r = np.where(k < 31, 1.0, 1.5) + rng.normal(0, 0.01, k.size)
    t = pd.DataFrame({"cell_id": "a", "cycle_count": k, "r": r})
    z = trajectory_residuals(t, ["r"], window=10)
    assert z.loc[30, "r_residual_z"] > 20
    assert z.loc[30, "r_step_z"] > 20
    assert np.abs(z.loc[5:29, "r_residual_z"]).max() < 5
    assert (z.loc[:3, "r_residual_z"] == 0).all()  # fewer than min_history=5 cycles: not judged


def test_rows_in_any_order_and_index_kept():
    table, _ = synthetic_fade_trajectories(2, seed=0, n_cycles=80)
    shuffled = table.sample(frac=1.0, random_state=0)
    a = trajectory_residuals(table, COLUMNS)
    b = trajectory_residuals(shuffled, COLUMNS).loc[table.index]
    pd.testing.assert_frame_equal(a, b)


def test_errors():
    table, _ = synthetic_fade_trajectories(1, seed=0, n_cycles=100)
    with pytest.raises(NotFittedError, match="call fit first"):
        CycleAnomalyDetector(COLUMNS).flag(table)
    with pytest.raises(SchemaError, match="cell_column="):
        CycleAnomalyDetector(COLUMNS, cell_column="battery").fit(table)
    with pytest.raises(SchemaError, match="not in the table"):
        CycleAnomalyDetector(["voltage_volt"]).fit(table)
    with pytest.raises(DataFormatError, match="contamination"):
        CycleAnomalyDetector(COLUMNS, contamination=0.7).fit(table)
    with pytest.raises(DataFormatError, match="at least 40 cycles"):
        CycleAnomalyDetector(COLUMNS).fit(table.head(10))
    dup = pd.concat([table.head(50), table.head(1)])
    with pytest.raises(DataFormatError, match="duplicate cycle"):
        trajectory_residuals(dup, COLUMNS)
