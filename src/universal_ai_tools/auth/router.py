"""`/auth/*`: login, token refresh, logout, the caller's profile, registration, devices."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.auth.deps import IdentityDep, PrincipalDep, client_address
from universal_ai_tools.auth.devices import CHALLENGE_SECONDS
from universal_ai_tools.auth.schemas import (
    ChallengeOut,
    ChallengeRequest,
    DeviceLoginRequest,
    LoginRequest,
    LogoutRequest,
    MeOut,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
)
from universal_ai_tools.auth.sessions import TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, identity: IdentityDep) -> TokenResponse:
    pair = await identity.sessions.login(body.email, body.password, client_address(request))
    return _tokens(pair)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, request: Request, identity: IdentityDep) -> TokenResponse:
    return _tokens(await identity.sessions.refresh(body.refresh_token, client_address(request)))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request, identity: IdentityDep, body: LogoutRequest | None = None
) -> Response:
    """Ends the session of the refresh token in the body (or of the bearer access token)."""
    session_id = None
    if body is None or body.refresh_token is None:
        from universal_ai_tools.auth.deps import presented_credential

        credential = presented_credential(request)
        if credential is not None and not credential.startswith("uait_"):
            principal = await identity.authenticator.authenticate(credential)
            session_id = principal.session_id
    await identity.sessions.logout(body.refresh_token if body else None, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut)
async def me(principal: PrincipalDep, identity: IdentityDep) -> MeOut:
    user = await identity.users.get_user(principal, principal.user_id)
    return MeOut(
        **UserOut.model_validate(user, from_attributes=True).model_dump(),
        instance_admin=user.instance_admin,
        via=principal.via,
        device_id=principal.device_id,
    )


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChange, principal: PrincipalDep, identity: IdentityDep
) -> Response:
    await identity.users.change_password(principal, body.current_password, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, request: Request, identity: IdentityDep) -> UserOut:
    """Open only when `auth.open_registration` is on, or with an invitation token."""
    user = await identity.sessions.register(
        body.email, body.password, body.invitation, client_address(request)
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/device/challenge", response_model=ChallengeOut)
async def device_challenge(body: ChallengeRequest, identity: IdentityDep) -> ChallengeOut:
    challenge = await identity.devices.challenge(body.device_id)
    return ChallengeOut(challenge=challenge, expires_in=CHALLENGE_SECONDS)


@router.post("/device/login", response_model=TokenResponse)
async def device_login(
    body: DeviceLoginRequest, request: Request, identity: IdentityDep
) -> TokenResponse:
    pair = await identity.devices.login(
        body.device_id, body.challenge, body.signature, client_address(request)
    )
    return _tokens(pair)
