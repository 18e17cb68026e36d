"""``%%shimtask`` and ``%shimtask``: parse arguments, call the API, display. No logic of their own."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments, parse_argstring
from IPython.utils.process import arg_split

from .config import attach
from .errors import ShimTaskError

if TYPE_CHECKING:
    from .failures import FailureKind

Argument = tuple[tuple[str, ...], dict[str, Any]]

TARGET: Argument = (
    ("target",),
    {"nargs": "?", "help": "A task variable, a task name, or a template file (.pb/.json/.yaml)."},
)
INPUTS_FROM: Argument = (
    ("--inputs-from",),
    {"dest": "inputs_from", "help": "A Python expression giving a dict of inputs."},
)
IMAGE_ENGINE: Argument = (
    ("--engine",),
    {"choices": ("docker", "podman"), "help": "Container engine (default: ShimTask.engine)."},
)
FORCE: Argument = (("--force",), {"action": "store_true", "help": "Overwrite existing files."})
PROJECT: Argument = (("--project",), {"help": "The Flyte project."})
DOMAIN: Argument = (("--domain",), {"help": "The Flyte domain."})


class CommandLine:
    """One parser per ``%shimtask`` command, the commands' overview, and each command's option strings."""

    def __init__(self) -> None:
        # prog without its %: IPython's help formatter writes usage lines as "%" + prog
        self.top = MagicArgumentParser(prog="shimtask", description="Work with template-only tasks.")
        self.top.add_argument("-h", "--help", action="store_true", help="Show the commands (also: %%shimtask help).")
        self._commands = self.top.add_subparsers(
            dest="command", metavar="COMMAND", required=True, prog="shimtask", parser_class=MagicArgumentParser
        )
        self.parsers: dict[str, argparse.ArgumentParser] = {}
        self.options: dict[str, list[str]] = {}  # for completion: argparse keeps its own table private

    def add(self, name: str, summary: str, *arguments: Argument) -> None:
        parser = self._commands.add_parser(name, help=summary, description=summary)
        self.parsers[name] = parser
        self.options[name] = []
        parser.add_argument("-h", "--help", action="store_true", help="Show what this command takes.")
        for flags, options in arguments:
            parser.add_argument(*flags, **options)
            self.options[name] += [flag for flag in flags if flag.startswith("-")]

    def parse(self, line: str) -> argparse.Namespace:
        words = arg_split(line, posix=True)
        if words and words[0] in ("-h", "--help"):
            words = ["help", *words[1:]]
        parser = self.parsers.get(words[0]) if words else None
        if parser is None:
            self.top.parse_args(words[:1])  # raises argparse's own message: the command is missing or unknown
            raise AssertionError("unreachable")
        # intermixed: options may come after the inputs (`run greet name=x --mode subprocess`)
        args = parser.parse_intermixed_args(words[1:], argparse.Namespace(command=words[0]))
        if args.help:
            return argparse.Namespace(command="help", help=False, topic=words[0])
        return args

    def help(self, command: str | None = None) -> str:
        """What ``command`` takes (its usage, arguments and options), or the list of commands."""
        return (self.parsers[command] if command else self.top).format_help()

    def overview(self) -> str:
        """The commands, then each one's usage line: the text ``%shimtask?`` shows."""
        usages = "".join(parser.format_usage().removeprefix("::\n\n") for parser in self.parsers.values())
        return f"{self.top.format_help()}\nWhat each command takes (%shimtask help COMMAND tells more)::\n\n{usages}"


RUN_OPTIONS: list[Argument] = [
    TARGET,
    (("inputs",), {"nargs": "*", "metavar": "name=value",
                   "help": "Inputs, each read by its declared type as pyflyte run reads options."}),
    (("--mode", "-m"), {"choices": ("process", "subprocess", "image"), "help": "Run mode (default: ShimTask.mode)."}),
    (("--timeout",), {"type": float, "help": "Run timeout in seconds."}),
    (("--keep",), {"action": "store_true", "help": "Keep the run folder."}),
    (("--no-cache",), {"dest": "no_cache", "action": "store_true", "help": "Workflows: run cached tasks anew."}),
    (("--cold",), {"action": "store_true", "help": "Start a fresh process (--mode subprocess) or container "
                   "(--mode image) instead of the warm worker."}),
    (("--image",), {"help": "Image for --mode image (default: the template's own)."}),
    IMAGE_ENGINE,
    (("--secret",), {"action": "append", "default": [], "metavar": "GROUP/KEY",
                     "help": "Give the run a secret the template requests; the value comes from "
                     "$SHIMTASK_SECRET_GROUP_KEY or a hidden prompt, never from this line."}),
    (("--no-retries",), {"dest": "no_retries", "action": "store_true", "help": "Stop after the first attempt."}),
    INPUTS_FROM,
]  # fmt: skip

COMMAND_LINE = CommandLine()
COMMAND_LINE.add("run", "Run a task, workflow or template and show its result.", *RUN_OPTIONS)
COMMAND_LINE.add("list", "The tasks the session's cells defined.")
COMMAND_LINE.add(
    "template",
    "The TaskTemplate as JSON.",
    TARGET,
    (("--save",), {"help": "Also write it to this .pb, .json or .yaml file."}),
)
COMMAND_LINE.add("size", "Bytes per field and per custom key, against the platform's limits.", TARGET)
COMMAND_LINE.add("check", "What custom, outputs and the platform lose on the way.", TARGET)
COMMAND_LINE.add(
    "why",
    "The last failure of TASK, or the last failure of any kind.",
    (("target",), {"nargs": "?", "metavar": "TASK", "help": "A task variable or task name."}),
)
COMMAND_LINE.add("inspect", "The template (or a workflow's DAG) in the inspector.", TARGET)
COMMAND_LINE.add(
    "diff",
    "What changed between two templates, or since the task's previous version.",
    TARGET,
    (("other",), {"nargs": "?", "help": "The template to compare with (default: the task's previous version)."}),
)
COMMAND_LINE.add(
    "export",
    "Make the task's cell a plugin package with a test.",
    TARGET,
    (("inputs",), {"nargs": "*", "metavar": "name=value", "help": "Sample inputs for the test, as Python literals."}),
    (("--to",), {"help": "The package folder."}),
    (("--package-name",), {"dest": "package_name", "help": "The import name (default: flytekitplugins_<task>)."}),
    (("--base-image",), {"dest": "base_image", "help": "The Dockerfile's default BASE_IMAGE."}),
    FORCE,
    INPUTS_FROM,
)
COMMAND_LINE.add(
    "package",
    "Write the task as pyflyte package does, for flytectl register.",
    TARGET,
    (("--to",), {"default": "flyte-package.tgz", "help": "The .tgz to write (default: flyte-package.tgz)."}),
    PROJECT,
    DOMAIN,
    (("--version",), {"help": "The version."}),
    (("--image",), {"help": "The default image."}),
    FORCE,
)
COMMAND_LINE.add(
    "register",
    "Register the task with a Flyte cluster.",
    TARGET,
    PROJECT,
    DOMAIN,
    (("--version",), {"help": "The version (default: a content hash)."}),
    (("--image",), {"help": "The default image."}),
    (("--config",), {"help": "A Flyte config file (default: flytekit's usual lookup)."}),
)
COMMAND_LINE.add(
    "build",
    "Bake the task's module into an image.",
    TARGET,
    (("--tag",), {"help": "The image to build."}),
    (("--image",), {"help": "The base image (default: the task's own)."}),
    IMAGE_ENGINE,
)
COMMAND_LINE.add(
    "help",
    "What COMMAND takes, or the list of commands.",
    (("topic",), {"nargs": "?", "metavar": "COMMAND", "choices": list(COMMAND_LINE.parsers)}),
)
COMMANDS = tuple(COMMAND_LINE.parsers)
LINE_DOC = f"""{COMMAND_LINE.overview()}
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
    %shimtask help run
"""


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

    @line_magic("shimtask")
    def shimtask_line(self, line: str) -> Any:
        args = COMMAND_LINE.parse(line)
        if args.command in ("help", "why"):  # they read failures; they do not make one
            return getattr(self, f"_{args.command}")(args)
        with self._errors(task=getattr(args, "target", None) or ""):
            return getattr(self, f"_{args.command}")(args)

    shimtask_line.__doc__ = LINE_DOC

    def _help(self, args: Any) -> None:
        print(COMMAND_LINE.help(args.topic))

    def _run(self, args: Any) -> Any:
        from .literals import parse_inputs
        from .platform.secrets import secret_values
        from .running import run
        from .views import log_sink
        from .workflows import is_workflow

        target = self._target(args)
        inputs = parse_inputs(target, args.inputs, self._inputs_from(args))
        options = {
            "mode": args.mode,
            "timeout": args.timeout,
            "keep": args.keep or None,
            "image": args.image,
            "engine": args.engine,
            "warm": False if args.cold else None,
        }
        if is_workflow(target):  # its nodes' logs are kept per node (result.logs(node)), not streamed
            return run(target, inputs, **options, cache=not args.no_cache)
        logs = log_sink(self.shell, args.target)
        try:
            secrets = secret_values(args.secret)
            return run(target, inputs, **options, on_log=logs.write, secrets=secrets, retries=not args.no_retries)
        finally:
            logs.close()

    def _list(self, args: Any) -> Any:
        from .authoring import registry
        from .views import TaskSummary

        return TaskSummary(registry().defined())

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
        from .targets import resolve_target
        from .template import as_template

        before = self._target(args)
        if args.other:
            after = resolve_target(args.other, self.shell.user_ns)
            return diff(before, after, labels=(args.target, args.other))
        if isinstance(before, str):
            raise ShimTaskError(f"diff {before}: name a second template to compare it with")
        return diff_previous(as_template(before).id.name)

    def _export(self, args: Any) -> Any:
        from .exporting import DEFAULT_BASE_IMAGE, export
        from .literals import parse_inputs

        if not args.to:
            raise ShimTaskError("export needs a folder: %shimtask export TASK --to DIR [name=value ...]")
        target = self._target(args)
        return export(
            target,
            args.to,
            package=args.package_name,
            inputs=parse_inputs(target, args.inputs, self._inputs_from(args), as_literals=True),
            base_image=args.base_image or DEFAULT_BASE_IMAGE,
            force=args.force,
        )

    def _package(self, args: Any) -> Any:
        from .registration import package

        path = package(
            self._target(args),
            args.to,
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

        from .failures import failure_log

        task = args.target
        names = {task, getattr(self.shell.user_ns.get(task), "name", task)} if task else {None}
        found = [failure for name in names if (failure := failure_log().last(name)) is not None]
        if not found:
            print(f"no failure of {task} so far" if task else "no failure so far")
            return
        display(max(found, key=lambda failure: failure.at))

    def _inputs_from(self, args: Any) -> dict[str, Any]:
        from .literals import given_inputs

        if not args.inputs_from:
            return {}
        return given_inputs(self.shell.ev(args.inputs_from), f"--inputs-from {args.inputs_from}")

    def _target(self, args: Any) -> Any:
        from .targets import resolve_target

        if not args.target:
            raise ShimTaskError(f"{args.command} needs a task: a variable, a task name or a template file")
        return resolve_target(args.target, self.shell.user_ns)

    @contextlib.contextmanager
    def _errors(self, kind: FailureKind = "usage", task: str = "") -> Iterator[None]:
        """ShimTaskErrors become one-line UsageErrors; ``%shimtask why`` shows the rest."""
        from .failures import failure_log

        try:
            yield
        except ShimTaskError as error:
            self.last_error = error
            failure_log().error(kind, error, task=task, detail=error.detail)
            hint = "  (%shimtask why: details)" if error.detail else ""
            raise UsageError(f"{error}{hint}") from None


@contextlib.contextmanager
def _cell_failures(name: str) -> Iterator[None]:
    """A ``%%shimtask`` cell that raises is kept in the failure log (with its traceback) for ``why``."""
    try:
        yield
    except ShimTaskError:
        raise  # recorded by _errors, with its own detail
    except Exception as error:
        import traceback

        from .failures import failure_log

        failure_log().error("cell", error, task=name, detail="".join(traceback.format_exception(error)))
        raise


def _write_through(text: str) -> None:
    if not text.strip():  # pyflyte-execute prints an empty line first
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def register(ipython: Any) -> None:
    attach(ipython)
    ipython.register_magics(ShimTaskMagics)
    ipython.set_hook("complete_command", _complete, str_key="%shimtask")
    if _help_suffix not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_help_suffix)


_HELP_SUFFIX = re.compile(rf"^([ \t]*)%shimtask[ \t]+({'|'.join(COMMANDS)})[ \t]*\?[ \t]*$")


def _help_suffix(lines: list[str]) -> list[str]:
    """``%shimtask run?`` means ``%shimtask help run`` (IPython itself would look for an object named ``run``)."""
    return [_HELP_SUFFIX.sub(r"\1%shimtask help \2", line) for line in lines]


def _complete(ipython: Any, event: Any) -> list[str]:
    """Tab completion for ``%shimtask``: the command first, then its options, or a task."""
    from .targets import defined_names

    words = event.line.split()
    if len(words) == 1 or (len(words) == 2 and not event.line.endswith(" ")):
        return list(COMMANDS)
    command = words[1]
    if event.symbol.startswith("-"):
        return ["--help", *COMMAND_LINE.options.get(command, [])]
    if command == "help":
        return list(COMMANDS)
    return defined_names(ipython.user_ns)
