"""`provision spec validate|set|show`: the desired state of a request's application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provision.cli.common import command, json_option, print_json
from provision.errors import UsageError

MAX_SPEC = 256 * 1024


def _read(path: Path) -> bytes:
    too_big = UsageError(f"FILE: the spec file {path} is larger than {MAX_SPEC // 1024} KiB.")
    try:
        if path.stat().st_size > MAX_SPEC:
            raise too_big
        with path.open("rb") as f:  # at most the limit, whatever stat said (/dev/zero, a pipe)
            data = f.read(MAX_SPEC + 1)
    except OSError as e:
        raise UsageError(f"FILE: cannot read the spec file {path}: {e.strerror}.") from e
    if len(data) > MAX_SPEC:
        raise too_big
    return data


@click.group("spec")
def spec_cmd() -> None:
    """The application's desired state: repository, runtime, hosting, DNS, tests.

    The format is in docs/spec.md.

    \b
    Example:
      provision spec validate app.yaml && provision spec set REQ-2026-0001 app.yaml
    """


@spec_cmd.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@click.pass_obj
def validate(state: Any, file: Path, as_json: bool) -> int:
    """Check a spec file and report every problem with its field and line (exit 2).

    \b
    Example:
      provision spec validate sisekolah.yaml
    """
    from provision.spec import load_spec_for

    spec = load_spec_for(_read(file), str(file), state.get_app().config)
    if as_json:
        print_json({"ok": True, "slug": spec.application.slug})
    else:
        click.echo(f"{file}: valid spec for {spec.application.slug}.")
    return 0


@spec_cmd.command("set")
@click.argument("request_id", metavar="REQ")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@command(request_arg="request_id", locks=True)
def set_(app: Any, request_id: str, file: Path, as_json: bool) -> int:
    """Store a spec for a request as its next version (nothing stored if invalid).

    \b
    Example:
      provision spec set REQ-2026-0001 sisekolah.yaml
    """
    version, changed = app.specs.set(request_id, _read(file), str(file))
    if as_json:
        print_json({"request": request_id, "version": version, "changed": changed})
    elif changed:
        click.echo(f"{request_id}: spec version {version} stored.")
    else:
        click.echo(f"{request_id}: spec unchanged (version {version}).")
    return 0


@spec_cmd.command("show")
@click.argument("request_id", metavar="REQ")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="An older version.")
@json_option
@command(request_arg="request_id")
def show(app: Any, request_id: str, version: int | None, as_json: bool) -> int:
    """Print a request's spec (latest version unless --version).

    \b
    Example:
      provision spec show REQ-2026-0001 --version 1
    """
    v, text = app.specs.get_text(request_id, version)
    if as_json:
        print_json({"request": request_id, "version": v,
                    "spec": app.specs.validate(text, f"v{v}").model_dump(mode="json")})
    else:
        click.echo(f"# {request_id} spec version {v}")
        click.echo(text, nl=not text.endswith("\n"))
    return 0
