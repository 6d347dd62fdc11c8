"""Composition features: equal to matminer's Magpie preset, hand-computed values, invariance, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voltlab.errors import DataFormatError
from voltlab.features import MagpieFeaturizer, _magpie, composition_amounts, parse_composition

# Equality with matminer: |voltlab - matminer| <= ATOL + RTOL * |matminer| (numpy.testing.assert_allclose).
RTOL = 1e-9
ATOL = 1e-9
N_MAGPIE = 132
FEAT = MagpieFeaturizer()
LABELS = FEAT.feature_labels()


def _x(formula: str, **kwargs: float) -> dict[str, float]:
    f = MagpieFeaturizer(**kwargs) if kwargs else FEAT
    return dict(zip(f.feature_labels(), f.featurize(formula), strict=True))


# --------------------------------------------------------------------------- shared formulas


def _shared_formulas(shared_path) -> list[str]:
    """~950 distinct formulas: all of OBELiX, every 20th MP electrode (both ends), all 168 doped NCMs."""
    obelix = pd.read_csv(shared_path("obelix_solid_electrolyte_conductivity", "all.csv"))
    mp = pd.read_csv(shared_path("materials_project_insertion_electrodes", "mp_batteries.csv"))
    ncm = pd.read_csv(shared_path("doped_ncm_capacity", "NMC_doped_with_dopant_and_doi.csv"))
    out = list(obelix["Reduced Composition"])
    out += list(mp["Formula Discharge"].iloc[::20]) + list(mp["Formula Charge"].iloc[10::20])
    out += [
        f"Li{r.Li}Ni{r.Ni}Co{r.Co}Mn{r.Mn}{r.dopant}{r.M}O2" if r.M > 0 else f"Li{r.Li}Ni{r.Ni}Co{r.Co}Mn{r.Mn}O2"
        for r in ncm.itertuples()
    ]
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module")
def shared_formulas(shared_file) -> list[str]:
    return _shared_formulas(shared_file)


@pytest.fixture(scope="module")
def matminer_reference(shared_formulas):
    """matminer's Magpie ElementProperty + Stoichiometry on every formula pymatgen can parse (slow: once)."""
    pytest.importorskip("matminer")
    from matminer.featurizers.composition import ElementProperty, Stoichiometry
    from pymatgen.core import Composition

    ep = ElementProperty.from_preset("magpie")
    sto = Stoichiometry()
    kept, rows = [], []
    for f in shared_formulas:
        try:
            comp = Composition(f)
        except ValueError:
            continue
        kept.append(f)
        rows.append(ep.featurize(comp) + sto.featurize(comp))
    return kept, np.array(rows, dtype=np.float64), ep.feature_labels()


@pytest.mark.shared
def test_equals_matminer_magpie_and_stoichiometry(matminer_reference):
    formulas, ref, mm_labels = matminer_reference
    assert len(formulas) >= 500
    ours = FEAT.featurize_many(formulas)
    assert FEAT.matminer_labels() == mm_labels
    np.testing.assert_allclose(ours.iloc[:, :N_MAGPIE].to_numpy(), ref[:, :N_MAGPIE], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.iloc[:, N_MAGPIE: N_MAGPIE + 6].to_numpy(), ref[:, N_MAGPIE:],
                               rtol=RTOL, atol=ATOL)


@pytest.mark.shared
def test_fast_parser_equals_pymatgen_on_shared_formulas(shared_formulas):
    from pymatgen.core import Composition

    n_fast = 0
    for f in shared_formulas:
        fast = _magpie.parse_simple_formula(f)
        if fast is None:
            continue
        n_fast += 1
        ref = {el.Z - 1: amt for el, amt in Composition(f).element_composition.items()}
        assert fast.keys() == ref.keys(), f
        assert all(fast[k] == pytest.approx(ref[k], rel=1e-15) for k in ref), f
    assert n_fast > 0.95 * len(shared_formulas)


@pytest.mark.shared
def test_vectorised_parser_equals_the_per_formula_parser_on_shared_formulas(shared_formulas):
    from voltlab.features.composition import _padded, _parse_padded, _parse_rows

    formulas = list(shared_formulas)
    taken, idx, amt = _magpie.parse_simple_formulas(formulas)
    assert taken.mean() > 0.6  # most go the vectorised way (the rest have groups: LiV(PO4)F)
    for k, row in enumerate(np.flatnonzero(taken)):
        one = _magpie.parse_simple_formula(formulas[row])
        n = len(one)
        assert idx[k, :n].tolist() == list(one) and amt[k, :n].tolist() == list(one.values()), formulas[row]
        assert not amt[k, n:].any()
    formulas += [b"LiCoO2", parse_composition("LiFePO4")]  # bytes and a Composition: the per-formula way
    got = _parse_padded(formulas, True)
    rows, errors = _parse_rows(formulas, True)
    want = (*_padded(rows), errors)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1], equal_nan=True)
    assert got[2] == want[2]


_PIECE = st.sampled_from(["Li", "Fe", "O", "P", "H", "Co", "C", "N", "Xx", "Zr", "Na", "2", "0.5", "12.25", "3.",
                          ".5", "0", "0.000000001", "7" * 17, "(", ")", "[", "]2", " ", "+", "Li", "O2", "e",
                          "1234567890.123456", "99999.9999999999", "100000000000000", "0.000000000000001",
                          "0.30000000000000004", "Hf", "hf"])


@given(st.lists(st.lists(_PIECE, min_size=1, max_size=8).map("".join), min_size=1, max_size=40))
def test_vectorised_parser_gives_the_per_formula_arrays_on_any_text(formulas):
    """Plain, grouped, repeated, tiny, overlong and invalid formulas: the same arrays and errors."""
    from voltlab.features import composition
    from voltlab.features.composition import _padded, _parse_rows

    items = formulas * (1 + composition._VECTOR_PARSE_MIN // len(formulas))  # over the vectorised threshold
    rows, want_errors = _parse_rows(items, True)
    want_idx, want_amt = _padded(rows)
    default = composition._PARSE_BLOCK_ROWS
    try:
        for block in (default, 37):  # one block, and many (of different widths)
            composition._PARSE_BLOCK_ROWS = block
            idx, amt, errors = composition._parse_padded(items, True)
            assert np.array_equal(idx, want_idx) and np.array_equal(amt, want_amt, equal_nan=True)
            assert errors == want_errors
    finally:
        composition._PARSE_BLOCK_ROWS = default


@pytest.mark.shared
def test_invalid_shared_formula_gives_nan_row_and_message(shared_formulas):
    bad = "Li3(Mo8S8O8(OH)8(HWO5(H2O)))*(H2O)18"  # in OBELiX; pymatgen cannot parse it either
    assert bad in shared_formulas
    df = FEAT.featurize_many(["LiCoO2", bad], ignore_errors=True)
    assert df.iloc[1].isna().all() and df.iloc[0].notna().iloc[:N_MAGPIE].all()
    assert "unexpected character '*' at position 28" in df.attrs["errors"][1]
    with pytest.raises(DataFormatError, match=r"not a valid formula: unexpected character '\*'"):
        FEAT.featurize_many(["LiCoO2", bad])


# --------------------------------------------------------------------------- hand-computed values


def test_licoo2_hand_computed():
    x = _x("LiCoO2")
    # Magpie atomic weights Li 6.941, Co 58.933195, O 15.9994 g/mol; fractions 1/4, 1/4, 1/2.
    assert x["magpie_mean_atomic_weight_g_per_mol"] == pytest.approx((6.941 + 58.933195 + 2 * 15.9994) / 4, rel=1e-12)
    # Z: 3, 27, 8 -> mean 11.5; avg_dev = (8.5 + 15.5) / 4 + 3.5 / 2 = 7.75; mode = Z of O (largest fraction).
    assert x["magpie_mean_number"] == pytest.approx(11.5, rel=1e-12)
    assert x["magpie_avg_dev_number"] == pytest.approx(7.75, rel=1e-12)
    assert x["magpie_mode_number"] == 8.0
    assert x["magpie_range_number"] == 24.0
    assert x["stoichiometry_0_norm"] == 3.0
    assert x["stoichiometry_2_norm"] == pytest.approx(math.sqrt(0.25**2 * 2 + 0.5**2), rel=1e-12)
    assert x["li_atomic_fraction"] == 0.25
    # 1 e- per LiCoO2: F / (3.6 * 97.8730) = 273.84 mAh/g (the textbook 274 mAh/g).
    assert x["theoretical_gravimetric_capacity_mah_per_g"] == pytest.approx(
        96485.33212 / (3.6 * (6.941 + 58.933195 + 2 * 15.9994)), rel=1e-12)
    assert x["theoretical_gravimetric_capacity_mah_per_g"] == pytest.approx(273.84, abs=0.01)


def test_capacity_scales_with_electrons_and_formula_unit():
    assert _x("LiFePO4")["theoretical_gravimetric_capacity_mah_per_g"] == pytest.approx(169.89, abs=0.01)
    assert _x("LiFePO4", n_electrons=2)["theoretical_gravimetric_capacity_mah_per_g"] == pytest.approx(
        2 * 169.8905, abs=1e-3)
    # Per formula unit as written: Fe2O2 weighs twice FeO.
    assert _x("Fe2O2")["theoretical_gravimetric_capacity_mah_per_g"] == pytest.approx(
        _x("FeO")["theoretical_gravimetric_capacity_mah_per_g"] / 2, rel=1e-12)


def test_anion_electronegativity_hand_computed():
    x = _x("Li2SO4")
    # Anions S (2.58) and O (3.44), weights 1 : 4 -> mean 3.268, variance 0.2*0.688^2 + 0.8*0.172^2.
    assert x["anion_electronegativity_mean_pauling"] == pytest.approx(3.268, rel=1e-12)
    assert x["anion_electronegativity_variance_pauling2"] == pytest.approx(0.2 * 0.688**2 + 0.8 * 0.172**2, rel=1e-9)
    assert x["li_atomic_fraction"] == pytest.approx(2 / 7, rel=1e-12)
    assert _x("NaCl")["na_atomic_fraction"] == 0.5
    assert _x("NaCl")["anion_electronegativity_variance_pauling2"] == 0.0
    no_anion = _x("LiAl")
    assert math.isnan(no_anion["anion_electronegativity_mean_pauling"])
    assert math.isnan(no_anion["anion_electronegativity_variance_pauling2"])


def test_mode_tie_takes_smallest_value():
    # FeO: equal fractions -> the smaller property value (O: Z = 8, Fe: Z = 26).
    assert _x("FeO")["magpie_mode_number"] == 8.0
    assert _x("Fe2O")["magpie_mode_number"] == 26.0


def test_doped_fractional_formulas_parse():
    llzo = parse_composition("Li6.25La3Zr1.25Ta0.75O12")
    assert llzo.num_atoms == pytest.approx(23.25)
    assert parse_composition("LiNi0.8Co0.1Mn0.1O2")["Ni"] == pytest.approx(0.8)
    assert parse_composition(llzo) is llzo


def test_featurize_amounts_and_composition_objects_agree():
    from pymatgen.core import Composition

    formulas = ["LiCoO2", "Li3Fe2(PO4)3", "Li6.25La3Zr1.25Ta0.75O12", "Na3V2(PO4)2F3"]
    df = FEAT.featurize_many(formulas)
    amounts, errors = composition_amounts(formulas)
    assert errors == {}
    assert amounts[1, 25] == 2.0 and amounts[1, 14] == 3.0 and amounts[1, 7] == 12.0  # Fe, P, O
    np.testing.assert_allclose(FEAT.featurize_amounts(amounts), df.to_numpy(), rtol=1e-12)
    comps = FEAT.featurize_many([Composition(f) for f in formulas])
    np.testing.assert_allclose(comps.to_numpy(), df.to_numpy(), rtol=1e-12)
    assert len(FEAT.featurize("LiCoO2")) == len(LABELS) == N_MAGPIE + 6 + 5


# --------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("formula", ["Fe2O2", "Fe0.5O0.5", "OFe", "(FeO)3", "Fe1O1"])
def test_invariant_to_formula_scaling(formula):
    keep = [k for k, lab in enumerate(LABELS) if lab != "theoretical_gravimetric_capacity_mah_per_g"]
    ref = np.array(FEAT.featurize("FeO"))[keep]
    np.testing.assert_allclose(np.array(FEAT.featurize(formula))[keep], ref, rtol=1e-12, atol=1e-12)


_SYMBOLS = list(_magpie.element_symbols()[:94])
_amount = st.floats(min_value=0.01, max_value=50, allow_nan=False).map(lambda v: round(v, 3))


@given(st.dictionaries(st.sampled_from(_SYMBOLS), _amount, min_size=1, max_size=6),
       st.sampled_from([0.5, 2.0, 3.0, 10.0]))
def test_scaling_invariance_random(amounts, factor):
    a = "".join(f"{el}{v!r}" for el, v in amounts.items())
    b = "".join(f"{el}{v * factor!r}" for el, v in amounts.items())
    keep = [k for k, lab in enumerate(LABELS) if lab != "theoretical_gravimetric_capacity_mah_per_g"]
    xa, xb = FEAT.featurize_many([a, b]).to_numpy()[:, keep]
    np.testing.assert_allclose(xb, xa, rtol=1e-9, atol=1e-9)
    assert np.isfinite(xa[: N_MAGPIE + 6]).all()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("Li7La3Zr2O12Xx", r"^'Li7La3Zr2O12Xx' is not a valid formula: unknown element 'Xx' at position 12; accepted"),
        ("Li7La3Zr2O12x", r"unknown element 'x' at position 12"),
        ("", r"'' is not a valid formula: it is empty"),
        ("Fe-1O", r"amounts cannot be negative"),
        ("Fe0O0", r"it has no atoms"),
        ("Li3Fe2(PO4", r"unclosed '\(' at position 6"),
        ("Li2O)", r"unmatched '\)' at position 4"),
        ("H2O+", r"unexpected character '\+' at position 3"),
        ("Fe1e400O", r"an amount is not finite"),
    ],
)
def test_invalid_formula_messages(formula, match):
    with pytest.raises(DataFormatError, match=match):
        parse_composition(formula)
    with pytest.raises(DataFormatError, match=match):
        FEAT.featurize(formula)


def test_non_string_and_bad_settings():
    with pytest.raises(DataFormatError, match="expected a formula string or a pymatgen Composition, got float"):
        parse_composition(3.5)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="n_electrons must be a positive number"):
        MagpieFeaturizer(n_electrons=0).featurize("LiCoO2")
    with pytest.raises(DataFormatError, match="p_norms must be integers >= 0"):
        MagpieFeaturizer(p_norms=(2, -1)).featurize("LiCoO2")
    with pytest.raises(DataFormatError, match=r"amounts must have shape \(n, 118\)"):
        FEAT.featurize_amounts(np.ones((2, 5)))


def test_ignore_errors_records_position():
    df = FEAT.featurize_many(["LiCoO2", "Xx2O", "NaCl"], ignore_errors=True, index=["a", "b", "c"])
    assert list(df.index) == ["a", "b", "c"]
    assert df.loc["b"].isna().all() and not df.loc["c"].iloc[:N_MAGPIE].isna().any()
    assert set(df.attrs["errors"]) == {1} and "unknown element 'Xx' at position 0" in df.attrs["errors"][1]


_text = st.text(alphabet="HLiOFeCoNaXxlk()[]{}0123456789.-+* e@", max_size=24)


@given(st.one_of(_text, st.builds(lambda d: "".join(f"{k}{v}" for k, v in d.items()),
                                  st.dictionaries(st.sampled_from(_SYMBOLS), _amount, min_size=1, max_size=5))))
def test_fuzz_only_dataformaterror(formula):
    try:
        row = FEAT.featurize(formula)
    except DataFormatError as exc:
        assert repr(formula) in str(exc)
        return
    assert len(row) == len(LABELS)
    assert np.isfinite(row[: N_MAGPIE + 6]).all()


def test_blocked_arithmetic_equals_one_block(monkeypatch):
    """Blocks of 3 formulas (widths 1 to 5 elements, an invalid row inside a block) give exactly
    the one-block features: the blocking only changes where the arithmetic runs."""
    import voltlab.features.composition as composition

    formulas = ["LiFePO4", "Li7La3Zr2O12", "Fe", "NaCl", "not a formula", "LiNi0.8Co0.1Mn0.1O2",
                "Li6PS5Cl", "O2", "Li10GeP2S12", "Na3V2(PO4)2F3"]
    feat = MagpieFeaturizer()
    whole = feat.featurize_many(formulas, ignore_errors=True).to_numpy()
    monkeypatch.setattr(composition, "_BLOCK_ROWS", 3)
    blocked = feat.featurize_many(formulas, ignore_errors=True).to_numpy()
    assert np.isnan(blocked[4]).all() and not np.isnan(blocked[[0, 3, 9]]).any()
    np.testing.assert_array_equal(blocked, whole)
