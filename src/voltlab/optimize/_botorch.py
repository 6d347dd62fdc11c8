"""Gaussian-process proposals with BoTorch (imported lazily: torch is heavy).

Each outcome gets a BoTorch ``SingleTaskGP`` on the unit-box encoding: a constant
mean, an RBF kernel with one lengthscale per input column (ARD, BoTorch's
dimension-scaled log-normal prior) and homoscedastic Gaussian noise; each
outcome is standardised (``Standardize``) and gets its own hyperparameters.
Hyperparameters are fitted by maximising the exact marginal likelihood.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voltlab.errors import DependencyError
from voltlab.optimize.boxmap import SimplexBoxMap
from voltlab.optimize.objectives import Objective, OutcomeConstraint
from voltlab.optimize.pareto import FRONT_REFERENCE_RULE, front_reference_point
from voltlab.optimize.space import SearchSpace

__all__ = ["propose_gp"]

Finalize = Callable[[np.ndarray], np.ndarray]
Fidelity = tuple[int, float, float, float]  # unit-box column, target value, cost weight, fixed cost
RawSampler = Callable[[int, int], np.ndarray]
Distinct = Callable[[np.ndarray], np.ndarray]  # finalized candidates (m, dim) -> which are new points (m,) bool
Related = tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[str]]
"""Related-task data: unit-box points ``(m, dim)``, outcomes ``(m, n_outcomes)``, task index per row
``(m,)`` (0-based into the names) and the task names."""


def _pad(U: np.ndarray, k: int) -> np.ndarray:
    """``U`` with ``k`` zero columns appended: the task indicators of this campaign's own task."""
    U = np.asarray(U, dtype=np.float64)
    return U if k == 0 else np.hstack([U, np.zeros((len(U), k))])


def _with_tasks(X: np.ndarray, Y: np.ndarray, related: Related | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Training data with one indicator column per related task (this campaign's rows all zeros).

    The GP's ARD lengthscale on task ``j``'s column sets how strongly that task's observations
    inform this campaign's outcome: correlation ``k(x, 0; x, e_j) / k(x, 0; x, 0)``.
    """
    if related is None or len(related[0]) == 0:
        return X, Y, 0
    Xr, Yr, task, names = related
    k = len(names)
    onehot = np.zeros((len(Xr), k))
    onehot[np.arange(len(Xr)), np.asarray(task, dtype=int)] = 1.0
    return np.vstack([_pad(X, k), np.hstack([Xr, onehot])]), np.vstack([Y, Yr]), k


def _task_correlations(members: Sequence[Any], outcome_names: Sequence[str], task_names: Sequence[str], dim: int,
                       torch: Any) -> dict[str, dict[str, float]]:
    """Per outcome, the fitted GP's correlation between this campaign's task and each related one."""
    k = len(task_names)
    x0 = torch.zeros(1, dim + k, dtype=torch.float64)
    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for name, m in zip(outcome_names, members, strict=True):
            base = float(m.covar_module(x0, x0).to_dense().item())
            row = {}
            for j, t in enumerate(task_names):
                x1 = x0.clone()
                x1[0, dim + j] = 1.0
                row[t] = float(m.covar_module(x0, x1).to_dense().item()) / base
            out[name] = row
    return out


def _import_torch() -> Any:
    try:
        import botorch  # noqa: F401
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError(
            "the GP surrogate needs BoTorch; install the 'opt' extra: pip install -c constraints.txt -e '.[opt]'"
        ) from exc
    return torch


def _members(model: Any) -> list[Any]:
    return list(model.models) if hasattr(model, "models") else [model]


def _outcome_stds(model: Any) -> Any:
    import torch

    return torch.cat([m.outcome_transform.stdvs.detach().reshape(-1) for m in _members(model)])


def _lengthscales(kernel: Any) -> list[float]:
    for mod in kernel.modules():  # the first kernel with lengthscales (e.g. inside a ScaleKernel)
        ls = getattr(mod, "lengthscale", None)
        if ls is not None:
            return [float(v) for v in ls.detach().reshape(-1)]
    return []


def _hyperparameters(model: Any, names: Sequence[str]) -> dict[str, Any]:
    out = {}
    for n, m in zip(names, _members(model), strict=True):
        noise = float(m.likelihood.noise.detach().reshape(-1)[0])
        std = float(m.outcome_transform.stdvs.detach().reshape(-1)[0])
        out[n] = {
            "kernel": type(m.covar_module).__name__,
            "lengthscales_unit": _lengthscales(m.covar_module),
            "noise_variance_standardised": noise,
            "noise_variance": noise * std**2,
            "outcome_std": std,
            "mean_constant_standardised": float(m.mean_module.constant.detach().reshape(-1)[0]),
        }
    return out


WARM_START_MIN_OBSERVATIONS = 50
"""From this many observations on, a GP fit starts from the previous ask's hyperparameters.

Below it the fit starts at the prior, as BoTorch and Ax do: with few points the marginal
likelihood has several optima and an early one should not be carried along (Hartmann-6,
25 evaluations, 10 seeds: median regret 0.26 starting at the prior, 0.38 warm-started
from 20 observations on). With many points one more observation barely moves the optimum,
and the warm start cuts the fit from 0.73 to 0.25 s at 100 observations."""


def _warm_start(members: list[Any], names: Sequence[str], previous: Mapping[str, Any] | None, torch: Any) -> int:
    """Set each GP's hyperparameters to the previous fit's (same outcome, kernel and dimension).

    The marginal likelihood barely moves when one observation is added, so L-BFGS started
    there needs a fraction of the iterations of a start at the prior. Returns how many GPs
    were warm-started (those with no usable previous values start from the prior).
    """
    if not previous:
        return 0
    done = 0
    for name, m in zip(names, members, strict=True):
        prev = previous.get(name)
        if not isinstance(prev, Mapping) or prev.get("kernel") != type(m.covar_module).__name__:
            continue
        kernels = [k for k in m.covar_module.modules() if getattr(k, "lengthscale", None) is not None]
        ls = prev.get("lengthscales_unit")
        if not kernels or not isinstance(ls, list) or len(ls) != kernels[0].lengthscale.numel():
            continue
        try:
            with torch.no_grad():
                kernels[0].lengthscale = torch.tensor(ls, dtype=torch.float64).reshape(kernels[0].lengthscale.shape)
                m.likelihood.noise = torch.tensor([float(prev["noise_variance_standardised"])], dtype=torch.float64)
                m.mean_module.constant = torch.tensor(float(prev["mean_constant_standardised"]), dtype=torch.float64)
        except (KeyError, TypeError, ValueError, RuntimeError):
            continue  # an older or odd record: this GP starts from the prior
        done += 1
    return done


def _fit_gps(X: Any, Y: Any, names: Sequence[str], previous: Mapping[str, Any] | None,
             torch: Any) -> tuple[list[Any], int]:
    """One ``SingleTaskGP`` per outcome column, fitted separately (faster than one batched
    multi-output fit), warm-started from ``previous``; and how many were warm-started."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    members = [SingleTaskGP(X, Y[:, j : j + 1], outcome_transform=Standardize(m=1)) for j in range(Y.shape[-1])]
    warm = _warm_start(members, names, previous, torch)
    for m in members:
        fit_gpytorch_mll(ExactMarginalLogLikelihood(m.likelihood, m))
    return members, warm


def posterior_gp(X_train: np.ndarray, Y_train: np.ndarray, U: np.ndarray, names: Sequence[str], *,
                 seed: int = 0, previous: Mapping[str, Any] | None = None,
                 related: Related | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of each outcome's GP at unit-box points ``U``.

    The same model as an ask (one ``SingleTaskGP`` per outcome, ARD RBF, standardised outcomes;
    with ``related`` data, one task-indicator column per related task).

    Returns
    -------
    mean, std
        Shape ``(len(U), n_outcomes)`` each, in the outcomes' units.
    """
    torch = _import_torch()
    with _torch_threads(torch, len(X_train)), warnings.catch_warnings(), torch.random.fork_rng():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        Xa, Ya, k = _with_tasks(X_train, Y_train, related)
        X = torch.tensor(Xa, dtype=torch.float64)
        Y = torch.tensor(Ya, dtype=torch.float64)
        members, _ = _fit_gps(X, Y, names, previous, torch)
        Ut = torch.tensor(_pad(np.asarray(U, dtype=np.float64).reshape(-1, X.shape[-1] - k), k), dtype=torch.float64)
        means, stds = [], []
        with torch.no_grad():
            for m in members:
                m.eval()
                post = m.posterior(Ut)
                means.append(post.mean.reshape(-1).numpy())
                stds.append(post.variance.clamp_min(0).sqrt().reshape(-1).numpy())
    return np.column_stack(means), np.column_stack(stds)


def _posterior_summary(model: Any, U: Any, names: Sequence[str]) -> list[dict[str, dict[str, float]]]:
    post = model.posterior(U)
    mean = post.mean.detach().numpy()
    std = post.variance.detach().clamp_min(0).sqrt().numpy()
    return [
        {n: {"mean": float(mean[i, j]), "std": float(std[i, j])} for j, n in enumerate(names)} for i in range(len(U))
    ]


STALE_BUILD_LOCK_S = 600.0
"""Age (s) beyond which the build lock of BoTorch's fused qLogEHVI kernel counts as left by a dead process."""


def clear_stale_build_lock(name: str = "logei_fused_ext") -> Path | None:
    """Remove the build lock of a PyTorch JIT extension when no compile can still own it.

    BoTorch compiles its fused (q)LogEHVI kernel with ``torch.utils.cpp_extension`` the first
    time a process builds a multi-objective Monte-Carlo acquisition (about a minute). PyTorch's
    lock is a bare file: a process killed while compiling (SIGKILL, out of memory) leaves it
    behind, and every later process then waits on it forever. A lock older than
    :data:`STALE_BUILD_LOCK_S` (ten compiles' time) is removed with a ``RuntimeWarning``, which
    the suggestion's model state records; a younger one is left to its compile.

    Returns
    -------
    The removed lock's path, or None.
    """
    logei = sys.modules.get("botorch.acquisition.multi_objective.logei")
    if getattr(logei, "_load_attempted", False):  # this process already has the kernel (or its fallback)
        return None
    try:
        from torch.utils.cpp_extension import _get_build_directory

        lock = Path(_get_build_directory(name, verbose=False)) / "lock"
        age = time.time() - lock.stat().st_mtime
    except (ImportError, AttributeError, TypeError, OSError):  # no lock (the usual case), or another torch
        return None
    if age <= STALE_BUILD_LOCK_S:
        return None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock)
    warnings.warn(f"removed a stale PyTorch extension build lock ({lock}, {age / 60:.0f} min old, left by a "
                  "process that died while compiling); the extension is rebuilt", RuntimeWarning, stacklevel=2)
    return lock


SINGLE_THREAD_MAX_OBSERVATIONS = 2000
"""Up to this many observations the GP fit and acquisition run on one PyTorch thread."""


@contextlib.contextmanager
def _torch_threads(torch: Any, n_obs: int) -> Iterator[None]:
    """One intra-op thread for small GPs, restored afterwards.

    A campaign's GP has tens to hundreds of points: its tensors are too small for
    intra-op parallelism to pay, and with several threads a loaded machine spends the
    time in thread contention (measured: one ask at 20 observations and 9 dimensions
    took 53 s with the default 2 threads on a busy 2-core machine, 9 s with one).
    """
    before = torch.get_num_threads()
    if n_obs <= SINGLE_THREAD_MAX_OBSERVATIONS and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def propose_gp(
    space: SearchSpace | SimplexBoxMap,
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint],
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_pending: np.ndarray,
    n: int,
    *,
    mode: str,
    seed: int,
    finalize: Finalize,
    raw_sampler: RawSampler,
    num_restarts: int,
    raw_samples: int,
    mc_samples: int,
    ref_point: Sequence[float] | None,
    fidelity: Fidelity | None = None,
    num_fantasies: int = 16,
    previous_hyperparameters: Mapping[str, Any] | None = None,
    related: Related | None = None,
    hvi_baseline: str = "auto",
    distinct: Distinct | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Fit the GP and propose ``n`` points in the unit box.

    Parameters
    ----------
    X_train
        Shape ``(n_obs, dim)``, unit-box encodings of complete observations.
    Y_train
        Shape ``(n_obs, n_objectives + n_constraints)``, raw outcomes (their units).
    X_pending
        Shape ``(n_pending, dim)``: pending (and failed) points the batch must avoid.
    mode
        ``"optimize"`` (qLogNEI / qLogNEHVI) or ``"explore"`` (maximum posterior std).
    finalize
        Maps raw candidates to feasible, decoded-and-re-encoded ones (same shape).
    raw_sampler
        ``raw_sampler(m, seed)`` returns ``m`` feasible unit-box points, shape ``(m, dim)``:
        the raw samples from which the ``num_restarts`` starting batches are
        picked (BoTorch's ``initialize_q_batch``). Feasible starts are what SLSQP
        needs with equality constraints, and rejection-sampled Sobol points are
        far cheaper than BoTorch's hit-and-run polytope sampler.
    fidelity
        Multi-fidelity: ``(column, target, weight, fixed_cost)`` of the fidelity column in
        the unit box. The model becomes ``SingleTaskMultiFidelityGP`` and the acquisition
        ``qMultiFidelityKnowledgeGradient`` with cost ``fixed_cost + weight * u``.
    num_fantasies
        Fantasies of the knowledge gradient.
    previous_hyperparameters
        The ``"hyperparameters"`` of the previous ask's model state: with at least
        ``WARM_START_MIN_OBSERVATIONS`` observations each GP's fit starts there.
    related
        Observations of related tasks (transfer learning): each GP is fitted to this
        campaign's and their observations with one indicator column per related task, and
        the acquisition is optimised with those columns held at 0 (this campaign's task).
        Not with ``fidelity``. The improvement is over this campaign's own observations.
    hvi_baseline
        Several objectives: what the hypervolume improvement is measured against.
        ``"noisy"``: qLogNEHVI, integrating over the posterior at the observed points (their
        values are uncertain). ``"observed"``: qLogEHVI against the observed feasible Pareto
        front, its noise-free limit. ``"auto"``: ``"observed"`` when every outcome GP's fitted
        noise variance is at most :data:`NOISE_FREE_VARIANCE`, else ``"noisy"``.
    distinct
        ``distinct(U)``: which rows of finalized candidates ``(m, dim)`` are new points (a boolean
        array). Given, the acquisition optimiser's restarts are taken best first and the first batch
        whose points are all new is proposed (the best one if none is). For coordinates in which
        distinct candidates can be the same experiment (the box map's collapsed corner).

    Returns
    -------
    U, states
        Feasible unit-box candidates ``(n, dim)`` and one model-state dict per candidate.
    """
    torch = _import_torch()
    with warnings.catch_warnings(record=True) as caught, _torch_threads(torch, len(X_train)):
        warnings.simplefilter("always")
        U, states = _propose(space, objectives, constraints, X_train, Y_train, X_pending, n, mode=mode, seed=seed,
                             finalize=finalize, raw_sampler=raw_sampler, num_restarts=num_restarts,
                             raw_samples=raw_samples, mc_samples=mc_samples, ref_point=ref_point,
                             fidelity=fidelity, num_fantasies=num_fantasies,
                             previous=previous_hyperparameters if len(X_train) >= WARM_START_MIN_OBSERVATIONS
                             else None, related=related, hvi_baseline=hvi_baseline, distinct=distinct)
    from botorch.exceptions.warnings import BotorchWarning

    # Optimiser trouble (e.g. SLSQP "ABNORMAL" exits, fit retries) is recorded with the suggestion it affected;
    # anything else is passed on.
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, RuntimeWarning | BotorchWarning):
            text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
            if text not in notes:
                notes.append(text)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for s in states:
        s["warnings"] = notes
    return U, states


def _propose(
    space: SearchSpace | SimplexBoxMap,
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint],
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_pending: np.ndarray,
    n: int,
    *,
    mode: str,
    seed: int,
    finalize: Finalize,
    raw_sampler: RawSampler,
    num_restarts: int,
    raw_samples: int,
    mc_samples: int,
    ref_point: Sequence[float] | None,
    fidelity: Fidelity | None,
    num_fantasies: int,
    previous: Mapping[str, Any] | None = None,
    related: Related | None = None,
    hvi_baseline: str = "auto",
    distinct: Distinct | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    torch = _import_torch()
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import ExactMarginalLogLikelihood

    names = [o.name for o in objectives] + [c.name for c in constraints]
    k = len(objectives)
    tkw: dict[str, Any] = {"dtype": torch.float64}
    if related is not None and fidelity is not None:
        raise ValueError("related tasks and multi-fidelity do not combine")  # checked by Campaign
    Xa, Ya, n_rel = _with_tasks(X_train, Y_train, related)
    if n_rel:  # every point this campaign proposes or avoids is of its own task: indicator columns 0
        d, finalize_own, raw_own = space.dim, finalize, raw_sampler
        if distinct is not None:
            distinct_own = distinct
            distinct = lambda U: distinct_own(np.asarray(U)[:, :d])  # noqa: E731
        finalize = lambda U: _pad(finalize_own(np.asarray(U)[:, :d]), n_rel)  # noqa: E731
        raw_sampler = lambda m, s: _pad(raw_own(m, s), n_rel)  # noqa: E731
        X_pending = _pad(X_pending, n_rel) if len(X_pending) else np.zeros((0, d + n_rel))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        X = torch.tensor(_pad(X_train, n_rel), **tkw)  # this campaign's observations: the NEI/NEHVI baseline
        Y = torch.tensor(Y_train, **tkw)
        if fidelity is not None:
            from botorch.models import SingleTaskMultiFidelityGP

            members = [SingleTaskMultiFidelityGP(X, Y, data_fidelities=[fidelity[0]], outcome_transform=Standardize(m=1))]
            fit_gpytorch_mll(ExactMarginalLogLikelihood(members[0].likelihood, members[0]))
            warm = 0
        else:
            members, warm = _fit_gps(torch.tensor(Xa, **tkw), torch.tensor(Ya, **tkw), names, previous, torch)
        model = members[0] if len(members) == 1 else ModelListGP(*members)
        model.eval()
        Xp = torch.tensor(X_pending, **tkw) if len(X_pending) else None
        eq, ineq = space.unit_constraints()
        dim = space.dim + n_rel
        opt_kw: dict[str, Any] = {
            "bounds": torch.stack([torch.zeros(dim, **tkw), torch.ones(dim, **tkw)]),
            "num_restarts": num_restarts,
            "options": {"batch_limit": num_restarts, "maxiter": 100, "seed": seed},
            "equality_constraints": [
                (torch.tensor(c, dtype=torch.long), torch.tensor(a, **tkw), float(b)) for c, a, b in eq
            ] or None,
            "inequality_constraints": [
                (torch.tensor(c, dtype=torch.long), torch.tensor(a, **tkw), float(b)) for c, a, b in ineq
            ] or None,
        }
        if eq or ineq:
            # With linear constraints scipy's SLSQP does the work, and BoTorch would hand it all restarts as one
            # problem (their sum): one restart that converges badly then holds the others back. Each restart is
            # solved on its own (doped-NCM emulator, 15 evaluations, 10 seeds: median regret 18.9 against 22.9).
            opt_kw["options"]["max_optimization_problem_aggregation_size"] = 1
        if n_rel:
            opt_kw["fixed_features"] = {space.dim + j: 0.0 for j in range(n_rel)}
        state: dict[str, Any] = {
            "surrogate": "gp",
            "model": "SingleTaskGP per outcome (ARD RBF, Standardize)" if fidelity is None else
                     "SingleTaskMultiFidelityGP (Matern-5/2 ARD x linear-truncated fidelity kernel, Standardize)",
            "n_train": len(X_train),
            "n_pending": len(X_pending),
            "seed": seed,
            "hyperparameters": _hyperparameters(model, names),
            "gp_fits_warm_started": warm,
        }
        if n_rel and related is not None:
            state["related_tasks"] = {t: int(np.sum(np.asarray(related[2]) == j)) for j, t in enumerate(related[3])}
            state["task_correlation"] = _task_correlations(members, names, related[3], space.dim, torch)
        if fidelity is not None:
            U, acq_values, extra = _mfkg(model, objectives[0], n, Xp, fidelity, num_fantasies, seed, finalize,
                                         optimize_acqf, opt_kw, torch,
                                         lambda q, s: _starts(raw_sampler, q, raw_samples, num_restarts, s, torch))
            state.update(extra)
        elif mode == "explore":
            U, acq_values = _explore(model, k, n, Xp, finalize, optimize_acqf, opt_kw, torch,
                                     lambda q, s: _starts(raw_sampler, q, raw_samples, num_restarts, s, torch))
            state["acquisition"] = "max-std"
        else:
            sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)
            cons: list[Any] | None = [_slack_fn(c, k + i) for i, c in enumerate(constraints)] or None
            acq: Any
            if k == 1:
                from botorch.acquisition.logei import qLogNoisyExpectedImprovement
                from botorch.acquisition.objective import GenericMCObjective

                obj = objectives[0]
                acq = qLogNoisyExpectedImprovement(
                    model, X, sampler=sampler, objective=GenericMCObjective(_utility_fn(obj)),
                    constraints=cons, X_pending=Xp, prune_baseline=True,
                )
                state["acquisition"] = "qLogNEI"
            else:
                from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
                from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective

                util = np.column_stack([o.utility(Y_train[:, i]) for i, o in enumerate(objectives)])
                feas = np.ones(len(Y_train), dtype=bool)
                for i, c in enumerate(constraints):
                    feas &= c.slack(Y_train[:, k + i]) <= 0
                ref = list(ref_point) if ref_point is not None else front_reference_point(
                    util[feas] if feas.any() else util)
                state["ref_point_utility"] = ref
                state["ref_point_rule"] = "given" if ref_point is not None else FRONT_REFERENCE_RULE
                noise = _noise_variances(members)
                observed = hvi_baseline == "observed" or (
                    hvi_baseline == "auto" and max(noise) <= NOISE_FREE_VARIANCE)
                state["noise_variance_standardised_max"] = max(noise)
                state["hvi_baseline"] = "observed" if observed else "noisy"
                mo_objective = GenericMCMultiOutputObjective(_utilities_fn(objectives, torch))
                if observed:
                    from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
                    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
                        FastNondominatedPartitioning,
                    )

                    from voltlab.optimize import _fastgp

                    # the partitioning keeps the non-dominated rows of the feasible observations itself
                    partitioning = FastNondominatedPartitioning(ref_point=torch.tensor(ref, **tkw),
                                                                Y=torch.tensor(util[feas], **tkw))
                    lean = _fastgp.IndependentGPs(members) if _fastgp.supports(members) else model
                    if n == 1 and Xp is None and lean is not model and all(o.direction != "target" for o in objectives):
                        # one point against exact observations: the expectation in closed form (the same
                        # criterion as the Monte-Carlo qLogEHVI below, without its sample noise, several
                        # times cheaper per evaluation)
                        acq = _fastgp.LogExpectedHypervolumeImprovement(
                            lean, [1.0 if o.direction == "maximize" else -1.0 for o in objectives],
                            partitioning.get_hypercell_bounds(),
                            [(k + i, c.op, c.bound) for i, c in enumerate(constraints)],
                        )
                        state["acquisition"] = "LogEHVI"
                    else:
                        clear_stale_build_lock()  # BoTorch's qLogEHVI may compile its fused kernel
                        acq = qLogExpectedHypervolumeImprovement(
                            lean, ref_point=ref, sampler=sampler, objective=mo_objective,
                            partitioning=partitioning,  # type: ignore[arg-type]  # BoTorch's hint: a slower base class
                            constraints=cons, X_pending=Xp,
                        )
                        state["acquisition"] = "qLogEHVI"
                else:
                    clear_stale_build_lock()
                    acq = qLogNoisyExpectedHypervolumeImprovement(
                        model, ref_point=ref, X_baseline=X, sampler=sampler, objective=mo_objective,
                        constraints=cons, X_pending=Xp, prune_baseline=True,
                    )
                    state["acquisition"] = "qLogNEHVI"
            ics = _starts(raw_sampler, n, raw_samples, num_restarts, seed, torch)
            if distinct is None:
                cand, value = optimize_acqf(acq, q=n, batch_initial_conditions=ics(acq), **opt_kw)
                U = finalize(cand.detach().numpy())
            else:
                cands, values = optimize_acqf(acq, q=n, batch_initial_conditions=ics(acq), return_best_only=False,
                                              **opt_kw)
                U, value, state["restarts_skipped_as_repeats"] = _best_distinct(cands, values, finalize, distinct)
            with torch.no_grad():
                joint = float(acq(torch.tensor(U, **tkw).unsqueeze(0)).item())
            acq_values = [float(value.item()) if value is not None else float("nan")] * n
            state["acquisition_value_joint_projected"] = joint
        with torch.no_grad():
            post = _posterior_summary(model, torch.tensor(U, **tkw), names)
        U = np.asarray(U)[:, : space.dim]
    states = [
        {**state, "acquisition_value": acq_values[i], "posterior": post[i], "batch_index": i} for i in range(n)
    ]
    return U, states


NOISE_FREE_VARIANCE = 1e-2
"""Largest fitted noise variance (standardised outcome units: a noise standard deviation of 10 %
of the outcome's standard deviation) for which ``hvi_baseline="auto"`` treats the observations
as exact. BoTorch's noise prior has its median at 0.018 (LogNormal(-4, 1)): a fit below 1e-2 is
one the data pulled down. Exact outcomes (a 2-objective quadratic test function) fit 2e-3 to
4e-3 at 8 observations and 1e-4 to 5e-4 at 16; outcomes with noise of 14-16 % of their range fit
above 1e-2 (tests/optimize/test_campaign.py)."""


def _noise_variances(members: Sequence[Any]) -> list[float]:
    """Each outcome GP's fitted observation-noise variance, in standardised units."""
    return [float(m.likelihood.noise.detach().max()) for m in members]


def _slack_fn(c: OutcomeConstraint, j: int) -> Callable[[Any], Any]:
    def slack(Z: Any) -> Any:
        return c.slack(Z[..., j])

    return slack


def _utility_fn(obj: Objective) -> Callable[..., Any]:
    def utility(Z: Any, X: Any = None) -> Any:
        return obj.utility(Z[..., 0])

    return utility


def _utilities_fn(objectives: Sequence[Objective], torch: Any) -> Callable[..., Any]:
    def utilities(Z: Any, X: Any = None) -> Any:
        return torch.stack([o.utility(Z[..., i]) for i, o in enumerate(objectives)], dim=-1)

    return utilities


def _best_distinct(cands: Any, values: Any, finalize: Finalize, distinct: Distinct) -> tuple[np.ndarray, Any, int]:
    """The best restart ``(R, q, d)`` by acquisition value whose finalized points are all new, its value, and
    how many better restarts were passed over; the best restart itself when none is new."""
    order = np.argsort(-values.detach().reshape(-1).numpy(), kind="stable")
    first = None
    for skipped, r in enumerate(order):
        U = finalize(cands[int(r)].detach().numpy())
        if first is None:
            first = U
        if np.all(distinct(U)):
            return U, values.reshape(-1)[int(r)], skipped
    return first, values.reshape(-1)[int(order[0])], len(order)  # type: ignore[return-value]


def _starts(raw_sampler: RawSampler, q: int, raw_samples: int, num_restarts: int, seed: int,
            torch: Any) -> Callable[[Any], Any]:
    """Starting batches for ``optimize_acqf``: ``raw_samples`` feasible q-batches, best ``num_restarts`` kept."""
    from botorch.optim.initializers import initialize_q_batch

    raw = torch.tensor(raw_sampler(raw_samples * q, seed), dtype=torch.float64).reshape(raw_samples, q, -1)

    def pick(acq: Any) -> Any:
        with torch.no_grad():
            vals = torch.cat([acq(raw[i : i + 256]) for i in range(0, raw_samples, 256)])  # 256: fewer, larger evaluations
        return initialize_q_batch(raw, vals, n=min(num_restarts, raw_samples))[0]

    return pick


def _mfkg(model: Any, obj: Objective, n: int, Xp: Any, fidelity: Fidelity, num_fantasies: int, seed: int,
          finalize: Finalize, optimize_acqf: Any, opt_kw: dict[str, Any], torch: Any,
          starts: Callable[[int, int], Callable[[Any], Any]]) -> tuple[np.ndarray, list[float], dict[str, Any]]:
    """Cost-aware multi-fidelity knowledge gradient (one-shot), valued at the target fidelity.

    ``current_value`` is the maximum of the posterior mean of the utility at the target
    fidelity (found with the same constraints); its maximiser is recorded as the
    campaign's current recommendation.
    """
    from botorch.acquisition import PosteriorMean, qMultiFidelityKnowledgeGradient
    from botorch.acquisition.cost_aware import InverseCostWeightedUtility
    from botorch.acquisition.objective import ScalarizedPosteriorTransform
    from botorch.acquisition.utils import project_to_target_fidelity
    from botorch.models.cost import AffineFidelityCostModel

    col, target, weight, fixed_cost = fidelity
    dim = int(opt_kw["bounds"].shape[-1])
    sign = -1.0 if obj.direction == "minimize" else 1.0
    if obj.direction == "target":
        raise ValueError("multi-fidelity supports maximize/minimize objectives")  # checked by Campaign.create
    transform = ScalarizedPosteriorTransform(weights=torch.tensor([sign], dtype=torch.float64))

    def project(X: Any) -> Any:
        return project_to_target_fidelity(X, target_fidelities={col: target}, d=dim)

    pm = PosteriorMean(model, posterior_transform=transform)
    fixed = {col: target}

    # current_value: the best posterior mean at the target fidelity over the feasible raw samples, refined
    # from the best few by a short constrained local search with the fidelity held at its target.
    ic_pm = starts(1, seed + 7919)(lambda X: pm(project(X)))
    ic_pm[..., col] = target
    pm_kw = {**opt_kw, "options": {**opt_kw["options"], "maxiter": 25}}
    best_x, current = optimize_acqf(pm, q=1, fixed_features=fixed, batch_initial_conditions=ic_pm, **pm_kw)
    cost_model = AffineFidelityCostModel(fidelity_weights={col: weight}, fixed_cost=fixed_cost)
    acq = qMultiFidelityKnowledgeGradient(
        model, num_fantasies=num_fantasies, current_value=current.detach(), posterior_transform=transform,
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model), project=project, X_pending=Xp,
    )
    q_aug = acq.get_augmented_q_batch_size(n)
    ics = starts(q_aug, seed)(acq)
    # Each KG evaluation solves fantasy problems: cap the optimiser's iterations.
    kg_kw = {**opt_kw, "options": {**opt_kw["options"], "maxiter": 25}}
    cand, value = optimize_acqf(acq, q=n, batch_initial_conditions=ics, **kg_kw)
    U = finalize(cand.detach().numpy().reshape(n, dim))
    rec = finalize(best_x.detach().numpy().reshape(1, dim))
    extra = {
        "acquisition": "qMFKG",
        "fidelity_column": col,
        "target_fidelity_unit": target,
        "cost_model": f"{fixed_cost:g} + {weight:g} * u_fidelity",
        "num_fantasies": num_fantasies,
        "current_value_utility": float(current.item()),
        "recommendation_unit": [float(v) for v in rec[0]],
        "cost_unit": [float(fixed_cost + weight * u[col]) for u in U],
    }
    return U, [float(value.item()) if value is not None else float("nan")] * n, extra


def _explore(model: Any, k: int, n: int, Xp: Any, finalize: Finalize, optimize_acqf: Any, opt_kw: dict[str, Any],
             torch: Any, starts: Callable[[int, int], Callable[[Any], Any]]) -> tuple[np.ndarray, list[float]]:
    """Greedy batch of maximum posterior standard deviation (summed over standardised objectives).

    GP variance does not depend on observed values, so conditioning on each
    chosen (and pending) point with its posterior mean gives the exact
    variance of the next step.
    """
    from botorch.acquisition.acquisition import AcquisitionFunction
    from botorch.models import ModelListGP
    from botorch.utils.transforms import t_batch_mode_transform

    scales = _outcome_stds(model)[:k]
    members = _members(model)[:k]  # only the objectives' uncertainty counts

    class _ScaledStd(AcquisitionFunction):  # type: ignore[misc]
        @t_batch_mode_transform(expected_q=1)  # type: ignore[arg-type]
        def forward(self, X: Any) -> Any:
            var = self.model.posterior(X).variance[..., 0, :k]  # type: ignore[attr-defined]
            return (var.clamp_min(1e-18).sqrt() / scales).sum(dim=-1)

    def condition(ms: list[Any], Xnew: Any) -> list[Any]:
        out = []
        with torch.no_grad():
            for m in ms:
                m.posterior(Xnew)  # populate the prediction caches conditioning needs
                out.append(m.condition_on_observations(Xnew, m.posterior(Xnew).mean))
        return out

    def joint(ms: list[Any]) -> Any:
        return ms[0] if len(ms) == 1 else ModelListGP(*ms)

    cur = condition(members, Xp) if Xp is not None else members
    rows: list[np.ndarray] = []
    values: list[float] = []
    seed = int(opt_kw["options"]["seed"])
    for step in range(n):
        acq = _ScaledStd(joint(cur))
        cand, value = optimize_acqf(acq, q=1, batch_initial_conditions=starts(1, seed + step)(acq), **opt_kw)
        u = finalize(cand.detach().numpy())
        rows.append(u[0])
        values.append(float(value.item()))
        cur = condition(cur, torch.tensor(u, dtype=torch.float64))
    return np.asarray(rows), values
