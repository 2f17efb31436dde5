"""`provision apply`: every automated SOP step of a request, in order, with its gates."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import change_options, command, confirm_apply, print_json
from provision.cli.params import REF


@click.command("apply")
@click.argument("request_id", metavar="REQ")
@click.option("--ref", type=REF, default=None, help="The release (tag) to install; needed for the first install.")
@click.option("--until", "until", type=click.Choice(["11", "14", "15"]), default="15", show_default=True,
              help="Stop after this SOP step.")
@change_options
@command(request_arg="request_id", locks=True)
def apply_cmd(app: Any, request_id: str, ref: str | None, until: str, as_json: bool, dry_run: bool,
              yes: bool) -> int:
    """Run steps 11, 14 and 15 of REQ in SOP order: repository; staging install, tests and
    Berita Acara; DNS, hosting, production install and Surat Rekomendasi.

    Shows the combined plan first. Each stage skips what is already done, so running it
    again after an interruption continues where it stopped and repeats nothing.

    \b
    Example:
      provision apply REQ-2026-0001 --ref v1.0.0 --yes
    """
    from provision.pipeline import Pipeline

    say = (lambda line: None) if as_json else (lambda line: click.echo(line))
    from provision.cli.install import progress_printer

    pipe = Pipeline(app, request_id, ref=ref, until=int(until), say=say,
                    on_event=progress_printer(as_json))
    preview = pipe.preview()
    if not as_json:
        click.echo(f"Plan for {request_id} (up to step {until}):")
        lang = app.config.general.language
        for p in preview:
            click.echo(f"  step {p['step']} {p['stage']}: {p['plan'].get('summary', '')}")
            # The SOP's own words for the step (general.language), and who carries it out.
            step = app.sop.step(int(p["step"]))
            click.echo(f"      {step.title(lang)} ({', '.join(app.sop.actor_names(step, lang))})")
    if dry_run:
        if as_json:
            print_json({"request": request_id, "preview": preview, "applied": False})
        else:
            click.echo("Dry run: nothing applied.")
        return 0
    confirm_apply(f"the automated steps of {request_id}", yes)
    outcomes = pipe.run()
    if as_json:
        print_json({"request": request_id, "preview": preview,
                    "stages": [o.as_dict() for o in outcomes]})
    else:
        click.echo(f"{request_id}: automated steps up to {until} done.")
    return 0
