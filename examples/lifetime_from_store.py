"""Early cycle-life prediction on a store, end to end, offline (about 30 s on 2 cores).

A fleet of synthetic cells (``voltlab.models.synthetic_cycling_fleet``: raw cycling data
whose early discharge curves foretell life, as in Severson et al. 2019) goes into a
store; a model trained on 75 % of the cells (split by cell, seed 0) predicts the life
of the others from their first 100 cycles, with 90 % intervals, and writes a report.

Run: ``.venv/bin/python examples/lifetime_from_store.py [OUT_DIR]``. The same steps on
the command line: ``voltlab lifetime train|evaluate|predict`` (see docs/lifetime.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from voltlab.data.splits import split_by_cell
from voltlab.data.store import Store
from voltlab.models.early_life import EarlyLifeConfig, EarlyLifePredictor, early_life_table
from voltlab.models.synthetic import synthetic_cycling_fleet
from voltlab.report.lifetime import write_lifetime_report


def main(out: Path) -> None:
    store = Store(out / "store")
    if len(store) == 0:
        cells, _ = synthetic_cycling_fleet(24, seed=0)
        for cell in cells:
            store.add(cell)
    config = EarlyLifeConfig(window_cycles=100, feature_set="discharge", method="elastic_net", random_state=0)
    table = early_life_table(store, config)
    split = split_by_cell(list(table.known), test_fraction=0.25, seed=0)
    model = EarlyLifePredictor(config).fit_table(table, split.train, split.test)
    metrics = model.evaluate_table(table)
    print(f"{int(metrics['n_cells'])} held-out cells: RMSE {metrics['rmse_cycles']:.0f} cycles, "
          f"MAPE {metrics['mape_percent']:.1f} %, 90 % interval coverage {metrics['interval_coverage']:.2f}")
    model.save(out / "life.json")
    pred = model.predict_table(table).loc[split.test]
    report = write_lifetime_report(
        out / "lifetime-report.html", model, pred,
        summaries={c: store.summary(c) for c in pred.index},
        references_ah={c: float(table.cells.loc[c, "reference_capacity_ah"]) for c in pred.index},
        metrics=metrics,
    )
    print(f"report: {report}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("lifetime-example"))
