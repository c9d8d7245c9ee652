"""A mistake on the command line is one line on stderr and exit status 2: no usage dump, no traceback."""

from __future__ import annotations

import pytest

from graphflow.cli.main import main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["replay", "out/rec", "--tolerence-ms", "5"],
            "graphflow replay: unrecognized arguments: --tolerence-ms 5 "
            "(did you mean --tolerance-ms? see graphflow replay --help)",
        ),
        (
            ["start", "agent.py", "--live-veiw"],
            "graphflow start: unrecognized arguments: --live-veiw (did you mean --live-view? "
            "see graphflow start --help)",
        ),
        (
            ["bench", "turns", "--bogus"],
            "graphflow bench turns: unrecognized arguments: --bogus (see graphflow bench turns --help)",
        ),
        (["rnu", "x.py"], "graphflow: argument COMMAND: invalid choice: 'rnu'"),
        (["run"], "graphflow run: the following arguments are required: target, --input/-i"),
    ],
)
def test_a_mistake_is_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(expected), err
    assert "usage:" not in err and "Traceback" not in err
