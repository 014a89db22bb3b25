"""Devices ("hardware authentication"): an Ed25519 key pair; the device signs a challenge."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.api_keys import require_login
from universal_ai_tools.auth.audit import AuditLog
from universal_ai_tools.auth.cache import IdentityCache
from universal_ai_tools.auth.models import Device, DeviceChallenge, RefreshToken, User
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.auth.sessions import SessionService, TokenPair
from universal_ai_tools.auth.tokens import hash_secret
from universal_ai_tools.auth.users import require
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import BadRequest, NotFound, Unauthorized

CHALLENGE_SECONDS = 300
# The encodings of the Ed25519 points of small order (libsodium's blocklist), sign bit
# cleared. Under such a key one signature verifies for every message: anyone could log in.
SMALL_ORDER_KEYS = frozenset(
    bytes.fromhex(encoded)
    for encoded in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def has_small_order(raw: bytes) -> bool:
    return raw[:31] + bytes([raw[31] & 0x7F]) in SMALL_ORDER_KEYS


def decode_public_key(encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("public_key must be base64") from None
    if len(raw) != 32:
        raise BadRequest("public_key must be a raw 32-byte Ed25519 key, base64-encoded")
    if has_small_order(raw):
        raise BadRequest("public_key is a weak Ed25519 key (a point of small order)")
    return raw


class DeviceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        audit: AuditLog,
        cache: IdentityCache[object],
        session_service: SessionService,
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.cache = cache
        self.session_service = session_service

    async def register(self, actor: Principal, name: str, kind: str, public_key: str) -> Device:
        require(actor, "member")
        require_login(actor)
        decode_public_key(public_key)
        device = Device(
            org_id=actor.org_id, user_id=actor.user_id, name=name, kind=kind, public_key=public_key
        )
        async with self.sessions.begin() as session:
            session.add(device)
        await self.audit.record(
            "device.create",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="device",
            target_id=device.id,
            detail={"name": name, "kind": kind},
        )
        return device

    async def list(self, actor: Principal) -> list[Device]:
        statement = select(Device).where(Device.org_id == actor.org_id)
        if not actor.at_least("admin"):
            statement = statement.where(Device.user_id == actor.user_id)
        async with self.sessions() as session:
            return list((await session.scalars(statement.order_by(Device.created_at))).all())

    async def _owned(self, session: AsyncSession, actor: Principal, device_id: str) -> Device:
        device = await session.get(Device, device_id)
        if device is None or device.org_id != actor.org_id:
            raise NotFound("device not found")
        if device.user_id != actor.user_id and not actor.at_least("admin"):
            raise NotFound("device not found")
        return device

    async def get(self, actor: Principal, device_id: str) -> Device:
        async with self.sessions() as session:
            return await self._owned(session, actor, device_id)

    async def rename(self, actor: Principal, device_id: str, name: str) -> Device:
        async with self.sessions.begin() as session:
            device = await self._owned(session, actor, device_id)
            device.name = name
        return device

    async def revoke(self, actor: Principal, device_id: str) -> None:
        """The device's tokens stop working on their next request."""
        async with self.sessions.begin() as session:
            device = await self._owned(session, actor, device_id)
            if device.revoked_at is None:
                device.revoked_at = utcnow()
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.device_id == device_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        self.cache.invalidate()
        await self.audit.record(
            "device.revoke",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="device",
            target_id=device_id,
        )

    async def challenge(self, device_id: str) -> str:
        challenge = secrets.token_urlsafe(32)
        async with self.sessions.begin() as session:
            device = await session.get(Device, device_id)
            if device is None or device.revoked_at is not None:
                raise NotFound("device not found")
            await session.execute(
                delete(DeviceChallenge).where(DeviceChallenge.expires_at < utcnow())
            )
            session.add(
                DeviceChallenge(
                    challenge_hash=hash_secret(challenge),
                    device_id=device_id,
                    expires_at=utcnow() + timedelta(seconds=CHALLENGE_SECONDS),
                )
            )
        return challenge

    async def login(
        self, device_id: str, challenge: str, signature: str, address: str
    ) -> TokenPair:
        async with self.sessions.begin() as session:
            pending = await session.get(DeviceChallenge, hash_secret(challenge))
            if pending is not None:
                await session.delete(pending)  # a challenge is good for one attempt
            device = await session.get(Device, device_id)
            user = await session.get(User, device.user_id) if device else None
        valid = (
            pending is not None
            and pending.device_id == device_id
            and pending.expires_at > utcnow()
            and device is not None
            and device.revoked_at is None
            and user is not None
            and not user.suspended
            and _signature_valid(device.public_key, challenge, signature)
        )
        if not valid or device is None or user is None:
            await self.audit.record(
                "device.login_failure",
                org_id=device.org_id if device else None,
                target_type="device",
                target_id=device_id if device else None,
                address=address,
            )
            raise Unauthorized("device authentication failed")
        async with self.sessions.begin() as session:
            await session.execute(
                update(Device).where(Device.id == device_id).values(last_seen_at=utcnow())
            )
        await self.audit.record(
            "device.login",
            org_id=device.org_id,
            actor_id=user.id,
            target_type="device",
            target_id=device_id,
            address=address,
        )
        return await self.session_service.start_device_session(user, device_id)


def _signature_valid(public_key: str, challenge: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(public_key)
        if len(raw) != 32 or has_small_order(raw):  # registered before keys were checked
            return False
        key = Ed25519PublicKey.from_public_bytes(raw)
        key.verify(base64.b64decode(signature, validate=True), challenge.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
