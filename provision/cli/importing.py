"""`provision import`: bring the applications made before the toolkit in as legacy
records, in one reviewed plan (docs/import.md)."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import change_options, check_checksum, command, confirm_apply, print_document, render_plan
from provision.cli.params import CHECKSUM


def _review_text(review: Any) -> str:
    lines = []
    if review.unmapped:
        lines.append("Sites without an OPD (listed, not imported; say who owns them with --map FILE):")
        lines += [f"  {u['host']}:{u['site']}  {', '.join(u['names']) or '(no server_name)'}" for u in review.unmapped]
    if review.unattributed:
        lines.append("Names nobody can attribute (no site, not in the map; a person decides):")
        lines += [f"  {n}" for n in review.unattributed]
    return "\n".join(lines)


@click.command("import")
@click.option("--map", "map_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="YAML: name or site file -> {opd_code, opd_name, application}.")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the plan is still the one reviewed (the checksum --dry-run shows).")
@change_options
@command()
def import_cmd(app: Any, map_file: str | None, checksum: str | None, dry_run: bool, yes: bool,
               as_json: bool) -> int:
    """Import the applications that already exist (zone, nginx sites) as legacy records.

    Reads the zone (AXFR) and every inventory server's enabled nginx sites (one SSH
    round trip per host), and plans one legacy request per application, its hosting
    registry row and ownership records for its names (adopted, audited). Applications
    without an OPD and names nobody can attribute are listed, not imported.

    \b
    Example:
      provision import --map estate.yaml --dry-run
      provision import --map estate.yaml --checksum 3f2a9c0d1e4b5a69 --yes
    """
    from provision.legacy import apply_legacy, load_map, plan_import, read_estate

    mapping = load_map(map_file)  # before anything is read
    estate = read_estate(app)
    plans, review = plan_import(app, estate, mapping, map_file)
    legacy, dnsplan = plans
    if not as_json:
        click.echo(render_plan(legacy).replace("legacy plan for import", "Legacy records", 1))
        click.echo(render_plan(dnsplan).replace("dns plan for import", "Ownership records in "
                                                + dnsplan.meta["zone"], 1))
        text = _review_text(review)
        if text:
            click.echo(text)
    check_checksum(plans, checksum)
    if dry_run or (legacy.empty and dnsplan.empty):
        if as_json:
            print_document(plans, {"review": review.as_dict(), "applied": False})
        else:
            click.echo("Dry run: nothing applied." if dry_run else "Nothing to import: every application "
                       "found is already recorded.")
        return 0
    confirm_apply(f"the import of {len(review.imported)} legacy applications "
                  f"({legacy.summary()}; ownership: {dnsplan.summary()})", yes)
    report = apply_legacy(app, legacy)
    result: dict[str, Any] = {"review": review.as_dict(), "legacy": report.as_dict()}
    if not report.ok:
        from provision.errors import PartialApply

        raise PartialApply(f"the import stopped: {len(report.applied)} of {len(legacy.changes)} legacy changes "
                           f"applied; {report.failed[0][0].target}: {report.failed[0][1]}.",
                           [c.target for c in report.applied], [c.target for c, _ in report.failed],
                           "Run `provision import` again: it plans what is still missing.")
    if not dnsplan.empty:
        from provision.dns import DnsProvider

        for rid, adopted in dnsplan.data["adopted"].items():  # as `dns apply --adopt --reason` records it
            app.audit.record("dns", "adopt", f"{rid} {dnsplan.meta['zone']}",
                             after={"reason": adopted["reason"], "names": adopted["names"]}, request_id=rid)
        dreport = DnsProvider.from_config(app.config).apply(dnsplan, app.audit)
        result["dns"] = dreport.as_dict()
    if as_json:
        print_document(plans, result)
    else:
        click.echo(f"Imported {len(review.imported)} legacy applications: {len(report.applied)} records written, "
                   f"{len(dnsplan.changes)} ownership records added.")
    return 0
