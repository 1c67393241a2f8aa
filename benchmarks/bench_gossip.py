"""The gossip reference node under the Gossip Glomers conditions.

Runs ``scenarios/gossip/glomers.yaml`` (25 nodes, 100 ms on every message, 100 operations a
second for 20 s, no faults) and ``scenarios/gossip/glomers-crash.yaml`` (the same with one
node killed at 10 s) on the local backend, and prints, from each run's own result:
messages per operation, stable latency (median, max), failure-detection time and false
positives, against the goals of issue 2:

- msgs-per-op under 20 with median stable latency under 400 ms and max under 600 ms
  (Gossip Glomers 3d latency and 3e message budget at once);
- a killed node marked dead by every live node within 3 s, no false positives in a healthy
  25-node run.

    python benchmarks/bench_gossip.py [--seed N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pytest_dchaos.run.runner import RunOptions, run_path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "gossip"


def run(name: str, seed: int | None, report: Path) -> dict[str, object]:
    result = run_path(SCENARIOS / f"{name}.yaml",
                      RunOptions(seed=seed, report_dir=report, toxiproxy="embedded"))
    stats = result.stats
    detection = result.check("failure_detection").figures
    return {
        "scenario": name,
        "passed": result.passed,
        "msgs_per_op": stats["msgs_per_op"]["servers"],
        "stable_p50": stats["stable_latency_ms"]["p50"],
        "stable_max": stats["stable_latency_ms"]["max"],
        "detect_max": detection.get("max_detection_s"),
        "false_pos": detection.get("false_positives"),
        "ops": stats["ops"]["total"],
        "failed": [v.name for v in result.failed_checks()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None,
                        help="override the scenarios' seeds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(name, args.seed, Path(tmp) / name)
                for name in ("glomers", "glomers-crash")]
    print(f"{'scenario':<14} {'ops':>5} {'msgs/op':>8} {'stable p50':>11} {'stable max':>11} "
          f"{'detect max':>11} {'false +':>8}  verdict")
    for row in rows:
        detect = f"{row['detect_max']:.2f} s" if row["detect_max"] is not None else "—"
        verdict = "PASS" if row["passed"] else f"FAIL ({', '.join(row['failed'])})"
        print(f"{row['scenario']:<14} {row['ops']:>5} {row['msgs_per_op']:>8.2f} "
              f"{row['stable_p50']:>8.0f} ms {row['stable_max']:>8.0f} ms {detect:>11} "
              f"{row['false_pos']:>8}  {verdict}")
    print("goals: msgs/op < 20, stable p50 < 400 ms, stable max < 600 ms, "
          "detection < 3 s, 0 false positives")


if __name__ == "__main__":
    main()
