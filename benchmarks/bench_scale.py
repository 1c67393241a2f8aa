"""Scale: 50 and 100 gossip nodes on the local, Docker and Swarm backends, side by side.

For each backend and size, in one run of this script:

* **ready** — from "start" to every node having answered init and topology (agents, the
  fault layer with one proxy per directed link — 9,900 for 100 nodes — and the nodes);
* **partition** — half the nodes cut from the other half, and healed, with the fault
  layer's calls (one per link: 5,000 at 100 nodes) made one at a time and then side by side
  as runs make them, each on a fresh cluster; the ratio is measured in the same run;
* **memory** — the cluster's resident memory: on the local backend the proportional set
  size (PSS) of every process below this one; in containers the engine's count of each
  container's memory (page cache excluded); this process's own resident set beside it;
* **a gossip run** — the same scenario (4 clients, 40 operations a second for 10 s, one
  node killed for 5 s, the gossip correctness checks) at that size: wall time, msgs/op,
  the verdicts, and the CPU seconds this process (the harness: every client request,
  every control message and every trace event passes through it) spent, against the
  run's wall time.

Swarm needs the engine to be a swarm manager: where it is in no swarm, this script runs
``docker swarm init`` and leaves the swarm after (with the bridge Swarm made), as found.

Goals (issue 18): 100 gossip nodes ready on the local backend in under 10 s and under
5 GiB, and 100-node local runs that pass the gossip checks; on Docker and Swarm, start-up
printed beside local.

    python benchmarks/bench_scale.py [--nodes 50,100] [--backends local,docker,swarm]
                                     [--no-runs]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
from bench_startup import descendants

from pytest_dchaos.backends.docker import dockerenv
from pytest_dchaos.cluster import network as network_module
from pytest_dchaos.cluster.network import partition_links
from pytest_dchaos.manual import start_cluster
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

# n7 is killed for 5 s, so that failure detection has a failure to judge. The suspicion
# timeout is 2 s rather than the reference node's 0.8 s (tuned for 25 nodes): SWIM's
# Lifeguard, and memberlist after it, scale it with log n, and at 100 nodes on two cores a
# member whose answer waits a few hundred milliseconds for a CPU is otherwise declared dead.
SCENARIO = """\
name: gossip-{nodes}
protocol: gossip
cluster: {{nodes: {nodes}, params: {{suspicion_timeout_ms: 2000}}}}
network: {{latency: 5ms, jitter: 1ms}}
workload: {{clients: 4, rate: 40/s, duration: 10s, recovery: 10s}}
faults:
  - {{at: 3s, kill: n7, duration: 5s}}
checks:
  - convergence: {{within: 5s}}
  - no_invented_values
  - failure_detection: {{within: 8s}}
seed: 1
"""


def pss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


def own_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def container_memory(client: docker.DockerClient, run_id: str) -> int:
    total = 0
    for container in client.containers.list(filters={"label": f"{dockerenv.RUN}={run_id}"}):
        with contextlib.suppress(docker.errors.APIError, KeyError):
            stats: dict[str, Any] = container.stats(stream=False)["memory_stats"]
            cache = stats.get("stats", {}).get("inactive_file", stats.get("stats", {})
                                                 .get("cache", 0))
            total += stats["usage"] - cache
    return total


@contextlib.contextmanager
def swarm_manager(client: docker.DockerClient) -> Iterator[None]:
    state = client.info().get("Swarm") or {}
    if state.get("LocalNodeState") == "active":
        yield
        return
    had_bridge = bool(client.networks.list(names=["docker_gwbridge"]))
    client.swarm.init(advertise_addr="127.0.0.1")
    try:
        yield
    finally:
        client.swarm.leave(force=True)
        if not had_bridge:
            for network in client.networks.list(names=["docker_gwbridge"]):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()


def start(backend: str, nodes: int, workdir: Path) -> tuple[float, int, float]:
    """(seconds to ready, cluster memory in bytes, seconds to remove it)."""
    began = time.monotonic()
    live = start_cluster(protocol="gossip", nodes=nodes, options=RunOptions(
        backend=backend, report_dir=workdir, toxiproxy="embedded"))
    ready = time.monotonic() - began
    try:
        time.sleep(2.0)  # let every process settle into its steady state
        if backend == "local":
            memory = pss(descendants(os.getpid()))
        else:
            memory = container_memory(dockerenv.connect(), live.cluster.plan.run_id)
    finally:
        closing = time.monotonic()
        live.close()
    return ready, memory, time.monotonic() - closing


#: Seconds a cluster is left alone before a partition, and between its cut and its heal.
SETTLE = 3.0


def partition_times(backend: str, nodes: int, workdir: Path) -> str:
    """A partition into halves put in place and healed, its calls to the fault layer made
    one by one and then side by side (as runs make them), each on a cluster of its own: a
    heal has every agent dial again the links it needs, which keeps the servers busy for a
    while, and the other measurement must not pay for it. The time a fault takes to be in
    effect, which at 100 nodes is thousands of links."""
    ids = [f"n{i}" for i in range(1, nodes + 1)]
    links = partition_links([ids[:nodes // 2]], ids)
    figures = []
    saved = network_module.CALLS_ONE_BY_ONE
    for how, one_by_one in (("one by one", len(links)), ("side by side", saved)):
        live = start_cluster(protocol="gossip", nodes=nodes, options=RunOptions(
            backend=backend, report_dir=workdir / how.replace(" ", "-"),
            toxiproxy="embedded"))
        network_module.CALLS_ONE_BY_ONE = one_by_one
        try:
            time.sleep(SETTLE)
            began = time.monotonic()
            live.cluster.network.cut("bench", links)
            cut = time.monotonic() - began
            time.sleep(SETTLE)
            began = time.monotonic()
            live.cluster.network.revert("bench")
            figures.append((cut, time.monotonic() - began))
        finally:
            network_module.CALLS_ONE_BY_ONE = saved
            live.close()
    (cut1, heal1), (cut2, heal2) = figures
    return (f"{len(links)} links cut {cut1:.2f} s -> {cut2:.2f} s ({cut1 / cut2:.1f}x), "
            f"healed {heal1:.2f} s -> {heal2:.2f} s ({heal1 / heal2:.1f}x)")


def gossip_run(backend: str, nodes: int, workdir: Path) -> str:
    registry = Registry()
    scenario = parse_scenario(SCENARIO.format(nodes=nodes), f"<gossip-{nodes}>", registry)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    result = run_scenario(scenario, RunOptions(backend=backend, report_dir=workdir,
                                               toxiproxy="embedded"), registry)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    harness = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    verdicts = ", ".join(f"{v.name} {'pass' if v.passed else 'FAIL'}" for v in result.checks)
    failed = "".join(f"\n         {v.name}: {v.detail[:300]}" for v in result.checks
                     if not v.passed)
    return (f"{wall:6.1f} s  {result.stats['msgs_per_op']['servers']:7.2f}  "
            f"{harness:6.1f} s ({harness / wall:4.0%})  {verdicts}{failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="50,100")
    parser.add_argument("--backends", default="local,docker,swarm")
    parser.add_argument("--no-runs", action="store_true", help="start-up and memory only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    backends = args.backends.split(",")
    rows: list[str] = []
    runs: list[str] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if "swarm" in backends:
            stack.enter_context(swarm_manager(dockerenv.connect()))
        for nodes in sizes:
            for backend in backends:
                ready, memory, closing = start(backend, nodes, tmp / f"{backend}-{nodes}")
                cutting = partition_times(backend, nodes, tmp / f"cut-{backend}-{nodes}")
                rows.append(f"{nodes:>5}  {backend:<7} {ready:7.2f} s  {memory / 2**30:6.2f} GiB"
                            f"  {own_rss() / 2**20:6.0f} MiB  {closing:6.1f} s  {cutting}")
                print(rows[-1], flush=True)
                if not args.no_runs:
                    runs.append(f"{nodes:>5}  {backend:<7} "
                                + gossip_run(backend, nodes, tmp / f"run-{backend}-{nodes}"))
                    print(runs[-1], flush=True)
    print(f"\n{'nodes':>5}  {'backend':<7} {'ready':>9}  {'memory':>10}  {'harness':>10}  "
          f"{'removed':>8}  partition into halves, one call at a time -> side by side")
    print("\n".join(rows))
    print("goal: 100 nodes ready on local in < 10 s and < 5 GiB")
    if runs:
        print(f"\n{'nodes':>5}  {'backend':<7} {'wall':>8}  {'msgs/op':>7}  "
              f"{'harness CPU':>18}  verdicts")
        print("\n".join(runs))


if __name__ == "__main__":
    main()
