"""flexcausal.progress: tqdm bars on in interactive use, off in tests, explicit overrides."""

import io

import pytest

from flexcausal.progress import ENV_VAR, progress_bar, show_progress


def test_auto_is_off_under_pytest_and_explicit_values_win(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert show_progress(None) is False  # PYTEST_CURRENT_TEST is set
    assert show_progress(True) is True
    assert show_progress(False) is False


def test_auto_follows_the_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setattr("sys.stderr", Tty())
    assert show_progress(None) is True
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a pipe or a log file
    assert show_progress(None) is False


@pytest.mark.parametrize(("value", "shown"), [("0", False), ("off", False), ("1", True)])
def test_environment_variable_overrides_auto_only(monkeypatch, value, shown):
    monkeypatch.setenv(ENV_VAR, value)
    assert show_progress(None) is shown
    assert show_progress(False) is False
    assert show_progress(True) is True


def test_bar_writes_to_stderr_only_when_shown(capsys):
    with progress_bar(total=3, desc="fits", progress=True) as bar:
        for _ in range(3):
            bar.update()
    assert "fits" in capsys.readouterr().err
    assert list(progress_bar(range(3), desc="quiet", progress=None)) == [0, 1, 2]
    with progress_bar(total=2, desc="quiet", progress=False) as bar:
        bar.update()
        bar.set_postfix_str("fold 1")
    assert capsys.readouterr().err == ""


def test_bad_progress_value():
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        show_progress("yes")
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        progress_bar(range(2), progress=1)
