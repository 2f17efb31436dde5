"""`provision apply`: every automated SOP step of a request, in order, with its gates."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import change_options, check_checksum, command, confirm_apply, print_json
from provision.cli.params import CHECKSUM, REF


@click.command("apply")
@click.argument("request_id", metavar="REQ")
@click.option("--ref", type=REF, default=None, help="The release (tag) to install; needed for the first install.")
@click.option("--until", "until", type=click.Choice(["11", "14", "15"]), default="15", show_default=True,
              help="Stop after this SOP step.")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the whole plan is still the one reviewed (the checksum `--dry-run` shows).")
@click.option("--markdown", is_flag=True,
              help="Show the plan as Markdown (for the request's ticket or the wiki) instead of text.")
@change_options
@command(request_arg="request_id", locks=True)
def apply_cmd(app: Any, request_id: str, ref: str | None, until: str, checksum: str | None, markdown: bool,
              as_json: bool, dry_run: bool, yes: bool) -> int:
    """Run steps 11, 14 and 15 of REQ in SOP order: repository; staging install, tests and
    Berita Acara; DNS, hosting, production install and Surat Rekomendasi.

    Shows every stage's plan first, with one checksum over all of them, and applies
    exactly those: a stage whose plan changed since it was shown stops the run (exit 7)
    before anything of it is applied. Each stage skips what is already done, so running
    it again after an interruption continues where it stopped and repeats nothing.

    \b
    Example:
      provision apply REQ-2026-0001 --ref v1.0.0 --dry-run
      provision apply REQ-2026-0001 --ref v1.0.0 --dry-run --markdown > plan.md
      provision apply REQ-2026-0001 --ref v1.0.0 --checksum 3f2a9c0d1e4b5a69 --yes
    """
    from provision.cli.install import progress_printer
    from provision.pipeline import Pipeline
    from provision.plan import checksum_of
    from provision.render import document
    from provision.render import markdown as plan_markdown

    say = (lambda line: None) if as_json else (lambda line: click.echo(line))
    pipe = Pipeline(app, request_id, ref=ref, until=int(until), say=say, on_event=progress_printer(as_json))
    staged = pipe.plan()
    plans = [s.plan for s in staged]
    labels = [s.label() for s in staged]
    if markdown and not as_json:
        click.echo(f"## Plan for {request_id} (up to step {until})\n")
        click.echo(plan_markdown(plans, [f"step {s.step} {s.stage}" for s in staged]), nl=False)
    elif not as_json:
        click.echo(f"Plan for {request_id} (up to step {until}):")
        lang = app.config.general.language
        shown: set[int] = set()
        for s in staged:
            if int(s.step) not in shown:  # the SOP's own words for the step and who carries it out, once
                shown.add(int(s.step))
                step = app.sop.step(int(s.step))
                click.echo(f"  SOP step {s.step}: {step.title(lang)} ({', '.join(app.sop.actor_names(step, lang))})")
            click.echo(stage_text(s))
        click.echo(f"  checksum of the whole plan: {checksum_of(plans)}")
    check_checksum(plans, checksum)
    if dry_run:
        if as_json:
            print_json(document(plans, None, labels))
        else:
            click.echo("Dry run: nothing applied.")
        return 0
    confirm_apply(f"the automated steps of {request_id}", yes)
    outcomes = pipe.run(staged)
    if as_json:
        print_json(document(plans, {"stages": [o.as_dict() for o in outcomes]}, labels))
    else:
        click.echo(f"{request_id}: automated steps up to {until} done.")
    return 0


def stage_text(s: Any) -> str:
    """One stage of the plan: its summary line, then its changes and notes indented."""
    from provision.render import plan_text

    plan = s.plan
    head = f"  step {s.step} {s.stage}: " + (plan.summary() if plan.changes or not plan.deferred
                                             else plan.deferred)
    lines = plan_text(plan).splitlines()[1:]
    body = [f"  {line}" for line in lines if not line.lstrip().startswith("checksum:")
            and not (not plan.changes and line.lstrip().startswith("(final when"))]
    return "\n".join([head, *body])
