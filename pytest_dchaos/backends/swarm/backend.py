"""The Swarm backend: each node a Docker Swarm service of one task, on an attachable overlay
network of the run, with Toxiproxy as a service beside them.

It runs wherever the Docker backend runs once the engine (this machine's, or DOCKER_HOST's)
is a swarm manager. What differs from the Docker backend:

* **Placement.** Nodes are spread over the swarm's machines whose engines the harness can
  reach (this one, and those named in ``DCHAOS_SWARM_ENGINES``), round robin, each pinned to
  its machine by a constraint: a restarted node comes back where its disk is. Toxiproxy
  runs on the manager.
* **Ports.** Each task publishes its agent's control port (and Toxiproxy its API) in host
  mode, on the machine that runs it; the harness reaches it at that machine's address.
  Node-to-node traffic stays on the overlay, each directed link through its proxy. An
  agent reaches a proxy by its server's service name (``endpoint_mode`` dnsrr: a name
  resolves to the task itself, no virtual IP); a proxy reaches a node at its task's overlay
  address, set again when a restart makes a new task, since Swarm's DNS may keep naming the
  task that died.
* **Process faults** act on the task's container, through the engine of the machine that
  runs it: kill is SIGKILL, stop is SIGTERM then SIGKILL, pause freezes it. The restart
  policy is ``none``, so Swarm leaves a killed node dead; a restart is a forced update of
  its service: a new task on the same machine, with the same volume (the node's folder).
* **Files.** A node's folder is always a volume (a task may run on another machine), copied
  back into the report as on a remote engine. The agent goes into a user's image as a swarm
  config mounted at its path.
* **Images** are made on this machine's engine, or the manager's, and carried to every
  other machine's engine that lacks them (``docker save | load``).

Everything carries the run's labels, as on the Docker backend: services, configs, the
network, volumes and (through the services) the task containers. The run removes them when
it ends; ``dchaos cleanup`` removes what a dead run left.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import ConfigReference, EndpointSpec, Mount, RestartPolicy

from pytest_dchaos import agent as agent_module
from pytest_dchaos.backends.base import Backend
from pytest_dchaos.backends.docker import dockerenv, images
from pytest_dchaos.backends.docker.backend import (
    AGENT_PATH,
    API_PORT,
    CONTROL_PORT,
    NODE_DIR,
    PEER_PORT,
    READY_TIMEOUT,
    ContainerHost,
    agent_start,
    command_mounts,
    copy_out,
    drive_servers,
    link_agents,
    print_line,
    save_logs,
    toxiproxy_command,
    wait_until_ready,
)
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.cluster.running import Cluster, ClusterPlan
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.scenario.placement import place

#: ``hostname=docker-url,...``: the engines of the swarm's other machines, which the
#: harness needs for process faults and files on the nodes placed there.
ENGINES_ENV = "DCHAOS_SWARM_ENGINES"
#: How long a service may take to have its task running.
TASK_TIMEOUT = 60.0


@dataclass(frozen=True)
class Machine:
    """A machine of the swarm that can run nodes."""

    id: str
    hostname: str
    address: str                 #: where the ports its tasks publish are reached
    client: docker.DockerClient  #: its engine
    #: What placement constraints test: node.role, node.labels.*, engine.labels.*.
    facts: Mapping[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        return {"node.id": self.id, "node.hostname": self.hostname, **self.facts}


def machines(client: docker.DockerClient, engine: dockerenv.Engine,
             environ: dict[str, str] | None = None) -> tuple[list[Machine], list[str]]:
    """The ready machines whose engines the harness reaches (the manager first), and the
    hostnames of those it does not (nodes are not placed there). Raises if the engine is
    not a swarm manager, saying how to make one."""
    info = client.info().get("Swarm") or {}
    where = os.environ.get("DOCKER_HOST", "this machine's engine")
    if info.get("LocalNodeState") != "active":
        raise HarnessError(
            f"--backend swarm needs a swarm, and the Docker engine ({where}) is in none: "
            "start one with `docker swarm init` (one machine is a swarm), or point "
            "DOCKER_HOST at a manager of yours (docs/scale.md)")
    if not info.get("ControlAvailable"):
        raise HarnessError(
            f"the Docker engine ({where}) is a swarm worker: --backend swarm needs a "
            "manager, to create services (point DOCKER_HOST at one)")
    env = os.environ if environ is None else environ
    named = _engines(env.get(ENGINES_ENV, ""))
    found: list[Machine] = []
    unreached: list[str] = []
    for node in client.nodes.list():
        attrs = node.attrs
        if attrs["Status"].get("State") != "ready" or \
                attrs["Spec"].get("Availability") != "active":
            continue
        hostname = attrs["Description"]["Hostname"]
        facts = {"node.role": str(attrs["Spec"].get("Role", "")),
                 **{f"node.labels.{k}": str(v)
                    for k, v in (attrs["Spec"].get("Labels") or {}).items()},
                 **{f"engine.labels.{k}": str(v) for k, v in (
                     attrs["Description"].get("Engine", {}).get("Labels") or {}).items()}}
        if node.id == info["NodeID"]:
            found.insert(0, Machine(node.id, hostname, engine.address, client, facts))
        elif hostname in named:
            try:
                other = docker.DockerClient(base_url=named[hostname], timeout=120)
                other.ping()
            except docker.errors.DockerException as exc:
                raise HarnessError(f"{ENGINES_ENV} names {named[hostname]} for the swarm "
                                   f"machine {hostname}, which does not answer: {exc}") from None
            found.append(Machine(node.id, hostname, attrs["Status"].get("Addr", hostname),
                                 other, facts))
        else:
            unreached.append(hostname)
    return found, unreached


def _shown(machine: Machine) -> str:
    """A machine's role and labels, as a placement constraint names them."""
    return ", ".join(f"{k}={v}" for k, v in sorted(machine.facts.items())) or "no labels"


def _engines(text: str) -> dict[str, str]:
    engines = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        hostname, sep, url = item.partition("=")
        if not sep or not hostname or not url:
            raise HarnessError(f"{ENGINES_ENV}: {item!r} is not hostname=docker-url (e.g. "
                               "worker-2=tcp://10.0.0.12:2376)")
        engines[hostname.strip()] = url.strip()
    return engines


class SwarmBackend(Backend):
    name = "swarm"
    places_nodes = True
    doc = ("nodes as Docker Swarm services spread over the swarm's machines, on an overlay "
           "network, links through a Toxiproxy service; the engine must be a manager")

    def __init__(self) -> None:
        self.say = print_line

    def provision(self, plan: ClusterPlan) -> Cluster:
        mounts = command_mounts(plan.command) if not (plan.image or plan.reference) else []
        if mounts:
            # A bind mount names a folder on whichever machine runs the task.
            raise HarnessError(
                f"the node command names files on this machine ({', '.join(mounts)}), which "
                "the swarm's other machines do not have: put the node in an image and give "
                "it with --node-image (paths in the command are then the image's), or use "
                "--backend docker on this machine")
        client = dockerenv.connect()
        engine = dockerenv.Engine.from_env()
        found, unreached = machines(client, engine)
        if unreached:
            self.say(f"placing no node on swarm machine(s) {', '.join(unreached)}: the "
                     f"harness cannot reach their engines (name them in {ENGINES_ENV})")
        removed = dockerenv.reap(client)
        if removed.runs:
            self.say(f"removed what dead runs left: {removed}")
        source = None if engine.on_this_machine else dockerenv.local_engine()
        built = images.ensure(client, self.say, toxiproxy=plan.toxiproxy_image, source=source)
        if plan.image:
            images.require(client, plan.image, self.say, source)
            if not plan.command:
                plan = replace(plan, command=images.default_command(client, plan.image))
        try:
            placed = place(plan.node_ids, found, Machine.attributes, plan.placement)
        except ValueError as exc:
            raise HarnessError(
                f"cluster.placement: {exc}; the machines this harness reaches: "
                + "; ".join(f"{m.hostname} ({_shown(m)})" for m in found)
                + (f" (and {', '.join(unreached)}, whose engines it does not reach: "
                   f"{ENGINES_ENV})" if unreached else "")) from None
        for machine in {m.id: m for m in placed.values()}.values():
            if machine.client is not client:
                for image in filter(None, (built.node, built.toxiproxy, plan.image)):
                    images.require(machine.client, image, self.say, client)
        plan.workdir.mkdir(parents=True, exist_ok=True)
        prefix = f"dchaos-{plan.run_id}"
        host = ServiceHost(plan, engine, placed, found[0])

        def remove_all() -> None:
            host.save_files()
            dockerenv.remove_run(client, plan.run_id)  # the services first: no task returns
            for machine in found:
                if machine.client is not client:
                    dockerenv.remove_run(machine.client, plan.run_id)

        try:
            network = client.networks.create(
                prefix, driver="overlay", attachable=True,
                labels=dockerenv.run_labels(plan.run_id, "network", plan.keep))
            host.network = network.name
            for i, server in enumerate(host.toxiproxies):
                host.create(server, built.toxiproxy, toxiproxy_command(built, plan.seed + i),
                            role="toxiproxy", publish=API_PORT, machine=found[0])
            for server in host.toxiproxies:
                host.await_task(server)  # its container in host.containers
            cluster = Cluster(plan, Network(drive_servers(host, found[0].address), {}), host)
            cluster.add_closer(remove_all)
        except BaseException:
            remove_all()
            raise
        try:
            self._start_agents(client, host, cluster, built)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _start_agents(self, client: docker.DockerClient, host: ServiceHost, cluster: Cluster,
                      built: images.Images) -> None:
        plan = host.plan
        agent = f"{images.INSTALL_DIR}/pytest_dchaos/agent.py"
        configs: list[ConfigReference] = []
        if plan.image:  # a user's image: the agent goes in as a config
            agent = AGENT_PATH
            config = client.configs.create(
                name=f"{host.prefix}-agent", data=Path(agent_module.__file__).read_bytes(),
                labels=dockerenv.run_labels(plan.run_id, "config", plan.keep))
            configs.append(ConfigReference(config.id, config.name, filename=AGENT_PATH))
        for node in plan.node_ids:
            (plan.workdir / node).mkdir(parents=True, exist_ok=True)
            host.create(node, plan.image or built.node,
                        ["--workdir", NODE_DIR, "--host", "0.0.0.0", "--control-port",
                         str(CONTROL_PORT), "--peer-port", str(PEER_PORT), "--no-stdin-watch"],
                        role="node", publish=CONTROL_PORT, machine=host.placed[node],
                        entrypoint=["python3", agent], configs=configs,
                        volume=f"{host.prefix}-{node}")
        for node in plan.node_ids:  # created together, and the swarm starts them so
            wait_until_ready(host.await_task(node), agent_start(plan, node))
        link_agents(host, cluster)


class ServiceHost(ContainerHost):
    """Where the nodes of a Swarm run live: a service each, its one task's container acted
    on through the engine of the machine that runs it."""

    def __init__(self, plan: ClusterPlan, engine: dockerenv.Engine,
                 placed: dict[str, Machine], manager: Machine) -> None:
        super().__init__(plan, engine, {})
        self.placed = {**placed, **dict.fromkeys(self.toxiproxies, manager)}
        self.manager = manager
        self.network = ""
        #: node -> its service, and the id of the task that runs it now.
        self.services: dict[str, Any] = {}
        self.tasks: dict[str, str] = {}

    def address_of(self, node: str) -> str:
        return self.placed[node].address

    def peer_upstream(self, node: str) -> str:
        """The overlay address of ``node``'s task, not its service's name: after a restart,
        Swarm's DNS can go on naming the task that died, for a while or for good
        (moby#42833, libnetwork#2083), and a proxy dialing that address hangs with the
        messages its client writes meanwhile."""
        container = self.containers[node]
        networks = container.attrs.get("NetworkSettings", {}).get("Networks", {})
        address = (networks.get(self.network) or {}).get("IPAddress")
        if not address:
            raise HarnessError(f"the task of {self.services[node].name} has no address on "
                               f"the run's network {self.network}")
        return f"{address}:{PEER_PORT}"

    def create(self, node: str, image: str, args: list[str], *, role: str, publish: int,
               machine: Machine, entrypoint: list[str] | None = None,
               configs: list[ConfigReference] | None = None,
               volume: str | None = None) -> None:
        """Create ``node``'s service on ``machine`` (``await_task`` waits for it to run)."""
        plan = self.plan
        labels = dockerenv.run_labels(plan.run_id, role, plan.keep)
        mounts = [Mount(NODE_DIR, volume, type="volume", labels=labels)] if volume else []
        try:
            service = self.manager.client.services.create(
                image, command=entrypoint, args=args, name=f"{self.prefix}-{node}",
                labels=labels, container_labels={**labels, "dchaos.node": node},
                networks=[self.network], hostname=node, init=True, mounts=mounts,
                configs=configs or None,
                endpoint_spec=EndpointSpec(mode="dnsrr", ports=[
                    {"Protocol": "tcp", "TargetPort": publish, "PublishMode": "host"}]),
                restart_policy=RestartPolicy(condition="none"),
                constraints=[f"node.id=={machine.id}"])
        except docker.errors.APIError as exc:
            raise HarnessError(f"cannot create the service {self.prefix}-{node}: "
                               f"{getattr(exc, 'explanation', exc)}") from None
        self.services[node] = service

    def await_task(self, node: str) -> Any:
        """The container of ``node``'s task once it runs (after a restart, of a task other
        than the one before)."""
        service, machine = self.services[node], self.placed[node]
        deadline = time.monotonic() + TASK_TIMEOUT
        last = "no task yet"
        while time.monotonic() < deadline:
            for task in service.tasks():
                if task["ID"] == self.tasks.get(node) or task["DesiredState"] != "running":
                    continue
                status = task["Status"]
                state = status.get("State")
                if state in ("failed", "rejected"):
                    raise HarnessError(
                        f"the task of {service.name} on {machine.hostname} {state}: "
                        f"{status.get('Err', status.get('Message', '?'))}"
                        + _image_hint(status.get("Err", "")))
                container_id = status.get("ContainerStatus", {}).get("ContainerID")
                if state == "running" and container_id:
                    self.tasks[node] = task["ID"]
                    self.containers[node] = machine.client.containers.get(container_id)
                    return self.containers[node]
                last = f"{state}: {status.get('Message', '')}"
            time.sleep(0.1)
        raise HarnessError(f"the task of {service.name} did not start on {machine.hostname} "
                           f"within {TASK_TIMEOUT:g}s (last: {last})")

    def prepare_restart(self, cluster: Cluster, node: str) -> None:
        old = self.containers[node]
        with contextlib.suppress(docker.errors.APIError):
            old.wait(timeout=READY_TIMEOUT)  # at once if it is already stopped
        self.save_files(node)  # the old task's container is Swarm's to remove from now on
        service = self.services[node]
        service.reload()
        service.force_update()
        container = self.await_task(node)
        wait_until_ready(container, f"the agent of {node}")
        cluster.network.retarget(node, self.peer_upstream(node))  # still cut: no dial yet
        cluster.network.node_back(node)
        self.connect(cluster, node)
        cluster.reinstall_rules(node)

    def fetch_files(self, cluster: Cluster, node: str) -> None:
        container = self.containers.get(node)
        if container is not None:
            copy_out(container, self.plan.workdir / node)

    def save_files(self, node: str | None = None) -> None:
        """Copy node folders and logs into the report while the containers are there."""
        for name, container in self.containers.items():
            if node is not None and name != node:
                continue
            if name in self.toxiproxies:
                save_logs(container, self.plan.workdir / f"{name}.log")
                continue
            with contextlib.suppress(HarnessError):
                copy_out(container, self.plan.workdir / name)
            log = self.plan.workdir / name / "agent.log"
            with contextlib.suppress(docker.errors.APIError, OSError), log.open("ab") as out:
                out.write(container.logs())

    def keep_instructions(self, cluster: Cluster) -> str | None:
        plan, prefix = self.plan, self.prefix
        first = plan.node_ids[0]
        return (
            f"kept the cluster of run {plan.run_id} running for inspection:\n"
            f"  services {prefix}-{first}..{plan.node_ids[-1]} and {self.servers_named()} "
            f"on overlay network {prefix}\n"
            f"  Toxiproxy API: {cluster.network.driver.url}/proxies\n"
            f"  a node's log:  docker service logs {prefix}-{first}; its folder: "
            f"{plan.workdir / first}\n"
            f"  remove it:     dchaos cleanup --run {plan.run_id}")


def _image_hint(error: str) -> str:
    if "No such image" not in error and "pull access denied" not in error:
        return ""
    return (" (the image is not on that machine: dchaos carries images only to the "
            f"engines it reaches, this one and those in {ENGINES_ENV}; load it there, or "
            "push it to a registry every machine reaches and name it so; docs/scale.md)")
