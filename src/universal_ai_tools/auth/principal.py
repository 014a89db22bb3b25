"""Who is calling: the identity every authorized request carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["owner", "admin", "member", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    org_id: str
    email: str
    role: Role
    instance_admin: bool
    via: Literal["token", "api_key", "device"]
    session_id: str | None = None
    device_id: str | None = None
    api_key_id: str | None = None
    allowed_models: tuple[str, ...] | None = None  # an API key's allowlist
    rpm: int | None = None
    daily_tokens: int | None = None
    user_rpm: int | None = None
    user_daily_tokens: int | None = None

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def limit_scope(self) -> str:
        """The rate-limit scope of this credential: its API key, else the user."""
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"
