from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_shimtask.config import ShimTask, use


@pytest.fixture(autouse=True)
def workspace(tmp_path_factory: pytest.TempPathFactory) -> ShimTask:
    """Every test gets its own workspace and default settings."""
    config = ShimTask(workspace=str(tmp_path_factory.mktemp("workspace")))
    use(config)
    return config


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run folders land here, so a test can see exactly what its runs left behind."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def shell(workspace: ShimTask) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("reload_ext", "jupyter_shimtask")
    shell.run_line_magic("config", f"ShimTask.workspace = {workspace.workspace!r}")
    yield shell
    shell.reset()
