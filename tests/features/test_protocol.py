"""Charging-policy parser and protocol featuriser, with hand-computed values.

Time from 0 to 80 % SOC = 60 min x (Q1/100 / C1 + (80 - Q1)/100 / C2); mean C-rate = 0.8 / hours.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

from voltlab.errors import DataFormatError
from voltlab.features import (
    PROTOCOL_FEATURES,
    ChargingPolicy,
    ChargingProtocolFeaturizer,
    parse_charging_policy,
)

# (policy, C1, Q1 %, C2, minutes to 80 % SOC, mean C-rate, max C-rate), all computed by hand
HAND = [
    # single 3.6C step: 0.8 / 3.6 h = 0.2222 h = 13.333 min; mean = 3.6
    ("3.6C(80%)-3.6C", 3.6, 80.0, 3.6, 40.0 / 3.0, 3.6, 3.6),
    # 0.4/6 + 0.4/3 = 0.0667 + 0.1333 = 0.2 h = 12 min; mean = 0.8 / 0.2 = 4
    ("6C(40%)-3C", 6.0, 40.0, 3.0, 12.0, 4.0, 6.0),
    # 0.4/5.4 + 0.4/3.6 = 0.074074 + 0.111111 = 0.185185 h = 11.1111 min; mean 0.8/0.185185 = 4.32
    ("5.4C(40%)-3.6C", 5.4, 40.0, 3.6, 100.0 / 9.0, 4.32, 5.4),
    # 0.04/1 + 0.76/6 = 0.04 + 0.126667 = 0.166667 h = 10 min; mean 4.8; max is the second step
    ("1C(4%)-6C", 1.0, 4.0, 6.0, 10.0, 4.8, 6.0),
    # 0.15/8 + 0.65/3.6 = 0.01875 + 0.180556 = 0.199306 h = 11.958333 min
    ("8C(15%)-3.6C", 8.0, 15.0, 3.6, 11.958333333333334, 0.8 / 0.19930555555555557, 8.0),
    # single step written without the second part
    ("4C", 4.0, 80.0, 4.0, 12.0, 4.0, 4.0),
]


@pytest.mark.parametrize(("text", "c1", "q1", "c2", "minutes", "mean", "cmax"), HAND)
def test_parse_hand_computed(text, c1, q1, c2, minutes, mean, cmax):
    p = parse_charging_policy(text)
    assert (p.first_c_rate, p.switch_soc_percent, p.second_c_rate) == (c1, q1, c2)
    assert p.time_to_80pct_soc_minute == pytest.approx(minutes, rel=1e-12)
    assert p.mean_c_rate == pytest.approx(mean, rel=1e-12)
    assert p.max_c_rate == pytest.approx(cmax, rel=1e-12)
    assert p.text == text


def test_single_step_ignores_second_rate():
    # Q1 = 80: C2 never applies (0.8 / 4.8 h = 10 min, whatever C2 says)
    p = parse_charging_policy("4.8C(80%)-2C")
    assert p.is_single_step
    assert p.time_to_80pct_soc_minute == pytest.approx(10.0, rel=1e-12)
    assert p.max_c_rate == 4.8
    assert not parse_charging_policy("6C(40%)-3C").is_single_step


def test_spaces_and_case_are_tolerated():
    p = parse_charging_policy("  5.4c ( 40 % ) - 3.6c ")
    assert (p.first_c_rate, p.switch_soc_percent, p.second_c_rate) == (5.4, 40.0, 3.6)


def test_policy_is_frozen_and_round_trips():
    p = parse_charging_policy("5.4C(40%)-3.6C")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.first_c_rate = 1.0  # type: ignore[misc]
    assert str(p) == "5.4C(40%)-3.6C"
    assert parse_charging_policy(str(p)).time_to_80pct_soc_minute == p.time_to_80pct_soc_minute


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"cannot parse charging policy ''.*accepted forms.*C1\(Q1%\)-C2"),
        ("fast", r"cannot parse charging policy 'fast'"),
        ("5.4C(40%)", r"cannot parse charging policy '5\.4C\(40%\)'"),
        ("5.4C(40%)-3.6C-2C", r"accepted forms"),
        ("5.4C(40)-3.6C", r"cannot parse"),
        ("0C(40%)-3.6C", r"first_c_rate must be a positive finite C-rate.*got 0\.0 in policy"),
        ("5.4C(40%)-0C", r"second_c_rate must be a positive"),
        ("5.4C(90%)-3.6C", r"switch_soc_percent must be in \(0, 80\] %, got 90\.0"),
        ("5.4C(0%)-3.6C", r"switch_soc_percent must be in \(0, 80\]"),
        ("-5.4C(40%)-3.6C", r"cannot parse"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(DataFormatError, match=match):
        parse_charging_policy(text)


def test_parse_rejects_non_strings():
    with pytest.raises(DataFormatError, match=r"must be a string, got float nan"):
        parse_charging_policy(math.nan)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match=r"must be a number"):
        ChargingPolicy("5", 40.0, 3.0)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match=r"positive finite"):
        ChargingPolicy(math.inf, 40.0, 3.0)


def test_featurizer_all_features_and_labels():
    f = ChargingProtocolFeaturizer()
    assert f.feature_labels() == list(PROTOCOL_FEATURES)
    assert f.featurize("6C(40%)-3C") == pytest.approx([6.0, 40.0, 3.0, 12.0, 4.0, 6.0], rel=1e-12)
    # a ChargingPolicy works as well as a string
    assert f.featurize(ChargingPolicy(1.0, 4.0, 6.0)) == pytest.approx([1.0, 4.0, 6.0, 10.0, 4.8, 6.0])
    assert f.citations() and "severson2019" in f.citations()[0]


def test_featurizer_subset_keeps_canonical_order():
    f = ChargingProtocolFeaturizer(["protocol_time_to_80pct_soc_minute", "protocol_first_c_rate"])
    assert f.feature_labels() == ["protocol_first_c_rate", "protocol_time_to_80pct_soc_minute"]
    df = f.featurize_many(["3.6C(80%)-3.6C", "6C(40%)-3C"], index=["a", "b"])
    assert df.loc["b"].tolist() == pytest.approx([6.0, 12.0])
    assert df.loc["a", "protocol_time_to_80pct_soc_minute"] == pytest.approx(40.0 / 3.0)


def test_featurizer_errors():
    with pytest.raises(DataFormatError, match=r"non-empty subset of .*got \['c1'\]"):
        ChargingProtocolFeaturizer(["c1"])
    with pytest.raises(DataFormatError, match=r"non-empty subset"):
        ChargingProtocolFeaturizer([])
    f = ChargingProtocolFeaturizer()
    with pytest.raises(DataFormatError, match=r"cannot parse charging policy 'CC-CV'"):
        f.featurize("CC-CV")
    df = f.featurize_many(["6C(40%)-3C", "CC-CV"], ignore_errors=True)
    assert df.iloc[1].isna().all() and 1 in df.attrs["errors"]


@pytest.mark.shared
def test_every_policy_in_severson_si_table_parses(shared_data: Path):
    path = shared_data / "severson_attia_2019_cycle_life" / "severson_et_al_SI_table9.csv"
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    table.columns = [c.strip() for c in table.columns]
    policies = sorted(set(table["Charging policy"].str.strip()))
    assert len(policies) == 68  # distinct strings in the 124-row table
    for text in policies:
        p = parse_charging_policy(text)
        # plausibility: 1-8C first steps, 3-6C second steps, 0-80 % SOC in 8-14 min (nominal)
        assert 1.0 <= p.first_c_rate <= 8.0 and 3.0 <= p.second_c_rate <= 6.0, text
        assert 8.0 < p.time_to_80pct_soc_minute < 14.0, text
        assert str(p) == text
