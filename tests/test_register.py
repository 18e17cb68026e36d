from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import sample_tasks
from flyte_admin import FlyteAdmin
from flyteidl.admin.task_pb2 import TaskSpec
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import GREET_CELL

from jupyter_shimtask import package, register, serialize
from jupyter_shimtask.registration import PlatformError, content_version, serialization_settings

PLUGIN_MODULE = (
    GREET_CELL.replace("shimtask-runtime:test", "{{.image.default.fqn}}:{{.image.default.version}}").replace(
        "GREETING", "Hello"
    )
    + 'hola = GreetTask(name="hola", greeting="Hola")\n'
)
IMAGE = "ghcr.io/example/greet:0.1"


def archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file anywhere flytekit looks, and no endpoint in the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    for name in ("FLYTECTL_CONFIG", "_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE", "FLYTE_PLATFORM_URL"):
        monkeypatch.delenv(name, raising=False)


def test_package_is_what_pyflyte_package_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "greet_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = importlib.import_module("greet_plugin")
    reference = tmp_path / "reference.tgz"
    pyflyte = Path(sys.executable).with_name("pyflyte")
    command = [str(pyflyte), "--pkgs", "greet_plugin", "package", "--image", IMAGE, "-o", str(reference)]
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}  # flytekit makes temporary folders at import
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, env=env)

    ours = package([plugin.greet, plugin.hola], tmp_path / "ours.tgz", image=IMAGE)
    assert archive(ours) == archive(reference)
    assert sorted(archive(ours)) == ["0_greet_1.pb", "1_hola_1.pb"]

    with pytest.raises(PlatformError, match=r"ours\.tgz exists; pass --force"):
        package(plugin.greet, ours, image=IMAGE)
    package(plugin.greet, ours, project="flytesnacks", domain="development", version="v1", image=IMAGE, force=True)
    spec = TaskSpec.FromString(archive(ours)["0_greet_1.pb"])
    assert (spec.template.id.project, spec.template.id.domain, spec.template.id.version) == (
        "flytesnacks",
        "development",
        "v1",
    )
    assert spec.template.container.image == IMAGE
    sys.modules.pop("greet_plugin")


def test_register_sends_exactly_the_serialized_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_user_config: None
) -> None:
    with FlyteAdmin() as admin:
        monkeypatch.setenv("FLYTECTL_CONFIG", str(admin.config_file(tmp_path)))  # the user's usual config
        first = register(sample_tasks.greet, "flytesnacks", "development", "v1")
        again = register(sample_tasks.greet, "flytesnacks", "development", "v1")  # identical: fine
        by_content = register(sample_tasks.greet, "flytesnacks", "development")

    expected = serialize(sample_tasks.greet, serialization_settings("flytesnacks", "development", "v1"))
    sent = admin.created_templates()
    assert sent[0].SerializeToString() == expected.SerializeToString()
    assert first.template == again.template == expected
    assert (first.version, by_content.version) == ("v1", content_version(sample_tasks.greet))
    assert by_content.template.id.version == content_version(sample_tasks.greet)
    assert admin.calls()[:2] == ["CreateTask", "GetTask"]


@pytest.mark.parametrize("already_exists_for_any", [False, True], ids=["invalid-argument", "already-exists"])
def test_a_version_with_different_content_is_refused(tmp_path: Path, already_exists_for_any: bool) -> None:
    with FlyteAdmin(already_exists_for_any=already_exists_for_any) as admin:
        config = admin.config_file(tmp_path)
        register(sample_tasks.greet, "flytesnacks", "development", "v1", config=config)
        changed = sample_tasks.Task(
            "greet", sample_tasks.GreetExecutor, sample_tasks.greet.python_interface.inputs,
            sample_tasks.greet.python_interface.outputs, {"greeting": "Bonjour"},
        )  # fmt: skip
        with pytest.raises(PlatformError) as refused:
            register(changed, "flytesnacks", "development", "v1", config=config)
        assert str(refused.value).startswith(
            "task 'greet' version v1 already exists in flytesnacks/development with different content "
            "(differs in: custom)"
        )
        stored = admin.tasks[("flytesnacks", "development", "greet", "v1")].closure.compiled_task.template
        assert stored.custom["greeting"] == "Hello"
        assert register(changed, "flytesnacks", "development", config=config).version == content_version(changed)


def test_authentication_failure(tmp_path: Path) -> None:
    with FlyteAdmin(token="valid-token") as admin:
        rejected = admin.config_file(tmp_path, authType="ExternalCommand", command=["echo", "expired-token"])
        with pytest.raises(PlatformError, match=r"authentication with Flyte admin at 127\.0\.0\.1:\d+ failed: "):
            register(sample_tasks.greet, "flytesnacks", "development", "v1", config=rejected)
        assert not admin.tasks
        accepted = admin.config_file(tmp_path, authType="ExternalCommand", command=["echo", "valid-token"])
        register(sample_tasks.greet, "flytesnacks", "development", "v1", config=accepted)
        assert admin.received[-1].metadata["authorization"] == "Bearer valid-token"


def test_no_config_and_unreachable_endpoint(shell, tmp_path: Path, no_user_config: None) -> None:
    with pytest.raises(UsageError, match=r"no Flyte config: pass --config FILE, set FLYTECTL_CONFIG"):
        shell.run_line_magic("shimtask", "register greet --project flytesnacks --domain development")
    with pytest.raises(PlatformError, match=r"Flyte config .*missing\.yaml: no such file"):
        register(sample_tasks.greet, "flytesnacks", "development", config=tmp_path / "missing.yaml")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "closed.yaml"
    config.write_text(f"admin:\n  endpoint: dns:///127.0.0.1:{port}\n  insecure: true\n")
    with pytest.raises(PlatformError, match=rf"cannot reach Flyte admin at 127\.0\.0\.1:{port} \(from .*closed"):
        register(sample_tasks.greet, "flytesnacks", "development", config=config)


def test_magics_package_and_register(shell, tmp_path: Path) -> None:
    with FlyteAdmin() as admin:
        config = admin.config_file(tmp_path)
        registered = shell.run_line_magic(
            "shimtask", f"register greet --project flytesnacks --domain development --version v2 --config {config}"
        )
    assert registered.version == "v2" and admin.created_templates()[0] == registered.template
    assert "in flytesnacks/development as version v2" in str(registered)

    shell.run_line_magic("shimtask", f"package greet --to {tmp_path / 'greet.tgz'} --image {IMAGE}")
    assert list(archive(tmp_path / "greet.tgz")) == ["0_greet_1.pb"]
    with pytest.raises(UsageError, match=r"greet\.tgz exists; pass --force"):
        shell.run_line_magic("shimtask", f"package greet --to {tmp_path / 'greet.tgz'}")


@pytest.fixture
def shell(shell: InteractiveShell) -> InteractiveShell:
    shell.user_ns["greet"] = sample_tasks.greet
    return shell
