#!/usr/bin/env python3
"""Broken broadcast node: never answers ``init``.

Bug: it waits for ``topology`` before it answers anything, ``init`` included — but the
harness sends ``topology`` only after ``init_ok``, so it waits for ever.

Must be caught by: the conformance kit's init check (``dchaos conform``).
"""

import json
import sys

waiting = []
for line in sys.stdin:
    msg = json.loads(line)
    if msg["body"]["type"] != "topology":
        waiting.append(msg)  # the bug: held until a topology that never comes
        continue
    for held in [*waiting, msg]:
        reply = {"type": held["body"]["type"] + "_ok", "in_reply_to": held["body"]["msg_id"]}
        sys.stdout.write(json.dumps({"src": held["dest"], "dest": held["src"],
                                     "body": reply}) + "\n")
    sys.stdout.flush()
    waiting.clear()
