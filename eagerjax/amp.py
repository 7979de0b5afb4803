"""``torch.amp``: automatic mixed precision.

``autocast`` runs a region's ops in lower precision where torch does (see
``eagerjax/_autocast.py`` for the op tables and how the casts run in every mode);
``GradScaler`` scales the loss and skips steps with inf/NaN gradients, deciding on the
device (``eagerjax/_grad_scaler.py``).
"""

from __future__ import annotations

from ._autocast import autocast, is_autocast_available
from ._grad_scaler import GradScaler

__all__ = ["autocast", "is_autocast_available", "GradScaler"]
