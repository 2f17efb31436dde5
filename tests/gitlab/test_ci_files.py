"""The pipeline files the toolkit ships validate against GitLab's published CI schema
(tests/data/gitlab-ci-schema/, see SOURCE.md there), checked with the `jsonschema` package."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from provision.gitlab.seed import ops_ci_file, seed_files

from .test_units import _desired

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "gitlab-ci-schema" / "ci.json").read_text())


def errors(text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text)))


def test_the_schema_is_gitlabs_and_catches_a_broken_file() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "https://gitlab.com/.gitlab-ci.yml"
    broken = ops_ci_file("pemko-batam/ops/ci").replace("script:", "scirpt:")
    assert errors(broken), "a job without script (and an unknown key) must not validate"
    assert errors("deploy:\n  stage: deploy\n  script: [echo]\n  rules: [{if: '$X', when: sometimes}]\n")


@pytest.mark.parametrize("runner_tag", ["kominfo-provision", "kominfo.staging_1"])
def test_the_operations_install_yml_validates(runner_tag: str) -> None:
    assert errors(ops_ci_file("pemko-batam/ops/ci", "install.yml", runner_tag)) == []


def test_the_seeded_trigger_job_validates() -> None:
    d = _desired(ci_mode="trigger")
    assert errors(seed_files(d)[".gitlab-ci.yml"]) == []
