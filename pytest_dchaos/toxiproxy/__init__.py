"""An embedded, Toxiproxy-compatible server in pure-stdlib Python.

It speaks Toxiproxy 2.12.0's REST API and implements its toxics, so the same driver can point
at it or at a real ``toxiproxy-server``. It imports nothing outside the standard library and
this package, so the package directory can be copied into a bare ``python3`` container and run
with ``python3 -m <package> -host 0.0.0.0 -port 8474``.
"""

from __future__ import annotations

from .api import TOXIPROXY_VERSION
from .background import BackgroundServer
from .errors import ApiError
from .server import ToxiproxyServer

__all__ = ["TOXIPROXY_VERSION", "ApiError", "BackgroundServer", "ToxiproxyServer"]
