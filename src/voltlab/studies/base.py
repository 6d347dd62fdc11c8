"""The study framework: typed configs, a registry, results with figures, provenance.

A *study* answers one research question end to end (data → features → models →
optimisation/simulation). It is a function registered with :func:`register_study`
that takes a validated :class:`StudyConfig` (a dataclass; loaded from TOML, YAML or
JSON with clear errors), optional user data and an output folder, and returns a
:class:`StudyResult`: headline numbers, tables, figure specifications (plain data,
rendered by :mod:`voltlab.report.study`), model cards and provenance.

Examples
--------
>>> from voltlab.studies import list_studies
>>> "solid-electrolyte" in [s.name for s in list_studies()]
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from voltlab._files import atomic_write_text
from voltlab.errors import MissingFileError, StudyConfigError

__all__ = [
    "Figure",
    "Series",
    "StudyConfig",
    "StudyInfo",
    "StudyResult",
    "config_to_toml",
    "get_study",
    "list_studies",
    "load_config",
    "register_study",
    "run_study",
    "study_provenance",
]

Progress = Callable[[str], None]
_PROVENANCE_PACKAGES = ("voltlab", "numpy", "pandas", "scikit-learn", "scipy", "torch", "botorch", "gpytorch",
                        "pybamm", "pymatgen", "matminer", "stable-baselines3")


# --------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class StudyConfig:
    """Base of every study's configuration.

    Subclasses add typed fields with defaults; ``field(metadata={"help": ..., "unit": ...})``
    documents them (shown by ``voltlab study config NAME``). Override :meth:`validate`
    for range checks and raise :class:`~voltlab.errors.StudyConfigError` naming the key.

    Parameters
    ----------
    seed
        Seeds every random choice of the study (data generation, model fits, BO);
        the same seed gives the same numbers.
    """

    seed: int = field(default=0, metadata={"help": "seed of every random choice; same seed, same numbers"})

    def validate(self) -> None:
        """Range checks across fields (called after type checks)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, where: str | None) -> Any:
    """Check and convert one config value against its annotation."""
    origin = typing.get_origin(tp)
    bad = StudyConfigError(
        f"config key {key!r}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})", path=where,
        column=None, value=value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, where)
            except StudyConfigError:
                continue
        raise bad
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise StudyConfigError(f"config key {key!r}: {value!r} is not one of {list(choices)}", path=where,
                                   value=value)
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise bad
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, f"{key}[{i}]", where) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise bad
        v = float(value)
        if not np.isfinite(v):
            raise StudyConfigError(f"config key {key!r}: {value!r} is not a finite number", path=where, value=value)
        return v
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MissingFileError("config file not found; write a TOML, YAML or JSON file "
                               "(start from `voltlab study config NAME`)", path=path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise StudyConfigError(f"unknown config file type {suffix!r}: use .toml, .yaml/.yml or .json", path=path)
    except StudyConfigError:
        raise
    except Exception as exc:  # the parsers' own errors say where (line/column)
        raise StudyConfigError(f"cannot parse the config: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise StudyConfigError("a config file holds a table of key = value pairs at its top level", path=path)
    return data


def load_config(config_type: type[StudyConfig], source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                **overrides: Any) -> StudyConfig:
    """Build and validate a study config from a file or mapping, plus keyword overrides.

    Parameters
    ----------
    config_type
        The study's config dataclass.
    source
        A ``.toml``/``.yaml``/``.yml``/``.json`` path, a mapping, or ``None`` (defaults).
        A ``[study]`` table in the file, if present, is used; other top-level keys are config keys.
    overrides
        Keys that win over the file (``None`` values are ignored).

    Raises
    ------
    StudyConfigError
        Unknown key (with the accepted ones), wrong type, or a value out of range; names the file and key.
    """
    where: str | None = None
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        where = os.fspath(source)
        data = _read_config_file(Path(source))
    if "study" in data and isinstance(data["study"], Mapping):
        data = {k: v for k, v in data.items() if k != "study"} | dict(data["study"])
    data.pop("name", None)
    data |= {k: v for k, v in overrides.items() if v is not None}
    hints = typing.get_type_hints(config_type)
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise StudyConfigError(f"unknown config key(s) {unknown}; accepted: {sorted(fields)}", path=where,
                               value=unknown)
    values = {k: _coerce(v, hints[k], k, where) for k, v in data.items()}
    try:
        cfg = config_type(**values)
    except StudyConfigError as exc:
        raise StudyConfigError(exc.message, path=where, value=exc.value) from None
    try:
        cfg.validate()
    except StudyConfigError as exc:
        raise StudyConfigError(exc.message, path=where, value=exc.value) from None
    return cfg


def config_to_toml(config: StudyConfig, *, study: str | None = None) -> str:
    """A commented TOML file of ``config`` (each key with its help and unit)."""
    lines = [f"# voltlab study config{f' for {study!r}' if study else ''}: edit and pass with --config FILE"]
    for f in dataclasses.fields(config):
        help_ = f.metadata.get("help", "")
        unit = f.metadata.get("unit", "")
        if help_ or unit:
            lines.append(f"# {help_}{f' [{unit}]' if unit else ''}")
        lines.append(f"{f.name} = {_toml_value(getattr(config, f.name))}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if v is None:
        return '"none"'
    return json.dumps(str(v))


# --------------------------------------------------------------------------------------------- results
@dataclass
class Series:
    """One trace of a figure: ``x``/``y`` (and ``z`` for 3-D), optional error bars and hover labels."""

    name: str
    x: Sequence[Any]
    y: Sequence[float]
    mode: Literal["lines", "markers", "lines+markers", "bar"] = "lines"
    error: Sequence[float] | None = None
    z: Sequence[float] | None = None
    text: Sequence[str] | None = None
    dash: bool = False


@dataclass
class Figure:
    """A plot as plain data, rendered by the report (Plotly for HTML, matplotlib for PNG/PDF)."""

    key: str
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    note: str = ""
    z_label: str = ""
    log_y: bool = False

    def __post_init__(self) -> None:
        for s in self.series:
            if len(s.x) != len(s.y):
                raise ValueError(f"figure {self.key!r} series {s.name!r}: x and y lengths differ")


@dataclass
class StudyResult:
    """What a study found, ready for a report.

    Attributes
    ----------
    study, title
        Registry name and human title.
    question, answer
        The research question and a plain-language answer with the key numbers.
    metrics
        Raw headline numbers (units in the key names), for tests and ``results.json``.
    kpis
        Formatted headline numbers for the report tiles.
    tables
        Named tables (e.g. the shortlist, the campaign log).
    figures
        Figure specifications.
    model_cards
        One mapping per model: what it predicts, training data, validation split and scores, limits.
    notes
        Caveats a reader must know (synthetic data, extrapolation, ...).
    provenance
        Config, seeds, input hashes and package versions (:func:`study_provenance`).
    """

    study: str
    title: str
    question: str
    answer: str
    metrics: dict[str, float] = field(default_factory=dict)
    kpis: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    model_cards: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tables as lists of records)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not np.isfinite(v):
                return None
            if isinstance(v, (np.floating, np.integer)):
                return clean(v.item())
            if isinstance(v, dict):
                return {str(k): clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return clean({
            "study": self.study, "title": self.title, "question": self.question, "answer": self.answer,
            "metrics": self.metrics, "kpis": self.kpis,
            "tables": {k: t.to_dict(orient="records") for k, t in self.tables.items()},
            "model_cards": self.model_cards, "notes": self.notes, "provenance": self.provenance,
        })

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` atomically as JSON."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=str))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def study_provenance(study: str, config: StudyConfig,
                     inputs: Mapping[str, str | os.PathLike[str]] | None = None) -> dict[str, Any]:
    """Everything needed to rerun a study: config (with seed), input file hashes, versions."""
    prov: dict[str, Any] = {"study": study, "seed": config.seed,
                            "config": json.dumps(config.to_dict(), sort_keys=True)}
    for name, p in (inputs or {}).items():
        path = Path(p)
        prov[f"input {name}"] = f"{path} (sha256 {_sha256(path)})" if path.is_file() else str(p)
    prov["python"] = sys.version.split()[0]
    prov["platform"] = platform.platform()
    for pkg in _PROVENANCE_PACKAGES:
        try:
            prov[f"version {pkg}"] = version(pkg)
        except PackageNotFoundError:
            continue
    return prov


# --------------------------------------------------------------------------------------------- registry
StudyFunction = Callable[..., StudyResult]


@dataclass(frozen=True)
class StudyInfo:
    """A registered study: name, title, question, config type, what data it accepts, and its function."""

    name: str
    title: str
    question: str
    config_type: type[StudyConfig]
    data_help: str | None
    function: StudyFunction
    runtime: str = ""


_REGISTRY: dict[str, StudyInfo] = {}
_STUDY_MODULES = ("cathode_challenge", "solid_electrolyte", "lis_host", "fast_charge", "ncm_cobalt",
                  "sodium_transfer", "perovskite", "closed_loop")


def register_study(name: str, *, title: str, question: str, config: type[StudyConfig],
                   data: str | None = None, runtime: str = "") -> Callable[[StudyFunction], StudyFunction]:
    """Decorator: register ``fn(config, *, data, out_dir, progress) -> StudyResult`` as study ``name``.

    ``data`` describes the user data the study accepts (``None``: it takes none).
    """
    def deco(fn: StudyFunction) -> StudyFunction:
        _REGISTRY[name] = StudyInfo(name, title, question, config, data, fn, runtime)
        return fn

    return deco


def _load_all() -> None:
    import importlib

    for mod in _STUDY_MODULES:
        try:
            importlib.import_module(f"voltlab.studies.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"voltlab.studies.{mod}":
                raise


def list_studies() -> list[StudyInfo]:
    """Every registered study, in the order of the pipeline catalogue."""
    _load_all()
    return list(_REGISTRY.values())


def get_study(name: str) -> StudyInfo:
    """The study registered as ``name`` (raises StudyConfigError listing the known names)."""
    _load_all()
    if name not in _REGISTRY:
        raise StudyConfigError(f"unknown study {name!r}; known: {sorted(_REGISTRY)} (see `voltlab study list`)",
                               value=name)
    return _REGISTRY[name]


def run_study(name: str, out_dir: str | os.PathLike[str], *, config: StudyConfig | Mapping[str, Any] | None = None,
              config_file: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None,
              progress: Progress | None = None, **overrides: Any) -> StudyResult:
    """Run study ``name`` into ``out_dir`` and write ``results.json`` there.

    Parameters
    ----------
    config
        A config object or mapping (or ``None``: ``config_file`` or the defaults).
    config_file
        A TOML/YAML/JSON file (used when ``config`` is ``None``).
    data
        User data for studies that accept it (see ``StudyInfo.data_help``).
    overrides
        Config keys that win (e.g. ``seed=3``).
    """
    info = get_study(name)
    if isinstance(config, StudyConfig):
        if not isinstance(config, info.config_type):
            raise StudyConfigError(f"study {name!r} takes a {info.config_type.__name__}, "
                                   f"got {type(config).__name__}")
        cfg = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
        cfg.validate()
    else:
        cfg = load_config(info.config_type, config if config is not None else config_file, **overrides)
    if data is not None:
        if info.data_help is None:
            raise StudyConfigError(f"study {name!r} takes no --data; it runs on its embedded problem", value=data)
        if not Path(data).exists():
            raise MissingFileError(f"data for study {name!r} not found ({info.data_help})", path=data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    result = info.function(cfg, data=Path(data) if data is not None else None, out_dir=out, progress=say)
    result.out_dir = out
    if config_file is not None and "input config" not in result.provenance:
        result.provenance["input config"] = f"{config_file} (sha256 {_sha256(Path(config_file))})"
    result.write_json(out / "results.json")
    return result
