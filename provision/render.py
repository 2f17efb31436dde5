"""The one renderer of plans: text for the terminal, JSON for machines, Markdown for a
ticket or the wiki. Every changing command shows its plans through here and prints the
same JSON document: `{"plans": [...], "checksum": ..., "result": ...}`.

Pure functions returning strings or dicts: the CLI prints them.
"""

from __future__ import annotations

import json
from typing import Any

from provision.plan import Plan, checksum_of

_SIGN = {"create": "+", "update": "~", "delete": "-"}


def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def plan_text(plan: Plan, title: str | None = None) -> str:
    """A Plan as text: one line per change, with before and after for updates."""
    lines = [f"{title or plan.provider + ' plan'} for {plan.request_id}: {plan.summary()}"]
    if plan.deferred:
        lines.append(f"  (final when the stage runs: {plan.deferred})")
    for c in plan.changes:
        lines.append(f"  {_SIGN[c.action]} {c.kind} {c.target}")
        if c.action == "update":
            lines.append(f"      before: {_value(c.before)}")
            lines.append(f"      after:  {_value(c.after)}")
        elif c.action == "create" and c.after not in (None, {}, []):
            lines.append(f"      {_value(c.after)}")
    for n in plan.notes:
        lines.append(f"  note: {n}")
    if not plan.empty:
        lines.append(f"  checksum: {plan.checksum()}")
    return "\n".join(lines)


def plan_markdown(plan: Plan, title: str | None = None) -> str:
    """A Plan as a Markdown section with a table of its changes."""
    out = [f"### {title or plan.provider} ({plan.request_id}): {plan.summary()}", ""]
    if plan.deferred:
        out += [f"_Final when the stage runs: {plan.deferred}_", ""]
    if plan.changes:
        out += ["| | kind | target | before | after |", "|---|---|---|---|---|"]
        for c in plan.changes:
            cells = [_SIGN[c.action], c.kind, c.target,
                     "" if c.before is None else _value(c.before), "" if c.after is None else _value(c.after)]
            out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        out.append("")
    out += [f"- note: {n}" for n in plan.notes]
    if not plan.empty:
        out.append(f"- checksum: `{plan.checksum()}`")
    return "\n".join(out).rstrip() + "\n"


def document(plans: list[Plan], result: Any = None, labels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON every changing command prints: its plans, one checksum over all of them
    (what `--checksum` takes) and the result (None when nothing was applied).
    `labels` adds fields to each plan (e.g. the stage and SOP step of `provision apply`)."""
    docs = [{**(labels[i] if labels else {}), **p.as_dict()} for i, p in enumerate(plans)]
    return {"plans": docs, "checksum": checksum_of(plans), "result": result}


def markdown(plans: list[Plan], titles: list[str] | None = None) -> str:
    body = "\n".join(plan_markdown(p, titles[i] if titles else None) for i, p in enumerate(plans))
    return body + f"\nChecksum of the whole plan: `{checksum_of(plans)}`\n"
