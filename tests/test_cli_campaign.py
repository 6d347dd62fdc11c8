"""``voltlab campaign ...`` driven through typer's CliRunner on a tiny random-surrogate campaign."""

import json

import pytest
import typer
from typer.testing import CliRunner

from voltlab.commands.campaign import campaign_app
from voltlab.errors import OptimizationError
from voltlab.optimize import Campaign

CONFIG = """
seed = 3
n_init = 3
surrogate = "random"
outcome_constraints = ["stability >= 0.5"]

[[parameters]]
type = "real"
name = "Ni"
low = 0.5
high = 0.9

[[parameters]]
type = "real"
name = "Co"
low = 0.05
high = 0.3

[[parameters]]
type = "real"
name = "Mn"
low = 0.05
high = 0.3

[[parameters]]
type = "categorical"
name = "gas"
choices = ["O2", "air"]

[[simplexes]]
names = ["Ni", "Co", "Mn"]
total = 1.0

[[objectives]]
name = "capacity_mAh_g"
direction = "maximize"
"""


@pytest.fixture
def app():
    root = typer.Typer()
    root.add_typer(campaign_app, name="campaign")
    return root


def test_new_ask_tell_status_plot_export(tmp_path, app):
    runner = CliRunner()
    cfg = tmp_path / "nmc.toml"
    cfg.write_text(CONFIG)
    camp = tmp_path / "nmc.campaign"
    r = runner.invoke(app, ["campaign", "new", str(camp), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "objectives capacity_mAh_g (maximize)" in r.output and "n_init 3" in r.output

    r = runner.invoke(app, ["campaign", "ask", str(camp), "-n", "3", "--json"])
    assert r.exit_code == 0, r.output
    batch = [json.loads(line) for line in r.output.splitlines()]
    assert [b["id"] for b in batch] == [0, 1, 2]
    for b in batch:
        assert abs(b["point"]["Ni"] + b["point"]["Co"] + b["point"]["Mn"] - 1.0) <= 1e-9

    for b, (cap, stab) in zip(batch[:2], [(180.0, 0.7), (195.0, 0.3)], strict=True):
        r = runner.invoke(app, ["campaign", "tell", str(camp), str(b["id"]), "--value", f"capacity_mAh_g={cap}",
                                "-v", f"stability={stab}"])
        assert r.exit_code == 0, r.output
        assert f"suggestion {b['id']}: complete" in r.output
    r = runner.invoke(app, ["campaign", "tell", str(camp), "2", "--failed", "--reason", "furnace trip"])
    assert r.exit_code == 0 and "suggestion 2: failed" in r.output

    r = runner.invoke(app, ["campaign", "status", str(camp)])
    assert r.exit_code == 0, r.output
    assert "3 suggestions: 2 complete, 1 failed, 0 pending" in r.output
    # 195 mAh/g is infeasible (stability 0.3 < 0.5): the best feasible is suggestion 0 at 180.
    table = r.output.split("best feasible", 1)[1] if "best feasible" in r.output else ""
    assert table and "180" in table and "195" not in table  # the table only: tmp paths can hold "195"

    png, html = tmp_path / "conv.png", tmp_path / "conv.html"
    assert runner.invoke(app, ["campaign", "plot", str(camp), "--out", str(png)]).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert runner.invoke(app, ["campaign", "plot", str(camp), "-o", str(html)]).exit_code == 0
    assert "plotly" in html.read_text()[:20000].lower()
    # the GP's view: slices through the best point and the probability that stability >= 0.5
    for kind, extra in (("slices", ["--outcome", "stability"]), ("feasibility", ["--x", "Ni", "--y", "Co"])):
        p = tmp_path / f"{kind}.png"
        r = runner.invoke(app, ["campaign", "plot", str(camp), "--kind", kind, "-o", str(p), *extra])
        assert r.exit_code == 0, r.output
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = runner.invoke(app, ["campaign", "plot", str(camp), "--kind", "feasibility", "-o", str(png)])
    assert isinstance(r.exception, OptimizationError) and "--x and --y" in str(r.exception)

    out = tmp_path / "nmc.json"
    assert runner.invoke(app, ["campaign", "export", str(camp), str(out)]).exit_code == 0
    data = json.loads(out.read_text())
    assert [s["status"] for s in data["suggestions"]] == ["complete", "complete", "failed"]
    assert data["suggestions"][2]["reason"] == "furnace trip"
    assert Campaign.open(camp).counts()["total"] == 3


def test_cli_errors_are_voltlab_errors(tmp_path, app):
    runner = CliRunner()
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    camp = tmp_path / "c.campaign"
    runner.invoke(app, ["campaign", "new", str(camp), "-c", str(cfg)])
    r = runner.invoke(app, ["campaign", "tell", str(camp), "0", "--value", "capacity"])
    assert isinstance(r.exception, OptimizationError)
    assert "--value must look like name=number" in str(r.exception)
    r = runner.invoke(app, ["campaign", "plot", str(camp), "--kind", "pareto", "-o", str(tmp_path / "p.png")])
    assert isinstance(r.exception, OptimizationError) and "needs two objectives" in str(r.exception)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[parameters]]\ntype = 'real'\nname = 'x'\nlow = 1\nhigh = 0\n[[objectives]]\nname = 'y'\n")
    r = runner.invoke(app, ["campaign", "new", str(tmp_path / "b.campaign"), "-c", str(bad)])
    assert isinstance(r.exception, OptimizationError) and "low=1 must be below high=0" in str(r.exception)


def test_plot_pareto_with_three_objectives_writes_a_3d_figure(tmp_path, app):
    from voltlab.optimize import Objective, Real, SearchSpace

    path = tmp_path / "three.campaign"
    camp = Campaign.create(path, SearchSpace([Real("x", 0.0, 1.0)]),
                           [Objective("a"), Objective("b", "minimize"), Objective("c", "minimize")],
                           surrogate="random", seed=0)
    for s in camp.ask(5):
        x = s.point["x"]
        camp.tell(s.id, {"a": x, "b": x**2, "c": (1 - x) ** 2})
    camp.close()
    runner = CliRunner()
    html = tmp_path / "front.html"
    r = runner.invoke(app, ["campaign", "plot", str(path), "--kind", "pareto", "-o", str(html)])
    assert r.exit_code == 0, r.output
    assert '"zaxis":{"title":{"text":"c (minimize)"' in html.read_text()  # the figure's own layout, 3-D
    r = runner.invoke(app, ["campaign", "plot", str(path), "--kind", "pareto", "--objectives", "a,c",
                            "-o", str(tmp_path / "ac.html")])
    two = (tmp_path / "ac.html").read_text()
    assert r.exit_code == 0 and '"zaxis":{"title"' not in two and '"yaxis":{"title":{"text":"c (minimize)"' in two
    r = runner.invoke(app, ["campaign", "plot", str(path), "--kind", "pareto", "--objectives", "a,z",
                            "-o", str(tmp_path / "az.html")])
    assert isinstance(r.exception, OptimizationError) and "2 or 3 different objectives" in str(r.exception)


def test_relate_adds_a_related_campaign_or_table(tmp_path, app):
    from voltlab.optimize import Objective, Real, SearchSpace

    space = SearchSpace([Real("x", 0.0, 1.0)])
    src = Campaign.create(tmp_path / "li.campaign", space, [Objective("y")], surrogate="random", seed=1)
    for s in src.ask(6):
        src.tell(s.id, {"y": s.point["x"] ** 2})
    src.close()
    Campaign.create(tmp_path / "na.campaign", space, [Objective("y")]).close()
    (tmp_path / "lit.csv").write_text("x,y\n0.1,0.01\n0.5,0.25\n2.0,4.0\n")
    runner = CliRunner()
    r = runner.invoke(app, ["campaign", "relate", str(tmp_path / "na.campaign"), str(tmp_path / "li.campaign")])
    assert r.exit_code == 0 and "added 6 observations of related task 'li'" in r.output
    r = runner.invoke(app, ["campaign", "relate", str(tmp_path / "na.campaign"), str(tmp_path / "lit.csv")])
    assert isinstance(r.exception, OptimizationError) and "related observation 2 of table" in str(r.exception)
    r = runner.invoke(app, ["campaign", "relate", str(tmp_path / "na.campaign"), str(tmp_path / "lit.csv"),
                            "--skip-outside"])
    assert r.exit_code == 0 and "added 2 observations of related task 'lit'" in r.output
    r = runner.invoke(app, ["campaign", "status", str(tmp_path / "na.campaign")])
    assert "related task 'li': 6 observations" in r.output and "related task 'lit': 2 observations" in r.output
