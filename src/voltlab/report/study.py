"""Study reports: one self-contained HTML file, plus PNG figures and a PDF.

:func:`write_study_report` renders a :class:`~voltlab.studies.base.StudyResult`:
question and answer, headline numbers, interactive Plotly figures, tables, model
cards, caveats and provenance in ``report.html``; the same figures as PNG files
(``figures/<key>.png``, matplotlib) and everything in ``report.pdf`` (figures and
tables, one page each).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.report.html import Report
from voltlab.studies.base import Figure, StudyResult

__all__ = ["figure_to_matplotlib", "figure_to_plotly", "write_study_report"]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def figure_to_plotly(fig: Figure) -> Any:
    """An interactive Plotly figure of a figure spec."""
    import plotly.graph_objects as go

    out = go.Figure()
    three_d = any(s.z is not None for s in fig.series)
    for i, s in enumerate(fig.series):
        color = _COLORS[i % len(_COLORS)]
        err = {"type": "data", "array": list(s.error), "visible": True} if s.error is not None else None
        if three_d:
            out.add_trace(go.Scatter3d(x=list(s.x), y=list(s.y), z=list(s.z or []), name=s.name, mode="markers",
                                       text=list(s.text) if s.text is not None else None,
                                       marker={"size": 4, "color": color}))
        elif s.mode == "bar":
            out.add_trace(go.Bar(x=list(s.x), y=list(s.y), name=s.name, error_y=err, marker_color=color,
                                 text=list(s.text) if s.text is not None else None))
        else:
            out.add_trace(go.Scatter(
                x=list(s.x), y=list(s.y), name=s.name, mode=s.mode, error_y=err,
                text=list(s.text) if s.text is not None else None,
                line={"color": color, "dash": "dash" if s.dash else "solid"}, marker={"color": color, "size": 7}))
    layout: dict[str, Any] = {"template": "plotly_white", "height": 460, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
                                  "title": {"text": fig.title, "font": {"size": 14}}, "legend": {"orientation": "h", "y": -0.2}}
    if three_d:
        layout["scene"] = {"xaxis_title": fig.x_label, "yaxis_title": fig.y_label, "zaxis_title": fig.z_label}
    else:
        layout |= {"xaxis_title": fig.x_label, "yaxis_title": fig.y_label}
        if fig.log_y:
            layout["yaxis_type"] = "log"
    out.update_layout(**layout)
    return out


def figure_to_matplotlib(fig: Figure) -> Any:
    """A static matplotlib figure of the same spec (for PNG and PDF)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    three_d = any(s.z is not None for s in fig.series)
    mfig = plt.figure(figsize=(7.5, 4.8), dpi=110)
    ax = mfig.add_subplot(111, projection="3d") if three_d else mfig.add_subplot(111)
    n_bar = sum(s.mode == "bar" for s in fig.series)
    bar_i = 0
    for i, s in enumerate(fig.series):
        color = _COLORS[i % len(_COLORS)]
        if three_d:
            ax.scatter(np.asarray(s.x, float), np.asarray(s.y, float), np.asarray(s.z, float), s=10, color=color,
                       label=s.name)
        elif s.mode == "bar":
            pos = np.arange(len(s.x)) + (bar_i - (n_bar - 1) / 2) * 0.8 / max(n_bar, 1)
            ax.bar(pos, np.asarray(s.y, float), width=0.8 / max(n_bar, 1), color=color, label=s.name,
                   yerr=None if s.error is None else np.asarray(s.error, float))
            ax.set_xticks(np.arange(len(s.x)), [str(v) for v in s.x], rotation=30, ha="right", fontsize=8)
            bar_i += 1
        else:
            x = np.asarray(s.x, float)
            y = np.asarray(s.y, float)
            ls = "--" if s.dash else "-"
            if s.error is not None:
                ax.errorbar(x, y, yerr=np.asarray(s.error, float), marker="o", color=color, ms=4, label=s.name,
                            capsize=2, linestyle="none" if s.mode == "markers" else ls)
            elif s.mode == "markers":
                ax.plot(x, y, "o", color=color, ms=4, label=s.name)
            else:
                ax.plot(x, y, ls, color=color, label=s.name, marker="o" if "markers" in s.mode else None, ms=3)
    ax.set_xlabel(fig.x_label)
    ax.set_ylabel(fig.y_label)
    if three_d:
        ax.set_zlabel(fig.z_label)
    elif fig.log_y:
        ax.set_yscale("log")
    ax.set_title(fig.title, fontsize=10)
    if len(fig.series) > 1:
        ax.legend(fontsize=8)
    mfig.tight_layout()
    return mfig


def _model_card_table(card: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"field": list(card), "value": [str(v) for v in card.values()]})


def _pdf(result: StudyResult, path: Path, figures: Sequence[Figure]) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    tmp = path.with_name(f".{path.name}.tmp")
    with PdfPages(tmp) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))
        text = [result.title, "", "Question: " + result.question, "", "Answer: " + result.answer, ""]
        text += [f"{k}: {v}" for k, v in result.kpis.items()]
        text += ["", *("Note: " + n for n in result.notes)]
        import textwrap

        wrapped = "\n".join("\n".join(textwrap.wrap(t, 95)) if t else "" for t in text)
        page.text(0.06, 0.96, wrapped, va="top", ha="left", fontsize=9, family="monospace")
        pdf.savefig(page)
        plt.close(page)
        for f in figures:
            m = figure_to_matplotlib(f)
            pdf.savefig(m)
            plt.close(m)
        for name, table in result.tables.items():
            page = plt.figure(figsize=(11.69, 8.27))
            page.text(0.03, 0.97, name, va="top", fontsize=11, weight="bold")
            shown = table.head(40)
            body = shown.to_string(index=False, float_format=lambda x: f"{x:.4g}", max_colwidth=28)
            if len(table) > len(shown):
                body += f"\n... ({len(table) - len(shown)} more rows in report.html)"
            page.text(0.03, 0.93, body, va="top", ha="left", fontsize=6.5, family="monospace")
            pdf.savefig(page)
            plt.close(page)
    os.replace(tmp, path)
    return path


def write_study_report(result: StudyResult, out_dir: str | os.PathLike[str], *, png: bool = True,
                       pdf: bool = True) -> Path:
    """Write ``report.html`` (and ``figures/*.png``, ``report.pdf``) into ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(result.title, subtitle=f"voltlab study '{result.study}'")
    rep.add_text("Question and answer", f"Question: {result.question}\n\nAnswer: {result.answer}")
    if result.kpis:
        rep.add_kpis("Headline numbers", result.kpis)
    for f in result.figures:
        rep.add_figure(f.title, figure_to_plotly(f), note=f.note)
    for name, table in result.tables.items():
        rep.add_table(name, table)
    for card in result.model_cards:
        rep.add_table(f"Model card: {card.get('model', 'model')}", _model_card_table(card))
    if result.notes:
        rep.add_text("Caveats", "\n\n".join(result.notes))
    rep.provenance = dict(result.provenance)
    path = rep.write(out / "report.html")
    if png:
        import matplotlib.pyplot as plt

        (out / "figures").mkdir(exist_ok=True)
        for f in result.figures:
            m = figure_to_matplotlib(f)
            tmp = out / "figures" / f".{f.key}.png.tmp"
            m.savefig(tmp, format="png")
            plt.close(m)
            os.replace(tmp, out / "figures" / f"{f.key}.png")
    if pdf:
        _pdf(result, out / "report.pdf", result.figures)
    return path
