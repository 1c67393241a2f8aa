"""Network faults in terms a scenario speaks: cut links, slow links, heal.

Every directed link ``a->b`` is one Toxiproxy proxy, carrying what a's agent sends to b's.
On top of the driver this module keeps the bookkeeping that makes overlapping faults safe:
a link cut by two faults stays cut until both are healed, and every toxic belongs to the
fault (``key``) that added it, so reverting one fault never touches another's. Data flows
from the proxy's client (a's agent) to its upstream (b's agent): the ``upstream`` stream.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from pytest_dchaos.cluster.toxiproxy_driver import FaultLayer

Link = tuple[str, str]
#: Up to this many calls to the fault layer are made one by one (a small cluster's faults).
CALLS_ONE_BY_ONE = 16
#: Calls in flight at once per Toxiproxy server, for more.
CALLS_PER_SERVER = 4
BASELINE = "baseline"
#: The key of the cut into a node whose container is gone (see :meth:`Network.node_gone`).
DOWN = "down:"


def partition_links(groups: Iterable[Iterable[str]], nodes: Iterable[str]) -> frozenset[Link]:
    """The directed links a partition into ``groups`` cuts (every link between groups).

    Nodes in no group form one more group together, so ``[[n1]]`` isolates n1.
    """
    groups = [set(group) for group in groups]
    listed = set().union(*groups) if groups else set()
    rest = set(nodes) - listed
    if rest:
        groups.append(rest)
    side = {node: index for index, group in enumerate(groups) for node in group}
    return frozenset(
        (a, b) for a in side for b in side if a != b and side[a] != side[b]
    )


@dataclass(frozen=True)
class _Toxic:
    proxy: str
    name: str


def _in_order(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        call()


class Network:
    """The fault layer of one cluster."""

    def __init__(self, driver: FaultLayer, proxies: dict[Link, str]) -> None:
        self.driver = driver
        self.proxies = dict(proxies)
        self._cuts: Counter[Link] = Counter()
        self._cut_by: dict[str, frozenset[Link]] = {}
        self._toxics: dict[str, list[_Toxic]] = {}
        self._lock = threading.Lock()

    @property
    def links(self) -> frozenset[Link]:
        return frozenset(self.proxies)

    def cut(self, key: str, links: Iterable[Link]) -> None:
        """Cut ``links`` (messages on them are lost) until :meth:`revert` of ``key``."""
        with self._lock:
            already = self._cut_by.get(key, frozenset())
            links = (frozenset(links) & self.links) - already  # a key counts a link once
            self._cut_by[key] = already | links
            newly = []
            for link in sorted(links):
                self._cuts[link] += 1
                if self._cuts[link] == 1:
                    newly.append(self.proxies[link])
            self._each([(proxy, partial(self.driver.set_enabled, proxy, False))
                        for proxy in newly])

    def add_toxic(self, key: str, links: Iterable[Link], toxic_type: str,
                  attributes: dict[str, Any], toxicity: float = 1.0) -> None:
        """Add a Toxiproxy toxic on the upstream stream of each of ``links``."""
        with self._lock:
            added = self._toxics.setdefault(key, [])
            name = f"{key}_{toxic_type}_{len(added)}"
            proxies = [self.proxies[link] for link in sorted(frozenset(links) & self.links)]
            try:
                self._each([(proxy, partial(self.driver.add_toxic, proxy, name, toxic_type,
                                            attributes, "upstream", toxicity))
                            for proxy in proxies])
            finally:
                # Every one is recorded, so reverting removes what was added (removing
                # one that a failed call never added is refused, and said).
                added.extend(_Toxic(proxy, name) for proxy in proxies)

    def set_latency(self, key: str, links: Iterable[Link], latency: float,
                    jitter: float = 0.0) -> None:
        """Latency (seconds) on ``links``, as a Toxiproxy latency toxic owned by ``key``."""
        if latency <= 0 and jitter <= 0:
            return
        self.add_toxic(key, links, "latency",
                       {"latency": round(latency * 1000), "jitter": round(jitter * 1000)})

    def revert(self, key: str) -> None:
        """Undo everything ``key`` did: restore its cut links, remove its toxics."""
        with self._lock:
            restored = []
            for link in sorted(self._cut_by.pop(key, frozenset())):
                self._cuts[link] -= 1
                if self._cuts[link] == 0:
                    del self._cuts[link]
                    restored.append(self.proxies[link])
            self._each([(proxy, partial(self.driver.set_enabled, proxy, True))
                        for proxy in restored])
            self._each([(t.proxy, partial(self.driver.remove_toxic, t.proxy, t.name))
                        for t in self._toxics.pop(key, [])])

    def _each(self, calls: list[tuple[str, Callable[[], None]]]) -> None:
        """Make ``calls`` to the fault layer, each about the proxy it is paired with: one by
        one when they are few, else side by side, :data:`CALLS_PER_SERVER` at a time per
        server. Calls about one proxy keep their order; those about different proxies are
        independent, and one by one a partition of a large cluster took seconds to put in
        place (5,000 links at 100 nodes, a millisecond or more each), which a fault timed
        in seconds cannot afford. The first error is raised once every call has ended."""
        if len(calls) <= CALLS_ONE_BY_ONE:
            for _, call in calls:
                call()
            return
        by_proxy: dict[str, list[Callable[[], None]]] = {}
        for proxy, call in calls:
            by_proxy.setdefault(proxy, []).append(call)
        servers = len({self.driver.server_of(proxy) for proxy in by_proxy})
        with ThreadPoolExecutor(max_workers=CALLS_PER_SERVER * servers) as pool:
            futures = [pool.submit(_in_order, ordered) for ordered in by_proxy.values()]
        for future in futures:
            future.result()

    def node_gone(self, node: str) -> None:
        """``node``'s container (its agent with it) is gone until :meth:`node_back`: cut
        the links into it. A proxy left open would accept a peer's connection and dial a
        container that is not there (seconds, until ARP or the SYN gives up), and the
        messages written into that connection meanwhile, those sent just after the node
        came back included, would arrive seconds late. Cut, they are refused and lost, as
        messages to a dead machine are. Not a fault: :meth:`heal` leaves it alone."""
        self.cut(DOWN + node, [link for link in self.links if link[1] == node])

    def retarget(self, node: str, upstream: str) -> None:
        """Point the links into ``node`` at ``upstream`` (``host:port``): where its agent
        listens now, after a restart that moved it. A cut link stays cut."""
        self._each([(proxy, partial(self.driver.set_upstream, proxy, upstream))
                    for link, proxy in sorted(self.proxies.items()) if link[1] == node])

    def node_back(self, node: str) -> None:
        """``node``'s agent listens again: undo :meth:`node_gone` (a fault's cut stays)."""
        self.revert(DOWN + node)

    def heal(self) -> list[str]:
        """Revert every fault (the baseline latency stays, and links into a node that is
        down stay cut); returns the keys reverted."""
        keys = self.active_keys()
        for key in keys:
            self.revert(key)
        return keys

    def cut_links(self) -> frozenset[Link]:
        with self._lock:
            return frozenset(self._cuts)

    def active_keys(self) -> list[str]:
        """The faults' keys in effect (not the baseline latency, nor a down node's cut)."""
        with self._lock:
            return [k for k in dict.fromkeys((*self._cut_by, *self._toxics))
                    if k != BASELINE and not k.startswith(DOWN)]
