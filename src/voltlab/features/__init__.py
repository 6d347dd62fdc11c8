"""Features: descriptors computed from cycling data (and, later, compositions and structures)."""

from __future__ import annotations

from voltlab.features.base import BaseFeaturizer

__all__ = ["BaseFeaturizer"]
