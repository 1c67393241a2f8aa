"""Docker images for the Docker backend, built from local material when nothing can be pulled.

* The **base image** is a minimal Debian root file system with python3 and cryptography,
  made with ``debootstrap`` and imported into Docker. Its tag is a hash of its recipe, so it
  is built once per machine and reused.
* The **node image** adds what runs in every container: the agent, the embedded Toxiproxy
  server and the reference nodes, under ``/opt/dchaos``. Its tag is a hash of those files,
  so it is rebuilt exactly when they change.
* The **Toxiproxy image** is the official one when it can be pulled; otherwise the node
  image runs the embedded server — and the harness says so, in one line.

Images are a cache shared by runs: ``dchaos cleanup`` leaves them, ``dchaos cleanup
--images`` removes them.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

import pytest_dchaos
import reference_nodes
from pytest_dchaos.errors import HarnessError

SUITE = "bookworm"
# python3-cffi-backend is named because debootstrap does not resolve the virtual packages
# python3-cryptography depends on.
PACKAGES = ("python3", "python3-cryptography", "python3-cffi-backend")
MIRROR = os.environ.get("DCHAOS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
OFFICIAL_TOXIPROXY = "ghcr.io/shopify/toxiproxy:2.12.0"
IMAGE_LABEL = "dchaos.image"
#: Where the harness's files live in the node image.
INSTALL_DIR = "/opt/dchaos"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Images:
    """The images a Docker run uses."""

    node: str
    toxiproxy: str
    #: True when the Toxiproxy image is our embedded server (no official image available).
    embedded_toxiproxy: bool


def _recipe_hash() -> str:
    return hashlib.sha256(f"{SUITE}|{'|'.join(PACKAGES)}|minbase".encode()).hexdigest()[:12]


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _debootstrap() -> str | None:
    return shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None)


def base_image_unavailable(client: docker.DockerClient) -> str | None:
    """Why the base image is neither here nor can be built here, and how to change that;
    None when it is here or can be built (which may still fail: a mirror out of reach)."""
    tag = f"dchaos-base:{_recipe_hash()}"
    if _exists(client, tag):
        return None
    if _debootstrap() is None:
        return ("the Docker backend builds its base image with debootstrap, which is not "
                "installed (Debian/Ubuntu: apt-get install debootstrap), and no image "
                f"{tag} exists yet")
    if os.geteuid() != 0:
        return ("building the base image needs root (debootstrap makes device files); run "
                f"once as root, or import an image tagged {tag}")
    return None


def base_image(client: docker.DockerClient, say: Say) -> str:
    """The Debian base image, built with debootstrap if this machine does not have it."""
    tag = f"dchaos-base:{_recipe_hash()}"
    if _exists(client, tag):
        return tag
    why = base_image_unavailable(client)
    if why is not None:
        raise HarnessError(why)
    debootstrap = _debootstrap()
    assert debootstrap is not None  # base_image_unavailable said so
    say(f"building the base image {tag} from {SUITE} with debootstrap "
        f"({', '.join(PACKAGES)}); this happens once per machine")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dchaos-rootfs-") as tmp:
        root = Path(tmp) / "root"
        command = [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
                   SUITE, str(root), MIRROR]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join(f"    {line}" for line in
                             (done.stdout + done.stderr).strip().splitlines()[-8:])
            raise HarnessError(f"debootstrap failed (exit {done.returncode}) fetching "
                               f"{SUITE} from {MIRROR} (set DCHAOS_DEBIAN_MIRROR for "
                               f"another mirror):\n{tail}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
        archive = Path(tmp) / "root.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        repository, version = tag.split(":")
        client.api.import_image(src=str(archive), repository=repository, tag=version,
                                changes=[f'LABEL {IMAGE_LABEL}="base"',
                                         'CMD ["/usr/bin/python3"]'])
    say(f"built {tag} in {time.monotonic() - started:.0f}s")
    return tag


def _payload() -> list[tuple[Path, str]]:
    """(file on this machine, path in the image) for everything the node image carries."""
    package = Path(pytest_dchaos.__file__).resolve().parent
    nodes = Path(reference_nodes.__file__).resolve().parent
    files = [(package / "__init__.py", "pytest_dchaos/__init__.py"),
             (package / "agent.py", "pytest_dchaos/agent.py")]
    files += [(p, f"pytest_dchaos/toxiproxy/{p.relative_to(package / 'toxiproxy')}")
              for p in sorted((package / "toxiproxy").rglob("*.py"))]
    files += [(p, f"reference_nodes/{p.relative_to(nodes)}")
              for p in sorted(nodes.rglob("*.py"))]
    return files


def _hash_files(files: Iterable[tuple[Path, str]], salt: str) -> str:
    digest = hashlib.sha256(salt.encode())
    for source, target in files:
        digest.update(target.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


#: The node image's steps after its files are in. The bytecode is compiled once here: every
#: agent, node and Toxiproxy server a container starts would compile what it imports again
#: (a fresh container has no cache, and writes none).
NODE_STEPS = (f"RUN python3 -m compileall -q {INSTALL_DIR}\n"
              f"ENV PYTHONPATH={INSTALL_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n")


def node_tag() -> str:
    """The node image's tag: a hash of its files and of the base image's recipe."""
    salt = f"dchaos-base:{_recipe_hash()}\n{NODE_STEPS}"
    return f"dchaos-node:{_hash_files(_payload(), salt)}"


def node_image(client: docker.DockerClient, say: Say) -> str:
    """The node image: base + agent + embedded Toxiproxy + reference nodes."""
    tag = node_tag()
    if _exists(client, tag):
        return tag
    base = base_image(client, say)
    files = _payload()
    say(f"building the node image {tag}")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = (f"FROM {base}\n"
                      f"COPY dchaos {INSTALL_DIR}\n"
                      f"{NODE_STEPS}"
                      f'LABEL {IMAGE_LABEL}="node"\n')
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for source, target in files:
            tar.add(source, arcname=f"dchaos/{target}")
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True,
                            forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(str(chunk.get("stream", "")) for chunk in exc.build_log)
        raise HarnessError(f"building {tag} failed: {exc}\n{log[-2000:]}") from None
    return tag


def toxiproxy_image(client: docker.DockerClient, node: str, say: Say,
                    wanted: str | None = None) -> tuple[str, bool]:
    """``(image, embedded)``: the official Toxiproxy image if it is here or can be pulled,
    else the node image running the embedded server."""
    image = wanted or OFFICIAL_TOXIPROXY
    if _exists(client, image):
        return image, False
    if not wanted and image in _UNPULLABLE:
        return node, True  # said at the first run of this process; each run would repeat it
    try:
        client.images.pull(image)
        return image, False
    except docker.errors.APIError as exc:
        if wanted:
            raise HarnessError(f"the Toxiproxy image {wanted!r} is not here and cannot be "
                               f"pulled: {_short(exc)}") from None
        _UNPULLABLE.add(image)
        say(f"cannot pull {image} ({_short(exc)}); using the embedded Toxiproxy server "
            f"in {node} instead")
        return node, True


#: Toxiproxy images a pull already failed for in this process (an exploration, a pytest
#: session: many runs, one registry that does not answer).
_UNPULLABLE: set[str] = set()


def require(client: docker.DockerClient, image: str, say: Say,
            source: docker.DockerClient | None = None) -> None:
    """A user's image must be on the engine: there already, carried from this machine's
    engine (``source``, for a remote engine), or pulled."""
    if _exists(client, image):
        return
    if source is not None and _exists(source, image):
        carry(source, client, image, say)
        return
    try:
        client.images.pull(image)
    except docker.errors.APIError as exc:
        where = ("on the engine at " + client.api.base_url) if source is not None else "here"
        raise HarnessError(f"the image {image!r} does not exist {where} and cannot be pulled "
                           f"({_short(exc)}); build it, or check its name") from None


def carry(source: docker.DockerClient, target: docker.DockerClient, image: str,
          say: Say) -> None:
    """Copy ``image`` from ``source`` (this machine's engine) to ``target`` (a remote one
    that lacks it), as ``docker save | docker -H target load`` would: streamed, the
    layers the target already has sent again (an engine cannot say which it has)."""
    size = (source.images.get(image).attrs.get("Size") or 0) / 1e6
    say(f"copying the image {image} ({size:.0f} MB) from this machine's engine to the "
        f"engine at {target.api.base_url}")
    started = time.monotonic()
    try:
        target.images.load(source.api.get_image(image))
    except docker.errors.APIError as exc:
        raise HarnessError(f"copying the image {image!r} to the engine at "
                           f"{target.api.base_url} failed: {_short(exc)}") from None
    if not _exists(target, image):
        raise HarnessError(f"the engine at {target.api.base_url} took the image {image!r} "
                           "but does not list it")
    say(f"copied {image} in {time.monotonic() - started:.0f}s")


def default_command(client: docker.DockerClient, image: str) -> tuple[str, ...]:
    """The image's own entrypoint and command: what runs as the node when no command is
    given (the agent takes the entrypoint's place and starts this under it)."""
    config = client.images.get(image).attrs.get("Config") or {}
    command = tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    if not command:
        raise HarnessError(f"the image {image!r} has no entrypoint or command: give the node "
                           "command (implementation.command, or --node-command)")
    return command


def ensure(client: docker.DockerClient, say: Say, toxiproxy: str | None = None,
           source: docker.DockerClient | None = None) -> Images:
    """The images a run needs, on ``client``'s engine. For a remote engine, ``source`` is
    this machine's (if it has one): what the remote engine lacks is built there, once, and
    carried over, rather than built again from a root file system sent over the wire."""
    if source is not None and not _exists(client, node_tag()):
        carry(source, client, node_image(source, say), say)
    if source is not None and toxiproxy and not _exists(client, toxiproxy) \
            and _exists(source, toxiproxy):
        carry(source, client, toxiproxy, say)
    node = node_image(client, say)
    proxy, embedded = toxiproxy_image(client, node, say, toxiproxy)
    return Images(node=node, toxiproxy=proxy, embedded_toxiproxy=embedded)


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", "") or exc)
    return text.splitlines()[0][:160] if text else type(exc).__name__
