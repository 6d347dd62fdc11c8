"""A lean posterior for the acquisition step: independent exact GPs from cached factors.

Every ask fits one BoTorch ``SingleTaskGP`` per outcome (``_botorch._fit_gps``) and then
optimises a Monte-Carlo acquisition function, which evaluates the posterior at the candidate
points some 50 times, and at 1,024 raw starting points before that. Through ``ModelListGP``
each evaluation builds GPyTorch lazy tensors, a block-diagonal multi-task normal over the
outcomes and its Cholesky factor; at 100 observations that bookkeeping, not the arithmetic,
is most of an ask's time.

:class:`IndependentGPs` computes the same posterior directly: per outcome, with the
Cholesky factor ``L`` of ``K + noise I`` and ``alpha = (K + noise I)^-1 (y - m)`` computed
once from the fitted model,

    mean(x) = m + k(x, X) alpha,    cov(x, x') = k(x, x') - v(x)^T v(x'),  v = L^-1 k(X, x),

un-standardised with the model's ``Standardize`` transform. The outcomes are independent, so
a joint sample is each outcome's own sample; :class:`IndependentNormalPosterior` draws them
from the sampler's base samples (``rsample_from_base_samples``), which keeps the
sample-average approximation deterministic as BoTorch's optimiser expects. The fitted
models are not changed; tests compare mean, covariance and acquisition values with
BoTorch's own posterior.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import _log_ei_helper
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors import Posterior
from botorch.utils.probability.utils import log_ndtr
from botorch.utils.safe_math import log1mexp
from botorch.utils.transforms import t_batch_mode_transform
from linear_operator.utils.cholesky import psd_safe_cholesky

__all__ = ["IndependentGPs", "IndependentNormalPosterior", "LogExpectedHypervolumeImprovement", "supports"]

_JITTER = 1e-9
"""Added to the diagonal of a q x q test covariance before its Cholesky factor (variance units
of the standardised outcome)."""


def supports(members: Sequence[Any]) -> bool:
    """Whether every member is a plain ``SingleTaskGP`` this class reproduces exactly: a
    Gaussian likelihood with homoscedastic noise, a constant mean, no input transform and a
    ``Standardize`` (or no) outcome transform, not batched."""
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.likelihoods import GaussianLikelihood
    from gpytorch.means import ConstantMean

    for m in members:
        if type(m) is not SingleTaskGP or getattr(m, "input_transform", None) is not None:
            return False
        if not isinstance(m.likelihood, GaussianLikelihood) or not isinstance(m.mean_module, ConstantMean):
            return False
        tf = getattr(m, "outcome_transform", None)
        if tf is not None and type(tf) is not Standardize:
            return False
        if m.train_inputs[0].dim() != 2 or len(m._aug_batch_shape) != 0:
            return False
    return True


class _Factor:
    """One outcome's fitted GP reduced to what prediction needs, detached from its parameters
    (the acquisition's gradient is with respect to the candidate points only)."""

    def __init__(self, member: Any) -> None:
        from gpytorch.kernels import RBFKernel

        member.eval()
        with torch.no_grad():
            X = member.train_inputs[0].detach()
            y = member.train_targets.detach()
            K = member.covar_module(X).to_dense()
            noise = member.likelihood.noise.detach().reshape(-1)
            K = K + torch.diag_embed(noise.expand(len(X)))
            self.X = X
            self.L = psd_safe_cholesky(K)
            self.constant = member.mean_module.constant.detach().reshape(())
            self.alpha = torch.cholesky_solve((y - self.constant).unsqueeze(-1), self.L).squeeze(-1)
            tf = getattr(member, "outcome_transform", None)
            if tf is not None:
                self.shift = tf.means.detach().reshape(())
                self.scale = tf.stdvs.detach().reshape(())
            else:
                self.shift = torch.zeros((), dtype=X.dtype)
                self.scale = torch.ones((), dtype=X.dtype)
            kernel = member.covar_module
            self.rbf = type(kernel) is RBFKernel and kernel.active_dims is None
            if self.rbf:  # exp(-|x - x'|^2 / 2) in lengthscale units, the training side precomputed
                self.lengthscale = kernel.lengthscale.detach().reshape(-1)
                self.Xs = X / self.lengthscale
                self.Xs_sq = (self.Xs**2).sum(-1)
            else:
                self.kernel = copy.deepcopy(kernel).requires_grad_(False)

    def _k_train(self, Xq: torch.Tensor) -> torch.Tensor:
        """``k(Xq, X)``, shape ``(..., q, n)``."""
        if self.rbf:
            A = Xq / self.lengthscale
            d2 = (A**2).sum(-1, keepdim=True) + self.Xs_sq - 2.0 * (A @ self.Xs.transpose(-1, -2))
            return torch.exp(-0.5 * d2.clamp_min(0.0))
        out = self.kernel.forward(Xq, self.X.expand(*Xq.shape[:-2], *self.X.shape))
        return out if isinstance(out, torch.Tensor) else out.to_dense()

    def _k_test(self, Xq: torch.Tensor) -> torch.Tensor:
        """``k(Xq, Xq)``, shape ``(..., q, q)``."""
        if self.rbf:
            A = Xq / self.lengthscale
            d2 = ((A.unsqueeze(-2) - A.unsqueeze(-3)) ** 2).sum(-1)
            return torch.exp(-0.5 * d2)
        out = self.kernel.forward(Xq, Xq)
        return out if isinstance(out, torch.Tensor) else out.to_dense()

    def predict(self, Xq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``(..., q)`` and covariance ``(..., q, q)`` at ``Xq`` ``(..., q, d)``, original units."""
        Ks = self._k_train(Xq)
        mean = self.constant + Ks @ self.alpha
        V = torch.linalg.solve_triangular(self.L, Ks.transpose(-1, -2), upper=False)  # (..., n, q)
        cov = self._k_test(Xq) - V.transpose(-1, -2) @ V
        return self.shift + self.scale * mean, cov * self.scale**2


class IndependentNormalPosterior(Posterior):
    """Joint normal posterior of independent outcomes at q points.

    ``mean`` has shape ``(..., q, m)`` and ``scale_tril`` ``(..., m, q, q)``: outcome ``j``'s
    values at the q points are ``N(mean[..., j], scale_tril[..., j, :, :] @ its transpose)``.
    """

    def __init__(self, mean: torch.Tensor, scale_tril: torch.Tensor) -> None:
        self._mean = mean
        self._scale_tril = scale_tril

    @property
    def device(self) -> torch.device:
        return self._mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self._mean.dtype

    @property
    def mean(self) -> torch.Tensor:
        return self._mean

    @property
    def variance(self) -> torch.Tensor:
        return (self._scale_tril**2).sum(-1).transpose(-1, -2)

    @property
    def base_sample_shape(self) -> torch.Size:
        return self._mean.shape

    @property
    def batch_range(self) -> tuple[int, int]:
        return (0, -2)

    def _extended_shape(self, sample_shape: torch.Size = torch.Size()) -> torch.Size:  # noqa: B008
        return sample_shape + self._mean.shape

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: torch.Tensor) -> torch.Tensor:
        if base_samples.shape[: len(sample_shape)] != sample_shape:
            raise RuntimeError(f"sample_shape {tuple(sample_shape)} disagrees with base samples "
                               f"{tuple(base_samples.shape)}")
        z = base_samples.transpose(-1, -2).unsqueeze(-1)  # (S..., b..., m, q, 1)
        draws = (self._scale_tril @ z).squeeze(-1).transpose(-1, -2)  # (S..., b..., q, m)
        return self._mean + draws

    def rsample(self, sample_shape: torch.Size | None = None) -> torch.Tensor:
        shape = torch.Size() if sample_shape is None else torch.Size(sample_shape)
        z = torch.randn(shape + self._mean.shape, dtype=self.dtype, device=self.device)
        return self.rsample_from_base_samples(shape, z)


class IndependentGPs(Model):
    """The posterior of fitted independent ``SingleTaskGP`` outcome models, for acquisition.

    Parameters
    ----------
    members
        One fitted single-output ``SingleTaskGP`` per outcome (see :func:`supports`); the
        outcome order is the order of ``members``.
    """

    def __init__(self, members: Sequence[Any]) -> None:
        super().__init__()
        if not members or not supports(members):
            raise ValueError("IndependentGPs needs plain single-output SingleTaskGP members")
        self._factors = [_Factor(m) for m in members]

    @property
    def num_outputs(self) -> int:
        return len(self._factors)

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    def posterior(self, X: torch.Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | torch.Tensor = False,
                  posterior_transform: PosteriorTransform | None = None) -> IndependentNormalPosterior:
        if observation_noise is not False or posterior_transform is not None:
            raise NotImplementedError("IndependentGPs: the latent posterior only")
        factors = self._factors if output_indices is None else [self._factors[i] for i in output_indices]
        means, trils = [], []
        for f in factors:
            mean, cov = f.predict(X)
            means.append(mean)
            if cov.shape[-1] == 1:
                trils.append(cov.clamp_min(1e-30).sqrt())
            else:
                eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
                trils.append(psd_safe_cholesky(cov + _JITTER * f.scale**2 * eye))
        return IndependentNormalPosterior(torch.stack(means, dim=-1), torch.stack(trils, dim=-3))

    def condition_on_observations(self, X: torch.Tensor, Y: torch.Tensor, **kwargs: Any) -> Model:
        raise NotImplementedError("IndependentGPs is for acquisition only; condition the fitted members")


class LogExpectedHypervolumeImprovement(AcquisitionFunction):
    """Analytic log expected hypervolume improvement of one point, with outcome constraints.

    For independent normal outcomes the expected improvement of the hypervolume over a box
    decomposition of the non-dominated region (cells ``[l_c, u_c]`` in utility space) is a sum
    of products (Yang et al. 2019, J. Global Optim. 75, 3-34):

        EHVI(x) = sum_c prod_j E[(min(U_j, u_cj) - l_cj)_+],
        E[(min(U, u) - l)_+] = s h((m - l) / s) - s h((m - u) / s),  h(z) = phi(z) + z Phi(z),

    with ``U_j ~ N(m_j, s_j^2)`` the utility of objective ``j`` (``+y`` to maximise, ``-y`` to
    minimise). Each factor is computed in log space (BoTorch's LogEI helper and ``log1mexp``) and
    the cells are combined with ``logsumexp``, so the value and its gradient stay finite far from
    the front, as with LogEI (Ament et al. 2023). Outcome constraints ``y >= b`` / ``y <= b``
    multiply by their probability of holding (``log Phi``): the outcomes' GPs are independent,
    so this is the exact expectation of the feasible improvement.

    This is the quantity BoTorch's Monte-Carlo ``qLogExpectedHypervolumeImprovement`` estimates
    for one point (without sample noise): it needs a posterior mean and variance per outcome
    instead of 128 joint samples.

    Parameters
    ----------
    model
        The outcomes' posterior (:class:`IndependentGPs`), objectives first.
    signs
        ``(k,)``: +1 for a maximised objective, -1 for a minimised one (its utility is ``-y``).
    cell_bounds
        ``(2, n_cells, k)`` lower and upper cell bounds in utility space (upper may be ``inf``),
        from a BoTorch box decomposition of the feasible observed front above the reference point.
    constraints
        ``(output index, op, bound)`` per outcome constraint, op ``">="`` or ``"<="``.
    """

    def __init__(self, model: IndependentGPs, signs: Sequence[float], cell_bounds: torch.Tensor,
                 constraints: Sequence[tuple[int, str, float]] = ()) -> None:
        super().__init__(model=model)
        dtype = cell_bounds.dtype
        self.signs = torch.as_tensor(list(signs), dtype=dtype)
        self.lower = cell_bounds[0]
        upper = cell_bounds[1]
        self.upper_finite = torch.isfinite(upper)
        self.upper = torch.where(self.upper_finite, upper, self.lower + 1.0)  # finite stand-in, masked below
        self.constraints = [(int(j), str(op), float(b)) for j, op, b in constraints]
        for _, op, _ in self.constraints:
            if op not in (">=", "<="):
                raise ValueError(f"constraint op must be '>=' or '<=', got {op!r}")

    @t_batch_mode_transform(expected_q=1)  # type: ignore[arg-type]
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        post: IndependentNormalPosterior = self.model.posterior(X)  # type: ignore[assignment]
        mean = post.mean[..., 0, :]  # (b, outputs)
        sd = post.variance[..., 0, :].clamp_min(1e-30).sqrt()
        k = len(self.signs)
        m = (mean[..., :k] * self.signs).unsqueeze(-2)  # (b, 1, k) utility means
        s = sd[..., :k].unsqueeze(-2)
        log_s = s.log()
        log_l = log_s + _log_ei_helper((m - self.lower) / s)  # (b, cells, k)
        log_u = log_s + _log_ei_helper((m - self.upper) / s)
        # log(E[(U - l)+] - E[(U - u)+]); the clamp keeps log1mexp's argument below 0 when rounding
        # makes the two terms equal (a cell much narrower than the posterior's spread)
        capped = log_l + log1mexp((log_u - log_l).clamp_max(-1e-15))
        log_factor = torch.where(self.upper_finite, capped, log_l)
        value = torch.logsumexp(log_factor.sum(-1), dim=-1)  # (b,)
        for j, op, bound in self.constraints:
            z = (mean[..., j] - bound) / sd[..., j]
            value = value + log_ndtr(z if op == ">=" else -z)
        return value
