"""The READMEs and docs/ cannot rot: their commands and examples are run or checked against the code.

- every `curl` line of a shell block runs against a real server (the generated model), in a directory
  holding a real speech file under every name the examples upload; its status and body shape are checked;
- every Python block that uses the `openai` client runs against that server, the client strict;
- every `gigaam-api transcribe` command runs with the installed script on the generated model;
- the other Python blocks compile and the JSON blocks parse;
- every `make TARGET` is a Makefile target, every `gigaam-api COMMAND --flag` is in the CLI's parser,
  every UPPER_CASE name set or quoted is a setting (or another program's, listed below, or a name of the
  Python file the same line names), every `path.py` and `package/` named is in the repository;
- docs/decisions.md keeps history, but names a moved file only beside its new path;
- every relative link and anchor resolves, the English and Russian pages are the same set, and each pair
  has as many headings and code blocks; the READMEs stay short and link every page of docs/.

A block that cannot run here carries `<!-- docs-test: skip (reason) -->` (tests/fixtures/markdown_docs.py).
Such a block is not run (nor reported as a skipped test): one test holds the marked blocks to the expected
set below and gives each the static checks.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gigaam_api import cli
from gigaam_api.config import Settings
from tests.fixtures import markdown_docs as md
from tests.fixtures.fake_llm import fake_llm
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import FORMATS, PHRASES, decode, encode, long_speech, require_espeak

ROOT = md.ROOT
DOCS = md.doc_paths()
INSTRUCTIONS = [p for p in DOCS if md.relative(p) not in md.HISTORY]
BLOCKS = [block for path in DOCS for block in md.blocks(path)]
RUNNABLE = [block for block in BLOCKS if not block.skip]
MARKED = [block for block in BLOCKS if block.skip]
DOCS_HOST = "http://127.0.0.1:8000"
JOB_PLACEHOLDER = "job_…"  # the docs' stand-in for the id the submission above returned
# The blocks that cannot run here, as (page, language, reason): each shown in English and Russian.
EXPECTED_MARKED = sorted(
    [
        *[(page, "sh", "needs Docker") for page in ("README.md", "README_ru.md")],
        *[(f"docs/{ru}operations.md", "sh", "needs Docker") for ru in ("", "ru/")],
        *[
            (f"docs/{ru}clients.md", lang, "needs a LiteLLM proxy")
            for ru in ("", "ru/")
            for lang in ("sh", "python")
        ],
        *[(f"docs/{ru}clients.md", "sh", "needs the Wyoming-OpenAI bridge") for ru in ("", "ru/")],
        *[
            (f"docs/{ru}models-and-runtimes.md", "sh", "installs torch from the network")
            for ru in ("", "ru/")
        ],
    ]
)
MAX_MARKED = 12
README_MAX_WORDS = 1500

# Upper-case names the docs quote that are not settings of this server: other programs' environment
# (Open WebUI, LiteLLM, Wyoming-OpenAI, uvicorn, pip, the shell), OpenVINO's properties, signals, errno.
NOT_SETTINGS = frozenset(
    {
        "AIOHTTP_CLIENT_TIMEOUT",
        "AUDIO_STT_ENGINE",
        "AUDIO_STT_MODEL",
        "AUDIO_STT_OPENAI_API_BASE_URL",
        "AUDIO_STT_OPENAI_API_KEY",
        "AUDIO_STT_OPENAI_API_REQUEST_FORMAT",
        "BYPASS_PYDUB_PREPROCESSING",
        "CPU_RUNTIME_CACHE_CAPACITY",  # OpenVINO's
        "ENOSPC",
        "FORWARDED_ALLOW_IPS",
        "GIGAAM_API_KEY",
        "GIGAAM_TEST_GPU",
        "HEALTHCHECK",
        "HOME",
        "INFERENCE_NUM_THREADS",
        "LITELLM_LOCAL_MODEL_COST_MAP",
        "LITELLM_MASTER_KEY",
        "MALLOC_ARENA_MAX",  # glibc's
        "ONEDNN_PRIMITIVE_CACHE_CAPACITY",  # oneDNN's
        "PATH",
        "PIP_FIND_LINKS",
        "SIGINT",
        "SIGKILL",
        "SIGSTOP",
        "SIGTERM",
        "SIGUSR1",
        "STT_MODELS",
        "STT_OPENAI_KEY",
        "STT_OPENAI_URL",
        "STT_STREAMING_MODELS",
        "WYOMING_LANGUAGES",
        "WYOMING_URI",
    }
)


def _ids(blocks: list[md.Block]) -> list[str]:
    return [b.where for b in blocks]


def _uses_openai(block: md.Block) -> bool:
    return (
        block.lang == "python"
        and re.search(r"^\s*(from openai import|import openai)", block.text, re.M) is not None
    )


CURL_BLOCKS = [
    b for b in RUNNABLE if b.lang in ("sh", "bash") and any(w[0] == "curl" for w in md.shell_commands(b.text))
]
OPENAI_BLOCKS = [b for b in RUNNABLE if _uses_openai(b)]
OTHER_PYTHON = [b for b in BLOCKS if b.lang == "python" and not _uses_openai(b)]
JSON_BLOCKS = [b for b in BLOCKS if b.lang == "json"]


# --- examples run against a real server -------------------------------------------------------------


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every file name the examples upload, as real speech long enough for several segments."""
    require_espeak()
    root = tmp_path_factory.mktemp("docs-examples")
    speech, _ = long_speech([*PHRASES.values()] * 4, [0.8] * 7)
    names = set()
    for block in CURL_BLOCKS + OPENAI_BLOCKS:
        names |= set(re.findall(r"@([\w.-]+\.\w+)", block.text))
        names |= set(re.findall(r"open\(\"([\w.-]+\.\w+)\"", block.text))
    for name in sorted(names):
        fmt = name.rsplit(".", 1)[1]
        assert fmt in FORMATS, f"an example uploads {name}: use a format the tests can make ({FORMATS})"
        encode(speech, root / name, fmt)
    return root


@pytest.fixture
def in_examples_dir(examples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with the example files, so `-o out.srt` lands nowhere shared."""
    for path in examples_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_curl(words: list[str], url: str, job_id: str | None) -> tuple[int, str]:
    args = [w.replace(DOCS_HOST, url) for w in words[1:]]
    if any(JOB_PLACEHOLDER in a for a in args):
        assert job_id is not None, "a job id placeholder before any job was submitted"
        args = [a.replace(JOB_PLACEHOLDER, job_id) for a in args]
    assert not any("127.0.0.1:8000" in a for a in args), (
        "an example names the server other than as " + DOCS_HOST
    )
    done = subprocess.run(
        ["curl", *args, "--max-time", "120", "-sS", "-w", "%{stderr}\n%{http_code}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status = int(done.stderr.strip().splitlines()[-1])
    output = args[args.index("-o") + 1] if "-o" in args else None
    body = Path(output).read_text(encoding="utf-8") if output else done.stdout
    return status, body


def _check_body(body: str) -> str | None:
    """The job id in the body, if any, after checking that the body is a transcription's shape."""
    assert body.strip(), "an empty body"
    if body.startswith("data: "):
        events = [json.loads(ln[len("data: ") :]) for ln in body.splitlines() if ln.startswith("data: ")]
        assert "error" not in events[-1], events[-1]
        assert events[-1]["type"] == "transcript.text.done" and events[-1]["text"].strip()
        return None
    if body.lstrip().startswith("{"):
        parsed: dict[str, Any] = json.loads(body)
        assert parsed.get("error") is None, parsed
        job_id = parsed.get("id")
        assert job_id is not None or str(parsed.get("text", "")).strip(), parsed
        return job_id if isinstance(job_id, str) and job_id.startswith("job_") else None
    assert re.search(r"\w", body), body  # text, SRT or WebVTT
    return None


@pytest.fixture(scope="module")
def translating_server(settings_factory: Callable[..., Settings]) -> Iterator[LiveServer]:
    """A server whose translations go to the tests' fake LLM (tests/fixtures/fake_llm.py)."""
    with fake_llm() as llm:
        live = start_server(settings_factory(TRANSLATION_BASE_URL=llm.url, TRANSLATION_MODEL="fake"))
        yield live
        live.stop()


def _server_for(block: md.Block, request: pytest.FixtureRequest) -> LiveServer:
    """The translation page's examples need an LLM behind the server; the others the default server."""
    name = "translating_server" if Path(block.path).name == "translations.md" else "server"
    live: LiveServer = request.getfixturevalue(name)
    return live


@pytest.mark.parametrize("block", CURL_BLOCKS, ids=_ids(CURL_BLOCKS))
def test_every_curl_example_works_against_a_real_server(
    block: md.Block, request: pytest.FixtureRequest, in_examples_dir: Path
) -> None:
    server = _server_for(block, request)
    job_id = None
    for words in md.shell_commands(block.text):
        assert words[0] == "curl", f"{block.where}: a block with curl examples holds only curl commands"
        status, body = _run_curl(words, server.url, job_id)
        assert status in (200, 202), f"{block.where}: {' '.join(words)} → {status} {body[:300]}"
        job_id = _check_body(body) or job_id


def _transcribe_commands() -> list[list[str]]:
    """Each distinct `gigaam-api transcribe` command the pages' shell blocks show."""
    found: dict[str, list[str]] = {}
    for block in RUNNABLE:
        if block.lang in ("sh", "bash"):
            for words in md.shell_commands(block.text):
                if words[:2] == ["gigaam-api", "transcribe"]:
                    found.setdefault(" ".join(words), words)
    return list(found.values())


TRANSCRIBE_COMMANDS = _transcribe_commands()
SCRIPT = Path(sys.executable).with_name("gigaam-api")
_AUDIO_NAME = re.compile(r"[\w*./-]+\.(?:" + "|".join(FORMATS) + ")")


def _concrete(pattern: str) -> str:
    """A file name a glob matches: `**/` one folder deep, `*` a word naming the format (distinct outputs)."""
    return pattern.replace("**/", "day1/").replace("*", "sample-" + pattern.rsplit(".", 1)[1])


@pytest.mark.parametrize("words", TRANSCRIBE_COMMANDS, ids=" ".join)
def test_every_transcribe_example_runs(
    words: list[str], examples_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    """The real script on real speech, in a folder holding a file for every input the command names."""
    speech = next(examples_dir.iterdir())
    for word in words[2:]:
        if _AUDIO_NAME.fullmatch(word):
            made = tmp_path / _concrete(word)
            made.parent.mkdir(parents=True, exist_ok=True)
            encode(decode(speech), made, made.suffix[1:])
    before = set(tmp_path.rglob("*"))
    environ = {k: v for k, v in os.environ.items() if k not in ("MODEL", "MODELS", "API_KEY", "LOG_LEVEL")}
    environ.update(MODELS_DIR=str(models_dir), OFFLINE="true", SPOOL_DIR=str(tmp_path / ".spool"))
    environ.update(
        NUM_THREADS="1", GIGAAM_RUNTIME="onnxruntime", GIGAAM_PRECISION="fp32"
    )  # the model's files
    done = subprocess.run(
        [str(SCRIPT), *words[1:]],
        check=False,
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before - set((tmp_path / ".spool").rglob("*"))
    assert done.stdout.strip() or any(p.stat().st_size for p in written), "no transcript printed or written"


class _StrictOpenAI(openai.OpenAI):
    """The client the examples build, validating every response strictly and never retrying."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_retries", 0)
        super().__init__(_strict_response_validation=True, **kwargs)


@pytest.mark.parametrize("block", OPENAI_BLOCKS, ids=_ids(OPENAI_BLOCKS))
def test_every_openai_example_works_against_a_real_server(
    block: md.Block, request: pytest.FixtureRequest, in_examples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server_for(block, request)
    assert DOCS_HOST + "/v1" in block.text, f"{block.where}: examples use base_url={DOCS_HOST}/v1"
    monkeypatch.setattr(openai, "OpenAI", _StrictOpenAI)
    code = compile(block.text.replace(DOCS_HOST, server.url), block.where, "exec")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {"__name__": "__docs_example__"})
    assert printed.getvalue().strip(), f"{block.where} printed nothing"


@pytest.mark.parametrize("block", OTHER_PYTHON, ids=_ids(OTHER_PYTHON))
def test_every_other_python_block_compiles(block: md.Block) -> None:
    compile(block.text, block.where, "exec")


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=_ids(JSON_BLOCKS))
def test_every_json_block_parses(block: md.Block) -> None:
    json.loads(block.text)


# Commands the tests run or check; any other command (docker, pip, another program) needs the skip marker.
_CHECKED_COMMANDS = ("curl", "make", "gigaam-api", "uv run gigaam-api", ".venv/bin/gigaam-api")
SHELL_BLOCKS = [
    b for b in RUNNABLE if b.lang in ("sh", "bash") and md.relative(ROOT / b.path) not in md.HISTORY
]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=_ids(SHELL_BLOCKS))
def test_every_shell_command_is_run_or_checked_unless_marked(block: md.Block) -> None:
    for words in md.shell_commands(block.text):
        command = " ".join(w for w in words if not re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", w))
        assert command == "" or command.startswith(_CHECKED_COMMANDS), f"{block.where}: {command}"


def test_the_marked_blocks_are_the_expected_few_and_pass_the_static_checks() -> None:
    """Blocks that cannot run here are exactly the known set, and still name only real targets, flags,
    settings and files: what the other tests check of every block, asked of these by name."""
    markers = [(md.relative(p), m) for p in DOCS for m in md.skip_markers(p.read_text(encoding="utf-8"))]
    assert len(MARKED) == len(markers), f"a skip marker that is not right above a block: {markers}"
    assert sorted((b.path, b.lang, b.skip) for b in MARKED) == EXPECTED_MARKED
    assert len(MARKED) <= MAX_MARKED
    for block in MARKED:
        lines = [(block.path, line, line) for line in block.text.splitlines()]
        assert _unknown_make_targets(lines) == [], block.where
        assert _unknown_cli_words(lines) == [], block.where
        assert _unknown_settings(lines) == [], block.where
        assert _missing_paths(lines) == [], block.where
        assert _broken_links(ROOT / block.path, md.link_targets(block.text)) == [], block.where
        if block.lang == "python":
            compile(block.text, block.where, "exec")


# --- names the docs use exist in the code -----------------------------------------------------------


Snippet = tuple[str, str, str]  # where, the code, the line it is on


def _snippets_in_lines() -> list[Snippet]:
    return [
        (md.relative(path), snippet, line)
        for path in INSTRUCTIONS
        for snippet, line in md.code_snippets(path.read_text(encoding="utf-8"))
    ]


def _makefile_names() -> tuple[set[str], set[str]]:
    """Targets and variables of the Makefile."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set()
    for match in re.finditer(r"^([a-z][\w -]*?)\s*:(?!=)", text, re.M):
        targets |= set(match.group(1).split())
    variables = set(re.findall(r"^([A-Z_]+)\s*[?:]?=", text, re.M))
    return targets, variables


def _unknown_make_targets(snippets: list[Snippet]) -> list[tuple[str, str]]:
    targets, _ = _makefile_names()
    missing = []
    for where, snippet, _ in snippets:
        for match in re.finditer(r"(?:^|[\s(`;&])make((?:\s+[a-z][\w-]*)+)", snippet):
            missing += [(where, t) for t in match.group(1).split() if t not in targets]
    return missing


def test_every_make_target_mentioned_exists() -> None:
    assert _unknown_make_targets(_snippets_in_lines()) == []


def _cli_help(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return out.getvalue()


_CLI_COMMAND = re.compile(
    r"^\s*(?:[A-Z_]+=\S*\s+)*(?:uv run\s+|\.venv/bin/)?gigaam-api\s+([a-z]+)((?:\s+[^\s#;|&]+)*)"
)


def _unknown_cli_words(snippets: list[Snippet]) -> list[tuple[str, str]]:
    commands = set(re.findall(r"\{([\w,]+)\}", _cli_help())[0].split(","))
    flags = {c: set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", _cli_help(c))) for c in commands}
    wrong = []
    for where, snippet, _ in snippets:
        # A command: at the start of a line or code span, after settings, `uv run` or `.venv/bin/`.
        for match in re.finditer(_CLI_COMMAND, snippet):
            command, rest = match.group(1), match.group(2).split()
            if command not in commands:
                wrong.append((where, command))
                continue
            used = {w.split("=", 1)[0] for w in rest if re.match(r"--?[A-Za-z]", w)}
            wrong += [(where, f"{command} {f}") for f in sorted(used - flags[command])]
    return wrong


def test_every_cli_command_and_flag_mentioned_exists() -> None:
    assert _unknown_cli_words(_snippets_in_lines()) == []


def _dockerfile_args() -> set[str]:
    return set(re.findall(r"^ARG\s+(\w+)", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M))


_PYTHON_FILE = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.py)\b")
_PACKAGE = re.compile(r"(?:[a-z_][\w-]*/)+")
# Paths that are not the repository's: development.md's example family, the weights folder made at run time.
_NOT_IN_REPO = re.compile(r"(?:^|/)acme/|^models/")


def _repo_files() -> set[tuple[str, ...]]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return {tuple(Path(name).parts) for name in listed.stdout.splitlines()}


REPO_FILES = _repo_files()


def _files_named(path: str) -> list[Path]:
    """The repository's files a page's `path.py` means: the path's parts are the end of theirs."""
    parts = tuple(Path(path).parts)
    return [ROOT.joinpath(*f) for f in REPO_FILES if f[-len(parts) :] == parts]


def _module_names(path: Path) -> set[str]:
    """The names a Python file defines at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _code_names_on(line: str) -> set[str]:
    """Names defined by the Python files a line names: `BUILT_IN` in `engines/registry.py` is code."""
    return {n for path in _PYTHON_FILE.findall(line) for f in _files_named(path) for n in _module_names(f)}


def _setting_names(snippet: str, line: str = "") -> list[str]:
    """UPPER_CASE names a piece of code sets (`NAME=…`) or is (`NAME`, `PREFIX_*`), unless the Python
    file its line names defines them."""
    names = re.findall(r"(?:^|[\s`])([A-Z][A-Z0-9_]*[A-Z0-9])=", snippet)
    if re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]|[A-Z][A-Z0-9_]*_\*", snippet.strip()):
        names.append(snippet.strip())
    code = _code_names_on(line) if names and line else set()
    return [n for n in names if n not in code]


def _deprecated_settings() -> set[str]:
    return {
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and "replaced_by" in field.json_schema_extra
    }


def _unknown_settings(snippets: list[Snippet]) -> list[tuple[str, str]]:
    _, make_variables = _makefile_names()
    known = set(Settings.model_fields) | make_variables | _dockerfile_args() | NOT_SETTINGS
    unknown = []
    for where, snippet, line in snippets:
        for name in _setting_names(snippet, line):
            if name.endswith("*"):
                if not any(s.startswith(name[:-1]) for s in Settings.model_fields):
                    unknown.append((where, name))
            elif name not in known:
                unknown.append((where, name))
    return unknown


def test_every_setting_mentioned_exists() -> None:
    """A name set or quoted is a setting (or another program's, or code of a file the line names);
    a `PREFIX_*` matches some setting."""
    assert _unknown_settings(_snippets_in_lines()) == []


def test_a_code_name_is_excused_only_by_the_file_that_defines_it() -> None:
    """The exception for code names cannot hide a wrong setting: the named file must define the name."""
    line = "added to `BUILT_IN` in `engines/registry.py`"
    assert _unknown_settings([("page", "BUILT_IN", line)]) == []
    assert _unknown_settings([("page", "BUILT_IN", line.replace("registry", "base"))]) == [
        ("page", "BUILT_IN")
    ]
    assert _unknown_settings([("page", "BUILT_IN", "added to `BUILT_IN`")]) == [("page", "BUILT_IN")]


def _missing_paths(snippets: list[Snippet]) -> list[tuple[str, str]]:
    """`path.py` (and `path.py: name`) and `package/` spans that name nothing in the repository."""
    folders = {f[:i] for f in REPO_FILES for i in range(1, len(f))}
    missing = []
    for where, snippet, _ in snippets:
        for path in _PYTHON_FILE.findall(snippet):
            if _NOT_IN_REPO.search(path):
                continue
            files = _files_named(path)
            name = re.fullmatch(rf".*{re.escape(path)}:\s*(\w+)", snippet.strip())
            if not files or (name and not any(name.group(1) in _module_names(f) for f in files)):
                missing.append((where, snippet.strip()))
        if _PACKAGE.fullmatch(snippet.strip()) and not _NOT_IN_REPO.search(snippet.strip()):
            parts = tuple(snippet.strip().strip("/").split("/"))
            if not any(f[-len(parts) :] == parts for f in folders):
                missing.append((where, snippet.strip()))
    return missing


def test_every_module_and_package_mentioned_exists() -> None:
    assert _missing_paths(_snippets_in_lines()) == []


def test_the_decisions_name_a_moved_file_beside_its_new_path() -> None:
    """History keeps old paths, but only as `new`, was `old`; `old` (now `new`); `old`, since removed."""
    page = ROOT / "docs" / "decisions.md"
    snippets = [("docs/decisions.md", s, ln) for s, ln in md.code_snippets(page.read_text(encoding="utf-8"))]
    unexplained = [
        (where, old)
        for where, old in _missing_paths(snippets)
        if not any(
            f"{before}`{old}`{after}" in ln
            for _, s, ln in snippets
            if s == old
            for before, after in (("was ", ""), ("", " (now"), ("", ", since removed"))
        )
    ]
    assert unexplained == []


# "прежн" only before a name: "по-прежнему" (still) and "прежнее поведение" say nothing about the name.
_SAYS_DEPRECATED = re.compile(
    r"older|deprecat|formerly|устар|прежн(?:ее|ие|их) им|стар(?:ое|ые|ых) им", re.IGNORECASE
)


def test_deprecated_settings_are_named_only_as_deprecated() -> None:
    """The pages teach today's names; an older name appears only where the line says it is older."""
    deprecated = _deprecated_settings()
    assert deprecated, "Settings marks no deprecated name: the test would check nothing"
    stale = [
        (where, name)
        for where, snippet, line in _snippets_in_lines()
        for name in _setting_names(snippet, line)
        if name in deprecated and not _SAYS_DEPRECATED.search(line)
    ]
    assert stale == []


# --- links, languages, size -------------------------------------------------------------------------


def _anchors_of(path: Path) -> set[str]:
    """The anchors a link may name: a Markdown page's headings (other files have none to check)."""
    return md.anchors(path.read_text(encoding="utf-8")) if path.suffix == ".md" else set()


def _broken_links(path: Path, targets: list[str]) -> list[tuple[str, str]]:
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists() or (anchor and anchor not in _anchors_of(resolved)):
            broken.append((md.relative(path), target))
    return broken


def test_every_relative_link_and_anchor_resolves() -> None:
    assert [b for p in DOCS for b in _broken_links(p, md.links(p.read_text(encoding="utf-8")))] == []


def _pages(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.md")}


def test_english_and_russian_docs_have_the_same_pages() -> None:
    assert _pages(ROOT / "docs") - md.ENGLISH_ONLY == _pages(ROOT / "docs" / "ru")


def _shape(path: Path) -> tuple[int, list[str]]:
    text = path.read_text(encoding="utf-8")
    return len(md.headings(text)), [b.lang for b in md.blocks(path)]


PAIRED = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in md.ENGLISH_ONLY),
]


def _russian(english: Path) -> Path:
    return ROOT / "README_ru.md" if english.name == "README.md" else ROOT / "docs" / "ru" / english.name


@pytest.mark.parametrize("english", PAIRED, ids=lambda p: p.name)
def test_each_russian_page_has_the_english_pages_sections_and_blocks(english: Path) -> None:
    assert _shape(_russian(english)) == _shape(english)


def _meaning(block: md.Block) -> object:
    """What a block says, its comments (which are translated) left out."""
    if block.lang == "python":
        return ast.dump(ast.parse(block.text))
    if block.lang in ("sh", "bash"):
        return list(md.shell_commands(block.text))
    if block.lang == "json":
        return json.loads(block.text)
    return block.lang  # program output, diagrams: may be translated


@pytest.mark.parametrize("english", PAIRED, ids=lambda p: p.name)
def test_each_russian_page_shows_the_same_code(english: Path) -> None:
    russian = _russian(english)
    assert [_meaning(b) for b in md.blocks(russian)] == [_meaning(b) for b in md.blocks(english)]


def _packages() -> list[str]:
    package = ROOT / "gigaam_api"
    return sorted(
        p.parent.relative_to(package).as_posix() for p in package.rglob("__init__.py") if p.parent != package
    )


@pytest.mark.parametrize("page", ["docs/development.md", "docs/ru/development.md"])
def test_the_development_page_names_every_package(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    assert [p for p in _packages() if f"{p.rsplit('/', 1)[-1]}/`" not in text] == []


def _topic_links(path: Path, to_page: Callable[[str], str]) -> list[str]:
    return sorted(to_page(t) for t in md.links(path.read_text(encoding="utf-8")) if t.startswith("docs/"))


def test_the_readmes_link_the_same_topic_pages() -> None:
    english = _topic_links(ROOT / "README.md", lambda t: t)
    russian = _topic_links(ROOT / "README_ru.md", lambda t: t.replace("docs/ru/", "docs/"))
    assert russian == english


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {t.partition("#")[0] for t in _topic_links(ROOT / "README.md", lambda t: t) if ".md" in t}
    assert sorted(f"docs/{name}" for name in _pages(ROOT / "docs")) == sorted(linked)


@pytest.mark.parametrize("name", ["README.md", "README_ru.md"])
def test_the_readme_stays_short(name: str) -> None:
    words = len((ROOT / name).read_text(encoding="utf-8").split())
    assert words <= README_MAX_WORDS, f"{name} has {words} words: move the detail to a page under docs/"
