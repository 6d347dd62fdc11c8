"""BioLogic readers (.mpt text, .mpr binary via galvani) against the real sample files.

Expected numbers are raw values copied from the .mpt text (line numbers are
1-based lines of the file); for the .mpr-only file ``biol.mpr`` they come from
galvani's raw record array. The .mpt/.mpr pairs are the same measurement and
must give the same canonical columns.
"""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.cycling import CyclingData
from voltlab.data.readers import read_cycler_file
from voltlab.data.readers.biologic import BiologicMprReader, BiologicMptReader
from voltlab.errors import DataFormatError, DependencyError, VoltlabError

PR182 = "gcpl.pr_182.1"
I149 = "gcpl.issue_149"
BIOL = "biol.mpr"
MB = "Sample_data_biologic_01_MB_CA1.txt"
STAMP = "Sample_data_biologic_timestamped.txt"
NOHEAD = "Sample_data_biologic_no_header.mpt"

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TIGHT = 1e-12  # relative tolerance for numbers copied from the .mpt text (same float parse)


def _bl(samples: Path, name: str) -> Path:
    return samples / "biologic" / name


@lru_cache(maxsize=8)
def _read(path: str) -> CyclingData:
    cls = BiologicMprReader if path.endswith(".mpr") else BiologicMptReader
    return cls.read(path)


def _utc(text: str) -> float:
    return datetime.strptime(text, "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------------------
# .mpt text exports
# ------------------------------------------------------------------------------------------


def test_mpt_gcpl_rows_units_and_capacity(samples: Path) -> None:
    data = _read(str(_bl(samples, PR182 + ".mpt")))
    ts = data.timeseries
    assert len(ts) == 2533
    assert data.cycles == [0, 1, 2, 3, 4]  # BioLogic's 'cycle number', counted from 0
    # line 4: first data row, time/s 0, Ewe/V 2.3403094E+000
    assert ts["test_time_second"].iloc[0] == 0.0
    assert ts["voltage_volt"].iloc[0] == pytest.approx(2.3403094, rel=TIGHT)
    # line 44: mode 1, ox/red 0, Ns 1, time/s 3.078259922236612E+001, Ewe/V 1.9981233E+000,
    # <I>/mA -2.216480484227066E-001, P/W -4.4288015E-004
    row = ts.iloc[40]
    assert row["test_time_second"] == pytest.approx(30.78259922236612, rel=TIGHT)
    assert row["voltage_volt"] == pytest.approx(1.9981233, rel=TIGHT)
    assert row["current_ampere"] == pytest.approx(-2.216480484227066e-4, rel=TIGHT)
    assert row["power_watt"] == pytest.approx(-4.4288015e-4, rel=TIGHT)
    assert (row["step_index"], row["mode"], row["ox_red"]) == (1, 1, 0)
    # last line: time/s 3.025189476075938E+005, Ewe/V 1.1594497, cycle number 4
    assert ts["test_time_second"].iloc[-1] == pytest.approx(302518.9476075938, rel=TIGHT)
    assert ts["voltage_volt"].iloc[-1] == pytest.approx(1.1594497, rel=TIGHT)
    ends = ts.groupby("cycle_count").last()
    # 'Q discharge/mA.h' 3.251960077105808 at the end of cycle 0; in cycle 1 (half cycles 2
    # and 3) 'Q charge/mA.h' peaks at 2.616072003122129 and 'Q discharge/mA.h' ends at
    # 2.252434088541612 (mAh -> Ah). Tolerance 1e-10 Ah: the capacities are sums of dq/mA.h,
    # and the dq of a cycle's first point (2.5e-8 mAh here) is not counted (zero at cycle start)
    assert ends.loc[0, "discharging_capacity_ah"] == pytest.approx(3.251960077105808e-3, abs=1e-10)
    assert ends.loc[1, "charging_capacity_ah"] == pytest.approx(2.616072003122129e-3, abs=1e-10)
    assert ends.loc[1, "discharging_capacity_ah"] == pytest.approx(2.252434088541612e-3, abs=1e-10)
    assert data.metadata.extra["header_lines"] == 3


def test_mpt_current_sign_follows_ox_red(samples: Path) -> None:
    ts = _read(str(_bl(samples, PR182 + ".mpt"))).timeseries
    cc = ts[ts["mode"] == 1]  # constant-current rows
    assert (cc.loc[cc["ox_red"] == 1, "current_ampere"] > 0).all()
    assert (cc.loc[cc["ox_red"] == 0, "current_ampere"] < 0).all()
    # SOURCE.md: <I>/mA from -0.250 to +0.222 mA
    assert ts["current_ampere"].min() == pytest.approx(-0.250e-3, abs=0.001e-3)
    assert ts["current_ampere"].max() == pytest.approx(0.222e-3, abs=0.001e-3)


def test_mpt_decimal_comma_and_settings_header(samples: Path) -> None:
    data = _read(str(_bl(samples, I149 + ".mpt")))
    ts = data.timeseries
    assert len(ts) == 132
    assert data.cycles == [0, 1, 2, 3]
    # line 82: time/s 3,015299923827115E+001, Ewe/V 3,4228721E+000
    assert ts["test_time_second"].iloc[0] == pytest.approx(30.15299923827115, rel=TIGHT)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.4228721, rel=TIGHT)
    # line 126: first row of cycle 1, <I>/mA 2,954370230564189E-002, half cycle 2, Ns 1
    row = ts.iloc[44]
    assert row["current_ampere"] == pytest.approx(2.954370230564189e-5, rel=TIGHT)
    assert (row["cycle_count"], row["step_index"], row["half_cycle"]) == (1, 1, 2)
    # header: 'Acquisition started on : 01/10/2024 11:02:29.886' (taken as UTC)
    assert ts["unix_time_second"].iloc[0] == pytest.approx(
        _utc("01/10/2024 11:02:29.886") + 30.15299923827115, abs=1e-6
    )
    extra = data.metadata.extra
    assert extra["header_lines"] == 81
    assert extra["decimal_comma"] is True
    assert extra["device"] == "SP-300 (SN 1854)"
    assert data.metadata.protocol == "Galvanostatic Cycling with Potential Limitation"
    # ±30 µA steps: 3e-5 A, not mA
    assert ts["current_ampere"].abs().max() == pytest.approx(3.0e-5, rel=1e-3)


def test_mpt_timezone_option(samples: Path) -> None:
    ts = BiologicMptReader.read(_bl(samples, I149 + ".mpt"), timezone="Europe/Paris").timeseries
    assert ts["unix_time_second"].iloc[0] == pytest.approx(
        _utc("01/10/2024 10:02:29.886") + 30.15299923827115, abs=1e-6
    )


def test_btlab_modulo_bat(samples: Path) -> None:
    data = _read(str(_bl(samples, MB)))
    ts = data.timeseries
    assert len(ts) == 1397
    assert data.cycles == [0]
    # line 104: first row, Ecell/V 3.5180547E+000, Temperature 2.2185871E+001
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.5180547, rel=TIGHT)
    assert ts["temperature_celsius"].iloc[0] == pytest.approx(22.185871, rel=TIGHT)
    # line 204: first discharge row, I/mA -8.9986578E+002, R/Ohm 3.8988984
    row = ts.iloc[100]
    assert row["current_ampere"] == pytest.approx(-0.89986578, rel=TIGHT)
    assert row["internal_resistance_ohm"] == pytest.approx(3.8988984, rel=TIGHT)
    assert row["step_index"] == 1
    assert ts["current_ampere"].min() == pytest.approx(-0.90006274, rel=TIGHT)
    # last line: Q discharge/mA.h 3.237135133365209E+001
    assert ts["discharging_capacity_ah"].iloc[-1] == pytest.approx(3.237135133365209e-2, rel=1e-12)
    assert ts["charging_capacity_ah"].max() == 0.0
    # header 'Battery capacity : 4.500 A.h'
    assert data.metadata.nominal_capacity_ah == pytest.approx(4.5)
    assert data.metadata.protocol == "Modulo Bat"


def test_btlab_absolute_time_variant(samples: Path) -> None:
    ts = _read(str(_bl(samples, STAMP))).timeseries
    assert len(ts) == 8
    # time/s holds '11/20/2024 11:38:41.707', '11/20/2024 11:38:48.171', then +1 s
    assert ts["test_time_second"].tolist() == pytest.approx([0.0, 6.464, 7.464, 8.464, 9.464, 10.464,
                                                              11.464, 12.464], abs=1e-6)
    assert ts["unix_time_second"].iloc[0] == pytest.approx(_utc("11/20/2024 11:38:41.707"), abs=1e-6)
    # I/mA 4.4993811E+002 on the second row
    assert ts["current_ampere"].iloc[1] == pytest.approx(0.44993811, rel=TIGHT)
    # last 'Q charge/mA.h' 7.501638655090331E-001
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(7.501638655090331e-4, rel=1e-12)


def test_mpt_without_preamble(samples: Path) -> None:
    data = _read(str(_bl(samples, NOHEAD)))
    ts = data.timeseries
    assert len(ts) == 13
    # line 2: time/s 2.816723801174285E+005, Ecell/V 2.9344745E+000, I/mA 0
    assert ts["test_time_second"].iloc[0] == pytest.approx(281672.3801174285, rel=TIGHT)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(2.9344745, rel=TIGHT)
    assert (ts["current_ampere"] == 0).all()
    assert data.metadata.extra["header_lines"] == 0
    assert "unix_time_second" not in ts.columns


# ------------------------------------------------------------------------------------------
# .mpr binary (galvani) and the .mpt/.mpr pairs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", [PR182, I149])
def test_mpr_equals_mpt(samples: Path, stem: str) -> None:
    """Same measurement: the .mpr (float32 E, current from dq/dt) matches the .mpt text.

    Tolerances: voltage 1e-6 V (float32 vs 8 printed digits), current 1e-9 A, time 1e-6 s,
    capacities 1e-9 Ah; cycle and step numbers exactly.
    """
    mpt = _read(str(_bl(samples, stem + ".mpt"))).timeseries
    mpr = _read(str(_bl(samples, stem + ".mpr"))).timeseries
    assert len(mpt) == len(mpr)
    np.testing.assert_allclose(mpr["voltage_volt"], mpt["voltage_volt"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(mpr["current_ampere"], mpt["current_ampere"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(mpr["test_time_second"], mpt["test_time_second"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(mpr["cycle_count"], mpt["cycle_count"])
    np.testing.assert_array_equal(mpr["step_index"], mpt["step_index"])
    for col in ("charging_capacity_ah", "discharging_capacity_ah"):
        np.testing.assert_allclose(mpr[col], mpt[col], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(mpr["ox_red"], mpt["ox_red"])
    if "unix_time_second" in mpt.columns:
        np.testing.assert_allclose(mpr["unix_time_second"], mpt["unix_time_second"], rtol=0, atol=1e-3)


def test_mpr_notes_how_current_and_cycles_were_made(samples: Path) -> None:
    extra = _read(str(_bl(samples, PR182 + ".mpr"))).metadata.extra
    assert "dq" in extra["current"]
    assert "half cycle" in extra["cycle_count"]
    assert extra["data_module_version"] == 3


def test_biol_mpr_drops_impedance_rows(samples: Path) -> None:
    from galvani import BioLogic

    path = _bl(samples, BIOL)
    with open(path, "rb") as fh:
        raw = BioLogic.MPRfile(fh).data
    eis = raw["freq/Hz"] > 0
    data = _read(str(path))
    ts = data.timeseries
    # 23,561 points (SOURCE.md), of which the GEIS points are dropped
    assert raw.shape[0] == 23_561
    assert data.metadata.extra["impedance_rows_dropped"] == int(eis.sum()) == 310
    assert len(ts) == 23_561 - 310
    assert (ts["freq_hz"] == 0).all()
    kept = raw[~eis]
    np.testing.assert_allclose(ts["voltage_volt"], kept["Ewe/V"].astype(np.float64), rtol=0, atol=0)
    np.testing.assert_allclose(ts["current_ampere"], kept["I/mA"].astype(np.float64) * 1e-3, rtol=1e-15)
    # delithiation only (current 0 .. +0.325 mA): charge, capacity = final (Q-Qo)/mA.h
    assert ts["current_ampere"].max() == pytest.approx(0.325e-3, rel=1e-3)
    assert ts["current_ampere"].min() == 0.0
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(raw["(Q-Qo)/mA.h"][-1] * 1e-3, rel=1e-6)
    assert data.cycles == [0]
    assert ts["unix_time_second"].iloc[0] == pytest.approx(
        datetime(2017, 3, 15, 10, 22, 54, tzinfo=UTC).timestamp(), abs=1.0
    )


def test_mpr_module_length_checked_before_galvani(samples: Path, tmp_path: Path) -> None:
    """A damaged 32-bit module length is refused up front (galvani would try to allocate it)."""
    raw = bytearray(_bl(samples, PR182 + ".mpr").read_bytes())
    data_module = raw.index(b"MODULEVMP data")
    raw[data_module + 6 + 35:data_module + 6 + 39] = (0xFFFFFFF0).to_bytes(4, "little")
    p = tmp_path / "damaged.mpr"
    p.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="declares 4294967280 bytes") as info:
        BiologicMprReader.read(p)
    assert "damaged.mpr" in str(info.value)


def test_impedance_only_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "peis.mpt"
    p.write_text("freq/Hz\ttime/s\tEwe/V\tI/mA\n1000\t0\t3.0\t0\n100\t1\t3.0\t0\n")
    with pytest.raises(DataFormatError, match="impedance") as info:
        BiologicMptReader.read(p)
    assert "peis.mpt" in str(info.value)


def test_missing_galvani_is_a_dependency_error(samples: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "galvani", None)
    with pytest.raises(DependencyError, match="galvani"):
        BiologicMprReader.read(_bl(samples, I149 + ".mpr"))


# ------------------------------------------------------------------------------------------
# Detection by content and wrong-format errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    (PR182 + ".mpt", "biologic_mpt"), (I149 + ".mpt", "biologic_mpt"), (MB, "biologic_mpt"),
    (STAMP, "biologic_mpt"), (NOHEAD, "biologic_mpt"), (PR182 + ".mpr", "biologic_mpr"),
    (I149 + ".mpr", "biologic_mpr"), (BIOL, "biologic_mpr"),
])
def test_detection_by_content(samples: Path, name: str, fmt: str) -> None:
    assert read_cycler_file(_bl(samples, name)).metadata.source_format == fmt


@pytest.mark.parametrize(("name", "fmt"), [(I149 + ".mpt", "biologic_mpt"), (I149 + ".mpr", "biologic_mpr"),
                                           (NOHEAD, "biologic_mpt")])
def test_detection_with_misleading_extension(samples: Path, tmp_path: Path, name: str, fmt: str) -> None:
    p = tmp_path / "data.dat"
    shutil.copyfile(_bl(samples, name), p)
    data = read_cycler_file(p)
    assert data.metadata.source_format == fmt
    assert len(data.timeseries) == len(_read(str(_bl(samples, name))).timeseries)


def test_wrong_format_errors_name_file_and_fix(samples: Path) -> None:
    mpr, mpt = _bl(samples, I149 + ".mpr"), _bl(samples, I149 + ".mpt")
    with pytest.raises(DataFormatError, match="biologic_mpr") as info:
        BiologicMptReader.read(mpr)
    assert mpr.name in str(info.value)
    with pytest.raises(DataFormatError, match="biologic_mpt") as info:
        BiologicMprReader.read(mpt)
    assert mpt.name in str(info.value)
    maccor = samples / "maccor" / "maccor_two.txt"
    with pytest.raises(DataFormatError, match=r"not a BioLogic \.mpt") as info:
        BiologicMptReader.read(maccor)
    assert "maccor_two.txt" in str(info.value)
    neware = samples / "neware" / "neware_uio.csv"
    assert BiologicMptReader.sniff(neware, neware.read_bytes()[:65536]) == 0.0
    assert BiologicMprReader.sniff(neware, neware.read_bytes()[:65536]) == 0.0


def test_bad_header_count(samples: Path, tmp_path: Path) -> None:
    text = _bl(samples, I149 + ".mpt").read_bytes().replace(b"Nb header lines : 81", b"Nb header lines : 50")
    p = tmp_path / "bad.mpt"
    p.write_bytes(text)
    with pytest.raises(DataFormatError, match="does not point at the column header"):
        BiologicMptReader.read(p)


# ------------------------------------------------------------------------------------------
# Fuzzing: every failure is a VoltlabError naming the file, never a hang
# ------------------------------------------------------------------------------------------


def _mutate(raw: bytes, op: str, pos: int, junk: bytes) -> bytes:
    pos = pos % (len(raw) + 1)
    if op == "truncate":
        return raw[:pos]
    if op == "overwrite":
        return raw[:pos] + junk + raw[pos + len(junk):]
    if op == "insert_line":
        nl = raw.find(b"\n", pos)
        cut = len(raw) if nl < 0 else nl + 1
        return raw[:cut] + junk.replace(b"\n", b" ") + b"\n" + raw[cut:]
    return b""


_OPS = st.sampled_from(["truncate", "overwrite", "insert_line", "empty"])


@pytest.mark.parametrize(("name", "limit"), [(I149 + ".mpt", 70_000), (NOHEAD, 10_000),
                                             (STAMP, 10_000), (PR182 + ".mpt", 20_000)])
def test_mpt_fuzz(samples: Path, tmp_path: Path, reader_robust, name: str, limit: int) -> None:
    raw = _bl(samples, name).read_bytes()[:limit]

    @FUZZ
    @given(op=_OPS, pos=st.integers(0, limit), junk=st.binary(min_size=1, max_size=64))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(BiologicMptReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.mpt")

    run()


@pytest.mark.parametrize("name", [I149 + ".mpr", PR182 + ".mpr"])
def test_mpr_fuzz(samples: Path, tmp_path: Path, reader_robust, name: str) -> None:
    """Truncated or corrupted binary: galvani's ValueError/IOError/AssertionError become DataFormatError."""
    raw = _bl(samples, name).read_bytes()

    @FUZZ
    @given(op=st.sampled_from(["truncate", "overwrite", "empty"]), pos=st.integers(0, len(raw)),
           junk=st.binary(min_size=1, max_size=256))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(BiologicMprReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.mpr")

    run()


@pytest.mark.parametrize("reader", [BiologicMptReader, BiologicMprReader])
def test_empty_file(tmp_path: Path, reader_robust, reader) -> None:
    reader_robust(reader.read, b"", tmp_path / "empty.mpt")
    with pytest.raises(VoltlabError):
        reader.read(tmp_path / "empty.mpt")


def test_an_mpt_cut_mid_line_loses_the_stub_and_says_so(samples, tmp_path):
    from voltlab.data.readers import read_cycler_file

    src = samples / "biologic" / "gcpl.pr_182.1.mpt"
    raw = src.read_bytes().rstrip(b"\r\n")
    last_start = raw.rfind(b"\n") + 1
    cut = raw[: last_start + 30]
    bad = tmp_path / "cut.mpt"
    bad.write_bytes(cut)
    full, part = read_cycler_file(src), read_cycler_file(bad)
    assert len(part.timeseries) == len(full.timeseries) - 1
    assert part.metadata.extra["truncated"] is True
    assert part.metadata.extra["truncated_last_line"] == cut[last_start:].decode("latin-1").rstrip("\r")
    assert "truncated" not in full.metadata.extra
