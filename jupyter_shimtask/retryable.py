"""Executor helper: raise an error that the task's own ``retries`` cover on the platform.

Everything a ShimTaskExecutor raises leaves ``pyflyte-execute`` as a SYSTEM error (flytekit's
entry point records only ``FlyteUserRuntimeException`` as USER), and flytepropeller retries
SYSTEM errors from its own budget, never from the task's ``retries``. ``FlyteUserRuntimeException``
around ``flytekit.exceptions.user.FlyteRecoverableException`` is recorded as USER and RECOVERABLE,
which the task's ``retries`` cover; around any other exception (``flytekit.exceptions.base``'s
``FlyteRecoverableException`` too: the entry point checks the ``user`` one) as USER and
NON_RECOVERABLE, never retried.
"""

from __future__ import annotations


def user_error(error: Exception | str, *, recoverable: bool = True) -> Exception:
    """``raise user_error(ConnectionError("db busy"))``: a USER error, retried by the task's ``retries``.

    ``recoverable=False`` makes it a USER error that is never retried.
    """
    from flytekit.exceptions.user import FlyteRecoverableException, FlyteUserRuntimeException

    cause = error if isinstance(error, Exception) else None
    if recoverable and not isinstance(error, FlyteRecoverableException):
        error = FlyteRecoverableException(f"{type(cause).__name__}: {cause}" if cause else str(error))
    elif not isinstance(error, Exception):
        error = ValueError(error)
    wrapped = FlyteUserRuntimeException(error)
    wrapped.__cause__ = cause if cause is not error else None
    return wrapped
