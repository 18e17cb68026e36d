"""Records how an executor handed back its outputs inside pyflyte-execute.

Standalone on purpose (stdlib and flytekit only): it is put on PYTHONPATH of runs, also inside
images that do not have jupyter_shimtask installed. Enabled by SHIMTASK_PROBE=<json file> in the
run's environment.
"""

from __future__ import annotations

import contextlib
import json
import os

ENV_VAR = "SHIMTASK_PROBE"


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


def patch(record_path):
    """Wrap ExecutableTemplateShimTask.execute; returns a function that undoes it."""
    from flytekit.core.shim_task import ExecutableTemplateShimTask

    original = ExecutableTemplateShimTask.execute

    def execute(self, **kwargs):
        record = {}
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
