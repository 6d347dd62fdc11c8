"""Shared text helpers of the readers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voltlab.data.readers._text import _CRASH_EXPONENT, first_crashing_exponent


def _reference(buf: bytes):
    """The regex scan the vectorised search replaces."""
    return next((h for h in _CRASH_EXPONENT.finditer(buf) if h.start() > 0 and buf[h.start() - 1] in b"0123456789."),
                None)


_PIECES = st.sampled_from([b"0", b"7", b".", b"e", b"E", b"+", b"-", b",", b" ", b"\n", b"Rest", b"1e", b"2.E-",
                           b".e+", b"3E", b"1234567890", b"123456789", b"99"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_vectorised_exponent_search_equals_the_regex_scan(pieces) -> None:
    buf = b"".join(pieces)
    want, got = _reference(buf), first_crashing_exponent(buf)
    assert (want is None) == (got is None)
    if want is not None:
        assert (got.start(), got.group(0)) == (want.start(), want.group(0))


def test_exponent_search_cases() -> None:
    assert first_crashing_exponent(b"") is None
    assert first_crashing_exponent(b"e1234567890") is None  # nothing before the e
    assert first_crashing_exponent(b"Rest,1e123456789,x") is None  # nine exponent digits: pandas reads inf, no crash
    m = first_crashing_exponent(b"V,3.53E08307115776\n1.0,2e-12345678901")
    assert m is not None and m.group(0) == b"E08307115776" and m.start() == 6
    assert first_crashing_exponent(b"abcE12345678901") is None  # a letter before the E: not a number


_CELL = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.floats(-1e4, 1e4).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", "NA", "N/A", "nan", "NaN", "None", "<NA>", "null", "True", "False", "TRUE", "inf", "-inf",
                     "1e5", "+3", "007", "CC_Chg", "02/22/2019 16:21:35", "2019-02-22 16:21:35", " 1.5", "1.5 ",
                     "x y", '"q"', "9223372036854775808", "-0"]),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.tuples(
    st.lists(st.sampled_from(["Voltage (mV)", "Current (mA)", "", "Step", "Step", "Real Time"]), min_size=k,
             max_size=k),
    st.lists(st.lists(_CELL, min_size=k, max_size=k), min_size=1, max_size=8))))
def test_arrow_csv_equals_pandas_or_declines(table) -> None:
    """Whenever the Arrow path answers, its frame is pandas' frame: names, dtypes and values; floats are the
    correctly rounded ones (Python's ``float`` of the text), which pandas' parser misses by an ulp at times."""
    import io

    import pandas as pd

    from voltlab.data.readers._text import read_csv_arrow

    header, rows = table
    body = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    got = read_csv_arrow(body)
    if got is None:
        return
    # pandas' default float parser can miss by several ulps (0.05533700873347647 -> ...764); its
    # round-trip parser is correctly rounded, so names, dtypes and values are held to that one.
    want = pd.read_csv(io.StringIO(body), index_col=False, float_precision="round_trip")
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-15, atol=0)
    missing = {"", "NA", "N/A", "nan", "NaN", "None", "<NA>", "null"}
    rows = [r for r in rows if ",".join(r)]  # both skip blank lines
    for j, name in enumerate(got.columns):
        if got[name].dtype == "float64":
            ref = np.array([np.nan if r[j] in missing else float(r[j]) for r in rows])
            np.testing.assert_array_equal(got[name].to_numpy(), ref)


def test_arrow_csv_reads_a_plain_numeric_table() -> None:
    import io

    import numpy as np
    import pandas as pd

    from voltlab.data.readers._text import read_csv_arrow

    body = "Step,Voltage (mV),Real Time,Flag,\n1,3601.5,02/22/2019 16:21:35,True,\n2,,02/22/2019 16:21:36,False,\n"
    got = read_csv_arrow(body)
    assert got is not None
    pd.testing.assert_frame_equal(got, pd.read_csv(io.StringIO(body), index_col=False), check_exact=True)
    assert list(got.columns) == ["Step", "Voltage (mV)", "Real Time", "Flag", "Unnamed: 4"]
    assert got["Step"].dtype == np.int64 and np.isnan(got["Voltage (mV)"].iloc[1])
    assert read_csv_arrow('a,b\n"1",2\n') is None  # quotes: pandas decides
    blank = "a,b\n 1,x \n"  # both read ' 1' as the number 1; the text ' x ' is pandas' to decide
    assert read_csv_arrow(blank) is None
    assert read_csv_arrow("a,b\n+3,2\n") is None  # '+3': an integer to pandas, a float to Arrow
    assert read_csv_arrow("a,b\n1,2,3\n") is None  # ragged


def test_read_csv_whole_rows_keeps_trailing_separators_and_refuses_to_cut_values(tmp_path) -> None:
    import pytest

    from voltlab.data.readers._text import read_csv_whole_rows
    from voltlab.errors import DataFormatError

    # A trailing separator (an empty surplus field) is how many exports end their rows: read as pandas does.
    df = read_csv_whole_rows("a,b,c\n1,2,3,\n4,5,6,\n", tmp_path / "t.csv")
    assert df.to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    # A surplus value would be dropped by index_col=False (with only a warning): an error naming the line.
    with pytest.raises(DataFormatError, match=r"line 13 has 4 fields but the header 3: its value\(s\) '9' would be "
                                              r"lost") as ei:
        read_csv_whole_rows("a;b;c\n1;2;3\n4;5;6;9\n", tmp_path / "t.csv", first_line=10, sep=";")
    assert ei.value.row == 12 and str(tmp_path / "t.csv") in str(ei.value)


_SURPLUS_CASES = [  # (folder/file, separator, encoding)
    ("pec/pec.csv", ",", "utf-8"),
    ("landt/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv", ",", "utf-8"),
    ("novonix/sample_data_novonix.csv", ",", "utf-8"),
    ("basytec/sample_data_basytec.txt", "\t", "latin-1"),
]


def test_readers_refuse_rows_with_surplus_values(samples, tmp_path) -> None:
    """A real export with one value too many on a data row: an error naming that line, not a silent cut."""
    import pytest

    from voltlab.data.readers import read_cycler_file
    from voltlab.errors import DataFormatError

    for name, sep, encoding in _SURPLUS_CASES:
        src = samples / name
        good = read_cycler_file(src)
        lines = src.read_bytes().decode(encoding).split("\n")
        k = len(lines) - 5
        lines[k] = lines[k].rstrip("\r") + f"{sep}4.2" + ("\r" if lines[k].endswith("\r") else "")
        bad = tmp_path / src.name
        bad.write_bytes("\n".join(lines).encode(encoding))
        with pytest.raises(DataFormatError, match=rf"line {k + 1} has \d+ fields but the header \d+: its value\(s\) "
                                                  r"'4.2' would be lost") as ei:
            read_cycler_file(bad, format=good.metadata.source_format)
        assert str(bad) in str(ei.value), name


def test_a_value_under_no_header_name_is_an_error(samples, tmp_path) -> None:
    """BioLogic .mpt headers end in a tab, data rows do not: a stray field lands under no name, and
    would be dropped with the unnamed column; it is an error naming the row and the value."""
    import pandas as pd
    import pytest

    from voltlab.data.readers import read_cycler_file
    from voltlab.data.readers._text import reject_unnamed_values
    from voltlab.errors import DataFormatError

    reject_unnamed_values(pd.DataFrame({"a": [1.0, 2.0], "Unnamed: 1": [np.nan, np.nan], "Unnamed: 2": ["", " "]}),
                          "x.csv")
    # the row numbers pandas' to_csv writes in an unnamed first column are not data
    reject_unnamed_values(pd.DataFrame({"Unnamed: 0": [0, 1, 2], "a": [1.0, 2.0, 3.0]}), "x.csv")
    with pytest.raises(DataFormatError, match="data row 1 has the value '5' in field 1"):
        reject_unnamed_values(pd.DataFrame({"Unnamed: 0": [5, 6, 7], "a": [1.0, 2.0, 3.0]}), "x.csv")
    with pytest.raises(DataFormatError, match=r"data row 2 \(header on line 5\) has the value '7' in field 2, "
                                              r"which has no name in the header \(1 such value"):
        reject_unnamed_values(pd.DataFrame({"a": [1.0, 2.0], "Unnamed: 1": [None, "7"]}), "x.csv", header_line=4)

    src = samples / "biologic" / "gcpl.pr_182.1.mpt"
    lines = src.read_bytes().decode("latin-1").split("\n")
    k = len(lines) - 5
    lines[k] = lines[k].rstrip("\r") + "\t4.2" + ("\r" if lines[k].endswith("\r") else "")
    bad = tmp_path / src.name
    bad.write_bytes("\n".join(lines).encode("latin-1"))
    n_rows = len(read_cycler_file(src).timeseries)
    with pytest.raises(DataFormatError, match=r"has the value '4.2' in field \d+, which has no name") as ei:
        read_cycler_file(bad)
    assert str(bad) in str(ei.value) and ei.value.row == n_rows - 5  # the 5th line from the end
