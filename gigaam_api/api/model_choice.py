"""Which served model takes a request: by its `model`, else by its `language`. Pure.

A request that names a served model (any spelling the registry accepts) gets that model. One that names
an alias (`whisper-1` ...) or no model is routed by language: the most specialised model that transcribes
it (the one with the fewest languages, so Russian goes to GigaAM when a multilingual model is also
served; ties go to the model listed first); without a language, the default model (MODEL).

`languages[]` naming one language is that language (the form sets `language` from it). Naming several,
it routes like one language does, to the most specialised model that transcribes all of them; a named
model must transcribe all of them. `language`, when also given, decides alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from gigaam_api.engines.base import Capabilities
from gigaam_api.engines.registry import canonical_model_name
from gigaam_api.errors import APIError, bad_request


def choose_model(
    model: str | None,
    language: str | None,
    served: Sequence[Capabilities],
    *,
    default: str,
    aliases: Sequence[str],
    languages: Sequence[str] = (),
) -> str:
    """The id of the model that takes the request; a 400 that names what is available otherwise."""
    if language is None and len(languages) > 1:
        return _by_languages(model, languages, served, aliases)
    if model is not None and model not in aliases:
        chosen = _named(model, served, aliases)
        if language is not None and language not in chosen.languages:
            raise _language_error(language, served, chosen)
        return chosen.model_id
    if language is None:
        return default
    able = [caps for caps in served if language in caps.languages]
    if not able:
        raise _language_error(language, served, None)
    return min(able, key=lambda caps: len(caps.languages)).model_id


def _by_languages(
    model: str | None,
    languages: Sequence[str],
    served: Sequence[Capabilities],
    aliases: Sequence[str],
) -> str:
    wanted = set(languages)
    if model is not None and model not in aliases:
        chosen = _named(model, served, aliases)
        able = [chosen] if wanted <= chosen.languages else []
    else:
        able = [caps for caps in served if wanted <= caps.languages]
    if able:
        return min(able, key=lambda caps: len(caps.languages)).model_id
    asked = ", ".join(languages)
    scope = (
        f"model {model} does not" if model is not None and model not in aliases else "no served model does"
    )
    raise bad_request(
        f"Unsupported languages {asked}: {scope} transcribe all of them. Served: {describe(served)}.",
        param="languages",
        code="unsupported_language",
    )


def describe(served: Sequence[Capabilities]) -> str:
    """`gigaam-v3-ctc (ru), qwen3-asr-0.6b (ar, cs, ...)`: each served model and its languages."""
    return ", ".join(f"{caps.model_id} ({', '.join(sorted(caps.languages))})" for caps in served)


def _named(model: str, served: Sequence[Capabilities], aliases: Sequence[str]) -> Capabilities:
    try:
        wanted = canonical_model_name(model)
    except ValueError:
        wanted = None
    for caps in served:
        if caps.model_id == wanted:
            return caps
    ids = ", ".join(caps.model_id for caps in served)
    raise bad_request(
        f"The model `{model}` is not served here. Served models: {ids}; aliases that route by language: "
        f"{', '.join(aliases) or '(none)'}.",
        param="model",
        code="model_not_found",
    )


def _language_error(language: str, served: Sequence[Capabilities], chosen: Capabilities | None) -> APIError:
    able = [caps.model_id for caps in served if language in caps.languages]
    if chosen is not None:
        instead = f" Use {' or '.join(able)} for it" if able else " No model served here transcribes it"
        message = (
            f"Unsupported language {language!r} for model {chosen.model_id}: it transcribes "
            f"{', '.join(sorted(chosen.languages))}.{instead}."
        )
    else:
        message = (
            f"Unsupported language {language!r}: no model served here transcribes it. "
            f"Served: {describe(served)}."
        )
    return bad_request(message, param="language", code="unsupported_language")
