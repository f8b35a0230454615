"""notifications' published interface: the commands its RPC methods take.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from notifications.
"""
from typing import Literal

from pydantic import Field

from services.common.validation import Shape

CUSTOMER_KINDS = ("proposal", "complaint", "question")   # what customers write themselves


class Feedback(Shape):
    kind: Literal[CUSTOMER_KINDS]
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=10_000)


class Reply(Shape):
    body: str = Field(min_length=1, max_length=10_000)
