from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sample_tasks

from jupyter_shimtask import save_template, serialize


@pytest.fixture
def template_files(tmp_path: Path) -> dict[str, Path]:
    return {
        name: save_template(serialize(getattr(sample_tasks, name)), tmp_path / f"{name}.pb")
        for name in ("greet", "raising", "positional")
    }


def shimtask(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(Path(__file__).parent)}
    import os

    return subprocess.run(["shimtask", *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **env})


def test_run_prints_outputs(template_files, tmp_path) -> None:
    done = shimtask("run", str(template_files["greet"]), "--inputs", '{"name": "cli"}', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "greeting = 'Hello, cli!'" in done.stdout


def test_run_json(template_files, tmp_path) -> None:
    done = shimtask("run", str(template_files["greet"]), "--inputs", '{"name": "j"}', "--json", cwd=tmp_path)
    document = json.loads(done.stdout)
    assert document["ok"] is True and document["outputs"] == {"greeting": "Hello, j!"}
    assert document["mode"] == "subprocess"


def test_failed_run_exits_non_zero(template_files, tmp_path) -> None:
    done = shimtask("run", str(template_files["raising"]), "--inputs", '{"name": "x"}', "--json", cwd=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["message"] == "ValueError: cannot greet 'x'"


def test_bad_input_and_missing_file(template_files, tmp_path) -> None:
    assert shimtask("run", str(template_files["greet"]), "--inputs", "{oops", cwd=tmp_path).returncode == 2
    missing = shimtask("run", str(tmp_path / "absent.pb"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_size_and_check(template_files, tmp_path) -> None:
    size = shimtask("size", str(template_files["greet"]), "--json", cwd=tmp_path)
    assert json.loads(size.stdout)["total"] == template_files["greet"].stat().st_size
    check = shimtask("check", str(template_files["positional"]), cwd=tmp_path)
    assert check.returncode == 0 and "positional-outputs" in check.stdout


def test_check_on_a_clean_template_says_so(template_files, tmp_path) -> None:
    check = shimtask("check", str(template_files["greet"]), cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == "no findings"


def test_failed_run_text_leads_with_the_cause(template_files, tmp_path) -> None:
    failed = shimtask("run", str(template_files["raising"]), "--inputs", '{"name": "cli"}', cwd=tmp_path)
    lines = failed.stdout.splitlines()
    assert lines[0].startswith("raising [subprocess] FAILED") and lines[1] == "  SYSTEM: ValueError: cannot greet 'cli'"
    assert "<" not in failed.stdout  # plain text for terminals: no markup


def test_inputs_as_name_value_pairs_override_the_json(template_files, capsys) -> None:
    from jupyter_shimtask.cli import main

    greet = str(template_files["greet"])
    assert main(["run", greet, "--mode", "process", "name=123", "--json"]) == 0  # read as its declared str
    assert json.loads(capsys.readouterr().out)["outputs"] == {"greeting": "Hello, 123!"}
    assert main(["run", greet, "--inputs", '{"name": "a"}', "name=b", "--mode", "process", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"greeting": "Hello, b!"}


def test_a_name_that_is_no_template_is_one_line(capsys) -> None:
    from jupyter_shimtask.cli import main

    assert main(["run", "nothing_here"]) == 2
    error = capsys.readouterr().err.strip()  # the tasks defined: those of the tests run before in this process
    assert error.startswith("shimtask: no task or template named 'nothing_here' (tasks defined: ") and "\n" not in error
