"""The parser and dispatch: a mistyped command line is one ``error:`` line that says what is
valid (never the whole usage text), and every option says what it does."""

from __future__ import annotations

import pytest

from audiogen_core.cli.main import build_parser, main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--caption", "x", "--out", "a.wav", "--dtype", "fp64"], "'fp64'"),
        (["generate", "--caption", "x", "--out", "a.wav", "--time-mode", "sideways"], "'blend'"),
        (["batch", "jobs.jsonl", "--out", "o", "--format", "flac"], "'pcm16', 'float'"),
        (["batch", "jobs.jsonl", "--out", "o", "--weight-dtype", "fp4"], "'fp8_e4m3fn'"),
        (["view", "a.wav", "--out", "a.png", "--width", "wide"], "invalid int value: 'wide'"),
        (["download", "--model-dir"], "--model-dir: expected one argument"),
        (["generate", "--caption", "x"], "required: --out"),
        (["mix"], "invalid choice: 'mix'"),
    ],
)
def test_a_mistyped_command_line_is_one_error_line(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "--help" in lines[0]


def test_the_choices_are_listed_in_the_error(capsys):
    assert main(["generate", "--caption", "x", "--out", "a.wav", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    for choice in ("auto", "cpu", "cuda", "mps"):
        assert f"'{choice}'" in err


@pytest.mark.parametrize("command", [["generate"], ["batch"], ["view"], ["download"]])
def test_every_option_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--help"])
    assert exit_.value.code == 0
    parser_help = capsys.readouterr().out
    actions = _subcommand(command[0])._actions
    undocumented = [a.option_strings for a in actions if a.option_strings and not a.help]
    assert undocumented == []
    if command[0] in ("generate", "batch"):
        assert "where the models compute" in parser_help and "compute precision" in parser_help


def _subcommand(name: str):
    (sub,) = [action for action in build_parser()._actions if action.dest == "command"]
    return sub.choices[name]
