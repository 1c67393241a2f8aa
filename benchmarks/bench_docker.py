"""The Docker backend against the local one.

Prints, in one run: the time to build the images (zero when they are cached), the start-up
time of a 5- and a 25-node cluster in containers (agents, Toxiproxy container, one proxy
per directed link, nodes answering init), and the same gossip scenario on both backends
side by side — wall time, msgs-per-op and verdicts.

Goals (issue 3): a 5-node cluster ready in under 5 s with images built; 25 nodes in
containers on this 2-core machine; the same verdicts on both backends.

    python benchmarks/bench_docker.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pytest_dchaos.backends.docker import dockerenv, images
from pytest_dchaos.manual import start_cluster
from pytest_dchaos.run.runner import RunOptions, run_path

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "gossip" / "partition-heals.yaml"


def main() -> None:
    client = dockerenv.connect()
    started = time.monotonic()
    images.ensure(client, lambda text: print(f"  {text}"))
    print(f"images ready in {time.monotonic() - started:.1f} s (0 when cached)")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\n{'nodes':>5}  {'ready in containers':>20}")
        for nodes in (5, 25):
            began = time.monotonic()
            cluster = start_cluster(protocol="gossip", nodes=nodes, options=RunOptions(
                backend="docker", report_dir=Path(tmp) / f"start-{nodes}"))
            ready = time.monotonic() - began
            cluster.close()
            print(f"{nodes:>5}  {ready:>18.2f} s")
        print(f"\n{SCENARIO.name} on both backends:")
        print(f"{'backend':<8} {'wall':>7} {'msgs/op':>8}  verdicts")
        for backend in ("local", "docker"):
            began = time.monotonic()
            result = run_path(SCENARIO, RunOptions(backend=backend,
                                                   report_dir=Path(tmp) / backend))
            wall = time.monotonic() - began
            verdicts = ", ".join(f"{v.name} {'pass' if v.passed else 'FAIL'}"
                                 for v in result.checks)
            print(f"{backend:<8} {wall:>5.1f} s {result.stats['msgs_per_op']['servers']:>8.2f}"
                  f"  {verdicts}")


if __name__ == "__main__":
    main()
