"""The App: everything a command needs, built lazily from the configuration.

Like httpie's Environment, it is passed in, so the core never reaches for globals and
tests can build one with their own configuration and clock.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from provision.config import Config, load_config


class App:
    def __init__(self, config: Config | None = None, config_path: str | None = None,
                 today: Callable[[], dt.date] | None = None) -> None:
        self._config = config
        self._config_path = config_path
        self.today = today or _today_from_env

    @cached_property
    def config(self) -> Config:
        return self._config or load_config(self._config_path)

    @cached_property
    def actor(self) -> tuple[str, str | None]:
        from provision.audit import current_actor

        raw = os.environ.get("PROVISION_ACTOR")
        if raw:  # it goes into every run and audit event, and onto terminals
            from provision.errors import UsageError
            from provision.textcheck import first_invisible

            bad = first_invisible(raw)
            if bad or len(raw) > 200 or not raw.strip():
                why = (f"contains a control or invisible character ({bad})" if bad
                       else "is longer than 200 characters" if len(raw) > 200 else "is blank")
                raise UsageError(f"PROVISION_ACTOR {why}: nothing was done.",
                                 "Set it to a plain name, e.g. PROVISION_ACTOR=\"budi (Diskominfo)\".")
        return current_actor()

    @cached_property
    def store(self) -> Any:
        from provision.privatefiles import private_dir
        from provision.store import Store

        private_dir(self.config.state_dir)  # 0700 whatever the umask
        password = self.config.secret("database", "password")
        return Store(self.config.database_url, password=password)

    @cached_property
    def audit(self) -> Any:
        from provision.audit import AuditLog

        return AuditLog(self.store, actor=self.actor[0], key_file=self.audit_key_file)

    @property
    def audit_key_file(self) -> Path:
        from provision.auditkey import key_file

        return key_file(self.config.state_dir)

    @cached_property
    def sop(self) -> Any:
        from provision.sop import load_sop

        return load_sop(self.config.sop.file or None)

    @cached_property
    def calendar(self) -> Any:
        from provision.calendar import office_calendar

        sop = self.config.sop
        return office_calendar(sop.national_holidays, [*sop.holidays, *sop.holidays_add], sop.holidays_remove,
                               self.today())

    @cached_property
    def attachments(self) -> Any:
        from provision.attachments import AttachmentStore

        return AttachmentStore(self.config.state_dir / "attachments",
                               max_size=self.config.general.max_attachment_mb * 1024 * 1024)

    @cached_property
    def requests(self) -> Any:
        from provision.requests import RequestService

        return RequestService(self.store, self.audit, lambda: self.sop, lambda: self.calendar,
                              self.attachments,
                              prefix=self.config.general.request_id_prefix, today=self.today)

    @cached_property
    def specs(self) -> Any:
        from provision.specstore import SpecStore

        return SpecStore(self.store, self.audit, self.requests, self.config)

    def lock(self, request_id: str, timeout: float | None = None) -> Any:
        from provision.locks import RequestLock

        t = self.config.database.lock_timeout if timeout is None else timeout
        return RequestLock(self.store, request_id, self.audit.run_id or "-", self.actor[0], t)

    @property
    def reports_dir(self) -> Path:
        d = self.config.reports.output_dir
        return Path(d) if d else self.config.state_dir / "reports"


def _today_from_env() -> dt.date:
    # PROVISION_TODAY pins the calendar (tests, demos of overdue steps).
    value = os.environ.get("PROVISION_TODAY")
    return dt.date.fromisoformat(value) if value else dt.date.today()
