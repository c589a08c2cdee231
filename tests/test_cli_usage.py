"""main.py's global options: a typo is a one-line usage error with exit 2, never a traceback."""

from __future__ import annotations

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
