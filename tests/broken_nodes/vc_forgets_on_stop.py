#!/usr/bin/env python3
"""Broken vector-clock node: a clean shutdown throws its event log away.

Bug: the node shuts down gracefully on SIGTERM, and treats its event log as a crash
journal: a process that ends cleanly has nothing to recover, so the journal goes. But the
log is the node's memory — its clock, how far it has numbered its broadcasts and channel
messages, what it has delivered. Started again after a graceful stop, it comes back with
a zero clock and numbers everything from 1 again: its peers take its new messages for
duplicates of old ones and drop them, and its clocks no longer order what happened.

A crash (SIGKILL) runs no handler, so after a kill — the only way a shipped vector-clock
scenario takes a node down — the log is replayed as in the reference node, and the node
passes them all.

Must be caught by: delivered_everywhere, vector_clocks, fifo_channels (and more), under a
graceful stop with a restart (``stop`` with a ``duration``) — a fault `dchaos explore`
draws and no shipped vector-clock scenario has.
"""

from __future__ import annotations

import logging
import os
import signal

from reference_nodes.vector_clock.node import VectorClockNode

log = logging.getLogger("broken.forgets_on_stop")


class ForgetsOnStopNode(VectorClockNode):
    def setup(self) -> None:
        super().setup()
        self.runtime.loop.add_signal_handler(signal.SIGTERM, self.shut_down)

    def shut_down(self) -> None:
        """The bug: a clean exit removes the log a restart would replay."""
        if self.log.path is not None and os.path.exists(self.log.path):
            os.remove(self.log.path)
            log.info("clean shutdown: removed %s", self.log.path)
        self.runtime.stop()


if __name__ == "__main__":
    raise SystemExit(ForgetsOnStopNode().run())
