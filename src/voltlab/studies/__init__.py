"""End-to-end studies: pipelines that join the stages and return results for reports."""

from __future__ import annotations

__all__: list[str] = []
