"""Tasks and workflows for the workflow tests: @task functions, shim tasks and flytekit's SQLite3Task.

A plain module, so a fresh pyflyte-execute (and a container, with the tests folder mounted) imports
the @task functions by module and name, as the platform does.
"""

from __future__ import annotations

import os
import time
import typing
from pathlib import Path
from typing import Any

import pandas as pd
from flytekit import TaskMetadata, conditional, kwtypes, task, workflow
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.extend import ShimTaskExecutor
from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

IMAGE = os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test")


class ScaleExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return int(inputs["x"] * tt.custom["factor"])


class ScaleTask(PythonCustomizedContainerTask):
    def __init__(self, name: str, factor: int, **kwargs: Any):
        self.factor = factor
        super().__init__(
            name=name,
            task_config=None,
            container_image=IMAGE,
            executor_type=ScaleExecutor,
            task_type="scale",
            interface=Interface(inputs=kwtypes(x=int), outputs=kwtypes(y=int)),
            **kwargs,
        )

    def get_custom(self, settings: Any) -> Any:
        return {"factor": self.factor}


class SleepExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        # the run's own TMPDIR, which every mode mounts read-write: a test sees the node has started
        (Path(os.environ["TMPDIR"]) / f"{inputs['marker']}.pid").write_text(str(os.getpid()))
        time.sleep(inputs["seconds"])
        return inputs["seconds"]


class SleepTask(PythonCustomizedContainerTask):
    def __init__(self, name: str, **kwargs: Any):
        super().__init__(
            name=name,
            task_config=None,
            container_image=IMAGE,
            executor_type=SleepExecutor,
            task_type="sleep",
            interface=Interface(inputs=kwtypes(seconds=float, marker=str), outputs=kwtypes(slept=float)),
            **kwargs,
        )

    def get_custom(self, settings: Any) -> Any:
        return {}


triple = ScaleTask("triple", 3)
double = ScaleTask("double", 2)
tenfold = ScaleTask("tenfold", 10)
same = ScaleTask("same", 1)
sleeper = SleepTask("sleeper")
cached_triple = ScaleTask("cached_triple", 3, metadata=TaskMetadata(cache=True, cache_version="1"))


@task(container_image=IMAGE)
def count_rows(results: pd.DataFrame) -> int:
    return len(results)


@task(container_image=IMAGE)
def seconds_and_names(results: pd.DataFrame, scale: int) -> typing.NamedTuple("Summary", seconds=float, names=str):
    return float(results["Seconds"].sum() * scale), ",".join(results["Name"])


@task(container_image=IMAGE)
def add(a: int, b: int = 1) -> int:
    return a + b


@task(container_image=IMAGE)
def total(xs: list[int], named: dict[str, int]) -> int:
    return sum(xs) + sum(named.values())


@task(container_image=IMAGE)
def explode(x: int) -> int:
    if x > 0:
        raise ValueError(f"refusing {x}")
    return x


def tracks_task(database: Path, image: str = IMAGE) -> SQLite3Task:
    return SQLite3Task(
        "tracks",
        query_template="select TrackId, Name, Seconds from tracks where TrackId < {{ .inputs.limit }}",
        inputs=kwtypes(limit=int),
        output_schema_type=pd.DataFrame,
        task_config=SQLite3Config(uri=str(database)),
        container_image=image,
    )


def music_workflow(tracks: SQLite3Task):
    """SQLite3Task -> a dataframe read by @task functions and a shim task, several outputs."""

    @workflow
    def music(limit: int, scale: int = 2) -> tuple[int, float, str, int]:
        frame = tracks(limit=limit)
        rows = count_rows(results=frame)
        seconds, names = seconds_and_names(results=frame, scale=scale)
        tripled = triple(x=rows)
        return rows, seconds, names, tripled

    return music


@workflow
def chain(a: int) -> int:
    first = triple(x=a)
    second = add(a=first, b=a)
    return total(xs=[first, second, 7], named={"a": a, "second": second})


@workflow
def broken(a: int) -> tuple[int, int]:
    first = add(a=a)
    bad = explode(x=first)
    side = double(x=a)
    return triple(x=bad), side


@workflow
def inner(x: int) -> int:
    return add(a=triple(x=x), b=x)


@workflow
def outer(a: int) -> int:
    return double(x=inner(x=add(a=a)))


@workflow
def pick(a: int) -> int:
    start = add(a=a, b=0)
    return (
        conditional("size")
        .if_(start > 10)
        .then(triple(x=start))
        .elif_((start < 0) | (start == 5))
        .then(double(x=start))
        .else_()
        .then(tenfold(x=start))
    )


@workflow
def cached(a: int) -> int:
    return add(a=cached_triple(x=a))


@workflow
def sleepy(seconds: float, marker_a: str, marker_b: str) -> tuple[float, float]:
    return sleeper(seconds=seconds, marker=marker_a), sleeper(seconds=seconds, marker=marker_b)


@task(container_image=IMAGE, retries=1)
def pod_variables(tag: str) -> str:
    """What the pod tells the task; it fails its first attempt with an error the platform retries."""
    from flytekit.exceptions.user import FlyteRecoverableException

    attempt = os.environ["FLYTE_ATTEMPT_NUMBER"]
    if tag == "flaky" and attempt == "0":
        raise FlyteRecoverableException("first attempt fails")
    execution, workflow = os.environ["FLYTE_INTERNAL_EXECUTION_ID"], os.environ["FLYTE_INTERNAL_EXECUTION_WORKFLOW"]
    return "|".join([execution, workflow, attempt])


@workflow
def in_one_pod_each() -> tuple[str, str]:
    return pod_variables(tag="steady"), pod_variables(tag="flaky")
