"""Running the CLI in-process, the way httpie's tests do: exit code, stdout, stderr, JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"<exit {self.exit_code}\nstdout: {self.stdout}\nstderr: {self.stderr}>"


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> CliResult:
    """Run `provision ARGS` through the real entry point (its error boundary included)."""
    from provision.cli import cli
    from provision.cli.common import run_main

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = run_main(cli, [str(a) for a in args])
    return CliResult(code, out.getvalue().decode(), err.getvalue().decode())
