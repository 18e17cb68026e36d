"""Settings shared by the API, the magics and the CLI (``%config ShimTask.<name> = ...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Int, Unicode, default
from traitlets.config import SingletonConfigurable

MIB = 1024 * 1024


class ShimTask(SingletonConfigurable):
    """jupyter-shimtask settings; ``ShimTask.instance()`` (``settings()``) are the ones in force."""

    workspace = Unicode(help="Folder holding the modules written by %%shimtask cells and the runs' raw outputs.").tag(
        config=True
    )
    mode = Enum(["process", "subprocess", "image"], default_value="process", help="Default run mode.").tag(config=True)
    warn_bytes = Int(MIB, help="Template size that earns a warning (the workflow CRD in etcd holds ~1-1.5 MB).").tag(
        config=True
    )
    over_bytes = Int(4 * MIB, help="Template size the platform rejects (flyteadmin's default gRPC message limit).").tag(
        config=True
    )
    timeout = Float(0.0, help="Default run timeout in seconds; 0 means none.").tag(config=True)
    engine = Enum(["docker", "podman"], default_value="docker", help="Container engine for image runs.").tag(
        config=True
    )
    keep = Bool(False, help="Keep each run's folder for inspection.").tag(config=True)
    warm = Bool(True, help="Run subprocess and image modes through a warm worker (same contract, ~10x faster).").tag(
        config=True
    )
    warm_idle = Float(600.0, help="Seconds an idle warm worker lives before it exits.").tag(config=True)
    parallelism = Int(help="Workflow nodes that run at once (default: the number of cores).").tag(config=True)
    project = Unicode("flytesnacks", help="Execution project runs get (FLYTE_INTERNAL_EXECUTION_PROJECT).").tag(
        config=True
    )
    domain = Unicode("development", help="Execution domain runs get (FLYTE_INTERNAL_EXECUTION_DOMAIN).").tag(
        config=True
    )
    system_retries = Int(
        3, help="Retries of SYSTEM errors (flytepropeller node-config max-node-retries-system-failures)."
    ).tag(config=True)
    ignore_retry_cause = Bool(
        False, help="Count every failure against the task's retries (flytepropeller node-config ignore-retry-cause)."
    ).tag(config=True)
    secrets_path = Unicode(
        "",
        help="Local secrets for runs: a folder of <group>/<key> files (the layout the platform mounts) "
        'or a JSON/YAML file of {"group/key": "value"}. Only secrets a template requests are handed over.',
    ).tag(config=True)

    @default("workspace")
    def _default_workspace(self) -> str:
        explicit = os.environ.get("SHIMTASK_WORKSPACE")
        if explicit:
            return explicit
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return str(Path(cache) / "jupyter-shimtask")

    @default("parallelism")
    def _default_parallelism(self) -> int:
        return os.cpu_count() or 1

    @property
    def cache_dir(self) -> Path:
        return Path(self.workspace).expanduser().resolve() / "cache"

    @property
    def modules_dir(self) -> Path:
        return Path(self.workspace).expanduser().resolve() / "modules"

    @property
    def outputs_dir(self) -> Path:
        return Path(self.workspace).expanduser().resolve() / "outputs"


def settings() -> ShimTask:
    """The settings in force: the IPython shell's once the extension is loaded, else process-wide."""
    return ShimTask.instance()


def use(config: ShimTask) -> None:
    """Put ``config`` in force instead (tests and scripts: a workspace of their own)."""
    ShimTask.clear_instance()
    ShimTask._instance = config  # what SingletonConfigurable.instance() returns from now on


def attach(shell: Any) -> ShimTask:
    """Settings that read ``shell``'s config (``c.ShimTask.*``) and that ``%config ShimTask.*`` changes."""
    config = settings()
    if config.parent is not shell:  # a first load, or settings put in force by use(): the shell's config applies
        ShimTask.clear_instance()
        config = ShimTask.instance(parent=shell)
    if config not in shell.configurables:
        shell.configurables.append(config)
    return config
