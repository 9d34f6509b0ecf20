"""Every command and code example in README.md and docs/ runs, on the tiny models.

A fenced block says what it is in its info string:

- ```` ```bash run ```` / ```` ```python run ````: run here, in the order of the page, in one
  empty folder per page (later blocks use the files earlier ones wrote), with
  ``AUDIOGEN_MODEL_DIR`` naming the tiny snapshots (tests/support/tiny_snapshots.py) where a
  reader has the official weights. ``python -m audiogen_core ...`` lines are run by calling the
  command line's ``main()`` with the same arguments in this process (a new interpreter per
  line would cost seconds each); ``generate`` and ``batch`` get ``--steps 1``, and Python
  blocks ``steps=1``, which changes how long sampling takes, not what the example does. Python
  blocks of a page share one namespace, like cells of a notebook.
- ```` ```text file=NAME ```` (any language): written to NAME before the blocks after it run.
- ```` ```bash needs-weights ```` and the other reasons in SKIPPED: not run, for that reason.

A bash or python block without one of these marks fails the test, so a new example is either
run or says why it cannot be.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]
    if p.is_file()
)
CODE_LANGUAGES = {"bash", "sh", "shell", "console", "python", "py"}
SKIPPED = {
    "needs-weights": "needs the official weights (about 13 GB)",
    "needs-gpu": "needs one or more CUDA GPUs",
    "needs-network": "installs or downloads from the internet",
    "needs-comfyui": "runs inside a ComfyUI installation",
    "test-suite": "is the test suite itself",
}
FAST_STEPS = "1"
FENCE = re.compile(r"^```(\S*)[ \t]*(.*)$")


@dataclass
class Block:
    page: str
    line: int
    language: str
    marks: list[str]
    code: str

    @property
    def file(self) -> str | None:
        names = [m.split("=", 1)[1] for m in self.marks if m.startswith("file=")]
        return names[0] if names else None


def blocks(page: str) -> list[Block]:
    found, current, lines = [], None, []
    for number, text in enumerate((ROOT / page).read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(text)
        if current is None and match:
            current, lines = Block(page, number, match[1], match[2].split(), ""), []
        elif current is not None and text.startswith("```"):
            current.code = "\n".join(lines) + "\n"
            found.append(current)
            current = None
        elif current is not None:
            lines.append(text)
    assert current is None, f"{page}:{current.line}: unclosed code block"
    return found


def _commands(code: str) -> list[list[str]]:
    """The shell commands of a bash block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def _fast(argv: list[str]) -> list[str]:
    if argv[0] not in ("generate", "batch"):
        return argv
    if "--steps" in argv:
        at = argv.index("--steps")
        return [*argv[: at + 1], FAST_STEPS, *argv[at + 2 :]]
    return [*argv, "--steps", FAST_STEPS]


def _run_bash(block: Block) -> None:
    from audiogen_core.cli.main import main

    for argv in _commands(block.code):
        where = f"{block.page}:{block.line}: {shlex.join(argv)}"
        assert argv[:3] == ["python", "-m", "audiogen_core"], (
            f"{where}: a runnable block holds only `python -m audiogen_core` commands; "
            f"mark the block with one of {sorted(SKIPPED)} if it cannot run here"
        )
        assert main(_fast(argv[3:])) == 0, where


def test_every_code_block_runs_or_says_why_not():
    for page in PAGES:
        for block in blocks(page):
            if block.language not in CODE_LANGUAGES:
                continue
            marks = set(block.marks) & ({"run"} | set(SKIPPED))
            assert len(marks) == 1, (
                f"{page}:{block.line}: mark the block `{block.language} run` or "
                f"`{block.language} <reason>` with a reason from {sorted(SKIPPED)}"
            )


@pytest.fixture
def one_thread():
    """The tiny models gain nothing from threads; on a busy machine the second one only spins."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("page", PAGES)
def test_examples_of_the_page_run(page, tiny_model_dir, tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tiny_model_dir))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for block in blocks(page):
        if block.file:
            Path(block.file).parent.mkdir(parents=True, exist_ok=True)
            Path(block.file).write_text(block.code, encoding="utf-8")
        if "run" not in block.marks:
            continue
        if block.language in ("python", "py"):
            code = re.sub(r"\bsteps=\d+", f"steps={FAST_STEPS}", block.code)
            exec(compile(code, f"{page}:{block.line}", "exec"), namespace)
        else:
            _run_bash(block)
        ran += 1
    if not ran:
        pytest.skip(f"{page} has no runnable examples")
