#!/usr/bin/env python
"""OBELiX ionic conductivity from crystal structures: CGCNN-style graph network vs Magpie trees (same rows).

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/obelix_graph.py          # ~5-8 min on 2 shared cores

Protocol
--------
* Data: :func:`voltlab.data.datasets.load_obelix` and :func:`load_obelix_structures` on
  ../shared/data/obelix_solid_electrolyte_conductivity. Only the rows **with a CIF** (the
  authors' randomized CIFs): 254 of the 478 official train rows and 67 of the 121 test rows.
  Target: log10 of the room-temperature total ionic conductivity in S/cm; censored entries
  (``<1E-10``) at their bound, as in ``benchmarks/obelix.py``. The MAE on the uncensored test rows
  is reported too.
* Graph network: :class:`voltlab.models.graph.CGCNNRegressor` with fixed, small settings chosen to
  fit the time budget on 2 shared CPU cores (no tuning on the test set): hidden size 32, 3 CGConv
  layers, cutoff 5 Å, 8 neighbours per site, 40 epochs, batch 32, AdamW lr 3e-3, weight decay
  1e-5, one torch thread. Disordered sites: majority species, occupancy as a node feature.
* Baselines on the same rows: mean of the training targets (dummy), ``MagpieFeaturizer`` +
  ``RandomForestRegressor(500 trees, max_features=1/3)`` and + ``LGBMRegressor`` with the settings
  of ``benchmarks/obelix.py``.
* Pretrained structure features on the same rows: LightGBM on Magpie + :class:`CHGNetFeaturizer`
  (CHGNet 0.3.0 from the wheel): + energy per atom, and + the 64 crystal features and the energy.
* Seeds 0, 1, 2; test MAE as mean ± std (ddof=1) over the seeds.
* Results: ``benchmarks/results/obelix_graph.md`` and ``obelix_graph.json`` (flat keys, units in
  the names).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VOLTLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
SEEDS = (0, 1, 2)
GRAPH_SETTINGS = {"hidden_size": 32, "n_layers": 3, "cutoff_angstrom": 5.0, "max_neighbors": 8, "epochs": 40,
                  "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-5}


def _trees(seed: int) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from obelix import _models  # the same tree models as benchmarks/obelix.py

    return {k: v for k, v in _models(seed).items() if k in ("rf_magpie", "lightgbm_magpie")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--epochs", type=int, default=GRAPH_SETTINGS["epochs"])
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/obelix.py
    import torch
    from obelix import chgnet_features, mae_keys, obelix_target, record
    from sklearn.base import clone

    from voltlab.data.datasets import load_obelix, load_obelix_structures
    from voltlab.features import MagpieFeaturizer
    from voltlab.models.graph import CGCNNRegressor

    torch.set_num_threads(1)
    settings = {**GRAPH_SETTINGS, "epochs": args.epochs}
    t_start = time.perf_counter()
    folder = SHARED / "obelix_solid_electrolyte_conductivity"
    df = load_obelix(folder)
    df = df[df["has_cif"]].reset_index(drop=True)
    structures, skipped = load_obelix_structures(folder, ids=df["id"])
    df = df[df["id"].isin(structures)].reset_index(drop=True)
    y, train, test, uncensored_test = obelix_target(df)
    xs = [structures[i] for i in df["id"]]
    xs_train = [s for s, t in zip(xs, train, strict=True) if t]
    xs_test = [s for s, t in zip(xs, test, strict=True) if t]
    feats = MagpieFeaturizer().featurize_many(df["composition"], ignore_errors=True).to_numpy()
    chg, chg_seconds = chgnet_features(df, folder)
    with_chgnet = {"lightgbm_magpie_chgnet_energy": np.hstack([feats, chg[:, -1:]]),
                   "lightgbm_magpie_chgnet": np.hstack([feats, chg])}
    t_loaded = time.perf_counter() - t_start

    maes: dict[str, list[float]] = {}
    maes_unc: dict[str, list[float]] = {}
    for _ in SEEDS:  # the same every seed
        record(maes, maes_unc, "dummy", np.abs(y[test] - y[train].mean()), uncensored_test)
    graph_seconds = []
    for seed in SEEDS:
        for name, model in _trees(seed).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit(feats[train], y[train])
                err = np.abs(y[test] - model.predict(feats[test]))
            record(maes, maes_unc, name, err, uncensored_test)
        for name, x in with_chgnet.items():
            model = clone(_trees(seed)["lightgbm_magpie"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit(x[train], y[train])
                err = np.abs(y[test] - model.predict(x[test]))
            record(maes, maes_unc, name, err, uncensored_test)
        t0 = time.perf_counter()
        m = CGCNNRegressor(**settings, random_state=seed, device="cpu").fit(xs_train, y[train])
        err = np.abs(y[test] - m.predict(xs_test))
        graph_seconds.append(time.perf_counter() - t0)
        record(maes, maes_unc, "cgcnn", err, uncensored_test)
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in maes.items()), flush=True)

    res: dict[str, object] = {
        "n_train_with_cif": int(train.sum()),
        "n_test_with_cif": int(test.sum()),
        "n_test_censored": int((~uncensored_test).sum()),
        "n_cifs_skipped": len(skipped),
        "seeds": len(SEEDS),
        "runtime_seconds": time.perf_counter() - t_start,
        "load_seconds": t_loaded,
        "cgcnn_fit_predict_seconds_mean": float(np.mean(graph_seconds)),
        "chgnet_featurize_seconds": chg_seconds,
        "n_chgnet_errors": int((~np.isfinite(chg[:, 0])).sum()),
        "python_version": platform.python_version(),
    }
    res.update({f"cgcnn_{k}": v for k, v in settings.items()})
    res.update(mae_keys(maes, maes_unc))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "obelix_graph.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    (args.out / "obelix_graph.md").write_text(_markdown(res, maes, maes_unc, settings))
    for name, v in maes.items():
        print(f"{name:16s} {np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}")
    return 0


def _markdown(res: dict, maes: dict[str, list[float]], maes_unc: dict[str, list[float]], settings: dict) -> str:
    from importlib.metadata import version

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    labels = {
        "dummy": "dummy (mean of train targets)",
        "rf_magpie": "random forest, Magpie features (composition)",
        "lightgbm_magpie": "LightGBM, Magpie features (composition)",
        "cgcnn": "CGCNN-style graph network (structure)",
        "lightgbm_magpie_chgnet_energy": "LightGBM, Magpie + CHGNet energy per atom (pretrained, structure)",
        "lightgbm_magpie_chgnet": "LightGBM, Magpie + CHGNet crystal features + energy (pretrained)",
    }
    rows = "\n".join(
        f"| {labels[k]} | **{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}** | {np.mean(maes_unc[k]):.3f} |"
        for k, v in maes.items()
    )
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("torch", "torch-geometric", "scikit-learn", "lightgbm",
                                                    "pymatgen", "chgnet"))
    cfg = ", ".join(f"{k} {v}" for k, v in settings.items())
    return f"""# OBELiX ionic conductivity from structures: graph network vs composition trees

Generated by `benchmarks/obelix_graph.py` on {now} in {res["runtime_seconds"]:.0f} s. Machine-readable:
`obelix_graph.json`. Python {res["python_version"]}; {pkgs}; {os.cpu_count()} CPUs (shared machine, one thread
per model).

## Protocol

- OBELiX official split restricted to the rows with a CIF: {res["n_train_with_cif"]} train /
  {res["n_test_with_cif"]} test materials ({res["n_test_censored"]} censored test rows, used at their bound; the
  last column leaves them out). Target log10(σ / (S/cm)), room-temperature total ionic conductivity.
- Structures: the authors' randomized CIFs (positions perturbed, partial occupancies kept); disordered
  sites are represented by their majority species with its occupancy and the site's total occupancy as
  node features.
- CGCNN settings (fixed, small, for the time budget; no tuning on the test set): {cfg};
  {res["cgcnn_fit_predict_seconds_mean"]:.0f} s per fit + predict.
- Baselines on the same rows: Magpie features (143) of the reduced composition with the random forest
  and LightGBM settings of `benchmarks/obelix.py`.
- CHGNet rows: pretrained CHGNet 0.3.0 (weights from the `chgnet` wheel, no download) on the same CIFs,
  disordered sites by majority species (sites under half occupied dropped); {res["chgnet_featurize_seconds"]:.0f} s
  for all structures, {res["n_chgnet_errors"]} failed. LightGBM settings as above.
- Seeds 0, 1, 2; mean ± std (ddof = 1) over the seeds. The dummy is deterministic.

## Test MAE, log10(S/cm), rows with CIFs

| model | test MAE (mean ± std, 3 seeds) | uncensored test MAE |
|---|---:|---:|
{rows}

These numbers are on the 67 test rows with CIFs, not comparable one-to-one with `obelix.md` (all 121
test rows).
"""


if __name__ == "__main__":
    raise SystemExit(main())
