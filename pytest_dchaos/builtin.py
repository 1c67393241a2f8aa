"""The harness's own faults, generic checkers and backends, registered as a plugin.

Registered through the ``dchaos`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.backends.base import Backend
from pytest_dchaos.backends.docker.backend import DockerBackend
from pytest_dchaos.backends.local.backend import LocalBackend
from pytest_dchaos.backends.swarm.backend import SwarmBackend
from pytest_dchaos.checkers.availability import Availability
from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.latency import Latency
from pytest_dchaos.checkers.msgs_per_op import MsgsPerOp
from pytest_dchaos.checkers.node_contract import NodeContract
from pytest_dchaos.faults.base import FaultType
from pytest_dchaos.faults.byzantine import Byzantine
from pytest_dchaos.faults.heal import Heal
from pytest_dchaos.faults.messages import Message
from pytest_dchaos.faults.network import Latency as LatencyFault
from pytest_dchaos.faults.network import Partition, Toxic
from pytest_dchaos.faults.process import Kill, Pause, Restart, Stop
from pytest_dchaos.hookspecs import hookimpl


@hookimpl
def dchaos_add_faults() -> list[FaultType[Any]]:
    return [Partition(), LatencyFault(), Toxic(), Message(), Kill(), Stop(), Pause(), Restart(),
            Byzantine(), Heal()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [NodeContract(), MsgsPerOp(), Latency(), Availability()]


@hookimpl
def dchaos_add_backends() -> list[Backend]:
    return [LocalBackend(), DockerBackend(), SwarmBackend()]
