"""`/orgs`, `/users`, `/invitations` and `/audit`: administration within an organization."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.responses import Response

from universal_ai_tools.auth.audit import AuditFilter
from universal_ai_tools.auth.deps import AdminDep, IdentityDep, PrincipalDep
from universal_ai_tools.auth.schemas import (
    AuditOut,
    CreateOrgRequest,
    CreateUserRequest,
    InvitationOut,
    InvitationRequest,
    OrgCreated,
    OrgOut,
    Page,
    UpdateUserRequest,
    UserOut,
)

router = APIRouter(tags=["administration"])


def _user(user: object) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/orgs", response_model=OrgCreated, status_code=status.HTTP_201_CREATED)
async def create_org(
    body: CreateOrgRequest, principal: PrincipalDep, identity: IdentityDep
) -> OrgCreated:
    """Instance administrators only (the first owner)."""
    organization, owner = await identity.users.create_org(
        principal, body.name, body.owner.email, body.owner.password
    )
    return OrgCreated(
        **OrgOut.model_validate(organization, from_attributes=True).model_dump(),
        owner=_user(owner),
    )


@router.get("/orgs", response_model=Page[OrgOut])
async def list_orgs(principal: PrincipalDep, identity: IdentityDep) -> Page[OrgOut]:
    orgs = await identity.users.list_orgs(principal)
    return Page(data=[OrgOut.model_validate(o, from_attributes=True) for o in orgs])


@router.get("/orgs/{org_id}", response_model=OrgOut)
async def get_org(org_id: str, principal: PrincipalDep, identity: IdentityDep) -> OrgOut:
    return OrgOut.model_validate(
        await identity.users.get_org(principal, org_id), from_attributes=True
    )


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: CreateUserRequest, principal: AdminDep, identity: IdentityDep
) -> UserOut:
    return _user(await identity.users.create_user(principal, body.email, body.password, body.role))


@router.get("/users", response_model=Page[UserOut])
async def list_users(principal: AdminDep, identity: IdentityDep) -> Page[UserOut]:
    return Page(data=[_user(u) for u in await identity.users.list_users(principal)])


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: str, principal: PrincipalDep, identity: IdentityDep) -> UserOut:
    return _user(await identity.users.get_user(principal, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: str, body: UpdateUserRequest, principal: AdminDep, identity: IdentityDep
) -> UserOut:
    return _user(await identity.users.update_user(principal, user_id, body.role, body.suspended))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: str, principal: AdminDep, identity: IdentityDep) -> Response:
    await identity.users.delete_user(principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/invitations", response_model=InvitationOut, status_code=status.HTTP_201_CREATED)
async def invite(
    body: InvitationRequest, principal: AdminDep, identity: IdentityDep
) -> InvitationOut:
    """An invitation token for `POST /auth/register` (shown only here)."""
    invitation, token = await identity.users.invite(principal, body.email, body.role)
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        expires_at=invitation.expires_at,
        token=token,
    )


@router.get("/audit", response_model=Page[AuditOut])
async def audit(
    principal: AdminDep,
    identity: IdentityDep,
    action: str | None = None,
    actor_id: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditOut]:
    """Security events of your organization, newest first; page with `before`."""
    events = await identity.audit.list(
        principal.org_id,
        AuditFilter(action, actor_id, target_id, since, until, before, limit + 1),
    )
    return Page(
        data=[AuditOut.model_validate(e, from_attributes=True) for e in events[:limit]],
        has_more=len(events) > limit,
    )
