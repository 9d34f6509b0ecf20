"""The pages derived from the code are up to date: node reference, help pages, CLI reference,
download commands (tools/gen_docs.py writes them; this runs its check)."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = _load_generator()


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return gen_docs.generated_files()


def test_every_generated_file_is_up_to_date(generated):
    stale = [
        str(path.relative_to(ROOT))
        for path, text in generated.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale: {stale}; run `python tools/gen_docs.py` and commit the result"


def test_no_help_page_outlives_its_node(generated):
    orphans = gen_docs.stale_help_pages(generated)
    assert not orphans, f"help pages of nodes that no longer exist: {orphans}"


def test_each_node_has_both_help_pages_with_the_same_text(generated):
    infos = gen_docs.node_infos()
    docs = ROOT / "web" / "docs"
    for info in infos:
        plain, english = docs / f"{info['name']}.md", docs / info["name"] / "en.md"
        assert generated[plain] == generated[english]
        assert generated[plain].startswith(f"# {info['display_name']}\n")


def test_a_changed_tooltip_or_description_changes_the_pages():
    info = copy.deepcopy(gen_docs.node_infos()[0])
    before = (gen_docs.help_page(info), gen_docs.nodes_page([info]))
    name = info["input_order"]["required"][0]
    info["input"]["required"][name][1]["tooltip"] = "A new tooltip."
    info["description"] += "\n\nA new paragraph."
    after = (gen_docs.help_page(info), gen_docs.nodes_page([info]))
    for old, new in zip(before, after, strict=True):
        assert old != new and "A new tooltip." in new and "A new paragraph." in new


def test_the_cli_page_lists_every_subcommand_and_option():
    parser = gen_docs.cli_parser()
    page = gen_docs.cli_page(parser)
    for name, _help, sub in gen_docs._subcommands(parser):
        assert f"\n## {name}\n" in page
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in page, f"{name} {option}"


def test_download_commands_come_from_the_cores_list():
    from audiogen_core.checkpoints import (
        DOWNLOAD_PATTERNS,
        MULTILINGUAL_SNAPSHOTS,
        SNAPSHOTS,
    )

    block = gen_docs.download_commands()
    commands = [line for line in block.splitlines() if line.startswith("hf download")]
    assert len(commands) == len({k.repo_id for k in (*SNAPSHOTS, *MULTILINGUAL_SNAPSHOTS)})
    for line in commands:
        assert line.endswith("--include " + " ".join(f'"{p}"' for p in DOWNLOAD_PATTERNS))
    assert "--revision refs/pr/2" in block  # google/mt5-large's safetensors branch


def test_readme_holds_the_generated_download_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert gen_docs.BLOCK_START.format(name="download-commands") in readme
    # Every other hf download line in the docs must be one of the generated ones.
    allowed = set(gen_docs.download_commands().splitlines())
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("hf download"):
                assert line.strip() in allowed, f"{path.name}: {line.strip()}"
