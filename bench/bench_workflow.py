"""Workflow runs against hand-written pyflyte-execute runs and against themselves, in one run.

    python bench/bench_workflow.py [--repeat N]

- a chain of 10 shim tasks in warm subprocess mode against 10 cold pyflyte-execute runs of the
  same template by hand (target <= 0.15x);
- 8 independent nodes, cold, at the default parallelism against the same 8 runs one after another
  (parallelism 1) (target <= 0.65x on 2 cores);
- the workflow layer's own time (compile, plan, bind, schedule: the run's wall time less its
  nodes' own) on a 50-node chain, against that warm run's time (target < 5%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

TARGETS = {"chain": 0.15, "parallel": 0.65, "overhead": 0.05}


def chain_of(task, length: int, name: str):
    from flytekit.core.workflow import ImperativeWorkflow

    workflow = ImperativeWorkflow(name=name)
    workflow.add_workflow_input("x", int)
    previous = workflow.inputs["x"]
    for _ in range(length):
        previous = workflow.add_entity(task, x=previous).outputs["y"]
    workflow.add_workflow_output("y", previous)
    return workflow


def fan_of(task, width: int, name: str):
    from flytekit.core.workflow import ImperativeWorkflow

    workflow = ImperativeWorkflow(name=name)
    workflow.add_workflow_input("x", int)
    for index in range(width):
        workflow.add_workflow_output(f"y{index}", workflow.add_entity(task, x=workflow.inputs["x"]).outputs["y"])
    return workflow


def by_hand(task, runs: int, folder: Path) -> float:
    """``runs`` cold pyflyte-execute runs of the task's template, one after another, as an author types them."""
    from bench_core import hand_written

    from jupyter_shimtask import save_template, serialize
    from jupyter_shimtask.literals import encode_inputs

    template = serialize(task)
    template_path = save_template(template, folder / "task_template.pb")
    inputs = folder / "inputs.pb"
    inputs.write_bytes(encode_inputs(template, {"x": 1}).SerializeToString())
    executor = "workflow_tasks.ScaleExecutor"
    return sum(hand_written(template_path, inputs, folder, index, executor) for index in range(runs))


def timed_run(workflow, **options) -> tuple[float, object]:
    from jupyter_shimtask import run

    started = time.perf_counter()
    result = run(workflow, {"x": 1}, mode="subprocess", live=False, **options)
    assert result.ok, result.error
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    import workflow_tasks as w

    os.environ.setdefault("SHIMTASK_WORKSPACE", tempfile.mkdtemp(prefix="shimtask-bench-ws-"))
    folder = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    chain10 = chain_of(w.triple, 10, "chain10")
    chain50 = chain_of(w.same, 50, "chain50")
    fan8 = fan_of(w.triple, 8, "fan8")
    timed_run(chain10, warm=True)  # the warm worker starts outside the measurement
    times: dict[str, list[float]] = {
        "10 cold pyflyte-execute by hand": [],
        "chain of 10, warm": [],
        "8 runs one after another, cold": [],
        f"8 independent nodes, cold (parallelism {os.cpu_count()})": [],
        "50-node chain, warm": [],
        "50-node chain, workflow layer": [],
    }
    try:
        for _ in range(options.repeat):  # interleaved, so drift hits all alike
            times["10 cold pyflyte-execute by hand"].append(by_hand(w.triple, 10, folder))
            times["chain of 10, warm"].append(timed_run(chain10, warm=True)[0])
            times["8 runs one after another, cold"].append(timed_run(fan8, warm=False, parallelism=1)[0])
            times[f"8 independent nodes, cold (parallelism {os.cpu_count()})"].append(timed_run(fan8, warm=False)[0])
            seconds, result = timed_run(chain50, warm=True, parallelism=1)
            nodes = sum(node.seconds for node in result.nodes.values() if node is not None)
            times["50-node chain, warm"].append(seconds)
            times["50-node chain, workflow layer"].append(seconds - nodes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    median = {label: statistics.median(values) for label, values in times.items()}
    labels = list(median)
    print(f"{options.repeat} runs each (medians), {os.cpu_count()} cores")
    for label in labels:
        print(f"  {label:<48} {median[label]:8.3f}s")
    ratios = {
        "chain": median[labels[1]] / median[labels[0]],
        "parallel": median[labels[3]] / median[labels[2]],
        "overhead": median[labels[5]] / median[labels[4]],
    }
    names = {
        "chain": "warm chain of 10 / 10 cold by hand",
        "parallel": "8 parallel cold / 8 one after another",
        "overhead": "workflow layer / 50-node warm run",
    }
    for key, ratio in ratios.items():
        verdict = "ok" if ratio <= TARGETS[key] else "MISSED"
        print(f"  {names[key]:<48} {ratio:8.3f}x  (target <= {TARGETS[key]}x: {verdict})")


if __name__ == "__main__":
    main()
