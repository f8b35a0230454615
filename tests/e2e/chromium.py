"""Debian's Chromium driven by Playwright, and axe-core on what it shows.

No browser is downloaded (`playwright install` cannot work here): Playwright's own
driver, from its wheel, drives the `chromium` found on PATH (.ci/run installs
Debian's package when there is none). axe-core comes from npm, pinned by
tests/e2e/browser/package-lock.json (`make install` runs `npm ci` there)."""
import contextlib
import shutil
from functools import lru_cache
from pathlib import Path

from playwright.sync_api import sync_playwright

#: as root on this machine: no sandbox (root has none), and none of the background
#: connections to Google's hosts that the closed network refuses, many at a time
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
AXE_SCRIPT = Path(__file__).parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.2 AA: the rules of each level up to it (axe tags its rules by the version
#: that added them)
WCAG_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
FAILING_IMPACTS = ("serious", "critical")
PHONE = {"width": 390, "height": 844}


def chromium_path():
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("no chromium on PATH: install Debian's package "
                           "(apt-get install --no-install-recommends chromium; .ci/run does)")
    return found


@contextlib.contextmanager
def chromium():
    """A headless Chromium for as long as the block lasts."""
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@lru_cache(maxsize=1)
def axe_source():
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"{AXE_SCRIPT} is missing: run `make install` (npm ci in "
                           "tests/e2e/browser)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


def accessibility_violations(page):
    """axe-core's WCAG 2.2 AA violations of what ``page`` shows now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # evaluated by the driver, not as a <script>: no page's CSP can refuse it
        page.evaluate(axe_source())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
                           " resultTypes: ['violations']})", list(WCAG_AA))
    return result["violations"]


def describe(violations):
    lines = []
    for violation in violations:
        lines.append(f"- {violation['impact']}: {violation['id']}: {violation['help']} "
                     f"({violation['helpUrl']})")
        for node in violation["nodes"][:5]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    at {target}: {node['html'][:160]}\n      {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


def check_accessibility(page, described_as=None):
    """Fail, listing them readably, on any serious or critical WCAG 2.2 AA violation
    axe-core finds in ``page`` as it is now."""
    failing = [v for v in accessibility_violations(page) if v["impact"] in FAILING_IMPACTS]
    if failing:
        raise AssertionError(f"axe-core: {len(failing)} serious or critical WCAG 2.2 AA "
                             f"violation(s) on {described_as or page.url} ({page.title()!r}):\n"
                             f"{describe(failing)}")


class PassingPages:
    """The pages that send their form on at once (on to the bank, back from it), too
    quickly to be checked where they are shown: their markup as served, kept as they
    pass through ``context`` on the addresses ``url_globs``."""

    def __init__(self, context, *url_globs):
        self.context, self.seen = context, []
        for url_glob in url_globs:
            context.route(url_glob, self._keep)

    def _keep(self, route):
        response = route.fetch(max_redirects=0)
        self.seen.append((route.request.url, response.text()))
        route.fulfill(response=response)

    def check(self):
        """``check_accessibility`` each one kept since, in a page of its own where its
        script does not run (DOMParser's documents run none), as a browser without
        JavaScript shows it; how many there were."""
        seen, self.seen = self.seen, []
        for url, html in seen:
            page = self.context.new_page()
            try:
                page.evaluate("""html => {
                    const served = new DOMParser().parseFromString(html, "text/html");
                    document.replaceChild(document.adoptNode(served.documentElement),
                                          document.documentElement);
                }""", html)
                check_accessibility(page, described_as=url)
            finally:
                page.close()
        return len(seen)
