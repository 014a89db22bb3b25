"""`/api-keys` and `/devices`: the credentials a user holds."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.responses import Response

from universal_ai_tools.auth.deps import IdentityDep, MemberDep, PrincipalDep
from universal_ai_tools.auth.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyRequest,
    DeviceOut,
    DeviceRename,
    DeviceRequest,
    Page,
)
from universal_ai_tools.errors import BadRequest
from universal_ai_tools.llm.deps import RegistryDep

router = APIRouter(tags=["credentials"])


def _key(key: object) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key, from_attributes=True)


def _device(device: object) -> DeviceOut:
    return DeviceOut.model_validate(device, from_attributes=True)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_key(
    body: ApiKeyRequest, principal: MemberDep, identity: IdentityDep, registry: RegistryDep
) -> ApiKeyCreated:
    """The `key` is shown only in this answer; it is stored as a hash."""
    unknown = [m for m in body.models or () if not registry.has(m)]
    if unknown:
        raise BadRequest(f"unknown models: {', '.join(unknown)}")
    key, secret = await identity.api_keys.create(
        principal, body.name, body.models, body.rpm, body.daily_tokens
    )
    return ApiKeyCreated(**_key(key).model_dump(), key=secret)


@router.get("/api-keys", response_model=Page[ApiKeyOut])
async def list_keys(principal: PrincipalDep, identity: IdentityDep) -> Page[ApiKeyOut]:
    return Page(data=[_key(k) for k in await identity.api_keys.list(principal)])


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut)
async def get_key(key_id: str, principal: PrincipalDep, identity: IdentityDep) -> ApiKeyOut:
    return _key(await identity.api_keys.get(principal, key_id))


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: str, principal: PrincipalDep, identity: IdentityDep) -> Response:
    await identity.api_keys.revoke(principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/devices", response_model=DeviceOut, status_code=status.HTTP_201_CREATED)
async def register_device(
    body: DeviceRequest, principal: MemberDep, identity: IdentityDep
) -> DeviceOut:
    return _device(
        await identity.devices.register(principal, body.name, body.kind, body.public_key)
    )


@router.get("/devices", response_model=Page[DeviceOut])
async def list_devices(principal: PrincipalDep, identity: IdentityDep) -> Page[DeviceOut]:
    return Page(data=[_device(d) for d in await identity.devices.list(principal)])


@router.get("/devices/{device_id}", response_model=DeviceOut)
async def get_device(device_id: str, principal: PrincipalDep, identity: IdentityDep) -> DeviceOut:
    return _device(await identity.devices.get(principal, device_id))


@router.patch("/devices/{device_id}", response_model=DeviceOut)
async def rename_device(
    device_id: str, body: DeviceRename, principal: PrincipalDep, identity: IdentityDep
) -> DeviceOut:
    return _device(await identity.devices.rename(principal, device_id, body.name))


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_device(device_id: str, principal: PrincipalDep, identity: IdentityDep) -> Response:
    await identity.devices.revoke(principal, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
