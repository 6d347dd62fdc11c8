"""Generic per-cycle table loader: mapping, units, validation, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.datasets import load_per_cycle_table
from voltlab.errors import DataFormatError, MissingFileError, SchemaError, UnitError, VoltlabError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_error(load, path: Path):
    """``(result, None)`` on success, ``(None, error)`` for a VoltlabError (anything else propagates)."""
    try:
        return load(path), None
    except VoltlabError as exc:
        return None, exc

NASA_MAP = {
    "discharge": "cycle_count",
    "capacity": "discharge_capacity_ah",
    "temperature": "temperature_max_celsius",
    "time": "discharge_time_second",
}
SEVERSON_MAP = {
    "cycle": "cycle_count",
    "QDischarge": "discharge_capacity_ah",
    "QCharge": "charge_capacity_ah",
    "IR": "internal_resistance_ohm",
    "Tmax": "temperature_max_celsius",
    "Tavg": "temperature_mean_celsius",
    "chargetime": "charge_time_second",
}


# ---------------------------------------------------------------------------- real files


@pytest.mark.shared
def test_nasa_capacity_table(shared_data: Path) -> None:
    p = shared_data / "nasa_pcoe_battery_aging" / "per_cycle_summary" / "B0005_capacity.csv"
    df = load_per_cycle_table(p, NASA_MAP, cell_id="B0005")
    assert list(df.columns) == [
        "cell_id", "cycle_count", "discharge_capacity_ah", "temperature_max_celsius", "discharge_time_second"
    ]
    assert len(df) == 168
    # line 2 of the file: 1,3.277169976825196,38.98218133148803,3690.234,1.8564874208181574,100.0
    first = df.iloc[0]
    assert first["cell_id"] == "B0005"
    assert first["cycle_count"] == 1
    assert first["discharge_capacity_ah"] == pytest.approx(1.8564874208181574, abs=1e-12)
    assert first["temperature_max_celsius"] == pytest.approx(38.98218133148803, abs=1e-12)
    assert first["discharge_time_second"] == pytest.approx(3690.234, abs=1e-9)
    assert df["cycle_count"].dtype == np.int64
    default_id = load_per_cycle_table(p, NASA_MAP)
    assert default_id["cell_id"].iloc[0] == "B0005_capacity"  # the file stem


@pytest.mark.shared
def test_severson_summary_with_cell_column_and_minutes(shared_data: Path) -> None:
    p = shared_data / "severson_attia_2019_cycle_life" / "batch1_per_cycle_summary" / "batch1_2017-05-12_summary.csv"
    df = load_per_cycle_table(p, SEVERSON_MAP, cell_column="cell_id", units={"charge_time_second": "min"})
    assert len(df) == 38811
    assert df["cell_id"].nunique() == 46
    assert df["cell_id"].iloc[0] == "cell_0"
    assert df["cell_id"].drop_duplicates().tolist()[:3] == ["cell_0", "cell_1", "cell_2"]  # file order
    row = df.iloc[1]  # cell_0,2.0,1.0706892,1.0710422,0.016742354,35.652016,31.875010776448963,13.34125...
    assert row["cycle_count"] == 2
    assert row["discharge_capacity_ah"] == pytest.approx(1.0706892, abs=1e-9)
    assert row["charge_capacity_ah"] == pytest.approx(1.0710422, abs=1e-9)
    assert row["internal_resistance_ohm"] == pytest.approx(0.016742354, abs=1e-12)
    assert row["temperature_mean_celsius"] == pytest.approx(31.875010776448963, abs=1e-9)
    assert row["charge_time_second"] == pytest.approx(13.341250000000006 * 60.0, abs=1e-9)


# ---------------------------------------------------------------------------- units and formats


def test_units_decimal_comma_and_semicolons(tmp_path: Path) -> None:
    p = tmp_path / "cellA.csv"
    p.write_text(
        "Cycle;Q_dis (mAh);Q_ch (mAh);E (mWh);R (mOhm);T (K);t_ch (h)\n"
        "2;-1998,5;2001,0;7300;21,5;303,15;1,5\n"
        "1;-2000,0;2003,0;7400;21,0;300,15;1,25\n",
        encoding="cp1252",
    )
    df = load_per_cycle_table(
        p,
        {"Cycle": "cycle_count", "Q_dis (mAh)": "discharge_capacity_ah", "Q_ch (mAh)": "charge_capacity_ah",
         "E (mWh)": "discharge_energy_wh", "R (mOhm)": "internal_resistance_ohm",
         "T (K)": "temperature_mean_celsius", "t_ch (h)": "charge_time_second"},
        units={"discharge_capacity_ah": "mAh", "charge_capacity_ah": "mA.h", "discharge_energy_wh": "mWh",
               "internal_resistance_ohm": "mΩ", "temperature_mean_celsius": "K", "charge_time_second": "h"},
        decimal=",",
    )
    assert df["cycle_count"].tolist() == [1, 2]  # sorted by cycle
    assert df["discharge_capacity_ah"].tolist() == pytest.approx([2.0, 1.9985])  # magnitude, Ah
    assert df["charge_capacity_ah"].tolist() == pytest.approx([2.003, 2.001])
    assert df["discharge_energy_wh"].tolist() == pytest.approx([7.4, 7.3])
    assert df["internal_resistance_ohm"].tolist() == pytest.approx([0.021, 0.0215])
    assert df["temperature_mean_celsius"].tolist() == pytest.approx([27.0, 30.0])
    assert df["charge_time_second"].tolist() == pytest.approx([4500.0, 5400.0])


def test_tab_separated_with_bom(tmp_path: Path) -> None:
    p = tmp_path / "cell.tsv"
    p.write_bytes("\ufeffcycle\tcap\n1\t1.1\n2\t1.09\n".encode())
    df = load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "discharge_capacity_ah"}, cell_id="x1")
    assert df["discharge_capacity_ah"].tolist() == [1.1, 1.09]
    assert df["cell_id"].tolist() == ["x1", "x1"]


def test_excel_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Cell": ["b", "b", "a"], "N": [2, 1, 1], "Cap/Ah": [1.0, 1.1, 2.2]})
    mapping = {"N": "cycle_count", "Cap/Ah": "discharge_capacity_ah"}
    xlsx = tmp_path / "t.xlsx"
    frame.to_excel(xlsx, index=False)
    parquet = tmp_path / "t.parquet"
    frame.to_parquet(parquet)
    for p in (xlsx, parquet):
        df = load_per_cycle_table(p, mapping, cell_column="Cell")
        assert df["cell_id"].tolist() == ["b", "b", "a"]
        assert df["cycle_count"].tolist() == [1, 2, 1]
        assert df["discharge_capacity_ah"].tolist() == [1.1, 1.0, 2.2]


def test_empty_cells_become_nan(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("cycle,cap,ir\n1,1.1,\n2,,0.02\n")
    df = load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "discharge_capacity_ah", "ir": "internal_resistance_ohm"})
    assert np.isnan(df["internal_resistance_ohm"].iloc[0])
    assert np.isnan(df["discharge_capacity_ah"].iloc[1])


# ---------------------------------------------------------------------------- errors


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_source_column_names_file_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "cycle,cap\n1,1.0\n")
    with pytest.raises(SchemaError, match="column 'Capacity' not found") as exc:
        load_per_cycle_table(p, {"cycle": "cycle_count", "Capacity": "discharge_capacity_ah"})
    assert str(p) in str(exc.value)
    assert exc.value.column == "Capacity"


def test_mapping_errors(tmp_path: Path) -> None:
    p = _write(tmp_path, "cycle,cap\n1,1.0\n")
    with pytest.raises(SchemaError, match="unknown output column"):
        load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "capacity"})
    with pytest.raises(SchemaError, match="no source column mapped to 'cycle_count'"):
        load_per_cycle_table(p, {"cap": "discharge_capacity_ah"})
    with pytest.raises(SchemaError, match="several source columns"):
        load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "cycle_count"})
    with pytest.raises(SchemaError, match="units given for"):
        load_per_cycle_table(p, {"cycle": "cycle_count"}, units={"discharge_capacity_ah": "mAh"})
    with pytest.raises(SchemaError, match="cell column 'Cell' not found"):
        load_per_cycle_table(p, {"cycle": "cycle_count"}, cell_column="Cell")


def test_unit_error_lists_accepted_units(tmp_path: Path) -> None:
    p = _write(tmp_path, "cycle,cap\n1,1.0\n")
    with pytest.raises(UnitError, match=r"unit 'Wh' is not accepted.*'mah'") as exc:
        load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "discharge_capacity_ah"},
                             units={"discharge_capacity_ah": "Wh"})
    assert str(p) in str(exc.value)


@pytest.mark.parametrize(
    ("body", "message", "column", "row"),
    [
        ("1,1.0,0.02\n2,1.0x,0.02\n", "'1.0x' is not a number", "cap", 1),
        ("1,1.0,0.02\n2.5,1.0,0.02\n", "whole number", "cycle", 1),
        ("1,1.0,0.02\n,1.0,0.02\n", "whole number", "cycle", 1),
        ("1,1.0,0.02\n2,1.0,-0.01\n", "resistance cannot be negative", "ir", 1),
        ("1,1.0,0.02\n1,1.0,0.02\n", "appears more than once", "cycle", 1),
    ],
)
def test_value_errors_name_file_row_and_column(
    tmp_path: Path, body: str, message: str, column: str, row: int
) -> None:
    p = _write(tmp_path, "cycle,cap,ir\n" + body)
    with pytest.raises(DataFormatError, match=message) as exc:
        load_per_cycle_table(p, {"cycle": "cycle_count", "cap": "discharge_capacity_ah", "ir": "internal_resistance_ohm"})
    assert exc.value.column == column
    assert exc.value.row == row
    assert str(p) in str(exc.value)


def test_unreadable_inputs(tmp_path: Path) -> None:
    mapping = {"cycle": "cycle_count"}
    with pytest.raises(MissingFileError):
        load_per_cycle_table(tmp_path / "absent.csv", mapping)
    with pytest.raises(DataFormatError, match="empty"):
        load_per_cycle_table(_write(tmp_path, ""), mapping)
    with pytest.raises(DataFormatError, match="no rows"):
        load_per_cycle_table(_write(tmp_path, "cycle,cap\n"), mapping)
    binary = tmp_path / "t.dat"
    binary.write_bytes(b"\x00\x01\x02cycle")
    with pytest.raises(DataFormatError, match="binary"):
        load_per_cycle_table(binary, mapping)
    bad_xlsx = tmp_path / "t.xlsx"
    bad_xlsx.write_text("cycle\n1\n")
    with pytest.raises(DataFormatError, match="cannot read the table") as exc:
        load_per_cycle_table(bad_xlsx, mapping)
    assert str(bad_xlsx) in str(exc.value)


@FUZZ
@given(
    rows=st.lists(
        st.tuples(st.text(max_size=6), st.text(max_size=6), st.one_of(st.floats(allow_nan=True), st.text(max_size=4))),
        max_size=8,
    ),
    sep=st.sampled_from([",", ";", "\t"]),
)
def test_fuzz_random_tables(rows: list[tuple[str, str, object]], sep: str, tmp_path: Path) -> None:
    lines = [sep.join(["cycle", "cap", "ir"])] + [sep.join(str(v) for v in r) for r in rows]
    p = tmp_path / "fuzz.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    mapping = {"cycle": "cycle_count", "cap": "discharge_capacity_ah", "ir": "internal_resistance_ohm"}
    df, err = _load_or_error(lambda q: load_per_cycle_table(q, mapping, sep=sep), p)
    if err is not None:
        assert str(p) in str(err)
    else:
        assert df["cycle_count"].dtype == np.int64
