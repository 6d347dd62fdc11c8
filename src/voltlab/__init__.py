"""voltlab: battery materials informatics, from a crystal or a composition to a cell that lasts.

Stages (data flows one way): :mod:`voltlab.data` -> features -> models ->
optimize/simulate -> studies -> :mod:`voltlab.report`.

Importing voltlab is cheap: heavy libraries load only when a function needs them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from voltlab.errors import VoltlabError

try:
    __version__ = version("voltlab")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"

__all__ = ["VoltlabError", "__version__"]
