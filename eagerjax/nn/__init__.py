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
from ._conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ._dropout import Dropout
from ._flax import FlaxModule, from_flax, to_flax
from ._linear import Flatten, Identity, Linear, Unflatten
from ._loss import CrossEntropyLoss, MSELoss, NLLLoss
from ._losses2 import BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss, SmoothL1Loss
from ._misc import Bilinear, Dropout1d, Dropout2d, Dropout3d, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from ._module import Module
from ._norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from ._normalization import GroupNorm, LayerNorm, RMSNorm
from ._pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from ._rnn import GRU, LSTM, RNN, RNNBase
from ._sparse import Embedding
from ._transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    # convolution / pooling / normalization / embedding / extra losses (_conv, _pooling, ...)
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "LayerNorm", "GroupNorm", "RMSNorm", "Embedding", "Bilinear", "Dropout1d", "Dropout2d", "Dropout3d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "CosineEmbeddingLoss",
    "Parameter",
    "Module",
    "FlaxModule", "from_flax", "to_flax",
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
