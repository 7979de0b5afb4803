"""``eagerjax.optim``: torch's optimizers and lr schedulers with hyperparameters as tensors.

Every numeric hyperparameter of a param group (``lr``, ``betas``, ``eps``,
``weight_decay``, ``momentum``, ``dampening``) is a 0-d float32 Tensor:
``group['lr'] = 0.01`` writes into it (never recompiling a captured step),
``group['lr']`` reads the Python number, as in torch (``group.raw('lr')`` is the tensor).
``step()`` updates all parameters of a group in one compiled call (``LBFGS``, which decides
on the host between closure evaluations, is the exception: see ``_lbfgs``).
"""

from . import lr_scheduler, swa_utils
from ._adadelta import Adadelta
from ._adafactor import Adafactor
from ._adagrad import Adagrad
from ._adam import Adam, AdamW
from ._adamax import Adamax
from ._lbfgs import LBFGS
from ._muon import Muon
from ._nadam import NAdam
from ._optimizer import Optimizer, ParamGroup
from ._radam import RAdam
from ._rmsprop import RMSprop
from ._rprop_asgd import ASGD, Rprop
from ._sgd import SGD
from ._sparse_adam import SparseAdam
from ._stateless import swap_in_optimizer_params_and_state

__all__ = [
    "Optimizer",
    "ParamGroup",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adamax",
    "NAdam",
    "RAdam",
    "LBFGS",
    "Rprop",
    "ASGD",
    "SparseAdam",
    "Adadelta",
    "Adafactor",
    "Muon",
    "lr_scheduler",
    "swa_utils",
    "swap_in_optimizer_params_and_state",
]
