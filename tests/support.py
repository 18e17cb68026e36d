"""Helpers the tests import (conftest modules are for fixtures only: two of them share a module name)."""

from __future__ import annotations

import os
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found
