"""The packaged SOP data and its strict loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.errors import ValidationError
from provision.sop import COMMANDS, default_sop_path, load_sop, load_sop_text

# The SOP's text as the client gave it (../shared/seed), shipped so the test runs everywhere.
SEED = Path(__file__).resolve().parent / "data" / "sop"


def test_packaged_sop_has_the_fifteen_steps() -> None:
    sop = load_sop()
    assert [s.number for s in sop.steps] == list(range(1, 16))
    assert sop.number == "11/SOP/Kominfo-PE/10/2018"
    assert [a.number for a in sop.actors] == [1, 2, 3, 4, 5]
    assert sop.actor(3).name_id == "Tim Teknis Dinas Komunikasi dan Informatika"


@pytest.mark.parametrize(
    "n, actors, days, output",
    [
        (1, [1], 1, "Surat Permohonan"),
        (3, [1], 3, "SK Tim Teknis OPD"),
        (5, [3, 4], 5, "Laporan Hasil Analisis"),
        (8, [1], 15, "KAK"),
        (11, [3], 1, "Sourcecode Repository"),
        (12, [5], None, "Petunjuk Instalasi"),
        (14, [3], 3, "Berita Acara Uji Instalasi"),
    ],
)
def test_steps_match_the_sop_table(n: int, actors: list[int], days: int | None, output: str) -> None:
    step = load_sop().step(n)
    assert step.actors == actors
    assert step.days == days
    assert output in step.outputs


def test_total_standard_time_is_38_working_days_plus_development() -> None:
    assert sum(s.days or 0 for s in load_sop().steps) == 38  # 1+1+3+1+5+2+2+15+1+1+1+1+3+1
    assert load_sop().step(12).days_note == "sesuai KAK"


def test_required_inputs_kelengkapan() -> None:
    sop = load_sop()
    assert sop.step(5).inputs == ["Dokumentasi daftar aplikasi Pemko Batam", "Dokumentasi Infrastruktur TIK Pemko Batam"]
    assert sop.step(7).inputs == ["Draft KAK"]


def test_only_the_technical_steps_are_automated() -> None:
    sop = load_sop()
    assert [s.number for s in sop.steps if s.automated] == [11, 14, 15]
    assert "repo apply" in sop.step(11).automated_by
    assert {"install", "test"} <= set(sop.step(14).automated_by)
    assert {"dns apply", "hosting apply", "report rekomendasi"} <= set(sop.step(15).automated_by)
    assert [s.number for s in sop.steps_automated_by("dns apply")] == [15]


def test_indonesian_titles_come_from_the_sop_text() -> None:
    text = " ".join((SEED / "SOP-11-Kominfo-PE-2018-pengembangan-aplikasi-oleh-OPD.txt").read_text(encoding="utf-8").split())
    for n in (1, 2, 3, 4, 8, 10, 11, 12):
        assert load_sop().step(n).title_id in text, n


def test_unknown_step_raises_key_error() -> None:
    with pytest.raises(KeyError, match="steps are 1 to 15"):
        load_sop().step(16)


def test_default_path_points_at_the_packaged_file() -> None:
    assert load_sop(default_sop_path()) == load_sop()


def _packaged() -> dict:
    return yaml.safe_load(Path(default_sop_path()).read_text(encoding="utf-8"))


def _problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as exc:
        load_sop_text(yaml.safe_dump(data, sort_keys=False), "custom-sop.yaml")
    assert "invalid SOP" in str(exc.value)
    return [(p.field, p.message) for p in exc.value.problems]


def test_replacement_file_with_other_times_loads(tmp_path: Path) -> None:
    data = _packaged()
    data["steps"][7]["days"] = 10
    f = tmp_path / "sop.yaml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_sop(f).step(8).days == 10


def test_bad_sop_reports_every_problem_with_fields() -> None:
    data = _packaged()
    data["steps"][0]["dayz"] = 1
    data["steps"][1]["days"] = "1"
    data["steps"][2]["actors"] = [9]
    data["steps"][3]["number"] = 5
    data["steps"][10]["automated_by"] = ["repo create"]
    data["steps"][11].pop("days_note")
    data["actors"][1]["number"] = 1
    got = _problems(data)
    fields = {f for f, _ in got}
    assert fields == {
        "steps[0].dayz", "steps[1].days", "steps[2].actors[0]", "steps[3].number",
        "steps[10].automated_by[0]", "steps[11].days", "actors[1].number",
        "steps[1].actors[0]",  # actor 2 no longer exists once actor[1] is renumbered
    }  # fmt: skip
    assert ("steps[2].actors[0]", "actor 9 is not defined under actors") in got
    assert ("actors[1].number", "actor 1 is defined twice") in got


def test_bad_sop_lines_are_reported() -> None:
    text = Path(default_sop_path()).read_text(encoding="utf-8").replace("    days: 15\n", "    days: 0\n")
    line = text.splitlines().index("    days: 0") + 1
    with pytest.raises(ValidationError) as exc:
        load_sop_text(text)
    assert [(p.field, p.line) for p in exc.value.problems] == [("steps[7].days", line)]


def test_unreadable_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the SOP file"):
        load_sop(tmp_path / "missing.yaml")


def test_commands_named_in_the_sop_exist_in_the_list() -> None:
    for s in load_sop().steps:
        assert set(s.automated_by) <= COMMANDS
