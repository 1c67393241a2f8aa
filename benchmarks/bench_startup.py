"""Start-up time and memory of local clusters.

Prints, for 5 and 25 gossip nodes on the local backend: the time from "start" to every node
having answered init (agents, the embedded Toxiproxy server, one proxy per directed link,
the nodes, init and topology), as the median of a few tries; and the resident memory of the
whole 25-node cluster — agents, nodes and fault layer — summed over its processes.

Goals (issue 2): 5 nodes ready in under 1 s, 25 nodes in under 5 s, the 25-node cluster
under 1.5 GiB resident.

    python benchmarks/bench_startup.py [--tries 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pytest_dchaos.manual import start_cluster
from pytest_dchaos.run.runner import RunOptions


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (agents, their nodes, the fault layer)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size: shared pages (the Python runtime) counted once overall."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def start_time(nodes: int, workdir: Path) -> tuple[float, int, int, int]:
    started = time.monotonic()
    cluster = start_cluster(protocol="gossip", nodes=nodes,
                            options=RunOptions(report_dir=workdir, toxiproxy="embedded"))
    elapsed = time.monotonic() - started
    try:
        time.sleep(1.0)  # let every process settle into its steady state
        pids = descendants(os.getpid())
        return elapsed, rss_bytes(pids), pss_bytes(pids), len(pids)
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=3)
    args = parser.parse_args()
    print(f"{'nodes':>5}  {'ready (median)':>14}  {'tries':>24}  {'RSS sum':>10}  "
          f"{'PSS sum':>10}  {'processes':>9}  goal")
    goals = {5: "ready < 1 s", 25: "ready < 5 s, resident < 1.5 GiB"}
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in (5, 25):
            runs = [start_time(nodes, Path(tmp) / f"{nodes}-{i}") for i in range(args.tries)]
            times = [r[0] for r in runs]
            rss = max(r[1] for r in runs)
            pss = max(r[2] for r in runs)
            procs = runs[-1][3]
            print(f"{nodes:>5}  {statistics.median(times):>12.2f} s  "
                  f"{', '.join(f'{t:.2f}' for t in times):>24}  "
                  f"{rss / 2**20:>6.0f} MiB  {pss / 2**20:>6.0f} MiB  {procs:>9}  "
                  f"{goals[nodes]}")
    print("RSS sum counts pages shared between processes once per process (an upper bound);"
          " PSS sum counts them once overall.")


if __name__ == "__main__":
    main()
