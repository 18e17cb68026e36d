"""``shimtask``: the same API from a shell. Exit status 0 only on success."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import ShimTaskError


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line, and each command's own parser."""
    parser = argparse.ArgumentParser(prog="shimtask", description="Inspect and run Flyte TaskTemplates.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the template's executor and print its outputs")
    run.add_argument("template", help="TaskTemplate file (.pb, .json or .yaml)")
    run.add_argument(
        "items",
        nargs="*",
        metavar="name=value",
        help="inputs, each read by its declared type as pyflyte run reads options; they override --inputs",
    )
    run.add_argument("--inputs", default="{}", help='inputs as a JSON object, e.g. \'{"name": "world"}\'')
    run.add_argument("--mode", choices=("process", "subprocess", "image"), default="subprocess")
    run.add_argument("--timeout", type=float)
    run.add_argument("--keep", action="store_true", help="keep the run folder")
    run.add_argument("--image", help="image for --mode image (default: the template's own)")
    run.add_argument("--engine", choices=("docker", "podman"))
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="GROUP/KEY",
        help="a secret the template requests; its value comes from $SHIMTASK_SECRET_GROUP_KEY or a hidden prompt",
    )
    run.add_argument("--no-retries", action="store_true", help="stop after the first attempt")

    size = commands.add_parser("size", help="bytes of the template, per field and per custom key")
    size.add_argument("template")
    size.add_argument("--json", action="store_true")

    check = commands.add_parser("check", help="fidelity findings for the template")
    check.add_argument("template")
    return parser, {"run": run, "size": size, "check": check}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, commands = _parser()
    if argv and argv[0] in commands:  # intermixed: inputs may come after options
        args = commands[argv[0]].parse_intermixed_args(argv[1:], argparse.Namespace(command=argv[0]))
    else:
        args = parser.parse_args(argv)  # argparse's own help, or its message for a missing or unknown command
    try:
        return _COMMANDS[args.command](args)
    except ShimTaskError as error:
        print(f"shimtask: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shimtask: interrupted", file=sys.stderr)
        return 130  # as a shell reports a command ended by SIGINT


def _run(args: argparse.Namespace) -> int:
    from .literals import given_inputs, parse_inputs
    from .platform.secrets import secret_values
    from .running import run
    from .targets import resolve_target

    try:
        given = given_inputs(json.loads(args.inputs), "--inputs")
    except json.JSONDecodeError as exc:
        raise ShimTaskError(f"--inputs is not JSON: {exc}") from None
    target = resolve_target(args.template)
    result = run(
        target,
        parse_inputs(target, args.items, given),
        mode=args.mode,
        timeout=args.timeout,
        keep=args.keep,
        image=args.image,
        engine=args.engine,
        warm=False,  # one run per process: a warm worker would only add its start-up
        on_log=None if args.json else sys.stderr.write,
        secrets=secret_values(args.secret),
        retries=not args.no_retries,
    )
    if args.json:
        print(json.dumps(_result_document(result), indent=2, default=str))
    else:
        print(result)
    return 0 if result.ok else 1


def _result_document(result: Any) -> dict[str, Any]:
    error = result.error
    return {
        "ok": result.ok,
        "task": result.task_name,
        "mode": result.mode,
        "seconds": round(result.seconds, 3),
        "outputs": {name: _jsonable(value) for name, value in result.outputs.items()},
        "error": None if error is None else vars(error),
        "notes": result.notes,
        "attempts": [
            {"error": None if a.error is None else vars(a.error), "seconds": round(a.seconds, 3), "next": a.next}
            for a in result.attempts
        ],
        "workdir": str(result.workdir) if result.workdir else None,
    }


def _jsonable(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and type(value).__name__ == "DataFrame":
        return value.to_dict(orient="records")
    if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        return value
    return str(value)


def _size(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .template import size_report

    report = size_report(args.template)
    print(json.dumps(asdict(report), indent=2) if args.json else report)
    return 0 if report.status != "over" else 1


def _check(args: argparse.Namespace) -> int:
    from .fidelity import check

    findings = check(args.template)
    for finding in findings:
        print(finding)
    if not findings:
        print("no findings")
    return 1 if any(finding.severity == "error" for finding in findings) else 0


_COMMANDS = {"run": _run, "size": _size, "check": _check}

if __name__ == "__main__":
    sys.exit(main())
