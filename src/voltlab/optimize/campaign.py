"""Ask/tell optimisation campaigns stored in one SQLite file.

A :class:`Campaign` proposes points (:meth:`Campaign.ask`) and records their
measured outcomes (:meth:`Campaign.tell`). Until ``n_init`` observations are
complete it proposes feasible scrambled-Sobol points; then the surrogate
takes over:

``surrogate="gp"`` (default)
    BoTorch ``SingleTaskGP`` (ARD) with ``qLogNoisyExpectedImprovement`` for
    one objective, ``qLogNoisyExpectedHypervolumeImprovement`` for several;
    outcome constraints weight the acquisition by the probability of
    feasibility; pending (and failed) points enter as ``X_pending``.
``surrogate="rf"``
    Random-forest ensemble with expected improvement from the tree spread
    (one objective).
``surrogate="xgb"``
    Bootstrap ensemble of XGBoost regressors, expected improvement from the
    members' spread (one objective).
``surrogate="random"``
    Continue the Sobol sequence (a baseline; no model).

``add_related`` brings in a related campaign's (or a table's) observations as
another task: the GP gets one indicator column per related task and learns
from the data how far each one transfers (its lengthscale on that column).

``mode="explore"`` replaces the acquisition by maximum posterior standard
deviation (active learning); ``fidelity="name"`` turns on multi-fidelity
(``SingleTaskMultiFidelityGP`` + cost-aware qMFKG). Every proposal is projected onto the space and
checked to satisfy its simplex and linear constraints to 1e-9.

Each ``ask`` and each ``tell`` is one SQLite transaction; a tell of an
already-told suggestion with the same values is a no-op, so a driver can
re-send tells after a crash.

Examples
--------
>>> import tempfile, pathlib
>>> from voltlab.optimize import Campaign, Objective, Real, SearchSpace
>>> path = pathlib.Path(tempfile.mkdtemp()) / "c.sqlite"
>>> c = Campaign.create(path, SearchSpace([Real("x", 0.0, 1.0)]), [Objective("y", "minimize")],
...                     n_init=2, surrogate="random", seed=1)
>>> [s] = c.ask(1)
>>> c.tell(s.id, {"y": (s.point["x"] - 0.3) ** 2}).status
'complete'
>>> Campaign.open(path).counts()["complete"]
1
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from voltlab.errors import OptimizationError, StoreError
from voltlab.optimize.boxmap import SimplexBoxMap
from voltlab.optimize.objectives import Objective, OutcomeConstraint
from voltlab.optimize.pareto import hypervolume, pareto_mask, reference_point
from voltlab.optimize.space import FEASIBILITY_TOL, Fixed, Point, SearchSpace
from voltlab.optimize.store import SCHEMA_VERSION, CampaignStore, atomic_write_text, utc_now

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Campaign", "Settings", "Suggestion"]

Status = Literal["pending", "complete", "failed"]
SURROGATES = ("gp", "rf", "xgb", "random")
MODES = ("optimize", "explore")
HVI_BASELINES = ("auto", "noisy", "observed")
SIMPLEX_MAPS = ("fractions", "box")


@dataclass(frozen=True, slots=True)
class Settings:
    """How a campaign proposes points (stored in the campaign file).

    Parameters
    ----------
    seed
        Seeds Sobol scrambling, GP restarts and MC samplers; same seed and same tells give the same suggestions.
    n_init
        Complete observations before the surrogate is used (the initial design until then).
    init_center
        The initial design starts at the centre of the space (:meth:`SearchSpace.center`), then
        Sobol points; as Ax does. ``False`` in campaign files written before this setting existed.
    hvi_baseline
        Several objectives: ``"noisy"`` (qLogNEHVI: the hypervolume improvement integrates over
        the posterior at the observed points), ``"observed"`` (qLogEHVI against the observed
        feasible Pareto front: the noise-free limit of the same criterion, without the 128
        posterior samples of the front) or ``"auto"``: ``"observed"`` when every outcome GP's
        fitted noise variance is at most ``voltlab.optimize._botorch.NOISE_FREE_VARIANCE``
        (1e-2 in standardised units, a noise standard deviation of 10 % of the outcome's),
        else ``"noisy"``. ``"auto"`` is :meth:`Campaign.create`'s default; campaign files
        written before this setting existed read as ``"noisy"``. Each suggestion's model state
        records the choice and the largest fitted noise.
    simplex_map
        ``"fractions"`` (the default): the GP sees a simplex's k fractions and the acquisition
        keeps the equality constraint. ``"box"``: each plain simplex (members from 0 to at least
        the total, in no linear constraint) is seen through the stick-breaking box map of
        :class:`voltlab.optimize.boxmap.SimplexBoxMap` (k - 1 box columns, no equality
        constraint; other simplexes keep their fractions). Neither is better everywhere
        (``benchmarks/results/bo_simplex.md``, ``docs/optimize.md``): the box map won on the
        doped-NCM emulator (median regret 3.5 against 18.9) and lost on smooth quadratic bumps
        (6.2 against 0.32 inside the simplex, 18 against 2.0 on a face), at a fifth of the ask time.
    surrogate
        ``"gp"``, ``"rf"``, ``"xgb"`` or ``"random"``.
    mode
        ``"optimize"`` or ``"explore"`` (maximum posterior std).
    ref_point
        Hypervolume reference point in objective units, one per objective (for a
        target objective: the worst acceptable ``|y - target|``). ``None``: the
        rule of :func:`voltlab.optimize.pareto.reference_point`.
    num_restarts, raw_samples
        ``optimize_acqf`` restarts and raw samples (BoTorch's and Ax's usual 20 and 1024).
    mc_samples
        Quasi-MC samples of the acquisition.
    rf_candidates
        Sobol candidates scored by the tree-ensemble surrogates (``"rf"``, ``"xgb"``).
    fidelity
        Name of a linear ``Real`` parameter that sets the evaluation fidelity (e.g. the
        fraction of cycles run); its upper bound is the target fidelity. Turns on
        multi-fidelity: ``SingleTaskMultiFidelityGP`` + cost-aware qMFKG.
    fidelity_cost
        Fixed cost of one evaluation, in the fidelity parameter's unit: the cost of
        an evaluation at fidelity ``s`` is ``fidelity_cost + s``.
    num_fantasies
        Fantasies of the knowledge gradient (multi-fidelity only).
    """

    seed: int = 0
    n_init: int = 5
    surrogate: str = "gp"
    mode: str = "optimize"
    ref_point: tuple[float, ...] | None = None
    num_restarts: int = 20
    raw_samples: int = 1024
    mc_samples: int = 128
    rf_candidates: int = 1024
    fidelity: str | None = None
    fidelity_cost: float = 0.1
    num_fantasies: int = 16
    init_center: bool = False
    hvi_baseline: str = "noisy"
    simplex_map: str = "fractions"

    def __post_init__(self) -> None:
        if self.surrogate not in SURROGATES:
            raise OptimizationError(f"surrogate {self.surrogate!r} is not one of {list(SURROGATES)}")
        if self.mode not in MODES:
            raise OptimizationError(f"mode {self.mode!r} is not one of {list(MODES)}")
        if self.hvi_baseline not in HVI_BASELINES:
            raise OptimizationError(f"hvi_baseline {self.hvi_baseline!r} is not one of {list(HVI_BASELINES)}")
        if self.simplex_map not in SIMPLEX_MAPS:
            raise OptimizationError(f"simplex_map {self.simplex_map!r} is not one of {list(SIMPLEX_MAPS)}")
        for name in ("n_init", "num_restarts", "raw_samples", "mc_samples", "rf_candidates", "num_fantasies"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise OptimizationError(f"setting {name} must be a positive integer, got {v!r}")
        if self.ref_point is not None:
            object.__setattr__(self, "ref_point", tuple(float(v) for v in self.ref_point))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seed": self.seed, "n_init": self.n_init, "surrogate": self.surrogate, "mode": self.mode,
            "ref_point": None if self.ref_point is None else list(self.ref_point),
            "num_restarts": self.num_restarts, "raw_samples": self.raw_samples, "mc_samples": self.mc_samples,
            "rf_candidates": self.rf_candidates, "fidelity": self.fidelity, "fidelity_cost": self.fidelity_cost,
            "num_fantasies": self.num_fantasies, "init_center": self.init_center,
            "hvi_baseline": self.hvi_baseline, "simplex_map": self.simplex_map,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptimizationError(f"unknown campaign settings {unknown}; known: {sorted(known)}")
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One proposed (or externally added) point and its result.

    Attributes
    ----------
    id
        0-based id, in the order suggestions were made; use it in ``tell``.
    batch
        The ``ask`` call (0-based) that made it.
    point
        Parameter values in their units.
    source
        ``"center"``, ``"sobol"``, ``"qLogNEI"``, ``"qLogNEHVI"``, ``"qLogEHVI"``, ``"LogEHVI"`` (closed
        form, one point), ``"qMFKG"``, ``"max-std"``, ``"rf-EI"``, ``"rf-max-spread"``, ``"xgb-EI"``,
        ``"xgb-max-spread"`` or ``"external"``.
    status
        ``"pending"``, ``"complete"`` or ``"failed"``.
    values
        Measured outcomes (objectives and constrained outcomes), once told.
    reason
        Why an evaluation failed.
    model_state
        JSON summary of the model that proposed it (hyperparameters, acquisition value, posterior).
    """

    id: int
    batch: int
    point: Point
    source: str
    status: Status
    values: dict[str, float] | None = None
    reason: str | None = None
    model_state: dict[str, Any] = field(default_factory=dict)
    asked_utc: str = ""
    told_utc: str | None = None

    @classmethod
    def _from_row(cls, r: Mapping[str, Any]) -> Suggestion:
        return cls(
            id=r["id"], batch=r["batch"], point=r["point"], source=r["source"], status=r["status"],
            values=r["outcome"], reason=r["reason"], model_state=r["model_state"],
            asked_utc=r["asked_utc"], told_utc=r["told_utc"],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id, "batch": self.batch, "point": self.point, "source": self.source, "status": self.status,
            "values": self.values, "reason": self.reason, "model_state": self.model_state,
            "asked_utc": self.asked_utc, "told_utc": self.told_utc,
        }


def _check_fidelity(space: SearchSpace, objs: Sequence[Objective], cons: Sequence[OutcomeConstraint],
                    st: Settings) -> None:
    from voltlab.optimize.space import Real

    name = st.fidelity
    if name not in space.names:
        raise OptimizationError(f"fidelity={name!r} is not a parameter; defined: {space.names}")
    p = space[str(name)]
    in_constraint = {n for s in space.simplexes for n in s.names} | {
        n for c in space.constraints for n in c.coefficients}
    if not isinstance(p, Real) or p.log or name in in_constraint:
        raise OptimizationError(
            f"fidelity parameter {name!r} must be a linear-scale Real outside simplexes and linear constraints"
        )
    if p.low + st.fidelity_cost <= 0:
        raise OptimizationError(
            f"fidelity_cost={st.fidelity_cost:g} makes the cost fidelity_cost + {name} non-positive at "
            f"{name}={p.low:g}; raise fidelity_cost"
        )
    if len(objs) != 1 or objs[0].direction == "target" or cons:
        raise OptimizationError(
            "multi-fidelity handles one maximize/minimize objective without outcome constraints (for now)"
        )
    if st.surrogate != "gp" or st.mode != "optimize":
        raise OptimizationError("multi-fidelity needs surrogate='gp' and mode='optimize'")


REPEAT_TOLERANCE = 1e-6
"""Unit-box distance (largest coordinate difference) under which the box map's candidate counts as a
point already observed or pending (see :func:`_new_points`)."""


def _new_points(U: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Which rows of ``U`` (unit-box encodings) differ by more than :data:`REPEAT_TOLERANCE` in some
    coordinate from every row of ``seen``."""
    if not len(seen):
        return np.ones(len(U), dtype=bool)
    gap = np.abs(np.asarray(U)[:, None, :] - np.asarray(seen)[None, :, :]).max(axis=2)
    return np.asarray((gap > REPEAT_TOLERANCE).all(axis=1))


def _batch_seed(seed: int, batch: int) -> int:
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, batch]).generate_state(1)[0] % (2**31 - 1))


class Campaign:
    """An ask/tell optimisation campaign backed by one SQLite file.

    Use :meth:`create` or :meth:`open`; the constructor is internal.
    """

    def __init__(self, store: CampaignStore) -> None:
        self._store = store
        meta = store.meta()
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(
                f"campaign schema version {meta.get('schema_version')!r}, this voltlab reads {SCHEMA_VERSION}; "
                "upgrade voltlab", path=store.path,
            )
        self.space = SearchSpace.from_dict(meta["space"])
        self.objectives = [Objective.from_dict(o) for o in meta["objectives"]]
        self.outcome_constraints = [OutcomeConstraint.from_dict(c) for c in meta["outcome_constraints"]]
        self.settings = Settings.from_dict(meta["settings"])
        self.created_utc: str = meta.get("created_utc", "")

    # ----------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        space: SearchSpace,
        objectives: Sequence[Objective | str],
        outcome_constraints: Sequence[OutcomeConstraint | str] = (),
        *,
        seed: int = 0,
        n_init: int | None = None,
        surrogate: str = "gp",
        mode: str = "optimize",
        ref_point: Sequence[float] | None = None,
        num_restarts: int = 20,
        raw_samples: int = 1024,
        mc_samples: int = 128,
        rf_candidates: int = 1024,
        fidelity: str | None = None,
        fidelity_cost: float = 0.1,
        num_fantasies: int = 16,
        init_center: bool = True,
        hvi_baseline: str = "auto",
        simplex_map: str = "fractions",
        overwrite: bool = False,
    ) -> Campaign:
        """Create a new campaign file.

        Parameters
        ----------
        path
            The SQLite file to create (conventionally ``*.campaign`` or ``*.sqlite``).
        space
            The search space.
        objectives
            :class:`Objective` objects, or names (maximised).
        outcome_constraints
            :class:`OutcomeConstraint` objects or ``"name >= value"`` texts.
        seed, n_init, surrogate, mode, ref_point, num_restarts, raw_samples, mc_samples, rf_candidates, \
fidelity, fidelity_cost, num_fantasies, init_center, hvi_baseline, simplex_map
            See :class:`Settings`; ``n_init`` defaults to 5 (with ``init_center``: the centre
            and 4 Sobol points, Ax's default design). On Hartmann-6 with 25 evaluations
            (10 seeds) 5 gave a median regret of 0.26 against 0.79 for ``2 * dim = 12``.
        overwrite
            Replace an existing file.

        Raises
        ------
        OptimizationError
            Invalid objectives or settings (duplicate names, a tree ensemble with several objectives, ...).
        StoreError
            The file exists and ``overwrite`` is false.
        """
        objs = [o if isinstance(o, Objective) else Objective(str(o)) for o in objectives]
        cons = [c if isinstance(c, OutcomeConstraint) else OutcomeConstraint.parse(c) for c in outcome_constraints]
        if not objs:
            raise OptimizationError("a campaign needs at least one objective")
        names = [o.name for o in objs] + [c.name for c in cons]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise OptimizationError(
                f"outcome names {dup} appear twice; an outcome is either an objective or constrained, once"
            )
        clash = sorted(set(names) & set(space.names))
        if clash:
            raise OptimizationError(f"outcome names {clash} are also parameter names; rename one of them")
        settings = Settings(
            seed=int(seed), n_init=int(n_init) if n_init is not None else 5, init_center=bool(init_center),
            surrogate=surrogate, mode=mode, ref_point=None if ref_point is None else tuple(ref_point),
            num_restarts=num_restarts, raw_samples=raw_samples, mc_samples=mc_samples, rf_candidates=rf_candidates,
            fidelity=fidelity, fidelity_cost=float(fidelity_cost), num_fantasies=num_fantasies,
            hvi_baseline=hvi_baseline, simplex_map=simplex_map,
        )
        if settings.fidelity is not None:
            _check_fidelity(space, objs, cons, settings)
        if settings.surrogate in ("rf", "xgb") and len(objs) > 1:
            raise OptimizationError(f"surrogate={settings.surrogate!r} handles one objective; use surrogate='gp' "
                                    "for several")
        if settings.ref_point is not None and len(settings.ref_point) != len(objs):
            raise OptimizationError(
                f"ref_point has {len(settings.ref_point)} values for {len(objs)} objectives; give one per objective"
            )
        path = Path(path)
        if overwrite:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        store = CampaignStore(path, create=True)
        with store.transaction() as con:
            store.write_meta(con, {
                "format": "voltlab-campaign",
                "schema_version": SCHEMA_VERSION,
                "space": space.to_dict(),
                "objectives": [o.to_dict() for o in objs],
                "outcome_constraints": [c.to_dict() for c in cons],
                "settings": settings.to_dict(),
                "created_utc": utc_now(),
            })
        return cls(store)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Campaign:
        """Open an existing campaign file (resuming where it stopped).

        Raises
        ------
        MissingFileError
            No file at ``path``.
        StoreError
            The file is not a voltlab campaign.
        """
        return cls(CampaignStore(path))

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], config: Mapping[str, Any], *, overwrite: bool = False) -> Campaign:
        """Create a campaign from a config mapping (the TOML/JSON file of ``voltlab campaign new``).

        Keys: ``parameters``, ``simplexes``, ``constraints`` (the space, see
        :meth:`SearchSpace.from_dict`), ``objectives`` (list of ``{name,
        direction, target}``), ``outcome_constraints`` (list of ``"name >= v"``
        or ``{name, op, bound}``) and any :class:`Settings` field.
        """
        cfg = dict(config)
        space = SearchSpace.from_dict({k: cfg.pop(k, []) for k in ("parameters", "simplexes", "constraints")})
        objs = [Objective.from_dict(o) if isinstance(o, Mapping) else Objective(str(o)) for o in cfg.pop("objectives", [])]
        cons = [OutcomeConstraint.from_dict(c) for c in cfg.pop("outcome_constraints", [])]
        known = set(Settings.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise OptimizationError(
                f"unknown campaign config keys {unknown}; known: parameters, simplexes, constraints, objectives, "
                f"outcome_constraints, {', '.join(sorted(known))}"
            )
        return cls.create(path, space, objs, cons, overwrite=overwrite, **cfg)

    def close(self) -> None:
        """Close the file (every committed ask/tell is already durable)."""
        self._store.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The campaign file."""
        return self._store.path

    @property
    def outcome_names(self) -> list[str]:
        """Objective names, then constrained outcome names (the keys ``tell`` expects)."""
        return [o.name for o in self.objectives] + [c.name for c in self.outcome_constraints]

    # ------------------------------------------------------------------ reads
    def suggestions(self, status: Status | None = None) -> list[Suggestion]:
        """All suggestions in id order (optionally of one status)."""
        return [Suggestion._from_row(r) for r in self._store.rows(status=status)]

    def counts(self) -> dict[str, int]:
        """Suggestions per status (``pending``, ``complete``, ``failed``, ``total``) and ``next_batch``."""
        return self._store.counts()

    def get(self, suggestion_id: int) -> Suggestion:
        """One suggestion by id.

        Raises
        ------
        OptimizationError
            Unknown id.
        """
        r = self._store.row(self._store._con, int(suggestion_id))
        if r is None:
            n = self.counts()["total"]
            raise OptimizationError(f"no suggestion with id {suggestion_id}; ids run from 0 to {n - 1}")
        return Suggestion._from_row(r)

    def related(self) -> list[dict[str, Any]]:
        """The related tasks added with :meth:`add_related`: ``task``, ``source``, ``n_observations``, ``added_utc``."""
        return [{"task": r["task"], "source": r["source"], "n_observations": len(r["observations"]),
                 "added_utc": r["added_utc"]} for r in self._store.meta().get("related", [])]

    def _related_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
        tasks = self._store.meta().get("related", [])
        if not tasks:
            return None
        pts, ys, idx = [], [], []
        for j, r in enumerate(tasks):
            for o in r["observations"]:
                pts.append(o["point"])
                ys.append([float(o["values"][n]) for n in self.outcome_names])
                idx.append(j)
        return self.space.encode(pts), np.array(ys, dtype=float), np.array(idx, dtype=int), [r["task"] for r in tasks]

    def feasible(self, s: Suggestion) -> bool:
        """A complete suggestion satisfies every outcome constraint."""
        return s.status == "complete" and s.values is not None and all(
            c.holds(s.values[c.name]) for c in self.outcome_constraints
        )

    def utilities(self, s: Suggestion) -> list[float]:
        """Maximisation-form objective values of a complete suggestion."""
        assert s.values is not None
        return [float(o.utility(float(s.values[o.name]))) for o in self.objectives]

    def at_target_fidelity(self, s: Suggestion) -> bool:
        """Whether a suggestion was evaluated at the target fidelity (always true without multi-fidelity)."""
        if self.settings.fidelity is None:
            return True
        p = self.space[self.settings.fidelity]
        return abs(float(s.point[p.name]) - p.high) <= FEASIBILITY_TOL  # type: ignore[union-attr]

    def best(self) -> Suggestion | None:
        """The best feasible complete suggestion of a single-objective campaign (``None`` if none).

        With multi-fidelity, only evaluations at the target fidelity count; see also
        :meth:`recommendation`.
        """
        if len(self.objectives) != 1:
            raise OptimizationError("best() is for one objective; use pareto_front() for several")
        cands = [s for s in self.suggestions("complete") if self.feasible(s) and self.at_target_fidelity(s)]
        return max(cands, key=lambda s: (self.utilities(s)[0], -s.id)) if cands else None

    def recommendation(self) -> Point | None:
        """Multi-fidelity: the maximiser of the model's posterior mean at the target fidelity.

        Taken from the model state of the latest qMFKG suggestion (``None`` before the
        first one, or without multi-fidelity).
        """
        for s in reversed(self.suggestions()):
            rec = s.model_state.get("recommendation_unit")
            if rec is not None:
                return self.space.project(self.space.decode(np.array([rec]))[0])
        return None

    def predict(self, points: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The GP's posterior for every outcome at ``points`` (each outcome's own unit).

        Fits the same GP an ask would (one ``SingleTaskGP`` per outcome on the unit
        box, with the related tasks' observations if any; also for ``surrogate="rf"``/``"xgb"`` campaigns) to the complete observations.

        Parameters
        ----------
        points
            Feasible points of the space (mappings of parameter values).

        Returns
        -------
        pandas.DataFrame
            One row per point: ``<outcome>_mean`` and ``<outcome>_std`` for each outcome.

        Raises
        ------
        OptimizationError
            Fewer than 2 complete observations, or a point outside the space.
        """
        import pandas as pd

        from voltlab.optimize._botorch import posterior_gp

        complete = self._store.rows(status="complete")
        if len(complete) < 2:
            raise OptimizationError(f"predict needs at least 2 complete observations, the campaign has "
                                    f"{len(complete)}; tell more results first")
        pts = [dict(p) for p in points]
        for k, p in enumerate(pts):
            v = self.space.violation(p)
            if v > FEASIBILITY_TOL:
                raise OptimizationError(f"predict: point {k} {p} is outside the search space (violation {v:.3g})")
        X = self.space.encode([r["point"] for r in complete])
        Y = np.array([[float(r["outcome"][n]) for n in self.outcome_names] for r in complete], dtype=float)
        mean, std = posterior_gp(X, Y, self.space.encode(pts), self.outcome_names, seed=self.settings.seed,
                                 related=self._related_arrays())
        cols: dict[str, Any] = {}
        for j, n in enumerate(self.outcome_names):
            cols[f"{n}_mean"] = mean[:, j]
            cols[f"{n}_std"] = std[:, j]
        return pd.DataFrame(cols)

    def pareto_front(self) -> list[Suggestion]:
        """Non-dominated feasible complete suggestions (every objective in its own direction)."""
        cands = [s for s in self.suggestions("complete") if self.feasible(s)]
        if not cands:
            return []
        mask = pareto_mask(np.array([self.utilities(s) for s in cands]))
        return [s for s, m in zip(cands, mask, strict=True) if m]

    def hypervolume_trace(self) -> tuple[list[float], list[float]]:
        """Hypervolume of the feasible observations after each complete evaluation (order told).

        The reference point is fixed for the whole trace: the ``ref_point`` setting, or
        :func:`reference_point` of all feasible utilities observed so far.

        Returns
        -------
        trace, ref
            One hypervolume (utility units to the power ``n_objectives``) per complete
            evaluation, and the reference point used (maximisation form).
        """
        done = sorted(self.suggestions("complete"), key=lambda s: (s.told_utc or "", s.id))
        feas = [self.utilities(s) for s in done if self.feasible(s)]
        if self.settings.ref_point is not None:
            ref = [o.utility_of_ref(r) for o, r in zip(self.objectives, self.settings.ref_point, strict=True)]
        elif feas:
            ref = reference_point(np.array(feas))
        else:
            return [0.0] * len(done), []
        trace, pts = [], []
        for s in done:
            if self.feasible(s):
                pts.append(self.utilities(s))
            trace.append(hypervolume(np.array(pts), ref) if pts else 0.0)
        return trace, ref

    def best_trace(self) -> list[float | None]:
        """Best feasible utility of objective 0 after each complete evaluation (in order told)."""
        done = sorted(self.suggestions("complete"), key=lambda s: (s.told_utc or "", s.id))
        out: list[float | None] = []
        best: float | None = None
        for s in done:
            if self.feasible(s):
                u = self.utilities(s)[0]
                best = u if best is None else max(best, u)
            out.append(best)
        return out

    # -------------------------------------------------------------------- ask
    def ask(self, n: int = 1) -> list[Suggestion]:
        """Propose a batch of ``n`` points and record them as pending (one transaction).

        Parameters
        ----------
        n
            Batch size.

        Returns
        -------
        list of Suggestion
            New pending suggestions; every point satisfies the space to 1e-9.

        Raises
        ------
        OptimizationError
            ``n < 1``, or a proposal that cannot be made feasible.
        StoreError
            Another process changed the campaign while this batch was computed (ask again).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise OptimizationError(f"ask(n): n must be a positive integer, got {n!r}")
        rows = self._store.rows()
        counts = self._store.counts()
        batch = counts["next_batch"]
        complete = [r for r in rows if r["status"] == "complete"]
        st = self.settings
        seed = _batch_seed(st.seed, batch)
        if st.surrogate == "random" or len(complete) < max(st.n_init, 2):
            reason = ("random surrogate" if st.surrogate == "random" else
                      f"initial design: {len(complete)} of n_init={st.n_init} observations complete")
            center = st.init_center and st.surrogate != "random" and not any(r["source"] == "center" for r in rows)
            points = ([self.space.center()] if center else []) + (self._sobol(rows, n - center) if n > center else [])
            sources = ["center"] * center + ["sobol"] * (n - center)
            states = [{"surrogate": "none", "acquisition": src, "sobol_seed": st.seed, "reason": reason}
                      for src in sources]
        else:
            points, states = self._propose(rows, n, seed)
            sources = [str(s["acquisition"]) for s in states]
        for p in points:
            v = self.space.violation(p)
            if v > FEASIBILITY_TOL:
                raise OptimizationError(f"internal: proposal {p} violates the space by {v:.3g}; please report")
        now = utc_now()
        new = [
            {"id": counts["total"] + i, "batch": batch, "point": p, "source": src, "status": "pending",
             "model_state": s, "asked_utc": now}
            for i, (p, s, src) in enumerate(zip(points, states, sources, strict=True))
        ]
        with self._store.transaction() as con:
            if self._store.counts(con)["total"] != counts["total"]:
                raise StoreError("another process added suggestions while this batch was computed; ask again",
                                 path=self.path)
            self._store.insert_suggestions(con, new)
        return [Suggestion._from_row({**r, "outcome": None, "reason": None, "told_utc": None}) for r in new]

    def _sobol(self, rows: list[dict[str, Any]], n: int) -> list[Point]:
        used = sum(1 for r in rows if r["source"] == "sobol")
        return self.space.sample(n, seed=self.settings.seed, skip=used)

    def _finalize(self, U: np.ndarray) -> np.ndarray:
        pts = [self.space.project(p) for p in self.space.decode(U)]
        return self.space.encode(pts)

    def _propose(self, rows: list[dict[str, Any]], n: int, seed: int) -> tuple[list[Point], list[dict[str, Any]]]:
        complete = [r for r in rows if r["status"] == "complete"]
        # Failed points join the pending ones: the acquisition then avoids proposing them again.
        avoid = [r for r in rows if r["status"] in ("pending", "failed")]
        X = self.space.encode([r["point"] for r in complete])
        Y = np.array([[float(r["outcome"][k]) for k in self.outcome_names] for r in complete], dtype=float)
        Xp = self.space.encode([r["point"] for r in avoid]) if avoid else np.zeros((0, self.space.dim))
        st = self.settings
        if st.surrogate == "gp":
            from voltlab.optimize._botorch import propose_gp

            ref = None
            if st.ref_point is not None:
                ref = [o.utility_of_ref(r) for o, r in zip(self.objectives, st.ref_point, strict=True)]
            fid = None
            if st.fidelity is not None:
                p = self.space[st.fidelity]
                fid = (self.space._column(st.fidelity), 1.0, p.high - p.low, st.fidelity_cost + p.low)  # type: ignore[union-attr]
            # the newest GP fit's hyperparameters: the next fit starts there (same campaign, so same outcomes)
            previous = next((r["model_state"]["hyperparameters"] for r in reversed(rows)
                             if isinstance(r.get("model_state"), dict) and r["model_state"].get("surrogate") == "gp"
                             and isinstance(r["model_state"].get("hyperparameters"), dict)), None)
            related = self._related_arrays()
            raw_sampler = lambda m, s: self.space.encode(self.space.sample(m, seed=s))  # noqa: E731
            finalize: Callable[[np.ndarray], np.ndarray] = self._finalize
            box = SimplexBoxMap.for_space(self.space) if st.simplex_map == "box" else None
            view: SearchSpace | SimplexBoxMap = self.space
            distinct = None
            if box is not None:  # the GP and the acquisition work in box coordinates (see boxmap.py)
                # The box's collapsed corner (z_1 = 0: one composition for every z_2) looks unexplored to a GP
                # in box coordinates however often it was measured: candidates are checked as compositions.
                seen = np.vstack([X, Xp]) if len(Xp) else X
                distinct = lambda Z: _new_points(box.from_box(Z), seen)  # noqa: E731
                view, X, Xp = box, box.to_box(X), box.to_box(Xp)
                raw_own, finalize = raw_sampler, lambda Z: box.to_box(self._finalize(box.from_box(Z)))
                raw_sampler = lambda m, s: box.to_box(raw_own(m, s))  # noqa: E731
                if related is not None:
                    related = (box.to_box(related[0]), *related[1:])
                if fid is not None:
                    fid = (box.column(fid[0]), *fid[1:])
            U, states = propose_gp(
                view, self.objectives, self.outcome_constraints, X, Y, Xp, n, fidelity=fid,
                num_fantasies=st.num_fantasies, previous_hyperparameters=previous,
                mode=st.mode, seed=seed, finalize=finalize, raw_sampler=raw_sampler, num_restarts=st.num_restarts,
                raw_samples=st.raw_samples, mc_samples=st.mc_samples, ref_point=ref,
                related=related, hvi_baseline=st.hvi_baseline, distinct=distinct,
            )
            if box is not None:
                U = box.from_box(U)
            for state in states:
                state["gp_coordinates"] = "simplex box map" if box is not None else "unit box"
        else:
            from voltlab.optimize._forest import propose_forest

            cands = self.space.encode(self.space.sample(st.rf_candidates, seed=seed))
            U, states = propose_forest(
                cands, self.objectives, self.outcome_constraints, X, Y, Xp, n, mode=st.mode, seed=seed,
                kind=st.surrogate,
            )
        points = [self.space.project(p) for p in self.space.decode(U)]
        return points, states

    # --------------------------------------------------------------- transfer
    def add_related(
        self,
        source: Campaign | str | os.PathLike[str] | pd.DataFrame,
        *,
        task: str | None = None,
        outside: Literal["error", "skip"] = "error",
    ) -> int:
        """Add the observations of a related task (transfer learning), in one transaction.

        A related task is the same experiment on something else: the Li campaign for a
        Na campaign, last year's furnace, a simulation of the same cell. Its observations
        are copied into this campaign (so it stays self-contained) and every GP ask then
        fits each outcome to both, with one indicator column per related task; the GP's
        lengthscale on that column, fitted to the data, sets how much the task informs this
        one (its correlation is in each suggestion's ``model_state["task_correlation"]``).
        A related task with a large offset or a different shape transfers little; it does
        not count as an observation of this campaign (``best``, traces and ``n_init`` ignore it).

        Parameters
        ----------
        source
            A :class:`Campaign` (or its file): its complete observations. Or a
            ``pandas.DataFrame`` with one column per parameter of this space and per
            outcome of this campaign, in their units.
        task
            Name of the task (default: the source file's stem, ``"table"`` for a DataFrame).
        outside
            ``"error"`` (default): an observation outside this campaign's space is an error;
            ``"skip"``: it is left out.

        Returns
        -------
        int
            The number of observations added.

        Raises
        ------
        OptimizationError
            A surrogate other than ``"gp"`` or a multi-fidelity campaign, a task name
            already added, a source without a parameter or outcome of this campaign, a
            non-finite value, an observation outside the space (``outside="error"``), or
            no observation left to add.
        """
        import pandas as pd

        st = self.settings
        if st.surrogate != "gp" or st.fidelity is not None:
            raise OptimizationError(
                f"related tasks need surrogate='gp' without multi-fidelity; this campaign has surrogate="
                f"{st.surrogate!r}, fidelity={st.fidelity!r}")
        if outside not in ("error", "skip"):
            raise OptimizationError(f"outside must be 'error' or 'skip', got {outside!r}")
        if isinstance(source, pd.DataFrame):
            rows = self._related_from_table(source)
            name, where = task or "table", "table"
        else:
            other = source if isinstance(source, Campaign) else Campaign.open(source)
            if other.path.resolve() == self.path.resolve():
                if other is not source:
                    other.close()
                raise OptimizationError("a campaign cannot be its own related task; give another campaign or table")
            try:
                rows = [(s.point, s.values or {}) for s in other.suggestions("complete")]
                name, where = task or other.path.stem, str(other.path)
            finally:
                if other is not source:
                    other.close()
        if not isinstance(name, str) or not name.strip():
            raise OptimizationError(f"task must be a non-empty name, got {task!r}")
        fixed = {p.name: p.value for p in self.space.parameters if isinstance(p, Fixed)}
        obs: list[dict[str, Any]] = []
        for k, (point, values) in enumerate(rows):
            missing_p = [n for n in self.space.names if n not in point and n not in fixed]
            missing_o = [n for n in self.outcome_names if n not in values]
            if missing_p or missing_o:
                raise OptimizationError(
                    f"related observation {k} of {where} lacks parameters {missing_p} and outcomes {missing_o}; "
                    f"this campaign needs parameters {self.space.names} and outcomes {self.outcome_names}")
            full = {n: point.get(n, fixed.get(n)) for n in self.space.names}
            vals = {}
            for n in self.outcome_names:
                try:
                    vals[n] = float(values[n])
                except (TypeError, ValueError):
                    vals[n] = math.nan
                if not math.isfinite(vals[n]):
                    raise OptimizationError(f"related observation {k} of {where}: outcome {n!r} is {values[n]!r}, "
                                            "not a finite number; drop that row")
            try:
                v = self.space.violation(full)
            except (TypeError, ValueError) as exc:
                raise OptimizationError(f"related observation {k} of {where} {full}: a parameter value is not of "
                                        f"its type ({exc}); fix or drop that row") from exc
            if v > FEASIBILITY_TOL:
                if outside == "skip":
                    continue
                raise OptimizationError(
                    f"related observation {k} of {where} {full} is outside this campaign's space (violation "
                    f"{v:.3g}); widen the space or pass outside='skip'")
            obs.append({"point": self.space.project(full), "values": vals})
        if not obs:
            raise OptimizationError(f"no observation of {where} to add (none complete, or all outside the space)")
        with self._store.transaction() as con:
            tasks = self._store.meta().get("related", [])
            if any(r["task"] == name for r in tasks):
                raise OptimizationError(f"a related task named {name!r} is already added; give another task=")
            self._store.write_meta(con, {"related": [*tasks, {"task": name, "source": where, "added_utc": utc_now(),
                                                             "observations": obs}]})
        return len(obs)

    def _related_from_table(self, df: pd.DataFrame) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        fixed = {p.name for p in self.space.parameters if isinstance(p, Fixed)}
        need = [n for n in self.space.names if n not in fixed] + self.outcome_names
        missing = [n for n in need if n not in df.columns]
        if missing:
            raise OptimizationError(f"the related table lacks columns {missing}; it needs one per parameter and "
                                    f"outcome: {need}")
        out = []
        for rec in df.to_dict(orient="records"):
            out.append(({n: rec[n] for n in self.space.names if n in rec}, {n: rec[n] for n in self.outcome_names}))
        return out

    # ------------------------------------------------------------------- tell
    def _check_values(self, values: Mapping[str, Any] | None, failed: bool) -> dict[str, float] | None:
        if values is None:
            if failed:
                return None
            raise OptimizationError(f"tell: give values for {self.outcome_names}, or failed=True with a reason")
        unknown = sorted(set(values) - set(self.outcome_names))
        missing = [k for k in self.outcome_names if k not in values]
        if unknown or (missing and not failed):
            raise OptimizationError(
                f"tell: unknown outcomes {unknown}, missing outcomes {missing}; this campaign expects "
                f"{self.outcome_names}"
            )
        out: dict[str, float] = {}
        for k, v in values.items():
            try:
                f = float(v)
            except (TypeError, ValueError) as exc:
                raise OptimizationError(f"tell: outcome {k!r} must be a number, got {v!r}") from exc
            if not math.isfinite(f):
                raise OptimizationError(
                    f"tell: outcome {k!r} is {v!r}; record a broken evaluation with failed=True, reason='...'"
                )
            out[k] = f
        return out

    def tell(
        self,
        suggestion: int | Suggestion | Mapping[str, Any],
        values: Mapping[str, float] | None = None,
        *,
        failed: bool = False,
        reason: str | None = None,
    ) -> Suggestion:
        """Record the outcome of a suggestion (one transaction; idempotent).

        Parameters
        ----------
        suggestion
            A suggestion id, a :class:`Suggestion`, or a point (mapping of
            parameter values): a point equal to a pending suggestion completes
            it, any other feasible point is added as an ``"external"`` observation.
        values
            Outcome values (every objective and constrained outcome), in their units.
        failed
            The evaluation failed (values optional); the campaign continues without it.
        reason
            Why it failed (stored).

        Returns
        -------
        Suggestion
            The recorded suggestion.

        Raises
        ------
        OptimizationError
            Unknown id, missing/unknown/non-finite values, a point outside the
            space, or a suggestion already told with different values.
        """
        vals = self._check_values(values, failed)
        status: Status = "failed" if failed else "complete"
        if failed and not reason:
            reason = "failed (no reason given)"
        if isinstance(suggestion, Mapping):
            return self._tell_point(suggestion, vals, status, reason)
        sid = suggestion.id if isinstance(suggestion, Suggestion) else suggestion
        if isinstance(sid, bool) or not isinstance(sid, int | np.integer):
            raise OptimizationError(f"tell: expected a suggestion id, a Suggestion or a point, got {suggestion!r}")
        with self._store.transaction() as con:
            row = self._store.row(con, int(sid))
            if row is None:
                total = self._store.counts(con)["total"]
                raise OptimizationError(f"tell: no suggestion with id {sid}; ids run from 0 to {total - 1}")
            if row["status"] != "pending":
                if row["status"] == status and row["outcome"] == vals and (not failed or row["reason"] == reason):
                    return Suggestion._from_row(row)  # repeated tell: nothing to do
                raise OptimizationError(
                    f"tell: suggestion {sid} is already {row['status']} with values {row['outcome']}; "
                    "results are immutable: tell the point again as a new observation to add a repeat"
                )
            self._store.set_result(con, int(sid), status, vals, reason)
            row = self._store.row(con, int(sid))
        assert row is not None
        return Suggestion._from_row(row)

    def _tell_point(self, point: Mapping[str, Any], vals: dict[str, float] | None, status: Status,
                    reason: str | None) -> Suggestion:
        full = {**{p.name: p.value for p in self.space.parameters if isinstance(p, Fixed)}, **dict(point)}
        v = self.space.violation(full)
        if v > FEASIBILITY_TOL:
            raise OptimizationError(f"tell: point {dict(point)} is outside the search space (violation {v:.3g})")
        u = self.space.encode([full])[0]
        with self._store.transaction() as con:
            for r in self._store.rows(con, status="pending"):
                if np.max(np.abs(self.space.encode([r["point"]])[0] - u)) <= 1e-12:
                    self._store.set_result(con, r["id"], status, vals, reason)
                    row = self._store.row(con, r["id"])
                    break
            else:
                counts = self._store.counts(con)
                new: dict[str, Any] = {"id": counts["total"], "batch": counts["next_batch"], "point": {n: full[n] for n in self.space.names},
                       "source": "external", "status": status, "outcome": vals, "reason": reason,
                       "model_state": {"surrogate": "none", "acquisition": "external"}, "asked_utc": utc_now(),
                       "told_utc": utc_now()}
                self._store.insert_suggestions(con, [new])
                row = self._store.row(con, new["id"])
        assert row is not None
        return Suggestion._from_row(row)

    # ----------------------------------------------------------------- export
    def to_dict(self) -> dict[str, Any]:
        """Everything in the campaign as JSON-ready data (see :meth:`export_json`)."""
        meta = self._store.meta()
        return {
            "format": "voltlab-campaign",
            "schema_version": SCHEMA_VERSION,
            "created_utc": meta.get("created_utc"),
            "space": meta["space"],
            "objectives": meta["objectives"],
            "outcome_constraints": meta["outcome_constraints"],
            "settings": meta["settings"],
            "related": meta.get("related", []),
            "suggestions": [s.to_dict() for s in self.suggestions()],
        }

    def export_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically (temp file, fsync, rename)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False) + "\n")

    @classmethod
    def import_json(cls, json_path: str | os.PathLike[str], path: str | os.PathLike[str], *,
                    overwrite: bool = False) -> Campaign:
        """Rebuild a campaign file at ``path`` from an :meth:`export_json` file.

        Raises
        ------
        OptimizationError
            The JSON is not a voltlab campaign export.
        """
        try:
            data = json.loads(Path(json_path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise OptimizationError(f"cannot read campaign JSON: {exc}", path=json_path) from exc
        if not isinstance(data, dict) or data.get("format") != "voltlab-campaign":
            raise OptimizationError("not a voltlab campaign export (no \"format\": \"voltlab-campaign\")",
                                    path=json_path)
        settings_kw: dict[str, Any] = {
            k: (tuple(v) if k == "ref_point" and v is not None else v) for k, v in data["settings"].items()
        }
        camp = cls.create(
            path, SearchSpace.from_dict(data["space"]), [Objective.from_dict(o) for o in data["objectives"]],
            [OutcomeConstraint.from_dict(c) for c in data["outcome_constraints"]], overwrite=overwrite,
            **settings_kw,
        )
        store = camp._store
        with store.transaction() as con:
            store.write_meta(con, {"created_utc": data.get("created_utc")})
            if data.get("related"):
                store.write_meta(con, {"related": data["related"]})
            store.insert_suggestions(con, [
                {**{k: s[k] for k in ("id", "batch", "point", "source", "status", "reason", "model_state",
                                      "asked_utc", "told_utc")}, "outcome": s["values"]}
                for s in data["suggestions"]
            ])
        camp.created_utc = data.get("created_utc") or ""
        return camp
