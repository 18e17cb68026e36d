"""Image mode against a hand-written ``docker run`` of the same template in the same image.

    python bench/bench_image.py [--repeat N] [--engine docker|podman] [--image IMAGE]

Needs a running engine and the image (default: $SHIMTASK_TEST_IMAGE or shimtask-runtime:test,
built from the project's Dockerfile). Prints medians and the ratio to the hand-written run.
Target: run(mode="image", warm=False) <= 1.10x (bench_warm.py times warm runs).
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
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(TESTS))


def hand_written(engine: str, image: str, template: Path, inputs: Path, folder: Path, index: int) -> float:
    """What an author types today: the template's command in the image on mounted files, then outputs.pb."""
    from flyteidl.core.literals_pb2 import LiteralMap

    outputs = folder / f"out{index}"
    started = time.perf_counter()
    subprocess.run(
        [
            engine, "run", "--rm",
            "--volume", f"{folder}:{folder}", "--volume", f"{TESTS}:{TESTS}:ro",
            "--env", f"PYTHONPATH={TESTS}",
            image,
            "pyflyte-execute",
            "--inputs", str(inputs),
            "--output-prefix", str(outputs),
            "--raw-output-data-prefix", str(folder / f"raw{index}"),
            "--resolver", "flytekit.core.python_customized_container_task.default_task_template_resolver",
            "--", str(template), "sample_tasks.GreetExecutor",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    LiteralMap().ParseFromString((outputs / "outputs.pb").read_bytes())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--image", default=os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test"))
    options = parser.parse_args()

    from bench_core import write_template

    from jupyter_shimtask import run

    folder = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    try:
        template_path, inputs_path = write_template(folder)

        def image_mode() -> float:
            started = time.perf_counter()
            result = run(
                str(template_path),
                {"name": "bench"},
                mode="image",
                engine=options.engine,
                image=options.image,
                warm=False,
            )
            assert result.ok, result.error
            return time.perf_counter() - started

        image_mode()  # the image's preflight check happens once per kernel: outside the measurement
        hand_written(options.engine, options.image, template_path, inputs_path, folder, -1)
        baseline, measured = [], []
        for index in range(options.repeat):  # interleaved, so drift hits both alike
            baseline.append(hand_written(options.engine, options.image, template_path, inputs_path, folder, index))
            measured.append(image_mode())
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    base = statistics.median(baseline)
    mode = statistics.median(measured)
    print(f"engine {options.engine}, image {options.image}, {options.repeat} runs each (medians)")
    print(f"hand-written {options.engine} run   {base * 1000:8.0f} ms   1.00x")
    print(f"run(mode='image', cold)    {mode * 1000:8.0f} ms   {mode / base:.2f}x   (target <= 1.10x)")


if __name__ == "__main__":
    main()
