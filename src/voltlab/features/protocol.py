"""Charging-protocol features: the fast-charge policy as numbers (design inputs, not measurements).

The Severson et al. (2019) cells were charged from 0 % to 80 % state of
charge (SOC) in two constant-current steps, then 1C CC-CV to 3.6 V. Their
policy is written ``"C1(Q1%)-C2"``: C-rate ``C1`` from 0 % to ``Q1`` % SOC,
then ``C2`` from ``Q1`` % to 80 % SOC (``"3.6C(80%)-3.6C"`` is a single
3.6C step; ``"5.4C(40%)-3.6C"`` is 5.4C to 40 % then 3.6C to 80 %).

The policy is chosen before the test starts, so features derived from it are
legitimate inputs of an early-life model (no information from the cycling
itself). They are kept apart from Severson's pure-cycling feature sets
(:class:`~voltlab.features.cycling.SeversonFeaturizer`): report models that
use them as "protocol features".

:func:`parse_charging_policy`
    ``"C1(Q1%)-C2"`` (or a single ``"C1"``) -> :class:`ChargingPolicy`.
:class:`ChargingPolicy`
    C-rates (units of C, i.e. 1/h relative to the nominal capacity), switch
    SOC (%), and the nominal time to 80 % SOC (min), mean and max C-rate.
:class:`ChargingProtocolFeaturizer`
    Those numbers as a feature vector (matminer protocol).

SOC here is the charge passed divided by the nominal capacity (1.1 Ah for the
A123 cells), starting from 0 % at the end of discharge; the time to 80 % SOC
is the nominal one implied by the C-rates, Σ ΔSOC_i / C_i (ΔSOC as a
fraction, C_i in 1/h), converted to minutes, not a measured time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from voltlab.errors import DataFormatError
from voltlab.features.base import BaseFeaturizer
from voltlab.features.cycling import SEVERSON_BIBTEX

__all__ = [
    "PROTOCOL_FEATURES",
    "ChargingPolicy",
    "ChargingProtocolFeaturizer",
    "parse_charging_policy",
]

#: SOC at which the fast-charge steps of the Severson policies end, %.
FAST_CHARGE_END_SOC_PERCENT = 80.0

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_TWO_STEP = re.compile(rf"{_NUMBER}\s*C\s*\(\s*{_NUMBER}\s*%\s*\)\s*-\s*{_NUMBER}\s*C", re.IGNORECASE)
_ONE_STEP = re.compile(rf"{_NUMBER}\s*C", re.IGNORECASE)
_ACCEPTED = ("'C1(Q1%)-C2' (e.g. '5.4C(40%)-3.6C': C1 from 0 to Q1 % SOC, C2 from Q1 to 80 % SOC; "
             "0 < Q1 <= 80) or a single 'C1' (e.g. '4C': C1 from 0 to 80 % SOC)")


@dataclass(frozen=True, slots=True)
class ChargingPolicy:
    """A two-step fast-charge policy from 0 % to 80 % SOC (Severson et al. 2019 form).

    Attributes
    ----------
    first_c_rate
        C1, C-rate of the first step, units of C (1/h relative to the nominal
        capacity), > 0.
    switch_soc_percent
        Q1, SOC at which the current switches from C1 to C2, %, in (0, 80].
        80 means a single step at C1.
    second_c_rate
        C2, C-rate from Q1 to 80 % SOC, units of C, > 0 (irrelevant to the
        charge when Q1 = 80; kept as written).
    text
        The policy string it was parsed from (``""`` when built directly).

    Raises
    ------
    DataFormatError
        A C-rate that is not a positive finite number, or Q1 outside (0, 80].

    Examples
    --------
    >>> p = ChargingPolicy(6.0, 40.0, 3.0)
    >>> round(p.time_to_80pct_soc_minute, 6), round(p.mean_c_rate, 6), p.max_c_rate
    (12.0, 4.0, 6.0)
    """

    first_c_rate: float
    switch_soc_percent: float
    second_c_rate: float
    text: str = ""

    def __post_init__(self) -> None:
        for name in ("first_c_rate", "second_c_rate", "switch_soc_percent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DataFormatError(f"{name} must be a number, got {value!r}", value=value)
            object.__setattr__(self, name, float(value))
        for name in ("first_c_rate", "second_c_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise DataFormatError(
                    f"{name} must be a positive finite C-rate (units of C), got {value!r}"
                    + (f" in policy {self.text!r}" if self.text else ""), value=value,
                )
        q1 = self.switch_soc_percent
        if not (math.isfinite(q1) and 0.0 < q1 <= FAST_CHARGE_END_SOC_PERCENT):
            raise DataFormatError(
                f"switch_soc_percent must be in (0, {FAST_CHARGE_END_SOC_PERCENT:g}] %, got {q1!r}"
                + (f" in policy {self.text!r}" if self.text else "")
                + "; the fast-charge steps end at 80 % SOC", value=q1,
            )

    @property
    def is_single_step(self) -> bool:
        """True when Q1 = 80 % (one constant current from 0 to 80 % SOC)."""
        return self.switch_soc_percent == FAST_CHARGE_END_SOC_PERCENT

    @property
    def time_to_80pct_soc_minute(self) -> float:
        """Nominal time from 0 % to 80 % SOC, min: 60 (Q1/100 / C1 + (80 - Q1)/100 / C2)."""
        q1 = self.switch_soc_percent / 100.0
        rest = FAST_CHARGE_END_SOC_PERCENT / 100.0 - q1
        hours = q1 / self.first_c_rate + (rest / self.second_c_rate if rest > 0 else 0.0)
        return 60.0 * hours

    @property
    def mean_c_rate(self) -> float:
        """Time-averaged C-rate from 0 % to 80 % SOC, units of C: 0.8 / (time to 80 % in h)."""
        return (FAST_CHARGE_END_SOC_PERCENT / 100.0) / (self.time_to_80pct_soc_minute / 60.0)

    @property
    def max_c_rate(self) -> float:
        """Highest C-rate applied between 0 % and 80 % SOC, units of C."""
        return self.first_c_rate if self.is_single_step else max(self.first_c_rate, self.second_c_rate)

    def __str__(self) -> str:
        return f"{self.first_c_rate:g}C({self.switch_soc_percent:g}%)-{self.second_c_rate:g}C"


def parse_charging_policy(text: str) -> ChargingPolicy:
    """Parse a Severson-style charging-policy string.

    Parameters
    ----------
    text
        ``"C1(Q1%)-C2"``, e.g. ``"5.4C(40%)-3.6C"`` (C1 = 5.4C from 0 to
        40 % SOC, C2 = 3.6C from 40 to 80 % SOC), or a single ``"C1"``
        (C1 from 0 to 80 % SOC). Case and surrounding or inner spaces are
        ignored.

    Returns
    -------
    ChargingPolicy

    Raises
    ------
    DataFormatError
        ``text`` is not a string, matches neither form, or holds a C-rate
        <= 0 or a switch SOC outside (0, 80] %.

    Examples
    --------
    >>> p = parse_charging_policy("3.6C(80%)-3.6C")
    >>> p.first_c_rate, p.switch_soc_percent, p.second_c_rate, round(p.time_to_80pct_soc_minute, 4)
    (3.6, 80.0, 3.6, 13.3333)
    >>> round(parse_charging_policy("1C(4%)-6C").time_to_80pct_soc_minute, 6)
    10.0
    """
    if not isinstance(text, str):
        raise DataFormatError(
            f"a charging policy must be a string, got {type(text).__name__} {text!r}; accepted forms: {_ACCEPTED}",
            value=text,
        )
    s = text.strip()
    m = _TWO_STEP.fullmatch(s)
    if m:
        c1, q1, c2 = (float(g) for g in m.groups())
        return ChargingPolicy(c1, q1, c2, text=s)
    m = _ONE_STEP.fullmatch(s)
    if m:
        c1 = float(m.group(1))
        return ChargingPolicy(c1, FAST_CHARGE_END_SOC_PERCENT, c1, text=s)
    raise DataFormatError(f"cannot parse charging policy {text!r}; accepted forms: {_ACCEPTED}", value=text)


#: Features of :class:`ChargingProtocolFeaturizer`, in order, with units.
PROTOCOL_FEATURES: tuple[str, ...] = (
    "protocol_first_c_rate",
    "protocol_switch_soc_percent",
    "protocol_second_c_rate",
    "protocol_time_to_80pct_soc_minute",
    "protocol_mean_c_rate",
    "protocol_max_c_rate",
)


class ChargingProtocolFeaturizer(BaseFeaturizer):
    """Numbers of a fast-charge policy: C1, Q1, C2, time to 80 % SOC, mean and max C-rate.

    These are **protocol features** (design inputs known before the test),
    not cycling measurements; report them separately from Severson's
    variance / discharge / full feature sets.

    Parameters
    ----------
    features
        Subset of :data:`PROTOCOL_FEATURES` to return, in that order (default
        all): ``protocol_first_c_rate`` (C1, units of C),
        ``protocol_switch_soc_percent`` (Q1, %), ``protocol_second_c_rate``
        (C2, units of C), ``protocol_time_to_80pct_soc_minute`` (nominal,
        min), ``protocol_mean_c_rate`` (time-averaged over 0-80 % SOC, units
        of C), ``protocol_max_c_rate`` (units of C).

    Raises
    ------
    DataFormatError
        An unknown feature name, an empty selection, or (in ``featurize``) a
        policy that cannot be parsed.

    Examples
    --------
    >>> f = ChargingProtocolFeaturizer(["protocol_first_c_rate", "protocol_time_to_80pct_soc_minute"])
    >>> f.featurize("6C(40%)-3C")
    [6.0, 12.0]
    """

    _GETTERS: ClassVar[dict[str, str]] = {
        "protocol_first_c_rate": "first_c_rate",
        "protocol_switch_soc_percent": "switch_soc_percent",
        "protocol_second_c_rate": "second_c_rate",
        "protocol_time_to_80pct_soc_minute": "time_to_80pct_soc_minute",
        "protocol_mean_c_rate": "mean_c_rate",
        "protocol_max_c_rate": "max_c_rate",
    }

    def __init__(self, features: Sequence[str] | None = None) -> None:
        if features is None:
            chosen = PROTOCOL_FEATURES
        else:
            if isinstance(features, str):
                features = [features]
            unknown = [f for f in features if f not in PROTOCOL_FEATURES]
            if unknown or not features:
                raise DataFormatError(
                    f"features must be a non-empty subset of {PROTOCOL_FEATURES}, got {list(features)!r}",
                    value=features,
                )
            chosen = tuple(f for f in PROTOCOL_FEATURES if f in features)
        self.features = chosen

    def featurize(self, x: Any) -> list[float]:
        """Protocol features of one policy.

        Parameters
        ----------
        x
            A :class:`ChargingPolicy` or a policy string (see
            :func:`parse_charging_policy`).

        Returns
        -------
        list of float
            In the order of :meth:`feature_labels`.
        """
        policy = x if isinstance(x, ChargingPolicy) else parse_charging_policy(x)
        return [float(getattr(policy, self._GETTERS[f])) for f in self.features]

    def feature_labels(self) -> list[str]:
        return list(self.features)

    def citations(self) -> list[str]:
        return [SEVERSON_BIBTEX]
