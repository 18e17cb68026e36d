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
