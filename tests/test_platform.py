"""Runs in the pod the platform would give them: Flyte's variables, secrets, retries and timeouts."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import platform_tasks
import pytest
from database_fixtures import Database, postgres_fixture  # noqa: F401
from engine_fixtures import docker_fixture, engine_fixture, no_containers_left  # noqa: F401
from flytekit import kwtypes
from flytekit.models.security import Secret

from jupyter_shimtask import check, run, serialize
from jupyter_shimtask.config import ShimTask
from jupyter_shimtask.platform import RUN_TIME_VARIABLES, SecretError
from jupyter_shimtask.runners.engines import Engine
from jupyter_shimtask.runners.subprocess import cold_only
from jupyter_shimtask.runners.warm import warm_pool

SECRET = "s3cr3t-value-never-kept"
SUBPROCESS = [("subprocess", False), ("subprocess", True)]


def leftovers(folder: Path) -> list[str]:
    """What runs left in the temporary folder (warm containers' own folders aside)."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if "shimtask-warm-" not in path.name)


def files_holding(folder: Path, text: str) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and text.encode() in path.read_bytes()]


# --- variables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "warm"), [("process", False), *SUBPROCESS])
def test_platform_variables_reach_the_executor(mode: str, warm: bool, workspace: ShimTask) -> None:
    workspace.project, workspace.domain = "analytics", "staging"
    result = run(platform_tasks.variables, mode=mode, warm=warm)
    assert result.ok, result.error
    assert result.notes == []  # the variables do not force a cold run
    seen = json.loads(result.outputs["out"])
    assert seen["FLYTE_INTERNAL_EXECUTION_ID"].startswith("a") and len(seen["FLYTE_INTERNAL_EXECUTION_ID"]) == 20
    assert seen["context_execution_id"] == seen["FLYTE_INTERNAL_EXECUTION_ID"]  # flytekit read it at run time
    assert (seen["FLYTE_INTERNAL_EXECUTION_PROJECT"], seen["FLYTE_INTERNAL_EXECUTION_DOMAIN"]) == (
        "analytics",
        "staging",
    )
    assert seen["FLYTE_ATTEMPT_NUMBER"] == "0"
    template = serialize(platform_tasks.variables)
    assert seen["FLYTE_INTERNAL_TASK_NAME"] == template.id.name == "variables"
    assert (seen["FLYTE_INTERNAL_TASK_PROJECT"], seen["FLYTE_INTERNAL_TASK_VERSION"]) == (
        template.id.project,
        template.id.version,
    )
    workflow = f"{template.id.project}:{template.id.domain}:.flytegen.variables"
    assert seen["FLYTE_INTERNAL_EXECUTION_WORKFLOW"] == workflow


def test_warm_runs_get_their_own_execution_ids() -> None:
    first, second = (run(platform_tasks.variables, mode="subprocess", warm=True) for _ in range(2))
    ids = [json.loads(result.outputs["out"])["FLYTE_INTERNAL_EXECUTION_ID"] for result in (first, second)]
    assert ids[0] != ids[1]


def test_run_time_variables_do_not_force_a_cold_run() -> None:
    assert cold_only(dict.fromkeys(RUN_TIME_VARIABLES, "x"), worker_env={}) is None
    assert cold_only({"_FSEC_G_K": "x"}, worker_env={}) is None
    assert "FLYTE_SDK_LOGGING_LEVEL" in (cold_only({"FLYTE_SDK_LOGGING_LEVEL": "10"}, worker_env={}) or "")


def test_variables_in_image_mode(docker: Engine) -> None:
    results = [run(platform_tasks.variables, mode="image", engine="docker", warm=warm) for warm in (False, True)]
    for result in results:
        assert result.ok, result.error
        seen = json.loads(result.outputs["out"])
        assert seen["context_execution_id"] == seen["FLYTE_INTERNAL_EXECUTION_ID"]
        assert seen["FLYTE_INTERNAL_EXECUTION_PROJECT"] == "flytesnacks"
    assert results[1].notes == []  # warm, as the variables are read at run time


# --- secrets -----------------------------------------------------------------------------------------


def assert_secret_delivered(result, private_tmp: Path) -> dict:
    assert result.ok, result.error
    found = json.loads(result.outputs["out"])
    assert found["sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert found["mode"] == "0o400"  # read-only, for this user only
    for text in (str(result), repr(result), result.logs):
        assert SECRET not in text
    assert "the secret is ****" in result.logs
    assert files_holding(private_tmp, SECRET) == []
    return found


@pytest.mark.parametrize(("mode", "warm"), [("process", False), *SUBPROCESS])
def test_secret_reaches_the_executor_and_stays_nowhere(mode: str, warm: bool, private_tmp: Path) -> None:
    lines: list[str] = []
    result = run(
        platform_tasks.with_secret, mode=mode, warm=warm, secrets={"g/k": SECRET}, keep=True, on_log=lines.append
    )
    found = assert_secret_delivered(result, private_tmp)
    assert SECRET not in "".join(lines)
    assert found["in_environment"] is False  # a file, as the webhook mounts it
    assert result.workdir is not None and result.workdir.exists()  # kept, and scrubbed
    assert not any(path.name.startswith("shimtask-secrets-") for path in private_tmp.iterdir())


def test_secret_in_image_mode_is_a_read_only_mount(engine: Engine, private_tmp: Path) -> None:
    result = run(platform_tasks.with_secret, mode="image", engine=engine.name, secrets={"g/k": SECRET}, keep=True)
    found = assert_secret_delivered(result, private_tmp)
    assert found["folder"] == "/etc/flyte/secrets"
    assert found["writable"] is False  # a read-only mount, even for root
    assert found["in_environment"] is False  # so docker inspect shows no value either
    assert any("secrets" in note for note in result.notes)  # a container of its own mounts them


def test_env_var_secret_is_a_variable_here_and_a_file_in_a_container(docker: Engine, private_tmp: Path) -> None:
    here = json.loads(run(platform_tasks.env_var_secret, mode="subprocess", secrets={"g/k": SECRET}).outputs["out"])
    assert here["in_environment"] is True and here["folder"] == ""  # _FSEC_G_K and G_K_VALUE, as the webhook sets
    result = run(platform_tasks.env_var_secret, mode="image", engine="docker", secrets={"g/k": SECRET})
    inside = json.loads(result.outputs["out"])
    assert inside["in_environment"] is False and inside["folder"] == "/etc/flyte/secrets"  # nothing for inspect


def test_secret_from_the_secrets_path_setting(workspace: ShimTask, tmp_path: Path, private_tmp: Path) -> None:
    folder = tmp_path / "local-secrets"
    (folder / "g").mkdir(parents=True)
    (folder / "g" / "k").write_text(SECRET + "\n")
    workspace.secrets_path = str(folder)
    assert_secret_delivered(run(platform_tasks.with_secret, mode="subprocess"), private_tmp)
    listing = tmp_path / "secrets.yaml"
    listing.write_text(json.dumps({"g/k": SECRET}))
    workspace.secrets_path = str(listing)
    assert_secret_delivered(run(platform_tasks.with_secret, mode="subprocess"), private_tmp)


def test_a_requested_secret_not_given_fails_before_the_executor_starts(private_tmp: Path) -> None:
    with pytest.raises(SecretError, match=r"requests secret g/k .*secrets=\{'g/k'.*--secret g/k"):
        run(platform_tasks.with_secret, mode="subprocess")
    assert leftovers(private_tmp) == []


def test_reading_a_secret_the_template_does_not_request(private_tmp: Path) -> None:
    result = run(
        platform_tasks.unrequested_secret,
        mode="subprocess",
        secrets={"g/k": SECRET, "g/other": "other-value"},
        retries=False,
    )
    assert not result.ok and result.error.code == "SecretNotRequested"
    assert "g/other, which the template does not request" in result.error.message
    assert "secret_requests=[Secret(group='g', key='other')]" in result.error.message
    assert "other-value" not in str(result) + result.logs


# --- retries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [platform_tasks.flaky, platform_tasks.flaky_retries_5])
def test_system_errors_are_retried_from_the_system_budget_whatever_the_tasks_retries(task) -> None:
    result = run(task, mode="subprocess")
    assert result.ok and result.outputs == {"out": "ok on attempt 2"}, result
    assert [attempt.number for attempt in result.attempts] == [0, 1, 2]
    assert [attempt.error.kind for attempt in result.attempts[:2]] == ["SYSTEM", "SYSTEM"]
    assert all("system budget" in attempt.next for attempt in result.attempts[:2])
    text = str(result)
    assert "after 3 attempts" in text and "2 of 2 retries came from the platform's system budget" in text
    assert f"retries={task.metadata.retries} did not apply" in text


def test_no_system_budget_means_one_attempt(workspace: ShimTask) -> None:
    workspace.system_retries = 0
    result = run(platform_tasks.flaky_retries_5, mode="subprocess")
    assert not result.ok and len(result.attempts) == 1
    assert "system budget" in result.attempts[0].next and "used up" in result.attempts[0].next


def test_ignore_retry_cause_counts_every_failure_against_the_tasks_retries(workspace: ShimTask) -> None:
    workspace.ignore_retry_cause = True
    enough = run(platform_tasks.flaky_retries_2, mode="subprocess")
    assert enough.ok and len(enough.attempts) == 3, enough
    short = run(platform_tasks.flaky_retries_1, mode="subprocess")
    assert not short.ok and len(short.attempts) == 2, short
    assert "used up" in short.attempts[-1].next


def test_user_recoverable_errors_use_the_tasks_retries() -> None:
    result = run(platform_tasks.flaky_user, mode="subprocess")
    assert result.ok and len(result.attempts) == 3, result
    assert [attempt.error.kind for attempt in result.attempts[:2]] == ["USER", "USER"]
    assert all("the task's retries" in attempt.next for attempt in result.attempts[:2])
    assert not any("system budget" in note for note in result.notes)


def test_non_recoverable_errors_are_not_retried() -> None:
    result = run(platform_tasks.broken_user, mode="subprocess")
    assert not result.ok and len(result.attempts) == 1
    assert result.error.kind == "USER" and not result.error.recoverable
    assert "non-recoverable" in result.attempts[0].next


def test_user_error_helper_makes_a_user_recoverable_error() -> None:
    from flytekit.exceptions.user import FlyteRecoverableException, FlyteUserRuntimeException

    from jupyter_shimtask import user_error

    error = user_error(ConnectionError("db busy"))
    assert isinstance(error, FlyteUserRuntimeException) and isinstance(error.value, FlyteRecoverableException)
    assert "ConnectionError: db busy" in str(error)
    assert not isinstance(user_error("bad", recoverable=False).value, FlyteRecoverableException)


@pytest.mark.parametrize("warm", [False, True])
def test_no_retries_stops_after_the_first_attempt(warm: bool) -> None:
    started = time.perf_counter()
    result = run(platform_tasks.flaky, mode="subprocess", warm=warm, retries=False)
    assert not result.ok and len(result.attempts) == 1
    assert "flaky on attempt 0" in result.error.message
    assert time.perf_counter() - started < 30


# --- timeout -----------------------------------------------------------------------------------------


def assert_timed_out_by_the_task(result, started: float) -> None:
    elapsed = time.perf_counter() - started
    assert not result.ok and result.error.code == "TimeoutExpired", result
    assert "3s" in result.error.message and "metadata.timeout" in result.error.message
    assert 2.5 < elapsed < 15, elapsed
    assert len(result.attempts) == 1  # a USER error, and the task has no retries


@pytest.mark.parametrize("warm", [False, True])
def test_the_tasks_timeout_stops_a_subprocess_run(warm: bool) -> None:
    started = time.perf_counter()
    assert_timed_out_by_the_task(run(platform_tasks.sleeps, mode="subprocess", warm=warm), started)
    if warm:  # the worker survived its timed-out child
        (worker,) = warm_pool().workers.values()
        assert run(platform_tasks.variables, mode="subprocess").ok
        assert warm_pool().workers[next(iter(warm_pool().workers))] is worker


@pytest.mark.parametrize("warm", [False, True])
def test_the_tasks_timeout_stops_an_image_run(docker: Engine, warm: bool) -> None:
    started = time.perf_counter()
    assert_timed_out_by_the_task(run(platform_tasks.sleeps, mode="image", engine="docker", warm=warm), started)
    if warm:
        assert run(platform_tasks.variables, mode="image", engine="docker").ok


def test_a_stricter_timeout_wins() -> None:
    started = time.perf_counter()
    result = run(platform_tasks.sleeps, mode="subprocess", timeout=1, warm=False)
    assert not result.ok and result.error.code == "Timeout"
    assert "the run's timeout (1s; the task's own is 3s)" in result.error.message
    assert time.perf_counter() - started < 2.9


def test_process_mode_says_it_cannot_enforce_the_tasks_timeout() -> None:
    result = run(platform_tasks.quick_with_timeout, mode="process")
    assert result.ok and any("not enforced in process mode" in note for note in result.notes)


@pytest.mark.parametrize("warm", [False, True])
def test_interrupt_removes_the_secret_files(tmp_path: Path, warm: bool) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, {tests!r})
        import platform_tasks
        from jupyter_shimtask import run
        try:
            run(platform_tasks.secret_then_sleep, mode="subprocess", warm={warm}, secrets={{"g/k": {secret!r}}})
        except KeyboardInterrupt:
            sys.exit(130)
        sys.exit(0)
        """
    ).format(tests=str(Path(__file__).parent), warm=warm, secret=SECRET)
    env = {**os.environ, "TMPDIR": str(tmp_path), "SHIMTASK_WORKSPACE": str(tmp_path / "ws")}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 60
    while not (list(tmp_path.glob("shimtask-secrets-*/g/k")) and list(tmp_path.glob("shimtask-run-*/outputs"))):
        assert time.monotonic() < deadline and parent.poll() is None, "the run never started"
        time.sleep(0.2)
    time.sleep(2)  # the executor has read the secret and sleeps
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=30) == 130
    assert list(tmp_path.glob("shimtask-secrets-*")) == []
    assert files_holding(tmp_path, SECRET) == []


# --- a plugin that needs a secret: flytekitplugins-sqlalchemy against a real PostgreSQL ---------------


def people_task(database: Database, *, request: bool):
    from flytekitplugins.sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

    password = Secret(group="people-db", key="password")
    return SQLAlchemyTask(
        f"people_{'requested' if request else 'forgotten'}",
        query_template="select id, name from people where id < {{ .inputs.limit }} order by id",
        inputs=kwtypes(limit=int),
        output_schema_type=pd.DataFrame,
        task_config=SQLAlchemyConfig(uri=database.uri, secret_connect_args={"password": password}),
        secret_requests=[password] if request else None,
    )


@pytest.mark.parametrize("warm", [False, True])
def test_sqlalchemy_task_reads_postgres_with_a_secret_password(postgres: Database, warm: bool) -> None:
    task = people_task(postgres, request=True)
    result = run(task, {"limit": 3}, mode="subprocess", warm=warm, secrets={"people-db/password": postgres.password})
    assert result.ok, (result.error, result.logs)
    expected = pd.DataFrame({"id": [0, 1, 2], "name": ["person 0", "person 1", "person 2"]})
    pd.testing.assert_frame_equal(result.outputs["results"], expected)
    assert postgres.password not in str(result) + result.logs


def test_sqlalchemy_task_that_forgets_secret_requests(postgres: Database) -> None:
    task = people_task(postgres, request=False)
    result = run(task, {"limit": 3}, mode="subprocess", secrets={"people-db/password": postgres.password})
    assert not result.ok and result.error.code == "SecretNotRequested", result
    assert "secret_requests=[Secret(group='people-db', key='password')]" in result.error.message
    assert len(result.attempts) == 4  # a SYSTEM error: the platform would try it four times too
    (finding,) = [finding for finding in check(task) if finding.code == "secret-not-requested"]
    assert "people-db/password" in finding.message and finding.path == "custom.secret_connect_args.password"
    assert not [finding for finding in check(people_task(postgres, request=True)) if finding.code.startswith("secret")]


# --- check -------------------------------------------------------------------------------------------


def test_check_says_when_the_tasks_retries_never_apply() -> None:
    (finding,) = [finding for finding in check(platform_tasks.flaky_retries_2) if finding.code == "retries-never-apply"]
    assert "retries=2" in finding.message and "SYSTEM" in finding.message and "user_error" in finding.message
    assert not [finding for finding in check(platform_tasks.flaky_user) if finding.code == "retries-never-apply"]
    assert not [finding for finding in check(platform_tasks.flaky) if finding.code == "retries-never-apply"]


def test_check_reports_what_a_local_engine_cannot_honour_and_what_the_injector_refuses() -> None:
    from flytekit import Resources

    task = platform_tasks.PodTask(
        "needs_a_gpu",
        platform_tasks.VariablesExecutor,
        limits=Resources(gpu="1", cpu="512", ephemeral_storage="10Gi"),
        secret_requests=[Secret(group="vault", key="k", group_version="v2")],
    )
    codes = {finding.code for finding in check(task)}
    assert {"resources-gpu", "resources-cpu", "resources-storage", "secret-group-version"} <= codes
    template = serialize(platform_tasks.with_secret)
    template.security_context.secrets[0].group = ""  # flytekit refuses to make one; other tools do not
    assert "secret-without-group" in {finding.code for finding in check(template)}


def test_inspector_shows_secrets_retries_and_timeout_and_what_a_run_does(workspace: ShimTask, tmp_path: Path) -> None:
    from jupyter_shimtask import inspect

    listing = tmp_path / "secrets.json"
    listing.write_text(json.dumps({"g/k": SECRET}))
    workspace.secrets_path = str(listing)
    tabs = inspect(platform_tasks.with_secret).tabs
    container = tabs.children[list(tabs.titles).index("Container")].value
    assert "g/k (found in ShimTask.secrets_path)" in container and SECRET not in container
    assert "0 for USER errors" in container and "the platform&#x27;s 3 instead" in container
    tabs = inspect(platform_tasks.sleeps).tabs
    container = tabs.children[list(tabs.titles).index("Container")].value
    assert "3s per attempt; subprocess and image runs stop at it, process runs do not" in container


# --- the magic ---------------------------------------------------------------------------------------


def test_magic_secret_comes_from_its_variable_or_a_prompt_never_the_line(
    shell, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    import getpass

    from IPython.core.error import UsageError

    shell.user_ns["with_secret"] = platform_tasks.with_secret
    line = "run with_secret --mode subprocess --secret g/k"
    monkeypatch.setenv("SHIMTASK_SECRET_G_K", SECRET)
    assert_secret_delivered(shell.run_line_magic("shimtask", line), private_tmp)
    monkeypatch.delenv("SHIMTASK_SECRET_G_K")
    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or SECRET)
    assert_secret_delivered(shell.run_line_magic("shimtask", line), private_tmp)
    assert asked == ["secret g/k: "]
    with pytest.raises(UsageError, match=r"--secret takes a name only, never a value: set \$SHIMTASK_SECRET_G_K"):
        shell.run_line_magic("shimtask", "run with_secret --mode subprocess --secret g/k=typed-in")
    with pytest.raises(UsageError, match="requests secret g/k"):
        shell.run_line_magic("shimtask", "run with_secret --mode subprocess")


def test_magic_no_retries(shell) -> None:
    shell.user_ns["flaky"] = platform_tasks.flaky
    result = shell.run_line_magic("shimtask", "run flaky --mode subprocess --no-retries")
    assert not result.ok and len(result.attempts) == 1
