"""A template produced elsewhere (flytekit's own SQLite3Task) runs unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from flytekit import kwtypes
from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

from jupyter_shimtask import run, serialize


@pytest.fixture
def tracks_task(tmp_path: Path) -> SQLite3Task:
    database = tmp_path / "music.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table tracks (TrackId integer, Name text, Seconds real)")
        connection.executemany("insert into tracks values (?, ?, ?)", [(i, f"track {i}", 60.5 * i) for i in range(20)])
    return SQLite3Task(
        "tracks",
        query_template="select TrackId, Name, Seconds from tracks where TrackId < {{ .inputs.limit }}",
        inputs=kwtypes(limit=int),
        output_schema_type=pd.DataFrame,
        task_config=SQLite3Config(uri=str(database)),
    )


def test_sqlite3_task_matches_flytekits_own_call(tracks_task: SQLite3Task) -> None:
    expected = tracks_task(limit=5)
    assert serialize(tracks_task).container.args[-1] == "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"
    result = run(tracks_task, {"limit": 5}, mode="subprocess")
    assert result.ok, result.error
    pd.testing.assert_frame_equal(result.outputs["results"], expected)
    from_template = run(serialize(tracks_task), {"limit": 5}, mode="subprocess")
    pd.testing.assert_frame_equal(from_template.outputs["results"], expected)
