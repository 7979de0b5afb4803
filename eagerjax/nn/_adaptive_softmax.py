"""``AdaptiveLogSoftmaxWithLoss`` (Grave et al., efficient softmax approximation): a ``head``
``Linear`` over the shortlist and one logit per cluster, and a ``tail`` of two-layer
projections, one per cluster, with torch's parameter names (``head.weight``,
``tail.0.0.weight``, ...), so torch's state_dicts load.

torch's forward runs each cluster's projection on the rows whose targets fall in it (a
``nonzero`` with a value-dependent shape). Here every projection runs on the whole batch and
``where`` keeps each row's own cluster, so shapes are fixed and the forward compiles and
records lazily: the values and gradients are torch's, at the cost of projecting every row
through every cluster. The target range check reads values (eager mode only).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

from .._generate import functional as _F
from .._tensor import Tensor
from . import functional as F
from ._containers import ModuleList, Sequential
from ._functional_checks import _is_eager, _minmax
from ._linear import Linear
from ._module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax: ``forward(input, target)`` returns ``(output, loss)`` (each row's target
    log-probability and their negated mean); ``log_prob`` gives all classes, ``predict`` the argmax."""

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > (n_classes - 1)
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an increasing order, where "
                "each value is between 1 and n_classes-1"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(
                Sequential(Linear(self.in_features, hsz, bias=False, **kw), Linear(hsz, osz, bias=False, **kw))
            )

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.dim() != 2:
                raise RuntimeError(
                    f"1D target tensor expects 2D input tensors, but found inputs with size {input_.size()}"
                )
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError(
                    f"0D target tensor expects 1D input tensors, but found inputs with size {input_.size()}"
                )
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = targ_dim > 0
        input = input_ if batched else input_.unsqueeze(0)
        target = target_ if batched else target_.unsqueeze(0)
        if _is_eager() and target.numel():
            lo, hi = (int(v) for v in _minmax(target))
            if lo < 0 or hi >= self.n_classes:
                raise RuntimeError(
                    f"Target values should be in [0, {self.n_classes - 1}], but values in range [{lo}, {hi}] were found. "
                )
        output = input.new_zeros(tuple(target.shape))
        gather_inds = target
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            in_cluster = (target >= low) & (target < high)
            relative = (target - low).clamp(0, high - low - 1)
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            local = cluster_logprob.gather(1, relative.unsqueeze(1)).squeeze(1)
            output = local.where(in_cluster, output)
            gather_inds = gather_inds.masked_fill(in_cluster, self.shortlist_size + i)
        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = output + head_logprob.gather(1, gather_inds.unsqueeze(1)).squeeze(1)
        loss = (-output).mean()
        if not batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return _F.cat(parts, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """The ``(N, n_classes)`` log-probabilities of every class."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row (``argmax`` of ``log_prob``)."""
        return self.log_prob(input).argmax(dim=1)
