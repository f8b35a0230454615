"""VOOL_LOG_FORMAT=json makes every service log JSON lines (issue #17); without it the
console stays plain text for `make run`. The config is read as `nameko run` reads it."""
import json
import logging
import logging.config
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

from services.common import logs

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "config"


class NamekoLoader(yaml.SafeLoader):
    """${VAR:default} substituted as `nameko run` does, without changing yaml.SafeLoader
    for the other tests (nameko's setup_yaml_parser would)."""


NamekoLoader.add_constructor("!env_var", env_var_constructor)
NamekoLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)


def logged_lines(tmp_path, monkeypatch, config_file, log_format, write, logger="vool.test"):
    """What `write(logger)` puts on the console handler of `config_file`."""
    if log_format is None:
        monkeypatch.delenv("VOOL_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("VOOL_LOG_FORMAT", log_format)
    monkeypatch.setenv("VOOL_SERVICE_NAME", "metering")
    logging_config = yaml.load((CONFIG / config_file).read_text(), NamekoLoader)["LOGGING"]
    output = tmp_path / "service.log"
    logging_config["handlers"]["console"] = {
        **logging_config["handlers"]["console"], "class": "logging.FileHandler",
        "filename": str(output)}
    logging_config["loggers"] = {logger: {"handlers": ["console"], "propagate": False,
                                               "level": "INFO"}}
    del logging_config["root"]   # leave pytest's own root handlers alone
    log = logging.getLogger(logger)
    try:
        logging.config.dictConfig(logging_config)
        write(log)
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.propagate = True
    return output.read_text().splitlines()


def write_two(log):
    log.info("reading %s accepted", "R-1")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("billing run failed")


@pytest.mark.parametrize("config_file", ["nameko.yaml", "testbank-nameko.yaml"])
def test_json_format_writes_one_object_a_line_with_the_keys_operators_filter_on(
        tmp_path, monkeypatch, config_file):
    lines = logged_lines(tmp_path, monkeypatch, config_file, "json", write_two)
    assert len(lines) == 2   # the traceback stays inside its line
    info, error = (json.loads(line) for line in lines)
    assert {"time", "level", "logger", "message", "service"} <= info.keys()
    assert info["message"] == "reading R-1 accepted"
    assert (info["level"], info["logger"], info["service"]) == ("INFO", "vool.test", "metering")
    assert datetime.fromisoformat(info["time"]).utcoffset() == timedelta(0)
    assert error["level"] == "ERROR"
    assert "ZeroDivisionError" in error["exc_info"]
    assert error["exc_info"].startswith("Traceback (most recent call last):")


def test_without_a_format_the_console_is_plain_text_for_make_run(tmp_path, monkeypatch):
    lines = logged_lines(tmp_path, monkeypatch, "nameko.yaml", None, write_two)
    assert lines[0].endswith("INFO [-] vool.test: reading R-1 accepted")
    assert "Traceback (most recent call last):" in lines
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_an_expected_error_stays_one_line_in_json_too(tmp_path, monkeypatch):
    def refuse(log):
        try:
            raise LookupError("no consumption point")
        except LookupError:
            log.warning(logs.EXPECTED + " %s: %s", "<worker>", "no consumption point",
                        exc_info=True)
    [line] = logged_lines(tmp_path, monkeypatch, "nameko.yaml", "json", refuse,
                          logger="nameko.containers")
    record = json.loads(line)
    assert record["message"].startswith(logs.EXPECTED)
    assert "exc_info" not in record


@pytest.mark.parametrize("argv, name", [
    (["nameko", "run", "--config", "deploy/config/nameko.yaml", "services.billing.service"],
     "billing"),
    (["nameko", "run", "services.gateway.service:GatewayService"], "gateway"),
    (["pytest"], "vool"),
])
def test_the_service_name_comes_from_the_module_nameko_runs(monkeypatch, argv, name):
    monkeypatch.delenv("VOOL_SERVICE_NAME", raising=False)
    assert logs.service_name(argv) == name
