"""``ej.compile(model)``: the module's forward as one compiled (and differentiable) op."""

from __future__ import annotations


class CompiledModule:
    """Calls go through the compiled forward; every other attribute is the module's own."""

    def __init__(self, module, compiled) -> None:
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def stats(self) -> dict:
        return self._compiled.stats()

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value) -> None:
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"
