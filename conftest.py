# nameko's pytest plugin no longer monkey-patches eventlet: do it before anything
# imports socket, threading or psycopg2. Not for the browser tests
# (tests/e2e/test_portal_browser.py): Playwright's sync API hangs in a monkey-patched
# process, so `make test` runs them in a pytest of their own with VOOL_EVENTLET_PATCH=0.
import os

import eventlet

if os.environ.get("VOOL_EVENTLET_PATCH", "1") != "0":
    eventlet.monkey_patch()
