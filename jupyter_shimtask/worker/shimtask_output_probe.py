"""Records how an executor handed back its outputs inside pyflyte-execute.

Standalone on purpose (stdlib and flytekit only): it is put on PYTHONPATH of runs, also inside
images that do not have jupyter_shimtask installed. Enabled by SHIMTASK_PROBE=<json file> in the
run's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

ENV_VAR = "SHIMTASK_PROBE"
MEMORY_LIMIT_VAR = "SHIMTASK_MEMORY_LIMIT"  # bytes: the run's process group is killed above it, as by a cgroup
MEMORY_WATCH_SECONDS = 0.2


def describe(result, order):
    if len(order) < 2:
        return "single"
    names = getattr(result, "output_names", None)
    if names is not None:
        return "by_name" if list(names) == list(order) else "by_name_mismatch"
    if isinstance(result, (tuple, list)):
        return "positional"
    return type(result).__name__


def peak_rss_kb():
    """This process's peak memory as a container's memory cgroup counts it, roughly: the peak resident
    set (VmHWM, since exec, unlike getrusage's ru_maxrss) less the file pages (shared libraries,
    mostly charged to whoever read them first)."""
    fields = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmHWM", "RssFile"):
                    fields[name] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if "VmHWM" not in fields:
        return None
    return fields["VmHWM"] - fields.get("RssFile", 0)


def group_memory_kb(group):
    """What process group ``group`` holds in memory now, as a memory cgroup counts it, roughly: its
    processes' resident anonymous and shared-memory pages (the file pages are left out, as in ``peak_rss_kb``)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) != group:
                    continue
            with open(f"/proc/{entry}/status") as status:
                total += sum(int(line.split()[1]) for line in status if line.startswith(("RssAnon:", "RssShmem:")))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return total


def watch_memory(record_path, limit_bytes):
    """Kill this process's group (SIGKILL) as soon as it holds more than ``limit_bytes``, recording why."""
    group = os.getpgid(0)

    def watch():
        while True:
            used_kb = group_memory_kb(group)
            if used_kb * 1024 > limit_bytes:
                with open(record_path, "w") as handle:
                    json.dump({"memory_killed_kb": used_kb, "peak_rss_kb": used_kb}, handle)
                os.killpg(group, signal.SIGKILL)
            time.sleep(MEMORY_WATCH_SECONDS)

    threading.Thread(target=watch, name="shimtask-memory-limit", daemon=True).start()


def watch_memory_from_environment():
    """``watch_memory`` when the run has a memory limit; the variable is taken out, so the executor does not see it."""
    limit = os.environ.pop(MEMORY_LIMIT_VAR, None)
    record_path = os.environ.get(ENV_VAR)
    if limit and record_path:
        watch_memory(record_path, int(limit))


def patch(record_path):
    """Wrap ExecutableTemplateShimTask.execute; returns a function that undoes it."""
    from flytekit.core.shim_task import ExecutableTemplateShimTask

    original = ExecutableTemplateShimTask.execute

    def execute(self, **kwargs):
        record = {"started_at": time.time()}  # how long the run took to reach the executor
        try:
            result = original(self, **kwargs)
            order = list(self.task_template.interface.outputs.keys())
            record.update(order=order, returned=describe(result, order), type=type(result).__name__)
            if isinstance(result, (tuple, list, dict)):
                record["length"] = len(result)
            return result
        finally:
            record["peak_rss_kb"] = peak_rss_kb()
            with open(record_path, "w") as handle:
                json.dump(record, handle)

    ExecutableTemplateShimTask.execute = execute

    def undo():
        ExecutableTemplateShimTask.execute = original

    return undo


def install_from_environment():
    """Record into the file $SHIMTASK_PROBE names, if it is set; returns what undoes it (None if nothing was done).

    The one way every run installs the probe: sitecustomize as a cold pyflyte-execute starts, the warm
    worker's child once it has the run's environment, ``recording`` around a run in this interpreter.
    """
    watch_memory_from_environment()
    record_path = os.environ.get(ENV_VAR)
    if not record_path:
        return None
    try:
        return patch(record_path)
    except ImportError:  # no flytekit here: nothing to record
        return None


@contextlib.contextmanager
def recording():
    """``install_from_environment`` for the block (a run in this interpreter), undone after."""
    undo = install_from_environment()
    try:
        yield
    finally:
        if undo is not None:
            undo()
