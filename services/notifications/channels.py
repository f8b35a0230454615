"""The ways out besides the inbox: e-mail over SMTP and SMS.

Each channel offers ``session()``, a context manager yielding ``send(delivery)``
for one batch (an SMTP connection serves a whole batch). ``send`` raises
``Undeliverable`` when retrying cannot help, anything else when it might.
"""
import logging
import smtplib
import ssl
from contextlib import AbstractContextManager, contextmanager
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Callable, Mapping, Protocol

from nameko.extensions import DependencyProvider

from services.common import config as cfg
from services.notifications.delivery import RetryPolicy, Undeliverable

log = logging.getLogger(__name__)

DEFAULT_SENDER = "Vool <vool@localhost>"
SMTP_TIMEOUT_SECONDS = 20   # a hanging server must not hold claimed rows for long


class Channel(Protocol):
    """What a channel offers; an SMS provider plugs in by implementing it."""

    def session(self) -> AbstractContextManager[Callable[[Mapping], None]]:
        ...


def compose(delivery, sender):
    """The e-mail of a delivery: plain text, UTF-8, in the customer's language."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery["address"]
    message["Subject"] = delivery["subject"]
    message["Date"] = formatdate(localtime=True)
    # the same id on a re-send lets mail systems drop the copy
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{delivery['delivery_id']}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"   # RFC 3834: no auto-replies, please
    message.set_content(delivery["body"])
    message["Content-Language"] = delivery["language"]   # after: set_content clears Content-*
    return message


def _refused_for_good(exc):
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return (isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500
            and not isinstance(exc, smtplib.SMTPSenderRefused))   # ours to fix, then retry


class SmtpMailer:
    def __init__(self, host, port, sender, user=None, password=None, starttls=False):
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls

    @contextmanager
    def session(self):
        with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            yield lambda delivery: self._send(smtp, delivery)

    def _send(self, smtp, delivery):
        try:
            smtp.send_message(compose(delivery, self.sender))
        except smtplib.SMTPException as exc:
            if _refused_for_good(exc):
                raise Undeliverable(str(exc)) from exc
            raise


class LoggingChannel:
    """Writes each message to the log instead of sending it: SMS until a provider
    is contracted, and e-mail where no SMTP server is configured (development)."""

    def __init__(self, name):
        self.name = name

    @contextmanager
    def session(self):
        yield lambda delivery: log.info("%s to %s: %s | %s", self.name, delivery["address"],
                                        delivery["subject"], delivery["body"])


def mailer(config):
    host = cfg.setting(config, "SMTP_HOST")
    if not host:
        log.warning("SMTP_HOST is not set: e-mails are written to the log, not sent")
        return LoggingChannel("e-mail")
    return SmtpMailer(
        host, cfg.int_setting(config, "SMTP_PORT", 25),
        cfg.setting(config, "VOOL_MAIL_FROM", DEFAULT_SENDER),
        user=cfg.setting(config, "SMTP_USER"), password=cfg.setting(config, "SMTP_PASSWORD"),
        starttls=str(cfg.setting(config, "SMTP_STARTTLS", "false")).lower()
        in ("1", "true", "yes"))


class Channels(DependencyProvider):
    """``channels["email"]``, ``channels["sms"]`` and the retry policy."""

    def setup(self):
        config = self.container.config
        self.by_name = {"email": mailer(config), "sms": LoggingChannel("SMS")}
        self.policy = RetryPolicy(
            max_attempts=cfg.int_setting(config, "VOOL_DELIVERY_ATTEMPTS", 8),
            backoff_seconds=cfg.float_setting(config, "VOOL_DELIVERY_BACKOFF", 30.0))

    def __getitem__(self, name):
        return self.by_name[name]

    def get_dependency(self, worker_ctx):
        return self
