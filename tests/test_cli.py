import subprocess
import sys

from mfvpose_lib.cli import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 2
    text = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in text


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
