"""The gateway's request and response models (pydantic): the same models
validate requests and generate the OpenAPI document."""
from typing import Optional

from pydantic import BaseModel, Field

from services.common.validation import Shape


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


class Bank(BaseModel):
    id: str
    name: str


class BanklinkForm(BaseModel):
    """The signed request the browser posts to the bank."""
    action: str
    method: str
    fields: dict[str, str]


class Person(BaseModel):
    person_code: str
    name: str


class CustomerLogin(BaseModel):
    token: str
    expires_at: str
    person: Person


class ActingFor(BaseModel):
    customer_id: str
    name: str
    relation: str
    scopes: list[str]


class Me(BaseModel):
    person: Person
    customers: list[ActingFor]


class OperatorCredentials(Shape):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1000)


class OperatorLogin(BaseModel):
    token: str
    expires_at: str


class Operator(BaseModel):
    username: str
    role: str
