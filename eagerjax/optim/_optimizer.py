"""``Optimizer``: param groups whose numeric hyperparameters are tensors, and a fused update.

Design (see the package docstring for the user-facing contract):

* Each param group is a ``ParamGroup`` (a ``dict``). Numeric hyperparameters
  (``lr``, ``momentum``, ``betas``, ``eps``, ``weight_decay``, ``dampening``,
  ``initial_lr``) are stored as 0-d float32 Tensors. Assigning a new value
  (``g['lr'] = 0.01``) writes INTO the existing tensor with ``Tensor._assign``,
  so a compiled step that reads it never recompiles, and an lr scheduler can
  update it with tensor math inside a compiled step. ``g['lr']`` reads a Python
  number as in torch (a snapshot tensor while ``ej.compile`` traces);
  ``g.raw('lr')`` is the tensor, which library code uses. Options that change the shape of
  the computation (``nesterov``, ``amsgrad``, ``maximize``, ...) stay Python
  values; changing one bumps ``_state.structure_epoch``.
* ``step()`` updates all parameters of a group (those with a ``.grad``) in ONE
  cached compiled call: a pure function ``(params, grads, state, hypers) ->
  (new_params, new_state)`` wrapped in a ``Kernel`` (cached per group structure)
  and run through ``run_kernel`` under ``no_grad``; results are written back with
  ``Tensor._assign``. An optimizer only declares its rule, per leaf as in MLX's
  optimizers (see "the per-leaf rule" in ``Optimizer``); the base does the rest.
* Optimizer state (``exp_avg``, ``momentum_buffer``, ``step``...) is created lazily
  on the first step, as in torch, and is born concrete even during a capture trace.
  Params that start together share one 0-d ``step`` tensor internally;
  ``state_dict()`` shows torch's per-parameter format.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from itertools import chain
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._autograd import enable_grad, no_grad
from .._dispatch import Kernel, run_kernel
from .._state import born_state, bump_state, bump_structure, flags
from .._tensor import Tensor, _device_array
from ..nn._module import _zero_grads
from . import _statepack

__all__ = ["Optimizer", "ParamGroup", "required"]


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

_F32 = np.dtype("float32")
_kernels: dict = {}


def _scalar_array(x, dtype=np.float32):
    """A new 0-d device array holding a copy of ``x`` (a Python or NumPy number, or a
    caller's 0-d array, which may be overwritten afterwards), concrete even under a
    capture trace."""
    return _device_array(np.array(x, dtype))


def _concrete_scalar(x, dtype=np.float32) -> Tensor:
    """A new 0-d tensor holding ``x`` (see ``_scalar_array``): library state born anywhere."""
    return Tensor._make(_scalar_array(x, dtype))


def _concrete_zeros(shape: tuple, dtype) -> Tensor:
    return Tensor._make(_device_array(np.zeros(shape, dtype)))


def _zeros_like(p: Tensor) -> Tensor:
    """Zeros shaped like ``p``: how most optimizer state is born (concrete even under a capture trace)."""
    return _concrete_zeros(tuple(p.shape), p.dtype)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _number(x):
    """``x`` as a Python number if it is one (ints stay ints, as torch shows them), else None."""
    if not _is_number(x):
        return None
    return x.item() if isinstance(x, np.generic) else x


def _as_scalar_value(x):
    """A Python number, eagerjax Tensor, numpy or torch scalar as a 0-d float32 jax value."""
    if isinstance(x, Tensor):
        t = x if x.dtype == _F32 else x._cast(_F32)
        if t.ndim:
            t = t.reshape(())
        return t._read()
    mod = type(x).__module__ or ""
    if mod.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return _scalar_array(np.asarray(x, np.float64).reshape(()))


def _py(x):
    """A host value for display / state_dict: numbers stay numbers, tensors are read."""
    if isinstance(x, Tensor):
        return float(x)
    if isinstance(x, tuple):
        return tuple(_py(v) for v in x)
    return x


class ParamGroup(dict):
    """One param group: a dict whose numeric hyperparameters are 0-d float32 Tensors.

    ``g['lr'] = 0.01`` writes into the existing tensor (no new program is ever
    compiled for a new value); ``g['lr']`` reads torch's Python number (see
    ``__getitem__``) and ``g.raw('lr')`` the tensor. Structural options (bools, None, strings) are plain values
    and changing one bumps the structure epoch. The group remembers the Python
    number last assigned to each hyperparameter while its tensor still holds it
    (``known``), for display and for structural choices such as skipping a zero
    weight decay.
    """

    def __init__(self, tensor_keys: Iterable[str] = (), data: dict | None = None):
        super().__init__()
        self._tensor_keys = frozenset(tensor_keys) | {"initial_lr"}
        self._known: dict = {}  # key -> (python value, tensor version(s)) while the tensor still holds it
        if data:
            for k, v in data.items():
                self[k] = v

    # -- writes -------------------------------------------------------------------------
    def __setitem__(self, key, value) -> None:
        if key in self._tensor_keys and not isinstance(value, (bool, str)) and value is not None:
            self._set_tensor(key, value)
            return
        if key != "params" and key in self:
            old = dict.__getitem__(self, key)
            if old is not value and (type(old) is not type(value) or old != value):
                bump_structure()
        dict.__setitem__(self, key, value)

    def _set_tensor(self, key, value) -> None:
        if isinstance(value, (tuple, list)):
            old = dict.get(self, key)
            if not isinstance(old, tuple) or len(old) != len(value):
                old = tuple(_concrete_scalar(0.0) for _ in value)
                dict.__setitem__(self, key, old)
            for t, v in zip(old, value):
                t._assign(_as_scalar_value(v))
            self._known[key] = (tuple(_number(v) for v in value), tuple(t._version for t in old))
            return
        old = dict.get(self, key)
        was = self.known(key) if key in self._known else None
        if not isinstance(old, Tensor):
            old = _concrete_scalar(0.0)
            dict.__setitem__(self, key, old)
        old._assign(_as_scalar_value(value))
        self._known[key] = (_number(value), old._version)
        if (was == 0) != (self._known[key][0] == 0):
            # A zero (weight decay, momentum) is a structural choice of the update (``_options``):
            # a compiled step that baked in the old one must find another program.
            bump_structure()

    def update(self, *args, **kwargs) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def __reduce__(self):
        return (_rebuild_group, (tuple(self._tensor_keys), dict(self)))

    # -- reads ------------------------------------------------------------------------------
    def __getitem__(self, key):
        """torch's values: a hyperparameter held in a tensor reads as a Python number (a
        snapshot: ``lrs.append(g['lr'])`` keeps each step's value, as in torch; in lazy mode
        the read flushes pending work when the value is not known on the host), and as a
        snapshot tensor while ``ej.compile`` traces a step (no host read possible there).
        ``raw(key)`` is the state tensor itself."""
        v = dict.__getitem__(self, key)
        if key in self._tensor_keys and (isinstance(v, (Tensor, tuple))):
            mode = flags.mode
            if mode is None or mode.is_lazy:
                return self.host_value(key)
            if isinstance(v, tuple):
                return tuple(Tensor._make(t._read()) if isinstance(t, Tensor) else t for t in v)
            return Tensor._make(v._read())
        return v

    def raw(self, key):
        """The stored value itself (the state tensor that schedulers and updates write)."""
        return dict.__getitem__(self, key)

    # torch's groups are plain dicts: every read gives what ``g[key]`` gives
    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]

    # -- host-side knowledge ---------------------------------------------------------------
    def known(self, key):
        """The Python value last assigned to ``key`` if its tensor(s) still hold it, else None."""
        rec = self._known.get(key)
        if rec is None:
            return None
        value, version = rec
        cur = dict.__getitem__(self, key)
        if isinstance(cur, tuple):
            if tuple(t._version for t in cur) != version:
                return None
        elif not isinstance(cur, Tensor) or cur._version != version:
            return None
        return value

    def host_value(self, key):
        """The hyperparameter as a Python value (reads the tensor only when no Python value is known)."""
        v = dict.__getitem__(self, key)
        k = self.known(key) if key in self._known else None
        if isinstance(v, tuple):
            if k is not None and all(x is not None for x in k):
                return k
            return tuple(_short(t) if isinstance(t, Tensor) else t for t in v)
        if isinstance(v, Tensor) and key in self._tensor_keys:
            return k if k is not None else _short(v)
        return v


def _short(t: Tensor) -> float:
    """The shortest decimal that rounds to the float32 in ``t`` (0.05, not 0.05000000074505806)."""
    return float(str(np.float32(float(t))))


def _rebuild_group(tensor_keys, data):
    g = ParamGroup(tensor_keys)
    for k, v in data.items():
        if isinstance(v, Tensor) and k in g._tensor_keys:
            v = Tensor._make(v._read())
        elif isinstance(v, tuple) and k in g._tensor_keys:
            v = tuple(Tensor._make(t._read()) if isinstance(t, Tensor) else t for t in v)
        g[k] = v
    return g


def _typename(x) -> str:
    if isinstance(x, Tensor):
        return x.type()
    t = type(x)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "") else f"{mod}.{t.__qualname__}"


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``).

    Subclasses declare ``_tensor_keys`` (hyperparameters stored as tensors) and
    implement ``_group_update(group, params)``.
    """

    _tensor_keys: tuple[str, ...] = ("lr",)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[ParamGroup] = []
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for g in param_groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = []
        plain = []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                plain.append(p[1])
            else:
                plain.append(p)
        if names:
            if len(names) != len(plain):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = plain
        for p in plain:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(p))
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in plain]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(ParamGroup(self._tensor_keys, param_group))
        bump_state()

    # ------------------------------------------------------------------ grads
    def zero_grad(self, set_to_none: bool = True) -> None:
        _zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    # ------------------------------------------------------------------ step
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._step(closure)

    def _step(self, closure=None, skip_if: Tensor | None = None):
        """``step``; ``skip_if`` (a 0-d tensor, for ``GradScaler``): where it is nonzero, every
        tensor the update writes keeps its old value. A data-dependent choice made inside the
        update kernels, so it needs no host read and works the same in every mode."""
        for hook in list(self._optimizer_step_pre_hooks.values()):
            res = hook(self, (), {})
            if res is not None:
                raise RuntimeError("optimizer step pre-hooks that change arguments are not supported")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        m = flags.mode
        if m is not None:
            m.note_module(self)  # (a compiled step's cache keys on _capture_key)
        with no_grad():
            todo = []
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    todo.append((group, params))
            # Lazy mode flushes right after a lone update with no post-hook to read the
            # params first: the flush can write its results straight into the state tensors.
            m = flags.mode
            tail = len(todo) == 1 and m is not None and m.is_lazy and not self._optimizer_step_post_hooks
            # Every group's update is computed before any is written: a group that fails (a
            # shape error) leaves all parameters and state as they were, not half the groups
            # updated (state created for this step is dropped again).
            had = set(map(id, self.state))
            writes = []
            try:
                for group, params in todo:
                    writes.append(self._group_update(group, params, tail, skip_if))
            except BaseException:
                for p in [p for p in self.state if id(p) not in had]:
                    del self.state[p]
                raise
            m = flags.mode
            if m is not None and not getattr(m, "is_lazy", False) and len(self.state) != len(had):
                # born while ej.compile traces the step: gone again if the call fails
                born_state.extend([(self.state, p) for p in self.state if id(p) not in had])
            for w in writes:
                if w is not None:
                    _write(*w)
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, (), {})
        m = flags.mode
        if m is not None:
            m.mark_step()  # the iteration boundary: lazy mode flushes its graph here
        return loss

    # -- the per-leaf rule -------------------------------------------------------------------
    # A subclass declares its rule; ``_group_update`` then, once per group and step, finds the
    # params' shared ``step`` tensors, creates missing state (born concrete), assembles
    # ``(params, grads, state columns, steps, hypers)``, runs ONE cached kernel applying
    # ``_leaf`` to every param, and writes the results back.
    _rule_name = ""  # the kernel's name ("adam_step")
    _hyper_keys: tuple[str, ...] = ()  # group entries fed to the kernel, in order (``betas`` gives both)
    _flags: tuple[str, ...] = ()  # structural booleans of the group the rule branches on
    _counts_steps = True  # each param has torch's float ``step`` count
    # ``_leaf`` is elementwise in (p, g, state): applied once to a group's params, grads and
    # packed state concatenated, it updates every param (see ``_rule_kernel``)
    _elementwise = False

    def _capture_key(self) -> tuple:
        """``(name, value)`` of the static choices a compiled step's trace bakes into this
        optimizer's update (``_options`` per group); changing one bumps the structure epoch
        (``ParamGroup``), so ``ej.compile`` then finds another program (``_compile._module_key``)."""
        try:
            return tuple((f"param_groups[{i}] options", self._options(g)) for i, g in enumerate(self.param_groups))
        except (KeyError, TypeError):  # (an optimizer whose groups have no per-leaf rule's options)
            return ()

    def _options(self, group: ParamGroup) -> tuple:
        """Static choices of the rule (Python values, part of the kernel key):
        ``(use weight decay, maximize, *flags)``; a weight decay known to be 0 is skipped."""
        wd = group.known("weight_decay")
        # (flags are plain values: dict.get skips ParamGroup's per-key dispatch on this hot path)
        return (wd is None or wd != 0, bool(group["maximize"]), *[dict.get(group, f) for f in self._flags])

    def _state_spec(self, opts: tuple) -> tuple:
        """``(name, init)`` per state tensor of a param, in torch's order; ``init(p)`` makes a missing one."""
        return ()

    @staticmethod
    def _per_step(opts: tuple, step, hypers: tuple) -> tuple:
        """Values shared by the params that share a ``step`` tensor (``step`` is already advanced)."""
        return ()

    @staticmethod
    def _leaf(opts: tuple, p, g, state: tuple, shared: tuple, hypers: tuple) -> tuple:
        """One param's update as jax math in torch's order: ``(new p, *new state)``."""
        raise NotImplementedError

    def _leaf_state(self, params: list[Tensor], sts: list[dict], spec: tuple) -> list[list[Tensor]]:
        """Per ``(name, init)`` of ``spec``, the params' state tensors (``sts`` are their state
        dicts); missing ones are created."""
        cols = []
        for name, init in spec:
            try:
                cols.append([st[name] for st in sts])
            except KeyError:
                cols.append([st[name] if name in st else st.setdefault(name, init(p)) for p, st in zip(params, sts)])
        return cols

    def _group_update(
        self, group: ParamGroup, params: list[Tensor], tail: bool = False, skip_if: Tensor | None = None
    ) -> tuple | None:
        """The update of ``params`` (those of ``group`` with a grad) as ``(targets, new values)``
        for ``step`` to write; ``tail``: recorded as lazy mode's ``run_update`` instead (the
        last node before the flush, which writes the results itself), returning None.
        ``skip_if``: see ``_step`` (a kernel of its own, which takes it as a last input)."""
        cls = type(self)
        opts = self._options(group)
        spec = self._state_spec(opts)
        sts = list(map(self.state.__getitem__, params)) if cls._counts_steps or spec else []
        steps, step_idx = self._shared_steps(group, params, sts) if cls._counts_steps else ([], ())
        fresh = spec and spec[0][0] not in sts[0] and len(params) == len(group["params"])
        if fresh:
            fresh = [name for name, _ in spec if all(name not in st for st in sts)]
        cols = self._leaf_state(params, sts, spec)
        if fresh:  # state born now for the whole group: hold small columns flat (_statepack)
            _statepack.maybe_pack(params, sts, [name for name, _ in spec], cols)
        # per column: None (one input per param) or its pack's (layout, members), one input
        packed = tuple(map(_statepack.column_spec, cols))
        col_in = [col if pk is None else [col[0]._pack] for col, pk in zip(cols, packed)]
        views = any(pk is None and _statepack.has_views(col) for col, pk in zip(cols, packed))
        hypers = []
        for h in cls._hyper_keys:
            v = group.raw(h)
            if type(v) is tuple:
                hypers += v
            else:
                hypers.append(v)
        m = flags.mode
        if m is None or m.is_lazy:  # (reads that no mode needs to hear of: the hot path)
            vals = [t._value for t in chain(params, [p._grad for p in params], *col_in, steps, hypers)]
        else:
            vals = [t._read() for t in chain(params, [p.grad for p in params], *col_in, steps, hypers)]
        n, ns, k = len(params), len(cols), len(steps)
        key = (cls._rule_name, cls._leaf, n, ns, k, step_idx, opts, packed, cls._elementwise)
        if skip_if is not None:
            key += ("skip_if",)
            vals.append(skip_if._read())
        kern = _kernels.get(key)
        if kern is None:
            body = _rule_kernel(cls._leaf, cls._per_step, opts, n, ns, k, step_idx, packed, cls._elementwise)
            if skip_if is not None:
                body = _skippable(body, n, [n if pk is None else 1 for pk in packed], k)
            kern = _kernels[key] = Kernel(body, key[0])
        targets = list(chain(steps, params, *col_in))
        if tail and not views:
            m.run_update(kern, vals, targets)
            return None
        return targets, run_kernel(kern, vals)

    def register_step_pre_hook(self, hook):
        from ..nn._module import RemovableHandle

        h = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[h.id] = hook
        return h

    def register_step_post_hook(self, hook):
        from ..nn._module import RemovableHandle

        h = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[h.id] = hook
        return h

    # -- helpers for subclasses --------------------------------------------------------
    def _shared_steps(
        self, group: ParamGroup, params: list[Tensor], sts: list[dict]
    ) -> tuple[list[Tensor], tuple[int, ...]]:
        """The distinct ``step`` tensors of ``params`` (whose state dicts are ``sts``) and, per
        param, the index of its step.

        Params without state get one new shared step tensor. A step tensor shared
        with a param that is skipped this time is split off, so every param keeps
        torch's per-parameter count.
        """
        # Fast path, every step of a plain loop: the whole group updates and shares one step.
        if len(params) == len(group["params"]):
            first = None
            for st in sts:
                s = st.get("step")
                if s is None or (first is not None and s is not first):
                    break
                first = s
            else:
                return [first], (0,) * len(params)
        in_call = {id(p) for p in params}
        users: dict[int, list] = {}
        for p in group["params"]:
            st = self.state.get(p)
            if st and "step" in st:
                users.setdefault(id(st["step"]), []).append(p)
        fresh = None
        steps: list[Tensor] = []
        index: dict[int, int] = {}
        per_param = []
        split: dict[int, Tensor] = {}
        for st in sts:
            s = st.get("step")
            if s is None:
                if fresh is None:
                    fresh = _concrete_scalar(0.0)
                s = st["step"] = fresh
            elif any(id(u) not in in_call for u in users.get(id(s), ())):
                if id(s) not in split:
                    split[id(s)] = Tensor._make(s._read())
                s = st["step"] = split[id(s)]
            k = index.get(id(s))
            if k is None:
                k = index[id(s)] = len(steps)
                steps.append(s)
            per_param.append(k)
        return steps, tuple(per_param)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """torch's format: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index...]}]}``."""
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for g in self.param_groups:
            for i, p in enumerate(g["params"], start):
                mapping.setdefault(id(p), i)
            packed = {k: g.host_value(k) for k in g if k != "params"}
            packed["params"] = [mapping[id(p)] for p in g["params"]]
            start += len(g["params"])
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state.get(p)
                if not st:
                    continue
                # the live tensors, as torch's (a dict held while training goes on shows the
                # new values; a param's ``step`` is its group's shared counter)
                state[mapping[id(p)]] = dict(st)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = self.param_groups
        saved_groups = list(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups), chain.from_iterable(g["params"] for g in groups)
            )
        )
        self.state = defaultdict(dict)
        # Params of one group with the same count share one step tensor, as a fresh run's
        # do; never across groups, where each group's update would advance it again.
        group_of = {id(p): gi for gi, g in enumerate(groups) for p in g["params"]}
        step_cache: dict = {}
        for k, v in state_dict["state"].items():
            if k not in id_map:
                self.state[k] = v
                continue
            p = id_map[k]
            st = {}
            for name, val in v.items():
                if val is None or not _tensorlike(val):
                    st[name] = val
                    continue
                arr = _to_array(val)
                if name == "step":
                    key = (group_of.get(id(p)), float(np.asarray(arr).reshape(())))
                    if key not in step_cache:
                        step_cache[key] = _concrete_scalar(key[1])
                    st[name] = step_cache[key]
                else:
                    if jnp.issubdtype(arr.dtype, jnp.floating) and arr.dtype != p.dtype:
                        arr = arr.astype(p.dtype)
                    st[name] = Tensor._make(arr)
            self.state[p] = st
        for g, s in zip(groups, saved_groups):
            for k, v in s.items():
                if k in ("params", "param_names"):
                    continue
                if isinstance(v, list):
                    v = tuple(v)
                g[k] = v
        self._pack_loaded_state()
        bump_state()

    def _pack_loaded_state(self) -> None:
        """Hold loaded state flat where a fresh run would (see _statepack): a resumed run
        then steps with the same kernels, bit for bit, as the one it continues."""
        for group in self.param_groups:
            params = group["params"]
            spec = self._state_spec(self._options(group))
            sts = [self.state.get(p) for p in params]
            if not spec or not all(sts) or any(name not in st for st in sts for name, _ in spec):
                continue
            _statepack.maybe_pack(params, sts, [name for name, _ in spec], self._leaf_state(params, sts, spec))

    # ------------------------------------------------------------------ misc
    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group.host_value(key)}\n"
        return s + ")"


def _write(targets: list, values) -> None:
    """An update's results into its targets; a view of packed state (a column that is
    not one pack's, e.g. state born at different times) writes through into its pack."""
    plain = [(t, v) for t, v in zip(targets, values) if type(t) is not _statepack._PackedState]
    if len(plain) < len(targets):
        for t, v in zip(targets, values):
            if type(t) is _statepack._PackedState:
                t._assign(v)
    Tensor._assign_all([t for t, _ in plain], [v for _, v in plain])


def _rule_kernel(
    leaf, per_step, opts: tuple, n: int, ns: int, k: int, step_idx: tuple, packed: tuple = (), elementwise=False
):
    """The pure body of a group's step: ``(params, grads, state columns, steps, hypers) ->
    (steps + 1, params', state columns')``, ``leaf`` applied to each param. A column whose
    ``packed`` entry is not None is one input and one output: its pack (see _statepack).

    An ``elementwise`` rule whose state columns are all packs of exactly these params
    (shaped like them) runs ONCE on the concatenations: the new state is then an elementwise
    function of the old, which XLA writes in place into the donated pack (slicing each
    member out and concatenating again costs a copy of the pack per step)."""
    packed = packed or (None,) * ns
    sizes = [n if pk is None else 1 for pk in packed]
    s0 = 2 * n + sum(sizes)
    whole = tuple(range(n))
    flat = elementwise and ns > 0 and k == 1 and all(pk is not None and pk[1] == whole for pk in packed)

    def flat_step(vals):
        ps, gs, states = vals[:n], vals[n : 2 * n], vals[2 * n : s0]
        layout = packed[0][0]
        dt = states[0].dtype
        if any(
            tuple(p.shape) != shape or p.dtype != dt or g.dtype != dt for p, g, (_, shape) in zip(ps, gs, layout)
        ) or any(pk[0] != layout or x.dtype != dt for pk, x in zip(packed, states)):
            return None  # (state shaped unlike its param, mixed dtypes: one update per param)
        hypers = vals[s0 + k :]
        new_step = vals[s0] + 1
        cat = lambda xs: jnp.concatenate([jnp.ravel(x) for x in xs])  # noqa: E731
        out = _leaf_of(leaf, opts, cat(ps), cat(gs), tuple(states), per_step(opts, new_step, hypers), hypers)
        new_ps = [jax.lax.slice(out[0], (off,), (off + math.prod(sh),)).reshape(sh) for off, sh in layout]
        return (new_step, *new_ps, *out[1:])

    def step(*vals):
        if flat:
            res = flat_step(vals)
            if res is not None:
                return res
        cols = [vals[:n], vals[n : 2 * n]]
        at = 2 * n
        for size, pk in zip(sizes, packed):
            part = vals[at : at + size]
            cols.append(part if pk is None else _statepack.unpack_in(part[0], pk))
            at += size
        hypers = vals[s0 + k :]
        new_steps = [s + 1 for s in vals[s0 : s0 + k]]
        shared = [per_step(opts, s, hypers) for s in new_steps]
        outs = [
            _leaf_of(
                leaf,
                opts,
                cols[0][i],
                cols[1][i],
                tuple(c[i] for c in cols[2:]),
                shared[step_idx[i]] if k else (),
                hypers,
            )
            for i in range(n)
        ]
        new_cols = []
        at = 2 * n
        for c in range(1 + ns):
            col = [o[c] for o in outs]
            pk = packed[c - 1] if c else None
            if pk is not None:
                col = [_statepack.pack_out(vals[at], pk, col)]
            if c:
                at += sizes[c - 1]
            new_cols += col
        return tuple(new_steps) + tuple(new_cols)

    return step


def _leaf_of(leaf, opts: tuple, p, g, state: tuple, shared: tuple, hypers: tuple) -> tuple:
    """``leaf`` on one param; a complex one is updated as torch does, as its real view (a
    trailing axis of (real, imag)), with its complex state viewed the same way."""
    if not jnp.iscomplexobj(p):
        out = leaf(opts, p, g, state, shared, hypers)
        # In place, as torch's updates are: each result keeps its tensor's dtype (a bfloat16
        # model stepped with float32 state stays bfloat16)
        return tuple(o if o.dtype == t.dtype else o.astype(t.dtype) for o, t in zip(out, (p, *state)))
    cx = [jnp.iscomplexobj(s) for s in state]
    out = leaf(
        opts, _as_real(p), _as_real(g), tuple(_as_real(s) if c else s for s, c in zip(state, cx)), shared, hypers
    )
    return (_as_complex(out[0]), *[_as_complex(o) if c else o for o, c in zip(out[1:], cx)])


def _as_real(x):
    return jnp.stack([x.real, x.imag], -1)


def _as_complex(x):
    return jax.lax.complex(x[..., 0], x[..., 1])


def _skippable(body, n: int, sizes: list, k: int):
    """``body`` (a ``_rule_kernel``) with one more input, ``skip``: where it is nonzero each
    output is its target's old value (the update computed and discarded; no host read).
    Outputs are ``(steps, params, *state columns)``, the inputs ``(params, grads, *state
    columns, steps, hypers)``; ``sizes``: each state column's number of inputs (and outputs)."""
    s0 = 2 * n + sum(sizes)

    def step(*vals):
        skip = vals[-1] != 0
        vals = vals[:-1]
        new = body(*vals)
        old = (*vals[s0 : s0 + k], *vals[:n], *vals[2 * n : s0])
        return tuple(jnp.where(skip, o.astype(x.dtype), x) for o, x in zip(old, new))

    return step


def _tensorlike(v) -> bool:
    if isinstance(v, (Tensor, np.ndarray, jax.Array)):
        return True
    mod = type(v).__module__ or ""
    return mod.startswith("torch") and hasattr(v, "detach")


def _to_array(v):
    if isinstance(v, Tensor):
        return v._read()
    mod = type(v).__module__ or ""
    if mod.startswith("torch"):
        v = v.detach().cpu().numpy()
    with jax.ensure_compile_time_eval():
        return jnp.asarray(v)
