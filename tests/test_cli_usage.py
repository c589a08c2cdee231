"""main.py's global options: a typo is a one-line usage error with exit 2, never a traceback."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

import main


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main.main(["--log-level", "LOUD", "report", "--help"])
    assert info.value.code == 2
    assert "--log-level" in capsys.readouterr().err


def test_the_log_level_is_read_in_any_case() -> None:
    args = main.build_parser().parse_args(["--log-level", "debug", "serve"])
    assert args.log_level == "DEBUG"


@pytest.mark.parametrize("command", ["serve", "demo", "city-hub"])
@pytest.mark.parametrize("port", ["99999", "-5", "abc"])
def test_a_port_out_of_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str, port: str
) -> None:
    """Checked by argparse: 99999 reached socket.bind and ended in an OverflowError
    traceback with exit 1."""
    with pytest.raises(SystemExit) as info:
        main.build_parser().parse_args([command, "--port", port])
    assert info.value.code == 2
    said = capsys.readouterr().err
    assert "argument --port" in said and "_port" not in said


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["backup", "dest", "--stamped", "--keep", "x"], "expected a whole number, got 'x'"),
        (["city-hub", "--every", "x"], "expected a number of seconds, got 'x'"),
        (["city-hub", "--duration", "soon"], "expected a number of seconds, got 'soon'"),
    ],
)
def test_a_word_for_a_number_names_what_is_expected(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """Not argparse's "invalid _at_least_one value", which names a private function."""
    with pytest.raises(SystemExit) as info:
        main.build_parser().parse_args(argv)
    assert info.value.code == 2
    assert said in capsys.readouterr().err


def test_create_user_without_a_terminal_or_stdin_says_how(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """getpass at end of input (a script without --password-stdin) raised EOFError: a
    traceback and exit 1."""

    def no_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(main.getpass, "getpass", no_input)
    assert main.main(["create-user", "--username", "office", "--role", "guard"]) == 2
    assert "no password given" in capsys.readouterr().err


def test_create_user_refuses_a_password_that_is_not_utf8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 reach Python as surrogates: the hash raised
    UnicodeEncodeError (a traceback, exit 1)."""
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(tmp_path))  # the database, if it got there
    monkeypatch.setattr(main.sys, "stdin", io.StringIO("\udcff\udcfeoffice-gate-7\n"))
    argv = ["create-user", "--username", "office", "--role", "guard", "--password-stdin"]
    assert main.main(argv) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_demo_refuses_a_negative_number_of_cars(capsys: pytest.CaptureFixture[str]) -> None:
    """-3 was accepted and stopped the demo after its first car."""
    with pytest.raises(SystemExit) as info:
        main.build_parser().parse_args(["demo", "--cars", "-3"])
    assert info.value.code == 2
    assert "must be 0 (never stop) or more, got -3" in capsys.readouterr().err
    assert main.build_parser().parse_args(["demo", "--cars", "0"]).cars == 0


@pytest.mark.parametrize(
    ("argv", "typed"),
    [
        (["--port", "9000"], "python main.py serve --port 9000"),
        (["--host", "0.0.0.0"], "python main.py serve --host 0.0.0.0"),
        (["--config", "site.yaml", "--port=9000"],
         "python main.py --config site.yaml serve --port=9000"),
        (["--allow-new-database"], "python main.py serve --allow-new-database"),
        (["--po", "9000"], "python main.py serve --po 9000"),  # argparse's abbreviation
    ],
)
def test_a_serve_option_without_serve_says_what_to_type(
    capsys: pytest.CaptureFixture[str], argv: list[str], typed: str
) -> None:
    """serve is the default command, but its options need its name: argparse read 9000 as the
    command ("invalid choice: '9000' (choose from …)", below its usage) or said only
    "unrecognized arguments: --allow-new-database"."""
    with pytest.raises(SystemExit) as info:
        main.main(argv)
    assert info.value.code == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1, said
    assert said.endswith(f"is an option of serve, so name the command first: {typed}\n")


def test_other_usage_errors_are_still_argparses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main.main(["--log-level", "debug", "--help"])
    assert info.value.code == 0  # --help still helps
    assert "usage: parkgate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main.main(["serve", "--bogus"])
    assert info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def _undescribed(parser: argparse.ArgumentParser, name: str) -> list[str]:
    """Each option or command in ``parser``'s --help, and its subcommands', shown without a
    line saying what it is."""
    missing: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for shown in action._choices_actions:
                if not shown.help:
                    missing.append(f"{name} {shown.dest}")
            for command, sub in action.choices.items():
                missing += _undescribed(sub, f"{name} {command}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_and_command_says_in_its_help_what_it_is() -> None:
    """`main.py --help` listed --log-format, and `create-user --help` --username and --role,
    with nothing after them: an installer reading the help could not tell what json does."""
    assert _undescribed(main.build_parser(), "parkgate") == []
