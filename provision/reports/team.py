"""Who signs a Berita Acara: the technical teams the request's records name.

Step 2 of the SOP appoints the Kominfo technical team (surat penunjukan), step 3 forms
the OPD technical team (SK Tim Teknis OPD). `provision request step REQ 2 --done --member
"NAME|NIP|PANGKAT|JABATAN"` records each member in the step's audit event; the latest
event of the step that names members is the team. Without one, `reports.technical_kominfo`
/ `reports.technical_opd` from the configuration; without those, one blank block to sign
by hand.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from provision.reports.engine import BLANK_NAME, Signer
from provision.store.models import AuditEvent

#: side -> (the SOP step that names the team, the configuration key, the default jabatan)
TEAMS = {"kominfo": (2, "technical_kominfo", "Anggota Tim Teknis Dinas Komunikasi dan Informatika"),
         "opd": (3, "technical_opd", "Anggota Tim Teknis OPD")}


def recorded_members(app: Any, request_id: str, step: int) -> list[dict[str, str]]:
    """The members the latest audit event of `step` names (empty when none does)."""
    with app.store.read() as s:
        rows = s.execute(select(AuditEvent.after).where(
            AuditEvent.request_id == request_id, AuditEvent.provider == "request",
            AuditEvent.action.in_(("step.start", "step.done")),
            AuditEvent.target == f"{request_id} step {step}").order_by(AuditEvent.seq.desc())).scalars()
        for after in rows:
            members = json.loads(after or "{}").get("members") if after else None
            if members:
                return list(members)
    return []


def technical_team(app: Any, request_id: str, side: str) -> list[Signer]:
    step, key, default_title = TEAMS[side]
    members = recorded_members(app, request_id, step)
    if members:
        return [Signer(m.get("title") or default_title, m["name"], m.get("rank", ""), m["nip"]) for m in members]
    configured = getattr(app.config.reports, key)
    if configured:
        return [Signer(m.title, m.name, m.rank, m.nip) for m in configured]
    return [Signer(default_title, BLANK_NAME)]
