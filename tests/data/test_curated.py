"""The curated solid-electrolyte table: well-formed, and consistent with OBELiX and the Liverpool database.

The cross-check compares each curated value with the databases' entries of the same composition
(normalised to pymatgen's reduced formula of the integer-scaled composition): with the entries
that cite the same paper (DOI) when there are any, else with the median of that composition's
room-temperature entries. Every overlap must agree within 0.5 decades.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from voltlab.data.datasets import load_liverpool_ionics
from voltlab.data.embedded.curated import CURATED_SOLID_ELECTROLYTE_COLUMNS, load_curated_solid_electrolytes

OBELIX = "obelix_solid_electrolyte_conductivity"
MAX_LOG_RATIO = 0.5


def _norm(formula: str) -> str | None:
    """Reduced formula of the composition scaled to integers (so Li6.4...O12 and Li32...O60 agree)."""
    from pymatgen.core import Composition

    try:
        comp = Composition(str(formula))
    except Exception:  # unparseable database entries (hydrates written with '*') just do not overlap
        return None
    if not comp.num_atoms:
        return None
    fr = {str(e): Fraction(a).limit_denominator(1000) for e, a in comp.items()}
    den = math.lcm(*[f.denominator for f in fr.values()])
    return Composition({e: int(f * den) for e, f in fr.items()}).reduced_formula


def _dois(text: object) -> set[str]:
    return {d.strip().lower() for d in re.split(r"[|;,\s]+", str(text)) if d.strip().startswith("10.")}


def test_curated_table_is_well_formed():
    from voltlab.features import parse_composition

    df = load_curated_solid_electrolytes()
    assert list(df.columns[: len(CURATED_SOLID_ELECTROLYTE_COLUMNS)]) == list(CURATED_SOLID_ELECTROLYTE_COLUMNS)
    assert len(df) >= 12
    assert df["composition"].is_unique
    assert ((df["conductivity_s_cm"] > 1e-8) & (df["conductivity_s_cm"] < 1e-1)).all()
    assert df["temperature_c"].between(15, 35).all()  # room temperature only
    assert set(df["measurement"]) <= {"total", "bulk"}
    assert df["doi"].str.match(r"^10\.\d{4,}/\S+$").all()
    assert df["citation"].str.contains(r"\(\d{4}\)").all()  # year in every citation
    assert (df["family"] == "garnet").sum() >= 4
    for f in df["composition"]:
        parse_composition(f)
    np.testing.assert_allclose(df["log10_conductivity_s_cm"], np.log10(df["conductivity_s_cm"]))


def _overlaps(cur: pd.DataFrame, db: pd.DataFrame, comp: str, value: str, doi: str) -> list[dict]:
    db = db.assign(_key=db[comp].map(_norm), _v=pd.to_numeric(db[value], errors="coerce"))
    db = db[db["_key"].notna() & (db["_v"] > 0)]
    out = []
    for _, row in cur.iterrows():
        hits = db[db["_key"] == _norm(row["composition"])]
        if hits.empty:
            continue
        paper = str(row["doi"]).lower()
        same = hits[[paper in _dois(d) for d in hits[doi]]]
        ref = same if len(same) else hits
        ratio = float(np.log10(row["conductivity_s_cm"]) - np.log10(ref["_v"].median()))
        out.append({"composition": row["composition"], "same_paper": bool(len(same)), "log10_ratio": ratio,
                    "database_values": ref["_v"].tolist()})
    return out


@pytest.mark.shared
def test_curated_values_agree_with_obelix(shared_file):
    path = shared_file(OBELIX, "all.csv")
    ob = pd.read_csv(path, dtype=str)
    cur = load_curated_solid_electrolytes()
    over = _overlaps(cur, ob, "Reduced Composition", "Ionic conductivity (S cm-1)", "DOI")
    assert len(over) >= 10, f"only {len(over)} curated compositions found in OBELiX"
    assert sum(o["same_paper"] for o in over) >= 8
    bad = [o for o in over if abs(o["log10_ratio"]) > MAX_LOG_RATIO]
    assert not bad, f"curated values off by more than {MAX_LOG_RATIO} decades from OBELiX: {bad}"


@pytest.mark.shared
def test_curated_values_agree_with_the_liverpool_database(shared_file):
    lv = load_liverpool_ionics(shared_file(OBELIX, "related_databases", "LiIonDatabase.csv"))
    lv = lv[lv["is_room_temperature"]]  # the temperature column mixes °C and K above 35
    cur = load_curated_solid_electrolytes()
    over = _overlaps(cur, lv, "composition", "ionic_conductivity_s_per_cm", "doi")
    assert len(over) >= 8, f"only {len(over)} curated compositions found in the Liverpool database"
    bad = [o for o in over if abs(o["log10_ratio"]) > MAX_LOG_RATIO]
    assert not bad, f"curated values off by more than {MAX_LOG_RATIO} decades from the Liverpool data: {bad}"
