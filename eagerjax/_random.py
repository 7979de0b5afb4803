"""Random numbers as explicit state.

A ``Generator`` holds a JAX PRNG key *in a Tensor*. Every draw is one op whose
kernel takes the key, splits it, and returns ``(new_key, sample)``; the new
key is written back into the generator's tensor. Because the key is an
ordinary tensor, capture threads it through compiled steps as state and
eager, compiled and lazy runs draw bit-identical numbers from the same seed.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np

from . import _dtypes
from ._dispatch import _broadcast_mismatch, dispatch
from ._ops._creation import _check_size
from ._ops._creation import _size as _creation_size
from ._ops._registry import op
from ._state import flags, vmap_randomness
from ._tensor import Tensor, _device_array, check_device


class Generator:
    """``torch.Generator``: a seedable random stream (``manual_seed``, ``seed``, ``get_state``)."""

    def __init__(self, device: str = "cpu") -> None:
        self._key = Tensor._make(jax.random.key_data(jax.random.key(0)))
        self._key._name = "generator"
        self._seed = 0

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._key._assign(jax.random.key_data(jax.random.key(int(seed) & 0xFFFFFFFFFFFFFFFF)))
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy) & 0x7FFFFFFF
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        return Tensor._make(self._key._read())

    def set_state(self, state: Tensor) -> Generator:
        self._key._assign(state._read() if isinstance(state, Tensor) else jnp.asarray(state, jnp.uint32))
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (and NumPy's, which DataLoader shuffling may use)."""
    default_generator.manual_seed(seed)
    return default_generator


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state: Tensor) -> None:
    default_generator.set_state(state)


def _gen(generator: Generator | None) -> Generator:
    return default_generator if generator is None else generator


def draw(row, generator: Generator | None, *args, **static):
    """Run a random row ``row(key, *args, **static) -> (new_key, sample, ...)``; advance the generator.

    Returns the sample, or a tuple of everything after the key when the row returns more.
    """
    if vmap_randomness and vmap_randomness[-1] == "error":
        raise RuntimeError(
            "vmap: called random operation while in randomness error mode. Please either use the 'same' or "
            "'different' randomness flags on vmap or perform the randomness operation out of vmap"
        )
    g = _gen(generator)
    if generator is not None and generator is not default_generator and vmap_randomness[-1:] == ["different"]:
        # Under vmap(randomness="different") the default generator holds this example's key
        # (swapped in by vmap): mix it into the draw from ``g``, whose own key advances the same
        # way for every example (its write-back must not depend on the example).
        new_key, mixed = dispatch(_fork_row, (g._key, default_generator._key), {})
        _, *out = dispatch(row, (mixed, *args), static)
    else:
        new_key, *out = dispatch(row, (g._key, *args), static)
    g._key._assign(new_key._read())
    return out[0] if len(out) == 1 else tuple(out)


def _bucket(n: int) -> int:
    b = 256
    while b < n:
        b *= 2
    return b


def draw_shaped(row, generator: Generator | None, shape: tuple, dtype, **params) -> Tensor:
    """A ``shape``-d draw from a flat row (``uniform``/``normal``) of a power-of-two size.

    Threefry kernels take ~0.3 s each to compile, so drawing per shape made building a
    model cost seconds. Drawing a size bucket and slicing compiles one kernel per
    bucket for the whole process; every mode slices the same bucket, so eager,
    compiled and lazy runs still see identical numbers.
    """
    n = 1
    for d in shape:
        n *= d
    flat = draw(row, generator, shape=(_bucket(n),), dtype=dtype, **params)
    if flags.mode is None:
        # Eager: an unjitted slice/reshape costs microseconds and compiles nothing.
        return Tensor._make(_device_array(np.array(np.asarray(flat._value)[:n].reshape(shape))))
    return flat.narrow(0, 0, n).reshape(shape)


def _split(key):
    k = jax.random.wrap_key_data(key)
    a, b = jax.random.split(k)
    return jax.random.key_data(a), b


def _size(size, name: str = "empty", kw=None):
    """``rand(2, 3)`` / ``rand((2, 3))`` / ``rand(size=(2, 3))`` -> ``(2, 3)``, checked as torch's
    factories check it."""
    return _creation_size(size, name, kw)


def _fork(key, salt):
    """``key`` advanced, and a draw key of its own mixed with ``salt`` (another key)."""
    nk, k = _split(key)
    return nk, jax.random.key_data(k) ^ salt


def _fdt(dtype):
    return _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()


def _uniform(key, shape, dtype, low=0.0, high=1.0):
    nk, k = _split(key)
    return nk, jax.random.uniform(k, shape, dtype, low, high)


def _normal(key, shape, dtype, mean=0.0, std=1.0):
    nk, k = _split(key)
    return nk, jax.random.normal(k, shape, dtype) * std + mean


def _randint(key, shape, low, high, dtype):
    nk, k = _split(key)
    if jnp.issubdtype(dtype, jnp.integer):
        return nk, jax.random.randint(k, shape, low, high, dtype)
    # a floating (or bool) dtype holds whole numbers drawn as integers, as torch's randint does
    long = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    return nk, jax.random.randint(k, shape, low, high, long).astype(dtype)


def _randperm(key, n, dtype):
    nk, k = _split(key)
    return nk, jax.random.permutation(k, n).astype(dtype)


def _bernoulli(key, p):
    nk, k = _split(key)
    return nk, jax.random.bernoulli(k, p).astype(p.dtype)


def _bernoulli_p(key, x, p):
    nk, k = _split(key)
    return nk, jax.random.bernoulli(k, p, x.shape).astype(x.dtype)


def _multinomial(key, probs, num_samples, replacement):
    nk, k = _split(key)
    logits = jnp.log(probs)
    if replacement:
        s = jax.random.categorical(k, logits, axis=-1, shape=(num_samples,) + probs.shape[:-1])
        return nk, jnp.moveaxis(s, 0, -1).astype(jnp.int32)
    g = jax.random.gumbel(k, probs.shape)
    return nk, jnp.argsort(-(logits + g), axis=-1)[..., :num_samples].astype(jnp.int32)


def _host(t) -> np.ndarray:
    return np.asarray(t._value) if isinstance(t, Tensor) else np.asarray(t)


def _check_std(key, mean, std) -> None:
    if isinstance(std, Tensor) and (_host(std) < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")


def _check_p(key, p) -> None:
    v = _host(p)
    if not ((v >= 0) & (v <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")


def _check_probs(key, probs, num_samples, replacement) -> None:
    v = _host(probs)
    bad = np.flatnonzero(~(v >= 0) | ~np.isfinite(v))
    if bad.size:
        if not replacement:
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        # torch's sampler with replacement scans the entries: the first bad one names the error
        what = "< 0" if not v.ravel()[bad[0]] >= 0 else "= infinity or NaN"
        raise RuntimeError(f"invalid multinomial distribution (encountering probability entry {what})")
    if (v.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


# Parameter *values* held in tensors are checked in eager mode only (``check=``: a host
# read, as for index ranges); Python numbers are checked in every mode by the functions.
_R = dict(function=False, method=False, differentiable=False)
_uniform_row = op("_uniform", _uniform, scalars=("low", "high"), **_R)
_normal_row = op("_normal", _normal, scalars=("mean", "std"), **_R)
_normal_t_row = op("_normal_t", lambda key, mean, std: _normal_tensor(key, mean, std), check=_check_std, **_R)
_randint_row = op("_randint", _randint, **_R)
_randperm_row = op("_randperm", _randperm, **_R)
_fork_row = op("_key_fork", _fork, **_R)
_bernoulli_row = op("_bernoulli", _bernoulli, check=_check_p, **_R)
_bernoulli_p_row = op("_bernoulli_p", _bernoulli_p, scalars=("p",), **_R)
_multinomial_row = op("_multinomial", _multinomial, check=_check_probs, **_R)


def _check_rates(key, rates) -> None:
    if not (_host(rates) >= 0).all():  # NaN fails too, as in torch
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")


def _poisson(key, rates):
    nk, k = _split(key)
    # jax draws integers; torch's samples keep the rates' floating dtype
    return nk, jax.random.poisson(k, rates, rates.shape).astype(rates.dtype)


def _binomial(key, count, prob):
    nk, k = _split(key)
    shape = jnp.broadcast_shapes(count.shape, prob.shape)
    # torch draws 0 for a negative count and clamps p into [0, 1]; jax's draw is NaN there
    n, p = jnp.maximum(count, 0), jnp.clip(prob, 0, 1)
    return nk, jax.random.binomial(k, n, p, shape, dtype=count.dtype)


_poisson_row = op("_poisson", _poisson, check=_check_rates, **_R)
_binomial_row = op("_binomial", _binomial, **_R)


def _normal_tensor(key, mean, std):
    shape = jnp.broadcast_shapes(jnp.shape(mean), jnp.shape(std))
    dtype = mean.dtype  # torch's result takes mean's dtype (a number mean arrives in std's)
    nk, k = _split(key)
    return nk, (jax.random.normal(k, shape, dtype) * std.astype(dtype) + mean).astype(dtype)


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    return t._require_grad() if requires_grad else t


def _floating_only(dt, kernel: str) -> None:
    """torch's "not implemented for" error of a floating-only sampler given dtype ``dt``
    (a Tensor's dtype is read from the Tensor)."""
    dt = dt.dtype if isinstance(dt, Tensor) else dt
    if not (_dtypes.is_floating(dt) or _dtypes.is_complex(dt)):
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.torch_name(dt)}'")


def _need_tensor(name: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    check_device(device)
    shape = _size(size, "rand", kw.pop("size", None))
    dt = _fdt(dtype)
    _floating_only(dt, "check_uniform_bounds")
    return _finish(draw_shaped(_uniform_row, generator, shape, dt), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    check_device(device)
    shape = _size(size, "randn", kw.pop("size", None))
    dt = _fdt(dtype)
    _floating_only(dt, "normal_kernel_cpu")
    return _finish(draw_shaped(_normal_row, generator, shape, dt), requires_grad)


def _int_arg(name: str, v, pos: int, fn: str = "randint") -> int:
    if isinstance(v, bool) or not (isinstance(v, (int, np.integer)) or (isinstance(v, Tensor) and v.ndim == 0)):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be int, not {type(v).__name__}")
    return operator.index(v)


def _check_range(low: int, high: int, dt) -> None:
    """torch's range checks of randint/random_, with its C++ type names (``_dtypes.c_type``)."""
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = np.dtype(dt)
    kind, lo, hi = _dtypes._limits(dt)
    if kind == "f":
        if dt.name not in ("float16", "bfloat16"):
            return
        lo = -(hi := 2 ** (int(jnp.finfo(dt).nmant) + 1))  # the exactly representable integers
    name = _dtypes.c_type(dt)
    if not lo <= low <= hi:
        raise RuntimeError(f"from is out of bounds for {name}")
    if not lo <= high - 1 <= hi:
        raise RuntimeError(f"to - 1 is out of bounds for {name}")


def randint(
    *args,
    low=None,
    high=None,
    size=None,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
    out=None,
) -> Tensor:
    """``torch.randint(high, size)`` / ``randint(low, high, size)`` (or any of them as keywords):
    integers drawn uniformly from ``[low, high)``, of dtype ``int64`` unless ``dtype`` says
    otherwise (a floating dtype holds whole numbers)."""
    check_device(device)
    pos = list(args)
    if size is None and pos and isinstance(pos[-1], (tuple, list)):
        size = pos.pop()
    if len(pos) > 2:
        raise TypeError(
            f"randint() received an invalid combination of arguments - got {len(args)} positional arguments, "
            "but expected (high, size) or (low, high, size)"
        )
    if len(pos) == 2:
        if low is not None or high is not None:
            raise TypeError("randint() got multiple values for argument 'low' or 'high'")
        low, high = pos
    elif len(pos) == 1:
        if high is None:
            high = pos[0]
        elif low is None:
            low = pos[0]
        else:
            raise TypeError("randint() got multiple values for argument 'low'")
    if high is None:
        raise TypeError('randint() missing 1 required positional argument: "high"')
    if size is None:
        if len(args) == 2:
            raise TypeError(
                f"randint(): argument 'size' (position 2) must be tuple of ints, not {type(args[1]).__name__}"
            )
        raise TypeError('randint() missing 1 required positional argument: "size"')
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, not {type(size).__name__}")
    low = 0 if low is None else _int_arg("low", low, 1)
    high = _int_arg("high", high, len(pos) if pos else 1)
    dt = _dtypes.to_dtype(dtype) or _dtypes.int64
    _check_range(low, high, dt)
    shape = _size((size,), "randint")
    return _finish(draw(_randint_row, generator, shape=shape, low=low, high=high, dtype=dt), requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, **_) -> Tensor:
    check_device(device)
    n = _int_arg("n", n, 1, "randperm")
    _check_size((n,))
    dt = _dtypes.to_dtype(dtype) or _dtypes.int64
    if np.dtype(dt) == np.bool_:
        raise NotImplementedError("\"randperm\" not implemented for 'Bool'")
    if n > 0:
        _dtypes.check_fits(n - 1, dt)
    return _finish(draw(_randperm_row, generator, n=n, dtype=dt), requires_grad)


def rand_like(x: Tensor, *, dtype=None, generator=None, requires_grad=False, **_) -> Tensor:
    _need_tensor("rand_like", x)
    return rand(tuple(x.shape), dtype=dtype or x.dtype, generator=generator, requires_grad=requires_grad)


def randn_like(x: Tensor, *, dtype=None, generator=None, requires_grad=False, **_) -> Tensor:
    _need_tensor("randn_like", x)
    return randn(tuple(x.shape), dtype=dtype or x.dtype, generator=generator, requires_grad=requires_grad)


def randint_like(x: Tensor, *args, low=None, high=None, dtype=None, generator=None, requires_grad=False, **_) -> Tensor:
    """``randint_like(x, high)`` / ``randint_like(x, low, high)``: in ``x``'s dtype by default,
    floating ones included (whole numbers)."""
    _need_tensor("randint_like", x)
    if len(args) > 2:
        raise TypeError(f"randint_like() takes from 2 to 3 positional arguments but {len(args) + 1} were given")
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    return randint(
        low=low,
        high=high,
        size=tuple(x.shape),
        dtype=dtype or x.dtype,
        generator=generator,
        requires_grad=requires_grad,
    )


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad=False, **_) -> Tensor:
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if not isinstance(std, Tensor):
            _check_scalar_std(std)
        # a number takes the tensor's dtype: the result has mean's dtype (std's for a number mean)
        ref = mean if isinstance(mean, Tensor) else std
        _floating_only(ref.dtype, "normal_kernel_cpu")
        m = mean if isinstance(mean, Tensor) else Tensor._make(jnp.asarray(mean, ref.dtype))
        s = std if isinstance(std, Tensor) else Tensor._make(jnp.asarray(std, ref.dtype))
        if isinstance(mean, Tensor) and isinstance(std, Tensor):
            _floating_only(std.dtype, "normal_kernel_cpu")
            mismatch = _broadcast_mismatch([tuple(m.shape), tuple(s.shape)])
            if mismatch:
                raise RuntimeError(mismatch)
        return draw(_normal_t_row, generator, m, s)
    if size is None:
        raise TypeError("normal() missing required argument 'size'")
    _check_scalar_std(std)
    dt = _fdt(dtype)
    _floating_only(dt, "normal_kernel_cpu")
    return _finish(
        draw_shaped(_normal_row, generator, _size((size,), "normal"), dt, mean=float(mean), std=float(std)),
        requires_grad,
    )


def _check_scalar_std(std) -> None:
    if float(std) < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {float(std):g}")


def _check_scalar_p(p) -> None:
    if not isinstance(p, Tensor) and not 0 <= float(p) <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={float(p):g}")


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    if p is None:
        return draw(_bernoulli_row, generator, input)
    _check_scalar_p(p)
    return draw(_bernoulli_p_row, generator, input, p=p)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    return draw(_multinomial_row, generator, input, num_samples=int(num_samples), replacement=bool(replacement))


def _dtype_name(dt) -> str:
    from ._generate import _torch_name

    return "Long" if dt == _dtypes.int64 else _torch_name(jnp.dtype(dt))


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:
    """``torch.poisson``: one Poisson draw per rate, in the rates' (floating) dtype; not differentiable."""
    if not jnp.issubdtype(input.dtype, jnp.floating):
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{_dtype_name(input.dtype)}'")
    return draw(_poisson_row, generator, input)


def binomial(count: Tensor, prob: Tensor, generator: Generator | None = None) -> Tensor:
    """``torch.binomial``: one draw of successes out of ``count`` trials of probability ``prob``.

    ``count`` and ``prob`` share one floating dtype and broadcast together; not differentiable.
    """
    if not jnp.issubdtype(count.dtype, jnp.floating):
        raise ValueError(f"binomial only supports floating-point dtypes for count, got: {_dtype_name(count.dtype)}")
    if prob.dtype != count.dtype:
        raise RuntimeError(f"Found dtype {_dtype_name(prob.dtype)} but expected {_dtype_name(count.dtype)}")
    mismatch = _broadcast_mismatch([tuple(count.shape), tuple(prob.shape)])
    if mismatch:
        raise RuntimeError(mismatch)
    return draw(_binomial_row, generator, count, prob)


# In-place random fills used by nn.init and user code (torch's Tensor.uniform_ & co).
def _fill_random(t: Tensor, sample: Tensor) -> Tensor:
    from ._generate import inplace_update

    return inplace_update(t, sample, "random fill")


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    _floating_only(t, "check_uniform_bounds")
    if float(a) > float(b):
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={float(a):g} > to={float(b):g}"
        )
    s = draw_shaped(_uniform_row, generator, tuple(t.shape), t.dtype, low=float(a), high=float(b))
    return _fill_random(t, s)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    _floating_only(t, "normal_kernel_cpu")
    _check_scalar_std(std)
    s = draw_shaped(_normal_row, generator, tuple(t.shape), t.dtype, mean=float(mean), std=float(std))
    return _fill_random(t, s)


def bernoulli_(t: Tensor, p: float = 0.5, *, generator=None) -> Tensor:
    _check_scalar_p(p)
    return _fill_random(t, draw(_bernoulli_p_row, generator, t, p=p))


def random_(t: Tensor, low: int = 0, high: int | None = None, *, generator=None) -> Tensor:
    if high is None:
        low, high = 0, low if low else 2**24
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    # integers drawn as int32 for a float tensor too (torch fills floats with whole numbers)
    dt = t.dtype if np.issubdtype(t.dtype, np.integer) else np.int32
    s = draw(_randint_row, generator, shape=tuple(t.shape), low=int(low), high=int(high), dtype=dt)
    return _fill_random(t, s if dt == t.dtype else s.to(t.dtype))


def exponential_(t: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    if not float(lambd) > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={float(lambd):g}")
    u = draw(_uniform_row, generator, shape=tuple(t.shape), dtype=t.dtype, low=0.0, high=1.0)
    return _fill_random(t, -(1 - u).log() / lambd)


for _name in ("uniform_", "normal_", "bernoulli_", "random_", "exponential_"):
    setattr(Tensor, _name, globals()[_name])
Tensor.bernoulli = bernoulli
Tensor.multinomial = multinomial
