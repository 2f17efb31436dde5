"""Offset and keyset pagination headers, checked raw and through python-gitlab."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from devstack.gitlab_emulator.emulator import GitLabEmulator

from .testing import api


def _groups(gitlab: GitLabEmulator, count: int) -> None:
    for i in range(count):
        gitlab.create_group(f"g{i:03d}")


def test_offset_headers_on_first_middle_and_last_page(gitlab: GitLabEmulator) -> None:
    _groups(gitlab, 45)
    first = api(gitlab, "GET", "/groups")
    assert len(first.json()) == 20
    assert first.headers["X-Page"] == "1"
    assert first.headers["X-Per-Page"] == "20"
    assert first.headers["X-Next-Page"] == "2"
    assert first.headers["X-Prev-Page"] == ""
    assert first.headers["X-Total"] == "45"
    assert first.headers["X-Total-Pages"] == "3"
    assert set(first.links) == {"next", "first", "last"}
    middle = requests.get(first.links["next"]["url"], headers={"PRIVATE-TOKEN": gitlab.root_token}, timeout=10)
    assert middle.headers["X-Page"] == "2"
    assert middle.headers["X-Prev-Page"] == "1"
    assert set(middle.links) == {"prev", "next", "first", "last"}
    last = api(gitlab, "GET", "/groups", params={"page": 3})
    assert len(last.json()) == 5
    assert last.headers["X-Next-Page"] == ""
    assert "next" not in last.links
    assert parse_qs(urlparse(last.links["last"]["url"]).query)["page"] == ["3"]
    assert parse_qs(urlparse(last.links["prev"]["url"]).query)["page"] == ["2"]


def test_pages_do_not_overlap_and_cover_everything(gitlab: GitLabEmulator) -> None:
    _groups(gitlab, 45)
    seen = []
    for page in (1, 2, 3):
        seen += [g["id"] for g in api(gitlab, "GET", "/groups", params={"page": page}).json()]
    assert len(seen) == 45 == len(set(seen))


def test_per_page_is_capped_at_100(gitlab: GitLabEmulator) -> None:
    _groups(gitlab, 105)
    response = api(gitlab, "GET", "/groups", params={"per_page": 500})
    assert len(response.json()) == 100
    assert response.headers["X-Per-Page"] == "100"
    assert response.headers["X-Total-Pages"] == "2"


def test_keyset_gives_only_a_next_link(gitlab: GitLabEmulator) -> None:
    _groups(gitlab, 45)
    params = {"pagination": "keyset", "order_by": "id", "sort": "asc", "per_page": 20}
    first = api(gitlab, "GET", "/groups", params=params)
    assert set(first.links) == {"next"}
    assert "X-Total" not in first.headers and "X-Next-Page" not in first.headers
    ids = [g["id"] for g in first.json()]
    url = first.links["next"]["url"]
    while url:
        page = requests.get(url, headers={"PRIVATE-TOKEN": gitlab.root_token}, timeout=10)
        ids += [g["id"] for g in page.json()]
        url = page.links.get("next", {}).get("url")
    assert ids == sorted(ids) and len(ids) == 45 == len(set(ids))


def test_python_gitlab_follows_keyset_links(gitlab: GitLabEmulator) -> None:
    _groups(gitlab, 30)
    groups = gitlab.client().groups.list(iterator=True, pagination="keyset", order_by="id", sort="asc", per_page=7)
    assert len([g.id for g in groups]) == 30


def test_get_all_reads_beyond_twenty_projects(gitlab: GitLabEmulator) -> None:
    gitlab.create_group("pemko")
    for i in range(25):
        gitlab.create_project(f"pemko/app{i:02d}", readme=False)
    client = gitlab.client()
    assert len(client.projects.list(get_all=False)) == 20
    assert len(client.projects.list(get_all=True)) == 25
    assert len(client.groups.get("pemko").projects.list(get_all=True)) == 25
