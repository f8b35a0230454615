"""`make screenshots`: docs/portal/<page>-<lang>.png of the portal's main pages, in
Estonian and English, from a `vool run` of the demo (RabbitMQ as the tests find it:
AMQP_URI, or the local server). The grandmother grants her grandchild a mandate
first, so that the mandates page and the grandchild's acting-for page show one."""
import contextlib
import re
import sys
import tempfile
from pathlib import Path

from services.common.config import PROJECT_ROOT
from tests import infra
from tests.e2e.chromium import chromium
from tests.e2e.system import running_vool, wait_for_the_demo
from tests.e2e.test_portal_browser import (GRANDCHILD, GRANDCHILD_CODE, GRANDMOTHER, POINT_OF,
                                           Walk)

OUT = PROJECT_ROOT / "docs" / "portal"


def shoot(walk, name):
    path = OUT / f"{name}-{walk.language}.png"
    walk.page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(PROJECT_ROOT)}")


def grant_mandate(walk):
    walk.nav("Mandates")
    page = walk.page
    page.get_by_label(re.compile("^" + re.escape(walk._("Their personal code")))).fill(
        GRANDCHILD_CODE)
    for group in ("contract", "invoices", "readings"):
        page.locator(f"#scope-{group}").check()
    walk.click("button", walk._("Review the mandate"))
    walk.click("button", walk._("Grant"))


def revoke_mandate(walk):
    walk.nav("Mandates")
    walk.click("button", walk._("Revoke the mandate of %(name)s", name=GRANDCHILD))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        broker = infra.start_broker(stack)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        system = stack.enter_context(running_vool(broker, folder))
        wait_for_the_demo(system)
        browser = stack.enter_context(chromium())
        for language in ("et", "en"):
            her = Walk(browser, system, language)
            her.login(GRANDMOTHER)
            shoot(her, "overview")
            her.click("link", her._("Readings of %(address)s", address=POINT_OF["et"]))
            shoot(her, "point")
            her.nav("Invoices and payments")
            shoot(her, "invoices")
            grant_mandate(her)
            shoot(her, "mandates")
            grandchild = Walk(browser, system, language)
            grandchild.login(GRANDCHILD)
            grandchild.page.get_by_label(grandchild._("Acting for")).select_option(
                label=GRANDMOTHER)
            grandchild.click("button", grandchild._("Switch"))
            shoot(grandchild, "acting-for")
            revoke_mandate(her)
            her.close()
            grandchild.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
