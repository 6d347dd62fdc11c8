"""The Dask backend of voltlab.parallel on a real cluster: a `dask scheduler` and two `dask worker`
processes on 127.0.0.1 (started here as subprocesses). Every distributed path runs on it and is
compared with the local run: parallel_map, store ingest, composition featurisation, PyBaMM sweeps
and campaign batches; a second cluster has a worker SIGKILLed mid-sweep; plus a LocalCluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
from voltlab.errors import VoltlabError  # noqa: E402
from voltlab.parallel import DASK_BATCH_CONFIG, SCHEDULER_ENV, parallel_map, resolve_scheduler  # noqa: E402

DASK = str(Path(sys.executable).with_name("dask"))
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _workers_import_this_module(monkeypatch):
    """Workers unpickle the task functions by reference (module ``tests.test_parallel_dask``): as on a
    real cluster, they need the same code on their path."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def _square(x: int) -> int:
    return x * x


def _inverse(x: int) -> float:
    return 1 / x


def _slow_square(x: int) -> tuple[int, int]:
    time.sleep(0.4)
    return x * x, os.getpid()


def _wait_for(path: Path, what: str, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def _dask_cluster(root: Path):
    """A `dask scheduler` + 2 single-threaded `dask worker` processes on 127.0.0.1 (no nanny: a SIGKILL
    really kills the worker)."""
    sched_file = root / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop(SCHEDULER_ENV, None)
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(sched_file, "dask scheduler")
        time.sleep(0.3)
        address = json.loads(sched_file.read_text())["address"]
        workers = []
        for k in range(2):
            workers.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{k}",
                 "--local-directory", str(root / f"w{k}")], env=env, cwd=root,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs += workers
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
            pids = {names[addr]: pid for addr, pid in client.run(os.getpid).items()}
        yield {"address": address, "workers": workers, "pids": pids, "worker_addresses": sorted(names)}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The shared 2-worker cluster of this module (no test kills its workers)."""
    with _dask_cluster(tmp_path_factory.mktemp("dask")) as c:
        yield c


@pytest.fixture
def doomed_cluster(tmp_path):
    """A 2-worker cluster of its own, for the test that kills a worker."""
    with _dask_cluster(tmp_path) as c:
        yield c


def test_resolve_scheduler(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert resolve_scheduler() is None
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.1.2.3:8786")
    assert resolve_scheduler() == "tcp://10.1.2.3:8786"
    assert resolve_scheduler("tcp://127.0.0.1:1") == "tcp://127.0.0.1:1"  # the argument wins
    with pytest.raises(VoltlabError, match="must be a Dask scheduler address like 'tcp://host:8786'"):
        resolve_scheduler("localhost:8786")
    with pytest.raises(VoltlabError, match="unknown Dask protocol 'http'"):
        resolve_scheduler("http://host:8786")


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(VoltlabError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        list(parallel_map(_square, [1, 2], scheduler="tcp://127.0.0.1:9"))


def test_cluster_results_equal_the_local_run(cluster):
    items = list(range(-5, 12))
    local = {i: r for i, r, _ in parallel_map(_square, items, backend="serial")}
    remote = {}
    for item, res, err in parallel_map(_square, items, scheduler=cluster["address"]):
        assert err is None and item not in remote
        remote[item] = res
    assert remote == local


@pytest.mark.parametrize("direct", ["1", "0"])
def test_results_equal_fetched_from_the_workers_or_through_the_scheduler(cluster, monkeypatch, direct):
    """The cluster's workers are on 127.0.0.1, so results come from them directly unless told
    otherwise; either way every item's result is the local one, once."""
    from voltlab.parallel import direct_to_workers

    monkeypatch.delenv("VOLTLAB_DIRECT_TO_WORKERS", raising=False)
    assert direct_to_workers(cluster["worker_addresses"])
    monkeypatch.setenv("VOLTLAB_DIRECT_TO_WORKERS", direct)
    items = list(range(40))
    got = [(i, r) for i, r, err in parallel_map(_square, items, scheduler=cluster["address"], chunksize=3)]
    assert sorted(got) == [(i, i * i) for i in items]


def _fails_first_time(path: str) -> str:
    """Raises on its first call for ``path`` (a marker file records the call), succeeds on the second."""
    marker = Path(path)
    if not marker.exists():
        marker.write_text("called")
        raise RuntimeError(f"first call for {marker.name}")
    return marker.name


def test_chunked_tasks_retry_and_report_each_item(cluster, tmp_path):
    """Chunks of 2 on the cluster: a flaky item succeeds on its retry, a failing one reports only itself."""
    flaky = [str(tmp_path / f"m{k}") for k in range(5)]
    ok = {i: (r, e) for i, r, e in parallel_map(_fails_first_time, flaky, scheduler=cluster["address"], chunksize=2)}
    assert {i: r for i, (r, _) in ok.items()} == {p: Path(p).name for p in flaky}
    out = {i: (r, e) for i, r, e in parallel_map(_inverse, [1, 0, 4, 5, 0], scheduler=cluster["address"],
                                                 chunksize=2, retries=0)}
    assert out[4] == (0.25, None) and out[5] == (0.2, None) and out[1] == (1.0, None)
    assert isinstance(out[0][1], ZeroDivisionError)


def test_errors_come_back_per_item(cluster, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, cluster["address"])  # the environment alone moves work to the cluster
    out = {i: (r, e) for i, r, e in parallel_map(_inverse, [1, 0, 4], retries=0)}
    assert out[1][0] == 1.0 and out[4][0] == 0.25
    assert out[0][0] is None and isinstance(out[0][1], ZeroDivisionError)


@pytest.mark.parametrize("chunksize", [1, 3, None])
def test_every_task_once_when_a_worker_is_killed_mid_sweep(doomed_cluster, chunksize):
    """SIGKILL one of the two workers after the first results: every item still comes back exactly once
    (one item per task, chunks of 3 items, whose lost chunk is re-run whole on the other worker, and
    tasks sized by the planner)."""
    items = list(range(24))
    seen: dict[int, int] = {}
    pids = set()
    killed = False
    cluster = doomed_cluster
    victim = cluster["workers"][0]
    for item, res, err in parallel_map(_slow_square, items, scheduler=cluster["address"], chunksize=chunksize):
        assert err is None, err
        assert item not in seen
        seen[item], pid = res
        pids.add(pid)
        if not killed and len(seen) >= 3:
            os.kill(cluster["pids"]["w0"], signal.SIGKILL)
            killed = True
    assert killed and victim.wait(timeout=10) == -signal.SIGKILL
    assert seen == {i: i * i for i in items}
    assert cluster["pids"]["w1"] in pids


def _square_and_heap_use(x: int) -> tuple[int, str | None, int | None]:
    """x squared, the worker's MALLOC_TRIM_THRESHOLD_, and whether a 1 MiB array is its own mmap (None
    off glibc)."""
    import platform

    import dask
    from tests._heap_probe import mmapped_while_alive

    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    settings = tuple(dask.config.get(k) for k in DASK_BATCH_CONFIG)
    return x * x, trim, mmapped_while_alive() if platform.libc_ver()[0] == "glibc" else None, settings


def test_local_cluster_backend():
    """A LocalCluster (with nannies, which set MALLOC_TRIM_THRESHOLD_=65536 on their workers): the
    results, numpy temporaries served from the heap there all the same (voltlab._malloc), and the
    workers started with voltlab's batch settings (no 10-ms profiler, 1-s event-loop checks)."""
    out = sorted(r for _, r, _ in parallel_map(_square_and_heap_use, [1, 2, 3, 4], backend="dask", workers=2))
    assert [r[0] for r in out] == [1, 4, 9, 16]
    assert {r[1] for r in out} == {"65536"}
    assert {r[3] for r in out} == {tuple(DASK_BATCH_CONFIG.values())} == {("1s", "5s", False)}
    if out[0][2] is not None:
        assert [r[2] for r in out] == [0, 0, 0, 0]


def test_store_ingest_parses_on_the_workers(cluster, tmp_path, tiny_cycles):
    """Ingest parsed on the 2-worker cluster gives the same store as a local ingest; re-ingest adds nothing."""
    from voltlab.data import CellMetadata, CyclingData, Store
    from voltlab.data.readers.bdf import write_bdf
    from voltlab.data.validation import finalize_timeseries

    raw = tmp_path / "raw"
    raw.mkdir()
    paths = []
    for k in range(3):
        df = tiny_cycles.copy()
        df["current_ampere"] *= 1 + 0.1 * k
        df["charging_capacity_ah"] *= 1 + 0.1 * k
        df["discharging_capacity_ah"] *= 1 + 0.1 * k
        p = raw / f"cell{k}.csv"
        write_bdf(CyclingData(finalize_timeseries(df), CellMetadata(f"cell{k}")), p)
        paths.append(p)
    local = Store(tmp_path / "local")
    assert local.ingest(paths).ok
    remote = Store(tmp_path / "remote")
    report = remote.ingest(paths, scheduler=cluster["address"])
    assert report.ok and sorted(report.added) == ["cell0", "cell1", "cell2"]
    again = remote.ingest(paths, scheduler=cluster["address"], on_duplicate="skip")
    assert not again.added and len(again.skipped) == 3
    assert remote.cell_ids() == local.cell_ids()
    for c in local.cell_ids():
        pd_local, pd_remote = local.summary(c), remote.summary(c)
        assert pd_remote.equals(pd_local)


def _built_simulators() -> int:
    from voltlab.simulate.batch import _WORKER_SIMULATORS

    return len(_WORKER_SIMULATORS)


def test_simulation_sweep_on_the_cluster(cluster):
    """A PyBaMM sweep on the 2-worker cluster equals the serial sweep; each worker builds the model once."""
    pytest.importorskip("pybamm")
    import numpy as np

    from voltlab.simulate import Simulator, sweep

    dn = "Negative particle diffusivity [m2.s-1]"
    sim = Simulator("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0, inputs=[dn],
                    period_second=60.0)
    points = [{dn: d} for d in (3.3e-14, 5e-15, 1e-13, 1e-14, 2e-14, 7e-15)]
    serial = sweep(sim, points, backend="serial")
    remote = sweep(sim, points, scheduler=cluster["address"])
    assert [r.inputs[dn] for r in remote] == [p[dn] for p in points]
    for s, r in zip(serial, remote, strict=True):
        np.testing.assert_allclose(r.timeseries.to_numpy(dtype=float), s.timeseries.to_numpy(dtype=float),
                                   rtol=1e-9, atol=1e-12)
    with distributed.Client(cluster["address"], timeout="20s") as client:
        built = client.run(_built_simulators)
    assert set(built.values()) <= {0, 1} and sum(built.values()) >= 1  # one build per worker that got work


def _paraboloid(p: dict) -> dict:
    return {"y": (p["x"] - 0.25) ** 2}


def test_campaign_batches_evaluated_on_the_cluster(cluster, tmp_path):
    from voltlab.optimize import Campaign, Objective, Real, SearchSpace
    from voltlab.optimize.batch import evaluate_batches

    c = Campaign.create(tmp_path / "c.sqlite", SearchSpace([Real("x", 0.0, 1.0)]), [Objective("y", "minimize")],
                        seed=1, n_init=8)
    told = evaluate_batches(c, _paraboloid, n_batches=2, batch_size=4, scheduler=cluster["address"])
    assert sorted(s.id for s in told) == list(range(8))
    assert all(s.values["y"] == pytest.approx((s.point["x"] - 0.25) ** 2) for s in told)
    counts = c.counts()
    assert (counts["pending"], counts["complete"], counts["failed"]) == (0, 8, 0)


def test_featurisation_on_the_cluster(cluster):
    from voltlab.features import MagpieFeaturizer
    from voltlab.features.distributed import featurize_partitions

    formulas = [f"Li{1 + k % 5}Mn{1 + k % 4}O{2 + k % 6}" for k in range(400)] + ["LiFePO4", "Na3V2(PO4)3"]
    local = MagpieFeaturizer().featurize_many(formulas)
    remote = featurize_partitions(MagpieFeaturizer(), formulas, partition_size=50, scheduler=cluster["address"])
    import pandas as pd

    pd.testing.assert_frame_equal(remote, local)


def test_featurisation_to_parquet_on_the_cluster(cluster, tmp_path):
    """Each worker writes its own parts; the dataset equals the local features, row for row."""
    import pandas as pd

    from voltlab.features import MagpieFeaturizer
    from voltlab.features.distributed import featurize_to_parquet

    formulas = [f"Na{1 + k % 3}Fe{1 + k % 2}P{1 + k % 2}O{4 + k % 4}" for k in range(300)] + ["Xx2O", "LiCoO2"]
    local = MagpieFeaturizer().featurize_many(formulas, ignore_errors=True)
    out = featurize_to_parquet(MagpieFeaturizer(), formulas, tmp_path / "feats", partition_size=40,
                               scheduler=cluster["address"], ignore_errors=True)
    assert out.parts == 8 and list(out.errors) == [300]
    table = out.read()
    assert table["formula"].tolist() == formulas
    pd.testing.assert_frame_equal(table.drop(columns="formula"), local)


def test_structure_featurisation_from_cif_text_on_the_cluster(cluster):
    """CIF texts go to the workers, which parse and featurise them; equal to the local features."""
    pytest.importorskip("pymatgen")
    import pandas as pd
    from pymatgen.core import Lattice, Structure

    from voltlab.features import StructureFeaturizer
    from voltlab.features.distributed import featurize_partitions

    cifs = []
    for k, a in enumerate((4.0, 4.1, 4.2, 4.35, 4.5, 4.6)):
        anion = "F" if k % 2 else "Cl"
        s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a + (0.6 if anion == "Cl" else 0.0)), ["Li", anion],
                                      [[0, 0, 0], [0.5, 0.5, 0.5]])
        cifs.append(s.to(fmt="cif"))
    cifs.append("data_bad\n_cell_length_a 4\n_cell_length_b oops\n")
    local = StructureFeaturizer().featurize_many(cifs, ignore_errors=True)
    remote = featurize_partitions(StructureFeaturizer(), cifs, partition_size=2, scheduler=cluster["address"],
                                  ignore_errors=True)
    pd.testing.assert_frame_equal(remote, local)
    assert list(remote.attrs["errors"]) == [6] and remote["li_anion_min_distance_angstrom"].iloc[:6].notna().all()
