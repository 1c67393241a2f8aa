"""The Docker backend: one container per node (the agent as entrypoint), one Toxiproxy
container, one private bridge network per run.

The harness talks to each agent's control port and to Toxiproxy's API through published
ports; node-to-node traffic stays inside the run's network, each directed link through its
own proxy in the Toxiproxy container. On a local engine each node's folder is a bind mount
of ``<report>/nodes/nX``, so traces and logs land in the report as they are written; on a
remote engine (DOCKER_HOST) it is a volume of the run, copied back into the report when the
harness reads it and before the run's containers go. Either way a restarted node finds its
files again.

Process faults are container operations: a kill is SIGKILL of the container (agent and
node die together, as a machine would), a pause freezes the container, a restart starts it
again — its bind-mounted folder, and whatever the node wrote there, intact.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors

from pytest_dchaos import agent as agent_module
from pytest_dchaos.backends.base import Backend, side_by_side
from pytest_dchaos.backends.docker import dockerenv, images
from pytest_dchaos.cluster.agentlink import AgentLink
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.cluster.running import Cluster, ClusterPlan
from pytest_dchaos.cluster.toxiproxy_driver import (
    LINKS_PER_SERVER,
    FaultLayer,
    ToxiproxyDriver,
    as_one,
    servers_for,
)
from pytest_dchaos.errors import HarnessError

CONTROL_PORT, PEER_PORT, API_PORT = 7000, 7001, 8474
FIRST_PROXY_PORT = 20000
NODE_DIR = "/var/lib/dchaos/node"
AGENT_PATH = "/opt/dchaos-agent/agent.py"
READY_TIMEOUT = 30.0
LOG_LINES = 12
#: Containers created and started at once.
CONTAINER_STARTS = 4


class DockerBackend(Backend):
    name = "docker"
    doc = ("nodes in containers on a private bridge network, links through a Toxiproxy "
           "container; images built from local material when nothing can be pulled")

    def __init__(self) -> None:
        self.say = print_line

    def provision(self, plan: ClusterPlan) -> Cluster:
        client = dockerenv.connect()
        engine = dockerenv.Engine.from_env()
        removed = dockerenv.reap(client)
        if removed.runs:
            self.say(f"removed what dead runs left: {removed}")
        source = None if engine.on_this_machine else dockerenv.local_engine()
        built = images.ensure(client, self.say, toxiproxy=plan.toxiproxy_image, source=source)
        if plan.image:
            images.require(client, plan.image, self.say, source)
            if not plan.command:
                plan = replace(plan, command=images.default_command(client, plan.image))
        # A user's command run in our image: the files it names on this machine go in too.
        mounts = command_mounts(plan.command) if not (plan.image or plan.reference) else []
        if mounts and not engine.shares_files:
            raise HarnessError(
                f"the node command names files on this machine ({', '.join(mounts)}), which "
                f"the Docker engine at {engine.address} cannot see: put the node in an image "
                "and give it with --node-image (paths in the command are then the image's)")
        said = f"the node command's files go into the node containers read-only, at the " \
               f"same paths: {', '.join(mounts)}"
        if mounts and said not in _SAID:
            _SAID.add(said)  # once a process, not once a run of an exploration
            self.say(said)
        plan.workdir.mkdir(parents=True, exist_ok=True)
        name = f"dchaos-{plan.run_id}"
        network = client.networks.create(
            name, driver="bridge", labels=dockerenv.run_labels(plan.run_id, "network", plan.keep))
        containers: dict[str, Any] = {}
        host = ContainerHost(plan, engine, containers)

        def remove_all() -> None:
            for node, container in containers.items():
                if node in host.toxiproxies:
                    save_logs(container, plan.workdir / f"{node}.log")
                    continue
                if not engine.shares_files:
                    with contextlib.suppress(HarnessError):
                        copy_out(container, plan.workdir / node)
                save_logs(container, plan.workdir / node / "agent.log")
            dockerenv.remove_run(client, plan.run_id)

        try:
            for i, server in enumerate(host.toxiproxies):
                containers[server] = _run(
                    client, built.toxiproxy, toxiproxy_command(built, plan.seed + i),
                    f"{name}-{server}", network.name, plan.run_id, "toxiproxy", plan.keep,
                    ports={f"{API_PORT}/tcp": (engine.publish, None)})
            cluster = Cluster(plan, Network(drive_servers(host, engine.address), {}), host)
            cluster.add_closer(remove_all)
        except BaseException:
            remove_all()
            raise
        try:
            self._start_agents(client, host, cluster, built, network.name, mounts)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _start_agents(self, client: docker.DockerClient, host: ContainerHost, cluster: Cluster,
                      built: images.Images, network: str, mounts: list[str]) -> None:
        plan, engine, containers = host.plan, host.engine, host.containers
        prefix = host.prefix
        # In our node image the agent is installed; into a user's image it is copied before
        # the container starts, so nobody has to rebuild their image (it only needs python3).
        agent = f"{images.INSTALL_DIR}/pytest_dchaos/agent.py"
        files: dict[str, bytes] = {}
        if plan.image:
            agent = AGENT_PATH
            files[AGENT_PATH] = Path(agent_module.__file__).read_bytes()
        binds = {path: {"bind": path, "mode": "ro"} for path in mounts}
        def start(node: str) -> None:
            folder = plan.workdir / node
            folder.mkdir(parents=True, exist_ok=True)
            if engine.shares_files:
                storage = str(folder.resolve())
            else:
                storage = client.volumes.create(
                    f"{prefix}-{node}", labels=dockerenv.run_labels(plan.run_id, "volume",
                                                                    plan.keep)).name
            containers[node] = _run(
                client, plan.image or built.node,
                ["--workdir", NODE_DIR, "--host", "0.0.0.0", "--control-port",
                 str(CONTROL_PORT), "--peer-port", str(PEER_PORT), "--no-stdin-watch"],
                f"{prefix}-{node}", network, plan.run_id, "node", plan.keep,
                entrypoint=["python3", agent], files=files,
                ports={f"{CONTROL_PORT}/tcp": (engine.publish, None)},
                volumes={storage: {"bind": NODE_DIR, "mode": "rw"}, **binds},
                hostname=node, extra_labels={"dchaos.node": node},
            )

        # The engine makes containers side by side faster than one by one (50 took 92 s
        # one by one here).
        side_by_side(plan.node_ids, start, workers=CONTAINER_STARTS)
        for node in plan.node_ids:
            wait_until_ready(containers[node], agent_start(plan, node))
        link_agents(host, cluster)


#: What this process has said once already.
_SAID: set[str] = set()

#: Folders of the node image a node command's paths are never mounted over: a path there
#: (``/usr/bin/python3``) names the image's own file.
IMAGE_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt", "/proc",
              "/sys", "/dev", "/var", "/run", "/boot")


def command_mounts(command: tuple[str, ...]) -> list[str]:
    """The paths on this machine that a node command names, to mount read-only into the
    node image at the same paths, so ``--node-command ./my-node`` runs there as it does
    locally (the runner has made its paths absolute). A file is mounted with its folder,
    for a script's modules beside it — unless the folder is a top-level one (``/tmp``),
    which is mounted only through that file. Paths in the image's own folders (the
    interpreter) are the image's."""
    chosen: list[str] = []
    for word in command:
        if not word.startswith("/") or not os.path.exists(word):
            continue
        if any(word == d or word.startswith(d + "/") for d in IMAGE_DIRS):
            continue
        folder = word if os.path.isdir(word) else os.path.dirname(word)
        chosen.append(folder if folder.count("/") >= 2 else word)
    mounts: list[str] = []
    for path in sorted(set(chosen), key=len):  # a folder covers what lies in it
        if not any(path.startswith(m.rstrip("/") + "/") for m in mounts):
            mounts.append(path)
    return mounts


def agent_start(plan: ClusterPlan, node: str) -> str:
    """What failed to come up, for the error when ``node``'s agent does not."""
    what = f"image {plan.image}" if plan.image else "the node image"
    return f"the agent of {node} ({what}; the agent needs python3 on the image's PATH)"


def drive_servers(host: ContainerHost, address: str) -> FaultLayer:
    """The fault layer over a run's Toxiproxy containers, once each answers (at
    ``address``, where their API ports are published)."""
    drivers = []
    for server in host.toxiproxies:
        container = host.containers[server]
        drivers.append(ToxiproxyDriver(
            f"http://{address}:{published_port(container, API_PORT)}"))
        wait_api(drivers[-1], container)
    return as_one(drivers)


def link_agents(host: ContainerHost, cluster: Cluster) -> None:
    """Once every agent is up: one proxy per directed link in the run's Toxiproxy, each
    agent linked to the harness and told its links, the links closed with the cluster.
    The same for containers and for Swarm tasks: both are named ``<prefix>-<node>``, and a
    proxy reaches its node where ``host.peer_upstream`` says."""
    plan = host.plan
    names = {(a, b): f"{plan.run_id}_{a}_{b}"
             for a in plan.node_ids for b in plan.peers(a).values()}
    host.ports = {link: FIRST_PROXY_PORT + i for i, link in enumerate(sorted(names))}
    layer = cluster.network.driver
    layer.populate([
        {"name": names[(a, b)], "listen": f"0.0.0.0:{host.ports[(a, b)]}",
         "upstream": host.peer_upstream(b), "enabled": True}
        for (a, b) in sorted(names)
    ])
    host.proxy_hosts = {link: f"{host.prefix}-{host.toxiproxies[layer.server_of(name)]}"
                        for link, name in names.items()}
    cluster.network.proxies.update(names)
    for node in plan.node_ids:
        host.connect(cluster, node)
    # Told their links, the agents open them all at once (9,900 connections for 100 nodes),
    # and each server dials each on to its node: seconds of work, during which a server
    # answers no API call. The cluster is ready when every server answers again.
    for server, driver in zip(host.toxiproxies, layer.drivers, strict=True):
        wait_api(driver, host.containers[server])

    def close_links() -> None:
        for link in cluster.agents.values():
            link.close()

    cluster.add_closer(close_links)


class ContainerHost:
    """Where the nodes of a Docker run live: process faults are container operations, and
    on a remote engine a node's files are copied out of its container."""

    def __init__(self, plan: ClusterPlan, engine: dockerenv.Engine,
                 containers: dict[str, Any]) -> None:
        self.plan = plan
        self.engine = engine
        #: node (and each Toxiproxy server) -> its container, filled in as they start.
        self.containers = containers
        self.prefix = f"dchaos-{plan.run_id}"
        #: The Toxiproxy servers' containers (keys of ``containers``): one per
        #: ``LINKS_PER_SERVER`` links, as on the local backend.
        links = sum(len(plan.peers(node)) for node in plan.node_ids)
        self.toxiproxies = ["toxiproxy" if i == 0 else f"toxiproxy-{i + 1}"
                            for i in range(servers_for(links, LINKS_PER_SERVER))]
        #: The proxy port of each directed link, and the server's host name, once the
        #: links exist.
        self.ports: dict[tuple[str, str], int] = {}
        self.proxy_hosts: dict[tuple[str, str], str] = {}
        self.paused: set[str] = set()

    def connect(self, cluster: Cluster, node: str) -> None:
        """Link the harness to ``node``'s agent and tell the agent its links."""
        plan = self.plan
        address = (self.address_of(node), published_port(self.containers[node], CONTROL_PORT))
        link = AgentLink(node, address, cluster.handle_event)
        cluster.attach(node, link)
        links = {ident: f"{self.proxy_hosts[(node, b)]}:{self.ports[(node, b)]}"
                 for ident, b in plan.peers(node).items()}
        link.call("configure", links=links, **plan.agent_settings(node))

    def peer_upstream(self, node: str) -> str:
        """Where the proxies of the links into ``node`` reach its agent: its container's
        name, which the engine's DNS keeps pointing at the container across restarts."""
        return f"{self.prefix}-{node}:{PEER_PORT}"

    def servers_named(self) -> str:
        """The Toxiproxy servers' container (or service) names, for a person."""
        first = f"{self.prefix}-toxiproxy"
        more = len(self.toxiproxies) - 1
        return first if not more else f"{first}..{self.toxiproxies[-1]}"

    def address_of(self, node: str) -> str:
        """Where the harness reaches the ports ``node``'s container publishes."""
        return self.engine.address

    def _let_go(self, cluster: Cluster, node: str, *, kill_node: bool = False) -> None:
        # The trace is the harness's record, not the node's state: save what the agent
        # buffered — unless the container is frozen, agent and all (a paused machine that
        # dies loses what it had not written). A kill has the agent SIGKILL the node first:
        # the node dies at once, as it would with its container, and nothing it does can
        # add to the trace between the flush and the container's end (what it did in that
        # window was lost, and the checks then saw receives the trace never showed). Then
        # close its link, so its death is not taken for an accident.
        link = cluster.agents[node]
        if node in self.paused:
            cluster.note(node, "trace_cut", "killed while paused: the agent's "
                         "unwritten trace lines were lost with the container")
        else:
            if kill_node:
                with contextlib.suppress(HarnessError):  # it may have died on its own
                    link.call("signal", action="kill", timeout=2)
            with contextlib.suppress(HarnessError):
                link.call("flush", timeout=2)
        self.paused.discard(node)
        link.close()

    def kill(self, cluster: Cluster, node: str) -> None:
        self._let_go(cluster, node, kill_node=True)
        self.containers[node].kill(signal="SIGKILL")
        cluster.network.node_gone(node)

    def stop(self, cluster: Cluster, node: str, grace: float) -> None:
        # docker stop: SIGTERM (the agent passes it to the node, and flushes when it has
        # ended), SIGKILL after the grace.
        self._let_go(cluster, node)
        self.containers[node].stop(timeout=max(1, round(grace)))
        cluster.network.node_gone(node)

    def pause(self, cluster: Cluster, node: str) -> None:
        self.containers[node].pause()
        self.paused.add(node)

    def resume(self, cluster: Cluster, node: str) -> None:
        self.containers[node].unpause()
        self.paused.discard(node)

    def prepare_restart(self, cluster: Cluster, node: str) -> None:
        container = self.containers[node]
        container.wait(timeout=READY_TIMEOUT)  # returns at once if it is already stopped
        seen = ready_lines(container)
        container.start()
        wait_until_ready(container, f"the agent of {node}", after=seen)
        cluster.network.node_back(node)
        self.connect(cluster, node)
        cluster.reinstall_rules(node)

    def fetch_files(self, cluster: Cluster, node: str) -> None:
        container = self.containers.get(node)
        if container is not None and not self.engine.shares_files:
            copy_out(container, self.plan.workdir / node)

    def keep_instructions(self, cluster: Cluster) -> str | None:
        plan, prefix = self.plan, self.prefix
        first = plan.node_ids[0]
        return (
            f"kept the cluster of run {plan.run_id} running for inspection:\n"
            f"  containers {prefix}-{first}..{plan.node_ids[-1]} and "
            f"{self.servers_named()} on network {prefix}\n"
            f"  Toxiproxy API: {cluster.network.driver.url}/proxies\n"
            f"  a node's log:  docker logs {prefix}-{first}; its folder: "
            f"{plan.workdir / first}\n"
            f"  a shell:       docker exec -it {prefix}-{first} bash\n"
            f"  remove it:     dchaos cleanup --run {plan.run_id}")


def print_line(text: str) -> None:
    print(f"dchaos: {text}", file=sys.stderr, flush=True)


def toxiproxy_command(built: images.Images, seed: int) -> list[str]:
    """Arguments for the Toxiproxy container. A Toxiproxy image's entrypoint is the server
    (the official one's is /toxiproxy), so it gets toxiproxy-server's flags only."""
    if built.embedded_toxiproxy:
        return ["python3", "-m", "pytest_dchaos.toxiproxy", "-host", "0.0.0.0", "-port",
                str(API_PORT), "-seed", str(seed)]
    return ["-host=0.0.0.0", f"-port={API_PORT}"]


def _run(client: docker.DockerClient, image: str, command: list[str], name: str, network: str,
         run_id: str, role: str, keep: bool, *, extra_labels: dict[str, str] | None = None,
         files: dict[str, bytes] | None = None, **options: Any) -> Any:
    """Create a container, copy ``files`` (absolute path -> content) into it, start it."""
    labels = {**dockerenv.run_labels(run_id, role, keep), **(extra_labels or {})}
    try:
        container = client.containers.create(image, command, name=name, network=network,
                                             labels=labels, init=True, **options)
        if files:
            container.put_archive("/", _tar(files))
        container.start()
        return container
    except docker.errors.ImageNotFound:
        raise HarnessError(f"the image {image!r} does not exist") from None
    except docker.errors.APIError as exc:
        text = str(getattr(exc, "explanation", "") or exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise HarnessError(f"starting {name}: a port is already in use ({text}); free it "
                               "or stop what holds it") from None
        raise HarnessError(f"cannot start container {name}: {text}") from None


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def copy_out(container: Any, folder: Path) -> None:
    """Copy the node folder out of a container (running or stopped) into ``folder``."""
    try:
        stream, _ = container.get_archive(NODE_DIR)
        data = b"".join(stream)
    except docker.errors.APIError as exc:
        raise HarnessError(f"cannot copy the files of {container.name}: "
                           f"{getattr(exc, 'explanation', exc)}") from None
    top = Path(NODE_DIR).name
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or not parts or parts[0] != top or ".." in parts:
                continue  # only the folder's regular files, never a path outside it
            source = archive.extractfile(member)
            if source is not None:
                target = folder.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read())


def published_port(container: Any, port: int) -> int:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
    if not bindings:
        raise HarnessError(f"container {container.name} published no port for {port}/tcp "
                           f"(state: {container.status}){log_tail(container)}")
    return int(bindings[0]["HostPort"])


def ready_lines(container: Any) -> int:
    """How many times the container's agent has said it is ready (once per start)."""
    return int(container.logs(stdout=True, stderr=False).count(b'"event": "ready"'))


def wait_until_ready(container: Any, what: str, after: int = 0) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready_lines(container) > after:
            return
        container.reload()
        if container.status in ("exited", "dead"):
            raise HarnessError(f"{what} exited at start (container {container.name})"
                               f"{log_tail(container)}")
        time.sleep(0.05)
    raise HarnessError(f"{what} did not start within {READY_TIMEOUT:g}s{log_tail(container)}")


def wait_api(driver: ToxiproxyDriver, container: Any) -> None:
    def running() -> bool:
        container.reload()
        return container.status not in ("exited", "dead")

    if not driver.wait_ready(READY_TIMEOUT, running):
        raise HarnessError(f"the Toxiproxy container {container.name} did not come "
                           f"up{log_tail(container)}")


def log_tail(container: Any) -> str:
    try:
        lines = container.logs(tail=LOG_LINES).decode("utf-8", "replace").splitlines()
    except docker.errors.APIError:
        return ""
    if not lines:
        return ""
    return "; its last log lines:\n" + "\n".join(f"    {line}" for line in lines)


def save_logs(container: Any, path: Path) -> None:
    # A container that is already gone has no logs to keep; the run goes on closing.
    with contextlib.suppress(docker.errors.APIError, OSError):
        path.write_bytes(container.logs())
