"""``torch.random``: seeding and the state of the default generator (as ``ej.manual_seed``...)."""

from __future__ import annotations

from ._random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state"]
