"""The gateway's request and response models (pydantic): the same models
validate requests and generate the OpenAPI document."""
from typing import Optional

from pydantic import BaseModel


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """application/problem+json (RFC 9457)."""
    type: str
    title: str
    status: int
    detail: str = ""
    errors: Optional[list[FieldError]] = None


class Health(BaseModel):
    status: str
    services: dict[str, str]
