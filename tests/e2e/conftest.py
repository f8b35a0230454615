"""The browser tests' fixtures: one `vool run` with its demo for the whole session,
and one headless Chromium. The browser tests run only where eventlet has not
monkey-patched the process (the root conftest.py; `make test` runs them apart)."""
import pytest
from eventlet import patcher

from tests.e2e import chromium as chromium_
from tests.e2e.system import running_vool, wait_for_the_demo

BROWSER_TESTS = "test_portal_browser.py"


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == BROWSER_TESTS and patcher.is_monkey_patched("thread"):
        return True      # Playwright hangs here: see the root conftest.py
    return None


def pytest_report_header(config):
    if patcher.is_monkey_patched("thread"):
        return f"browser tests ({BROWSER_TESTS}): only with VOOL_EVENTLET_PATCH=0, as make test runs them"
    return None


@pytest.fixture(scope="session")
def vool_system(broker, tmp_path_factory):
    """The whole system as `make run` starts it, its demo story told; shared by the
    browser tests, which each leave it as a customer would (what one grants, it
    takes back)."""
    with running_vool(broker, tmp_path_factory.mktemp("vool-run")) as run:
        wait_for_the_demo(run)
        yield run


@pytest.fixture(scope="session")
def chromium():
    with chromium_.chromium() as browser:
        yield browser
