"""Template-only tasks used by the tests, in a plain module (the magic is not the only way in)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from flytekit import kwtypes
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.extend import ShimTaskExecutor
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile

from jupyter_shimtask import outputs_by_name


class Task(PythonCustomizedContainerTask):
    """A template-only task whose custom payload and interface are given at construction."""

    def __init__(self, name: str, executor: type, inputs: dict, outputs: dict, custom: Any = None, **kwargs):
        self.custom = {} if custom is None else custom
        super().__init__(
            name=name,
            task_config=None,
            container_image="shimtask-runtime:test",
            executor_type=executor,
            task_type="sample",
            interface=Interface(inputs=inputs, outputs=outputs),
            **kwargs,
        )

    def get_custom(self, settings: Any) -> Any:
        return self.custom


class GreetExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        print(f"greeting {inputs['name']}")
        return f"{tt.custom['greeting']}, {inputs['name']}!"


class PositionalExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["n"] + 1, str(inputs["n"])


class ByNameExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return outputs_by_name(tt, total=inputs["n"] + 1, label=str(inputs["n"]))


class SameTypeByNameExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return outputs_by_name(tt, low=inputs["n"] - 1, high=inputs["n"] + 1)


class RaisingExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise ValueError(f"cannot greet {inputs['name']!r}")


class UserErrorExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        from flytekit.exceptions.user import FlyteUserRuntimeException

        raise FlyteUserRuntimeException(KeyError(inputs["name"]))


class ChattyFailingExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        for index in range(3):
            print(f"step {index} of {inputs['name']}", flush=True)
            time.sleep(0.6)
        raise ValueError(f"gave up on {inputs['name']!r}")


class SleepingExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        time.sleep(inputs["seconds"])
        return inputs["seconds"]


class FilesExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        source = Path(inputs["source"].download())
        upper = source.with_name("upper.txt")
        upper.write_text(source.read_text().upper())
        shelf = source.parent / "shelf"
        shelf.mkdir()
        for index, line in enumerate(source.read_text().splitlines()):
            (shelf / f"line{index}.txt").write_text(line)
        return outputs_by_name(tt, upper=FlyteFile(str(upper)), lines=FlyteDirectory(str(shelf)))


class FrameExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        frame = inputs["frame"].open(pd.DataFrame).all()
        return frame.assign(doubled=frame["value"] * tt.custom["factor"])


greet = Task("greet", GreetExecutor, kwtypes(name=str), kwtypes(greeting=str), {"greeting": "Hello"})
positional = Task("positional", PositionalExecutor, kwtypes(n=int), kwtypes(total=int, label=str))
by_name = Task("by_name", ByNameExecutor, kwtypes(n=int), kwtypes(total=int, label=str))
same_type = Task("same_type", SameTypeByNameExecutor, kwtypes(n=int), kwtypes(low=int, high=int))
raising = Task("raising", RaisingExecutor, kwtypes(name=str), kwtypes(greeting=str))
user_error = Task("user_error", UserErrorExecutor, kwtypes(name=str), kwtypes(greeting=str))
chatty = Task("chatty", ChattyFailingExecutor, kwtypes(name=str), kwtypes(greeting=str))
sleeping = Task("sleeping", SleepingExecutor, kwtypes(seconds=float), kwtypes(slept=float))
files = Task("files", FilesExecutor, kwtypes(source=FlyteFile), kwtypes(upper=FlyteFile, lines=FlyteDirectory))
frames = Task("frames", FrameExecutor, kwtypes(frame=pd.DataFrame), kwtypes(result=pd.DataFrame), {"factor": 2})
