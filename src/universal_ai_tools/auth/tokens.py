"""Access JWTs (HS256 pinned), opaque secrets (refresh tokens, API keys) and the signing key."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from universal_ai_tools.errors import Unauthorized
from universal_ai_tools.settings import ConfigError

ALGORITHM = "HS256"
ISSUER = "universal-ai-tools"
AUDIENCE = "uait"
MIN_SECRET_BYTES = 32
API_KEY_PREFIX = "uait_"
SECRET_FILE = "jwt_secret"


def load_signing_secret(configured: str | None, data_dir: Path) -> bytes:
    """`UAIT_JWT_SECRET`, or a random secret generated once into the data directory."""
    if configured is not None:
        secret = configured.encode()
        if len(configured.strip().encode()) < MIN_SECRET_BYTES:  # blanks pad nothing
            raise ConfigError(
                f"UAIT_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return secret
    path = data_dir / SECRET_FILE
    if not path.exists():
        _generate_secret_file(path)
    secret = path.read_text().strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"the signing secret in the data directory is too short ({SECRET_FILE})")
    return secret


def _generate_secret_file(path: Path) -> None:
    """Written whole under another name, then linked into place (mode 0600).

    Worker processes starting together on an empty data directory all end up with the
    secret of the first link; none ever reads a file that is still being written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: everyone uses its secret
        except OSError:  # a file system without hard links
            if not path.exists():
                os.rename(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def hash_secret(value: str) -> str:
    """SHA-256 of a high-entropy secret: enough for random tokens, and quick to look up."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    org_id: str
    role: str
    session_id: str | None
    device_id: str | None
    jti: str
    expires_at: int


class TokenSigner:
    def __init__(self, secret: bytes, ttl_seconds: int = 900) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        *,
        user_id: str,
        org_id: str,
        role: str,
        session_id: str | None,
        device_id: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": user_id,
            "org": org_id,
            "role": role,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_hex(16),
            "typ": "access",
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        if session_id is not None:
            claims["sid"] = session_id
        if device_id is not None:
            claims["device_id"] = device_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["sub", "org", "role", "iat", "exp", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid access token", code="invalid_token") from None
        if claims.get("typ") != "access":
            raise Unauthorized("invalid access token", code="invalid_token")
        return AccessClaims(
            user_id=str(claims["sub"]),
            org_id=str(claims["org"]),
            role=str(claims["role"]),
            session_id=claims.get("sid"),
            device_id=claims.get("device_id"),
            jti=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
