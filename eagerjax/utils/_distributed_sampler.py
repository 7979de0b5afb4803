"""``utils.data.DistributedSampler`` (also the module ``eagerjax.utils.data.distributed``).

Each of ``num_replicas`` processes reads its own ``rank``-strided share of one permutation
of the dataset, padded by repeating indices (or cut, with ``drop_last``) to a multiple of
``num_replicas``. The permutation comes from a fresh eagerjax ``Generator`` seeded with
``seed + epoch``, so every replica sees the same one and ``set_epoch`` changes it (the
numbers are eagerjax's, not torch's ``randperm`` for that seed).

eagerjax has no process group: a ``num_replicas`` or ``rank`` left out means a world of one
process, rank 0 (torch asks the default process group and raises when there is none).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .. import _random
from .data import Dataset, Sampler, _int_list

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Indices of ``dataset`` for one replica (``rank`` of ``num_replicas``); ``set_epoch`` reshuffles."""

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = 1  # no process group: a world of one
        if rank is None:
            rank = 0
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # drop the tail evenly
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = _random.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = _int_list(_random.randperm(n, generator=g))
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            pad = self.total_size - len(indices)
            if pad > 0:  # repeat the permutation from its start as often as needed
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``seed + epoch`` for the next permutation (call it before each epoch when shuffling)."""
        self.epoch = epoch
