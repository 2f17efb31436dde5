"""Signed checkpoints of the audit chain: its head (seq, hash) at a time, signed with the
audit key's Ed25519 key, to keep somewhere the database's writers cannot reach.

A checkpoint kept off the host is what makes truncation (dropping the last events and
moving the head back) and a chain recomputed by someone who has the key detectable:
`verify_against` finds the checkpoint's event in the log with the same hash, or says why
not. Shipping: a file (`--output`), syslog (`ship_syslog`, to a local or remote
collector), or a git repository with signed tags (docs/audit.md, a procedure on the file).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import select

from provision.audit import VerifyResult, utcnow, verify
from provision.auditkey import AuditKey, key_id_of, signature_ok
from provision.errors import ProvisionError, UsageError
from provision.store import Store
from provision.store.models import AuditEvent

FORMAT = "kominfo-provision audit checkpoint 1"
_SIGNED = ("format", "seq", "hash", "keyed_from", "time", "key_id", "public_key")


class ChainBroken(ProvisionError):
    """The chain does not verify: no checkpoint is written over it."""


def _body(cp: dict[str, Any]) -> bytes:
    return json.dumps({k: cp[k] for k in _SIGNED}, sort_keys=True, separators=(",", ":")).encode()


def make(store: Store, key: AuditKey) -> dict[str, Any]:
    """Verify the chain, then sign its head. Raises ChainBroken if it does not verify."""
    result = verify(store, key)
    if not result.ok:
        where = f"at event {result.first_bad}: {result.reason}" if result.first_bad else "; ".join(result.rows[:5])
        raise ChainBroken(f"the audit log does not verify ({where}); no checkpoint was written.",
                          "Find out what changed it first: provision audit verify; docs/audit.md.")
    cp: dict[str, Any] = {"format": FORMAT, "seq": result.checked, "hash": result.last_hash,
                          "keyed_from": result.keyed_from, "time": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "key_id": key.key_id, "public_key": key.public_key}
    cp["signature"] = key.sign(_body(cp))
    return cp


def dumps(cp: dict[str, Any]) -> str:
    return json.dumps(cp, sort_keys=True, separators=(",", ":"))


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint file: its JSON, or a line (a syslog record, say) holding it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the checkpoint file {path}: {type(e).__name__}.",
                         "Give the file `provision audit checkpoint --output` wrote.") from None
    start, end = text.find("{"), text.rfind("}")
    try:
        cp = json.loads(text[start:end + 1]) if start >= 0 else None
    except ValueError:
        cp = None
    missing = [k for k in (*_SIGNED, "signature") if not isinstance(cp, dict) or k not in cp]
    if missing or not isinstance(cp, dict) or cp["format"] != FORMAT:
        raise UsageError(f"the file {path} is not an audit checkpoint"
                         + (f" (it lacks {', '.join(missing)})." if missing and isinstance(cp, dict) else "."),
                         "Give the file `provision audit checkpoint --output` wrote.")
    if not isinstance(cp["seq"], int) or not isinstance(cp["keyed_from"], int) or cp["seq"] < 0:
        raise UsageError(f"the checkpoint file {path} has a bad seq or keyed_from.",
                         "Give the file `provision audit checkpoint --output` wrote.")
    return cp


def verify_against(store: Store, key: AuditKey, cp: dict[str, Any]) -> VerifyResult:
    """The chain verifies, and it still holds the checkpoint's event with the same hash."""
    if cp["key_id"] != key.key_id or key_id_of(cp["public_key"]) != cp["key_id"]:
        return VerifyResult(False, 0, None, f"the checkpoint was signed with key {cp['key_id']}, "
                                            f"not with this audit key ({key.key_id})", key_id=key.key_id)
    if not signature_ok(key.public_key, _body(cp), str(cp["signature"])):
        return VerifyResult(False, 0, None, "the checkpoint's signature does not verify "
                                            "(the file was edited)", key_id=key.key_id)
    result = verify(store, key)
    if result.first_bad is not None:
        return result
    seq = cp["seq"]
    if result.checked < seq:
        return VerifyResult(False, result.checked, result.checked + 1,
                            f"the log ends at event {result.checked}, but the checkpoint of {cp['time']} "
                            f"covers events up to {seq}: events were removed from the end",
                            rows=result.rows, key_id=key.key_id)
    if cp["keyed_from"] != result.keyed_from:
        return VerifyResult(False, result.checked, min(cp["keyed_from"], result.keyed_from),
                            f"the log says its keyed part begins at event {result.keyed_from}, the checkpoint "
                            f"of {cp['time']} says {cp['keyed_from']}: the log was rewritten",
                            rows=result.rows, key_id=key.key_id)
    if seq:
        with store.read() as s:
            got = s.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq)).scalar()
        if got != cp["hash"]:
            return VerifyResult(False, result.checked, seq,
                                f"it is not the event the checkpoint of {cp['time']} signed: the log up "
                                "to it was rewritten and its hashes recomputed", rows=result.rows,
                                key_id=key.key_id)
    return result


def ship_syslog(cp: dict[str, Any], address: str | None = None) -> str:
    """Send the checkpoint as one syslog record (RFC 3164 framing, facility auth, severity
    info, tag kominfo-provision): to /dev/log, another socket path, or HOST:PORT over UDP.
    Returns where it went."""
    where = address or "/dev/log"
    message = f"<{4 * 8 + 6}>kominfo-provision: audit checkpoint {dumps(cp)}".encode()
    try:
        if where.startswith("/"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, where)
            return where
        host, _, port = where.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--syslog-address {where!r} is not a socket path or HOST:PORT.",
                             "Example: --syslog-address /dev/log or --syslog-address 127.0.0.1:514")
        family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.sendto(message, addr)
    except OSError as e:
        raise ProvisionError(f"cannot send the checkpoint to syslog at {where}: {e.strerror or type(e).__name__}.",
                             "Is a syslog daemon listening there? Keep the --output file meanwhile.") from None
    return where


__all__ = ["ChainBroken", "FORMAT", "dumps", "load", "make", "ship_syslog", "verify_against"]
