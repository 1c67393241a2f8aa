"""What a replica trusts: Ed25519 signatures between replicas, MAC authenticators on client
requests, SHA-256 digests — all over one canonical encoding of a message body.

Replica-to-replica messages are signed (the public-key variant of PBFT): a prepared
certificate or a checkpoint proof carried inside a view change is then a proof anyone can
check, not a claim. Client requests carry MAC authenticators, as in the paper — one
HMAC-SHA256 per replica under a key that client shares with that replica — because a
signature costs about 35 µs to make and 115 µs to check here, against 2 µs for a MAC, and
every replica checks every request.

The keys come from the harness in ``init`` (``dchaos.pbft``)::

    {"private": HEX, "public": {"n1": HEX, ...}, "client_keys": {"c1": HEX, ...}}

``client_keys`` are this replica's MAC keys, one per client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

JSON = dict[str, Any]

#: Body fields that are not signed: the signature itself, the transport's ids, and a
#: pre-prepare's batch (bound by the signed digest, so that the signed header alone is a
#: proof another replica can carry).
UNSIGNED = frozenset({"sig", "msg_id", "in_reply_to", "batch"})


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
#: How many checked request authenticators a replica remembers.
REMEMBERED_REQUESTS = 20000


def canonical(value: Any) -> bytes:
    """One byte string per JSON value: keys sorted, no spaces."""
    return _CANONICAL.encode(value).encode()


def signed_part(body: JSON) -> bytes:
    return canonical({k: v for k, v in body.items() if k not in UNSIGNED})


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def request_core(request: JSON) -> JSON:
    """What a client's authenticator covers (and what a batch's digest covers)."""
    return {"client": request.get("client"), "timestamp": request.get("timestamp"),
            "op": request.get("op")}


def batch_order(request: JSON) -> tuple[str, int]:
    """The order of requests in a batch a primary makes (any fixed order would do)."""
    timestamp = request.get("timestamp")
    return str(request.get("client")), timestamp if isinstance(timestamp, int) else -1


def batch_digest(batch: list[JSON]) -> str:
    return digest_of_cores([canonical(request_core(r)) for r in batch])


def digest_of_cores(cores: list[bytes]) -> str:
    """:func:`batch_digest` from each request's canonical core (the canonical form of a
    list is its items' joined)."""
    return hashlib.sha256(b"[" + b",".join(cores) + b"]").hexdigest()


#: A client MAC is HMAC-SHA256 cut to its first 16 bytes (as RFC 4868 does): every request
#: carries one per replica, to each replica and inside pre-prepares.
MAC_HEX_DIGITS = 32


def mac_of(key: bytes, core: bytes) -> str:
    return hmac.new(key, core, hashlib.sha256).hexdigest()[:MAC_HEX_DIGITS]


class KeyMaterialError(ValueError):
    """The key material in ``init`` is missing or malformed."""


def _hex_bytes(value: Any, what: str, length: int | None = 32) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise KeyMaterialError(f"{what} is not a hex string") from None
    if length is not None and len(raw) != length:
        raise KeyMaterialError(f"{what} must be {length} bytes, not {len(raw)}")
    return raw


class Keys:
    """This replica's signing key, every replica's public key, and its client MAC keys."""

    def __init__(self, me: str, material: JSON | None) -> None:
        self.me = me
        material = material or {}
        private = material.get("private")
        self.enabled = private is not None
        self._private: Ed25519PrivateKey | None = None
        self._public: dict[str, Ed25519PublicKey] = {}
        self.client_keys: dict[str, bytes] = {}
        # Checked authenticators: MAC -> (client, timestamp, op) it covers, and their
        # canonical encoding. A backup sees each request twice (from its client, then in a
        # pre-prepare), and every digest covers it again: the second time is a comparison.
        self._checked: dict[str, tuple[Any, Any, Any, bytes]] = {}
        if not self.enabled:
            return
        self._private = Ed25519PrivateKey.from_private_bytes(_hex_bytes(private, "private"))
        public = material.get("public")
        if not isinstance(public, dict):
            raise KeyMaterialError("public must map every replica to its public key")
        for node, key in public.items():
            self._public[node] = Ed25519PublicKey.from_public_bytes(
                _hex_bytes(key, f"public key of {node}"))
        for client, key in (material.get("client_keys") or {}).items():
            self.client_keys[client] = _hex_bytes(key, f"client key of {client}", None)

    def sign(self, body: JSON) -> JSON:
        """``body`` with its ``sig``; unchanged when the run has no keys."""
        if self._private is None:
            return body
        return {**body, "sig": self._private.sign(signed_part(body)).hex()}

    def verify_part(self, signer: str, sig: Any, part: bytes) -> bool:
        """Is ``sig`` ``signer``'s signature of ``part`` (a body's :func:`signed_part`)?
        Without keys, every body is taken as is."""
        if not self.enabled:
            return True
        key = self._public.get(signer)
        if key is None or not isinstance(sig, str):
            return False
        try:
            key.verify(bytes.fromhex(sig), part)
        except (InvalidSignature, ValueError):
            return False
        return True

    def authentic_request(self, request: JSON) -> bool:
        """Is the client's MAC for this replica right? Without client keys, yes."""
        if not self.client_keys:
            return True
        if self._known(request) is not None:
            return True
        key = self.client_keys.get(str(request.get("client")))
        auth = request.get("auth")
        if key is None or not isinstance(auth, dict):
            return False
        mac = auth.get(self.me)
        if not isinstance(mac, str):
            return False
        encoded = canonical(request_core(request))
        if not hmac.compare_digest(mac, mac_of(key, encoded)):
            return False
        self._checked[mac] = (request.get("client"), request.get("timestamp"),
                              request.get("op"), encoded)
        if len(self._checked) > REMEMBERED_REQUESTS:
            del self._checked[next(iter(self._checked))]
        return True

    def known_request(self, request: JSON) -> bool:
        """Is this a request whose authenticator was checked already (the same client,
        timestamp and op)? A backup sees each request twice: from its client, then in a
        pre-prepare."""
        return self._known(request) is not None

    def _known(self, request: JSON) -> bytes | None:
        """The canonical core of a request already checked, or None."""
        auth = request.get("auth")
        mac = auth.get(self.me) if type(auth) is dict else None
        known = self._checked.get(mac) if type(mac) is str else None
        if (known is not None and known[0] == request.get("client")
                and known[1] == request.get("timestamp") and known[2] == request.get("op")):
            return known[3]
        return None

    def batch_digest(self, batch: list[JSON]) -> str:
        """:func:`batch_digest`, from the encodings remembered for checked requests."""
        return digest_of_cores([self.core_bytes(r) for r in batch])

    def core_bytes(self, request: JSON) -> bytes:
        """The request's canonical core (what batch digests cover), remembered when its
        authenticator was checked."""
        known = self._known(request)
        return known if known is not None else canonical(request_core(request))
