"""The Materials Project REST client, against a local HTTP server that answers as the API does."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voltlab.data.datasets import (
    MaterialsProjectClient,
    fetch_mp_insertion_electrodes,
    fetch_mp_summary,
    load_mp_insertion_electrodes,
)
from voltlab.data.datasets.mp_api import ELECTRODE_FIELDS
from voltlab.errors import DataFormatError, RemoteDataError

KEY = "test-key-0123456789abcdef"


def _doc(i: int, voltage: float, ion: str = "Li") -> dict:
    return {"battery_id": f"mp-{100 + i}_{ion}", "battery_formula": f"{ion}0-1CoO2", "working_ion": ion,
            "formula_charge": "CoO2", "formula_discharge": f"{ion}CoO2", "max_delta_volume": 0.05 * i,
            "average_voltage": voltage, "capacity_grav": 274.0 - i, "capacity_vol": 1380.0, "energy_grav": 1040.0,
            "energy_vol": 5200.0, "fracA_charge": 0.0, "fracA_discharge": 0.25, "stability_charge": 0.01 * i,
            "stability_discharge": 0.0, "num_steps": 1, "max_voltage_step": 0.0}


class _Api:
    """What the fake server answers: ``script[endpoint]`` is a list of (status, headers, body) to
    play before falling back to paging ``docs[endpoint]``; every request is recorded."""

    def __init__(self) -> None:
        self.docs: dict[str, list[dict]] = {}
        self.script: dict[str, list[tuple[int, dict, str]]] = {}
        self.requests: list[dict] = []


@pytest.fixture
def api():
    state = _Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            endpoint = url.path.strip("/").removeprefix("materials/")
            query = dict(urllib.parse.parse_qsl(url.query))
            state.requests.append({"endpoint": endpoint, "query": query, "key": self.headers.get("X-API-KEY")})
            if state.script.get(endpoint):
                status, headers, body = state.script[endpoint].pop(0)
            else:
                docs = state.docs.get(endpoint, [])
                skip, limit = int(query.get("_skip", 0)), int(query.get("_limit", 1000))
                status, headers = 200, {}
                body = json.dumps({"data": docs[skip : skip + limit], "meta": {"total_doc": len(docs)}})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _client(api, **kw):
    sleeps: list[float] = []
    client = MaterialsProjectClient(KEY, base_url=api.url, sleep=sleeps.append, timeout_second=5, **kw)
    return client, sleeps


def test_pages_through_the_electrodes_and_filters_as_the_csv_loader(api):
    api.docs["insertion_electrodes"] = [_doc(i, v) for i, v in enumerate([3.8, 4.1, -0.5, 3.3, 7.2])]
    client, _ = _client(api, page_size=2)
    df = fetch_mp_insertion_electrodes(client=client)
    assert [r["query"]["_skip"] for r in api.requests] == ["0", "2", "4"]
    assert all(r["key"] == KEY for r in api.requests)
    assert set(api.requests[0]["query"]["_fields"].split(",")) == set(ELECTRODE_FIELDS)
    # -0.5 V and 7.2 V are outside the default (0, 6] V, as in load_mp_insertion_electrodes
    assert df["battery_id"].tolist() == ["mp-100_Li", "mp-101_Li", "mp-103_Li"]
    assert df["average_voltage_volt"].tolist() == [3.8, 4.1, 3.3]
    assert df["gravimetric_capacity_mah_per_g"].tolist() == [274.0, 273.0, 271.0]
    assert df["steps"].dtype == np.int64 and df.attrs["n_dropped_voltage"] == 2
    assert df.attrs["source"].startswith(f"Materials Project API ({api.url})")
    fetch_mp_insertion_electrodes("Na", client=client)
    assert api.requests[-1]["query"]["working_ion"] == "Na"


def test_rate_limits_and_server_errors_are_retried_then_reported(api):
    api.docs["insertion_electrodes"] = [_doc(0, 3.9)]
    api.script["insertion_electrodes"] = [(429, {"Retry-After": "0.5"}, "{}"), (503, {}, "busy")]
    client, sleeps = _client(api, retries=3)
    assert len(client.insertion_electrodes()) == 1
    assert sleeps == [0.5, 2.0]  # Retry-After, then exponential back-off (2**1 s)
    api.script["insertion_electrodes"] = [(500, {}, "oops")] * 4
    with pytest.raises(RemoteDataError, match=r"materials/insertion_electrodes/ failed with HTTP 500 .* after 4 attempt"):
        client.insertion_electrodes()


def test_a_refused_or_missing_key_says_how_to_set_it_and_never_prints_it(api, monkeypatch):
    api.script["summary"] = [(401, {}, '{"detail": "invalid key"}')]
    client, _ = _client(api)
    with pytest.raises(RemoteDataError, match=r"refused the API key \(HTTP 401\); check \$MP_API_KEY") as err:
        client.summary(formula="LiFePO4")
    assert KEY not in str(err.value)
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(RemoteDataError, match=r"needs a key: set \$MP_API_KEY"):
        MaterialsProjectClient(base_url=api.url).summary(formula="LiFePO4")
    monkeypatch.setenv("MP_API_KEY", "from-env")
    MaterialsProjectClient(base_url=api.url).summary(formula="LiFePO4")
    assert api.requests[-1]["key"] == "from-env"


def test_answers_that_are_not_the_api_are_errors(api):
    client, _ = _client(api, retries=0)
    api.script["summary"] = [(200, {}, "<html>login</html>")]
    with pytest.raises(RemoteDataError, match=r"not JSON"):
        client.summary(formula="LiFePO4")
    api.script["summary"] = [(200, {}, '{"detail": "moved"}')]
    with pytest.raises(RemoteDataError, match=r"has no 'data' list"):
        client.summary(formula="LiFePO4")
    api.script["insertion_electrodes"] = [(200, {}, json.dumps({"data": [{**_doc(0, 3.0), "average_voltage": "n/a"}]}))]
    with pytest.raises(RemoteDataError, match=r"field 'average_voltage' holds a value that is not a number"):
        client.insertion_electrodes()
    dead = MaterialsProjectClient(KEY, base_url="http://127.0.0.1:9", retries=1, sleep=lambda s: None, timeout_second=2)
    with pytest.raises(RemoteDataError, match=r"cannot reach http://127.0.0.1:9/materials/summary/ .* after 2 attempt"):
        dead.summary(formula="LiFePO4")


def test_summary_queries_and_the_cache_answers_offline(api, tmp_path):
    api.docs["summary"] = [{"material_id": "mp-19017", "formula_pretty": "LiFePO4", "formation_energy_per_atom": -2.5,
                            "energy_above_hull": 0.0, "band_gap": 3.7, "density": 3.5, "volume": 300.0, "nsites": 28}]
    cache = tmp_path / "mp-cache"
    client, _ = _client(api, cache_dir=cache)
    df = fetch_mp_summary(formula=["LiFePO4", "LiCoO2"], client=client)
    assert api.requests[-1]["query"]["formula"] == "LiFePO4,LiCoO2"
    assert df.loc[0, "formation_energy_ev_per_atom"] == -2.5 and df.loc[0, "formula"] == "LiFePO4"
    assert len(list(cache.glob("summary-*.json"))) == 1
    n = len(api.requests)
    offline = MaterialsProjectClient(None, base_url="http://127.0.0.1:9", cache_dir=cache)  # no key, no server
    pd.testing.assert_frame_equal(offline.summary(formula=["LiFePO4", "LiCoO2"]), df)
    assert len(api.requests) == n
    with pytest.raises(DataFormatError, match=r"exactly one of formula=, chemsys= or material_ids="):
        client.summary(formula="LiFePO4", chemsys="Li-Fe-P-O")
    with pytest.raises(DataFormatError, match=r"page_size must be an integer >= 1"):
        MaterialsProjectClient(KEY, page_size=0)


@pytest.mark.shared
def test_the_api_fields_map_onto_the_csv_export_columns(api, shared_data: Path):
    """Serve rows of the real MP export as API documents: the fetch must give back the loader's table."""
    csv = load_mp_insertion_electrodes(shared_data / "materials_project_insertion_electrodes" / "mp_batteries.csv",
                                       voltage_range_volt=None)
    rows = csv[csv["battery_id"].isin(["mp-22526_Li", "mp-19017_Li", "mp-30_Al"])].reset_index(drop=True)
    inverse = {col: api_field for api_field, col in ELECTRODE_FIELDS.items()}
    api.docs["insertion_electrodes"] = [
        {inverse[c]: (int(v) if c == "steps" else v) for c, v in r.items()} for r in rows.to_dict(orient="records")]
    client, _ = _client(api)
    got = fetch_mp_insertion_electrodes(client=client, voltage_range_volt=None)
    pd.testing.assert_frame_equal(got, rows, check_dtype=False)
    licoo2 = got.set_index("battery_id").loc["mp-22526_Li"]
    assert licoo2["average_voltage_volt"] == pytest.approx(3.79, abs=0.01)  # SOURCE.md: 3.79 V, 274 mAh/g
    assert licoo2["gravimetric_capacity_mah_per_g"] == pytest.approx(274, abs=1)
