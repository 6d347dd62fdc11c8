"""End-to-end studies: pipelines that join the stages and return results for reports.

``list_studies()`` gives the catalogue; ``run_study(name, out_dir, ...)`` runs one.
Each study module registers itself with :func:`register_study` when imported.
"""

from __future__ import annotations

from voltlab.studies.base import (
    Figure,
    Series,
    StudyConfig,
    StudyInfo,
    StudyResult,
    config_to_toml,
    get_study,
    list_studies,
    load_config,
    register_study,
    run_study,
    study_provenance,
)

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
