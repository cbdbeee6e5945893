"""Options every command shares: the sandbox's limits, the isolation switch, argument parsing."""

from __future__ import annotations

import argparse

from autograder.sandbox import Limits, detect, refusal

EXIT_FULL, EXIT_LOST, EXIT_GRADER, EXIT_USAGE = 0, 1, 3, 4
DEFAULTS = Limits()


def add_isolation_argument(parser: argparse.ArgumentParser) -> None:
    """``--allow-unisolated``, shared by the single-file and batch commands."""
    parser.add_argument(
        "--allow-unisolated", action="store_true",
        help="grade even where the student's code could read the reference and the hidden checks "
        "(no Landlock and no namespaces, e.g. macOS): only for submissions you trust",
    )


def isolation_problem(allow_unisolated: bool) -> str:
    """Why this host must not grade (empty when it may): the layers that hide files are missing."""
    layers = detect()
    return "" if layers.hides_files or allow_unisolated else refusal(layers)


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """The parsed options, or the exit status to return at once: 0 after ``--help``, 4 on a usage error."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_FULL


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's limits as options, shared by the single-file and batch commands."""
    parser.add_argument("--call-timeout", type=float, default=DEFAULTS.call_seconds,
                        help="seconds one call of a student function (or one cell) may take "
                        f"(default {DEFAULTS.call_seconds:g})")
    parser.add_argument("--timeout", type=float, default=DEFAULTS.submission_seconds,
                        help="seconds the whole submission may take "
                        f"(default {DEFAULTS.submission_seconds:g})")
    parser.add_argument("--memory", type=int, default=DEFAULTS.memory_bytes // 2**20,
                        help="address-space limit of the student process, MiB "
                        f"(default {DEFAULTS.memory_bytes // 2**20})")
    parser.add_argument("--output-limit", type=int, default=DEFAULTS.output_bytes // 2**10,
                        help="KiB the student code may print (default "
                        f"{DEFAULTS.output_bytes // 2**10})")
    add_isolation_argument(parser)


def limits_from(args: argparse.Namespace) -> Limits:
    """The limits the options ask for; ``ValueError`` when one is not positive."""
    if min(args.call_timeout, args.timeout) <= 0 or min(args.memory, args.output_limit) <= 0:
        raise ValueError("limits must be positive")
    return Limits(
        call_seconds=args.call_timeout,
        submission_seconds=args.timeout,
        memory_bytes=args.memory * 2**20,
        output_bytes=args.output_limit * 2**10,
    )


def limit_arguments(limits: Limits) -> list[str]:
    """The options that give ``limits`` to the single-file command (inverse of ``limits_from``)."""
    return [
        "--call-timeout", f"{limits.call_seconds:g}", "--timeout", f"{limits.submission_seconds:g}",
        "--memory", str(limits.memory_bytes // 2**20), "--output-limit", str(limits.output_bytes // 2**10),
    ]
