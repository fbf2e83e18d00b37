"""Signing in through the company's identity provider (OpenID Connect, authorization code flow).

mozilla-django-oidc does the protocol: the sign-in request with state, nonce and PKCE (S256)
(escalations.web.oidc_views.ProviderSignInView), the code exchanged at the token endpoint, the signing
key picked from the provider's JWKS by `kid`, and the nonce compared. Here on top of it:

- the ID token is checked as the library does not: RS256 only, signature, `iss` equal to OIDC_ISSUER,
  `aud` holding OIDC_CLIENT_ID (and `azp` when there are several audiences), `exp`, `iat` and `sub`
  present, expiry with OIDC_CLOCK_SKEW_SECONDS of tolerance;
- the person: found by (issuer, sub) once linked; at a first sign-in an existing account with the same
  email (exactly one, not a break-glass account, the provider not saying the email is unverified) is
  linked, else an account is made (username from preferred_username, else the email, else sub);
- their roles, set from the OIDC_ROLE_CLAIM claim through OIDC_ROLE_MAP at every sign-in: a mapped
  value added gives the role, one removed takes it away; other groups are left alone. Each change is
  one GROUPS_CHANGED event saying it came from the provider. With OIDC_ROLE_CLAIM empty the provider
  sets no roles: they are kept in the admin as for local accounts;
- whether the sign-in gave a second factor (`amr`, escalations.accounts.two_factor).

Everything refused raises ProviderRefused with a reason for the audit trail and the person."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import absolutify

from escalations.accounts import oidc_discovery, password_sign_in
from escalations.accounts.lockout_username import recorded_username
from escalations.accounts.security_events import groups_audited_by_caller
from escalations.core import services
from escalations.core.people import User
from escalations.core.permissions import ROLES
from escalations.models import AuditAction, ProviderIdentity

SIGN_ALGORITHM = "RS256"
_USERNAME_CHARS = re.compile(r"[^\w.@+-]")
USERNAME_MAX_LENGTH = 150


class ProviderRefused(Exception):
    """A sign-in through the provider that must not go on; `reason` is safe to record and to show."""

    def __init__(self, reason: str, *, username: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.username = username


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderSignIn:
    user: User
    how: str  # "existing", "linked" or "created"
    amr: list[str]
    second_factor: bool
    roles: frozenset[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # The provider sent no OIDC_ROLE_CLAIM at all (not even empty): usually a scope or claim mapping
    # missing at the provider, which otherwise looks like "everyone lost their role".
    role_claim_missing: bool = False


def claim_values(claims: dict[str, Any], name: str) -> list[str]:
    """The values of claim `name` as a list of strings: a list, or one string. A dotted name reaches
    into an object when no claim has the whole name (Keycloak's "realm_access.roles")."""
    value: Any = claims.get(name)
    if value is None and "." in name:
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


def claim_present(claims: dict[str, Any], name: str) -> bool:
    """Whether the claims carry `name` at all (a dotted name reaches into objects, as claim_values)."""
    if name in claims:
        return True
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def roles_from(claims: dict[str, Any]) -> frozenset[str]:
    """Our roles for these claims, through OIDC_ROLE_MAP (values it does not name give no role)."""
    mapping: dict[str, str] = settings.OIDC_ROLE_MAP
    return frozenset(
        mapping[value] for value in claim_values(claims, settings.OIDC_ROLE_CLAIM) if mapping.get(value) in ROLES
    )


def second_factor_in(amr: list[str]) -> bool:
    return bool(set(amr) & set(settings.OIDC_MFA_AMR))


def set_roles(user: User, roles: frozenset[str]) -> tuple[list[str], list[str]]:
    """Make `user`'s role groups exactly `roles` (their other groups stay); one GROUPS_CHANGED event
    for what changed, naming the provider's claim as its source. Returns (added, removed)."""
    current = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    added = sorted(roles - current)
    removed = sorted(current - roles)
    if not added and not removed:
        return added, removed
    with groups_audited_by_caller():
        if added:
            user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in added))
        if removed:
            user.groups.remove(*Group.objects.filter(name__in=removed))
    services.record_account_event(
        actor=None,
        action=AuditAction.GROUPS_CHANGED,
        changes={
            "user": user.get_username(),
            "added": added,
            "removed": removed,
            "source": "identity provider",
            "claim": settings.OIDC_ROLE_CLAIM,
        },
    )
    return added, removed


def _username_for(claims: dict[str, Any]) -> str:
    """A free username from preferred_username, else the email, else the subject."""
    model = get_user_model()
    for source in ("preferred_username", "email", "sub"):
        raw = claims.get(source)
        if not isinstance(raw, str) or not raw.strip():
            continue
        base = _USERNAME_CHARS.sub("-", raw.strip())[: USERNAME_MAX_LENGTH - 4]
        candidate = base
        for n in range(2, 100):
            if not model._default_manager.filter(username__iexact=candidate).exists():
                return candidate
            candidate = f"{base}-{n}"
    raise ProviderRefused("no username could be made from the provider's claims")


class ProviderBackend(OIDCAuthenticationBackend):
    """Not one of AUTHENTICATION_BACKENDS: only the provider's callback calls it (`sign_in`), so a
    password sign-in never reaches the network, and django-axes' username lockout (which the provider's
    callback has no username for) is not asked. The session it opens is PersonBackend's."""

    def __init__(self) -> None:
        try:
            found = oidc_discovery.endpoints()
        except oidc_discovery.DiscoveryError as exc:
            raise ProviderRefused(f"the identity provider's settings could not be read: {exc}") from exc
        self.endpoints = found
        self.OIDC_OP_TOKEN_ENDPOINT = found.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = found.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = found.jwks_uri
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = SIGN_ALGORITHM
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    # --- the ID token ---------------------------------------------------------------------------

    def get_payload_data(self, token: Any, key: Any) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience and times are right."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ProviderRefused("the ID token is not a signed JWT") from exc
        if header.get("alg") != SIGN_ALGORITHM:
            raise ProviderRefused(f"the ID token is not signed with {SIGN_ALGORITHM}")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[SIGN_ALGORITHM],
                audience=settings.OIDC_CLIENT_ID,
                issuer=self.endpoints.issuer,
                leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise ProviderRefused("the ID token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise ProviderRefused("the ID token was issued to another client (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise ProviderRefused("the ID token was issued by another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise ProviderRefused("the ID token's signature does not match the provider's keys") from exc
        except jwt.PyJWTError as exc:
            raise ProviderRefused(f"the ID token is not valid ({type(exc).__name__})") from exc
        audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
        if len(audiences) > 1 and payload.get("azp") != settings.OIDC_CLIENT_ID:
            raise ProviderRefused("the ID token names several audiences and is not authorized for this client (azp)")
        return payload

    def verified_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            algorithm = jwt.get_unverified_header(id_token).get("alg")
        except jwt.PyJWTError as exc:
            raise ProviderRefused("the ID token is not a signed JWT") from exc
        if algorithm != SIGN_ALGORITHM:
            # Before any key is looked for: "none" and HS256 (signed with our own client secret) are
            # the classic substitutions.
            raise ProviderRefused(f"the ID token is not signed with {SIGN_ALGORITHM}")
        try:
            return dict(self.verify_token(id_token, nonce=nonce))
        except ProviderRefused:
            raise
        except SuspiciousOperation as exc:
            text = str(exc)
            if "Nonce" in text:
                raise ProviderRefused("the ID token's nonce is not this sign-in's") from exc
            raise ProviderRefused("no key in the provider's JWKS matches the ID token") from exc
        except (requests.RequestException, KeyError, ValueError) as exc:
            raise ProviderRefused(f"the provider's keys could not be read ({type(exc).__name__})") from exc

    # --- the whole sign-in ------------------------------------------------------------------------

    def sign_in(self, request: HttpRequest, *, code: str, nonce: str, code_verifier: str | None) -> ProviderSignIn:
        """Exchange `code`, check the ID token, find or make the person, set their roles.
        Raises ProviderRefused."""
        self.request = request
        payload = {
            "client_id": settings.OIDC_CLIENT_ID,
            "client_secret": settings.OIDC_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": absolutify(request, reverse("oidc_authentication_callback")),
        }
        if code_verifier is not None:
            payload["code_verifier"] = code_verifier
        try:
            tokens = self.get_token(payload)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise ProviderRefused(f"the provider refused the code (token endpoint answered {status})") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderRefused(f"the provider's token endpoint could not be reached ({type(exc).__name__})") from exc
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise ProviderRefused("the provider sent no ID token")
        id_claims = self.verified_id_token(id_token, nonce)
        claims = self.claims(tokens.get("access_token"), id_claims)
        amr = claim_values(id_claims, "amr")
        roles = roles_from(claims)
        role_claim_missing = bool(settings.OIDC_ROLE_CLAIM) and not claim_present(claims, settings.OIDC_ROLE_CLAIM)
        if role_claim_missing:
            logger.warning(
                "OIDC sign-in: neither the ID token nor userinfo carries the %r claim (OIDC_ROLE_CLAIM), so the "
                "person gets no role; check OIDC_SCOPES (Okta and Keycloak need 'groups') and the provider's "
                "claim mapping (docs/deploy.md, Single sign-on)",
                settings.OIDC_ROLE_CLAIM,
            )
        with transaction.atomic():
            user, how = self.person_for(claims)
            if not user.is_active:
                raise ProviderRefused("this account is deactivated", username=user.get_username())
            self.update_person(user, claims)
            # No claim named (a provider that sends no groups, such as Google): roles stay as kept here.
            added, removed = set_roles(user, roles) if settings.OIDC_ROLE_CLAIM else ([], [])
        return ProviderSignIn(user, how, amr, second_factor_in(amr), roles, added, removed, role_claim_missing)

    def claims(self, access_token: Any, id_claims: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, with the userinfo endpoint's beside them (the ID token's win): some
        providers put groups or the email only in one of the two."""
        if not self.OIDC_OP_USER_ENDPOINT or not isinstance(access_token, str):
            return id_claims
        try:
            info = self.get_userinfo(access_token, None, id_claims)
        except (requests.RequestException, ValueError, SuspiciousOperation) as exc:
            raise ProviderRefused(f"the provider's userinfo could not be read ({type(exc).__name__})") from exc
        if not isinstance(info, dict) or info.get("sub") != id_claims.get("sub"):
            raise ProviderRefused("the provider's userinfo is about someone else (sub)")
        return {**info, **id_claims}

    def person_for(self, claims: dict[str, Any]) -> tuple[User, str]:
        issuer, subject = self.endpoints.issuer, str(claims["sub"])
        identity = ProviderIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is not None:
            identity.last_sign_in_at = timezone.now()
            identity.save(update_fields=["last_sign_in_at"])
            return identity.user, "existing"
        email = claims.get("email")
        user: User | None = None
        how = "created"
        if isinstance(email, str) and email and claims.get("email_verified") is not False:
            matches = list(self.UserModel._default_manager.filter(email__iexact=email)[:2])
            if len(matches) > 1:
                raise ProviderRefused("more than one account here has this email: an admin must settle which")
            if matches:
                user = matches[0]
                if password_sign_in.is_break_glass(user):
                    raise ProviderRefused(
                        "the account with this email is a break-glass account, which signs in only with its password",
                        username=user.get_username(),
                    )
                if ProviderIdentity.objects.filter(user=user, issuer=issuer).exists():
                    raise ProviderRefused(
                        "the account with this email is linked to another person at the provider",
                        username=user.get_username(),
                    )
                how = "linked"
        if user is None:
            user = self.UserModel._default_manager.create_user(
                _username_for(claims), email=email if isinstance(email, str) else ""
            )
        try:
            with transaction.atomic():
                ProviderIdentity.objects.create(
                    user=user, issuer=issuer, subject=subject, last_sign_in_at=timezone.now()
                )
        except IntegrityError as exc:
            raise ProviderRefused("this person signed in twice at once: try again") from exc
        services.record_account_event(
            actor=None,
            action=AuditAction.PROVIDER_ACCOUNT_LINKED if how == "linked" else AuditAction.PROVIDER_ACCOUNT_CREATED,
            changes={"user": user.get_username(), "issuer": issuer, "subject": recorded_username(subject)},
        )
        return user, how

    def update_person(self, user: User, claims: dict[str, Any]) -> None:
        """Name and email as the provider has them now."""
        changed = []
        for attr, claim, limit in (
            ("email", "email", 254),
            ("first_name", "given_name", 150),
            ("last_name", "family_name", 150),
        ):
            value = claims.get(claim)
            if isinstance(value, str) and value and getattr(user, attr) != value[:limit]:
                setattr(user, attr, value[:limit])
                changed.append(attr)
        if changed:
            user.save(update_fields=changed)
