import subprocess
import sys

import pytest

from mfvpose_lib.cli import SUBCOMMANDS, main

EXPECTED_COMMANDS = {"bench", "complexity", "evaluate", "export", "lab", "models", "noise", "predict", "report", "reproduce", "synth", "train"}


def test_help_lists_every_subcommand(capsys):
    assert set(SUBCOMMANDS) == EXPECTED_COMMANDS  # a command that disappears, or a new one, is noticed
    assert main([]) == 2
    lines = capsys.readouterr().out.splitlines()
    for name in EXPECTED_COMMANDS:
        assert any(line.split()[:1] == [name] for line in lines), f"{name} has no line of its own in the help"


@pytest.mark.subprocess
def test_module_entry_point_matches_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "mfvpose_lib", "--help"], capture_output=True, text=True, check=True
    )
    assert "reproduce" in out.stdout and "complexity" in out.stdout


def test_unknown_subcommand_fails(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
