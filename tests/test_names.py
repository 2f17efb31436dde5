"""Name rules: labels, host names (IDNA 2008, look-alikes), slugs, GitLab names, branches."""

from __future__ import annotations

import pytest

from provision.names import (
    DEFAULT_RESERVED,
    check_branch_name,
    check_gitlab_path,
    check_gitlab_username,
    check_hostname,
    check_label,
    check_reserved,
    check_slug,
    to_ascii,
)


@pytest.mark.parametrize("label", ["a", "sisekolah", "dinas-pendidikan", "a1", "1a", "x" * 63, "abc--d", "xn--bb-bjab"])
def test_good_labels(label: str) -> None:
    assert check_label(label) is None


@pytest.mark.parametrize(
    "label, fragment",
    [
        ("", "empty label"),
        ("x" * 64, "the limit is 63"),
        ("-abc", "starts or ends with '-'"),
        ("abc-", "starts or ends with '-'"),
        ("ab--cd", "positions 3-4"),
        ("xn--abc", "not a valid IDNA A-label"),
        ("ab_c", "other than a-z, 0-9 and '-'"),
        ("a.b", "other than a-z, 0-9 and '-'"),
        ("Sisekolah", "upper-case"),
        ("_dmarc", "other than a-z"),
    ],
)
def test_bad_labels(label: str, fragment: str) -> None:
    msg = check_label(label)
    assert msg is not None and fragment in msg


def test_underscore_labels_only_when_allowed() -> None:
    assert check_label("_dmarc", allow_underscore=True) is None
    assert check_label("_acme-challenge", allow_underscore=True) is None
    assert check_label("_", allow_underscore=True) is not None
    assert check_label("a_b", allow_underscore=True) is not None


def test_hostname_total_length() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    assert len(name) == 253 and check_hostname(name) is None
    msg = check_hostname(name + "b")
    assert msg is not None and "at most 253" in msg


def test_absolute_names_and_empty_labels() -> None:
    assert check_hostname("web1.example.org.") is None
    assert "empty label" in (check_hostname("a..b") or "")
    assert "empty" in (check_hostname("") or "")
    assert "empty" in (check_hostname(".") or "")


# ---- internationalised names ----


def test_idn_converted_with_idna_2008() -> None:
    assert check_hostname("sekolah-bébé.sisekolah") is None
    assert to_ascii("sekolah-bébé.sisekolah") == "xn--sekolah-bb-j7ab.sisekolah"
    assert to_ascii("wisata.batam.go.id.") == "wisata.batam.go.id."
    # German sharp s: IDNA 2008 keeps it (IDNA 2003 mapped it to "ss").
    assert to_ascii("straße") == "xn--strae-oqa"


def test_idn_refused_when_not_allowed() -> None:
    assert "not allowed here" in (check_label("bébé", allow_idn=False) or "")
    assert "not allowed here" in (check_label("xn--bb-bjab", allow_idn=False) or "")


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("sise\u200bkolah", "invisible"),  # zero width space
        ("sise\u200dkolah", "invisible"),  # zero width joiner
        ("sise\u00adkolah", "invisible"),  # soft hyphen
        ("sise\ufeffkolah", "invisible"),  # byte order mark
        ("\uff53\uff45\uff4b\uff4f\uff4c\uff41\uff48", "not in normal form"),  # full-width "sekolah"
        ("Bébé", "not in normal form"),
        ("e\u0301cole", "not in normal form"),  # decomposed accent (not NFC)
        ("p\u0430ypal", "mixes scripts"),  # Cyrillic a inside Latin
        ("\u0430\u0440\u0435", "look like Latin"),  # Cyrillic "ape"
        ("\u0455\u0456\u0455\u0435\u043a\u043e\u04bb\u0430\u04bb", "look like Latin"),  # Cyrillic "sisekolah"-ish
        ("\u03bf\u03bd\u03bf", "look like Latin"),  # Greek "ovo"
    ],
)
def test_lookalikes_and_invisible_characters_refused(name: str, fragment: str) -> None:
    msg = check_hostname(name)
    assert msg is not None and fragment in msg, msg


@pytest.mark.parametrize("name", ["日本語", "пример", "ελληνικά", "bébé"])
def test_genuine_single_script_names_accepted(name: str) -> None:
    assert check_hostname(name) is None
    assert to_ascii(name).startswith("xn--")


def test_idna_invalid_codepoints_refused() -> None:
    msg = check_hostname("a\u2665b")  # a symbol: disallowed in IDNA 2008
    assert msg is not None and "IDNA 2008" in msg


def test_lookalike_hidden_in_an_a_label_refused() -> None:
    alabel = to_ascii("\u0430\u0440\u0435")
    msg = check_label(alabel)
    assert msg is not None and "look like Latin" in msg


# ---- reserved names and slugs ----


def test_default_reserved_list() -> None:
    for name in ("www", "mail", "ns1", "autodiscover", "wpad", "_dmarc", "localhost", "api"):
        assert name in DEFAULT_RESERVED
    assert check_reserved("WWW") is not None
    assert check_reserved("sisekolah") is None
    assert check_reserved("portal", ["portal"]) is not None
    assert check_reserved("www", []) is None


@pytest.mark.parametrize("slug", ["sisekolah", "simpeg-2", "ab", "a" * 32, "e-kinerja"])
def test_good_slugs(slug: str) -> None:
    assert check_slug(slug) is None


@pytest.mark.parametrize(
    "slug, fragment",
    [
        ("a", "2 to 32"),
        ("a" * 33, "2 to 32"),
        ("2sekolah", "start with a letter"),
        ("-sekolah", "start with a letter"),
        ("sekolah-", "must not end with '-'"),
        ("si--sekolah", "'--'"),
        ("si_sekolah", "other than a-z"),
        ("si.sekolah", "other than a-z"),
        ("SiSekolah", "upper-case"),
        ("sekolah-bébé", "not ASCII"),
        ("root", "system account"),
        ("www-data", "system account"),
        ("postgres", "system account"),
        ("template1", "system account"),
        ("information-schema", "system account"),
        ("mail", "system account"),
        ("www", "reserved"),
        ("autodiscover", "reserved"),
    ],
)
def test_bad_slugs(slug: str, fragment: str) -> None:
    msg = check_slug(slug)
    assert msg is not None and fragment in msg, msg


def test_slug_reserved_list_is_a_parameter() -> None:
    assert check_slug("portal") is None
    assert "reserved" in (check_slug("portal", reserved={"portal"}) or "")
    assert check_slug("api", reserved=()) is None
    assert "system account" in (check_slug("root", reserved=()) or "")


def test_non_strings_refused_without_raising() -> None:
    for fn in (check_label, check_hostname, check_slug, check_gitlab_username, check_gitlab_path, check_branch_name):
        assert fn(42) == "must be a string"  # type: ignore[arg-type]


# ---- GitLab and git ----


@pytest.mark.parametrize("name", ["budi.dev", "siti_lead", "rina-q", "_bot", "A1"])
def test_good_gitlab_usernames(name: str) -> None:
    assert check_gitlab_username(name) is None


@pytest.mark.parametrize("name", ["", "-budi", ".budi", "budi.", "budi.git", "budi.atom", "bu di", "budi..dev", "bu/di", "x" * 256])
def test_bad_gitlab_usernames(name: str) -> None:
    assert check_gitlab_username(name) is not None


def test_gitlab_group_paths() -> None:
    assert check_gitlab_path("disdik") is None
    assert check_gitlab_path("bkpsdm/aplikasi") is None
    for bad in ("", "/disdik", "disdik/", "a//b", "a/-b", "a/b.git", "a b"):
        assert check_gitlab_path(bad) is not None, bad


@pytest.mark.parametrize("name", ["main", "develop", "release/2026.1", "feature/x-y_z"])
def test_good_branches(name: str) -> None:
    assert check_branch_name(name) is None


@pytest.mark.parametrize(
    "name", ["", "a..b", "-x", "/x", "x/", "x.", "x.lock", "a/.b", "a b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "@", "a@{b", "a//b", "cabang-ü"]
)
def test_bad_branches(name: str) -> None:
    assert check_branch_name(name) is not None
