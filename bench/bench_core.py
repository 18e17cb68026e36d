"""Run modes against a hand-written pyflyte-execute of the same template, and %load_ext.

    python bench/bench_core.py [--repeat N]

Prints medians and ratios to the hand-written call. Targets: cold subprocess mode <= 1.05x,
warm subprocess mode <= 0.1x; %load_ext < 200 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def hand_written(
    template: Path, inputs: Path, folder: Path, index: int, executor: str = "sample_tasks.GreetExecutor"
) -> float:
    """What an author types today: pyflyte-execute on local files, then reading outputs.pb."""
    from flyteidl.core.literals_pb2 import LiteralMap

    outputs = folder / f"out{index}"
    started = time.perf_counter()
    subprocess.run(
        [
            "pyflyte-execute",
            "--inputs", str(inputs),
            "--output-prefix", str(outputs),
            "--raw-output-data-prefix", str(folder / f"raw{index}"),
            "--resolver", "flytekit.core.python_customized_container_task.default_task_template_resolver",
            "--", str(template), executor,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "tests")},
    )  # fmt: skip
    LiteralMap().ParseFromString((outputs / "outputs.pb").read_bytes())
    return time.perf_counter() - started


def write_template(folder: Path) -> tuple[Path, Path]:
    """The benchmarks' template (sample_tasks.greet) and its inputs, as files in ``folder``."""
    import sample_tasks

    from jupyter_shimtask import save_template, serialize
    from jupyter_shimtask.literals import encode_inputs

    template = serialize(sample_tasks.greet)
    inputs = folder / "inputs.pb"
    inputs.write_bytes(encode_inputs(template, {"name": "bench"}).SerializeToString())
    return save_template(template, folder / "task_template.pb"), inputs


def load_ext_seconds() -> float:
    code = (
        "import time\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\nstarted = time.perf_counter()\n"
        "shell.run_line_magic('load_ext', 'jupyter_shimtask')\nprint(time.perf_counter() - started)\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat

    from jupyter_shimtask import run

    folder = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    try:
        template_path, inputs_path = write_template(folder)

        def timed(**options: object) -> float:
            started = time.perf_counter()
            result = run(str(template_path), {"name": "bench"}, mode="subprocess", **options)
            assert result.ok, result.error
            return time.perf_counter() - started

        timed(warm=True)  # start the worker outside the measurement
        baseline, cold, warm = [], [], []
        for index in range(repeat):  # interleaved, so drift hits all alike
            baseline.append(hand_written(template_path, inputs_path, folder, index))
            cold.append(timed(warm=False))
            warm.append(timed(warm=True))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_ext = [load_ext_seconds() for _ in range(5)]

    base = statistics.median(baseline)
    print(f"hand-written pyflyte-execute       median {base:.3f}s  (n={repeat})")
    for label, times, target in (("cold", cold, 1.05), ("warm", warm, 0.10)):
        median = statistics.median(times)
        print(
            f"run(mode='subprocess', {label})    median {median:.3f}s  ratio {median / base:.3f}  (target <= {target})"
        )
    print(f"%load_ext jupyter_shimtask         median {statistics.median(load_ext) * 1000:.1f} ms  (target < 200 ms)")


if __name__ == "__main__":
    main()
