"""``eagerjax.utils``: ``data`` (datasets, samplers, DataLoader) and ``checkpoint``."""

import sys

from . import checkpoint, data

__all__ = ["checkpoint", "data"]

# torch's submodules of torch.utils.data (`from torch.utils.data.dataloader import
# default_collate`): one module here holds them all.
for _name in ("dataloader", "dataset", "sampler", "_utils"):
    setattr(data, _name, data)
    sys.modules[f"{__name__}.data.{_name}"] = data
