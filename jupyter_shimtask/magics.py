"""``%%shimtask`` and ``%shimtask``: parse arguments, call the API, display. No logic of their own."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.utils.process import arg_split

from .config import ShimTask, use
from .errors import ShimTaskError

if TYPE_CHECKING:
    from .failures import FailureKind

COMMANDS = (
    "run",
    "list",
    "template",
    "size",
    "check",
    "why",
    "inspect",
    "diff",
    "export",
    "package",
    "register",
    "build",
)


@magics_class
class ShimTaskMagics(Magics):
    last_error: ShimTaskError | None = None

    @magic_arguments()
    @argument("name", nargs="?", help="Module name stem (default: shimtask_cell); the module is NAME_<hash>.")
    @argument("--quiet", "-q", action="store_true", help="Do not show the summary of the defined tasks.")
    @cell_magic
    def shimtask(self, line: str, cell: str) -> Any:
        """Turn the cell into a real module in the workspace and bind its public names.

        The module is importable by a fresh process (and inside images), so the template's
        executor path works with pyflyte-execute. Edited cells become new modules.
        """
        from .authoring import build_module
        from .views import TaskSummary

        args = parse_argstring(self.shimtask, line)
        with self._errors("cell", args.name or ""), _cell_failures(args.name or ""):
            module = build_module(self.shell.transform_cell(cell), args.name)
        self.shell.user_ns.update(module.public_names)
        return None if args.quiet else TaskSummary(module.tasks, module.classes, module.entities)

    @magic_arguments("shimtask")
    @argument("command", choices=COMMANDS, help="What to do.")
    @argument("target", nargs="?", help="A task variable, a task name, or a template file (.pb/.json/.yaml).")
    @argument("inputs", nargs="*", help="Run inputs as name=value (Python literals; text otherwise).")
    @argument("--mode", "-m", choices=("process", "subprocess", "image"), help="Run mode (default: ShimTask.mode).")
    @argument("--timeout", type=float, help="Run timeout in seconds.")
    @argument("--keep", action="store_true", help="Keep the run folder.")
    @argument("--no-cache", dest="no_cache", action="store_true", help="Workflows: run cached tasks anew.")
    @argument(
        "--cold",
        action="store_true",
        help="Start a fresh process (--mode subprocess) or container (--mode image) instead of the warm worker.",
    )
    @argument(
        "--image",
        help="Image for --mode image (default: the template's own); build: the base; package/register: default image.",
    )
    @argument("--engine", choices=("docker", "podman"), help="Container engine for --mode image and build.")
    @argument("--tag", help="With build: the image to build.")
    @argument(
        "--secret",
        action="append",
        default=[],
        metavar="GROUP/KEY",
        help="With run: give it a secret the template requests; the value comes from $SHIMTASK_SECRET_GROUP_KEY "
        "or a hidden prompt, never from this line.",
    )
    @argument("--no-retries", dest="no_retries", action="store_true", help="With run: stop after the first attempt.")
    @argument("--inputs-from", dest="inputs_from", help="A Python expression giving a dict of inputs.")
    @argument("--save", help="With template: also write it to this .pb, .json or .yaml file.")
    @argument("--to", help="With export: the package folder; with package: the .tgz (default flyte-package.tgz).")
    @argument("--package-name", dest="package_name", help="With export: the import name (flytekitplugins_<task>).")
    @argument("--base-image", dest="base_image", help="With export: the Dockerfile's default BASE_IMAGE.")
    @argument("--force", action="store_true", help="With export and package: overwrite existing files.")
    @argument("--project", help="With package and register: the Flyte project.")
    @argument("--domain", help="With package and register: the Flyte domain.")
    @argument("--version", help="With package and register: the version (register's default: a content hash).")
    @argument("--config", help="With register: a Flyte config file (default: flytekit's usual lookup).")
    @line_magic("shimtask")
    def shimtask_line(self, line: str) -> Any:
        """Work with template-only tasks: run, list, template, size, check, inspect, diff, why, export,
        package, register.

        Examples::

            %shimtask run greet name=world
            %shimtask run greet --mode subprocess name=world
            %shimtask template greet --save greet.pb
            %shimtask size greet
            %shimtask inspect greet
            %shimtask diff greet other.pb
            %shimtask export greet --to greet-plugin name=world
            %shimtask package greet --to greet.tgz --image ghcr.io/org/greet:1
            %shimtask register greet --project flytesnacks --domain development
            %shimtask run greet --mode image name=world
            %shimtask build greet --tag greet-executor:1
        """
        # intermixed: options may come after the inputs (`run greet name=x --mode subprocess`)
        args = self.shimtask_line.parser.parse_intermixed_args(arg_split(line, posix=True))
        if args.command == "why":
            return self._why(args)
        with self._errors(task=args.target or ""):
            return getattr(self, f"_{args.command}")(args)

    def _run(self, args: Any) -> Any:
        from .literals import parse_inputs
        from .platform.secrets import secret_values
        from .running import run
        from .views import log_sink
        from .workflows import is_workflow

        target = self._target(args)
        inputs = self._inputs_from(args)
        inputs.update(parse_inputs(target, args.inputs))
        if is_workflow(target):  # its nodes' logs are kept per node (result.logs(node)), not streamed
            return run(target, inputs, mode=args.mode, timeout=args.timeout, keep=args.keep or None,
                       image=args.image, engine=args.engine, warm=False if args.cold else None,
                       cache=not args.no_cache)  # fmt: skip
        logs = log_sink(self.shell, args.target)
        try:
            return run(
                target,
                inputs,
                mode=args.mode,
                timeout=args.timeout,
                keep=args.keep or None,
                image=args.image,
                engine=args.engine,
                warm=False if args.cold else None,
                on_log=logs.write,
                secrets=secret_values(args.secret),
                retries=not args.no_retries,
            )
        finally:
            logs.close()

    def _list(self, args: Any) -> Any:
        from .authoring import DefinedTask, registry
        from .views import TaskSummary

        return TaskSummary(
            [DefinedTask(name, registry.tasks[name], versions[-1]) for name, versions in registry.history.items()]
        )

    def _template(self, args: Any) -> Any:
        from IPython.display import JSON

        from .template import as_template, save_template, template_to_dict

        template = as_template(self._target(args))
        if args.save:
            print(f"saved {save_template(template, args.save)}")
        return JSON(template_to_dict(template), expanded=True)

    def _size(self, args: Any) -> Any:
        from .template import size_report

        return size_report(self._target(args))

    def _check(self, args: Any) -> Any:
        from .fidelity import check

        findings = check(self._target(args))
        print("\n".join(map(str, findings)) or "no findings")

    def _inspect(self, args: Any) -> Any:
        from .inspector import inspect
        from .workflows import inspect_workflow, is_workflow

        target = self._target(args)
        return inspect_workflow(target) if is_workflow(target) else inspect(target)

    def _diff(self, args: Any) -> Any:
        from .diffing import diff, diff_previous
        from .template import as_template

        before = self._target(args)
        if len(args.inputs) > 1:
            raise ShimTaskError("diff compares two templates: %shimtask diff A [B]")
        if args.inputs:
            return diff(before, self._lookup(args.inputs[0]), labels=(args.target, args.inputs[0]))
        if isinstance(before, str):
            raise ShimTaskError(f"diff {before}: name a second template to compare it with")
        return diff_previous(as_template(before).id.name)

    def _export(self, args: Any) -> Any:
        from .exporting import DEFAULT_BASE_IMAGE, export
        from .literals import parse_assignments

        if not args.to:
            raise ShimTaskError("export needs a folder: %shimtask export TASK --to DIR [name=value ...]")
        target = self._target(args)
        inputs = self._inputs_from(args)
        inputs.update(parse_assignments(args.inputs, _string_inputs(target)))
        return export(
            target,
            args.to,
            package=args.package_name,
            inputs=inputs,
            base_image=args.base_image or DEFAULT_BASE_IMAGE,
            force=args.force,
        )

    def _package(self, args: Any) -> Any:
        from .registration import package

        path = package(
            self._target(args),
            args.to or "flyte-package.tgz",
            project=args.project,
            domain=args.domain,
            version=args.version,
            image=args.image,
            force=args.force,
        )
        print(f"wrote {path}")

    def _register(self, args: Any) -> Any:
        from .registration import register

        if not args.project or not args.domain:
            raise ShimTaskError("register needs --project and --domain")
        return register(
            self._target(args), args.project, args.domain, args.version, image=args.image, config=args.config
        )

    def _build(self, args: Any) -> Any:
        from .runners.engines import build_image

        if not args.tag:
            raise ShimTaskError("build needs --tag: the name of the image to build")
        return build_image(self._target(args), args.tag, base=args.image, engine=args.engine, on_log=_write_through)

    def _why(self, args: Any) -> None:
        """The last failure of a task (a variable or a task name), or the last failure of any kind."""
        from IPython.display import display

        from .failures import failures

        task = args.target
        names = {task, getattr(self.shell.user_ns.get(task), "name", task)} if task else {None}
        found = [failure for name in names if (failure := failures.last(name)) is not None]
        if not found:
            print(f"no failure of {task} so far" if task else "no failure so far")
            return
        display(max(found, key=lambda failure: failure.at))

    def _inputs_from(self, args: Any) -> dict[str, Any]:
        if not args.inputs_from:
            return {}
        inputs = self.shell.ev(args.inputs_from)
        if not isinstance(inputs, dict):
            raise ShimTaskError(
                f"--inputs-from {args.inputs_from} gives a {type(inputs).__name__}; it must give a dict of name: value"
            )
        return dict(inputs)

    def _target(self, args: Any) -> Any:
        if not args.target:
            raise ShimTaskError(f"{args.command} needs a task: a variable, a task name or a template file")
        return self._lookup(args.target)

    def _lookup(self, name: str) -> Any:
        from pathlib import Path

        from .authoring import registry

        if name in self.shell.user_ns:
            return self.shell.user_ns[name]
        if name in registry.tasks:
            return registry.tasks[name]
        if Path(name).expanduser().exists() or name.endswith((".pb", ".json", ".yaml", ".yml")):
            return name
        known = ", ".join(sorted(registry.tasks)) or "none yet"
        raise ShimTaskError(f"no task or template named {name!r} (tasks defined: {known})")

    @contextlib.contextmanager
    def _errors(self, kind: FailureKind = "usage", task: str = "") -> Iterator[None]:
        """ShimTaskErrors become one-line UsageErrors; ``%shimtask why`` shows the rest."""
        from .failures import failures

        try:
            yield
        except ShimTaskError as error:
            self.last_error = error
            failures.error(kind, error, task=task, detail=error.detail)
            hint = "  (%shimtask why: details)" if error.detail else ""
            raise UsageError(f"{error}{hint}") from None


@contextlib.contextmanager
def _cell_failures(name: str) -> Iterator[None]:
    """A ``%%shimtask`` cell that raises is kept in ``failures`` (with its traceback) for ``why``."""
    try:
        yield
    except ShimTaskError:
        raise  # recorded by _errors, with its own detail
    except Exception as error:
        import traceback

        from .failures import failures

        failures.error("cell", error, task=name, detail="".join(traceback.format_exception(error)))
        raise


def _string_inputs(target: Any) -> set[str]:
    interface = getattr(target, "python_interface", None)
    return {name for name, kind in interface.inputs.items() if kind is str} if interface else set()


def _write_through(text: str) -> None:
    if not text.strip():  # pyflyte-execute prints an empty line first
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def register(ipython: Any) -> None:
    config = ShimTask(parent=ipython)
    use(config)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, ShimTask)] + [config]
    ipython.register_magics(ShimTaskMagics)
    ipython.set_hook("complete_command", _complete, str_key="%shimtask")


def _complete(ipython: Any, event: Any) -> list[str]:
    """Tab completion for ``%shimtask``: the command first, then options or a task."""
    from .authoring import registry

    words = event.line.split()
    if len(words) == 1 or (len(words) == 2 and not event.line.endswith(" ")):
        return list(COMMANDS)
    if event.symbol.startswith("-"):
        return [option for action in ShimTaskMagics.shimtask_line.parser._actions for option in action.option_strings]
    names = set(registry.tasks)
    if "flytekit" in sys.modules:
        from flytekit.core.base_task import PythonTask

        names.update(name for name, value in ipython.user_ns.items() if isinstance(value, PythonTask))
    return sorted(names)
