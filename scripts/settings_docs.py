"""Write `.env.example`, docs/configuration.md and docs/ru/configuration.md from `Settings`.

`make docs` runs it (`python -m scripts.settings_docs`); tests/unit/test_settings_docs.py fails when the
files on disk differ from what it produces. Names, defaults and English descriptions come from the
fields of `gigaam_api.config.Settings`; the Russian descriptions from scripts/settings_ru.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from pydantic.fields import FieldInfo

from gigaam_api.config import Settings
from scripts import settings_ru

ROOT = Path(__file__).resolve().parent.parent

# (first setting of the group in Settings' order, English title, Russian title), in the pages' order.
# Each engine family's settings come first in Settings (they are its base classes): shown after the model.
GROUPS = (
    ("MODEL", "Model and weights", "Модель и веса"),
    ("GIGAAM_RUNTIME", "GigaAM", "GigaAM"),
    ("QWEN_DEVICE", "Qwen3-ASR", "Qwen3-ASR"),
    ("HOST", "HTTP", "HTTP"),
    ("DIRECT_MAX_SECONDS", "Long audio", "Длинные записи"),
    ("IDLE_UNLOAD_SECONDS", "Resources", "Ресурсы"),
    ("DEDUP", "Deduplicated retries", "Повторы без повторной работы"),
    ("JOBS_DIR", "Jobs", "Задания"),
)


def _extra(field: FieldInfo, key: str) -> str | None:
    extra = field.json_schema_extra
    value = extra.get(key) if isinstance(extra, dict) else None
    return value if isinstance(value, str) else None


def computed_default(field: FieldInfo) -> str | None:
    """How Settings computes the default when it is not one value (the CPUs, a path, other settings)."""
    return _extra(field, "computed_default")


def replaced_by(field: FieldInfo) -> str | None:
    """The setting a deprecated name stands for."""
    return _extra(field, "replaced_by")


def env_value(value: object) -> str:
    """A default as it is written in the environment."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(
            (f"{v[0]}" if v[0] == v[1] else f"{v[0]}-{v[1]}") if isinstance(v, tuple) else str(v)
            for v in value
        )
    return str(value)


def grouped() -> list[tuple[tuple[str, str], list[tuple[str, FieldInfo]]]]:
    """Settings' fields cut into GROUPS (each group starts at its first setting), in GROUPS' order."""
    starts = {first for first, _, _ in GROUPS}
    fields: dict[str, list[tuple[str, FieldInfo]]] = {}
    group = next(iter(Settings.model_fields))
    assert group in starts, f"{group}, the first setting, starts no group"
    for name, field in Settings.model_fields.items():
        group = name if name in starts else group
        fields.setdefault(group, []).append((name, field))
    return [((en, ru), fields[first]) for first, en, ru in GROUPS]


def env_example() -> str:
    lines = [
        "# gigaam-api settings, generated from gigaam_api/config.py by `make docs` (do not edit by hand).",
        "# Copy to .env (read from the working directory) or set as environment variables. Every value is",
        "# the default; a commented line is a default computed at start, or a deprecated name.",
        "# Descriptions: docs/configuration.md.",
    ]
    for (title, _), fields in grouped():
        lines += ["", f"# --- {title} ---"]
        for name, field in fields:
            text = (field.description or "").replace("`", "")
            computed, replacement = computed_default(field), replaced_by(field)
            if computed:
                text += f" (default: {computed})"
            if replacement:
                text = f"Deprecated: use {replacement}. {text}"
            lines += textwrap.wrap(text, 108, initial_indent="# ", subsequent_indent="# ")
            unset = computed or replacement
            lines.append(f"# {name}=" if unset else f"{name}={env_value(field.get_default())}")
    return "\n".join(lines) + "\n"


def _russian(table: dict[str, str], name: str) -> str:
    if name not in table:
        raise KeyError(f"{name} has no Russian wording in scripts/settings_ru.py")
    return table[name]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def configuration_page(*, russian: bool) -> str:
    if russian:
        head = [
            "# Настройки",
            "",
            "Сгенерировано из `gigaam_api/config.py` командой `make docs`; не редактируйте вручную.",
            "Настройки берутся из переменных окружения или из файла `.env` в рабочем каталоге (образец —",
            "[`.env.example`](../../.env.example)). Регистр имён не важен. При недопустимом значении сервис",
            "не запускается (код выхода 2) и называет каждую неверную переменную.",
        ]
        columns, unset, empty, deprecated = (
            "| переменная | по умолчанию | назначение |",
            "не задано",
            "пусто",
            "устарело",
        )
    else:
        head = [
            "# Configuration",
            "",
            "Generated from `gigaam_api/config.py` by `make docs`; do not edit by hand. Settings come from",
            "environment variables or from a `.env` file in the working directory (see",
            "[`.env.example`](../.env.example)). Names are case-insensitive. An invalid value stops the",
            "start (exit status 2) with a message that names each offending variable.",
        ]
        columns, unset, empty, deprecated = "| variable | default | meaning |", "unset", "empty", "deprecated"
    lines = head
    old_names = []
    for (en, ru), fields in grouped():
        lines += ["", f"## {ru if russian else en}", "", columns, "|---|---|---|"]
        for name, field in fields:
            computed, replacement = computed_default(field), replaced_by(field)
            if computed:
                default = _russian(settings_ru.COMPUTED_DEFAULTS, name) if russian else computed
            else:
                value = env_value(field.get_default())
                default = f"`{value}`" if value else f"*({unset if field.get_default() is None else empty})*"
            text = _russian(settings_ru.DESCRIPTIONS, name) if russian else (field.description or "")
            if replacement:
                text = f"**{deprecated}** → `{replacement}`: {text}"
                old_names.append(f"`{name}` → `{replacement}`")
            lines.append(f"| `{name}` | {_cell(default)} | {_cell(text)} |")
    if russian:
        lines += [
            "",
            "Устаревшие имена работают, но при старте пишут предупреждение: " + ", ".join(old_names) + ".",
        ]
    else:
        lines += ["", "Deprecated names still work and log a warning at start: " + ", ".join(old_names) + "."]
    return "\n".join(lines) + "\n"


GENERATED = (Path(".env.example"), Path("docs/configuration.md"), Path("docs/ru/configuration.md"))


def generate(path: Path) -> str:
    """The content of one of GENERATED (a path relative to the repository)."""
    if path == GENERATED[0]:
        return env_example()
    return configuration_page(russian=path == GENERATED[2])


def main() -> None:
    for path in GENERATED:
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(generate(path), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
