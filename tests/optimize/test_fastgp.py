"""The lean acquisition posterior and the closed-form LogEHVI against BoTorch's own."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from botorch.acquisition.multi_objective.analytic import ExpectedHypervolumeImprovement  # noqa: E402
from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement  # noqa: E402
from botorch.acquisition.multi_objective.monte_carlo import qExpectedHypervolumeImprovement  # noqa: E402
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective  # noqa: E402
from botorch.fit import fit_gpytorch_mll  # noqa: E402
from botorch.models import ModelListGP, SingleTaskGP  # noqa: E402
from botorch.models.transforms.input import Normalize  # noqa: E402
from botorch.models.transforms.outcome import Log, Standardize  # noqa: E402
from botorch.sampling import SobolQMCNormalSampler  # noqa: E402
from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning  # noqa: E402
from gpytorch.kernels import MaternKernel  # noqa: E402
from gpytorch.mlls import ExactMarginalLogLikelihood  # noqa: E402

from voltlab.optimize._fastgp import IndependentGPs, LogExpectedHypervolumeImprovement, supports  # noqa: E402

D = torch.float64


@pytest.fixture(scope="module")
def fitted():
    """Three outcome GPs on 40 points in 2-D: two objectives (maximise y0, minimise y1) and a
    constraint outcome y2; the second uses a Matern kernel (the generic kernel path)."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(40, 2, dtype=D, generator=g)
    Y = torch.stack([torch.sin(6 * X[:, 0]) + X[:, 1], 3 * (X**2).sum(-1), X[:, 0] - X[:, 1]], -1)
    Y = Y + 0.01 * torch.randn(Y.shape, dtype=D, generator=g)
    members = []
    for j in range(3):
        kw = {"covar_module": MaternKernel(nu=2.5, ard_num_dims=2)} if j == 1 else {}
        m = SingleTaskGP(X, Y[:, j : j + 1], outcome_transform=Standardize(m=1), **kw)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(m.likelihood, m))
        m.eval()
        members.append(m)
    return X, Y, members


@pytest.mark.parametrize("q", [1, 3])
def test_posterior_equals_botorch(fitted, q):
    _, _, members = fitted
    ref, lean = ModelListGP(*members), IndependentGPs(members)
    ref.eval()
    Xq = torch.rand(7, q, 2, dtype=D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ref.posterior(Xq), lean.posterior(Xq)
        cov_ref = a.distribution.covariance_matrix  # (7, 3q, 3q), one q x q block per outcome
    assert b.mean.shape == (7, q, 3) and b.variance.shape == (7, q, 3)
    assert torch.allclose(a.mean, b.mean, atol=1e-9)
    assert torch.allclose(a.variance, b.variance, atol=1e-8)
    L = b._scale_tril  # (7, 3, q, q): per outcome
    for j in range(3):
        block = cov_ref[:, j * q : (j + 1) * q, j * q : (j + 1) * q]
        assert torch.allclose(L[:, j] @ L[:, j].transpose(-1, -2), block, atol=1e-7)


def test_monte_carlo_acquisition_is_unchanged_with_pending_points(fitted):
    _, Y, members = fitted
    util = torch.stack([Y[:, 0], -Y[:, 1]], -1)
    part = FastNondominatedPartitioning(ref_point=util.min(0).values - 0.1, Y=util)
    obj = GenericMCMultiOutputObjective(lambda Z, X=None: torch.stack([Z[..., 0], -Z[..., 1]], -1))
    Xq = torch.rand(5, 2, 2, dtype=D, generator=torch.Generator().manual_seed(2))
    pending = torch.rand(1, 2, dtype=D, generator=torch.Generator().manual_seed(3))
    vals = []
    for model in (ModelListGP(*members[:2]), IndependentGPs(members[:2])):
        acq = qLogExpectedHypervolumeImprovement(model, ref_point=part.ref_point.tolist(), partitioning=part,
                                                 sampler=SobolQMCNormalSampler(torch.Size([64]), seed=0),
                                                 objective=obj, X_pending=pending)
        with torch.no_grad():
            vals.append(acq(Xq))
    assert torch.isfinite(vals[0]).all()
    assert torch.allclose(vals[0], vals[1], rtol=1e-6, atol=1e-6)


def test_log_ehvi_equals_botorch_closed_form(fitted):
    """Two maximised objectives: exp(LogEHVI) is BoTorch's analytic EHVI (Yang et al. 2019)."""
    _, Y, members = fitted
    both_max = [members[0], members[2]]
    util = Y[:, [0, 2]]
    part = FastNondominatedPartitioning(ref_point=util.min(0).values - 0.2, Y=util)
    Xq = torch.rand(50, 1, 2, dtype=D, generator=torch.Generator().manual_seed(4))
    ours = LogExpectedHypervolumeImprovement(IndependentGPs(both_max), [1.0, 1.0], part.get_hypercell_bounds())
    theirs_model = ModelListGP(*both_max)
    theirs_model.eval()
    theirs = ExpectedHypervolumeImprovement(theirs_model, ref_point=part.ref_point.tolist(), partitioning=part)
    with torch.no_grad():
        a, b = ours(Xq).exp(), theirs(Xq)
    assert (b > 1e-4).sum() >= 10  # the comparison covers points that improve the front
    assert torch.allclose(a, b, rtol=1e-7, atol=1e-10)


def test_log_ehvi_minimise_and_constraint_equal_monte_carlo(fitted):
    """Maximise y0, minimise y1, subject to y2 >= 0: the closed form against 2^14 quasi-MC samples."""
    _, Y, members = fitted
    util = torch.stack([Y[:, 0], -Y[:, 1]], -1)
    feas = Y[:, 2] >= 0
    part = FastNondominatedPartitioning(ref_point=util.min(0).values - 0.1, Y=util[feas])
    ours = LogExpectedHypervolumeImprovement(IndependentGPs(members), [1.0, -1.0], part.get_hypercell_bounds(),
                                             [(2, ">=", 0.0)])
    ref_model = ModelListGP(*members)
    ref_model.eval()
    mc = qExpectedHypervolumeImprovement(
        ref_model, ref_point=part.ref_point.tolist(), partitioning=part,
        sampler=SobolQMCNormalSampler(torch.Size([2**14]), seed=1),
        objective=GenericMCMultiOutputObjective(lambda Z, X=None: torch.stack([Z[..., 0], -Z[..., 1]], -1)),
        constraints=[lambda Z: -Z[..., 2]], eta=1e-6,
    )
    Xq = torch.rand(400, 1, 2, dtype=D, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a, b = ours(Xq).exp(), mc(Xq)
    big = b > 1e-3
    assert big.sum() >= 10
    assert torch.allclose(a[big], b[big], rtol=2e-3)
    assert (a - b).abs().max() < 1e-3


def test_log_ehvi_has_finite_gradients_far_from_the_front(fitted):
    _, Y, members = fitted
    util = torch.stack([Y[:, 0], -Y[:, 1]], -1)
    part = FastNondominatedPartitioning(ref_point=util.min(0).values, Y=util)
    acq = LogExpectedHypervolumeImprovement(IndependentGPs(members[:2]), [1.0, -1.0], part.get_hypercell_bounds())
    X = torch.tensor([[[0.5, 0.5]], [[3.0, -3.0]], [[1e-9, 1.0]]], dtype=D, requires_grad=True)
    v = acq(X)
    v.sum().backward()
    assert torch.isfinite(v).all() and torch.isfinite(X.grad).all()


def test_supports_only_what_it_reproduces(fitted):
    X, Y, members = fitted
    assert supports(members)
    logged = SingleTaskGP(X, Y[:, :1].exp(), outcome_transform=Log())
    normed = SingleTaskGP(X, Y[:, :1], input_transform=Normalize(d=2))
    assert not supports([members[0], logged]) and not supports([normed])
    with pytest.raises(ValueError, match="plain single-output SingleTaskGP"):
        IndependentGPs([normed])
    with pytest.raises(ValueError, match="op must be"):
        LogExpectedHypervolumeImprovement(IndependentGPs(members), [1.0, -1.0], torch.zeros(2, 1, 2, dtype=D),
                                          [(2, ">", 0.0)])

