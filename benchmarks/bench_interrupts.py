"""Interrupt runs at random moments and count what they leave behind.

Twenty ``dchaos run`` invocations, each interrupted at a moment drawn from the seed — while
the cluster starts, during the workload, while it stops — by Ctrl-C (SIGINT), SIGTERM, or
``kill -9`` followed by a new run (which must reap what the killed one left). Then it
counts what is labelled ``dchaos.run`` — containers, networks, volumes, and on a swarm
services (with their tasks) and configs — and the processes started by the runs that are
still alive. Goal (issues 3 and 18): zero of each, on Docker and on Swarm.

With ``--backend swarm`` on an engine in no swarm, it runs ``docker swarm init`` first and
leaves the swarm after, as found.

    python benchmarks/bench_interrupts.py [--backend docker|swarm|local] [--runs 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
from bench_scale import swarm_manager

from pytest_dchaos.backends.docker import dockerenv

SCENARIO = """\
name: interrupted
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 1, rate: 20/s, duration: 8s, recovery: 3s}
faults:
  - {at: 2s, partition: {isolate: n2}, duration: 2s}
seed: 1
"""
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "kill -9": signal.SIGKILL}


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries ``mark`` (everything the runs started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def run(path: Path, report: Path, backend: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                             "--backend", backend, "--report", str(report), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="docker")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    mark_value = uuid.uuid4().hex
    env = {**os.environ, "DCHAOS_BENCH_MARK": mark_value}
    mark = f"DCHAOS_BENCH_MARK={mark_value}"
    client = dockerenv.connect() if args.backend in ("docker", "swarm") else None
    print(f"{'run':>3}  {'signal':<8} {'after':>6}  {'exit':>4}  follow-up")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        if args.backend == "swarm" and client is not None:
            stack.enter_context(swarm_manager(client))
        path = Path(tmp) / "scenario.yaml"
        path.write_text(SCENARIO)
        for number in range(1, args.runs + 1):
            name = rng.choice(list(SIGNALS))
            delay = rng.uniform(0.2, 10.0)
            process = run(path, Path(tmp) / f"r{number}", args.backend, env)
            time.sleep(delay)
            process.send_signal(SIGNALS[name])
            code = process.wait(timeout=120)
            follow = ""
            if name == "kill -9":
                again = run(path, Path(tmp) / f"r{number}-after", args.backend, env)
                follow = f"new run exited {again.wait(timeout=180)}"
            print(f"{number:>3}  {name:<8} {delay:>5.1f}s  {code:>4}  {follow}")
        time.sleep(2)
        left: dict[str, int] = {}
        if client is not None:
            labelled = {"label": dockerenv.RUN}
            left["container(s)"] = len(client.containers.list(all=True, filters=labelled))
            left["network(s)"] = len(client.networks.list(filters=labelled))
            left["volume(s)"] = len(client.volumes.list(filters=labelled))
            if args.backend == "swarm":
                left["service(s)"] = len(client.services.list(filters=labelled))
                left["config(s)"] = len(client.configs.list(filters=labelled))
        left["process(es)"] = len(marked_processes(mark))
    print("left behind: " + ", ".join(f"{n} {what}" for what, n in left.items())
          + "  (goal: 0 of each)")


if __name__ == "__main__":
    try:
        main()
    except docker.errors.DockerException as exc:
        sys.exit(f"bench_interrupts: {exc}")
