"""A real SMTP server for tests: aiosmtpd in its own process, storing what it
receives in a Maildir. Its own process, so a test can take it down and bring it
back on the same port, and its asyncio loop never meets eventlet."""
import mailbox
import socket
import subprocess
import sys
import time
from email import message_from_bytes
from email.policy import default

import pytest

from tests.conftest import free_port, wait_for


class MailServer:
    def __init__(self, folder, port=None):
        self.folder, self.port = folder, port or free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox",
             str(self.folder), "-l", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, message=f"the SMTP server on port {self.port}")
        return self

    def _answers(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def messages(self):
        """Every message received so far, parsed (in no particular order)."""
        if not (self.folder / "new").is_dir():
            return []
        box = mailbox.Maildir(self.folder, factory=None, create=False)
        parsed = []
        for key in box.keys():
            with box.get_file(key) as handle:
                parsed.append(message_from_bytes(handle.read(), policy=default))
        return parsed

    def to(self, address):
        return [m for m in self.messages() if m["To"] == address]

    def wait_for_messages(self, address, count=1, timeout=20):
        return wait_for(lambda: (lambda got: got if len(got) >= count else None)(self.to(address)),
                        timeout=timeout, message=f"{count} message(s) to {address}")

    def settle(self, seconds=1.5):
        """Let anything still on its way arrive before counting."""
        time.sleep(seconds)


@pytest.fixture
def mail_server(tmp_path):
    server = MailServer(tmp_path / "maildir")
    yield server
    server.stop()


def smtp_settings(server, **extra):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port,
            "VOOL_MAIL_FROM": "Vool <teated@vool.test>", **extra}
