"""The executors and tasks of the fault matrix: one %%shimtask cell, built once per test module."""

import textwrap

CELL = textwrap.dedent(
    """
    import ctypes
    import os
    import subprocess
    import sys
    import time

    from flytekit import kwtypes
    from flytekit.core.interface import Interface
    from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
    from flytekit.extend import ShimTaskExecutor


    class FaultTask(PythonCustomizedContainerTask):
        def __init__(self, name, executor, inputs, outputs, **kwargs):
            super().__init__(
                name=name,
                task_config=None,
                container_image="shimtask-runtime:test",
                executor_type=executor,
                task_type="fault",
                interface=Interface(inputs=inputs, outputs=outputs),
                **kwargs,
            )

        def get_custom(self, settings):
            return {"greeting": "Hello"}


    class GreetExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return f"{tt.custom['greeting']}, {inputs['text']}!"


    class ProbeExecutor(ShimTaskExecutor):
        \"\"\"What a fresh process makes of its start-up environment.\"\"\"

        def execute_from_model(self, tt, **inputs):
            probes = {
                "TZ": lambda: time.strftime("%Z", time.localtime(0)),
                "PYTHONIOENCODING": lambda: str(sys.stdout.encoding),
                "PYTHONHASHSEED": lambda: str(hash("shimtask")),
                "VALUE": lambda: os.environ.get("SHIMTASK_FAULT_VALUE", "<unset>"),
                "SECRET": lambda: str(os.path.exists(os.path.join(os.getcwd(), "fault-secret.txt"))),
            }
            return probes[inputs["text"].split(":")[0]]()


    class HogExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            block = b"x" * (int(inputs["text"]) << 20)
            return str(len(block))


    class GrowExecutor(ShimTaskExecutor):
        \"\"\"8 MiB more every 50 ms up to ``text`` MiB, held until 60 s have passed.\"\"\"

        def execute_from_model(self, tt, **inputs):
            blocks, end = [], time.monotonic() + 60
            while time.monotonic() < end:
                if len(blocks) * 8 < int(inputs["text"]):
                    blocks.append(b"x" * (8 << 20))
                time.sleep(0.05)
            return str(len(blocks))


    class RaiseExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            raise ValueError("fault: the executor raised")


    class SleepExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            time.sleep(float(inputs["text"]))
            return "slept"


    class CrashExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            ctypes.string_at(0)  # a real SIGSEGV, which even a container's first process gets


    class DaemonExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return str(subprocess.Popen(["sleep", inputs["text"]], start_new_session=True).pid)


    class SiblingsExecutor(ShimTaskExecutor):
        \"\"\"The run folders beside this run's own, after waiting ``text`` seconds for another run to start.\"\"\"

        def execute_from_model(self, tt, **inputs):
            time.sleep(float(inputs["text"]))
            here = os.path.dirname(os.environ["SHIMTASK_PROBE"])
            parent = os.path.dirname(here)
            seen = sorted(name for name in os.listdir(parent) if os.path.join(parent, name) != here)
            return " ".join([os.path.basename(here), *seen])


    class DictExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return {"low": 1, "high": 2}


    class ShortExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return (1,)


    class TupleExecutor(ShimTaskExecutor):
        def execute_from_model(self, tt, **inputs):
            return 1, 2


    one = dict(inputs=kwtypes(text=str), outputs=kwtypes(out=str))
    two = dict(inputs=kwtypes(text=str), outputs=kwtypes(low=int, high=int))
    greet = FaultTask("fault_greet", GreetExecutor, **one)
    probe = FaultTask("fault_probe", ProbeExecutor, **one)
    hog = FaultTask("fault_hog", HogExecutor, **one)
    grow = FaultTask("fault_grow", GrowExecutor, **one)
    raising = FaultTask("fault_raise", RaiseExecutor, **one)
    sleeping = FaultTask("fault_sleep", SleepExecutor, **one)
    crash = FaultTask("fault_crash", CrashExecutor, **one)
    daemon = FaultTask("fault_daemon", DaemonExecutor, **one)
    siblings = FaultTask("fault_siblings", SiblingsExecutor, **one)
    as_dict = FaultTask("fault_dict", DictExecutor, **two)
    short = FaultTask("fault_short", ShortExecutor, **two)
    positional = FaultTask("fault_tuple", TupleExecutor, **two)
    """
)
