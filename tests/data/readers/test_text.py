"""Shared text helpers of the readers."""

from __future__ import annotations

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
