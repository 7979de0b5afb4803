"""``eagerjax.nn``: torch.nn's modules, functional API, init and utils on top of the op table."""

from .._tensor import Parameter
from . import _activation, _layers4, _losses4, _pooling, functional, init, parameter, utils
from ._activation import *  # noqa: F403 - the names in _activation.__all__
from ._attention import MultiheadAttention
from ._containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from ._conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ._dropout import Dropout
from ._extra_layers import EmbeddingBag, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, PixelShuffle, PixelUnshuffle
from ._flax import FlaxModule, from_flax, to_flax
from ._layers4 import *  # noqa: F403 - the names in _layers4.__all__
from ._layers5 import ChannelShuffle
from ._layers6 import *  # noqa: F403 - the names in _layers6.__all__
from ._lazy_modules import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LazyLinear,
)
from ._linear import Flatten, Identity, Linear, Unflatten
from ._loss import CrossEntropyLoss, MSELoss, NLLLoss
from ._losses2 import BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss, SmoothL1Loss
from ._losses4 import *  # noqa: F403 - the names in _losses4.__all__
from ._misc import Bilinear, Dropout1d, Dropout2d, Dropout3d, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from ._module import Module
from ._norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from ._normalization import GroupNorm, LayerNorm, RMSNorm
from ._pooling import *  # noqa: F403 - the names in _pooling.__all__
from ._rnn import GRU, LSTM, RNN, RNNBase
from ._rnn_cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from ._sparse import Embedding
from ._transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    # convolution / normalization / embedding / extra losses (_conv, _normalization, ...)
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "Embedding",
    "EmbeddingBag",
    "PixelShuffle",
    "PixelUnshuffle",
    "Bilinear",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "CosineEmbeddingLoss",
    "Parameter",
    "Module",
    "FlaxModule",
    "from_flax",
    "to_flax",
    # sequence models (_attention, _rnn, _transformer)
    "MultiheadAttention",
    "RNNBase",
    "RNN",
    "LSTM",
    "GRU",
    "RNNCellBase",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "TransformerEncoderLayer",
    "TransformerEncoder",
    "TransformerDecoderLayer",
    "TransformerDecoder",
    "Transformer",
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
    "MSELoss",
    "NLLLoss",
    "CrossEntropyLoss",
]

# pooling and activation modules: every name their own __all__ lists
__all__ += _pooling.__all__
__all__ += _activation.__all__

# more layers and losses (_layers4, _losses4): every name their own __all__ lists
__all__ += _layers4.__all__
__all__ += ["ChannelShuffle"]

# RReLU, LP / fractional / adaptive-3d pooling, max unpooling, CrossMapLRN2d, SyncBatchNorm, adaptive softmax,
# nn.Buffer and the lazy modules' uninitialized tensors (_layers6, _adaptive_softmax, _buffer, parameter)
from . import _layers6  # noqa: E402
from ._adaptive_softmax import AdaptiveLogSoftmaxWithLoss  # noqa: E402
from ._buffer import Buffer  # noqa: E402
from .parameter import UninitializedBuffer, UninitializedParameter  # noqa: E402

__all__ += _layers6.__all__ + ["AdaptiveLogSoftmaxWithLoss", "Buffer", "UninitializedParameter", "UninitializedBuffer"]
__all__ += _losses4.__all__

# lazy modules (_lazy_modules; its LazyModuleMixin lives in torch.nn.modules.lazy, not in nn)
__all__ += [
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]

# torch.nn.modules.module's path (Module and the global module hooks)
from . import modules  # noqa: E402, F401
