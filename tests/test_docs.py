"""The documentation site's promises: a reference entry for every public name, a nav that
lists every page, a CLI page that matches the parser, and code samples that run.

The Python blocks of the prose pages (everything under `docs/` but `docs/reference/`) are
real code, run here against the emulator on virtual time:

- A block that defines `test_` functions is pytest code; the pytest blocks of one page,
  in order, make one test module, run in a subprocess.
- Any other block is executed; then every function it defines whose parameters are all
  fixture names (`ais`, `emulator`, `clock`, `audience_id`; none at all is fine too) is
  called, with a fresh emulator for each: `ais` is a client of it, `audience_id` an
  audience created on it. Functions with other parameters are only defined.

The recipe pages (`docs/recipes/`) include whole files of `examples/recipes/`, which
tests/test_recipes.py runs with their engines; the Airflow page's DAG needs the provider
and is provided by tests/airflow (`NOT_RUN_HERE`). Their lines are checked for width here.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import pytest

import aep_ais
import aep_ais.testing
from aep_ais._cli.errors import EXIT_BROKEN_PIPE, epilog
from aep_ais._cli.parser import build_parser
from aep_ais.testing import Emulator, FakeClock
from tests.conftest import run_pytest_on

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
PROSE = sorted(p for p in DOCS.rglob("*.md") if REFERENCE not in p.parents)

# Where a new public name belongs, by the private module that defines it.
_PAGE_BY_MODULE = {
    "_errors": "errors.md",
    "_models": "models.md",
    "_auth": "auth.md",
    "_policies": "policies.md",
    "_bulk": "callbacks.md",
    "_waiting": "callbacks.md",
    "_client": "client.md",
    "_version": "client.md",
}


def _documented() -> dict[str, str]:
    """`{"aep_ais.Name": "page.md"}` for every `::: aep_ais.Name` line of the reference."""
    found: dict[str, str] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for name in re.findall(r"^::: (\S+)\s*$", page.read_text(), flags=re.M):
            found[name] = page.name
    return found


def _suggested_page(name: str) -> str:
    value = getattr(aep_ais, name)
    for module_name, page in _PAGE_BY_MODULE.items():
        module = importlib.import_module(f"aep_ais.{module_name}")
        if getattr(module, name, None) is value:
            return page
    return "client.md"


def test_every_public_name_has_a_reference_entry() -> None:
    documented = _documented()
    missing = [
        f"aep_ais.{name}: add `::: aep_ais.{name}` to docs/reference/{_suggested_page(name)}"
        for name in aep_ais.__all__
        if f"aep_ais.{name}" not in documented
    ] + [
        f"aep_ais.testing.{name}: add `::: aep_ais.testing.{name}` to docs/reference/testing.md"
        for name in aep_ais.testing.__all__
        if f"aep_ais.testing.{name}" not in documented
    ]
    assert not missing, "public names without an API reference entry:\n" + "\n".join(missing)


def test_the_reference_documents_public_names_only() -> None:
    public = {f"aep_ais.{n}" for n in aep_ais.__all__} | {
        f"aep_ais.testing.{n}" for n in aep_ais.testing.__all__
    }
    stray = {name: page for name, page in _documented().items() if name not in public}
    assert not stray, f"reference entries for names that are not public: {stray}"


def test_the_nav_lists_every_page_and_only_pages_that_exist() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    in_nav = set(re.findall(r":\s*(\S+\.md)\s*$", config, flags=re.M))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert in_nav == on_disk


def test_the_changelog_page_includes_the_changelog() -> None:
    page = (DOCS / "changelog.md").read_text()
    assert '--8<-- "CHANGELOG.md"' in page
    assert (ROOT / "CHANGELOG.md").is_file()


def test_the_readme_links_the_local_build_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert '-e ".[docs]"' in readme and "mkdocs serve" in readme


# A fenced block, with or without attributes after its language (`title="..."`).
_FENCED = r"^```\w*(?: [^\n]*)?\n(.*?)^```"


def test_code_lines_fit_the_page() -> None:
    # The theme shows about 80 columns of code; a longer line hides behind a scrollbar.
    # A block that includes a file (`--8<-- "path"`, the recipes) shows that file's lines.
    long = [
        f"{page.relative_to(ROOT)}: {line.strip()[:60]}..."
        for page in DOCS.rglob("*.md")
        for block in re.findall(_FENCED, page.read_text(), flags=re.S | re.M)
        for line in _included(block).splitlines()
        if len(line) > 79
    ]
    assert not long, "code lines over 79 characters:\n" + "\n".join(long)


# The command-line page ----------------------------------------------------------------

CLI_PAGE = DOCS / "guides" / "cli.md"


def test_the_cli_page_has_a_section_for_every_command() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    commands = set(sub.choices)  # type: ignore[arg-type]
    headings = set(re.findall(r"^### `aep-ais ([a-z-]+)`$", CLI_PAGE.read_text(), flags=re.M))
    assert headings == commands


def test_the_cli_page_gives_every_exit_status() -> None:
    table = re.findall(r"^\| (\d+) \|", CLI_PAGE.read_text(), flags=re.M)
    from_code = [int(code) for code in re.findall(r"^\s+(\d+)\s", epilog(), flags=re.M)]
    assert [int(code) for code in table] == [*from_code, EXIT_BROKEN_PIPE]


def test_the_cli_page_names_every_global_option() -> None:
    page = CLI_PAGE.read_text()
    parser = build_parser()
    flags = {
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    }
    assert flags and all(f"`{flag}" in page or f"{flag}`" in page for flag in flags), flags


# Python blocks of the prose pages --------------------------------------------------------

FIXTURES = frozenset({"ais", "emulator", "clock", "audience_id"})

# Pages whose Python is not run here, and where it is run instead.
NOT_RUN_HERE = {
    # The recipes are files under examples/recipes/, included whole by the pages;
    # tests/test_recipes.py runs them with their engines.
    **{
        str(page.relative_to(DOCS)): "tests/test_recipes.py"
        for page in (DOCS / "recipes").glob("*.md")
    },
    # Its DAG imports the Airflow provider (`aep_ais.airflow`, extra `airflow`);
    # provided by tests/airflow, which runs the provider's example DAG.
    "recipes/airflow.md": "tests/airflow",
}

_SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', flags=re.M)


def _included(block: str) -> str:
    """The block as the site shows it: `--8<-- "path"` lines replaced by the file."""
    return _SNIPPET.sub(lambda m: (ROOT / m.group(1)).read_text(), block)


def _python_blocks(page: Path) -> list[str]:
    if str(page.relative_to(DOCS)) in NOT_RUN_HERE:
        return []
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def test_every_page_not_run_here_says_where_its_code_runs() -> None:
    for name, where in NOT_RUN_HERE.items():
        page = DOCS / name
        assert page.is_file(), name
        included = _SNIPPET.findall(page.read_text())
        assert included or where in page.read_text(), (
            f"{name}: include the recipe file, or name {where} on the page"
        )


def _example_blocks() -> list[Any]:
    return [
        pytest.param(page, i, block, id=f"{page.relative_to(DOCS)}#{i}")
        for page in PROSE
        for i, block in enumerate(_python_blocks(page))
        if "def test_" not in block
    ]


async def _call(function: Any) -> None:
    wanted = inspect.signature(function).parameters
    clock = FakeClock()
    emulator = Emulator(clock=clock, operation_time=20, run_time=90)
    async with aep_ais.AISClient(
        org_id="docs@AdobeOrg",
        auth=aep_ais.StaticToken("docs-token"),
        api_key="docs-key",
        transport=emulator.transport(),
        clock=clock,
    ) as ais:
        values: dict[str, Any] = {"ais": ais, "emulator": emulator, "clock": clock}
        if "audience_id" in wanted:
            spec = aep_ais.AudienceSpec(
                name="Docs audience",
                fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
                source_spec=aep_ais.SourceSpec(path="docs/audience.csv", cloud_type="DLZ"),
            )
            values["audience_id"] = (await ais.create_and_wait(spec)).audience_id
        result = function(**{name: values[name] for name in wanted})
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, aep_ais.AISClient):
            await result.aclose()


@pytest.mark.parametrize(("page", "index", "block"), _example_blocks())
async def test_the_python_examples_run_on_the_emulator(page: Path, index: int, block: str) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    level = logging.getLogger("aep_ais").level
    try:
        exec(compile(block, f"{page.relative_to(ROOT)} block {index}", "exec"), namespace)
        for value in list(namespace.values()):
            if (
                inspect.isfunction(value)
                and value.__module__ == "docs_example"
                and set(inspect.signature(value).parameters) <= FIXTURES
            ):
                await _call(value)
    finally:
        logging.getLogger("aep_ais").setLevel(level)


def test_the_examples_call_something_on_every_page_with_code() -> None:
    # A page whose samples all take unknown parameters would be compiled, never run.
    for page in PROSE:
        blocks = [b for b in _python_blocks(page) if "def test_" not in b]
        if not blocks:
            continue
        signatures = re.findall(r"^(?:async )?def \w+\(([^)]*)\)", "\n".join(blocks), flags=re.M)
        runnable = [
            s
            for s in signatures
            if all(p.split(":")[0].strip() in FIXTURES for p in s.split(",") if p.strip())
        ]
        assert runnable, f"{page.relative_to(ROOT)}: no example the test can call"


def _pytest_pages() -> list[Any]:
    return [
        pytest.param(page, id=str(page.relative_to(DOCS)))
        for page in PROSE
        if any("def test_" in b for b in _python_blocks(page))
    ]


@pytest.mark.parametrize("page", _pytest_pages())
def test_the_pytest_examples_pass(page: Path, tmp_path: Path) -> None:
    module = "\n\n".join(b for b in _python_blocks(page) if "def test_" in b or "fixture" in b)
    (tmp_path / "test_example.py").write_text(module)
    expected = len(re.findall(r"^(?:async )?def test_", module, flags=re.M))
    result = run_pytest_on(tmp_path / "test_example.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{expected} passed" in result.stdout
