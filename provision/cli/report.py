"""`provision report`: official documents from the stored records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from provision.cli.common import command, json_option, print_json


def register_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--number / --date from the office's agenda register, and --sign."""
    f = click.option("--sign", is_flag=True,
                     help="Sign the PDF electronically (PAdES) with the key of reports.sign_pkcs12.")(f)
    f = click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), default=None,
                     help="The letter's date from the agenda register, YYYY-MM-DD (default: today).")(f)
    f = click.option("--number", "number", default=None, metavar="N",
                     help="The letter's number from the agenda register (default: reports.number_format).")(f)
    return f


def _done(app: Any, title: str, request_id: str, doc: Any, sign: bool, as_json: bool) -> int:
    if sign:
        from provision.reports.sign import sign_document

        sign_document(app, request_id, doc)
    if as_json:
        print_json(doc.as_dict())
        return 0
    verb = "Already issued" if doc.reused else "Issued"
    click.echo(f"{verb}: {title} {doc.number} of {doc.date.isoformat()} for {request_id}.")
    for fmt, path in doc.paths.items():
        click.echo(f"  {fmt}: {path}")
    for warning in doc.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return 0


class _ReportGroup(click.Group):
    """Takes `report REQ KIND` (the documented order) as well as `report KIND REQ`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if len(args) >= 2 and args[0] not in self.commands and args[1] in self.commands:
            args = [args[1], args[0], *args[2:]]
        return super().parse_args(ctx, args)


@click.group("report", cls=_ReportGroup)
def report_cmd() -> None:
    """Official documents in Bahasa Indonesia: Markdown, HTML and PDF.

    \b
    Example:
      provision report REQ-2026-0001 berita-acara
    """


@report_cmd.command("berita-acara")
@click.argument("request_id", metavar="REQ")
@click.option("--env", "env", type=click.Choice(["staging", "production"]), default=None,
              help="Use the latest test run of this environment (default: the latest of any).")
@click.option("--test-run", "test_run", type=click.IntRange(1, 2**31 - 1), default=None, help="Use this test run (its number).")
@click.option("--reissue", is_flag=True, help="Issue a new number even if this test run already has one.")
@register_options
@json_option
@command(request_arg="request_id", locks=True)
def berita_acara(app: Any, request_id: str, env: str | None, test_run: int | None, reissue: bool,
                 number: str | None, date: dt.datetime | None, sign: bool, as_json: bool) -> int:
    """The Berita Acara Uji Instalasi dan Uji Fungsi (step 14) from the latest test run.

    \b
    Example:
      provision report REQ-2026-0001 berita-acara
    """
    from provision.reports.berita_acara import issue

    doc = issue(app, request_id, env=env, test_run_id=test_run, reissue=reissue, number=number,
                date=date.date() if date else None)
    return _done(app, "Berita Acara", request_id, doc, sign, as_json)


@report_cmd.command("rekomendasi")
@click.argument("request_id", metavar="REQ")
@click.option("--reissue", is_flag=True, help="Issue a new number even if nothing changed since the last one.")
@register_options
@json_option
@command(request_arg="request_id", locks=True)
def rekomendasi(app: Any, request_id: str, reissue: bool, number: str | None, date: dt.datetime | None,
                sign: bool, as_json: bool) -> int:
    """The Surat Rekomendasi (step 15): subdomain and/or hosting, citing the Berita Acara.

    \b
    Example:
      provision report REQ-2026-0001 rekomendasi
    """
    from provision.reports.rekomendasi import issue

    doc = issue(app, request_id, reissue=reissue, number=number, date=date.date() if date else None)
    return _done(app, "Surat Rekomendasi", request_id, doc, sign, as_json)


@report_cmd.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@command()
def verify(app: Any, file: Path, as_json: bool) -> int:
    """Check a signed letter: the PAdES signature (pyHanko, against reports.sign_trust_roots)
    and that the file is the one this office signed and recorded.

    \b
    Example:
      provision report verify berita-acara-001-BA-Kominfo-PE-XII-2026.signed.pdf
    """
    from provision.reports.sign import verify as check

    result = check(app, file)
    if as_json:
        print_json(result)
        return 0
    click.echo(f"Valid: {result['kind']} {result['number']} of {result['date']} for {result['request']}, "
               f"signed by {result['signer']}" + (f" at {result['signing_time']}" if result["signing_time"] else "")
               + ".")
    click.echo(f"  SHA-256 {result['signed_sha256']} matches the signing record.")
    return 0
