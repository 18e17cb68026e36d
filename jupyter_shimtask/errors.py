"""Exceptions raised for bad input; each message is one line a user can act on."""


class ShimTaskError(Exception):
    """Base class: something the user can fix. ``detail`` holds the long form, if any."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail

    def _render_traceback_(self) -> list[str]:
        """What IPython shows when one reaches a notebook cell: the one line, not a traceback."""
        return [f"{type(self).__name__}: {self}"]


class TemplateError(ShimTaskError):
    """A template that cannot be built, read or written."""


class InputError(ShimTaskError):
    """Run inputs that are missing, unknown or of the wrong type."""


class AuthoringError(ShimTaskError):
    """A %%shimtask cell that cannot become a module with tasks."""


def describe(exc: BaseException) -> str:
    """One line for an exception raised by code that is not ours: ``Type: first line of its message``.

    An exception raised without a message (``raise NotImplementedError``) is named with the line
    that raised it instead, so the line is never empty.
    """
    import traceback

    lines = str(exc).strip().splitlines()
    if lines and lines[0].strip():
        return f"{type(exc).__name__}: {lines[0].strip()}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return f"{type(exc).__name__} (raised with no message)"
    where = frames[-1]
    return f"{type(exc).__name__} raised with no message at {where.filename}:{where.lineno} in {where.name}()"
