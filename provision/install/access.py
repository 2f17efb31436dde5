"""The inventory and the Ansible runner a provider reaches its servers with, made when
first used (a provider that only plans from the database never loads them); tests pass
their own."""

from __future__ import annotations

from typing import Any


class ServerAccess:
    def __init__(self, app: Any, runner: Any = None, inventory: Any = None) -> None:
        self.app = app
        self.cfg = app.config.hosting
        self._runner = runner
        self._inventory = inventory

    @property
    def inventory(self) -> Any:
        if self._inventory is None:
            from provision.install.inventory import load_inventory

            self._inventory = load_inventory(self.cfg.inventory)
        return self._inventory

    @property
    def runner(self) -> Any:
        if self._runner is None:
            from provision.install.install import make_runner

            self._runner = make_runner(self.app)
        return self._runner
