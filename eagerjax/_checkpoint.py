"""Activation checkpointing: ``ej.utils.checkpoint.checkpoint(fn, *args)``.

The region runs once, as usual, recording its ops on the tape. Then its nodes are
*collapsed* into one node whose kernel replays them under ``jax.checkpoint``: the
new node saves only the region's inputs, so every intermediate the region made is
freed as soon as nothing else holds it, and the backward recomputes them. The same
collapse happens in every mode, because capture and lazy recording build the same
tape: under ``ej.compile``/``ej.lazy`` the backward's ``jax.vjp`` of the replay is a
``remat`` in the XLA program (the forward's intermediates are not kept for the
backward), in eager it is the fused backward program that recomputes.

Differences from torch, by construction: the region's side effects (BatchNorm running
statistics, the generator advancing for dropout) happen once, in the forward; the
recomputation replays the recorded values, so dropout masks match the forward (torch's
``preserve_rng_state=True``) and running statistics are not updated a second time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax

from . import _autograd
from ._autograd import _LRU
from ._dispatch import Kernel
from ._state import flags
from ._tensor import Tensor

# One kernel per region structure, reused by every step with that structure: the fused
# backward's program cache is keyed by kernel uids, so a fresh kernel per call would
# recompile the backward every step.
_kernels = _LRU(256)

_REENTRANT_DEFAULT = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in "
    "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. use_reentrant=False "
    "is recommended, but if you need to preserve the current default behavior, you can pass "
    "use_reentrant=True. Refer to docs for more details on the differences between the two variants."
)


def _noop_context_fn():
    return None


def checkpoint(
    function: Callable,
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable = _noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)`` without keeping its intermediate activations for the
    backward, which recomputes them (torch's ``torch.utils.checkpoint.checkpoint``).

    Both of torch's variants run the same mechanism here; ``use_reentrant=True`` (torch's
    default, with its warning when not passed) keeps the reentrant variant's visible rule:
    when no Tensor argument requires grad, the outputs do not either (parameters inside get
    no gradient) and torch's warning says so. ``context_fn`` is not supported.
    """
    if use_reentrant is None:
        warnings.warn(_REENTRANT_DEFAULT, stacklevel=2)
        use_reentrant = True
    kwargs.pop("preserve_rng_state", True)  # always preserved: the replay reuses the forward's keys
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if context_fn is not _noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
    elif context_fn is not _noop_context_fn:
        raise NotImplementedError(
            "checkpoint(context_fn=...): eagerjax does not rerun the region's Python in the backward "
            "(it replays the recorded ops under jax.checkpoint), so there is no recomputation context to enter"
        )
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    if not flags.grad_enabled:
        return function(*args, **kwargs)
    if use_reentrant and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
        with _autograd.no_grad():
            return function(*args, **kwargs)
    outer = _autograd._region
    region = _autograd._region = []
    try:
        out = function(*args, **kwargs)
    finally:
        _autograd._region = outer
    _collapse(region, [t for t in jax.tree_util.tree_leaves(out) if isinstance(t, Tensor)])
    return out


def checkpoint_sequential(functions, segments: int, input: Tensor, use_reentrant: bool | None = None, **kwargs):
    """Run ``functions`` (a list or ``nn.Sequential``) in ``segments`` chunks, checkpointing
    all but the last chunk (torch's ``checkpoint_sequential``)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
            "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
            "use_reentrant=False is recommended, but if you need to preserve the current default behavior, "
            "you can pass use_reentrant=True. Refer to docs for more details on the differences between "
            "the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children") and hasattr(functions, "forward"):
        functions = list(functions.children())
    functions = list(functions)

    def run(start: int, end: int):
        def forward(x):
            for f in functions[start:end]:
                x = f(x)
            return x

        return forward

    size = len(functions) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run(end, len(functions))(input)


# --------------------------------------------------------------------------- the collapse
def _collapse(region: list, outs: list) -> None:
    """Replace the region's nodes behind ``outs`` by one node replaying them under
    ``jax.checkpoint``; leave the graph alone when a node inside carries hooks or
    ``retain_grad`` (they need the nodes themselves)."""
    pos = {id(n): i for i, n in enumerate(region)}  # creation order is a topological order
    heads = [t for t in outs if t._node is not None and id(t._node) in pos]
    if not heads:
        return
    needed = set()
    stack = [t._node for t in heads]
    while stack:
        n = stack.pop()
        if id(n) in needed:
            continue
        if n.hooks or n.retained:
            return
        needed.add(id(n))
        for p in n.parents:
            if type(p) is tuple and id(p[0]) in pos:
                stack.append(p[0])
    nodes = [n for n in region if id(n) in needed]
    local = {id(n): i for i, n in enumerate(nodes)}
    ext_vals: list = []
    ext_parents: list = []
    ext_slot: dict = {}
    specs = []
    for n in nodes:
        spec = []
        for v, p in zip(n.vals, n.parents):
            if type(p) is tuple and id(p[0]) in local:
                spec.append((local[id(p[0])], p[1]))
                continue
            # An input from outside the region (or a value it made off the tape): saved.
            pk = None if p is None else (id(p[0]), p[1]) if type(p) is tuple else id(p)
            k = (id(v), pk)
            s = ext_slot.get(k)
            if s is None:
                s = ext_slot[k] = len(ext_vals)
                ext_vals.append(v)
                ext_parents.append(p)
            spec.append(s)
        specs.append(tuple(spec))
    out_pos: dict = {}
    for t in heads:
        out_pos.setdefault((local[id(t._node)], t._idx), len(out_pos))
    outputs = tuple(out_pos)
    key = (tuple((n.kernel.uid, s, n.n_out) for n, s in zip(nodes, specs)), outputs, len(ext_vals))
    kern = _kernels.get(key)
    if kern is None:
        kern = _kernels.put(key, Kernel(_replay([n.kernel.fn for n in nodes], specs, outputs), "checkpoint"))
    node = _autograd.raw_node(kern, ext_vals, ext_parents, len(outputs))
    for t in heads:
        t._node, t._idx = node, out_pos[(local[id(t._node)], t._idx)]


def _replay(fns: list, specs: list, outputs: tuple) -> Callable:
    """The region as one pure function of its saved inputs, rematerialized in the backward."""

    def region(*ext):
        fwd = []
        for fn, spec in zip(fns, specs):
            args = [ext[s] if type(s) is int else fwd[s[0]][s[1]] for s in spec]
            out = fn(*args)
            fwd.append(out if type(out) is tuple or type(out) is list else (out,))
        return tuple(fwd[i][o] for i, o in outputs)

    return jax.checkpoint(region)
