"""The settings pages and `.env.example` are what scripts/settings_docs.py makes of `Settings`, and the
container health checks agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gigaam_api.config import Settings
from scripts import settings_docs, settings_ru

ROOT = settings_docs.ROOT


@pytest.mark.parametrize("path", settings_docs.GENERATED, ids=str)
def test_the_generated_file_matches_settings(path: Path) -> None:
    expected = settings_docs.generate(path)
    on_disk = (ROOT / path).read_text(encoding="utf-8")
    assert on_disk == expected, f"{path} drifted from gigaam_api/config.py: run `make docs`"


def test_every_setting_is_described_in_english_and_russian() -> None:
    fields = Settings.model_fields
    assert [name for name, field in fields.items() if not (field.description or "").strip()] == []
    assert set(settings_ru.DESCRIPTIONS) == set(fields)
    computed = {name for name, field in fields.items() if settings_docs.computed_default(field)}
    assert set(settings_ru.COMPUTED_DEFAULTS) == computed


def test_every_computed_default_is_marked() -> None:
    """A default taken from the machine (a factory) must not be written into the generated files."""
    factories = {name for name, field in Settings.model_fields.items() if field.default_factory}
    unmarked = [n for n in factories if not settings_docs.computed_default(Settings.model_fields[n])]
    assert unmarked == []


def test_env_example_sets_every_value_to_its_default() -> None:
    from_example = Settings(_env_file=ROOT / ".env.example")
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()
    assert from_example.model_fields_set  # the file was read: it sets the plain defaults explicitly


def test_the_pages_list_the_deprecated_names() -> None:
    page = settings_docs.configuration_page(russian=False)
    assert "| `MAX_QUEUE` | *(unset)* | **deprecated** → `MAX_RUNNING`" in page
    assert "| `QUANTIZATION` | *(unset)* | **deprecated** → `GIGAAM_PRECISION`" in page
    for name in ("RUNTIME", "DEVICE", "PRECISION"):  # global names of GigaAM's own settings
        assert f"| `{name}` | *(unset)* | **deprecated** → `GIGAAM_{name}`" in page
    assert "| `MAX_UPLOADS` | MAX_RUNNING + MAX_WAITING |" in page
    example = settings_docs.env_example()
    assert "\n# MAX_QUEUE=\n" in example
    assert "\n# RUNTIME=\n" in example and "\nGIGAAM_RUNTIME=auto\n" in example
    assert "\n# MAX_UPLOADS=\n" in example


def _dockerfile_healthcheck() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^HEALTHCHECK .*\\\n\s*CMD (\[.*\])$", text, re.MULTILINE)
    assert match, "the Dockerfile has no HEALTHCHECK ... CMD [...]"
    command: list[str] = json.loads(match.group(1))
    return command


def _compose_healthcheck() -> list[str]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    tests = re.findall(r"^\s+test: (\[.*\])$", text, re.MULTILINE)
    assert len(tests) >= 1
    command: list[str] = json.loads(tests[0])  # the gigaam-api service comes first
    return command


def test_dockerfile_and_compose_check_the_same_endpoint() -> None:
    dockerfile = _dockerfile_healthcheck()
    assert ["CMD", *dockerfile] == _compose_healthcheck()
    assert "/ready'" in dockerfile[-1]
