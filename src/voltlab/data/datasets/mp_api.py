"""The Materials Project REST API: insertion electrodes and material summaries, when an API key is set.

Plain HTTPS with the standard library (``mp-api`` is not a dependency: its pins do not resolve
with this stack). Requests go to ``{base_url}/materials/<endpoint>/`` with the key in the
``X-API-KEY`` header, ``_fields`` to choose the fields and ``_skip``/``_limit`` to page;
each answer is ``{"data": [...], "meta": {"total_doc": N}}``. Rate limits (HTTP 429) and
server errors (5xx) are retried with exponential back-off (``Retry-After`` honoured);
401/403 say to set ``MP_API_KEY``. Nothing is fetched at import, and nothing unless called.

``cache_dir`` keeps each query's documents as JSON (atomic write, keyed by endpoint and
query) and reuses them: a study run once online reruns offline, with the same numbers.

Examples
--------
>>> import os
>>> from voltlab.data.datasets import fetch_mp_insertion_electrodes
>>> if os.environ.get("MP_API_KEY"):  # doctest: +SKIP
...     df = fetch_mp_insertion_electrodes("Na", cache_dir="mp-cache")
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voltlab._files import atomic_write_text
from voltlab.data.datasets.materials import (
    MP_ELECTRODE_FIELDS,
    MP_ELECTRODE_TEXT_FIELDS,
    finish_mp_electrodes,
)
from voltlab.errors import DataFormatError, RemoteDataError

__all__ = ["MP_API_KEY_ENV", "MP_API_URL", "MaterialsProjectClient", "fetch_mp_insertion_electrodes",
           "fetch_mp_summary"]

MP_API_URL = "https://api.materialsproject.org"
MP_API_KEY_ENV = "MP_API_KEY"

ELECTRODE_FIELDS = {api: col for _, api, col in MP_ELECTRODE_FIELDS}  # API field -> voltlab column
ELECTRODE_TEXT = tuple(api for _, api, _ in MP_ELECTRODE_FIELDS[:MP_ELECTRODE_TEXT_FIELDS])

SUMMARY_FIELDS = {
    "material_id": "material_id",
    "formula_pretty": "formula",
    "formation_energy_per_atom": "formation_energy_ev_per_atom",
    "energy_above_hull": "energy_above_hull_ev_per_atom",
    "band_gap": "band_gap_ev",
    "density": "density_g_per_cm3",
    "volume": "volume_angstrom3",
    "nsites": "nsites",
}
SUMMARY_TEXT = ("material_id", "formula_pretty")


class MaterialsProjectClient:
    """Paged, retried GETs against the Materials Project API.

    Parameters
    ----------
    api_key
        The key (https://next-gen.materialsproject.org/api, free with an account); default
        ``$MP_API_KEY``.
    base_url
        The API root (default the public one; tests point it at a local server).
    timeout_second
        Per request, s.
    retries
        Extra attempts after a 429 or 5xx answer or a dropped connection.
    page_size
        Documents per request (``_limit``).
    cache_dir
        Folder for cached query results (see the module docstring); ``None``: no cache.
    sleep
        Waits between retries (injectable for tests).

    Raises
    ------
    RemoteDataError
        No key given and ``$MP_API_KEY`` unset (only when no cache answers the query).
    """

    def __init__(self, api_key: str | None = None, *, base_url: str = MP_API_URL, timeout_second: float = 60.0,
                 retries: int = 3, page_size: int = 1000, cache_dir: str | os.PathLike[str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise DataFormatError(f"retries must be an integer >= 0, got {retries!r}", value=retries)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise DataFormatError(f"page_size must be an integer >= 1, got {page_size!r}", value=page_size)
        if not timeout_second > 0:
            raise DataFormatError(f"timeout_second must be > 0, got {timeout_second!r}", value=timeout_second)
        self._key = api_key if api_key is not None else os.environ.get(MP_API_KEY_ENV)
        self.base_url = base_url.rstrip("/")
        self.timeout_second = float(timeout_second)
        self.retries = retries
        self.page_size = page_size
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._sleep = sleep

    def _cache_file(self, endpoint: str, params: Mapping[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps({"endpoint": endpoint, "params": dict(sorted(params.items()))}, sort_keys=True)
        return self.cache_dir / f"{endpoint.replace('/', '_')}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"

    def get(self, endpoint: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every document of ``materials/<endpoint>/`` matching ``params`` (all pages).

        Raises
        ------
        RemoteDataError
            No API key, a refused key (401/403), a failure after the retries, or an answer
            that is not the API's JSON.
        """
        cache = self._cache_file(endpoint, params)
        if cache is not None and cache.is_file():
            try:
                docs = json.loads(cache.read_text(encoding="utf-8"))["data"]
                if isinstance(docs, list):
                    return docs
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged cache file is refetched
        if not self._key:
            raise RemoteDataError(f"the Materials Project API needs a key: set ${MP_API_KEY_ENV} (free at "
                                  "https://next-gen.materialsproject.org/api) or pass api_key=")
        docs: list[dict[str, Any]] = []
        skip = 0
        while True:
            body = self._request(endpoint, {**params, "_skip": skip, "_limit": self.page_size})
            page = body.get("data")
            if not isinstance(page, list):
                raise RemoteDataError(f"the answer from materials/{endpoint} has no 'data' list; is {self.base_url} "
                                      "the Materials Project API?")
            docs.extend(d for d in page if isinstance(d, dict))
            total = (body.get("meta") or {}).get("total_doc")
            skip += len(page)
            if not page or len(page) < self.page_size or (isinstance(total, int) and len(docs) >= total):
                break
        if cache is not None:
            atomic_write_text(cache, json.dumps({"endpoint": endpoint, "params": dict(params), "data": docs}))
        return docs

    def _request(self, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/materials/{endpoint.strip('/')}/?{urllib.parse.urlencode(params)}"
        shown = url.split("?")[0]
        req = urllib.request.Request(url, headers={"X-API-KEY": str(self._key), "Accept": "application/json",
                                                   "User-Agent": "voltlab"})
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_second) as resp:
                    text = resp.read().decode("utf-8")
                try:
                    body = json.loads(text)
                except ValueError as exc:
                    raise RemoteDataError(f"{shown} answered with something that is not JSON: {text[:80]!r}") from exc
                if not isinstance(body, dict):
                    raise RemoteDataError(f"{shown} answered with JSON that is not an object")
                return body
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise RemoteDataError(f"{shown} refused the API key (HTTP {exc.code}); check ${MP_API_KEY_ENV} "
                                          "(keys are at https://next-gen.materialsproject.org/api)") from exc
                if (exc.code == 429 or exc.code >= 500) and attempt < self.retries:
                    self._sleep(_retry_after(exc.headers.get("Retry-After"), attempt))
                    continue
                raise RemoteDataError(f"{shown} failed with HTTP {exc.code} {exc.reason} after {attempt + 1} "
                                      "attempt(s)") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt < self.retries:
                    self._sleep(_retry_after(None, attempt))
                    continue
                reason = getattr(exc, "reason", exc)
                raise RemoteDataError(f"cannot reach {shown} ({reason}) after {attempt + 1} attempt(s); check the "
                                      "network, or use the CSV export with load_mp_insertion_electrodes") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def insertion_electrodes(self, working_ion: str | None = None) -> pd.DataFrame:
        """Insertion electrodes, one row per battery, in :func:`load_mp_insertion_electrodes`'s columns."""
        params: dict[str, Any] = {"_fields": ",".join(ELECTRODE_FIELDS)}
        if working_ion is not None:
            params["working_ion"] = working_ion
        return _table(self.get("insertion_electrodes", params), ELECTRODE_FIELDS, ELECTRODE_TEXT,
                      "materials/insertion_electrodes")

    def summary(self, *, formula: str | Sequence[str] | None = None, chemsys: str | Sequence[str] | None = None,
                material_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Material summaries (formation energy, energy above hull, band gap, density, ...).

        Give one of ``formula`` (e.g. ``"LiFePO4"`` or several), ``chemsys`` (``"Li-Fe-P-O"``)
        or ``material_ids``.
        """
        given = {k: v for k, v in (("formula", formula), ("chemsys", chemsys), ("material_ids", material_ids))
                 if v is not None}
        if len(given) != 1:
            raise DataFormatError("summary needs exactly one of formula=, chemsys= or material_ids=", value=given)
        (name, value), = given.items()
        text = value if isinstance(value, str) else ",".join(str(v) for v in value)
        if not text.strip():
            raise DataFormatError(f"{name} is empty", value=value)
        params = {name: text, "_fields": ",".join(SUMMARY_FIELDS)}
        return _table(self.get("summary", params), SUMMARY_FIELDS, SUMMARY_TEXT, "materials/summary")


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(max(float(header), 0.0), 60.0) if header is not None else min(2.0 ** attempt, 30.0)
    except ValueError:
        return min(2.0 ** attempt, 30.0)


def _table(docs: list[dict[str, Any]], fields: Mapping[str, str], text: Sequence[str], where: str) -> pd.DataFrame:
    cols: dict[str, Any] = {}
    for api, col in fields.items():
        values = [d.get(api) for d in docs]
        if api in text:
            cols[col] = pd.array([None if v is None else str(v) for v in values], dtype="string")
        else:
            try:
                cols[col] = pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").astype("float64")
            except (TypeError, ValueError) as exc:
                raise RemoteDataError(f"{where}: field {api!r} holds a value that is not a number ({exc})") from exc
    return pd.DataFrame(cols)


def fetch_mp_insertion_electrodes(
    working_ion: str | None = None,
    *,
    voltage_range_volt: tuple[float, float] | None = (0.0, 6.0),
    api_key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    client: MaterialsProjectClient | None = None,
) -> pd.DataFrame:
    """Insertion electrodes from the live API, filtered as :func:`load_mp_insertion_electrodes` filters the CSV.

    Parameters
    ----------
    working_ion
        ``"Li"``, ``"Na"``, ...: asked of the API (``None``: every ion).
    voltage_range_volt
        Keep ``low < average_voltage_volt <= high`` (V vs the working-ion metal); ``None`` keeps all.
    api_key, cache_dir
        See :class:`MaterialsProjectClient` (ignored when ``client`` is given).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`load_mp_insertion_electrodes`; ``df.attrs`` as there, ``source`` the API.

    Raises
    ------
    RemoteDataError
        See :meth:`MaterialsProjectClient.get`.
    DataFormatError
        Repeated battery ids or a bad voltage range.
    """
    mp = client or MaterialsProjectClient(api_key, cache_dir=cache_dir)
    raw = mp.insertion_electrodes(working_ion)
    return finish_mp_electrodes(raw, voltage_range_volt=voltage_range_volt, working_ion=None,
                                where=f"{mp.base_url}/materials/insertion_electrodes",
                                source=f"Materials Project API ({mp.base_url}), fetched "
                                       f"{time.strftime('%Y-%m-%d', time.gmtime())}; CC BY 4.0")


def fetch_mp_summary(*, formula: str | Sequence[str] | None = None, chemsys: str | Sequence[str] | None = None,
                     material_ids: Sequence[str] | None = None, api_key: str | None = None,
                     cache_dir: str | os.PathLike[str] | None = None,
                     client: MaterialsProjectClient | None = None) -> pd.DataFrame:
    """Material summaries from the live API (see :meth:`MaterialsProjectClient.summary`)."""
    mp = client or MaterialsProjectClient(api_key, cache_dir=cache_dir)
    return mp.summary(formula=formula, chemsys=chemsys, material_ids=material_ids)
