"""The voltlab command line: help, one-line errors, and the ingest -> plot flow on BDF files."""

import subprocess
import sys

import pytest

from voltlab.cli import main
from voltlab.data import CellMetadata, CyclingData
from voltlab.data.validation import finalize_timeseries


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("cmd", ["ingest", "cells", "summary", "plot", "query", "demo", "formats", "lifetime", "campaign",
                                 "simulate", "fit", "fastcharge", "featurize", "train", "predict", "explain", "study"])
def test_every_subcommand_has_help(cmd, capsys):
    code, out, _ = run([cmd, "--help"], capsys)
    assert code == 0
    assert "Usage: voltlab" in out and cmd in out


def test_top_level_help_lists_commands(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for cmd in ("ingest", "cells", "summary", "plot", "demo"):
        assert cmd in out


def test_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "voltlab.cli", "cells", "--store", str(tmp_path / "missing")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "no voltlab store here" in lines[0]
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "voltlab.cli", "--debug", "cells", "--store", str(tmp_path / "missing")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "MissingFileError" in proc.stderr


def test_ingest_summary_plot_query_flow(tmp_path, tiny_cycles, capsys):
    from voltlab.data.readers.bdf import write_bdf

    raw = tmp_path / "raw"
    raw.mkdir()
    for k in (1, 2):
        data = CyclingData(finalize_timeseries(tiny_cycles), CellMetadata(f"c{k}"))
        write_bdf(data, raw / f"cell{k}.bdf.csv")
        tiny_cycles = tiny_cycles.assign(voltage_volt=tiny_cycles["voltage_volt"] + 0.001)
    store = tmp_path / "store"
    code, out, err = run(["ingest", str(raw / "cell1.bdf.csv"), str(raw / "cell2.bdf.csv"), "--store", str(store),
                          "--nominal-capacity", "2.0", "--chemistry", "NMC/graphite"], capsys)
    assert code == 0, err
    assert "added 2 cell(s)" in out
    code, out, _ = run(["ingest", str(raw / "cell1.bdf.csv"), "--store", str(store)], capsys)
    assert code == 0 and "skipped" in out and "already ingested as cell1" in out
    code, out, _ = run(["cells", "--store", str(store)], capsys)
    assert code == 0 and "cell1" in out and "NMC/graphite" in out
    code, out, _ = run(["summary", "cell1", "--store", str(store), "--out", str(tmp_path / "s.csv")], capsys)
    assert code == 0
    import pandas as pd

    s = pd.read_csv(tmp_path / "s.csv")
    assert s["discharge_capacity_ah"].round(6).tolist() == [2.0, 1.996, 1.992, 1.988, 1.984]
    assert s["soh"].iloc[0] == pytest.approx(1.0)
    for kind, suffix in (("fade", ".png"), ("retention", ".html"), ("voltage", ".png"), ("dqdv", ".html")):
        cells = ["cell1", "cell2"] if kind in ("fade", "retention") else ["cell1"]
        target = tmp_path / f"{kind}{suffix}"
        code, _, err = run(["plot", *cells, "--store", str(store), "--kind", kind, "--out", str(target)], capsys)
        assert code == 0, err
        assert target.stat().st_size > 5_000
    assert (tmp_path / "fade.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(["query", "SELECT count(DISTINCT cell_id) AS n FROM cycles", "--store", str(store)], capsys)
    assert code == 0 and "2" in out
    code, _, err = run(["plot", "cell1", "--store", str(store), "--kind", "voltage", "--cycles", "1,x"], capsys)
    assert code == 1 and "--cycles must be comma-separated integers" in err
    code, _, err = run(["summary", "nope", "--store", str(store)], capsys)
    assert code == 1 and "no cell 'nope'" in err


def test_ingest_reports_failures_and_keeps_going(tmp_path, capsys):
    bad = tmp_path / "garbage.csv"
    bad.write_text("this,is\nnot,cycler data\n")
    code, _, err = run(["ingest", str(bad), "--store", str(tmp_path / "s")], capsys)
    assert code == 1
    assert "garbage.csv" in err and "format not recognised" in err


@pytest.mark.parametrize("width", [60, 80, 120])
def test_cells_never_cuts_a_cell_id_short(tmp_path, tiny_cycles, capsys, monkeypatch, width):
    """The id is what 'voltlab summary CELL' needs: on a narrow terminal it folds, it is not cut with '…'."""
    from voltlab.cli import console
    from voltlab.data.readers.bdf import write_bdf

    long_id = "2016-08-05_NMC811_graphite_45C_cc_channel_01"
    raw = tmp_path / "cell.bdf.csv"
    write_bdf(CyclingData(finalize_timeseries(tiny_cycles), CellMetadata(long_id)), raw)
    store = tmp_path / "store"
    assert run(["ingest", str(raw), "--store", str(store), "--cell-id", long_id], capsys)[0] == 0
    monkeypatch.setattr(console, "_width", width)
    code, out, _ = run(["cells", "--store", str(store)], capsys)
    assert code == 0 and "…" not in out
    first_column = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
    assert first_column == long_id
    assert ("cell.bdf.csv" in out) == (width >= 100)  # the source file's name only where it fits


def test_ingest_timezone_and_reader_options_on_a_mixed_folder(tmp_path, samples, capsys):
    """--timezone reaches the readers that have a clock option and is left out (and noted) for the others;
    --option passes reader options (here the .res engine) with JSON values."""
    from voltlab.data.store import Store

    res = samples / "arbin" / "20160805_test001_45_cc_01.res"
    pec = samples / "pec" / "pec.csv"
    utc, oslo = tmp_path / "utc", tmp_path / "oslo"
    code, _, err = run(["ingest", str(res), str(pec), "--store", str(utc)], capsys)
    assert code == 0, err
    code, out, err = run(["ingest", str(res), str(pec), "--store", str(oslo), "--timezone", "Europe/Oslo",
                          "-o", "engine=native", "-o", "timeout_s=30"], capsys)
    assert code == 0, err
    assert "added 2 cell(s)" in out
    a, b = Store(utc), Store(oslo)
    res_id = next(c for c in a.cell_ids() if c.startswith("20160805"))
    pec_id = next(c for c in a.cell_ids() if c != res_id)
    t_utc = a.load(res_id, columns=["unix_time_second"]).timeseries["unix_time_second"].iloc[0]
    t_oslo = b.load(res_id, columns=["unix_time_second"]).timeseries["unix_time_second"].iloc[0]
    assert t_utc - t_oslo == pytest.approx(7200.0, abs=1e-3)  # CEST: the same wall clock is 2 h earlier in UTC
    assert b.metadata(res_id).extra["res_engine"] == "native"
    assert b.metadata(pec_id).extra["options_not_used"] == ["engine", "timeout_s", "timezone"]


def test_ingest_option_errors_are_named(tmp_path, samples, capsys):
    res = samples / "arbin" / "20160805_test001_45_cc_01.res"
    code, _, err = run(["ingest", str(res), "--store", str(tmp_path / "s"), "-o", "engine"], capsys)
    assert code == 1 and "--option 'engine': give KEY=VALUE" in err
    code, _, err = run(["ingest", str(res), "--store", str(tmp_path / "s"), "-o", "egnine=native"], capsys)
    assert code == 1 and "takes no option 'egnine'" in err and "test_id, timezone, timeout_s, engine" in err


def test_formats_lists_reader_options(capsys):
    code, out, _ = run(["formats"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if "arbin_res" in line)
    assert "test_id" in row
