"""``ej.save`` / ``ej.load``: checkpoints in a small, documented, non-pickle format.

File layout (all integers little-endian)::

    8 bytes   magic  b"\\x89EJCKPT\\n"
    4 bytes   format version (uint32), currently 1
    8 bytes   payload length in bytes (uint64)
    4 bytes   CRC-32 of the payload (uint32)
    payload   one msgpack document

The payload is the saved object as msgpack: ``None``, bools, ints, floats,
strings, bytes, lists and dicts (any msgpack-able keys: optimizer state dicts
use int keys) are native; everything else is a msgpack extension whose data is
itself msgpack:

    1  array      [kind, dtype name, shape, requires_grad, raw little-endian bytes];
                  kind "T" Tensor, "P" Parameter, "N" numpy array, "S" numpy scalar,
                  "J" jax Array (bfloat16 included: dtype name "bfloat16")
    2  tuple      [items...]
    3  dict       [[key, value]...] with a type tag: "OrderedDict" (and its torch
                  ``_metadata``), "Counter", "dict"
    4  dtype      dtype name
    5  set        [tag, [items...]]; tag "set" or "frozenset"
    6  complex    [real, imag] (Python complex)
    7  int        decimal string (a Python int outside msgpack's 64-bit range)
    8  device     [type, index or None] (``ej.device``)
    9  Size       [dims...] (``ej.Size``; other tuples are extension 2)
    10 bytearray  raw bytes (``bytes`` are native msgpack bin)

Extensions 5-10 were added without a format version change: files without them read
as before, and a reader that predates them names the unknown extension.
Nothing in a file can execute code on load, so ``weights_only`` (torch's safety
switch) is accepted and always effectively True. Tensors are saved by value:
two references to one tensor load as two tensors.

Writes are atomic: the bytes go to a temporary file in the target's
directory, are flushed and fsync'ed, and the temporary replaces the target
with ``os.replace``; a failure at any point leaves the previous file intact and
removes the temporary. Reading checks magic, version, length and checksum and
names the file and the problem (a text file, a torch ``.pt`` zip archive, a
truncated or corrupted checkpoint) in a ``RuntimeError``.
"""

from __future__ import annotations

import collections
import os
import struct
import tempfile
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import msgpack
import numpy as np

from ._tensor import Device, Parameter, Size, Tensor

__all__ = ["save", "load"]

MAGIC = b"\x89EJCKPT\n"
VERSION = 1
_HEADER = struct.Struct("<8sIQI")

_EXT_ARRAY, _EXT_TUPLE, _EXT_DICT, _EXT_DTYPE = 1, 2, 3, 4
_EXT_SET, _EXT_COMPLEX, _EXT_INT, _EXT_DEVICE, _EXT_SIZE, _EXT_BYTEARRAY = 5, 6, 7, 8, 9, 10
_INT_RANGE = (-(1 << 63), 1 << 64)  # what msgpack packs natively


# ------------------------------------------------------------------------------ encode
def _array_record(kind: str, arr: np.ndarray, requires_grad: bool = False) -> list:
    arr = np.asarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if arr.dtype.kind in "OUSV" and arr.dtype.name != "bfloat16":
        raise TypeError(f"ej.save: cannot save an array of dtype {arr.dtype}")
    return [kind, arr.dtype.name, list(arr.shape), bool(requires_grad), np.ascontiguousarray(arr).tobytes()]


def _pack(obj) -> bytes:
    return msgpack.packb(_prepare(obj), default=_default, strict_types=True, use_bin_type=True)


def _prepare(obj):
    """``obj`` with the bytearrays inside native lists/dicts made extensions (msgpack packs a
    bytearray as bin itself, which would load as bytes); ``obj`` itself when there is none.
    Other containers reach ``_default``, which packs their items through ``_pack`` again."""
    t = type(obj)
    if t is bytearray:
        return msgpack.ExtType(_EXT_BYTEARRAY, bytes(obj))
    if t is list:
        new = [_prepare(x) for x in obj]
        return obj if all(a is b for a, b in zip(new, obj)) else new
    if t is dict:
        items = [(_prepare(k), _prepare(v)) for k, v in obj.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, obj.items())):
            return obj
        return msgpack.ExtType(_EXT_DICT, _pack(["dict", [list(kv) for kv in items], None]))
    return obj


def _default(obj):
    """msgpack hook for everything that is not a plain msgpack type."""
    if isinstance(obj, Tensor):
        kind = "P" if isinstance(obj, Parameter) else "T"
        value = np.asarray(obj._concrete("ej.save"))
        return msgpack.ExtType(_EXT_ARRAY, _pack(_array_record(kind, value, obj.requires_grad)))
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(_EXT_ARRAY, _pack(_array_record("N", obj)))
    if isinstance(obj, np.generic):
        if isinstance(obj, (np.str_, np.bytes_)):
            return obj.item()
        return msgpack.ExtType(_EXT_ARRAY, _pack(_array_record("S", np.asarray(obj))))
    if isinstance(obj, jax.Array):
        return msgpack.ExtType(_EXT_ARRAY, _pack(_array_record("J", np.asarray(obj))))
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):  # int subclasses (IntEnum, ...), ints beyond 64 bits
        if not _INT_RANGE[0] <= obj < _INT_RANGE[1]:
            return msgpack.ExtType(_EXT_INT, str(int(obj)).encode("ascii"))
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, complex):
        return msgpack.ExtType(_EXT_COMPLEX, _pack([obj.real, obj.imag]))
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytes, bytearray)):  # (subclasses)
        return msgpack.ExtType(_EXT_BYTEARRAY, bytes(obj)) if isinstance(obj, bytearray) else bytes(obj)
    if isinstance(obj, Size):
        return msgpack.ExtType(_EXT_SIZE, _pack([int(d) for d in obj]))
    if isinstance(obj, (set, frozenset)):
        tag = "frozenset" if isinstance(obj, frozenset) else "set"
        return msgpack.ExtType(_EXT_SET, _pack([tag, list(obj)]))
    if isinstance(obj, Device):
        return msgpack.ExtType(_EXT_DEVICE, _pack([obj.type, obj.index]))
    if isinstance(obj, tuple):  # tuples, namedtuples
        return msgpack.ExtType(_EXT_TUPLE, _pack(list(obj)))
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, dict):
        if isinstance(obj, collections.OrderedDict):
            meta = getattr(obj, "_metadata", None)
            payload = ["OrderedDict", [[k, v] for k, v in obj.items()], None if meta is None else dict(meta)]
        elif isinstance(obj, collections.Counter):
            payload = ["Counter", [[k, v] for k, v in obj.items()], None]
        else:
            payload = ["dict", [[k, v] for k, v in obj.items()], None]
        return msgpack.ExtType(_EXT_DICT, _pack(payload))
    if isinstance(obj, np.dtype):
        return msgpack.ExtType(_EXT_DTYPE, _pack(obj.name))
    hint = ""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        # torch.save(model) pickles the object (code included); checkpoints here never do
        hint = f"; save its state_dict() instead and load it into a new {type(obj).__name__} with load_state_dict()"
    raise TypeError(
        f"ej.save: cannot save an object of type {type(obj).__module__}.{type(obj).__qualname__} "
        f"(checkpoints hold tensors, arrays, numbers, strings, bytes, devices, None and dicts/lists/tuples/sets "
        f"of them){hint}"
    )


def _encode(obj) -> bytes:
    payload = _pack(obj)
    return _HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload)) + payload


# ------------------------------------------------------------------------------ decode
def _unpack(data: bytes):
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False, use_list=True)


def _ext_hook(code: int, data: bytes):
    if code == _EXT_ARRAY:
        kind, dtype_name, shape, requires_grad, raw = _unpack(data)
        dt = jnp.dtype(dtype_name)
        arr = np.frombuffer(raw, dtype=dt).reshape(shape)
        if kind == "N":
            return arr.copy()
        if kind == "S":
            return arr[()]
        with jax.ensure_compile_time_eval():
            value = jnp.asarray(arr)
        if kind == "J":
            return value
        if kind == "P":
            return Parameter(Tensor._make(value), requires_grad)
        t = Tensor._make(value)
        if requires_grad:
            t.requires_grad_(True)
        return t
    if code == _EXT_TUPLE:
        return tuple(_unpack(data))
    if code == _EXT_DICT:
        tag, items, meta = _unpack(data)
        if tag == "OrderedDict":
            out = collections.OrderedDict((k, v) for k, v in items)
            if meta is not None:
                out._metadata = collections.OrderedDict(meta)
            return out
        if tag == "Counter":
            return collections.Counter({k: v for k, v in items})
        return {k: v for k, v in items}
    if code == _EXT_DTYPE:
        return np.dtype(jnp.dtype(_unpack(data)))
    if code == _EXT_SET:
        tag, items = _unpack(data)
        return frozenset(items) if tag == "frozenset" else set(items)
    if code == _EXT_COMPLEX:
        re, im = _unpack(data)
        return complex(re, im)
    if code == _EXT_INT:
        return int(data.decode("ascii"))
    if code == _EXT_DEVICE:
        kind, index = _unpack(data)
        return Device(kind, index)
    if code == _EXT_SIZE:
        return Size(_unpack(data))
    if code == _EXT_BYTEARRAY:
        return bytearray(data)
    raise ValueError(f"unknown extension type {code}")


def _describe_foreign(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return (
            "it is a zip archive (a torch.save .pt/.pth file?), not an eagerjax checkpoint; load it with torch "
            "and pass the tensors (e.g. a state_dict) to load_state_dict, which accepts torch tensors"
        )
    if head[:1] == b"\x80":
        return "it looks like a Python pickle (an old-style torch.save file?), which ej.load never unpickles"
    if head.startswith(b"\x93NUMPY"):
        return "it is a numpy .npy file; read it with numpy.load"
    try:
        head.decode("utf-8")
        return f"it looks like a text file (starts with {head[:16]!r})"
    except UnicodeDecodeError:
        return f"it does not start with the eagerjax checkpoint header (starts with {head[:16]!r})"


def _decode(data: bytes, name: str):
    def fail(what: str):
        return RuntimeError(f"ej.load({name}): {what}")

    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        if data.startswith(MAGIC[: len(data)]) and len(data) < _HEADER.size:
            raise fail(f"the file is truncated ({len(data)} bytes, shorter than the checkpoint header)")
        if not data:
            raise fail("the file is empty")
        raise fail(_describe_foreign(data[:64]))
    _, version, length, crc = _HEADER.unpack_from(data)
    if version > VERSION:
        raise fail(
            f"checkpoint format version {version} was written by a newer eagerjax; this one reads up to {VERSION}"
        )
    payload = data[_HEADER.size :]
    if len(payload) < length:
        raise fail(f"the file is truncated: the header promises {length} payload bytes, found {len(payload)}")
    if len(payload) > length:
        raise fail(f"the file has {len(payload) - length} unexpected bytes after the checkpoint")
    if zlib.crc32(payload) != crc:
        raise fail("the checkpoint is corrupted (checksum mismatch)")
    try:
        return _unpack(payload)
    except Exception as e:  # a payload that passed the checksum but does not decode: a bug or a forgery
        raise fail(f"the checkpoint payload cannot be decoded ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------------------------ files
def _write_payload(fh, data: bytes) -> None:
    """Write ``data`` to the open file ``fh`` (in chunks, so huge checkpoints need no second copy)."""
    view = memoryview(data)
    step = 1 << 24
    for i in range(0, len(view), step):
        fh.write(view[i : i + step])


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def save(
    obj: Any,
    f,
    pickle_module=None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Save ``obj`` (tensors, module/optimizer/scheduler state dicts, nested containers) to ``f``.

    ``f`` is a path (written atomically: temp file in the same directory, fsync,
    ``os.replace``) or a binary file object (written in place). The pickle-related
    arguments of ``torch.save`` are accepted and ignored.
    """
    data = _encode(obj)  # encode fully first: an unsupported object never touches the file
    if isinstance(f, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(f))
        directory, base = os.path.split(path)
        mode = _file_mode(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_payload(fh, data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        try:  # make the rename itself durable (POSIX; best effort elsewhere)
            dfd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"ej.save: expected a path or a writable binary file object, got {type(f).__name__}")
    _write_payload(f, data)
    if hasattr(f, "flush"):
        f.flush()


def load(
    f,
    map_location=None,
    pickle_module=None,
    *,
    weights_only: bool | None = True,
    mmap: bool | None = None,
    **pickle_load_args,
) -> Any:
    """Load an object written by ``ej.save`` from a path or a binary file object.

    Tensors come back as Tensors (Parameters as Parameters, with their
    ``requires_grad``), numpy arrays as numpy arrays. ``map_location`` is accepted
    for compatibility (arrays land on JAX's default device); ``weights_only`` and
    ``mmap`` are accepted (the format never runs code). A file that is not an
    eagerjax checkpoint, or is truncated or corrupted, raises a ``RuntimeError``
    naming the file and the problem.
    """
    if isinstance(f, (str, os.PathLike)):
        name = repr(os.fspath(f))
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        if not hasattr(f, "read"):
            raise TypeError(f"ej.load: expected a path or a readable binary file object, got {type(f).__name__}")
        name = repr(getattr(f, "name", None) or f"<{type(f).__name__}>")
        data = f.read()
        if isinstance(data, str):
            raise RuntimeError(f"ej.load({name}): the file is open in text mode; open it with 'rb'")
    return _decode(bytes(data) if not isinstance(data, bytes) else data, name)
