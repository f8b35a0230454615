"""nameko's web server, listening alone on its address.

nameko's WebServer listens through ``eventlet.listen``, which sets SO_REUSEPORT:
a second process on the same address then starts without complaint and the
kernel hands it half the connections (a gateway and the test bank both on :8100
answered each other's requests). Here the socket is bound without it, so a taken
address is refused at start with a message naming it.
"""
import errno
import logging

import eventlet
from nameko.web.server import BindAddress, WebServer, parse_address

log = logging.getLogger(__name__)


class AddressInUse(SystemExit):
    """The web server's address is taken by another process: the process ends with
    status 1 and this message, not a traceback (eventlet's hub lets a SystemExit
    through to the main greenlet, where ``nameko run`` ends)."""

    def __init__(self, message):
        super().__init__(1)
        self.message = message

    def __str__(self):
        return self.message


def shown(address: BindAddress) -> str:
    return f"{address.address or '0.0.0.0'}:{address.port}"


def listen_alone(address: BindAddress, who: str, setting: str):
    """A listening socket on ``address`` that no other process shares, or
    AddressInUse naming the address and the setting that moves it."""
    try:
        # SO_REUSEADDR stays (a restart need not wait out TIME_WAIT); it does not
        # let two listeners share a port, SO_REUSEPORT would
        return eventlet.listen(address, reuse_port=False)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise AddressInUse(f"{who}: the address {shown(address)} is already in use by "
                           f"another process; stop that one or set {setting} to another "
                           "address") from None


def ensure_address_free(address_string: str, who: str, setting: str):
    """Refuse early (AddressInUse) when nothing could listen on the address now."""
    listen_alone(parse_address(address_string), who, setting).close()


class ExclusiveWebServer(WebServer):
    #: the setting an operator changes to move this server (named in the refusal)
    address_setting = "WEB_SERVER_ADDRESS"

    def start(self):
        if not self._starting:
            try:
                self._sock = listen_alone(self.bind_addr, self.container.service_name,
                                          self.address_setting)
            except AddressInUse as exc:
                log.critical("%s", exc)
                raise
            self._starting = True
            # work around https://github.com/celery/kombu/issues/838 (as nameko does)
            self._sock.settimeout(None)
            self._serv = self.get_wsgi_server(self._sock, self.get_wsgi_app())
            self._gt = self.container.spawn_managed_thread(self.run)

    def stop(self):
        if self._gt is None:     # never listened: its address was taken
            return
        super().stop()
