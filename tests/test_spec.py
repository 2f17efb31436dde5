"""Spec loading: every malformed file under tests/data/specs/bad/ is refused naming the
exact field, the line marked '#<' in the file and a fragment of the message given in its
header; every file under good/ loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provision.errors import ExitCode, ValidationError
from provision.spec import Spec, check_record_values, load_spec, spec_from_data
from provision.yamlsrc import load_yaml

DATA = Path(__file__).parent / "data" / "specs"
BAD = sorted((DATA / "bad").glob("*.yaml"))
GOOD = sorted((DATA / "good").glob("*.yaml"))
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "spec.yaml"

MINIMAL = 'version: 1\napplication:\n  slug: sisekolah\n  name: S\nruntime:\n  kind: php\n  version: "8.2"\nhosting:\n  host: web1\n'


def _expectation(path: Path) -> tuple[str, str, int]:
    text = path.read_text(encoding="utf-8")
    field = re.search(r"^# field: (.*)$", text, re.M)
    message = re.search(r"^# message: (.*)$", text, re.M)
    marked = [i for i, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("#<") and not line.startswith("#")]
    assert field and message and len(marked) == 1, f"{path.name}: header or '#<' marker missing"
    return field.group(1), message.group(1), marked[0]


def test_enough_bad_specs() -> None:
    assert len(BAD) >= 35


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_names_field_line_and_problem(path: Path) -> None:
    field, fragment, line = _expectation(path)
    with pytest.raises(ValidationError) as exc:
        load_spec(path.read_bytes(), "spec")
    err = exc.value
    assert err.exit_code == ExitCode.USAGE
    matching = [p for p in err.problems if p.field == field and fragment in p.message]
    assert matching, f"no problem on {field!r} containing {fragment!r}; got {err.problems!r}"
    assert matching[0].line == line, f"{field}: expected line {line}, got {matching[0].line}"
    assert f"{field} (line {line})" in str(err)


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_spec_loads_and_round_trips(path: Path) -> None:
    spec = load_spec(path.read_text(encoding="utf-8"), path.name)
    again = load_spec(spec.to_yaml(), "round-trip")
    assert again.to_dict() == spec.to_dict()


def test_good_specs_exist() -> None:
    assert len(GOOD) >= 3


def test_example_in_docs_is_valid() -> None:
    spec = load_spec(EXAMPLE.read_bytes(), "docs/examples/spec.yaml")
    assert spec.application.slug == "sisekolah"
    assert spec.fqdn("batam.go.id.") == "sisekolah.batam.go.id"
    assert spec.hostnames("batam.go.id") == ["sisekolah.batam.go.id", "sekolah.batam.go.id"]
    assert [r.type for r in spec.dns.records] == ["A", "AAAA", "CNAME", "CNAME", "TXT", "MX"]


def test_defaults() -> None:
    spec = load_spec(MINIMAL)
    assert spec.repository.visibility == "private"
    assert spec.repository.default_branch == "main"
    assert spec.repository.group is None
    assert spec.hosting.tls is True and spec.hosting.database == "none"
    assert spec.dns.records == []
    assert [(t.path, t.status) for t in spec.tests.smoke] == [("/", 200)]
    assert spec.documents.installation_guide == "docs/panduan-instalasi.md"
    assert spec.subdomain == "sisekolah"
    assert spec.line_of(("runtime", "version")) == 7


def test_every_problem_is_reported_together() -> None:
    text = MINIMAL.replace("slug: sisekolah", "slug: WWW").replace('"8.2"', "8.2") + "colour: red\n"
    with pytest.raises(ValidationError) as exc:
        load_spec(text)
    fields = sorted(p.field for p in exc.value.problems)
    assert fields == ["application.slug", "colour", "runtime.version"]
    assert "3 problems" in str(exc.value)


def test_yaml_and_rule_problems_reported_together() -> None:
    text = MINIMAL + 'dns:\n  records:\n    - {name: sisekolah, type: A, ttl: 5, values: ["1.2.3.400"]}\n'
    with pytest.raises(ValidationError) as exc:
        load_spec(text)
    got = {(p.field, p.line) for p in exc.value.problems}
    assert got == {("dns.records[0].ttl", 12), ("dns.records[0].values[0]", 12)}


def test_reserved_list_comes_from_the_caller() -> None:
    text = MINIMAL.replace("slug: sisekolah", "slug: portal")
    assert load_spec(text).application.slug == "portal"
    with pytest.raises(ValidationError, match="reserved"):
        load_spec(text, reserved=["portal"])
    assert load_spec(MINIMAL.replace("slug: sisekolah", "slug: api"), reserved=[]).application.slug == "api"


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"version: 1\napplication: \xc3\x28\n", "not valid UTF-8"),
        (b"version: 1\x00\n", "NUL byte"),
        (b"a: " + b"x" * (256 * 1024), "the limit is 262144 bytes"),
    ],
)
def test_bytes_refused_before_parsing(raw: bytes, fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_spec(raw, "s.yaml")
    assert exc.value.problems[0].field == "<s.yaml>"
    assert fragment in exc.value.problems[0].message


def test_billion_laughs_refused_without_expanding() -> None:
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    )
    with pytest.raises(ValidationError) as exc:
        load_yaml(lol, "lol")
    assert any("alias" in p.message for p in exc.value.problems)


def test_deep_nesting_refused() -> None:
    with pytest.raises(ValidationError, match="nested deeper than 32"):
        load_yaml("a: " + "[" * 200 + "]" * 200, "deep")


def test_line_map_points_at_keys_and_items() -> None:
    data, lines = load_yaml("a:\n  b:\n    - x\n    - {c: 1}\n", "t")
    assert data == {"a": {"b": ["x", {"c": 1}]}}
    assert lines[("a", "b")] == 2
    assert lines[("a", "b", 1, "c")] == 4


def test_idn_record_names_are_stored_as_a_labels() -> None:
    text = MINIMAL + "hosting:\n  host: web1\n  aliases: [sekolah-bébé]\n"
    text = text.replace("hosting:\n  host: web1\n", "", 1)
    spec = load_spec(text + 'dns:\n  records:\n    - {name: sekolah-bébé, type: CNAME, values: [sisekolah]}\n')
    assert spec.hosting.aliases == ["xn--sekolah-bb-j7ab"]
    assert spec.dns.records[0].name == "xn--sekolah-bb-j7ab"


def test_addresses_are_normalised() -> None:
    text = MINIMAL + 'dns:\n  records:\n    - {name: sisekolah, type: AAAA, values: ["2001:DB8:0:0::1"]}\n'
    assert load_spec(text).dns.records[0].values == ["2001:db8::1"]


def test_spec_from_data_without_lines() -> None:
    data = load_spec(MINIMAL).to_dict()
    data["hosting"]["tls"] = "no"
    with pytest.raises(ValidationError) as exc:
        spec_from_data(data)
    assert [(p.field, p.line) for p in exc.value.problems] == [("hosting.tls", None)]


# ---- check_record_values: the configuration-dependent checks ----


def _with_records(*records: str) -> Spec:
    body = "".join(f"    - {r}\n" for r in records)
    return load_spec(MINIMAL + "  aliases: [sekolah]\ndns:\n  records:\n" + body)


@pytest.mark.parametrize("addr", ["10.1.2.3", "127.0.0.1", "192.168.1.1", "169.254.0.1", "203.0.113.10", "0.0.0.0", "224.0.0.1"])
def test_private_ipv4_refused_unless_allowed(addr: str) -> None:
    spec = _with_records(f'{{name: sisekolah, type: A, values: ["{addr}"]}}')
    problems = check_record_values(spec, allow_private=False, allowed_cname_suffixes=[], zone="batam.go.id")
    assert [(p.field, p.line) for p in problems] == [("dns.records[0].values[0]", 13)]
    assert "not a public address" in problems[0].message
    assert check_record_values(spec, allow_private=True, allowed_cname_suffixes=[], zone="batam.go.id") == []


def test_public_addresses_pass() -> None:
    spec = _with_records('{name: sisekolah, type: A, values: ["103.10.20.30"]}', '{name: sisekolah, type: AAAA, values: ["2400:cb00::1"]}')
    assert check_record_values(spec, False, [], "batam.go.id") == []


def test_private_ipv6_refused() -> None:
    spec = _with_records('{name: sisekolah, type: AAAA, values: ["2400:cb00::1", "fd00::1", "::1"]}')
    problems = check_record_values(spec, False, [], "batam.go.id")
    assert [p.field for p in problems] == ["dns.records[0].values[1]", "dns.records[0].values[2]"]


def test_cname_targets_outside_zone_need_an_allowed_suffix() -> None:
    spec = _with_records(
        "{name: www.sisekolah, type: CNAME, values: [lb.hosting.example.net.]}",
        "{name: sekolah, type: CNAME, values: [web1.batam.go.id.]}",
        "{name: a.sisekolah, type: CNAME, values: [sisekolah]}",
    )
    problems = check_record_values(spec, True, [], "batam.go.id")
    assert [p.field for p in problems] == ["dns.records[0].values[0]"]
    assert "outside batam.go.id" in problems[0].message
    assert check_record_values(spec, True, ["example.net"], "batam.go.id") == []


def test_cname_to_itself_refused() -> None:
    spec = _with_records("{name: www.sisekolah, type: CNAME, values: [www.sisekolah]}")
    problems = check_record_values(spec, True, [], "batam.go.id")
    assert [p.message for p in problems] == ["a CNAME cannot point at itself"]


def test_name_too_long_with_the_zone() -> None:
    long_name = ".".join(["a" * 60] * 3) + ".sisekolah"  # 193 characters
    spec = _with_records(f'{{name: {long_name}, type: TXT, values: ["x"]}}')
    assert check_record_values(spec, True, [], "batam.go.id") == []
    zone = ("b" * 50 + ".") * 1 + "go.id"  # 56 characters: 193 + 1 + 56 = 250
    assert check_record_values(spec, True, [], zone) == []
    problems = check_record_values(spec, True, [], "c" * 10 + "." + zone)
    assert [p.field for p in problems] == ["dns.records[0].name"]


def test_absolute_aliases_inside_the_zone_are_checked_when_the_zone_is_known() -> None:
    from provision.spec import check_aliases

    spec = load_spec(MINIMAL + "  aliases: [sekolah, www.batam.go.id., batam.go.id., a.sisekolah.batam.go.id., x.example.org.]\n")
    problems = check_aliases(spec, "batam.go.id.")
    assert [(p.field, p.line) for p in problems] == [("hosting.aliases[1]", 10), ("hosting.aliases[2]", 10),
                                                    ("hosting.aliases[4]", 10)]
    assert "reserved" in problems[0].message and "zone itself" in problems[1].message
    assert "'x.example.org.' is outside batam.go.id and the configured hosting.alias_suffixes" in problems[2].message
    assert check_aliases(spec, "batam.go.id", reserved=[])[0].field == "hosting.aliases[2]"
    # an outside domain only under a configured suffix (issue 13)
    assert [p.field for p in check_aliases(spec, "batam.go.id", suffixes=["example.org."])] == [
        "hosting.aliases[1]", "hosting.aliases[2]"]


def test_alias_equal_to_the_main_name_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        load_spec(MINIMAL + "  aliases: [sisekolah]\n")
    assert [(p.field, p.message) for p in exc.value.problems] == [("hosting.aliases[0]", "'sisekolah' is the application's own name already")]


# ---- issue 13: the configured reserved names, and text that would reach Ansible ----


def _cli_spec(home: Path, text: str) -> Path:
    path = home / "app.yaml"
    path.write_text(text)
    return path


def test_spec_validate_and_set_apply_the_configured_reserved_names(provision_home: Path) -> None:
    from tests.helpers import run_cli

    cfg = provision_home / "provision.toml"
    cfg.write_text(cfg.read_text() + '[names]\nreserved = ["sisekolah", "www"]\n')
    spec = _cli_spec(provision_home, MINIMAL)
    r = run_cli("spec", "validate", str(spec))
    assert r.exit_code == 2, r
    assert "application.slug (line 3): 'sisekolah' is reserved" in r.stderr, r.stderr
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", "S",
                "--letter-number", "005/X/2026", "--letter-date", "2026-11-02", "--id", "REQ-2026-0001")
    assert r.exit_code == 0, r
    r = run_cli("spec", "set", "REQ-2026-0001", str(spec))
    assert r.exit_code == 2 and "'sisekolah' is reserved" in r.stderr, r
    r = run_cli("spec", "show", "REQ-2026-0001")
    assert r.exit_code == 2 and "has no spec" in r.stderr, r  # nothing stored
    other = _cli_spec(provision_home, MINIMAL.replace("slug: sisekolah", "slug: portal"))
    r = run_cli("spec", "validate", str(other))  # 'portal' is on the packaged list, not on this one
    assert r.exit_code == 0 and "valid spec for portal" in r.stdout, r


def test_spec_validate_refuses_jinja_naming_the_field(provision_home: Path) -> None:
    from tests.helpers import run_cli

    text = MINIMAL.replace("hosting:", "  env:\n    APP_X: \"{{ lookup('pipe', 'id') }}\"\nhosting:")
    r = run_cli("spec", "validate", str(_cli_spec(provision_home, text)))
    assert r.exit_code == 2, r
    assert "runtime.env.APP_X (line 9): holds a template delimiter" in r.stderr, r.stderr


def test_multiline_description_keeps_newlines_and_tabs() -> None:
    text = MINIMAL.replace("  name: S\n", '  name: S\n  description: "Baris satu\\n\\tbaris dua"\n')
    assert load_spec(text).application.description == "Baris satu\n\tbaris dua"


@pytest.mark.parametrize("value", [".", "public", "web/public_html", "./dist", ".well-known/x", "a-b/c.d_e/"])
def test_paths_that_pass_the_one_rule(value: str) -> None:
    text = MINIMAL.replace("hosting:", f'  document_root: "{value}"\nhosting:')
    assert load_spec(text).runtime.document_root == value
