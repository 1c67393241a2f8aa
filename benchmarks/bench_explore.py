"""dchaos explore: how many schedules a minute, how much of a run is the harness's own, and
whether a broken node per family is found from its healthy scenario and shrunk.

1. Schedules per minute, per family, local backend: ``dchaos explore`` of the family's
   healthy scenario with the reference nodes, ``--runs N``. Any failure here is a false
   alarm on a correct node (the figure to keep at zero), printed with its report folder.
2. The harness's own time per run, per family: the healthy scenario run once through the
   API; start-up (agents, proxies, nodes, init) and the rest after the final phase (stop,
   judge, write the report) against the run's total. Goal: the harness's share small
   enough that short runs are not dominated by it.
3. Per family, a broken node from tests/broken_nodes/ that the healthy scenario passes:
   ``dchaos explore`` of that scenario with ``--node-command`` the broken node. Goal: found
   within 15 minutes and shrunk to at most two faults.

The randomized Byzantine schedules are an exploration too: bench_pbft.py part 4 runs them
through :func:`explore` here.

    python benchmarks/bench_explore.py [--runs N] [--budget 15m] [--shrink-budget 5m] [--seed N]
                                       [--families gossip,pbft,vector_clock,txn]
                                       [--skip rate,overhead,broken]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dchaos.registry import Registry
from pytest_dchaos.run.progress import Progress
from pytest_dchaos.run.runner import RunOptions, run_path

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "broken_nodes"

#: Each family's healthy scenario, and broken nodes it passes that a fault shows. The
#: second of gossip and vector_clock fails only under a fault kind no shipped scenario of
#: its family has (tests/explore/test_explore_unshipped.py checks that claim).
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gossip": ("scenarios/gossip/healthy.yaml",
               ("gossip_never_dead.py", "gossip_heard_is_reachable.py")),
    "pbft": ("scenarios/pbft/healthy.yaml",
             ("pbft_small_quorum.py", "pbft_trusts_primary.py")),
    "vector_clock": ("scenarios/vector_clock/healthy.yaml",
                     ("vc_deliver_on_arrival.py", "vc_forgets_on_stop.py")),
    "txn": ("scenarios/txn/healthy-2pc.yaml", ("txn_decides_before_logging.py",)),
}

def explore(scenario: Path | str, out: Path, *extra: str) -> tuple[dict[str, Any], float]:
    """Run ``dchaos explore`` as a user would; its explore.json and the wall time."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dchaos.cli", "explore", str(scenario),
         "--report", str(out), "--toxiproxy", "embedded", *extra],
        capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"dchaos explore {scenario} exited {done.returncode}:\n"
                         f"{done.stdout}{done.stderr}")
    return json.loads((out / "explore.json").read_text()), wall


def rate(args: argparse.Namespace, tmp: Path) -> None:
    print(f"1. schedules per minute, reference nodes, {args.runs} runs per family "
          "(goal: no failure: each would be a false alarm)")
    print(f"   {'family':<13} {'runs':>4} {'wall':>7} {'per min':>8} {'run median':>10} "
          f"{'failures':>8}  shapes tried")
    for family in args.families:
        scenario, _ = FAMILIES[family]
        report, wall = explore(ROOT / scenario, tmp / f"rate-{family}", "--runs",
                               str(args.runs), "--seed", str(args.seed), "--budget", "30m")
        runs = [r for r in report["runs"] if r["phase"] == "search"]
        failed = [r for r in runs if r["verdict"] != "pass"]
        kinds = sorted({s for r in runs for s in r["shapes"]})
        median = statistics.median(r["seconds"] for r in runs)
        print(f"   {family:<13} {len(runs):>4} {wall:>6.0f}s {len(runs) / wall * 60:>8.1f} "
              f"{median:>9.1f}s {len(failed):>8}  {len(kinds)}", flush=True)
        for r in failed:
            print(f"      run {r['run']} {r['verdict']}: {r['detail'][:200]} "
                  f"(faults {json.dumps(r['faults'])})")


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    print("2. the harness's own time per run (healthy scenario, reference nodes)")
    print(f"   {'family':<13} {'total':>7} {'start-up':>9} {'workload+final':>15} "
          f"{'stop+judge':>11} {'harness share':>14}")
    for family in args.families:
        scenario, _ = FAMILIES[family]
        began = time.monotonic()
        result = run_path(ROOT / scenario, RunOptions(
            report_dir=tmp / f"overhead-{family}", toxiproxy="embedded",
            progress=Progress.silent()), Registry())
        total = time.monotonic() - began
        phases = result.record.phases if result.record is not None else {}
        startup = float(phases.get("startup_s", 0.0))
        # The history's clock starts with the workload; the final phase ends the protocol's
        # part. What is left of the total is the harness stopping, judging and writing.
        span = float(phases.get("final_end", 0.0))
        rest = max(0.0, total - startup - span)
        print(f"   {family:<13} {total:>6.1f}s {startup:>8.2f}s {span:>14.1f}s {rest:>10.2f}s "
              f"{(startup + rest) / total:>13.0%}", flush=True)


def broken(args: argparse.Namespace, tmp: Path) -> None:
    print(f"3. a broken node per family, from its healthy scenario (goal: found within "
          f"{args.budget}, shrunk to at most two faults)")
    for family in args.families:
        scenario, nodes = FAMILIES[family]
        for node in nodes:
            broken_node(args, tmp, family, scenario, node)


def broken_node(args: argparse.Namespace, tmp: Path, family: str, scenario: str,
                node: str) -> None:
    command = f"{sys.executable} {BROKEN / node}"
    out = tmp / f"broken-{Path(node).stem}"
    report, wall = explore(ROOT / scenario, out, "--budget", args.budget, "--seed",
                           str(args.seed), "--confirm", "2", "--shrink-budget",
                           args.shrink_budget, "--node-command", command)
    searched = [r for r in report["runs"] if r["phase"] == "search"]
    found = report["found"]
    if found is None:
        print(f"   {family:<13} {node}: NOT FOUND in {len(searched)} runs ({wall:.0f}s)")
        return
    minimal = report["shrink"]["minimal"]
    confirmed = report["found"].get("confirmed", {})
    at = sum(r["seconds"] for r in searched)
    print(f"   {family:<13} {node}: found at run {found['run']} after {at:.0f}s "
          f"({', '.join(found['failed_checks'])}; confirmed "
          f"{confirmed.get('failed', '?')}/{confirmed.get('runs', '?')}), shrunk "
          f"{len(found['faults'])} -> {len(minimal)} fault(s); {wall:.0f}s in all",
          flush=True)
    for entry in minimal:
        print(f"      {json.dumps(entry)}")
    for twin in report["found"].get("twins") or ():
        print(f"      twin: {json.dumps(twin)}")
    verdict = reference_verdict(out / "minimal.yaml", family)
    print(f"      the reference nodes on minimal.yaml: {verdict}")


def reference_verdict(minimal: Path, family: str) -> str:
    """Whether the reference nodes pass the minimal scenario: a find is the broken node's
    only if they do (otherwise the exploration found a fault of the reference, or of the
    harness). The scenario names the broken node; the reference runs in its place."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dchaos.cli", "run", str(minimal), "--toxiproxy",
         "embedded", "--node-command", f"{sys.executable} -m reference_nodes.{family}",
         "--report", str(minimal.parent / "ref")],
        capture_output=True, text=True, check=False)
    return {0: "pass", 1: "FAIL (not the broken node's bug)"}.get(
        done.returncode, f"could not run (exit {done.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10, help="schedules per family, part 1")
    parser.add_argument("--budget", default="15m", help="per broken node, part 3")
    parser.add_argument("--shrink-budget", default="5m", help="per broken node, part 3")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--skip", default="", help="parts to skip: rate, overhead, broken")
    args = parser.parse_args()
    args.families = [f for f in args.families.split(",") if f]
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "rate" not in skip:
            rate(args, tmp)
        if "overhead" not in skip:
            overhead(args, tmp)
        if "broken" not in skip:
            broken(args, tmp)


if __name__ == "__main__":
    main()
