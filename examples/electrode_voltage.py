"""Predict the voltage of an electrode family the model has never seen: the LiMPO4 olivines (~30 s).

The Materials Project insertion-electrode export holds DFT average voltages of 2,365 Li
electrodes, among them 62 olivine phosphates LiMPO4 -> MPO4 (M = Fe, Mn, Co, Ni; several
polymorphs and magnetic orderings each). All of them are held out. A LightGBM model is fitted
on the other electrodes with ``ElectrodePairFeaturizer`` features (Magpie of the charged host,
the discharged - charged change, and the redox couple from oxidation-state guesses). It then
predicts the four olivines, with 90 % split-conformal intervals. The printout gives each
prediction beside the median DFT voltage of that metal's held-out rows. The order Fe < Mn < Co
< Ni follows the redox couple (M2+/M3+), since the framework is the same for all four.

Run: ``.venv/bin/python examples/electrode_voltage.py [path/to/mp_batteries.csv]`` (default:
``../shared/data/materials_project_insertion_electrodes/mp_batteries.csv``). The command-line
equivalent is ``voltlab train ... --formula-column formula_discharge --charged-column formula_charge``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from voltlab.data.datasets import load_mp_insertion_electrodes
from voltlab.features import ElectrodePairFeaturizer
from voltlab.models.property import PropertyRegressor, explain

DEFAULT_CSV = (Path(__file__).resolve().parents[2] / "shared" / "data" / "materials_project_insertion_electrodes"
               / "mp_batteries.csv")
OLIVINES = [("LiFePO4", "FePO4"), ("LiMnPO4", "MnPO4"), ("LiCoPO4", "CoPO4"), ("LiNiPO4", "NiPO4")]


def main(csv: Path = DEFAULT_CSV, n_estimators: int = 300) -> dict[str, dict[str, float]]:
    """Fit without the olivines, predict them; returns per olivine the prediction, interval and DFT median (V)."""
    df = load_mp_insertion_electrodes(csv, working_ion="Li")
    featurizer = ElectrodePairFeaturizer()
    X = featurizer.featurize_many(zip(df["formula_discharge"], df["formula_charge"], strict=True),
                                  ignore_errors=True).to_numpy()
    y = df["average_voltage_volt"].to_numpy(dtype=np.float64)
    olivine = df["formula_discharge"].isin([d for d, _ in OLIVINES]).to_numpy()
    model = PropertyRegressor("lightgbm", interval="split", params={"n_estimators": n_estimators},
                              random_state=0).fit(X[~olivine], y[~olivine])
    held_out_mae = float(np.abs(model.predict(X[olivine]) - y[olivine]).mean())
    Xc = featurizer.featurize_many(OLIVINES).to_numpy()
    pred = model.predict(Xc)
    lo, hi = model.predict_interval(Xc, 0.9)
    out: dict[str, dict[str, float]] = {}
    print(f"trained on {int((~olivine).sum())} Li electrodes; {int(olivine.sum())} olivine rows held out "
          f"(their MAE: {held_out_mae:.2f} V)")
    print(f"{'electrode':>18s} {'predicted V':>11s} {'90 % interval':>15s} {'DFT median V':>12s}")
    for (dis, cha), p, a, b in zip(OLIVINES, pred, lo, hi, strict=True):
        dft = float(np.median(y[(df["formula_discharge"] == dis).to_numpy()]))
        out[dis] = {"predicted_volt": float(p), "lower_volt": float(a), "upper_volt": float(b), "dft_median_volt": dft}
        print(f"{dis + ' -> ' + cha:>18s} {p:11.2f} {f'[{a:.2f}, {b:.2f}]':>15s} {dft:12.2f}")
    importance = explain(model, X[olivine], feature_labels=featurizer.feature_labels())
    print("largest mean |SHAP| on the olivines (V):",
          ", ".join(f"{name} {v:.3f}" for name, v in importance.head(4).items()))
    out["held_out"] = {"mae_volt": held_out_mae, "rows": float(olivine.sum())}
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV)
