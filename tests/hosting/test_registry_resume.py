"""A run stopped between the hosting play and the registry row (killed, the machine lost):
the server hosts the application, the registry does not record it. The next plan has a
`hosting.registry` change and apply writes the row without running the play (the
production install reads the TLS paths from that row). No server needed: the probe and
the planner's server part are replaced by "already hosted"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hosting.conftest import HostingEnv


class NoPlay:
    def run(self, *a: Any, **kw: Any) -> Any:
        raise AssertionError("the play must not run for a registry-only plan")


def test_hosted_but_unrecorded_gets_its_registry_row(offline_env: HostingEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.audit import event_dict, read_events
    from provision.context import App
    from provision.hosting import HostingProvider, planner, registry
    from provision.hosting.probe import HostState

    rid = "REQ-2026-0001"
    offline_env.open_request(rid, "sisekolah")
    app = App()
    provider = HostingProvider(app, runner=NoPlay())
    probes: list[int] = []

    def read_state(targets: Any) -> dict[str, HostState]:
        probes.append(len(targets))
        return {t.host: HostState(t.host, apps={t.instance: {"cert_pem": None}}) for t in targets}

    monkeypatch.setattr(provider, "read_state", read_state)
    monkeypatch.setattr(planner, "check_host", lambda st, mb: None)
    monkeypatch.setattr(planner, "plan_target", lambda t, st, ca: ([], {"issue_cert": False, "cert": None}))

    plan = provider.plan([rid])
    assert [(c.kind, c.action, c.target) for c in plan.changes] == [
        ("hosting.registry", "create", f"{rid} sisekolah.batam.go.id")], plan.as_dict()
    provider.apply(plan, app.audit)
    row = registry.get(app.store, rid)
    assert row is not None and row.status == "active" and row.host == "web1"
    assert probes == [1], "apply reuses the plan's probe"
    events = [(e["action"], e["outcome"]) for e in map(event_dict, read_events(app.store, rid))
              if e["provider"] == "hosting"]
    # a record in our own store: its event is written with the row (one transaction), so a
    # kill leaves both or neither, never an attempt without its outcome
    assert events == [("register", "recorded")], events

    assert provider.plan([rid]).empty  # recorded: nothing left
    registry.set_status(app.store, rid, "disabled")
    again = provider.plan([rid])
    assert [(c.kind, c.action) for c in again.changes] == [("hosting.registry", "update")]
