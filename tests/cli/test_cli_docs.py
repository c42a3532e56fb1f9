"""docs/cli.md is the command-line reference: every option a user sees in a command's --help is in it."""

import argparse
import re
from pathlib import Path

import pytest

from vmat.cli.main import build_parser

DOCUMENTED = ("run", "remove", "reorder", "drag", "replace-bg", "masks", "depth", "convert", "info", "testclip", "demo")
CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices


@pytest.mark.parametrize("command", DOCUMENTED)
def test_every_visible_option_is_in_the_cli_reference(command):
    text = CLI_DOC.read_text()
    assert re.search(rf"vmat [a-z|-]*\b{re.escape(command)}\b", text), f"vmat {command} has no section"
    options = [
        action.option_strings[-1]
        for action in _commands()[command]._actions
        if action.option_strings and action.help is not argparse.SUPPRESS
    ]
    missing = [option for option in options if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)]
    assert not missing, f"vmat {command}: {missing} are not in docs/cli.md"


def test_every_old_spelling_is_in_the_table():
    text = CLI_DOC.read_text()
    hidden = {
        option
        for parser in _commands().values()
        for action in parser._actions
        if action.help is argparse.SUPPRESS
        for option in action.option_strings
    }
    ours = {
        option
        for option in hidden
        if option in ("--reorder", "--people", "--no-layers", "--id", "--out", "--id-mask", "--frame", "--work-size")
    }
    assert ours == {"--reorder", "--people", "--no-layers", "--id", "--out", "--id-mask", "--frame", "--work-size"}
    assert all(option in text for option in ours)
