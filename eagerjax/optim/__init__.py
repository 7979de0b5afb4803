"""``eagerjax.optim``: torch's optimizers and lr schedulers with hyperparameters as tensors.

Every numeric hyperparameter of a param group (``lr``, ``betas``, ``eps``,
``weight_decay``, ``momentum``, ``dampening``) is a 0-d float32 Tensor:
``group['lr'] = 0.01`` writes into it (never recompiling a captured step),
``group['lr']`` returns it and ``float(group['lr'])`` gives the number.
``step()`` updates all parameters of a group in one compiled call.
"""

from . import lr_scheduler
from ._adam import Adam, AdamW
from ._optimizer import Optimizer, ParamGroup
from ._sgd import SGD

__all__ = ["Optimizer", "ParamGroup", "SGD", "Adam", "AdamW", "lr_scheduler"]
