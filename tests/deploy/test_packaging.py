"""`make run` twice: the second run installs nothing and prints what the first printed after its install; the
package ships its templates, assets, example YAML, migrations and translations without a setuptools warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.tools import require_tool

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
echo "$(basename "$0") $*"
"""


def project_with_fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """The Makefile and package declaration in a folder whose .venv answers every command by logging it."""
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    log = tmp_path / "commands.log"
    for tool in ("python", "pip", "ivr"):
        path = project / ".venv" / "bin" / tool
        path.write_text(FAKE.format(log=log))
        path.chmod(0o755)
    return project, log


def make(project: Path, *targets: str) -> str:
    done = subprocess.run([require_tool("make"), "--no-print-directory", *targets], cwd=project, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_make_run_installs_once_and_says_the_same_thing_the_second_time(tmp_path):
    project, log = project_with_fake_venv(tmp_path)
    first = make(project, "run")
    assert "pip install --quiet -e ." in first
    second = make(project, "run")
    assert "pip" not in second
    assert second.splitlines() == [line for line in first.splitlines() if "pip" not in line]
    assert second.splitlines() == ["ivr db upgrade", "ivr demo --host 127.0.0.1 --port 5000"]
    assert log.read_text().count("pip install") == 1


def test_a_changed_declaration_installs_again(tmp_path):
    project, log = project_with_fake_venv(tmp_path)
    make(project, "setup")
    later = time.time() + 5
    os.utime(project / "setup.cfg", (later, later))
    make(project, "setup")
    assert log.read_text().count("pip install --quiet -e .") == 2


def test_the_test_install_counts_as_the_run_install(tmp_path):
    project, log = project_with_fake_venv(tmp_path)
    (project / "scripts").mkdir()
    for script in ("start-postgres.sh", "install-system-packages.sh"):
        (project / "scripts" / script).write_text("#!/bin/sh\n")
        (project / "scripts" / script).chmod(0o755)
    make(project, "setup-test")
    make(project, "setup")
    assert log.read_text().count("pip install") == 1


@pytest.mark.slow
def test_the_wheel_ships_every_template_asset_yaml_and_migration_without_a_warning(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    log = built.stdout + built.stderr
    assert "Package would be ignored" not in log and "absent from the `packages` configuration" not in log
    [wheel] = tmp_path.glob("ivr_callbacks-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {str(p.relative_to(ROOT)) for folder in ("ivr", "telephony", "config", "callbacks/migrations",
                                                    "callbacks/translations")
            for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in {".html", ".css", ".js", ".yaml",
                                                                                ".mako", ".po", ".pot"}}
    assert data and data <= names, sorted(data - names)
    assert {"ivr/web/templates/errors/page.html", "ivr/gunicorn_conf.py", "config/example.yaml",
            "callbacks/migrations/versions/0001_initial_schema.py",
            "callbacks/translations/fa/LC_MESSAGES/messages.po", "callbacks/translations/messages.pot"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
