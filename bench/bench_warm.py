"""Warm runs against cold ones and hand-written calls, on one template, in one run.

    python bench/bench_warm.py [--repeat N] [--engine docker|podman] [--image IMAGE]

Times a hand-written pyflyte-execute, run(mode="subprocess") cold and warm, a hand-written
``docker run`` of the same command in the image, and run(mode="image") cold and warm; prints
medians, each one's ratio to its hand-written baseline, and warm/cold ratios.
Targets: warm subprocess <= 0.1x cold subprocess, warm image <= 0.25x cold image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_core import hand_written as hand_written_process
from bench_core import write_template
from bench_image import hand_written as hand_written_image

MODES = ("subprocess", "image")
TARGETS = {"subprocess": 0.10, "image": 0.25}  # warm / cold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--image", default=os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test"))
    options = parser.parse_args()

    from jupyter_shimtask import run

    folder = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    try:
        template_path, inputs_path = write_template(folder)

        def through_run(mode: str, warm: bool) -> Callable[[int], float]:
            def timed(index: int) -> float:
                started = time.perf_counter()
                result = run(
                    str(template_path),
                    {"name": "bench"},
                    mode=mode,
                    warm=warm,
                    engine=options.engine,
                    image=options.image,
                )
                assert result.ok and not result.notes, (result.error, result.notes)
                return time.perf_counter() - started

            return timed

        by_hand = {
            "subprocess": lambda index: hand_written_process(template_path, inputs_path, folder, index),
            "image": lambda index: hand_written_image(
                options.engine, options.image, template_path, inputs_path, folder, index
            ),
        }
        measures: dict[str, Callable[[int], float]] = {}
        for mode in MODES:
            measures[f"{mode}, by hand"] = by_hand[mode]
            measures[f"{mode}, cold"] = through_run(mode, warm=False)
            measures[f"{mode}, warm"] = through_run(mode, warm=True)
        for measure in measures.values():  # workers, containers and image checks start outside the measurement
            measure(-1)
        times: dict[str, list[float]] = {label: [] for label in measures}
        for index in range(options.repeat):  # interleaved, so drift hits all alike
            for label, measure in measures.items():
                times[label].append(measure(index))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    median = {label: statistics.median(values) for label, values in times.items()}
    print(f"engine {options.engine}, image {options.image}, {options.repeat} runs each (medians)")
    print(f"  by hand: pyflyte-execute on local files; {options.engine} run of it in the image")
    for label, seconds in median.items():
        base = median[f"{label.partition(',')[0]}, by hand"]
        print(f"  {label:20} {seconds * 1000:8.1f} ms   {seconds / base:6.3f}x by hand")
    for mode, target in TARGETS.items():
        ratio = median[f"{mode}, warm"] / median[f"{mode}, cold"]
        print(f"  {mode + ' warm/cold':20} {ratio:8.3f}x    (target <= {target})")


if __name__ == "__main__":
    main()
