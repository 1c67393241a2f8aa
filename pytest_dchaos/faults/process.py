"""Process faults: crash (SIGKILL), pause (SIGSTOP/SIGCONT) and restart of nodes."""

from __future__ import annotations

import random
from typing import Any

from pytest_dchaos.faults.base import PROCESS, FaultEnv, FaultType, pick_node, with_leader
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode

_NODES = s.ListOf(s.NodeRef(), scalar_ok=True, min_items=1)


class _NodesFault(FaultType[tuple[str, ...]]):
    """A fault on a list of nodes: ``kill: n3``, ``kill: [n1, n2]``, ``kill: random``,
    ``kill: leader`` (the node leading when it fires: PBFT's primary, a coordinator)."""

    scope = PROCESS
    options = s.Struct((s.Field("nodes", _NODES, "which nodes (or random, or leader)"),),
                       shorthand="nodes")
    verb = ""

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> tuple[str, ...]:
        return tuple(values["nodes"])

    def resolve(self, options: tuple[str, ...], rng: random.Random,
                nodes: tuple[str, ...]) -> tuple[str, ...]:
        # `random` draws among nodes not named or drawn already: `[random, n2]` is two nodes.
        # `leader` is left for the moment the fault fires (at_fire).
        chosen: list[str] = [n for n in options if n != "random"]
        for name in options:
            if name == "random":
                pool = tuple(n for n in nodes if n not in chosen)
                if pool:
                    chosen.append(pick_node(name, rng, pool))
        return tuple(dict.fromkeys(chosen))

    def at_fire(self, options: tuple[str, ...], env: FaultEnv) -> tuple[str, ...]:
        return with_leader(options, env)

    def nodes(self, options: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(n for n in options if n != "leader")

    def describe(self, options: tuple[str, ...]) -> str:
        return f"{self.verb} {' '.join(options) or '(no node leads)'}"


class Kill(_NodesFault):
    name = "kill"
    doc = ("Crash nodes with SIGKILL. With `duration`, restart them after it (init and "
           "protocol setup again, their folder on disk kept); without, they stay down. "
           "Kills and stops of one node that overlap keep it down until the last ends.")
    verb = "kill"
    effect = "crash"
    #: A crash is not undone by `heal`: only its own `duration` restarts the node.
    healable = False

    def start(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            env.cluster.hold(node, "down", env.key)
            env.cluster.kill(node)

    def stop(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            if env.cluster.release(node, "down", env.key):  # the last fault keeping it down
                _come_back(node, env)


class Stop(_NodesFault):
    name = "stop"
    doc = ("Stop nodes gracefully, as a machine being shut down: SIGTERM, and SIGKILL if "
           "still running 5 s later. With `duration`, start them again after it (init and "
           "protocol setup, their folder kept); without, they stay down.")
    verb = "stop"
    effect = "crash"
    healable = False

    def start(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            env.cluster.hold(node, "down", env.key)
            env.cluster.stop(node)

    def stop(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            if env.cluster.release(node, "down", env.key):
                _come_back(node, env)


class Pause(_NodesFault):
    name = "pause"
    doc = ("Freeze nodes with SIGSTOP (alive but silent, like a long GC pause); resumed with "
           "SIGCONT after `duration` or at a heal. Pauses of one node that overlap keep it "
           "paused until the last ends.")
    verb = "pause"
    effect = "pause"

    def start(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            env.cluster.hold(node, "pause", env.key)
            env.cluster.pause(node)

    def stop(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            # Another pause of the node still under way keeps it paused.
            if not env.cluster.release(node, "pause", env.key):
                continue
            if env.cluster.take_owed_restart(node):  # a kill that ended meanwhile
                env.cluster.restart(node)
            else:
                env.cluster.resume(node)


def _come_back(node: str, env: FaultEnv) -> None:
    """The last kill or stop holding ``node`` down has ended: start it again, unless a pause
    began meanwhile (a no-op on a node that was down), which then starts it when it ends."""
    if env.cluster.held(node, "pause"):
        env.cluster.owe_restart(node)
    else:
        env.cluster.restart(node)


class Restart(_NodesFault):
    name = "restart"
    doc = ("Restart nodes: SIGKILL if running, start again, init and protocol setup. A node "
           "that a pause, or a kill or stop with a duration, holds is not running and is "
           "left as it is.")
    verb = "restart"
    effect = "restart"
    revertible = False

    def start(self, options: tuple[str, ...], env: FaultEnv) -> None:
        for node in options:
            # A node a kill or a pause holds is not running: a restart would wake it while
            # the fault timeline has it down.
            if not env.cluster.held(node, "down") and not env.cluster.held(node, "pause"):
                env.cluster.restart(node)
