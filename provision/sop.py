"""The SOP as data: the steps, actors, standard times, outputs and required inputs.

The packaged file is `provision/data/sop.yaml`; configuration may name a replacement
file. Validation is as strict as for specs: unknown keys, wrong types, steps not
numbered 1..N, actors not defined, commands that do not exist are all reported together
as one `ValidationError` with field paths and YAML lines.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path as FsPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from .errors import Problem, ValidationError
from .words import WORDS, word  # noqa: F401 - where they were first; the CLI imports provision.words
from .yamlsrc import Path, format_path, line_for, load_yaml, problems_from_pydantic

__all__ = ["COMMANDS", "WORDS", "Actor", "Sop", "Step", "default_sop_path", "load_sop", "load_sop_text", "word"]

#: The toolkit commands a step may name in `automated_by` (as typed after `provision`).
COMMANDS: frozenset[str] = frozenset(
    {
        "repo plan", "repo apply", "install", "test", "dns plan", "dns apply", "dns delete",
        "hosting plan", "hosting apply", "hosting delete", "report berita-acara",
        "report rekomendasi", "exec", "check",
    }
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Actor(_Model):
    number: int = Field(ge=1)
    name_id: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


class Step(_Model):
    number: int = Field(ge=1)
    title_id: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    actors: list[int] = Field(min_length=1)
    days: int | None = Field(ge=1, le=365)  # working days; None: set per request
    days_note: str | None = None
    outputs: list[str] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)  # kelengkapan
    automated_by: list[str] = Field(default_factory=list)

    @property
    def automated(self) -> bool:
        return bool(self.automated_by)

    def title(self, language: str = "id") -> str:
        return self.title_id if language == "id" else self.title_en


class Sop(_Model):
    version: Literal[1]
    number: str = Field(min_length=1)
    title_id: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    issuer: str | None = None
    effective: date | None = None
    warning_id: str | None = None
    actors: list[Actor] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)

    def step(self, n: int) -> Step:
        """Step number `n`. Raises KeyError naming the valid range."""
        for s in self.steps:
            if s.number == n:
                return s
        raise KeyError(f"the SOP has no step {n}; steps are 1 to {len(self.steps)}")

    def actor(self, n: int) -> Actor:
        for a in self.actors:
            if a.number == n:
                return a
        raise KeyError(f"the SOP has no actor {n}")

    def steps_automated_by(self, command: str) -> list[Step]:
        return [s for s in self.steps if command in s.automated_by]

    def actor_names(self, step: Step, language: str = "id") -> list[str]:
        """The names of the step's actors in `language` ("id" or "en")."""
        return [a.name_id if language == "id" else a.name_en for a in map(self.actor, step.actors)]


def _rules(data: dict[str, Any]) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    actors: list[Any] = data["actors"] if isinstance(data.get("actors"), list) else []
    known: set[int] = set()
    for i, a in enumerate(actors):
        n = a.get("number") if isinstance(a, dict) else None
        if isinstance(n, int) and not isinstance(n, bool):
            if n in known:
                out.append((("actors", i, "number"), f"actor {n} is defined twice"))
            known.add(n)
    steps = data["steps"] if isinstance(data.get("steps"), list) else []
    for i, s in enumerate(steps):
        if not isinstance(s, dict):
            continue
        n = s.get("number")
        if isinstance(n, int) and not isinstance(n, bool) and n != i + 1:
            out.append((("steps", i, "number"), f"steps are numbered 1, 2, 3... in order: expected {i + 1}, got {n}"))
        for j, a in enumerate(s["actors"] if isinstance(s.get("actors"), list) else []):
            if isinstance(a, int) and not isinstance(a, bool) and a not in known:
                out.append((("steps", i, "actors", j), f"actor {a} is not defined under actors"))
        for j, c in enumerate(s["automated_by"] if isinstance(s.get("automated_by"), list) else []):
            if isinstance(c, str) and c not in COMMANDS:
                out.append((("steps", i, "automated_by", j), f"{c!r} is not a provision command: one of {', '.join(sorted(COMMANDS))}"))
        if "days" in s and s.get("days") is None and not s.get("days_note"):
            out.append((("steps", i, "days"), "null days needs a days_note saying who sets the time (e.g. 'sesuai KAK')"))
    return out


def load_sop_text(text: str | bytes, source: str = "<sop>") -> Sop:
    """Parse and validate SOP YAML. Raises ValidationError (what="SOP") with every problem."""
    data, lines = load_yaml(text, source)
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ValidationError([Problem(f"<{source.strip('<>')}>", "the SOP file must be a mapping", 1)], "SOP")
    sop: Sop | None = None
    try:
        sop = Sop.model_validate(data)
    except PydanticValidationError as e:
        problems += problems_from_pydantic(e, lines, f"<{source.strip('<>')}>")
    for path, msg in _rules(data):
        problems.append(Problem(format_path(path), msg, line_for(lines, path)))
    if problems:
        raise ValidationError(sorted(problems, key=lambda p: p.line or 0), "SOP")
    assert sop is not None
    return sop


def default_sop_path() -> str:
    """Where the packaged SOP file is (inside the installed package or the checkout)."""
    return str(resources.files("provision") / "data" / "sop.yaml")


def load_sop(path: str | FsPath | None = None) -> Sop:
    """Load the SOP from `path`, or the packaged one. Raises ValidationError; an unreadable
    file is reported as a problem too (field `<path>`)."""
    if path is None:
        text = (resources.files("provision") / "data" / "sop.yaml").read_bytes()
        return load_sop_text(text, "provision/data/sop.yaml")
    try:
        text = FsPath(path).read_bytes()
    except OSError as e:
        raise ValidationError([Problem(f"<{path}>", f"cannot read the SOP file: {e.strerror}")], "SOP") from e
    return load_sop_text(text, str(path))
