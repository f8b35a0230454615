"""Logging for the services: a refused request is not a bug.

nameko logs an entrypoint's expected exception (our VoolErrors: not found,
validation, conflict, ...) as a warning *with its traceback*, which buries the
real errors; this filter keeps the one-line message and drops the traceback.
deploy/config/nameko.yaml attaches it to the console handler.
"""
import logging

EXPECTED = "(expected) error handling worker"


class ExpectedErrorsBrief(logging.Filter):
    def filter(self, record):
        if record.name == "nameko.containers" and str(record.msg).startswith(EXPECTED):
            record.exc_info = None
            record.exc_text = None
        return True
