"""Self-contained HTML reports: text, tables, interactive figures and provenance.

A :class:`Report` collects sections and writes one HTML file that opens
offline (Plotly's JavaScript is embedded once), atomically (temporary file,
then rename).
"""

from __future__ import annotations

import html
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from voltlab._files import atomic_write_text

__all__ = ["Report", "package_versions"]

_PROVENANCE_PACKAGES = ("voltlab", "numpy", "pandas", "pyarrow", "duckdb", "scipy", "plotly", "matplotlib", "pybamm")

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2630;background:#f6f7f9}
header{background:#0f3d5e;color:#fff;padding:22px 40px}
header h1{margin:0;font-size:26px} header p{margin:6px 0 0;opacity:.85}
main{max-width:1150px;margin:0 auto;padding:10px 40px 60px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:18px 24px;margin:18px 0}
h2{font-size:19px;margin:4px 0 12px;color:#0f3d5e}
table{border-collapse:collapse;font-size:13px;width:100%;overflow-x:auto;display:block}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 9px;text-align:right;white-space:nowrap}
th{background:#f0f3f6;text-align:center} td:first-child,th:first-child{text-align:left}
.note{color:#5a6570;font-size:13px} .figure{margin:8px 0 4px}
.kpis{display:flex;gap:14px;flex-wrap:wrap}
.kpi{flex:1;min-width:160px;background:#f0f6fb;border-radius:6px;padding:10px 14px}
.kpi b{display:block;font-size:22px;color:#0f3d5e}
"""


def package_versions(names: tuple[str, ...] = _PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed version of each package ('not installed' if absent)."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


@dataclass
class Report:
    """An HTML report under construction.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> r = Report("Demo")
    >>> r.add_text("Intro", "Hello")
    >>> r.add_table("Numbers", pd.DataFrame({"a": [1.5]}))
    >>> p = r.write(pathlib.Path(tempfile.mkdtemp()) / "r.html")
    >>> "Numbers" in p.read_text()
    True
    """

    title: str
    subtitle: str = ""
    sections: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    _has_plotly: bool = False

    def add_text(self, heading: str, text: str) -> None:
        """A section of plain text (HTML-escaped; blank lines start paragraphs)."""
        paras = "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{paras}</section>")

    def add_kpis(self, heading: str, items: dict[str, str]) -> None:
        """Headline numbers as tiles (label -> formatted value with unit)."""
        tiles = "".join(
            f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in items.items()
        )
        self.sections.append(f'<section><h2>{html.escape(heading)}</h2><div class="kpis">{tiles}</div></section>')

    def add_table(self, heading: str, table: pd.DataFrame, *, note: str = "", float_format: str = "{:.4g}") -> None:
        """A table (numbers formatted with ``float_format``)."""
        body = table.to_html(
            index=False, border=0, na_rep="", float_format=lambda x: float_format.format(x), escape=True
        )
        extra = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{body}{extra}</section>")

    def add_figure(self, heading: str, fig: Any, *, note: str = "") -> None:
        """An interactive Plotly figure."""
        self._has_plotly = True
        div = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        extra = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.sections.append(
            f'<section><h2>{html.escape(heading)}</h2><div class="figure">{div}</div>{extra}</section>'
        )

    def render(self) -> str:
        """The whole HTML document as a string."""
        head_js = ""
        if self._has_plotly:
            from plotly.offline import get_plotlyjs

            head_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        prov = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), **self.provenance,
                **{f"version {k}": v for k, v in package_versions().items()}}
        prov_rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in prov.items()
        )
        prov_html = f"<section><h2>Provenance</h2><table>{prov_rows}</table></section>"
        sub = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>{head_js}</head><body>"
            f"<header><h1>{html.escape(self.title)}</h1>{sub}</header><main>"
            + "".join(self.sections)
            + prov_html
            + "</main></body></html>"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the report atomically; returns the path."""
        return atomic_write_text(path, self.render())
