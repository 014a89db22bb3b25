"""Request and response bodies of the identity routes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from universal_ai_tools.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from universal_ai_tools.auth.principal import Role
from universal_ai_tools.db.types import INT32_MAX

T = TypeVar("T")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class Strict(BaseModel):
    """Unknown fields are rejected: nobody slips `role` or `org_id` into a request."""

    model_config = ConfigDict(extra="forbid")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Password = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=200)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RegisterRequest(Strict):
    email: str
    password: str = Password
    invitation: str | None = Field(default=None, max_length=200)

    _check_email = field_validator("email")(_email)


class PasswordChange(Strict):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Password


class UserOut(BaseModel):
    id: str
    email: str
    org_id: str
    role: Role
    suspended: bool
    created_at: datetime


class MeOut(UserOut):
    instance_admin: bool
    via: str
    device_id: str | None = None


class CreateUserRequest(Strict):
    email: str
    password: str = Password
    role: Role = "member"

    _check_email = field_validator("email")(_email)


class UpdateUserRequest(Strict):
    role: Role | None = None
    suspended: bool | None = None


class OwnerSpec(Strict):
    email: str
    password: str = Password

    _check_email = field_validator("email")(_email)


class CreateOrgRequest(Strict):
    name: str = Field(min_length=1, max_length=200)
    owner: OwnerSpec


class OrgOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class OrgCreated(OrgOut):
    owner: UserOut


class InvitationRequest(Strict):
    email: str | None = None
    role: Role = "member"

    @field_validator("email")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return _email(value) if value is not None else None


class InvitationOut(BaseModel):
    id: str
    email: str | None
    role: Role
    expires_at: datetime
    token: str  # shown only here


class ApiKeyRequest(Strict):
    name: str = Field(min_length=1, max_length=200)
    models: list[str] | None = Field(default=None, max_length=100)
    rpm: int | None = Field(default=None, ge=1, le=INT32_MAX)
    daily_tokens: int | None = Field(default=None, ge=1, le=INT32_MAX)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    user_id: str
    models: list[str] | None
    rpm: int | None
    daily_tokens: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown only here


class DeviceRequest(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=50)
    public_key: str = Field(max_length=64)


class DeviceRename(Strict):
    name: str = Field(min_length=1, max_length=200)


class DeviceOut(BaseModel):
    id: str
    name: str
    kind: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


class ChallengeRequest(BaseModel):
    device_id: str = Field(max_length=64)


class ChallengeOut(BaseModel):
    challenge: str
    expires_in: int


class DeviceLoginRequest(BaseModel):
    device_id: str = Field(max_length=64)
    challenge: str = Field(max_length=200)
    signature: str = Field(max_length=200)


class AuditOut(BaseModel):
    id: str
    action: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    address: str | None
    detail: str | None
    created_at: datetime


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool = False
