"""The ``audithound`` command: argument parsing and reporting, no detection logic.

Fed by: the command line. Feeds: the rules loader and the pipeline (``scan``), the tuner
(``tune``), the loader alone (``rules check``), the CRD generator (``crds``), the field
catalogue (``fields``), and the operator (``run``).

Exit codes: 0 the command completed; 1 ``rules check`` found an invalid rule; 2 usage
errors, unreadable inputs, or rule errors that stop a scan.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import pathlib
import sys
import time
from collections.abc import Sequence
from importlib import resources

from audithound import parallel, pipeline, scanner
from audithound.controller import settings
from audithound.normalize import catalogue
from audithound.rules import compiler, loader, problems, ruleset
from audithound.sinks import base, stream
from audithound.source import files
from audithound.tuning import advice, collect, report

EXIT_OK = 0
EXIT_INVALID_RULES = 1
EXIT_USAGE = 2

ADHOC_RULE = "adhoc-query"


class UsageError(Exception):
    """A problem with what the user asked for; printed, then exit 2."""


#: The rule ``scan`` runs when given none: the seed rule, shipped inside the package (its
#: ``builtin`` directory is the repository's examples).
SEED_RULE = "kubernetes-anonymous-request-authorized.yaml"


def builtin_rule() -> pathlib.Path:
    """The seed rule as shipped inside the package: the default of ``scan``."""
    return pathlib.Path(str(resources.files("audithound") / "builtin" / "rules" / SEED_RULE))


def _adhoc(query: str) -> compiler.Outcome:
    outcome = compiler.compile_rule(
        ADHOC_RULE,
        {
            "displayName": "Ad-hoc query",
            "description": "The query given with --query.",
            "query": query,
            "severity": "low",
            "riskScore": 21,
            "maxSignals": 10000,
            "interval": "1s",
        },
    )
    placed = tuple(
        dataclasses.replace(problem, file="--query", rule=ADHOC_RULE)
        for problem in outcome.problems
    )
    return dataclasses.replace(outcome, problems=placed)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def _moment(text: str) -> datetime.datetime:
    try:
        return scanner.alerts_from(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None


def _percent(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return number


def _print_problems(found: Sequence[problems.Problem]) -> None:
    for problem in found:
        print(problem.render(), file=sys.stderr)


def _load_rules(args: argparse.Namespace) -> ruleset.RuleSet:
    paths: list[str] = list(args.rules)
    if not paths and args.query is None:
        paths = [str(builtin_rule())]
        others = "--rules PATH" if args.handler is cmd_tune else "--rules PATH or --query KQL"
        print(f"Using the built-in seed rule; give {others} for others.", file=sys.stderr)
    loaded = loader.load(paths)
    outcomes = list(loaded.outcomes)
    found = loaded.all_problems()
    if args.query is not None:
        adhoc = _adhoc(args.query)
        outcomes.append(adhoc)
        found.extend(adhoc.problems)
    _print_problems(found)
    if any(problem.is_error for problem in found):
        raise UsageError("rule errors: nothing was scanned")
    if not outcomes:
        raise UsageError(f"no DetectionRule found in {', '.join(paths)}")
    return ruleset.RuleSet(outcome.rule for outcome in outcomes if outcome.rule is not None)


def _summary(stats: files.ReadStats, scan: pipeline.Pipeline, seconds: float) -> str:
    rate = stats.events / seconds if seconds > 0 else 0.0
    lines = [
        f"Scanned {stats.events:,} events in {stats.lines:,} lines from {stats.files} input(s) "
        f"in {seconds:.2f}s ({rate:,.0f} events/s)."
    ]
    skipped = sum(stats.skipped.values())
    if skipped:
        lines.append(f"Skipped {skipped:,} line(s):")
        for reason, count in stats.skipped.most_common():
            first = next((e.where for e in stats.examples if e.reason == reason), "")
            lines.append(f"  {reason}: {count:,}" + (f" (first at {first})" if first else ""))
    total = sum(scan.counts.alerts.values())
    lines.append(f"Alerts: {total:,}")
    for name in scan.rule_names():
        created = scan.counts.alerts[name]
        extra = []
        if dropped := scan.limiter.dropped_total[name]:
            extra.append(f"{dropped:,} dropped at maxSignals {scan.rule(name).spec.max_signals}")
        if excepted := scan.limiter.excepted_total[name]:
            extra.append(f"{excepted:,} excepted")
        if suppressed := scan.limiter.suppressed_total[name]:
            extra.append(f"{suppressed:,} suppressed")
        if duplicates := scan.counts.duplicates[name]:
            extra.append(f"{duplicates:,} duplicates")
        if failures := scan.evaluator.failures[name]:
            extra.append(f"{failures:,} evaluation failures")
        note = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"  {name}: {created:,}{note}")
    return "\n".join(lines)


def _inputs(args: argparse.Namespace) -> list[str]:
    inputs: list[str] = list(args.inputs) or ["-"]
    for path in inputs:
        if path != "-" and not pathlib.Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    return inputs


def cmd_scan(args: argparse.Namespace) -> int:
    rules = _load_rules(args)
    inputs = _inputs(args)
    sink: base.Sink
    if args.output == "json":
        sink = stream.JsonLines(sys.stdout.buffer)
    else:
        findings = any(
            rule.spec.type != "query" or rule.spec.alert_suppression is not None
            for rule in rules.rules
        )
        sink = stream.Table(sys.stdout, findings=findings)
    scan = pipeline.Pipeline(rules, sink, alerts_from=args.alerts_from)
    stats = files.ReadStats()
    started = time.perf_counter()
    scanner.scan(scan, inputs, stats, args.jobs)
    scan.close()
    print(_summary(stats, scan, time.perf_counter() - started), file=sys.stderr)
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    rules = _load_rules(args)
    inputs = _inputs(args)
    stats = files.ReadStats()
    started = time.perf_counter()
    run, found = collect.collect(rules, inputs, stats, args.jobs)
    settings = advice.Settings(
        top=args.top, min_share=args.min_share / 100, min_alerts=args.min_alerts
    )
    advices = [advice.advise(rule, found[rule.name], settings) for rule in rules.rules]
    if args.output == "json":
        report.json_lines(advices, sys.stdout.buffer)
    else:
        report.text(advices, sys.stdout)
    print(_summary(stats, run, time.perf_counter() - started), file=sys.stderr)
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not pathlib.Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    loaded = loader.load(args.paths)
    found = loaded.all_problems()
    for problem in found:
        print(problem.render())
    invalid = [outcome.name for outcome in loaded.outcomes if outcome.rule is None]
    errors = sum(problem.is_error for problem in found)
    warnings = len(found) - errors
    print(
        f"{len(loaded.outcomes)} rule(s): {len(loaded.outcomes) - len(invalid)} valid, "
        f"{len(invalid)} invalid; {errors} error(s), {warnings} warning(s)."
    )
    return EXIT_INVALID_RULES if errors else EXIT_OK


def cmd_crds(args: argparse.Namespace) -> int:
    # Imported here: building the SecurityAlert models costs every `scan` start-up otherwise.
    from audithound.api import crdgen

    if args.write is None:
        sys.stdout.write(crdgen.render_all())
        return EXIT_OK
    target = pathlib.Path(args.write)
    target.mkdir(parents=True, exist_ok=True)
    for definition in crdgen.DEFINITIONS:
        (target / crdgen.file_name(definition)).write_text(crdgen.render(definition))
    return EXIT_OK


def cmd_fields(args: argparse.Namespace) -> int:
    sys.stdout.write(catalogue.markdown_table())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from audithound.controller import main as operator  # kopf and the client load only here

    return operator.run(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="audithound",
        description="Elastic-compatible KQL detection rules over Kubernetes audit logs.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="evaluate rules over audit log files (plain, .gz, or - for stdin)"
    )
    scan.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="PATH",
        help="a YAML file or directory of DetectionRule resources (repeatable; default: "
        "the built-in rules)",
    )
    scan.add_argument("--query", metavar="KQL", help="also run this ad-hoc KQL query")
    scan.add_argument("--output", choices=("table", "json"), default="table")
    scan.add_argument(
        "--jobs",
        type=_positive,
        default=parallel.default_jobs(),
        metavar="N",
        help="processes for large plain JSON-lines files (default: one per CPU, here "
        "%(default)s); the output is the same for any N",
    )
    scan.add_argument(
        "--alerts-from",
        type=_moment,
        metavar="TIME",
        help="events before this time (RFC 3339) only build the history of stateful rules "
        "(new_terms, threshold): no alerts for them",
    )
    scan.add_argument("inputs", nargs="*", metavar="FILE", help="audit logs; - or none: stdin")
    scan.set_defaults(handler=cmd_scan)

    tune = commands.add_parser(
        "tune", help="the tuples that raise most of each rule's alerts, with exception items"
    )
    tune.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="PATH",
        help="a YAML file or directory of DetectionRule resources (repeatable; default: "
        "the built-in rules)",
    )
    tune.add_argument("--output", choices=("text", "json"), default="text")
    tune.add_argument(
        "--top", type=_positive, default=5, metavar="N", help="tuples per rule (default 5)"
    )
    tune.add_argument(
        "--min-share",
        type=_percent,
        default=0.0,
        metavar="PERCENT",
        help="list only tuples raising at least this share of a rule's alerts (default 0)",
    )
    tune.add_argument(
        "--min-alerts",
        type=_positive,
        default=2,
        metavar="N",
        help="propose an item for a tuple of at least N alerts (default 2; a tuple that "
        "every cluster allows by default is proposed from one)",
    )
    tune.add_argument(
        "--jobs",
        type=_positive,
        default=parallel.default_jobs(),
        metavar="N",
        help="processes for large plain JSON-lines files, as for scan",
    )
    tune.add_argument("inputs", nargs="*", metavar="FILE", help="audit logs; - or none: stdin")
    tune.set_defaults(handler=cmd_tune, query=None)

    rules = commands.add_parser("rules", help="work with rule files")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = rules_commands.add_parser("check", help="report every problem in rule files")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(handler=cmd_rules_check)

    crds = commands.add_parser("crds", help="print the CRDs generated from the models")
    crds.add_argument("--write", metavar="DIR", help="write one file per CRD into DIR")
    crds.set_defaults(handler=cmd_crds)

    fields = commands.add_parser("fields", help="print the document fields rules can use")
    fields.set_defaults(handler=cmd_fields)

    run = commands.add_parser("run", help="run the operator (tails the audit log, writes alerts)")
    settings.add_arguments(run)
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--verbose", action="store_true", help="debug logs")
    run.set_defaults(handler=cmd_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as error:
        print(f"audithound: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
