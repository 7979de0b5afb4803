"""The op table. Each family module registers its rows on import; ``functional``
holds every row as a function once ``_generate.generate()`` has run."""

from .._generate import functional  # noqa: F401
from . import _registry  # noqa: F401
