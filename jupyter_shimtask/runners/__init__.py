"""Task runs, one RunResult whichever mode runs the executor.

``attempts`` runs a task's attempts in the platform's pod; the modes (``process``, ``subprocess``,
``warm``, ``image``) run one attempt each, on the run folder ``base`` prepares and ``finishing``
decides; ``proc`` is their process toolkit and ``engines`` the container engines' CLIs.
"""

from .base import Attempt, RunError, RunResult
from .subprocess import executable

__all__ = ["Attempt", "RunError", "RunResult", "executable"]
