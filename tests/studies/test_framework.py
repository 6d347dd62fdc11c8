"""The study framework: config loading and validation, registry, provenance, results, reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import MissingFileError, StudyConfigError
from voltlab.studies import (
    Figure,
    Series,
    StudyConfig,
    StudyResult,
    config_to_toml,
    get_study,
    list_studies,
    load_config,
    register_study,
    run_study,
    study_provenance,
)

EXPECTED = {"solid-electrolyte", "lis-host", "fast-charge", "ncm-cobalt", "sodium-transfer", "perovskite",
            "cathode-challenge", "closed-loop"}


@dataclass(frozen=True)
class ToyConfig(StudyConfig):
    n: int = field(default=20, metadata={"help": "points", "unit": "1"})
    scale: float = field(default=1.5, metadata={"help": "noise scale", "unit": "V"})
    method: str = "rf"
    bounds: tuple[float, ...] = (0.0, 1.0)
    flag: bool = False

    def validate(self) -> None:
        if self.n < 2:
            raise StudyConfigError(f"config key 'n' must be >= 2, got {self.n}")


@register_study("toy-test", title="Toy", question="Does the framework work?", config=ToyConfig,
                data="a CSV with a column x")
def _toy(config: ToyConfig, *, data: Path | None, out_dir: Path, progress) -> StudyResult:
    rng = np.random.default_rng(config.seed)
    x = rng.normal(0.0, config.scale, config.n)
    if data is not None:
        x = pd.read_csv(data)["x"].to_numpy()
    progress("toy ran")
    return StudyResult("toy-test", "Toy", "q?", f"mean {x.mean():.3f}", metrics={"mean_volt": float(x.mean())},
                       kpis={"mean": f"{x.mean():.3f} V"}, tables={"values": pd.DataFrame({"x": x})},
                       figures=[Figure("hist", "values", "index", "x (V)", [Series("x", list(range(len(x))), list(x))]),
                                Figure("bars", "bars", "name", "value", [Series("b", ["a", "b"], [1.0, 2.0], mode="bar")]),
                                Figure("cloud", "3-D", "a", "b", [Series("p", [0, 1], [1, 0], z=[0.5, 0.2])],
                                       z_label="c")],
                       notes=["synthetic"], provenance=study_provenance("toy-test", config,
                                                                         {"data": data} if data else None))


def test_every_planned_study_is_registered():
    names = {s.name for s in list_studies()}
    assert names >= EXPECTED, sorted(EXPECTED - names)
    for s in list_studies():
        assert s.question.endswith("?"), s.name
        assert issubclass(s.config_type, StudyConfig)
        s.config_type().validate()  # defaults are valid


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(StudyConfigError, match="known:.*fast-charge"):
        get_study("fast-charrge")


@pytest.mark.parametrize(("suffix", "text"), [
    (".toml", 'n = 30\nscale = 2\nmethod = "gp"\nbounds = [0.5, 2.0]\nflag = true\n'),
    (".yaml", "n: 30\nscale: 2\nmethod: gp\nbounds: [0.5, 2.0]\nflag: true\n"),
    (".json", '{"n": 30, "scale": 2, "method": "gp", "bounds": [0.5, 2.0], "flag": true}'),
])
def test_config_files_in_three_formats_give_the_same_config(tmp_path, suffix, text):
    p = tmp_path / f"c{suffix}"
    p.write_text(text)
    cfg = load_config(ToyConfig, p)
    assert cfg == ToyConfig(n=30, scale=2.0, method="gp", bounds=(0.5, 2.0), flag=True)
    assert isinstance(cfg.scale, float)


def test_config_errors_name_the_file_and_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("n = 30\nscael = 2\n")
    with pytest.raises(StudyConfigError, match=r"bad.toml: unknown config key\(s\) \['scael'\]; accepted: .*'scale'"):
        load_config(ToyConfig, p)
    p.write_text('n = "thirty"\n')
    with pytest.raises(StudyConfigError, match="bad.toml: config key 'n': expected int"):
        load_config(ToyConfig, p)
    p.write_text("n = 1\n")
    with pytest.raises(StudyConfigError, match="bad.toml: config key 'n' must be >= 2"):
        load_config(ToyConfig, p)
    p.write_text("n = [1\n")
    with pytest.raises(StudyConfigError, match="bad.toml: cannot parse"):
        load_config(ToyConfig, p)
    with pytest.raises(StudyConfigError, match="config key 'flag': expected bool"):
        load_config(ToyConfig, {"flag": "yes"})
    with pytest.raises(StudyConfigError, match="config key 'scale': .* finite"):
        load_config(ToyConfig, {"scale": float("nan")})
    (tmp_path / "c.ini").write_text("n=1")
    with pytest.raises(StudyConfigError, match="unknown config file type"):
        load_config(ToyConfig, tmp_path / "c.ini")
    with pytest.raises(MissingFileError):
        load_config(ToyConfig, tmp_path / "absent.toml")


def test_study_table_and_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[study]\nname = "toy-test"\nn = 12\n')
    cfg = load_config(ToyConfig, p, seed=4, n=None)
    assert cfg.n == 12 and cfg.seed == 4


def test_default_config_round_trips_through_toml(tmp_path):
    for s in list_studies():
        text = config_to_toml(s.config_type(), study=s.name)
        p = tmp_path / f"{s.name}.toml"
        p.write_text(text)
        assert load_config(s.config_type, p) == s.config_type(), s.name


def test_run_study_writes_results_and_reruns_identically(tmp_path):
    a = run_study("toy-test", tmp_path / "a", config={"n": 50}, seed=3)
    b = run_study("toy-test", tmp_path / "b", config={"n": 50}, seed=3)
    c = run_study("toy-test", tmp_path / "c", config={"n": 50}, seed=4)
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert saved["metrics"]["mean_volt"] == pytest.approx(a.metrics["mean_volt"])
    assert saved["provenance"]["seed"] == 3
    assert json.loads(saved["provenance"]["config"])["n"] == 50
    assert "version numpy" in saved["provenance"]
    assert len(saved["tables"]["values"]) == 50


def test_provenance_hashes_the_input_data(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("x\n1\n2\n4\n")
    r = run_study("toy-test", tmp_path / "o", data=data)
    import hashlib

    assert hashlib.sha256(data.read_bytes()).hexdigest() in r.provenance["input data"]
    assert r.metrics["mean_volt"] == pytest.approx(7 / 3)
    with pytest.raises(MissingFileError, match="a CSV with a column x"):
        run_study("toy-test", tmp_path / "o", data=tmp_path / "none.csv")
    with pytest.raises(StudyConfigError, match="takes no --data"):
        run_study("fast-charge", tmp_path / "o", data=data)


def test_report_html_png_pdf(tmp_path):
    from voltlab.report.study import write_study_report

    r = run_study("toy-test", tmp_path, config={"n": 10})
    html = write_study_report(r, tmp_path).read_text()
    for text in ("Question and answer", "Headline numbers", "Provenance", "Caveats", "synthetic", "plotly"):
        assert text in html
    assert html.count("js-plotly-plot") >= 3
    for key in ("hist", "bars", "cloud"):
        png = (tmp_path / "figures" / f"{key}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 1 + 3 + 1  # title, figures, table


def test_figure_rejects_mismatched_series():
    with pytest.raises(ValueError, match="lengths differ"):
        Figure("k", "t", "x", "y", [Series("s", [1, 2], [1.0])])


def test_cli_study_list_config_and_errors(tmp_path, capsys):
    from voltlab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["study", "list"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "cathode-challenge" in out and "solid-electrolyte" in out
    with pytest.raises(SystemExit) as exc:
        main(["study", "config", "fast-charge"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "budget = " in text and "[°C]" in text
    cfg = tmp_path / "fc.toml"
    cfg.write_text("budgte = 3\n")
    with pytest.raises(SystemExit) as exc:
        main(["study", "run", "fast-charge", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "fc.toml" in err and "budgte" in err


def test_cli_runs_a_study_into_a_report(tmp_path, capsys):
    from voltlab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["study", "run", "toy-test", "--out", str(tmp_path), "--seed", "2", "--no-pdf"])
    assert exc.value.code == 0
    assert (tmp_path / "report.html").is_file() and (tmp_path / "results.json").is_file()
    assert not (tmp_path / "report.pdf").exists()
    assert "answer:" in capsys.readouterr().out
