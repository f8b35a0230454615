"""A refused request (a VoolError from an RPC) is an expected outcome: nameko is
told so, and the log shows one line for it instead of a traceback; a bug keeps its
traceback."""
import inspect
import logging
import logging.config
from pathlib import Path

import nameko.containers
import pytest
import yaml
from nameko.containers import ServiceContainer
from nameko.exceptions import IncorrectSignature
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.testing.utils import get_extension
from nameko.utils import REDACTED, get_redacted_args
from werkzeug.exceptions import HTTPException

from services.common import logs
from services.common.errors import NotFound, VoolError
from services.common.rpc import GuardedRpc, rpc
from services.common.rpc_methods import Arguments, RpcMethod

NAMEKO_YAML = Path(__file__).resolve().parents[2] / "deploy" / "config" / "nameko.yaml"


class Service:
    name = "example"

    @rpc
    def plain(self):
        pass

    @rpc(sensitive_arguments=("secret",))
    def with_options(self, secret):
        pass


class Login(Arguments):
    username: str
    password: str


login = RpcMethod("example", "login", Login, returns=bool)


class TypedService:
    name = "example"

    @rpc(login, sensitive_arguments=("password",))
    def login(self, username, password):
        return True


def test_a_typed_method_s_sensitive_arguments_are_redacted_and_its_calls_checked():
    # nameko binds a call to the method's own parameters, not to the wrapper's
    # (*args, **kwargs): a tracer or error reporter never sees the password
    container = ServiceContainer(TypedService, {"AMQP_URI": "memory://"})
    extension = get_extension(container, GuardedRpc, method_name="login")
    assert get_redacted_args(extension, "anna", password="hunter2-hunter2") == {
        "username": "anna", "password": REDACTED}
    assert get_redacted_args(extension, "anna", "hunter2-hunter2")["password"] == REDACTED
    with pytest.raises(IncorrectSignature):
        extension.check_signature((), {})


def entrypoint(method):
    [extension] = getattr(method, ENTRYPOINT_EXTENSIONS_ATTR)
    return extension


def test_our_errors_are_expected_by_every_rpc():
    assert entrypoint(Service.plain).expected_exceptions == (VoolError,)
    with_options = entrypoint(Service.with_options)
    assert with_options.expected_exceptions == (VoolError,)
    assert with_options.sensitive_arguments == ("secret",)


def test_the_filter_knows_nameko_s_message():
    assert repr(logs.EXPECTED + " %s: %s") in inspect.getsource(nameko.containers)


def raised(exc):
    try:
        raise exc
    except Exception as caught:
        return caught.__class__, caught, caught.__traceback__


def test_an_expected_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    config = yaml.safe_load(NAMEKO_YAML.read_text().replace("${VOOL_LOG_LEVEL:INFO}", "INFO")
                            .replace("${VOOL_LOG_FORMAT:plain}", "plain"))
    logging_config = config["LOGGING"]
    output = tmp_path / "service.log"
    logging_config["handlers"]["console"] = {
        **logging_config["handlers"]["console"], "class": "logging.FileHandler",
        "filename": str(output)}
    logging_config["loggers"] = {"nameko.containers": {"handlers": ["console"],
                                                       "propagate": False}}
    del logging_config["root"]   # leave pytest's own root handlers alone
    log = logging.getLogger("nameko.containers")
    try:
        logging.config.dictConfig(logging_config)
        log.warning(logs.EXPECTED + " %s: %s", "<worker>", "no consumption point",
                    exc_info=raised(NotFound("no consumption point")))
        log.error("error handling worker %s: %s", "<worker>", "boom",
                  exc_info=raised(ZeroDivisionError("boom")))
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.propagate = True
    lines = output.read_text().splitlines()
    assert "(expected) error handling worker <worker>: no consumption point" in lines[0]
    assert "error handling worker <worker>: boom" in lines[1]
    assert lines[2] == "Traceback (most recent call last):"
    assert not any("NotFound" in line for line in lines)


def test_the_gateway_s_routes_expect_our_errors_too():
    from services.gateway.http import Route
    from services.gateway.service import GatewayService
    routes = [extension for name, method in inspect.getmembers(GatewayService, callable)
              for extension in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())
              if isinstance(extension, Route)]
    assert len(routes) > 50
    # and Werkzeug's refusals (a body over its limit): answers, not bugs
    assert {route.expected_exceptions for route in routes} == {(VoolError, HTTPException)}
