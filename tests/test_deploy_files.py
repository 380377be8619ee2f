"""The deployment examples in deploy/ (docs/deploy.md) hold together: every command they run
is a `lowrise` command with options it has, every variable they set is a setting, the files
the Dockerfile copies exist, the systemd units pass `systemd-analyze verify`, and nginx sends
the headers LOWRISE_TRUSTED_PROXIES reads. (Docker cannot run on this machine.)"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from lowrise.cli import main
from lowrise.serving.settings import BY_ENV

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
POSTGRES_IMAGE_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def assert_lowrise_command(argv: list[str]) -> None:
    """`lowrise ARGS...` names a command and options it has."""
    assert argv[0].endswith("lowrise"), argv
    result = CliRunner().invoke(main, [*argv[1:], "--help"])
    assert result.exit_code == 0, (argv, result.output)


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_lowrise_commands_with_known_settings():
    services = compose()["services"]
    assert set(services) == {"db", "app", "worker"}
    commands = {name: s["command"] for name, s in services.items() if "command" in s}
    assert commands == {"app": ["lowrise", "serve", "--production", "--no-worker"],
                        "worker": ["lowrise", "worker"]}
    for argv in commands.values():
        assert_lowrise_command(argv)
    for name in ("app", "worker"):
        env = services[name]["environment"]
        assert set(env) <= set(BY_ENV), set(env) - set(BY_ENV)
        assert {"DATABASE_URL", "SECRET_KEY", "LOWRISE_TRUSTED_PROXIES"} <= set(env)
        assert env["DATABASE_URL"].endswith("@db/lowrise")
        assert services[name]["volumes"] == ["workspace:/app/workspace", "instance:/data"]
    assert set(services["db"]["environment"]) == POSTGRES_IMAGE_ENV
    # the worker starts once the app is healthy, that is once it has migrated the database
    assert services["worker"]["depends_on"]["app"] == {"condition": "service_healthy"}
    example = dict(line.split("=", 1) for line in (DEPLOY / "env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    assert set(example) <= set(BY_ENV) | POSTGRES_IMAGE_ENV


def test_dockerfile_copies_what_exists_and_sets_known_settings():
    lines = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "COPY":
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
        elif word == "ENV":
            names = re.findall(r"(\w+)=", rest)
            assert set(names) - {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                 "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"} <= set(BY_ENV)
        elif word == "CMD" and rest.startswith("["):
            assert_lowrise_command(yaml.safe_load(rest))
    text = "\n".join(lines)
    assert "LOWRISE_PORT=8000" in text and "EXPOSE 8000" in text
    assert "http://127.0.0.1:8000/healthz" in text


def test_systemd_units_verify_and_run_lowrise(tmp_path):
    analyze = shutil.which("systemd-analyze")
    lowrise = str(Path(sys.executable).parent / "lowrise")
    for unit in ("lowrise.service", "lowrise-worker.service"):
        text = (DEPLOY / unit).read_text()
        start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
        assert_lowrise_command(shlex.split(start))
        if analyze is None:  # pragma: no cover - systemd is on the project's machines
            continue
        # verify checks that ExecStart is executable: point it at this environment's lowrise
        copy = tmp_path / unit
        copy.write_text(text.replace("/srv/office/.venv/bin/lowrise", lowrise))
        done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert "KillMode=mixed" in (DEPLOY / "lowrise.service").read_text()


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Forwarded-Proto",
                                    "X-Forwarded-Host"])
def test_nginx_sends_what_the_trusted_proxy_setting_reads(header):
    conf = (DEPLOY / "nginx.conf").read_text()
    assert re.search(rf"proxy_set_header {header} \$", conf)
    assert "proxy_pass http://lowrise;" in conf and "server 127.0.0.1:8000;" in conf
    upload = BY_ENV["LOWRISE_MAX_UPLOAD"].default
    assert f"client_max_body_size {upload // (1024 * 1024)}m;" in conf
