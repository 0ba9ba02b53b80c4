"""The README's first two commands: `make demo` and `make test` install on first use, then never again."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


_MAKE_ENVIRONMENT = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON", "VENV", "EXTRAS", "ARGS")


def _dry_run(target: str, venv: Path) -> list[str]:
    """The commands `make TARGET` would run with VENV=venv, without running them."""
    return _dry_run_with(target, venv)


def _dry_run_with(target: str, venv: Path, *settings: str) -> list[str]:
    # Run under `make test EXTRAS=...` (as CI does), make exports its command-line variables to the tests'
    # environment, and MAKEFLAGS carries them too: each dry run sees only the settings it is given.
    env = {k: v for k, v in os.environ.items() if k not in _MAKE_ENVIRONMENT}
    proc = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}", *settings],
                          capture_output=True, text=True, check=True, env=env)
    return proc.stdout.splitlines()


@pytest.mark.parametrize("target", ["demo", "test"])
def test_first_run_creates_the_venv_and_installs_the_cpu_torch_wheel_before_the_package(target, tmp_path):
    commands = _dry_run(target, tmp_path / "venv")
    torch = next(i for i, c in enumerate(commands) if "pip install --quiet torch==2.13.0" in c)
    package = next(i for i, c in enumerate(commands) if 'pip install --quiet -e ".[test]"' in c)
    assert any("-m venv" in c for c in commands[:torch])
    assert torch < package


def test_later_runs_install_nothing(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp = venv / ".textmetric-installed"
    stamp.touch()
    later = (ROOT / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    assert _dry_run("test", venv) == [f"HF_HUB_OFFLINE=1 {venv}/bin/python -m pytest -q "]
    assert _dry_run("demo", venv) == [f"{venv}/bin/textmetric demo "]


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [["make", "demo"], ["make", "test"]]
    assert "\nmake test EXTRAS=test,ray\n" in ci and "\nmake demo " in ci


def test_extras_choose_what_the_package_is_installed_with(tmp_path):
    commands = _dry_run_with("test", tmp_path / "venv", "EXTRAS=test,ray")
    assert any('pip install --quiet -e ".[test,ray]"' in c for c in commands)
