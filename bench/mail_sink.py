"""An SMTP server for ``bench.reminder_sweep`` that only notes each message's
Message-ID and Subject, one line each (aiosmtpd, run in its own process)."""
from email.parser import BytesParser
from email.policy import default


class Counting:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1, encoding="utf-8")

    async def handle_DATA(self, server, session, envelope):
        headers = BytesParser(policy=default).parsebytes(envelope.content, headersonly=True)
        self.file.write(f"{headers['Message-ID']}\t{headers['Subject']}\n")
        return "250 OK"

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("bench.mail_sink.Counting takes one argument: the file to write")
        return cls(args[0])
