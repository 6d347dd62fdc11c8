"""Objectives and outcome constraints of a campaign.

Every objective is turned into a quantity to *maximise* (the "utility"):

=========== ====================== =============================
direction   utility                meaning
=========== ====================== =============================
maximize    ``y``                  larger is better
minimize    ``-y``                 smaller is better
target      ``-abs(y - target)``   hit ``target`` (same unit as y)
=========== ====================== =============================

Surrogates model the raw outcome ``y`` (in its own unit); the utility is
applied to posterior samples, so a target objective keeps a smooth model.

An :class:`OutcomeConstraint` such as ``stability >= 0.5`` is an outcome that
is measured alongside the objectives; the acquisition is weighted by the
model's probability that it holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from voltlab.errors import OptimizationError

__all__ = ["Direction", "Objective", "OutcomeConstraint"]

Direction = Literal["maximize", "minimize", "target"]
_ALIASES = {"max": "maximize", "maximise": "maximize", "min": "minimize", "minimise": "minimize"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.\[\]/%]*$")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise OptimizationError(
            f"{what} name {name!r} is not valid; use letters, digits and _ (units may follow, e.g. 'capacity_mAh_g')"
        )
    return name


@dataclass(frozen=True, slots=True)
class Objective:
    """One measured outcome to optimise.

    Parameters
    ----------
    name
        Outcome name, as used in ``tell(values={name: ...})``.
    direction
        ``"maximize"``, ``"minimize"`` or ``"target"`` (``"max"``/``"min"`` accepted).
    target
        The value to hit, in the outcome's unit (``direction="target"`` only).

    Examples
    --------
    >>> round(Objective("voltage_V", "target", target=3.7).utility(3.5), 6)
    -0.2
    """

    name: str
    direction: Direction = "maximize"
    target: float | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "objective")
        d = _ALIASES.get(str(self.direction).lower(), str(self.direction).lower())
        if d not in ("maximize", "minimize", "target"):
            raise OptimizationError(
                f"objective {self.name!r}: direction {self.direction!r} is not one of 'maximize', 'minimize', 'target'"
            )
        object.__setattr__(self, "direction", d)
        if d == "target":
            if self.target is None or not math.isfinite(float(self.target)):
                raise OptimizationError(f"objective {self.name!r}: direction='target' needs a finite target=value")
            object.__setattr__(self, "target", float(self.target))
        elif self.target is not None:
            raise OptimizationError(f"objective {self.name!r}: target= only applies to direction='target'")

    def utility(self, y: Any) -> Any:
        """Maximisation form of ``y`` (works on floats, numpy arrays and torch tensors)."""
        if self.direction == "maximize":
            return y
        if self.direction == "minimize":
            return -y
        return -abs(y - self.target)

    def utility_of_ref(self, r: float) -> float:
        """A user reference value (worst acceptable ``y``; for targets, the worst acceptable ``|y - target|``)."""
        if self.direction == "target":
            return -abs(float(r))
        return float(self.utility(float(r)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"name": self.name, "direction": self.direction}
        if self.target is not None:
            out["target"] = self.target
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objective:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), data.get("direction", "maximize"), data.get("target"))


@dataclass(frozen=True, slots=True)
class OutcomeConstraint:
    """A measured outcome that must satisfy ``name >= bound`` or ``name <= bound``.

    Examples
    --------
    >>> OutcomeConstraint.parse("stability >= 0.5")
    OutcomeConstraint(name='stability', op='>=', bound=0.5)
    >>> OutcomeConstraint.parse("stability >= 0.5").holds(0.7)
    True
    """

    name: str
    op: Literal[">=", "<="]
    bound: float

    def __post_init__(self) -> None:
        _check_name(self.name, "outcome constraint")
        if self.op not in (">=", "<="):
            raise OptimizationError(f"outcome constraint {self.name!r}: op must be '>=' or '<=', got {self.op!r}")
        b = float(self.bound)
        if not math.isfinite(b):
            raise OptimizationError(f"outcome constraint {self.name!r}: bound must be finite, got {self.bound!r}")
        object.__setattr__(self, "bound", b)

    @classmethod
    def parse(cls, text: str) -> OutcomeConstraint:
        """Read ``"name >= value"`` or ``"name <= value"``."""
        m = re.fullmatch(r"\s*(\S+)\s*(>=|<=)\s*(\S+)\s*", str(text))
        if not m:
            raise OptimizationError(
                f"outcome constraint {text!r} is not of the form 'name >= value' or 'name <= value'"
            )
        try:
            bound = float(m.group(3))
        except ValueError as exc:
            raise OptimizationError(f"outcome constraint {text!r}: {m.group(3)!r} is not a number") from exc
        return cls(m.group(1), m.group(2), bound)  # type: ignore[arg-type]

    def slack(self, y: Any) -> Any:
        """``<= 0`` when the constraint holds (BoTorch's convention); floats, arrays or tensors."""
        return self.bound - y if self.op == ">=" else y - self.bound

    def holds(self, y: float) -> bool:
        """Whether the measured value satisfies the constraint."""
        return bool(self.slack(float(y)) <= 0)

    def describe(self) -> str:
        """``"stability >= 0.5"``."""
        return f"{self.name} {self.op} {self.bound:g}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "op": self.op, "bound": self.bound}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> OutcomeConstraint:
        """Inverse of :meth:`to_dict` (also accepts the ``"name >= value"`` text)."""
        if isinstance(data, str):
            return cls.parse(data)
        return cls(str(data["name"]), data["op"], data["bound"])
