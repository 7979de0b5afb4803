"""``eagerjax.nn``: torch.nn's modules, functional API, init and utils on top of the op table."""

from .._tensor import Parameter
from . import functional, init, parameter, utils
from ._activation import (
    CELU,
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
    Tanhshrink,
)
from ._attention import MultiheadAttention
from ._containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from ._rnn import GRU, LSTM, RNN, RNNBase
from ._transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from ._dropout import Dropout
from ._linear import Flatten, Identity, Linear, Unflatten
from ._loss import CrossEntropyLoss, MSELoss, NLLLoss
from ._module import Module
from ._norm import BatchNorm1d, BatchNorm2d, BatchNorm3d

__all__ = [
    "Parameter",
    "Module",
    # sequence models (_attention, _rnn, _transformer)
    "MultiheadAttention", "RNNBase", "RNN", "LSTM", "GRU",
    "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
    "functional",
    "init",
    "utils",
    "parameter",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "Linear",
    "Identity",
    "Flatten",
    "Unflatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Softmin",
    "Hardtanh",
    "Hardsigmoid",
    "Hardswish",
    "LogSigmoid",
    "Softsign",
    "Tanhshrink",
    "MSELoss",
    "NLLLoss",
    "CrossEntropyLoss",
]
