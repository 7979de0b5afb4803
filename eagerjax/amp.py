"""``torch.amp``: automatic mixed precision.

``autocast`` runs a region's ops in lower precision where torch does (see
``eagerjax/_autocast.py`` for the op tables and how the casts run in every mode).
"""

from __future__ import annotations

from ._autocast import autocast, is_autocast_available

__all__ = ["autocast", "is_autocast_available"]
