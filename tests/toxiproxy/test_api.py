"""The embedded server's REST API and CLI against Toxiproxy 2.12.0's contract.

Status codes, error bodies and JSON shapes are checked through ``requests``; the everyday flow
goes through the real ``toxiproxy-python`` client, since that is what drivers use.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.server import Toxiproxy

from pytest_dchaos import toxiproxy as embedded

from .conftest import IO_TIMEOUT, Api, TcpServer, echo, free_port, round_trip

Connect = Callable[[str], socket.socket]


def refused(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=IO_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True


# -- proxies ---------------------------------------------------------------------------------


def test_version(api: Api) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.json() == {"version": "2.12.0"}


def test_create_binds_a_free_port_and_reports_the_real_address(
    api: Api, echo_server: TcpServer, connect: Connect
) -> None:
    response = api.post(
        "/proxies", json={"name": "db", "listen": "127.0.0.1:0", "upstream": echo_server.address}
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "name": "db",
        "listen": body["listen"],
        "upstream": echo_server.address,
        "enabled": True,
        "toxics": [],
    }
    host, _, port = body["listen"].rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert round_trip(connect(body["listen"])) < 1.0
    assert api.get("/proxies/db").json() == body
    assert api.get("/proxies").json() == {"db": body}


def test_create_disabled_does_not_listen(api: Api, echo_server: TcpServer) -> None:
    port = free_port()
    response = api.post(
        "/proxies",
        json={
            "name": "off",
            "listen": f"127.0.0.1:{port}",
            "upstream": echo_server.address,
            "enabled": False,
        },
    )
    assert response.status_code == 201
    assert response.json()["enabled"] is False
    assert refused(f"127.0.0.1:{port}")


def test_create_errors(api: Api, echo_server: TcpServer) -> None:
    api.create_proxy("dup", echo_server.address)
    duplicate = api.post("/proxies", json={"name": "dup", "upstream": echo_server.address})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error": "proxy already exists", "status": 409}

    no_name = api.post("/proxies", json={"upstream": echo_server.address})
    assert no_name.status_code == 400
    assert no_name.json() == {"error": "missing required field: name", "status": 400}

    no_upstream = api.post("/proxies", json={"name": "x"})
    assert no_upstream.json() == {"error": "missing required field: upstream", "status": 400}

    bad_json = api.post("/proxies", data=b"{not json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"].startswith("bad request body: ")

    wrong_type = api.post("/proxies", json={"name": "x", "upstream": "a:1", "enabled": "yes"})
    assert wrong_type.status_code == 400
    assert "cannot unmarshal string" in wrong_type.json()["error"]


def test_listen_address_in_use_is_a_500(api: Api, echo_server: TcpServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = api.post(
            "/proxies",
            json={"name": "busy", "listen": f"127.0.0.1:{port}", "upstream": echo_server.address},
        )
    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert "address already in use" in response.json()["error"]
    assert api.get("/proxies/busy").status_code == 404


def test_not_found(api: Api, echo_server: TcpServer) -> None:
    missing = api.get("/proxies/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "proxy not found", "status": 404}
    assert api.get("/proxies/nope/toxics").status_code == 404
    assert api.delete("/proxies/nope").status_code == 404

    api.create_proxy("p", echo_server.address)
    no_toxic = api.get("/proxies/p/toxics/nope")
    assert no_toxic.status_code == 404
    assert no_toxic.json() == {"error": "toxic not found", "status": 404}
    assert api.patch("/proxies/p/toxics/nope", json={}).status_code == 404
    assert api.delete("/proxies/p/toxics/nope").status_code == 404


def test_routing_and_browser_guard(api: Api) -> None:
    unknown = api.get("/nothing/here")
    assert unknown.status_code == 404
    assert unknown.text == "404 page not found\n"
    assert api.delete("/version").status_code == 405
    browser = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert browser.status_code == 403
    assert browser.text == "User agent not allowed\n"


def test_update_disable_enable_and_restart(
    api: Api, tcp_server: Callable[..., TcpServer], echo_server: TcpServer, connect: Connect
) -> None:
    listen = api.create_proxy("p", echo_server.address)
    live = connect(listen)
    round_trip(live)

    disabled = api.patch("/proxies/p", json={"enabled": False})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert live.recv(1) == b""  # the open connection was closed
    assert refused(listen)

    enabled = api.post("/proxies/p", json={"enabled": True})
    assert enabled.json() == {**disabled.json(), "enabled": True, "listen": listen}
    again = connect(listen)
    round_trip(again)

    other = tcp_server(echo)
    moved = api.patch("/proxies/p", json={"upstream": other.address})
    assert moved.json()["upstream"] == other.address
    assert moved.json()["enabled"] is True
    assert again.recv(1) == b""  # a restart drops connections
    round_trip(connect(moved.json()["listen"]))
    assert other.accepted == 1


def test_delete_proxy(api: Api, echo_server: TcpServer, connect: Connect) -> None:
    listen = api.create_proxy("p", echo_server.address)
    live = connect(listen)
    response = api.delete("/proxies/p")
    assert response.status_code == 204
    assert response.content == b""
    assert live.recv(1) == b""
    assert refused(listen)
    assert api.get("/proxies").json() == {}


# -- toxics ----------------------------------------------------------------------------------


def test_toxic_crud_and_defaults(api: Api, echo_server: TcpServer) -> None:
    api.create_proxy("p", echo_server.address)
    created = api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    assert created.status_code == 200
    assert created.json() == {
        "attributes": {"latency": 5, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    up = api.add_toxic("p", type="bandwidth", stream="upstream", name="slow", toxicity=0.5)
    assert up["attributes"] == {"rate": 0}

    # Upstream toxics are listed first, like Toxiproxy's chains.
    names = [toxic["name"] for toxic in api.get("/proxies/p/toxics").json()]
    assert names == ["slow", "latency_downstream"]
    assert api.get("/proxies/p").json()["toxics"][0]["name"] == "slow"

    updated = api.patch(
        "/proxies/p/toxics/latency_downstream",
        json={"attributes": {"jitter": 3}, "toxicity": 0.25, "stream": "upstream"},
    )
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 5, "jitter": 3}  # merged, not replaced
    assert updated.json()["toxicity"] == 0.25
    assert updated.json()["stream"] == "downstream"  # only attributes and toxicity change
    assert api.get("/proxies/p/toxics/latency_downstream").json() == updated.json()

    deleted = api.delete("/proxies/p/toxics/latency_downstream")
    assert deleted.status_code == 204
    assert api.get("/proxies/p/toxics/latency_downstream").status_code == 404


def test_toxic_errors(api: Api, echo_server: TcpServer) -> None:
    api.create_proxy("p", echo_server.address)
    bad_stream = api.post("/proxies/p/toxics", json={"type": "latency", "stream": "sideways"})
    assert bad_stream.status_code == 400
    assert bad_stream.json() == {
        "error": "stream was invalid, can be either upstream or downstream",
        "status": 400,
    }
    bad_type = api.post("/proxies/p/toxics", json={"type": "packet_loss"})
    assert bad_type.json() == {"error": "invalid toxic type", "status": 400}

    api.add_toxic("p", type="latency")
    duplicate = api.post("/proxies/p/toxics", json={"type": "latency"})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error": "toxic already exists", "status": 409}

    bad_attribute = api.post(
        "/proxies/p/toxics", json={"type": "timeout", "attributes": {"timeout": "soon"}}
    )
    assert bad_attribute.status_code == 400
    assert bad_attribute.json()["error"].startswith("bad request body: ")
    assert api.post("/proxies/p/toxics", data=b"[").status_code == 400


def test_populate(api: Api, echo_server: TcpServer, connect: Connect) -> None:
    port_a, port_b = free_port(), free_port()
    config = [
        {"name": "a", "listen": f"127.0.0.1:{port_a}", "upstream": echo_server.address},
        {"name": "b", "listen": f"127.0.0.1:{port_b}", "upstream": echo_server.address},
    ]
    created = api.post("/populate", json=config)
    assert created.status_code == 201
    assert [proxy["name"] for proxy in created.json()["proxies"]] == ["a", "b"]
    assert created.json()["proxies"][0]["listen"] == f"127.0.0.1:{port_a}"

    api.add_toxic("a", type="latency")
    live = connect(f"127.0.0.1:{port_a}")
    round_trip(live)

    changed = [config[0], {**config[1], "upstream": "127.0.0.1:1"}]
    again = api.post("/populate", json=changed)
    assert again.status_code == 201
    proxies = {proxy["name"]: proxy for proxy in again.json()["proxies"]}
    assert len(proxies["a"]["toxics"]) == 1  # unchanged: kept, toxics and all
    assert proxies["b"]["upstream"] == "127.0.0.1:1"  # changed: replaced
    round_trip(live)  # the unchanged proxy's connection survived

    missing = api.post("/populate", json=[{"name": "c"}])
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "missing required field: upstream at proxy 1",
        "status": 400,
        "proxies": None,
    }
    assert api.post("/populate", json={"name": "c"}).status_code == 400
    assert sorted(api.get("/proxies").json()) == ["a", "b"]


def test_populate_stops_at_the_first_failure(api: Api, echo_server: TcpServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        response = api.post(
            "/populate",
            json=[
                {"name": "ok", "listen": "127.0.0.1:0", "upstream": echo_server.address},
                {"name": "bad", "listen": f"127.0.0.1:{busy}", "upstream": echo_server.address},
            ],
        )
    assert response.status_code == 500
    body = response.json()
    assert "address already in use" in body["error"]
    assert [proxy["name"] for proxy in body["proxies"]] == ["ok"]


def test_reset(api: Api, echo_server: TcpServer) -> None:
    api.create_proxy("p", echo_server.address)
    api.add_toxic("p", type="latency")
    api.patch("/proxies/p", json={"enabled": False})
    response = api.post("/reset")
    assert response.status_code == 204
    proxy = api.get("/proxies/p").json()
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []


def test_http_keep_alive_chunked_and_expect_continue(toxiproxy: embedded.BackgroundServer) -> None:
    with socket.create_connection(("127.0.0.1", toxiproxy.port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        body = b'[{"name":"c","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}]'
        sock.sendall(
            b"POST /populate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    text = received.decode()
    assert text.count("HTTP/1.1 200 OK") == 2
    assert "HTTP/1.1 100 Continue" in text
    assert "HTTP/1.1 201 Created" in text
    assert '"name":"c"' in text


# -- the toxiproxy-python client -------------------------------------------------------------


def test_toxiproxy_python_client(
    toxiproxy_client: Toxiproxy, echo_server: TcpServer, connect: Connect
) -> None:
    assert toxiproxy_client.running()
    assert json.loads(toxiproxy_client.version()) == {"version": "2.12.0"}

    proxy = toxiproxy_client.create(upstream=echo_server.address, name="svc")
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(toxiproxy_client.proxies()) == {"svc"}
    assert toxiproxy_client.get_proxy("svc").upstream == echo_server.address
    sock = connect(proxy.listen)
    assert round_trip(sock) < 1.0

    proxy.add_toxic(type="latency", attributes={"latency": 150})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert proxy.get_toxic("latency_downstream").attributes == {"latency": 150, "jitter": 0}
    assert round_trip(sock) >= 0.13
    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}

    with proxy.down():
        assert refused(proxy.listen)
    assert round_trip(connect(proxy.listen)) < 1.0

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    assert toxiproxy_client.reset()
    assert proxy.toxics() == {}

    populated = toxiproxy_client.populate(
        [{"name": "extra", "upstream": echo_server.address, "listen": "127.0.0.1:0"}]
    )
    assert [p.name for p in populated] == ["extra"]
    toxiproxy_client.destroy_all()
    assert toxiproxy_client.proxies() == {}


def test_toxiproxy_python_client_errors(
    toxiproxy_client: Toxiproxy, echo_server: TcpServer
) -> None:
    proxy = toxiproxy_client.create(upstream=echo_server.address, name="svc")
    with pytest.raises(ProxyExists):
        APIConsumer.post("/proxies", json={"name": "svc", "upstream": echo_server.address})
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/missing")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")


# -- the command line ------------------------------------------------------------------------

PACKAGE_DIR = Path(embedded.__file__).parent


def start_cli(*args: str, cwd: Path | None = None, module: str = "pytest_dchaos.toxiproxy"):
    """Start the CLI with a stdin pipe; isolated from site-packages when ``cwd`` is given."""
    command = [sys.executable, "-m", module, *args]
    if cwd is not None:
        command[1:1] = ["-S", "-E", "-s"]  # only the standard library and the copied package
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli_processes() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        wait_exit(process)


def read_ready(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"no ready line; stderr: {process.stderr.read() if process.stderr else ''}"
    ready = json.loads(line)
    assert ready["event"] == "ready"
    return dict(ready)


def wait_exit(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for the exit and collect the output, closing every pipe (idempotent)."""
    if process.stdin is not None and not process.stdin.closed:
        process.stdin.close()
    code = process.wait(timeout=IO_TIMEOUT)
    outputs = []
    for stream in (process.stdout, process.stderr):
        outputs.append("" if stream is None or stream.closed else stream.read())
        if stream is not None:
            stream.close()
    return code, outputs[0], outputs[1]


def test_cli_ready_line_and_exit_with_stdin(
    cli_processes: list[subprocess.Popen[str]], echo_server: TcpServer, connect: Connect
) -> None:
    process = start_cli("-host", "127.0.0.1", "-port", "0", "--exit-with-stdin", "-seed", "7")
    cli_processes.append(process)
    ready = read_ready(process)
    assert ready["version"] == "2.12.0"
    assert ready["api"].startswith("127.0.0.1:")
    with Api(f"http://{ready['api']}") as api:
        listen = api.create_proxy("p", echo_server.address)
        live = connect(listen)
        round_trip(live)
    assert process.stdin is not None
    process.stdin.close()
    code, stdout, stderr = wait_exit(process)
    assert code == 0, stderr
    assert stdout == ""  # the ready line was the only output
    assert live.recv(1) == b""  # connections were closed on the way out


def test_cli_exits_on_sigterm_and_loads_config(
    cli_processes: list[subprocess.Popen[str]], echo_server: TcpServer, tmp_path: Path
) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": echo_server.address}])
    )
    process = start_cli("--host", "127.0.0.1", "--port", "0", "-config", str(config))
    cli_processes.append(process)
    ready = read_ready(process)
    with Api(f"http://{ready['api']}") as api:
        assert list(api.get("/proxies").json()) == ["cfg"]
    process.send_signal(signal.SIGTERM)
    code, _, stderr = wait_exit(process)
    assert code == 0, stderr


def test_cli_api_port_in_use(cli_processes: list[subprocess.Popen[str]]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = start_cli("-host", "127.0.0.1", "-port", str(port))
        cli_processes.append(process)
        code, stdout, stderr = wait_exit(process)
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert "address already in use" in lines[0]


def test_cli_runs_from_a_copy_with_only_the_standard_library(
    cli_processes: list[subprocess.Popen[str]], tmp_path: Path, echo_server: TcpServer
) -> None:
    shutil.copytree(PACKAGE_DIR, tmp_path / "dchaos_toxiproxy")
    process = start_cli(
        "-host",
        "127.0.0.1",
        "-port=0",
        "--exit-with-stdin",
        cwd=tmp_path,
        module="dchaos_toxiproxy",
    )
    cli_processes.append(process)
    ready = read_ready(process)
    with Api(f"http://{ready['api']}") as api:
        api.create_proxy("p", echo_server.address)
    assert process.stdin is not None
    process.stdin.close()
    code, _, stderr = wait_exit(process)
    assert code == 0, stderr


def test_cli_dies_with_its_parent(tmp_path: Path) -> None:
    """A harness killed with SIGKILL closes the pipe; the server must notice and exit."""
    script = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'pytest_dchaos.toxiproxy', '-host',"
        " '127.0.0.1', '-port', '0', '--exit-with-stdin'], stdin=subprocess.PIPE,"
        " stdout=subprocess.PIPE)\n"
        "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert parent.stdout is not None
        pid_text, _, ready = parent.stdout.readline().partition(" ")
        child_pid = int(pid_text)
        assert json.loads(ready)["event"] == "ready"
    finally:
        parent.kill()
        parent.communicate(timeout=IO_TIMEOUT)
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        if not running(child_pid):
            return
        time.sleep(0.05)
    os.kill(child_pid, signal.SIGKILL)
    pytest.fail("the server outlived its killed parent")


def running(pid: int) -> bool:
    """Whether ``pid`` still runs; an exited orphan may linger as a zombie nobody reaps."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def test_the_driver_populates_nothing_for_a_cluster_without_links(
        toxiproxy: embedded.BackgroundServer, echo_server: TcpServer) -> None:
    # A one-node cluster (Glomers 3a) has no links: populating none is no error, and a
    # server answering null for an empty list (as Go's Toxiproxy writes it) is understood.
    from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyDriver

    driver = ToxiproxyDriver(toxiproxy.url)
    assert driver.populate([]) == {}
    made = driver.populate([{"name": "a", "listen": "127.0.0.1:0",
                             "upstream": echo_server.address}])
    assert list(made) == ["a"]


def test_a_node_that_moved_while_down_is_reached_where_it_is_now(
        toxiproxy: embedded.BackgroundServer, tcp_server: Callable[..., TcpServer],
        connect: Connect) -> None:
    # A Swarm restart: the node's links are cut, it comes back at another address, the
    # links are pointed there while still cut, then brought back. A link a fault cut stays
    # cut through all of it.
    from pytest_dchaos.cluster.network import Network
    from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyDriver

    old, new, other = tcp_server(echo), tcp_server(echo), tcp_server(echo)
    driver = ToxiproxyDriver(toxiproxy.url)
    listen = driver.populate([
        {"name": name, "listen": "127.0.0.1:0", "upstream": upstream}
        for name, upstream in (("a_b", old.address), ("c_b", old.address),
                               ("b_a", other.address))])
    network = Network(driver, {("a", "b"): "a_b", ("c", "b"): "c_b", ("b", "a"): "b_a"})
    network.cut("fault", [("c", "b")])
    network.node_gone("b")
    network.retarget("b", new.address)
    assert refused(listen["a_b"]) and refused(listen["c_b"])  # no dial before it is back
    network.node_back("b")
    round_trip(connect(listen["a_b"]))
    assert (old.accepted, new.accepted) == (0, 1)
    assert refused(listen["c_b"])
    assert {name: proxy["upstream"] for name, proxy in driver.proxies().items()} == {
        "a_b": new.address, "c_b": new.address, "b_a": other.address}
