"""Campaign plots: convergence and Pareto front, as matplotlib PNG or Plotly HTML.

``convergence``
    Every complete observation of objective 0 (in its unit) against the
    evaluation number (order told), infeasible ones hollow, with the best
    feasible value so far as a step line.
``pareto_front``
    Objective 0 against objective 1 for complete observations, the feasible
    non-dominated set joined by a line.
``hypervolume``
    Hypervolume of the feasible observations (utility units to the power of the
    number of objectives) against the evaluation number, for a fixed reference
    point (:meth:`Campaign.hypervolume_trace`).

Both return the figure; :func:`save` writes it, choosing the backend from the
suffix (``.png``/``.svg``/``.pdf``: matplotlib, ``.html``: Plotly).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voltlab.errors import OptimizationError
from voltlab.optimize.campaign import Campaign

__all__ = ["backend_for", "convergence", "hypervolume", "pareto_front", "save"]

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


def _figure(backend: Backend, title: str, xlabel: str, ylabel: str) -> Any:
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white")
        return fig
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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


def pareto_front(campaign: Campaign, backend: Backend = "matplotlib") -> Any:
    """Objective 0 against objective 1, the feasible non-dominated points joined.

    Raises
    ------
    OptimizationError
        Fewer than two objectives, or no complete observation.
    """
    if len(campaign.objectives) < 2:
        raise OptimizationError("a Pareto front needs two objectives; use the convergence plot for one")
    o0, o1 = campaign.objectives[:2]
    done = campaign.suggestions("complete")
    if not done:
        raise OptimizationError("nothing to plot: no complete observations yet (tell some results first)")
    xy = np.array([[s.values[o0.name], s.values[o1.name]] for s in done])  # type: ignore[index]
    feas = np.array([campaign.feasible(s) for s in done])
    front_ids = {s.id for s in campaign.pareto_front()}
    on_front = np.array([s.id in front_ids for s in done])
    fig = _figure(backend, "Pareto front", f"{o0.name} ({o0.direction})", f"{o1.name} ({o1.direction})")
    rest = feas & ~on_front
    _points(fig, backend, xy[rest, 0], xy[rest, 1], "feasible", color="#7f7f7f")
    if (~feas).any():
        _points(fig, backend, xy[~feas, 0], xy[~feas, 1], "infeasible", hollow=True, color="#d62728")
    front = xy[on_front]
    front = front[np.argsort(front[:, 0])]
    _points(fig, backend, front[:, 0], front[:, 1], "non-dominated", color="#1f77b4")
    if len(front) > 1:
        _points(fig, backend, front[:, 0], front[:, 1], "front", line=True, color="#1f77b4")
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
