"""Every real sample file is detected as its format by content, and every reader is guarded."""

import shutil

import pytest

from voltlab.data.readers import available_formats, detect_format, get_reader, read_cycler_file
from voltlab.errors import DataFormatError, UnknownFormatError

EXPECTED = {
    "arbin/20160805_test001_45_cc_01.res": "arbin_res",
    "arbin/FastCharge_000025_CH8.csv": "arbin_csv",
    "arbin/2017-05-09_test-TC-contact_CH33.csv": "arbin_csv",
    "arbin/sample_data_arbin.csv": "arbin_csv",
    "maccor/xTESLADIAG_000038con.078": "maccor_text",
    "maccor/PredictionDiagnostics_000151_test.052": "maccor_text",
    "maccor/maccor_test_file_4267-66-6519.041": "maccor_text",
    "maccor/maccor_two.txt": "maccor_text",
    "maccor/maccor_three.txt": "maccor_text",
    "maccor/maccor_002.txt": "maccor_text",
    "maccor/sample_data_maccor.csv": "maccor_csv",
    "neware/neware_uio.csv": "neware_csv",
    "neware/nw_regular_export_ife_example.csv": "neware_csv",
    "neware/20260302_IFE_BTS85_2_9_8_1.ndax": "neware_ndax",
    "biologic/gcpl.pr_182.1.mpt": "biologic_mpt",
    "biologic/gcpl.pr_182.1.mpr": "biologic_mpr",
    "biologic/gcpl.issue_149.mpt": "biologic_mpt",
    "biologic/gcpl.issue_149.mpr": "biologic_mpr",
    "biologic/biol.mpr": "biologic_mpr",
    "biologic/Sample_data_biologic_01_MB_CA1.txt": "biologic_mpt",
    "biologic/Sample_data_biologic_timestamped.txt": "biologic_mpt",
    "biologic/Sample_data_biologic_no_header.mpt": "biologic_mpt",
    "basytec/sample_data_basytec.txt": "basytec_text",
    "novonix/sample_data_novonix.csv": "novonix",
    "novonix/test_Nova_Form-CH01-01_short.csv": "novonix",
    "indigo/indigo_test_sample.h5": "indigo_hdf5",
    "pec/pec.csv": "pec_csv",
    "pec/Test25205.csv": "pec_csv",
    "pec/Test25195.csv": "pec_csv",
    "landt/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv": "landt_tidy_csv",
    "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv": "bdf_csv",
    "bdf/SINTEF__SLPBA842124HV__2024-10-23__Rate_25degC__Neware__Time_Bug.bdf.csv": "bdf_csv",
    "bdf/DLR__LiLNMOHydra0b__20221125__POCV__25degC__Basytec.bdf.csv": "bdf_csv",
}


@pytest.mark.parametrize(("rel", "fmt"), sorted(EXPECTED.items()))
def test_each_sample_is_detected_by_content(samples, rel, fmt, tmp_path):
    path = samples / rel
    assert detect_format(path).name == fmt
    # The extension plays no part: the same bytes under a neutral name.
    neutral = tmp_path / "export.dat"
    shutil.copy(path, neutral)
    assert detect_format(neutral).name == fmt


def test_every_vendor_folder_is_covered(samples):
    data_files = {
        str(p.relative_to(samples)) for p in samples.rglob("*")
        if p.is_file() and p.name not in ("SOURCE.md", "README.md")
        and not p.name.endswith("_Metadata.csv") and not p.name.endswith("_metadata.csv")
        and ".EDA" not in p.name
    }
    assert data_files == set(EXPECTED)


def test_formats_listing_and_unknown_names():
    fmts = available_formats()
    assert list(fmts) == sorted(fmts)
    assert {"arbin_res", "maccor_text", "neware_ndax", "biologic_mpr", "bdf_csv", "generic"} <= set(fmts)
    with pytest.raises(UnknownFormatError, match="unknown format 'excel'; choose one of: arbin_csv"):
        get_reader("excel")


def test_unrecognised_content_names_the_file(tmp_path):
    p = tmp_path / "notes.csv"
    p.write_text("hello,world\n1,2\n")
    with pytest.raises(UnknownFormatError, match="format not recognised") as exc:
        read_cycler_file(p)
    assert str(p) in str(exc.value)


TEXT_SAMPLES = [r for r, f in EXPECTED.items() if f in {
    "arbin_csv", "maccor_text", "maccor_csv", "neware_csv", "biologic_mpt", "basytec_text",
    "novonix", "pec_csv", "landt_tidy_csv", "bdf_csv"}]


@pytest.mark.parametrize("rel", sorted(TEXT_SAMPLES))
def test_a_number_that_would_crash_pandas_is_rejected(samples, rel, tmp_path):
    # pandas' C parser segfaults on exponents beyond 2**31: a damaged digit must give an error instead.
    raw = (samples / rel).read_bytes()
    lines = raw.split(b"\n")
    k = len(lines) // 2
    lines[k] = lines[k][:-12] + b"1E2147483648" if len(lines[k]) > 12 else b"1E2147483648"
    bad = tmp_path / (samples / rel).name
    bad.write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError, match=r"line \d+: .*exponent out of range") as exc:
        read_cycler_file(bad, format=EXPECTED[rel])
    assert str(bad) in str(exc.value)


def test_reader_options_are_checked(samples) -> None:
    """An option a reader does not take is named with the ones it does, not passed on to fail somewhere else."""
    from voltlab.data.readers import read_cycler_file
    from voltlab.data.readers.pec import PecReader
    from voltlab.errors import DataFormatError

    pec = samples / "pec" / "pec.csv"
    with pytest.raises(DataFormatError, match=r"the pec_csv reader takes no option 'timezone' \(its options: "
                       r"none\)") as info:
        PecReader.read(pec, timezone="Europe/Oslo")
    assert "pec.csv" in str(info.value)
    with pytest.raises(DataFormatError, match=r"pec_csv reader takes no option 'timezone'"):
        read_cycler_file(pec, format="pec_csv", timezone="Europe/Oslo")
    # Detected: an option only other readers take is left out for this file, and said so.
    data = read_cycler_file(pec, timezone="Europe/Oslo", cell_id="p1")
    assert data.metadata.extra["options_not_used"] == ["timezone"] and data.metadata.cell_id == "p1"
    with pytest.raises(DataFormatError, match=r"takes no option 'time_zone'"):
        read_cycler_file(pec, time_zone="Europe/Oslo")


def test_every_reader_declares_options_its_read_accepts() -> None:
    """The declared names are the keyword names of ``_read`` (or its documented ``**options``)."""
    import inspect

    from voltlab.data.readers import available_formats, get_reader

    for name in available_formats():
        cls = get_reader(name)
        params = inspect.signature(cls._read).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            doc = inspect.getdoc(cls) or ""
            for opt in cls.options:
                assert opt in doc, f"{name}: option {opt!r} is not documented on the reader"
        else:
            assert set(cls.options) == {p for p in params if p not in ("cls", "path")}, name


def test_companion_files_name_their_data_file(samples, tmp_path) -> None:
    from voltlab.data.readers import companion_of

    arbin = samples / "arbin"
    assert companion_of(arbin / "FastCharge_000025_CH8_Metadata.csv") == arbin / "FastCharge_000025_CH8.csv"
    novonix = samples / "novonix"
    assert (companion_of(novonix / "test_Nova_Form-CH01-01_short_metadata.csv")
            == novonix / "test_Nova_Form-CH01-01_short.csv")
    assert companion_of(arbin / "FastCharge_000025_CH8.csv") is None
    lone = tmp_path / "orphan_Metadata.csv"  # no data file beside it: not a companion
    lone.write_text("x\n")
    assert companion_of(lone) is None
