"""``host:port`` strings the way Toxiproxy (that is, Go's ``net`` package) reads and prints them.

The listen address a client sees is the one the socket really got: ``127.0.0.1:0`` comes back
as ``127.0.0.1:41873``, and a wildcard host comes back as ``[::]:PORT`` because Go listens on a
dual-stack IPv6 socket for it. Populate compares a requested address with the bound one after
the same normalisation Go applies, so keeping these rules in one place keeps populate honest.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


class AddressError(ValueError):
    """A ``host:port`` string that cannot be parsed, resolved or bound, worded like Go's."""


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port``, ``[v6]:port`` or ``:port`` into host and numeric port."""
    if address == "":
        return "", 0  # Go listens on every interface, on a port of the kernel's choosing
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise AddressError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1 :]
        if not rest.startswith(":"):
            raise AddressError(f"address {address}: missing port in address")
        port_text = rest[1:]
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise AddressError(f"address {address}: missing port in address")
        if ":" in host:
            raise AddressError(f"address {address}: too many colons in address")
    return host, _parse_port(address, port_text)


def _parse_port(address: str, text: str) -> int:
    if text == "":
        return 0
    if text.isdigit():
        port = int(text)
    else:
        try:
            port = socket.getservbyname(text, "tcp")
        except OSError:
            port = -1
    if not 0 <= port <= 65535:
        raise AddressError(f"address {address}: invalid port")
    return port


def join_host_port(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 literals as Go does."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def canonical_address(address: str) -> str:
    """What Go's ``ResolveTCPAddr(address).String()`` gives: names resolved, IPv4 preferred.

    Toxiproxy decides whether an update or a populate entry "differs" from a running proxy by
    comparing this with the bound address, so ``0.0.0.0:X`` differs from ``[::]:X`` there too.
    """
    host, port = split_host_port(address)
    if host == "":
        return f":{port}"
    return join_host_port(_resolve(address, host, port)[1][0], port)


def _resolve(address: str, host: str, port: int) -> tuple[int, tuple[str, int]]:
    """The first address ``host`` resolves to, IPv4 first (Go's preference for "tcp")."""
    try:
        ipaddress.ip_address(host)
        numeric = True
    except ValueError:
        numeric = False
    try:
        infos = socket.getaddrinfo(
            host,
            port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_NUMERICHOST if numeric else 0,
        )
    except OSError as exc:
        raise AddressError(f"lookup {host}: no such host ({exc})") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    return family, (str(sockaddr[0]), port)


def format_sockname(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """Format ``getsockname()`` the way Go prints a listener's address."""
    return join_host_port(str(sockname[0]).split("%")[0], int(sockname[1]))


def open_listener(address: str, backlog: int = 511) -> socket.socket:
    """Bind and listen on ``address``; raise AddressError worded like Go's ``net.Listen``.

    Wildcard hosts get one dual-stack IPv6 socket (as Go does), falling back to IPv4 where the
    kernel has no IPv6.
    """
    try:
        host, port = split_host_port(address)
    except AddressError as exc:
        raise AddressError(f"listen tcp: {exc}") from None
    if host in WILDCARD_HOSTS:
        if socket.has_ipv6:
            try:
                return _bind(address, socket.AF_INET6, ("::", port), backlog, dual_stack=True)
            except OSError as exc:
                if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                    raise _listen_error(address, exc) from None
        family: int = socket.AF_INET
        sockaddr = ("0.0.0.0", port)
    else:
        try:
            family, sockaddr = _resolve(address, host, port)
        except AddressError as exc:
            raise AddressError(f"listen tcp: {exc}") from None
    try:
        return _bind(address, family, sockaddr, backlog, dual_stack=False)
    except OSError as exc:
        raise _listen_error(address, exc) from None


def _bind(
    address: str,
    family: int,
    sockaddr: tuple[str, int],
    backlog: int,
    *,
    dual_stack: bool,
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":
            # Like Go: a restarted proxy may rebind a port whose old connections are in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _listen_error(address: str, exc: OSError) -> AddressError:
    reason = (exc.strerror or str(exc)).lower()
    return AddressError(f"listen tcp {address}: bind: {reason}")
