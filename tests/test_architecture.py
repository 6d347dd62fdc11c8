"""Data flows one way: a stage never imports a later one; importing voltlab stays light."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "voltlab"
ORDER = ["data", "features", "models", "optimize", "simulate", "studies", "report"]
RANK = {"data": 0, "features": 1, "models": 2, "optimize": 3, "simulate": 3, "studies": 4, "report": 5}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("voltlab."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("voltlab."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("stage", [s for s in ORDER if (SRC / s).is_dir()])
def test_stage_never_imports_a_later_stage(stage):
    offenders = []
    for py in (SRC / stage).rglob("*.py"):
        for target in _imports(py):
            if target in RANK and RANK[target] > RANK[stage]:
                offenders.append(f"{py.relative_to(SRC)} imports voltlab.{target}")
    assert not offenders, offenders


def test_import_voltlab_does_not_load_heavy_libraries():
    code = (
        "import sys, voltlab, voltlab.errors; "
        "heavy = [m for m in ('pandas', 'torch', 'pybamm', 'pymatgen', 'duckdb', 'matplotlib', 'plotly') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_public_all_is_sorted():
    import voltlab.data
    import voltlab.report

    for mod in (voltlab.data, voltlab.report):
        assert list(mod.__all__) == sorted(mod.__all__), mod.__name__
        for name in mod.__all__:
            assert hasattr(mod, name)
