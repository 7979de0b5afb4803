"""User Python run on the host from inside a program (``jax.pure_callback``), and its failures.

A callback that raises fails the whole XLA execution, and jax reports it as its own runtime
error ("INTERNAL: CpuCallback error ..."). A program that runs user Python is therefore run
without donating its inputs and waited for before anything is written back (``ej.compile``,
lazy flushes): a failure then leaves every state tensor as it was, and ``reraise`` raises the
user's own exception (a ``ZeroDivisionError`` from a ``LambdaLR`` lambda), as eager mode would.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

_raised: list = []  # exceptions user callbacks raised (appended on XLA's threads)


def pure_callback(fn: Callable, result_shape, *args, **kwargs):
    """``jax.pure_callback`` of ``fn``, remembering what ``fn`` raises for ``reraise``.

    Its kernel must be made with ``Kernel(..., callback=True)``, so the programs that run it
    are known to (see the module docstring)."""

    def guarded(*a):
        try:
            return fn(*a)
        except Exception as e:
            _raised.append(e)
            raise

    return jax.pure_callback(guarded, result_shape, *args, **kwargs)


def reraise(err: BaseException) -> None:
    """Inside ``except`` around a program that runs callbacks: raise the user's exception that
    failed it, if that is what ``err`` reports (otherwise return, and the caller re-raises)."""
    found = _raised[-1] if _raised else None
    _raised.clear()
    if found is not None and "callback" in str(err).lower():
        raise found.with_traceback(found.__traceback__)
