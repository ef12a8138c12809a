"""The systemd units an operator installs: valid for systemd, hardened, restarting, migrating, reading the env
file; and the Procfile for platforms that run one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import ROOT
from tests.support.tools import require_tool

UNITS = ROOT / "deploy" / "systemd"
INSTALLED_IVR = "/opt/ivr/venv/bin/ivr"


def installed(tmp_path: Path, *names: str, change: tuple[str, str] | None = None) -> list[Path]:
    """The units as installed over this checkout's own `ivr` (systemd checks that the programs exist)."""
    ivr = Path(sys.executable).with_name("ivr")
    assert ivr.exists(), "the ivr command is not installed in this environment (pip install -e .)"
    paths = []
    for name in names:
        text = (UNITS / name).read_text().replace(INSTALLED_IVR, str(ivr))
        if change:
            text = text.replace(*change)
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    return paths


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = require_tool("systemd-analyze")
    return subprocess.run([tool, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60)


def unit(name: str) -> dict[str, list[str]]:
    """Directive -> values of a unit file (all sections)."""
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_systemd_accepts_the_web_and_worker_units_without_a_single_warning(tmp_path):
    checked = verify(installed(tmp_path, "ivr-web.service", "ivr-worker.service"))
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr


def test_the_check_would_catch_a_mistyped_directive(tmp_path):
    checked = verify(installed(tmp_path, "ivr-web.service", change=("ProtectSystem=strict", "ProtectSytem=strict")))
    assert "Unknown key 'ProtectSytem'" in checked.stdout + checked.stderr


@pytest.mark.parametrize("name", ["ivr-web.service", "ivr-worker.service"])
def test_each_unit_restarts_reads_the_env_file_and_is_hardened(name, tmp_path):
    directives = unit(name)
    assert directives["EnvironmentFile"] == ["/etc/ivr/ivr.env"]
    assert directives["Restart"] == ["on-failure"] and directives["User"] == ["ivr"]
    assert directives["ProtectSystem"] == ["strict"] and directives["NoNewPrivileges"] == ["yes"]
    assert directives["StateDirectory"] == ["ivr"] and "INSTANCE_PATH=/var/lib/ivr" in directives["Environment"][0]
    [path] = installed(tmp_path, name)
    tool = require_tool("systemd-analyze")
    security = subprocess.run([tool, "security", "--offline=yes", str(path)], capture_output=True, text=True,
                              timeout=60)
    exposure = float(re.search(r"Overall exposure level for .*: (\d+\.\d+)", security.stdout).group(1))
    assert exposure <= 2.0, security.stdout[-3000:]  # systemd rates 0-10; "OK" is below 4


def test_the_web_migrates_before_it_serves_and_the_worker_waits_for_it():
    web, worker = unit("ivr-web.service"), unit("ivr-worker.service")
    assert web["ExecStartPre"] == [f"{INSTALLED_IVR} db upgrade"]
    assert web["ExecStart"] == [f"{INSTALLED_IVR} serve"] and web["Type"] == ["notify"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/ivr-web/metrics" in web["Environment"][0]
    assert web["RuntimeDirectory"] == ["ivr-web"]
    assert worker["ExecStart"] == [f"{INSTALLED_IVR} worker"]
    assert "ivr-web.service" in worker["After"][0]


def test_every_procfile_process_is_an_ivr_command_that_exists():
    processes = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    assert set(processes) == {"release", "web", "worker"}
    for command in processes.values():
        program, *args = command.split()
        assert program == "ivr"
        words = [a for a in args if not a.startswith("-") and "$" not in a and ":" not in a]
        helped = CliRunner().invoke(cli, [*words, "--help"])
        assert helped.exit_code == 0, (command, helped.output)
        for option in (a.split("=")[0] for a in args if a.startswith("--")):
            assert option in helped.output, (command, option)
