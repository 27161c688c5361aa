"""The binary's command line: help, configuration precedence and configuration errors."""
import json
import subprocess
import urllib.request

from conftest import BIN, free_port


def run(*args, env=None, timeout=60):
    import os
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_help_explains_every_option():
    out = run("serve", "--help").stdout
    for flag in ["--host", "--port", "--config", "--threads", "--log-format", "--log-level", "--max-connections",
                 "--max-message-size", "--slow-consumer", "--heartbeat", "--shutdown-timeout", "--headless"]:
        assert flag in out, flag
    assert "SWITCHBOARD_PORT" in out


def test_unknown_config_key_names_key_and_line(tmp_path):
    config = tmp_path / "switchboard.toml"
    config.write_text('host = "127.0.0.1"\n\nprot = 9000\n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:3" in result.stderr and '"prot"' in result.stderr


def test_bad_config_value_names_key_and_line(tmp_path):
    config = tmp_path / "switchboard.toml"
    config.write_text('# comment\nport = "eighty"\n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:2: port" in result.stderr
    assert "integer" in result.stderr


def test_toml_syntax_error_names_line(tmp_path):
    config = tmp_path / "switchboard.toml"
    config.write_text('port = 8080\nhost = \n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:2" in result.stderr


def test_bad_flag_and_environment_values_exit_2():
    flag = run("serve", "--slow-consumer", "maybe")
    assert flag.returncode == 2 and "--slow-consumer" in flag.stderr and "drop-oldest" in flag.stderr
    env = run("serve", env={"SWITCHBOARD_MAX_CONNECTIONS": "-5"})
    assert env.returncode == 2 and "SWITCHBOARD_MAX_CONNECTIONS" in env.stderr


def test_missing_config_file_exits_2():
    result = run("serve", "--config", "/nonexistent/switchboard.toml")
    assert result.returncode == 2 and "/nonexistent/switchboard.toml" in result.stderr


def test_flags_beat_environment_beat_file(server, tmp_path):
    config = tmp_path / "switchboard.toml"
    config.write_text('max-connections = 7\nmax-channels-per-client = 3\nlog-format = "json"\n')
    s = server("--config", str(config), "--max-connections", "5", env={"SWITCHBOARD_MAX_CONNECTIONS": "6", "SWITCHBOARD_LOG_LEVEL": "info"})
    code, stderr = s.terminate()
    assert code == 0
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    listening = next(line for line in lines if line["msg"] == "listening")
    assert listening["max_connections"] == "5"


def test_health_endpoint_of_the_binary(server):
    s = server()
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/healthz") as response:
        body = json.load(response)
    assert body["status"] == "ok" and body["connections"] == 0
