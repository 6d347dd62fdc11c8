"""Shared fixtures: the location of ../shared/data and tiny synthetic cycling sets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# CI runs the fuzz tests with a fixed seed (reproducible failures); developers' runs explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parents[1]
_SHARED_CANDIDATES = [
    Path(os.environ["VOLTLAB_SHARED_DATA"]) if os.environ.get("VOLTLAB_SHARED_DATA") else None,
    REPO.parent / "shared" / "data",
]


def _require_shared() -> bool:
    return os.environ.get("VOLTLAB_REQUIRE_SHARED", "") not in ("", "0", "false")


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data; skip (or fail when VOLTLAB_REQUIRE_SHARED=1) if absent."""
    for base in _SHARED_CANDIDATES:
        if base is not None and base.is_dir():
            p = base.joinpath(*parts)
            if p.exists():
                return p
            break
    msg = (
        f"shared dataset {'/'.join(parts)!r} not found beside the repository (../shared/data); "
        "clone the project next to shared/ or set VOLTLAB_SHARED_DATA"
    )
    if _require_shared():
        pytest.fail(msg + " [VOLTLAB_REQUIRE_SHARED=1]")
    pytest.skip(msg)


def require_tool(tool: str, why: str) -> str:
    """Path of a system tool; skip (or fail under VOLTLAB_REQUIRE_SHARED=1) if missing."""
    found = shutil.which(tool)
    if found:
        return found
    msg = f"{tool} not installed ({why}); 'make test' installs it with apt-get when run as root"
    if _require_shared():
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def shared_data() -> Path:
    """Root of ../shared/data (skip, or fail under VOLTLAB_REQUIRE_SHARED=1, if absent)."""
    return shared_path()


@pytest.fixture
def samples() -> Path:
    """../shared/data/cycler_samples."""
    return shared_path("cycler_samples")


@pytest.fixture
def mdb_export() -> str:
    """Path of mdbtools' mdb-export (the reference the built-in Arbin .res reader is checked against)."""
    return require_tool("mdb-export", "the reference for voltlab's Arbin .res reader and its mdbtools engine")


# --------------------------------------------------------------------------- headless Chromium
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) through playwright; skip, or fail under VOLTLAB_REQUIRE_SHARED=1."""

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "chromium not installed (headless report test); 'make test' installs it with apt-get when root"
        if _require_shared():
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def check_in_browser(browser, path, timeout_ms: float = 30_000) -> dict[str, int]:
    """Load ``path``; return counts, failing on any console error or uncaught exception."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).every(d => d.querySelector('.main-svg'))",
        timeout=timeout_ms,
    )
    counts = page.evaluate("""() => ({
        figures: document.querySelectorAll('.js-plotly-plot').length,
        rendered: Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(d => d.querySelectorAll('.main-svg .trace').length > 0 && d.getBoundingClientRect().height > 100)
            .length,
        traces: Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => (d.data || []).length)
            .reduce((a, b) => a + b, 0),
        tables: document.querySelectorAll('table').length,
    })""")
    page.close()
    assert not problems, problems
    return counts


@pytest.fixture
def report_check(browser):
    """``report_check(path)``: load an HTML report in Chromium, fail on any error, return element counts."""
    return lambda path, **kw: check_in_browser(browser, path, **kw)


def check_reader_robust(read, raw: bytes, path: Path) -> None:
    """Write ``raw`` to ``path`` and read it: success, or a VoltlabError naming the file.

    Used by the hypothesis fuzz tests of every reader. Any other exception
    type, or an error message that does not name the file, fails the test.
    """
    from voltlab.data.cycling import CyclingData
    from voltlab.errors import VoltlabError

    path.write_bytes(raw)
    try:
        out = read(path)
    except VoltlabError as exc:
        assert str(path) in str(exc) or path.name in str(exc), f"error does not name the file: {exc}"
        return
    assert isinstance(out, CyclingData)


@pytest.fixture(scope="session")
def shared_file():
    """The :func:`shared_path` helper, as a fixture (tests cannot import conftest; module-scoped
    fixtures can use this one)."""
    return shared_path


@pytest.fixture
def reader_robust():
    """The :func:`check_reader_robust` helper, as a fixture (tests cannot import conftest)."""
    return check_reader_robust


def synthetic_cycles(
    n_cycles: int = 5,
    points_per_half: int = 50,
    capacity_ah: float = 2.0,
    fade_per_cycle: float = 0.002,
    current_ampere: float = 1.0,
    temperature_celsius: float = 25.0,
) -> pd.DataFrame:
    """Canonical CC charge / rest / CC discharge cycles with known capacities.

    Charge and discharge each pass ``capacity_ah * (1 - fade*(k-1))`` Ah in
    cycle k at ``current_ampere``; voltage is linear in state of charge from
    3.0 to 4.2 V (plus an IR drop of 0.05 Ohm * I).
    """
    rows = []
    t = 0.0
    for k in range(1, n_cycles + 1):
        q = capacity_ah * (1 - fade_per_cycle * (k - 1))
        dur = q / current_ampere * 3600.0
        step = 0
        for sign in (1, 0, -1):
            step += 1
            n = points_per_half if sign else 5
            span = dur if sign else 600.0
            # Each step logs its first and last instant (as cyclers do), so step edges repeat a time.
            ts = np.linspace(0, span, n + 1)
            for tau in ts:
                frac = tau / dur if sign else 0.0
                if sign == 1:
                    soc, cq, dq = frac, q * frac, 0.0
                elif sign == 0:
                    soc, cq, dq = 1.0, q, 0.0
                else:
                    soc, cq, dq = 1 - frac, q, q * frac
                i = sign * current_ampere
                rows.append(
                    {
                        "test_time_second": t + tau,
                        "voltage_volt": 3.0 + 1.2 * soc + 0.05 * i,
                        "current_ampere": i,
                        "cycle_count": k,
                        "step_index": step,
                        "charging_capacity_ah": cq,
                        "discharging_capacity_ah": dq,
                        "temperature_celsius": temperature_celsius + 0.5 * abs(i),
                    }
                )
            t += span
    return pd.DataFrame(rows)


@pytest.fixture
def tiny_cycles() -> pd.DataFrame:
    return synthetic_cycles()
