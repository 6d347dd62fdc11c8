"""Campaign plots: convergence and Pareto front, as matplotlib PNG or Plotly HTML.

``convergence``
    Every complete observation of objective 0 (in its unit) against the
    evaluation number (order told), infeasible ones hollow, with the best
    feasible value so far as a step line.
``pareto_front``
    Objective 0 against objective 1 for complete observations, the feasible
    non-dominated set joined by a line; with three objectives a 3-D scatter.
``gp_slices``
    The GP's posterior mean and a 95 % band of one outcome along each numeric
    parameter in turn, the others held at the best feasible point (one panel each).
``feasibility_map``
    The GP's probability that every outcome constraint holds, on a grid of two
    parameters (the others at the best feasible point), with the observations.
``hypervolume``
    Hypervolume of the feasible observations (utility units to the power of the
    number of objectives) against the evaluation number, for a fixed reference
    point (:meth:`Campaign.hypervolume_trace`).

Both return the figure; :func:`save` writes it, choosing the backend from the
suffix (``.png``/``.svg``/``.pdf``: matplotlib, ``.html``: Plotly).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voltlab.errors import OptimizationError
from voltlab.optimize.campaign import Campaign
from voltlab.optimize.space import Categorical, Fixed, Point

__all__ = ["backend_for", "convergence", "feasibility_map", "gp_slices", "hypervolume", "pareto_front", "save"]

Backend = Literal["matplotlib", "plotly"]


def backend_for(path: str | os.PathLike[str]) -> Backend:
    """``"plotly"`` for ``.html``, ``"matplotlib"`` for ``.png``/``.svg``/``.pdf``.

    Raises
    ------
    OptimizationError
        Any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".html":
        return "plotly"
    if suffix in (".png", ".svg", ".pdf"):
        return "matplotlib"
    raise OptimizationError(f"plot file must end in .png, .svg, .pdf or .html, got {suffix or 'no suffix'!r}",
                            path=path)


def _pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (unless one is already chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _figure(backend: Backend, title: str, xlabel: str, ylabel: str) -> Any:
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white")
        return fig
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig


def _points(fig: Any, backend: Backend, x: np.ndarray, y: np.ndarray, label: str, *, hollow: bool = False,
            line: bool = False, step: bool = False, color: str = "#1f77b4") -> None:
    if backend == "plotly":
        import plotly.graph_objects as go

        mode = "lines" if line else "markers"
        fig.add_trace(go.Scatter(
            x=x, y=y, mode=mode, name=label, line={"shape": "hv" if step else "linear", "color": color},
            marker={"symbol": "circle-open" if hollow else "circle", "color": color, "size": 8},
        ))
        return
    ax = fig.axes[0]
    if line:
        if step:
            ax.step(x, y, where="post", color=color, label=label)
        else:
            ax.plot(x, y, color=color, label=label)
    else:
        ax.scatter(x, y, label=label, s=28, facecolors="none" if hollow else color, edgecolors=color)


def _finish(fig: Any, backend: Backend) -> Any:
    if backend == "matplotlib":
        ax = fig.axes[0]
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
    return fig


def convergence(campaign: Campaign, backend: Backend = "matplotlib") -> Any:
    """Observed values and best-so-far of objective 0 against evaluation number.

    Raises
    ------
    OptimizationError
        No complete observation yet.
    """
    obj = campaign.objectives[0]
    done = sorted(campaign.suggestions("complete"), key=lambda s: (s.told_utc or "", s.id))
    if not done:
        raise OptimizationError("nothing to plot: no complete observations yet (tell some results first)")
    n = np.arange(1, len(done) + 1)
    y = np.array([s.values[obj.name] for s in done])  # type: ignore[index]
    feas = np.array([campaign.feasible(s) for s in done])
    label = f"target {obj.target:g}" if obj.direction == "target" else obj.direction
    fig = _figure(backend, f"Convergence: {obj.name} ({label})", "evaluation", obj.name)
    _points(fig, backend, n[feas], y[feas], "feasible")
    if (~feas).any():
        _points(fig, backend, n[~feas], y[~feas], "infeasible", hollow=True, color="#d62728")
    best: list[float] = []
    cur: float | None = None
    for s, f in zip(done, feas, strict=True):
        if f and (cur is None or obj.utility(s.values[obj.name]) > obj.utility(cur)):  # type: ignore[index]
            cur = s.values[obj.name]  # type: ignore[index]
        best.append(np.nan if cur is None else cur)
    _points(fig, backend, n, np.array(best), "best so far", line=True, step=True, color="#2ca02c")
    return _finish(fig, backend)


def _pareto_objectives(campaign: Campaign, objectives: Sequence[str] | None) -> list[Any]:
    by_name = {o.name: o for o in campaign.objectives}
    if objectives is None:
        return campaign.objectives[:3]
    names = list(objectives)
    unknown = [n for n in names if n not in by_name]
    if unknown or len(names) not in (2, 3) or len(set(names)) != len(names):
        raise OptimizationError(
            f"objectives must name 2 or 3 different objectives of the campaign {list(by_name)}, got {names}"
        )
    return [by_name[n] for n in names]


def pareto_front(campaign: Campaign, backend: Backend = "matplotlib", *,
                 objectives: Sequence[str] | None = None) -> Any:
    """The feasible non-dominated observations: 2-D (joined by a line) or 3-D (a scatter).

    Parameters
    ----------
    objectives
        The 2 or 3 objectives to show; default the campaign's first three (two for a
        two-objective campaign). Non-dominated means over *all* the campaign's
        objectives, so with more objectives than axes a point can be on the front
        without looking it.

    Raises
    ------
    OptimizationError
        Fewer than two objectives, unknown names, or no complete observation.
    """
    if len(campaign.objectives) < 2:
        raise OptimizationError("a Pareto front needs two objectives; use the convergence plot for one")
    objs = _pareto_objectives(campaign, objectives)
    done = campaign.suggestions("complete")
    if not done:
        raise OptimizationError("nothing to plot: no complete observations yet (tell some results first)")
    xyz = np.array([[s.values[o.name] for o in objs] for s in done])  # type: ignore[index]
    feas = np.array([campaign.feasible(s) for s in done])
    front_ids = {s.id for s in campaign.pareto_front()}
    on_front = np.array([s.id in front_ids for s in done])
    if len(objs) == 3:
        return _pareto_3d(xyz, feas, on_front, objs, backend)
    o0, o1 = objs
    fig = _figure(backend, "Pareto front", f"{o0.name} ({o0.direction})", f"{o1.name} ({o1.direction})")
    xy = xyz
    rest = feas & ~on_front
    _points(fig, backend, xy[rest, 0], xy[rest, 1], "feasible", color="#7f7f7f")
    if (~feas).any():
        _points(fig, backend, xy[~feas, 0], xy[~feas, 1], "infeasible", hollow=True, color="#d62728")
    front = xy[on_front]
    front = front[np.argsort(front[:, 0])]
    _points(fig, backend, front[:, 0], front[:, 1], "non-dominated", color="#1f77b4")
    if len(front) > 1 and len(campaign.objectives) == 2:  # with more objectives the 2-D front is not a curve
        _points(fig, backend, front[:, 0], front[:, 1], "front", line=True, color="#1f77b4")
    return _finish(fig, backend)


def _pareto_3d(xyz: np.ndarray, feas: np.ndarray, on_front: np.ndarray, objs: Sequence[Any],
               backend: Backend) -> Any:
    labels = [f"{o.name} ({o.direction})" for o in objs]
    groups = [("feasible", feas & ~on_front, "#7f7f7f", False), ("infeasible", ~feas, "#d62728", True),
              ("non-dominated", on_front, "#1f77b4", False)]
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure()
        for name, mask, color, hollow in groups:
            if mask.any() or name == "non-dominated":
                fig.add_trace(go.Scatter3d(
                    x=xyz[mask, 0], y=xyz[mask, 1], z=xyz[mask, 2], mode="markers", name=name,
                    marker={"symbol": "circle-open" if hollow else "circle", "color": color, "size": 4},
                ))
        fig.update_layout(title="Pareto front", template="plotly_white", scene={
            "xaxis_title": labels[0], "yaxis_title": labels[1], "zaxis_title": labels[2]})
        return fig
    plt = _pyplot()

    fig = plt.figure(figsize=(7, 6), dpi=110)
    ax = fig.add_subplot(projection="3d")
    ax.set_title("Pareto front")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_zlabel(labels[2])
    for name, mask, color, hollow in groups:
        if mask.any():
            ax.scatter(xyz[mask, 0], xyz[mask, 1], xyz[mask, 2], label=name, s=22,
                       facecolors="none" if hollow else color, edgecolors=color)
    return _finish(fig, backend)


def hypervolume(campaign: Campaign, backend: Backend = "matplotlib") -> Any:
    """Hypervolume trace of a multi-objective campaign.

    Raises
    ------
    OptimizationError
        Fewer than two objectives, or no complete observation.
    """
    if len(campaign.objectives) < 2:
        raise OptimizationError("a hypervolume trace needs two or more objectives; use the convergence plot")
    trace, ref = campaign.hypervolume_trace()
    if not trace:
        raise OptimizationError("nothing to plot: no complete observations yet (tell some results first)")
    ref_text = ", ".join(f"{v:.4g}" for v in ref) if ref else "none feasible yet"
    fig = _figure(backend, f"Hypervolume (reference point in utilities: {ref_text})", "evaluation", "hypervolume")
    _points(fig, backend, np.arange(1, len(trace) + 1), np.asarray(trace), "hypervolume", line=True, step=True)
    return _finish(fig, backend)


def _anchor(campaign: Campaign) -> Point:
    """Where the other parameters are held: the best feasible observation, else the centre."""
    best = campaign.best()
    return dict(best.point) if best is not None else campaign.space.center()


def _numeric(campaign: Campaign) -> list[Any]:
    return [p for p in campaign.space.parameters if not isinstance(p, Categorical | Fixed)]


def _projected_line(campaign: Campaign, name: str, low: float, high: float, anchor: Point,
                    n: int, log: bool = False) -> tuple[np.ndarray, list[Point]]:
    """Points along ``name`` from ``low`` to ``high`` (others at ``anchor``), each projected into the space
    (inside a simplex the other members shift to keep the total); x = the projected value."""
    values = np.geomspace(low, high, n) if log else np.linspace(low, high, n)
    pts = [campaign.space.project({**anchor, name: float(v)}) for v in values]
    return np.array([float(p[name]) for p in pts]), pts


def gp_slices(campaign: Campaign, outcome: str | None = None, backend: Backend = "matplotlib", *,
              n: int = 60) -> Any:
    """One-dimensional slices of the GP: ``outcome`` (default objective 0) along each numeric parameter.

    Each panel varies one parameter over its range with the others at the best feasible
    observation (the space's centre before there is one), projected into the space; the
    line is the posterior mean, the band mean ± 1.96 std, in the outcome's unit.

    Raises
    ------
    OptimizationError
        Fewer than 2 complete observations, an unknown outcome, or no numeric parameter.
    """
    name = outcome or campaign.objectives[0].name
    if name not in campaign.outcome_names:
        raise OptimizationError(f"unknown outcome {name!r}; this campaign has {campaign.outcome_names}")
    params = _numeric(campaign)
    if not params:
        raise OptimizationError("the space has no numeric parameter to slice along")
    anchor = _anchor(campaign)
    xs, pts = [], []
    for p in params:
        x, line = _projected_line(campaign, p.name, p.low, p.high, anchor, n, log=bool(getattr(p, "log", False)))
        xs.append(x)
        pts += line
    pred = campaign.predict(pts)  # one GP fit for every panel
    mean, std = pred[f"{name}_mean"].to_numpy(), pred[f"{name}_std"].to_numpy()
    lines = [(p.name, x, mean[k * n:(k + 1) * n], std[k * n:(k + 1) * n], float(anchor[p.name]))
             for k, (p, x) in enumerate(zip(params, xs, strict=True))]
    title = f"GP slices of {name} through the best feasible point (band: 95 %)"
    cols = min(3, len(lines))
    rows = -(-len(lines) // cols)
    if backend == "plotly":
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=rows, cols=cols, subplot_titles=[ln[0] for ln in lines])
        for k, (_, x, m, sd, at) in enumerate(lines):
            r, c = k // cols + 1, k % cols + 1
            order = np.argsort(x)
            x, m, sd = x[order], m[order], sd[order]
            fig.add_trace(go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[m + 1.96 * sd, (m - 1.96 * sd)[::-1]],
                                     fill="toself", fillcolor="rgba(31,119,180,0.2)", line={"width": 0},
                                     showlegend=False, hoverinfo="skip"), row=r, col=c)
            fig.add_trace(go.Scatter(x=x, y=m, mode="lines", line={"color": "#1f77b4"}, showlegend=False,
                                     name=f"{name} mean"), row=r, col=c)
            fig.add_vline(x=at, line={"dash": "dot", "color": "#2ca02c"}, row=r, col=c)
            fig.update_yaxes(title_text=name if c == 1 else None, row=r, col=c)
        fig.update_layout(title=title, template="plotly_white", height=320 * rows)
        return fig
    plt = _pyplot()

    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=110, squeeze=False)
    for k, (pname, x, m, sd, at) in enumerate(lines):
        ax = axes[k // cols][k % cols]
        order = np.argsort(x)
        x, m, sd = x[order], m[order], sd[order]
        ax.fill_between(x, m - 1.96 * sd, m + 1.96 * sd, alpha=0.25, color="#1f77b4", lw=0)
        ax.plot(x, m, color="#1f77b4")
        ax.axvline(at, ls=":", color="#2ca02c")
        ax.set_xlabel(pname)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    for k in range(len(lines), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def feasibility_map(campaign: Campaign, x: str, y: str, backend: Backend = "matplotlib", *, n: int = 40) -> Any:
    """Probability that every outcome constraint holds, over parameters ``x`` and ``y``.

    ``P = prod_c Phi(-slack_mean_c / std_c)`` from each constrained outcome's GP (independent
    Gaussians), on an ``n x n`` grid of ``x`` and ``y`` with the other parameters at the best
    feasible observation, each grid point projected into the space; observed points are
    drawn on top (filled: feasible, hollow: infeasible).

    Raises
    ------
    OptimizationError
        No outcome constraint, ``x``/``y`` not distinct numeric parameters, or fewer than
        2 complete observations.
    """
    from scipy.stats import norm

    if not campaign.outcome_constraints:
        raise OptimizationError("a feasibility map needs outcome constraints; this campaign has none")
    numeric = {p.name: p for p in _numeric(campaign)}
    for v in (x, y):
        if v not in numeric:
            raise OptimizationError(f"{v!r} is not a numeric parameter of the space; choose from {sorted(numeric)}")
    if x == y:
        raise OptimizationError("x and y must be two different parameters")
    px, py = numeric[x], numeric[y]
    anchor = _anchor(campaign)
    gx, gy = (np.geomspace(q.low, q.high, n) if getattr(q, "log", False) else np.linspace(q.low, q.high, n)
              for q in (px, py))
    pts = [campaign.space.project({**anchor, x: float(a), y: float(b)}) for b in gy for a in gx]
    pred = campaign.predict(pts)
    prob = np.ones(len(pts))
    for c in campaign.outcome_constraints:
        slack = c.slack(pred[f"{c.name}_mean"].to_numpy())
        prob *= norm.cdf(-slack / np.maximum(pred[f"{c.name}_std"].to_numpy(), 1e-12))
    grid = prob.reshape(n, n)
    done = campaign.suggestions("complete")
    ox = np.array([s.point[x] for s in done], dtype=float)
    oy = np.array([s.point[y] for s in done], dtype=float)
    feas = np.array([campaign.feasible(s) for s in done], dtype=bool)
    cons = ", ".join(c.describe() for c in campaign.outcome_constraints)
    title = f"P(feasible): {cons}"
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure(go.Heatmap(x=gx, y=gy, z=grid, zmin=0, zmax=1, colorscale="RdYlGn",
                                   colorbar={"title": "P(feasible)"}))
        fig.add_trace(go.Scatter(x=ox[feas], y=oy[feas], mode="markers", name="feasible",
                                 marker={"color": "black", "size": 8}))
        fig.add_trace(go.Scatter(x=ox[~feas], y=oy[~feas], mode="markers", name="infeasible",
                                 marker={"color": "black", "size": 8, "symbol": "circle-open"}))
        fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white")
        return fig
    fig = _figure(backend, title, x, y)
    ax = fig.axes[0]
    mesh = ax.pcolormesh(gx, gy, grid, vmin=0, vmax=1, cmap="RdYlGn", shading="auto")
    fig.colorbar(mesh, ax=ax, label="P(feasible)")
    ax.contour(gx, gy, grid, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(ox[feas], oy[feas], c="k", s=24, label="feasible")
    ax.scatter(ox[~feas], oy[~feas], facecolors="none", edgecolors="k", s=24, label="infeasible")
    return _finish(fig, backend)


def save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write a figure from :func:`convergence` or :func:`pareto_front` (backend must match the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if backend_for(path) == "plotly":
        fig.write_html(path, include_plotlyjs=True)  # self-contained: works offline
    else:
        import matplotlib.pyplot as plt

        fig.savefig(path)
        plt.close(fig)
    return path
