"""``voltlab lifetime train|predict|evaluate`` on a store of synthetic cells with a known life."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from voltlab.cli import main
from voltlab.data.store import Store
from voltlab.models.synthetic import synthetic_cycling_fleet


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("lt") / "lab"
    store = Store(root)
    cells, _ = synthetic_cycling_fleet(16, seed=5, window_cycles=30, life_range_cycles=(150, 400),
                                       points_per_discharge=40)
    for c in cells:
        store.add(c)
    return root


@pytest.mark.parametrize("cmd", ["train", "predict", "evaluate"])
def test_lifetime_help(cmd, capsys):
    code, out, _ = run(["lifetime", cmd, "--help"], capsys)
    assert code == 0 and f"voltlab lifetime {cmd}" in out


def test_train_evaluate_predict(store_path, tmp_path, capsys):
    model = tmp_path / "m.json"
    code, out, err = run(["lifetime", "train", "--store", str(store_path), "--out", str(model), "--window", "30",
                          "--features", "variance", "--method", "linear", "--test-fraction", "0.25",
                          "--report", str(tmp_path / "train.html")], capsys)
    assert code == 0, err
    assert "trained linear on 12 cells (4 held out, 0 censored, 0 skipped)" in " ".join(out.split())
    html = (tmp_path / "train.html").read_text()
    assert "Model card" in html and "Trajectories" in html and "plotly" in html.lower()

    code, out, err = run(["lifetime", "evaluate", "--store", str(store_path), "--model", str(model),
                          "--report", str(tmp_path / "eval.html")], capsys)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "4 held-out cells: RMSE" in flat
    rmse = float(flat.split("RMSE ")[1].split(" cycles")[0])
    assert rmse < 40  # lives 150-400 cycles; a constant predictor is off by ~80
    assert "Predicted vs observed life" in (tmp_path / "eval.html").read_text()

    csv = tmp_path / "pred.csv"
    code, out, err = run(["lifetime", "predict", "--store", str(store_path), "--model", str(model),
                          "fleet000", "fleet003", "--out", str(csv)], capsys)
    assert code == 0, err
    pred = pd.read_csv(csv)
    assert pred["cell_id"].tolist() == ["fleet000", "fleet003"]
    assert {"predicted_life_cycles", "lower_cycles", "upper_cycles", "predicted_rul_cycles"} <= set(pred.columns)
    assert (pred["lower_cycles"] < pred["upper_cycles"]).all()


def test_missing_model_is_one_line_error(store_path, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "voltlab.cli", "lifetime", "predict", "--store", str(store_path), "--model",
         str(tmp_path / "none.json")], capture_output=True, text=True, check=False,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "no such model file" in lines[0]
