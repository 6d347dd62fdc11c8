"""Models: property and lifetime prediction with the scikit-learn protocol."""

from __future__ import annotations

from voltlab.models.base import check_xy, require_fitted

__all__ = ["check_xy", "require_fitted"]
