"""``torch.autograd.graph``: ``saved_tensors_hooks``, ``save_on_cpu`` and
``disable_saved_tensors_hooks``.

Inside ``saved_tensors_hooks(pack, unpack)`` every op recorded for backward hands the inputs
it saves to ``pack`` and keeps only what that returns; the backward calls ``unpack`` on each
to get them back. eagerjax saves every input of a recorded op (it differentiates the op's
whole kernel), so ``pack`` sees the inputs of ``a + b`` too, where torch saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _autograd
from ._tensor import Tensor

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks"]

_disabled: list = []  # error messages of the active disable_saved_tensors_hooks regions


class saved_tensors_hooks:
    """Context manager: ``pack_hook(tensor) -> anything`` runs when an op saves a tensor for
    backward, ``unpack_hook(packed) -> Tensor`` when the backward needs it back."""

    def __init__(self, pack_hook: Callable[[Tensor], object], unpack_hook: Callable[[object], Tensor]) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        if _disabled:
            raise RuntimeError(_disabled[-1])
        _autograd.saved_hooks.append((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc) -> None:
        _autograd.saved_hooks.pop()


class save_on_cpu(saved_tensors_hooks):
    """torch's offloading of saved tensors to host memory. eagerjax keeps them where they
    are (on CPU they already are; on a GPU XLA owns placement), so the hooks are identities."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        super().__init__(lambda t: t, lambda t: t)


class disable_saved_tensors_hooks:
    """Context manager in which entering ``saved_tensors_hooks`` raises ``error_message``."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self) -> disable_saved_tensors_hooks:
        _disabled.append(self.error_message)
        return self

    def __exit__(self, *exc) -> None:
        _disabled.pop()
