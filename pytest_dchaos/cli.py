"""The ``dchaos`` command.

``dchaos run PATH`` runs a scenario and exits 0 when every check passed, 1 when a check
failed, 2 when the scenario is invalid or the harness could not run it (130 on Ctrl-C, 143 on
SIGTERM, as a shell reports a process they ended).
``dchaos validate`` checks scenario files and prints their fault schedules;
``dchaos catalogue`` lists every protocol, fault, check and backend installed, with their
options — the reference generated from the plugins themselves; ``dchaos schema`` prints the
JSON Schema of scenario files that editors use, generated from the same declarations.
``dchaos conform`` checks a
node against the node contract on an in-memory router (exit 0 when it conforms, 1 when it
does not, 2 when the check could not run). ``dchaos explore PATH`` runs generated fault
schedules against a scenario until a check fails, then shrinks the failure to
``DIR/minimal.yaml`` (exit 0 when none was found, 1 when one was found and shrunk, 2 on bad
input). ``dchaos report DIR`` makes a report folder's ``report.html`` and ``summary.md``
again from its files (exit 0, or 2 when DIR is not the folder of a finished run).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_dchaos import __version__
from pytest_dchaos.errors import DchaosError
from pytest_dchaos.interrupts import Terminated, sigterm_interrupts
from pytest_dchaos.interrupts import exit_code as interrupt_exit
from pytest_dchaos.scenario.model import ClusterSpec
from pytest_dchaos.units import UnitError, parse_duration

# Each command imports what it needs when it runs: the harness, Docker's client and the
# report page together take most of a second to import, which `dchaos --help`,
# `catalogue`, `schema` or a mistyped option have no use for.

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dchaos",
        description="Chaos-test distributed protocols from YAML scenarios.",
    )
    parser.add_argument("--version", action="version", version=f"dchaos {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario and judge it",
                              description="Run a scenario: exit 0 if every check passed, "
                              "1 if a check failed, 2 if it could not run.")
    run.add_argument("path", help="the scenario YAML file")
    run.add_argument("--backend", default="local", help="where nodes run (default: local)")
    run.add_argument("--report", metavar="DIR", help="report folder "
                     "(default: dchaos-reports/<scenario>-<time>-<run id>)")
    run.add_argument("--seed", type=int, help="seed for every random choice "
                     "(default: the scenario's, else a fresh one, printed)")
    run.add_argument("--node-command", metavar="CMD",
                     help="run this executable as every node instead of the scenario's "
                     "implementation (it must speak the node contract)")
    run.add_argument("--node-image", metavar="IMAGE",
                     help="with --backend docker or swarm: run every node in this image (it "
                     "needs python3 for the agent); the node is --node-command, or the image's "
                     "own entrypoint and command")
    run.add_argument("--toxiproxy-image", metavar="IMAGE",
                     help="with --backend docker or swarm: the Toxiproxy image (its entrypoint "
                     "must be the server; default: the official image, else the embedded one)")
    run.add_argument("--toxiproxy", metavar="URL|embedded",
                     help="the Toxiproxy server to use (default: toxiproxy-server on PATH, "
                     "else the embedded one)")
    run.add_argument("--keep", action="store_true",
                     help="with --backend docker or swarm: leave the cluster running if a "
                     "check failed, and print how to reach it and remove it")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    explore = commands.add_parser(
        "explore", help="search fault schedules nobody wrote; shrink a failure",
        description="Keep the scenario's cluster, workload and checks, and run generated fault "
        "schedules in place of its faults until a check fails or the budget ends; confirm "
        "the failure by rerunning it, shrink it, and write DIR/minimal.yaml (an ordinary "
        "scenario) and DIR/explore.json. Exit 0 if no failure was found, 1 if one was found "
        "and shrunk, 2 on bad input.")
    explore.add_argument("path", help="the scenario YAML file to start from")
    explore.add_argument("--budget", required=True, metavar="DURATION",
                         help="how long to search, like 15m or 90s (a run under way is "
                         "finished)")
    explore.add_argument("--report", required=True, metavar="DIR",
                         help="where minimal.yaml, explore.json and the runs' reports go")
    explore.add_argument("--runs", type=int, metavar="N",
                         help="search at most N schedules (default: until the budget ends)")
    explore.add_argument("--seed", type=int, help="seed of the whole exploration "
                         "(default: a fresh one, printed)")
    explore.add_argument("--confirm", type=int, default=3, metavar="N",
                         help="runs that judge a failure: the one found is run N times in "
                         "all, and each shrinking step must fail N times (default: 3)")
    explore.add_argument("--max-faults", type=int, default=3, metavar="N",
                         help="at most N faults per generated schedule (default: 3)")
    explore.add_argument("--faults", metavar="NAMES",
                         help="draw only these, comma-separated: fault kinds (partition, "
                         "kill, stop, pause, restart, latency, toxic, message, byzantine), "
                         "shapes (one_way, kill_leader, ...: see docs/explore.md) and twins "
                         "(default: every one the cluster can have)")
    explore.add_argument("--shrink-budget", metavar="DURATION",
                         help="time for confirming and shrinking (default: as --budget)")
    explore.add_argument("--node-command", metavar="CMD",
                         help="run this executable as every node (written into "
                         "minimal.yaml, so it reruns as it is)")
    explore.add_argument("--workers", type=int, default=1, metavar="N",
                         help="search N schedules side by side, each in a worker process "
                         "with its own ports and report folder (local backend only; "
                         "confirming and shrinking stay one run at a time; default: 1)")
    explore.add_argument("--backend", default="local", help="where nodes run (default: local)")
    explore.add_argument("--toxiproxy", metavar="URL|embedded",
                         help="the Toxiproxy server to use (as for dchaos run)")

    rebuild = commands.add_parser(
        "report", help="make report.html and summary.md again from a report folder",
        description="Make DIR/report.html and DIR/summary.md again from the files of a "
        "report folder a finished run wrote (an older run's, a CI artifact), with the page "
        "of the dchaos installed here. Exit 0 when both are written, 2 when DIR is not such "
        "a folder or the page could not be made.")
    rebuild.add_argument("dir", metavar="DIR", help="the report folder")

    validate = commands.add_parser("validate", help="check scenario files, print schedules")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--seed", type=int, help="seed for the printed schedule")

    clean = commands.add_parser(
        "cleanup", help="remove Docker containers and networks that dead runs left",
        description="Remove the containers, networks and volumes (and, on a swarm manager, "
        "services and configs) of runs whose harness is gone (killed, crashed). Runs still "
        "going are left alone unless --all.")
    clean.add_argument("--all", action="store_true",
                       help="also remove what runs still going (or on other hosts) made")
    clean.add_argument("--run", action="append", metavar="ID", dest="runs",
                       help="remove this run's containers and network (a kept cluster)")
    clean.add_argument("--images", action="store_true",
                       help="also remove the images dchaos built (rebuilt on the next run)")

    cat = commands.add_parser("catalogue", help="list protocols, faults, checks, backends")
    cat.add_argument("--markdown", action="store_true", help="as the markdown reference")

    schema = commands.add_parser(
        "schema", help="print the JSON Schema of scenario files (for editors)",
        description="Print the JSON Schema (draft 2020-12) of scenario files, generated from "
        "the installed protocols, faults and checks, for editors that complete and check "
        "YAML (docs/scenarios.md, 'Editor set-up').")
    schema.add_argument("--output", metavar="FILE", help="write it to FILE instead")

    conform = commands.add_parser(
        "conform", help="check a node against the node contract",
        description="Start the node(s) on an in-memory router (no agents, no fault layer) "
        "and check the node contract and the family's client messages, a line per check: "
        "exit 0 if it conforms, 1 if a check failed, 2 if the check could not run.")
    conform.add_argument("--protocol", required=True, metavar="P",
                         help="the node's protocol family (see dchaos catalogue)")
    conform.add_argument("--node-command", metavar="CMD",
                         help="the node to check, as a shell would split it; relative paths "
                         "from the current folder (default: the family's reference node)")
    conform.add_argument("--nodes", type=int, metavar="N",
                         help="how many nodes to start (default: the family's, 4 for pbft "
                         "and 3 for the others)")
    conform.add_argument("--timeout", type=float, default=5.0, metavar="S",
                         help="seconds to wait for any one reply (default: 5)")
    init_timeout = ClusterSpec.start_timeout  # as testing.conformance's INIT_TIMEOUT
    conform.add_argument("--init-timeout", type=float, default=init_timeout, metavar="S",
                         help=f"seconds to wait for init_ok (default: {init_timeout:g}, as "
                         "the harness waits)")
    conform.add_argument("--logs", metavar="DIR",
                         help="keep the nodes' folders and stderr logs under DIR (default: a "
                         "temporary folder, removed when the node conforms)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sigterm_interrupts()
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "explore":
            return _explore(args)
        if args.command == "cleanup":
            return _cleanup(args)
        if args.command == "conform":
            return _conform(args)
        if args.command == "schema":
            return _schema(args)
        if args.command == "report":
            return _report(args)
        return _catalogue(args)
    except DchaosError as exc:
        print(f"dchaos: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as interrupt:
        by = " by SIGTERM" if isinstance(interrupt, Terminated) else ""
        print(f"dchaos: interrupted{by}; every node and proxy of the run was stopped",
              file=sys.stderr)
        return interrupt_exit(interrupt)
    except BrokenPipeError:
        # The reader of our output went away (`dchaos run ... | head`): not an error of
        # the run. Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASSED


def _node_command(text: str | None, image: str | None = None) -> tuple[str, ...] | None:
    from pytest_dchaos.scenario.loader import resolve_command

    if not text:
        return None
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise DchaosError(f"--node-command: cannot split {text!r}: {exc}") from None
    if not words:
        raise DchaosError("--node-command is empty")
    # Inside a user's image, paths are the image's: resolve only for local files.
    return resolve_command(words, None if image else os.getcwd())


def _run(args: argparse.Namespace) -> int:
    from pytest_dchaos.record import report
    from pytest_dchaos.registry import Registry
    from pytest_dchaos.run.progress import Progress
    from pytest_dchaos.run.runner import RunOptions, run_scenario
    from pytest_dchaos.scenario.loader import load_scenario

    registry = Registry()
    scenario = load_scenario(args.path, registry)
    node_command = _node_command(args.node_command, args.node_image)
    options = RunOptions(
        backend=args.backend,
        seed=args.seed,
        report_dir=Path(args.report) if args.report else None,
        node_command=node_command,
        node_image=args.node_image,
        toxiproxy=args.toxiproxy,
        keep=args.keep,
        toxiproxy_image=args.toxiproxy_image,
        progress=Progress(enabled=not args.quiet),
    )
    result = run_scenario(scenario, options, registry)
    print(report.summary(result))
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _report(args: argparse.Namespace) -> int:
    from pytest_dchaos.record import report
    from pytest_dchaos.record.folder import ReportFolder
    from pytest_dchaos.registry import Registry

    folder = ReportFolder.load(Path(args.dir))
    protocol = folder.facts.protocol
    family = Registry().protocols.get(protocol) if protocol else None
    if not report.render(folder, family.report_lanes if family else None):
        return EXIT_ERROR
    print(f"wrote {folder.path / 'report.html'} and {folder.path / 'summary.md'}")
    return EXIT_PASSED


def _explore(args: argparse.Namespace) -> int:
    from pytest_dchaos.explore.base_scenario import BaseScenario
    from pytest_dchaos.explore.explorer import ExploreOptions, Explorer, fault_names
    from pytest_dchaos.registry import Registry
    from pytest_dchaos.run.runner import RunOptions

    budget = _duration("--budget", args.budget)
    shrink_budget = (_duration("--shrink-budget", args.shrink_budget)
                     if args.shrink_budget is not None else None)
    registry = Registry()
    base = BaseScenario.load(args.path, registry, _node_command(args.node_command))
    options = ExploreOptions(
        report_dir=Path(args.report),
        budget=budget,
        runs=args.runs,
        seed=args.seed,
        confirm=args.confirm,
        max_faults=args.max_faults,
        shrink_budget=shrink_budget,
        run=RunOptions(backend=args.backend, toxiproxy=args.toxiproxy),
        workers=args.workers,
        faults=fault_names(args.faults),
    )
    explorer = Explorer(base, options, registry)
    result = explorer.run()
    print(explorer.summary())
    if result.interrupted:
        return interrupt_exit(result.interrupt)
    return EXIT_FAILED if result.found is not None else EXIT_PASSED


def _duration(flag: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except UnitError as exc:
        raise DchaosError(f"{flag}: {exc}") from None
    if seconds <= 0:
        raise DchaosError(f"{flag} must be above zero (e.g. {flag} 15m)")
    return seconds


def _validate(args: argparse.Namespace) -> int:
    from pytest_dchaos.registry import Registry
    from pytest_dchaos.run.nemesis import expand
    from pytest_dchaos.run.runner import RunOptions, resolve_seed
    from pytest_dchaos.scenario.loader import load_scenario

    registry = Registry()
    status = EXIT_PASSED
    for path in args.paths:
        try:
            scenario = load_scenario(path, registry)
            # The seed a run would use: --seed, else the scenario's, else a fresh one —
            # printed, since the schedule shown is that seed's and no other's.
            seed = resolve_seed(scenario, RunOptions(seed=args.seed))
            firings = expand(scenario, registry.faults, seed)
        except DchaosError as exc:
            print(f"dchaos: error: {exc}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        drawn = args.seed is None and scenario.seed is None
        print(f"{path}: ok — {scenario.name} ({scenario.protocol}, {scenario.cluster.nodes} "
              f"nodes, seed {seed}, {len(firings)} fault firing(s), checks: "
              f"{', '.join(c.name for c in scenario.checks)})")
        if drawn and firings:
            print(f"  seed {seed} was drawn (the scenario has none): a run draws its own; "
                  f"--seed {seed} replays this schedule")
        for firing in firings:
            print(f"  {firing.describe_timing()}")
    return status


def _cleanup(args: argparse.Namespace) -> int:
    from pytest_dchaos.backends.docker import dockerenv

    client = dockerenv.connect()
    removed = dockerenv.reap(client, everything=args.all, runs=args.runs)
    print(f"removed {removed}")
    if args.images:
        count = dockerenv.remove_images(client)
        print(f"removed {count} image(s)")
    return EXIT_PASSED


def _conform(args: argparse.Namespace) -> int:
    from pytest_dchaos.testing.conformance import check_conformance

    report = check_conformance(args.protocol, args.node_command, nodes=args.nodes,
                               timeout=args.timeout, init_timeout=args.init_timeout,
                               log_dir=args.logs)
    keep = args.logs is not None or not report.conforms
    print(report.text(logs=keep))
    if not keep:
        shutil.rmtree(report.log_dir, ignore_errors=True)
    return EXIT_PASSED if report.conforms else EXIT_FAILED


def _schema(args: argparse.Namespace) -> int:
    from pytest_dchaos.registry import Registry
    from pytest_dchaos.scenario.json_schema import schema_text

    text = schema_text(Registry())
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_PASSED
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DchaosError(f"--output: cannot write {args.output}: {exc.strerror}") from None
    return EXIT_PASSED


def _catalogue(args: argparse.Namespace) -> int:
    from pytest_dchaos.catalogue import catalogue_markdown, catalogue_text
    from pytest_dchaos.registry import Registry

    registry = Registry()
    print(catalogue_markdown(registry) if args.markdown else catalogue_text(registry))
    return EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
