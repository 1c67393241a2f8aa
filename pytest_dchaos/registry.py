"""The plugin registry: every protocol, fault, checker and backend, found through pluggy.

Plugins come from the ``dchaos`` entry-point group (the built-in ones included) and from
:func:`register`. The registry is the loader's catalogue, so validation of a scenario knows
exactly what is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from pytest_dchaos import hookspecs
from pytest_dchaos.errors import DchaosError

if TYPE_CHECKING:
    from pytest_dchaos.backends.base import Backend
    from pytest_dchaos.checkers.base import CheckerType
    from pytest_dchaos.families.base import ProtocolFamily
    from pytest_dchaos.faults.base import FaultType

_manager: pluggy.PluginManager | None = None
_extra: list[object] = []


def plugin_manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
        for plugin in _extra:
            if not manager.is_registered(plugin):
                manager.register(plugin)
        _manager = manager
    return _manager


def register(plugin: object) -> None:
    """Add a plugin (a module or object with ``@hookimpl`` functions) to the registry."""
    _extra.append(plugin)
    manager = plugin_manager()
    if not manager.is_registered(plugin):
        manager.register(plugin)


def in_process_plugins() -> list[object]:
    """The plugins added with :func:`register`: another process (a search worker of
    ``dchaos explore --workers``) does not have them."""
    return list(_extra)


def unregister(plugin: object) -> None:
    if plugin in _extra:
        _extra.remove(plugin)
    manager = plugin_manager()
    if manager.is_registered(plugin):
        manager.unregister(plugin)


class Registry:
    """A snapshot of what the installed plugins provide, by name."""

    def __init__(self, manager: pluggy.PluginManager | None = None) -> None:
        manager = manager or plugin_manager()
        hook = manager.hook
        self.protocols: dict[str, ProtocolFamily] = _by_name(hook.dchaos_add_protocols(),
                                                             "protocol")
        self.faults: dict[str, FaultType[Any]] = _by_name(hook.dchaos_add_faults(), "fault")
        self.checkers: dict[str, CheckerType[Any]] = _by_name(hook.dchaos_add_checkers(), "checker")
        self.backends: dict[str, Backend] = _by_name(hook.dchaos_add_backends(), "backend")
        #: Alias -> the family it names (Maelstrom's workload names, see
        #: :attr:`~pytest_dchaos.families.base.ProtocolFamily.aliases`).
        self.aliases: dict[str, ProtocolFamily] = _aliases(self.protocols)
        self.hook = hook

    # The scenario loader's Catalog protocol:
    def protocol(self, name: str) -> ProtocolFamily | None:
        """The family called ``name``, or the one ``name`` is an alias of."""
        return self.protocols.get(name) or self.aliases.get(name)

    def protocol_names(self) -> Sequence[str]:
        return sorted(self.protocols)

    def fault(self, name: str) -> FaultType[Any] | None:
        return self.faults.get(name)

    def fault_names(self) -> Sequence[str]:
        return sorted(self.faults)

    def checker(self, name: str) -> CheckerType[Any] | None:
        return self.checkers.get(name)

    def checker_names(self) -> Sequence[str]:
        return sorted(self.checkers)

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise DchaosError(
                f"unknown backend {name!r}; installed: {', '.join(sorted(self.backends))}"
            ) from None


def _by_name(results: list[list[Any]], what: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for batch in results:
        for item in batch or ():
            name = item.name
            if name in found and found[name] is not item:
                raise DchaosError(
                    f"two plugins provide the {what} {name!r}: "
                    f"{type(found[name]).__module__} and {type(item).__module__}"
                )
            found[name] = item
    return found


def _aliases(protocols: dict[str, ProtocolFamily]) -> dict[str, ProtocolFamily]:
    """Each alias to its family; an alias that is another family's name or alias is refused,
    as two plugins providing one name are."""
    found: dict[str, ProtocolFamily] = {}
    for family in protocols.values():
        for alias in family.aliases:
            other = protocols.get(alias) or found.get(alias)
            if other is not None and other is not family:
                raise DchaosError(
                    f"the protocol name {alias!r} is claimed twice: as an alias of "
                    f"{family.name} ({type(family).__module__}) and by {other.name} "
                    f"({type(other).__module__})")
            found[alias] = family
    return found
