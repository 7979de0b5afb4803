"""``nn.Module``: parameters, buffers and submodules registered by attribute assignment.

The semantics follow ``torch.nn.Module``: three ordered dicts (``_parameters``,
``_buffers``, ``_modules``) filled by ``__setattr__``; ``state_dict`` keys are the
dotted attribute paths; ``load_state_dict`` copies values *into* the existing
Parameters and buffers (``Tensor._assign``), so optimizers holding them keep
working. A module's ``training`` flag is Python structure a compiled step bakes
in, so changing it bumps ``_state.structure_epoch``; ``__call__`` tells an
active capture which module ran (``note_module``).
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from .._autograd import no_grad
from .._state import bump_state, bump_structure, flags
from .._tensor import Device, Parameter, Size, Tensor, _device_array, _set_rg
from . import _backward_hooks, _state_dict_hooks
from ._buffer import Buffer

__all__ = ["Module", "RemovableHandle"]

_EXTRA_STATE = "_extra_state"  # torch's state_dict key for get_extra_state()


def typename(obj) -> str:
    """torch.typename: ``torch.FloatTensor`` for tensors, the qualified type name otherwise."""
    if isinstance(obj, Tensor):
        return obj.type()
    t = obj if isinstance(obj, type) else type(obj)
    module = getattr(t, "__module__", "") or ""
    qual = getattr(t, "__qualname__", t.__name__)
    return qual if module in ("", "builtins") else f"{module}.{qual}"


class RemovableHandle:
    """The handle ``register_*_hook`` returns: ``remove()`` unregisters (also as a context manager)."""

    _ids = itertools.count()

    def __init__(self, *dicts: dict) -> None:
        self.id = next(RemovableHandle._ids)
        self._refs = [weakref.ref(d) for d in dicts]

    def remove(self) -> None:
        for r in self._refs:
            d = r()
            if d is not None and self.id in d:
                del d[self.id]
                bump_structure()  # (compiled steps key on their modules' hooks: _compile._module_key)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _checkpoint_value(v, key: str):
    """A state-dict entry (eagerjax Tensor, numpy array, jax array or torch tensor) as a jax array."""
    if isinstance(v, Tensor):
        return v._read()
    mod = type(v).__module__ or ""
    if mod.startswith("torch") and hasattr(v, "detach"):
        t = v.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            return jnp.asarray(t.float().numpy()).astype(jnp.bfloat16)
        return jnp.asarray(t.numpy())
    if isinstance(v, (np.ndarray, np.generic, jax.Array)):
        return jnp.asarray(v)
    raise TypeError(
        f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like object from '
        f"checkpoint but received {type(v)}"
    )


def _forward_unimplemented(self, *input: Any) -> None:
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')


def _zero_grads(params, set_to_none: bool) -> None:
    """``zero_grad`` of a Module or an Optimizer: drop each ``.grad`` (``set_to_none``) or give it
    a new zero tensor. (torch zeroes the old one in place; here a ``.grad`` someone holds keeps
    its values in every mode, as a compiled step, which writes new grads, must leave it.)"""
    for p in params:
        g = p.grad
        if g is None:
            continue
        p.grad = None if set_to_none else Tensor._make(_device_array(np.zeros(tuple(g.shape), g.dtype)))


# A module's plain Python attributes (``training``, ``p``, ``eps``, a temperature) are baked
# into a compiled step's program, which keys its cache on them (``_compile._module_key``).
_PLAIN = (bool, int, float, complex, str, type(None))
_UNSET = object()
# Per module, the plain attributes a step's trace assigned: the step's own side effects (a
# counter its forward bumps), which its program does not repeat; compiled steps do not key
# on them (else every call would retrace).
traced_writes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plain_changed(module, name: str) -> None:
    mode = flags.mode
    if mode is not None and not getattr(mode, "is_lazy", False):
        traced_writes.setdefault(module, set()).add(name)
    else:
        bump_structure()


class Module:
    """Base class for all neural network modules (``torch.nn.Module``)."""

    dump_patches = False
    _version = 1
    training: bool
    call_super_init = False

    forward: Callable[..., Any] = _forward_unimplemented

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'"
                if kwargs
                else f"{type(self).__name__}.__init__() takes 1 positional argument but {len(args) + 1} were given"
            )
        s = object.__setattr__
        s(self, "training", True)
        s(self, "_parameters", {})
        s(self, "_buffers", {})
        s(self, "_non_persistent_buffers_set", set())
        s(self, "_modules", {})
        s(self, "_forward_pre_hooks", OrderedDict())
        s(self, "_forward_pre_hooks_with_kwargs", OrderedDict())
        s(self, "_forward_hooks", OrderedDict())
        s(self, "_forward_hooks_with_kwargs", OrderedDict())
        s(self, "_forward_hooks_always_called", OrderedDict())
        s(self, "_backward_pre_hooks", OrderedDict())
        s(self, "_backward_hooks", OrderedDict())
        s(self, "_is_full_backward_hook", None)
        for k in _state_dict_hooks.HOOK_DICTS:
            s(self, k, OrderedDict())

    # ------------------------------------------------------------------ registration
    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{typename(tensor)}' object to buffer '{name}' (torch Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        bump_state()

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{typename(param)}' object to parameter '{name}' (torch.nn.Parameter or None required)"
            )
        elif param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                "the forward() method."
            )
        else:
            self._parameters[name] = param
        bump_state()

    def add_module(self, name: str, module: Module | None) -> None:
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module
        bump_state()

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__

        def remove_from(*dicts_or_sets):
            for ds in dicts_or_sets:
                if name in ds:
                    if isinstance(ds, dict):
                        del ds[name]
                    else:
                        ds.discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as parameter '{name}' (torch.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            modules[name] = value
            bump_state()
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as child module '{name}' (torch.nn.Module or None expected)"
                )
            modules[name] = value
            bump_state()
            return
        if isinstance(value, Buffer):  # `self.x = nn.Buffer(t, persistent=...)` registers it (torch >= 2.5)
            self.register_buffer(name, value, value.persistent)
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{typename(value)}' as buffer '{name}' (torch.Tensor or None expected)")
            old = buffers[name]
            if (
                isinstance(old, Tensor)
                and isinstance(value, Tensor)
                and old is not value
                and tuple(old.shape) == tuple(value.shape)
                and old.dtype == value.dtype
            ):
                # `self.buf = new_value` updates the registered buffer in place (its
                # graph links included): the buffer object is the state slot that
                # compiled steps, optimizers and checkpoints hold, in every mode alike.
                old._assign(value._read())
                old._node, old._idx = value._node, value._idx
                _set_rg(old, value._rg)
                return
            buffers[name] = value
            bump_state()
            return
        if type(value) in _PLAIN or type(d.get(name)) in _PLAIN:
            old = d.get(name, _UNSET)
            if type(old) is not type(value) or old != value:
                _plain_changed(self, name)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "_parameters" in d:
            p = d["_parameters"]
            if name in p:
                return p[name]
        if "_buffers" in d:
            b = d["_buffers"]
            if name in b:
                return b[name]
        if "_modules" in d:
            m = d["_modules"]
            if name in m:
                return m[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for k in ("_parameters", "_buffers", "_modules"):
            dd = self.__dict__.get(k)
            if dd is not None and name in dd:
                del dd[name]
                self._non_persistent_buffers_set.discard(name)
                bump_state()
                return
        object.__delattr__(self, name)

    def __dir__(self):
        attrs = list(object.__dir__(self))
        keys = attrs + list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    # ------------------------------------------------------------------ calling
    def _call_impl(self, *args, **kwargs):
        m = flags.mode
        if m is not None:
            m.note_module(self)
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        return _backward_hooks.call_hooked(self, args, kwargs)

    __call__: Callable[..., Any] = _call_impl

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        bump_structure()  # (compiled steps key on their modules' hooks: _compile._module_key)
        return handle

    def register_forward_hook(
        self, hook, *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False
    ) -> RemovableHandle:
        handle = RemovableHandle(
            self._forward_hooks, self._forward_hooks_with_kwargs, self._forward_hooks_always_called
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        bump_structure()  # (compiled steps key on their modules' hooks: _compile._module_key)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` before the gradients w.r.t. the inputs are computed; a
        returned tuple replaces ``grad_output`` (see ``_backward_hooks``)."""
        return _backward_hooks.register_backward_pre_hook(self, hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once the gradients w.r.t. the positional
        tensor inputs are computed; a returned tuple replaces ``grad_input``."""
        return _backward_hooks.register_backward_hook(self, hook, prepend, full=True)

    def register_backward_hook(self, hook) -> RemovableHandle:
        """torch's deprecated backward hook: here it behaves as ``register_full_backward_hook``."""
        return _backward_hooks.register_backward_hook(self, hook, False, full=False)

    # ------------------------------------------------------------------ iteration
    def _named_members(self, get_members_fn, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members_fn(module):
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in memo:
                        continue
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def __hash__(self) -> int:
        return id(self)

    def get_submodule(self, target: str) -> Module:
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `" + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Set the submodule at the dotted path ``target`` (its parent must exist); with ``strict``
        only an existing submodule may be replaced."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if hasattr(parent, name):
            if not isinstance(getattr(parent, name), Module):
                raise AttributeError("`" + name + "` is not an nn.Module")
        elif strict:
            raise AttributeError(parent._get_name() + " has no attribute `" + name + "`")
        setattr(parent, name, module)

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        p = getattr(mod, name)
        if not isinstance(p, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        b = getattr(mod, name)
        if name not in mod._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return b

    # ------------------------------------------------------------------ state dict
    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        # Detached aliases (``.data``), as torch's share storage: ``sd[k].copy_(v)`` writes
        # the module's tensor, and the entries follow training (deepcopy to keep a snapshot).
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.data
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def get_extra_state(self) -> Any:
        """Extra state for ``state_dict()`` (stored under ``_extra_state``) when a subclass
        overrides this and ``set_extra_state``."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. Please file an issue "
            "at https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml to report this bug."
        )

    def set_extra_state(self, state: Any) -> None:
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. Please file an issue "
            "at https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml to report this bug."
        )

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name, as detached Tensors (torch's keys and order)."""
        if args:
            destination = args[0] if len(args) > 0 else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        meta = getattr(destination, "_metadata", None)
        if meta is not None:
            meta[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        if self._state_dict_hooks:
            destination = _state_dict_hooks.run_state_dict_post_hooks(self, destination, prefix, local_metadata)
        return destination

    register_state_dict_pre_hook = _state_dict_hooks.register_state_dict_pre_hook
    register_state_dict_post_hook = _state_dict_hooks.register_state_dict_post_hook
    _register_state_dict_hook = _state_dict_hooks.register_state_dict_hook_private
    register_load_state_dict_pre_hook = _state_dict_hooks.register_load_state_dict_pre_hook
    register_load_state_dict_post_hook = _state_dict_hooks.register_load_state_dict_post_hook
    _register_load_state_dict_pre_hook = _state_dict_hooks.register_load_state_dict_pre_hook_private

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items()) if v is not None}
        assign = bool(local_metadata.get("assign_to_params_buffers", False))
        for name, t in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            try:
                value = _checkpoint_value(state_dict[key], key)
            except TypeError as e:
                error_msgs.append(str(e))
                continue
            if len(t.shape) == 0 and tuple(value.shape) == (1,):
                value = value.reshape(())  # torch's rule for checkpoints of old 0-d parameters
            if tuple(value.shape) != tuple(t.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {Size(value.shape)!r} from checkpoint, "
                    f"the shape in current model is {Size(t.shape)!r}."
                )
                continue
            if assign:
                # the checkpoint's tensor (its dtype) replaces the module's, keeping requires_grad
                new = Parameter._make(value, t.requires_grad) if name in self._parameters else Tensor._make(value)
                (self._parameters if name in self._parameters else self._buffers)[name] = new
                bump_state()
                continue
            if value.dtype != t.dtype:
                with jax.ensure_compile_time_eval():
                    value = value.astype(t.dtype)
            with no_grad():
                t._assign(value)
        extra = prefix + _EXTRA_STATE
        has_extra = type(self).set_extra_state is not Module.set_extra_state
        if has_extra:
            if extra in state_dict:
                self.set_extra_state(state_dict[extra])
            elif strict:
                missing_keys.append(extra)
        if strict:
            for key in state_dict.keys():
                if not key.startswith(prefix):
                    continue
                parts = key[len(prefix) :].split(".", 1)
                if len(parts) > 1:
                    if parts[0] not in self._modules:
                        unexpected_keys.append(key)
                elif parts[0] not in local and not (has_extra and parts[0] == _EXTRA_STATE):
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Copy values into this module's parameters and buffers (identity is preserved).

        Values may be eagerjax Tensors, numpy/jax arrays or torch tensors. Returns
        ``(missing_keys, unexpected_keys)``; with ``strict`` they raise torch's RuntimeError.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata

        def load(module: Module, local_sd, prefix: str = "") -> None:
            local_meta = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                local_meta = {**local_meta, "assign_to_params_buffers": True}
            module._load_from_state_dict(local_sd, prefix, local_meta, True, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    # each child gets its own dict of its subtree's keys (torch's), which its
                    # load pre-hooks see and may change
                    sub = prefix + name + "."
                    load(child, {k: v for k, v in local_sd.items() if k.startswith(sub)}, sub)
            if module._load_state_dict_post_hooks:
                _state_dict_hooks.run_load_post_hooks(module, missing, unexpected)

        load(self, state_dict)
        if strict:
            if unexpected:
                errors.insert(
                    0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected))
                )
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(type(self).__name__, "\n\t".join(errors))
            )
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        if self.training != mode:
            bump_structure()
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        _zero_grads(self.parameters(), set_to_none)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ dtype / device
    def _cast_floating(self, dtype) -> Module:
        with no_grad():
            for t in itertools.chain(self.parameters(), self.buffers()):
                if _dtypes.is_floating(t.dtype) and t.dtype != dtype:
                    t._assign(t._cast(dtype)._read())
                    g = t._grad
                    if g is not None and g.dtype != dtype:
                        g._assign(g._cast(dtype)._read())
        bump_structure()
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(dtype)``, ``to(device)``, ``to(tensor)``: floating parameters and buffers are cast in place."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() received an invalid combination of arguments: {sorted(kwargs)}")
        for a in args + ((device,) if isinstance(device, str) else ()):
            if isinstance(a, str):
                Device(a)  # a device name (checked; nothing moves)
            elif isinstance(a, Tensor):
                dtype = a.dtype
            elif a is None or isinstance(a, (Device, int)):
                continue  # a device (or non_blocking passed positionally)
            else:
                dtype = a
        if dtype is not None:
            dt = _dtypes.to_dtype(dtype)
            if not (_dtypes.is_floating(dt) or _dtypes.is_complex(dt)):
                raise TypeError(
                    f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dt}"
                )
            self._cast_floating(dt)
        return self

    def to_empty(self, *, device=None, recurse: bool = True) -> Module:
        """Give every parameter and buffer an uninitialized value (zeros here) of its shape and
        dtype, as torch's ``_apply(empty_like)``: a Parameter keeps its object (optimizers holding
        it keep working) and its ``requires_grad``, a ``.grad`` likewise, a buffer is a new tensor."""
        from .parameter import _use_error, is_lazy

        if isinstance(device, str):
            Device(device)  # a device name (checked; nothing moves)
        owners = list(self.modules()) if recurse else [self]
        params = {id(t): t for m in owners for p in m._parameters.values() if p is not None for t in (p, p._grad)}
        params.pop(id(None), None)
        if any(is_lazy(t) for t in itertools.chain(params.values(), *(m._buffers.values() for m in owners))):
            raise _use_error("empty_like")
        zeros = [_device_array(np.zeros(tuple(t.shape), t.dtype)) for t in params.values()]
        Tensor._assign_all(list(params.values()), zeros)
        for m in owners:
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = Tensor._make(_device_array(np.zeros(tuple(b.shape), b.dtype)))
                    bump_state()
        return self

    def float(self) -> Module:
        return self._cast_floating(_dtypes.float32)

    def double(self) -> Module:
        return self._cast_floating(_dtypes.float64)

    def half(self) -> Module:
        return self._cast_floating(_dtypes.float16)

    def bfloat16(self) -> Module:
        return self._cast_floating(_dtypes.bfloat16)

    def type(self, dst_type) -> Module:
        """Cast every parameter and buffer (integer ones too, as torch does) and every ``.grad``
        to ``dst_type`` (a dtype or a name such as ``"torch.DoubleTensor"``), in place."""
        with no_grad():
            for t in itertools.chain(self.parameters(), self.buffers()):
                for x in (t, t._grad):
                    if x is not None:
                        new = x.type(dst_type)
                        if new.dtype != x.dtype:
                            x._assign(new._read())
        bump_structure()
        return self

    def cpu(self) -> Module:
        return self

    def cuda(self, device=None) -> Module:
        return self

    def share_memory(self) -> Module:
        return self

    # ------------------------------------------------------------------ repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for key, module in self._modules.items():
            child_lines.append("(" + key + "): " + _addindent(repr(module), 2))
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for k in (
            "_forward_pre_hooks",
            "_forward_pre_hooks_with_kwargs",
            "_forward_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_backward_pre_hooks",
            "_backward_hooks",
            *_state_dict_hooks.HOOK_DICTS,
        ):
            if k not in self.__dict__:
                object.__setattr__(self, k, OrderedDict())
        if "_is_full_backward_hook" not in self.__dict__:
            object.__setattr__(self, "_is_full_backward_hook", None)
        if "_non_persistent_buffers_set" not in self.__dict__:
            object.__setattr__(self, "_non_persistent_buffers_set", set())
