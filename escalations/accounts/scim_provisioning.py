"""What an identity provider may do to accounts over SCIM, and what it means here.

Users are Django's users: userName, name.givenName, name.familyName, the primary (or first) email,
active, and externalId (kept in ScimIdentity). Other attributes a provider sends (phone numbers,
titles, the enterprise extension, a password) are ignored: the tracker keeps no more about a person.

Groups are of two kinds, told apart by their id:
- "role-moderator", "role-lead", "role-auditor": the three role groups. They always exist; a provider
  adds and removes members (that is how a person gets or loses a role) but cannot create, rename or
  delete them. A provider that creates a group with one of these names is answered 409, so that it
  links its group to ours (Okta: "link group"; Entra ID matches displayName first).
- "team-<n>": a Team (need-to-know queues). Any other group a provider pushes becomes a team;
  renaming and deleting it is allowed.

Superusers (the break-glass accounts) are out of the provider's reach: never listed, never changed.

Deleting a user deactivates the account, takes it out of every role group and team, and hides it from
SCIM (404); the row stays, as the audit trail names it. Creating a user with that userName again brings
the same account back. Deactivating (active false, or a delete) takes effect on the person's next
request: their sessions are deleted (and the sign-in check refuses an inactive account anyway), their
service tokens are revoked, and their active escalations are listed on the compliance dashboard as
needing reassignment.

Every change is an audit event whose `via` names the SCIM token ("scim:<name>"), written in the same
transaction as the change; membership changes are audited by the membership signals
(escalations.accounts.security_events) under the same `via`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_scim.exceptions import SCIMException

from escalations.core import services, validation
from escalations.core.people import User
from escalations.core.permissions import ROLES
from escalations.models import AuditAction, ScimGroupIdentity, ScimIdentity, ScimToken, ServiceToken, Team

ROLE_PREFIX = "role-"
TEAM_PREFIX = "team-"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group:"


def error(detail: str, scim_type: str | None = "invalidValue", status: int = 400) -> SCIMException:
    """A SCIM error answer (RFC 7644 3.12): status, scimType and a detail naming the attribute."""
    return SCIMException(detail, status=status, scim_type=scim_type)


def not_found(kind: str, resource_id: str) -> SCIMException:
    return SCIMException(f"No {kind} with id {resource_id[:80]!r}.", status=404)


# --- Users: the fields we keep ---------------------------------------------------------------------


@dataclass(frozen=True)
class UserFields:
    user_name: str
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    # Every email as the provider sent it: (value, type, primary). `email` (Django's) is the primary one.
    emails: tuple[tuple[str, str, bool], ...] = ()
    active: bool = True
    external_id: str = ""


def users() -> QuerySet[Any]:
    """The accounts SCIM sees: every account but superusers and those the provider deleted."""
    return (
        get_user_model()
        .objects.filter(is_superuser=False)
        .exclude(scim_identity__deleted_at__isnull=False)
        .select_related("scim_identity")
    )


def user_by_id(resource_id: str) -> User:
    if not resource_id.isdigit() or len(resource_id) > 18:
        raise not_found("User", resource_id)
    user = users().filter(pk=int(resource_id)).first()
    if user is None:
        raise not_found("User", resource_id)
    return user


def identity_of(user: User) -> ScimIdentity | None:
    try:
        return user.scim_identity
    except ScimIdentity.DoesNotExist:
        return None


def fields_of(user: User) -> UserFields:
    identity = identity_of(user)
    return UserFields(
        user_name=user.username,
        given_name=user.first_name,
        family_name=user.last_name,
        email=user.email,
        emails=_stored_emails(identity, user.email),
        active=user.is_active,
        external_id=identity.external_id if identity else "",
    )


def as_bool(value: Any, attribute: str) -> bool:
    """SCIM's true and false; Entra ID sends them as the strings "True" and "False"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise error(f"{attribute} must be true or false, not {str(value)[:40]!r}.")


def _text(value: Any, attribute: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise error(f"{attribute} must be a string.")
    try:
        return validation.clean_text(value, attribute, required=False, max_length=max_length)
    except ValidationError as exc:
        raise error(" ".join(exc.messages)) from None


def clean_user_name(value: Any) -> str:
    name = _text(value, "userName", 150)
    if not name:
        raise error("userName is required.")
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError:
        raise error("userName may contain only letters, digits and @ . + - _ (at most 150).") from None
    return name


def clean_email(value: Any) -> str:
    email = _text(value, "emails.value", 254)
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            raise error(f"emails.value {email[:80]!r} is not an email address.") from None
    return email


MAX_EMAILS = 10


def _stored_emails(identity: ScimIdentity | None, email: str) -> tuple[tuple[str, str, bool], ...]:
    """The emails the provider sent, while their primary one is still the account's email (an admin
    may have changed it since); else the account's email alone."""
    stored = tuple((e["value"], e["type"], e["primary"]) for e in (identity.emails if identity else []) or [])
    primary = next((value for value, _, is_primary in stored if is_primary), stored[0][0] if stored else "")
    if stored and primary == email:
        return stored
    return ((email, "work", True),) if email else ()


def _email_from_list(value: Any) -> tuple[str, tuple[tuple[str, str, bool], ...]]:
    """The primary email of a list of emails (or the first one), and every email; "" for none."""
    if value is None or value == []:
        return "", ()
    if isinstance(value, dict):  # one email instead of a list (OneLogin does this)
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise error("emails must be a list of objects with a value.")
    if len(value) > MAX_EMAILS:
        raise error(f"emails: at most {MAX_EMAILS}.")
    emails = tuple(
        (
            clean_email(item.get("value")),
            _text(item.get("type"), "emails.type", 20),
            item.get("primary") in (True, "true", "True"),
        )
        for item in value
    )
    primary = next((email for email in emails if email[2]), emails[0])
    return primary[0], emails


def user_fields_from_resource(body: dict[str, Any], current: UserFields | None = None) -> UserFields:
    """The fields of a whole User resource (a create or a replace). What it leaves out is cleared, as
    a PUT replaces the resource; `active` left out keeps its value (providers send it separately)."""
    name = body.get("name") or {}
    if not isinstance(name, dict):
        raise error("name must be an object (givenName, familyName).")
    active = current.active if current else True
    if "active" in body:
        active = as_bool(body["active"], "active")
    email, emails = _email_from_list(body.get("emails"))
    return UserFields(
        user_name=clean_user_name(body.get("userName")),
        given_name=_text(name.get("givenName"), "name.givenName", 150),
        family_name=_text(name.get("familyName"), "name.familyName", 150),
        email=email,
        emails=emails,
        active=active,
        external_id=_text(body.get("externalId"), "externalId", 200),
    )


# --- Users: PATCH ----------------------------------------------------------------------------------

_EMAIL_VALUE = re.compile(r"^emails(\[[^\]]*\])?\.value$")
_EMAILS_FILTERED = re.compile(r"^emails\[[^\]]*\]$")
_EMAIL_TYPE = re.compile(r'type\s+eq\s+"([A-Za-z]{1,20})"', re.IGNORECASE)
# Attributes we do not keep; a provider may send them (Entra ID's default mappings do) and they are
# ignored rather than refused, so that provisioning goes on.
_IGNORED = re.compile(
    r"^(displayname|nickname|title|usertype|preferredlanguage|locale|timezone|profileurl|password|"
    r"name\.(formatted|middlename|honorificprefix|honorificsuffix)|phonenumbers.*|addresses.*|ims.*|"
    r"photos.*|roles.*|entitlements.*|x509certificates.*|urn:ietf:params:scim:schemas:extension:.*)$"
)


def _norm(path: str) -> str:
    path = path.strip()
    if path.lower().startswith(USER_URN):
        path = path[len(USER_URN) :]
    return path.lower() if "[" not in path else path[: path.index("[")].lower() + path[path.index("[") :]


def _pairs(path: str | None, value: Any) -> list[tuple[str, Any]]:
    """(normalised path, value) pairs of one operation: a path with its value, or each key of a value
    object sent without a path (Okta: {"active": false}; Entra ID: {"name.givenName": "Ann"})."""
    if path:
        return [(_norm(path), value)]
    if not isinstance(value, dict):
        raise error("An operation without a path needs an object as its value.", "invalidSyntax")
    pairs: list[tuple[str, Any]] = []
    for key, item in value.items():
        key_norm = _norm(str(key))
        if key_norm == "name" and isinstance(item, dict):
            pairs.extend((f"name.{sub.lower()}", sub_value) for sub, sub_value in item.items())
        else:
            pairs.append((key_norm, item))
    return pairs


def patch_user_fields(current: UserFields, operations: Any) -> UserFields:
    fields = current
    for op, path, value in _operations(operations):
        for attr, item in _pairs(path, value):
            fields = _apply_user_op(fields, op, attr, item)
    return fields


def _operations(operations: Any) -> list[tuple[str, str | None, Any]]:
    if not isinstance(operations, list) or not operations:
        raise error("Operations must be a non-empty list.", "invalidSyntax")
    result = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise error("Each operation must be an object with op, path and value.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise error(f"op must be add, replace or remove, not {str(operation.get('op'))[:20]!r}.", "invalidSyntax")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise error("path must be a string.", "invalidPath")
        if op == "remove" and not path:
            raise error("A remove operation needs a path.", "noTarget")
        result.append((op, path, operation.get("value")))
    return result


def _apply_user_op(fields: UserFields, op: str, attr: str, value: Any) -> UserFields:
    remove = op == "remove"
    if attr == "username":
        if remove:
            raise error("userName is required and cannot be removed.", "mutability")
        return replace(fields, user_name=clean_user_name(value))
    if attr == "active":
        if remove:
            raise error("active cannot be removed; set it to false.", "mutability")
        return replace(fields, active=as_bool(value, "active"))
    if attr == "externalid":
        return replace(fields, external_id="" if remove else _text(value, "externalId", 200))
    if attr == "name.givenname":
        return replace(fields, given_name="" if remove else _text(value, "name.givenName", 150))
    if attr == "name.familyname":
        return replace(fields, family_name="" if remove else _text(value, "name.familyName", 150))
    if attr == "name":
        if remove:
            return replace(fields, given_name="", family_name="")
        if not isinstance(value, dict):
            raise error("name must be an object (givenName, familyName).")
        lowered = {str(k).lower(): v for k, v in value.items()}
        if "givenname" in lowered:
            fields = replace(fields, given_name=_text(lowered["givenname"], "name.givenName", 150))
        if "familyname" in lowered:
            fields = replace(fields, family_name=_text(lowered["familyname"], "name.familyName", 150))
        return fields
    if _EMAIL_VALUE.match(attr):
        if remove:
            return replace(fields, email="", emails=())
        email = clean_email(value)
        kind = _EMAIL_TYPE.search(attr)
        return replace(fields, email=email, emails=((email, kind.group(1) if kind else "work", True),))
    if attr == "emails" or _EMAILS_FILTERED.match(attr):
        if remove:
            return replace(fields, email="", emails=())
        email, emails = _email_from_list(value)
        return replace(fields, email=email, emails=emails)
    if attr in ("id", "schemas", "meta", "groups") or attr.startswith(("meta.", "groups")):
        if op == "replace" and attr == "id":
            return fields  # Okta repeats the id in a replace; it cannot change it
        raise error(f"{attr} is read-only.", "mutability")
    if _IGNORED.match(attr):
        return fields
    raise error(f"Unknown attribute {attr[:60]!r} for a User.", "invalidPath")


# --- Users: the changes ----------------------------------------------------------------------------


def _username_taken(name: str, except_pk: int | None) -> bool:
    qs = get_user_model().objects.filter(username__iexact=name)
    if except_pk is not None:
        qs = qs.exclude(pk=except_pk)
    return qs.exists()


def _changes(before: UserFields | None, after: UserFields) -> dict[str, list[Any]]:
    labels = {
        "user_name": "userName",
        "given_name": "name.givenName",
        "family_name": "name.familyName",
        "email": "email",
        "active": "active",
        "external_id": "externalId",
    }
    result = {}
    for attr, label in labels.items():
        old = getattr(before, attr) if before else None
        new = getattr(after, attr)
        if old != new:
            result[label] = [old, new]
    return result


def _event(token: ScimToken, action: str, changes: dict[str, Any]) -> None:
    services.record_account_event(actor=None, action=action, changes={**changes, "scim_token": token.name})


def provision_user(token: ScimToken, fields: UserFields) -> User:
    """Create the account (or bring back the one the provider deleted, by userName). A userName held
    by another account, a superuser's included, is a conflict: the provider links it instead."""
    with transaction.atomic():
        returning = (
            get_user_model()
            .objects.select_for_update()
            .filter(username__iexact=fields.user_name, is_superuser=False, scim_identity__deleted_at__isnull=False)
            .first()
        )
        if returning is not None:
            ScimIdentity.objects.filter(user=returning).update(deleted_at=None, token=token)
            returning.refresh_from_db()
            return _save_user(token, returning, fields, provisioned=True)
        if _username_taken(fields.user_name, None):
            raise error(f"userName {fields.user_name!r} is already taken.", "uniqueness", 409)
        user = get_user_model()(username=fields.user_name, is_active=fields.active)
        user.set_unusable_password()
        try:
            user.save()
        except IntegrityError:
            raise error(f"userName {fields.user_name!r} is already taken.", "uniqueness", 409) from None
        ScimIdentity.objects.create(user=user, token=token, external_id=fields.external_id)
        return _save_user(token, user, fields, provisioned=True)


def update_user(token: ScimToken, user: User, fields: UserFields) -> User:
    with transaction.atomic():
        # Only the person's row is locked: their SCIM identity is an outer join PostgreSQL cannot lock.
        locked = (
            get_user_model().objects.select_for_update(of=("self",)).select_related("scim_identity").get(pk=user.pk)
        )
        return _save_user(token, locked, fields, provisioned=False)


def _save_user(token: ScimToken, user: User, fields: UserFields, *, provisioned: bool) -> User:
    before = None if provisioned else fields_of(user)
    if _username_taken(fields.user_name, user.pk):
        raise error(f"userName {fields.user_name!r} is already taken.", "uniqueness", 409)
    was_active = user.is_active if not provisioned else True
    user.username = fields.user_name
    user.first_name = fields.given_name
    user.last_name = fields.family_name
    user.email = fields.email
    user.is_active = fields.active
    user.save(update_fields=["username", "first_name", "last_name", "email", "is_active"])
    identity, _ = ScimIdentity.objects.get_or_create(user=user, defaults={"token": token})
    identity.external_id = fields.external_id
    identity.emails = [{"value": v, "type": t, "primary": p} for v, t, p in fields.emails]
    identity.save(update_fields=["external_id", "emails", "updated_at"])
    changes = _changes(before, fields)
    if provisioned:
        _event(token, AuditAction.ACCOUNT_PROVISIONED, {"user": user.username, **changes})
    elif changes:
        _event(token, AuditAction.ACCOUNT_UPDATED, {"user": user.username, **changes})
    if was_active and not fields.active:
        end_access(token, user)
    elif not was_active and fields.active and not provisioned:
        _event(token, AuditAction.ACCOUNT_REACTIVATED, {"user": user.username})
    return user


def end_access(token: ScimToken, user: User) -> None:
    """A deactivated person's access ends now: their sessions are deleted and their service tokens
    revoked (each revocation audited), in the transaction that deactivates them."""
    sessions = _delete_sessions(user)
    revoked = []
    now = timezone.now()
    for service_token in ServiceToken.objects.filter(created_by=user, revoked_at__isnull=True).order_by("pk"):
        service_token.revoked_at = now
        service_token.save(update_fields=["revoked_at"])
        revoked.append(service_token.name)
        services.record_account_event(
            actor=None,
            action=AuditAction.TOKEN_REVOKED,
            changes={"token": service_token.name, "prefix": service_token.prefix, "reason": "account deactivated"},
        )
    _event(
        token,
        AuditAction.ACCOUNT_DEACTIVATED,
        {"user": user.username, "sessions_ended": sessions, "service_tokens_revoked": revoked},
    )


def _delete_sessions(user: User) -> int:
    """Delete the person's sessions where they are stored in the database (the default and
    cached_db engines: through the engine, so that a cached copy goes too). With another engine the
    sign-in check alone ends them: it refuses an inactive account at the next request."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    get_model = getattr(store_class, "get_model_class", None)
    if get_model is None:
        return 0
    ended = 0
    wanted = str(user.pk)
    model = get_model()
    for key, data in model.objects.filter(expire_date__gt=timezone.now()).values_list("session_key", "session_data"):
        store = store_class(session_key=key)
        if str(store.decode(data).get("_auth_user_id")) == wanted:
            store.delete()
            ended += 1
    return ended


def delete_user(token: ScimToken, user: User) -> None:
    """The provider deleted the account: deactivate it, take it out of every group and team, hide it
    from SCIM. The row stays (the audit trail names it)."""
    with transaction.atomic():
        fields = replace(fields_of(user), active=False)
        update_user(token, user, fields)
        user.groups.remove(*Group.objects.filter(name__in=ROLES, user=user))
        for team in Team.objects.filter(members=user):
            team.members.remove(user)
        ScimIdentity.objects.filter(user=user).update(deleted_at=timezone.now())
        _event(token, AuditAction.ACCOUNT_DEACTIVATED, {"user": user.username, "deleted_by_provider": True})


# --- Groups ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRef:
    """A role group (`role` set) or a team (`team` set)."""

    resource_id: str
    name: str
    role: Group | None = None
    team: Team | None = None

    def members(self) -> QuerySet[Any]:
        qs = users()
        if self.role is not None:
            return qs.filter(groups=self.role).order_by("pk")
        return qs.filter(teams=self.team).order_by("pk")


def role_group(name: str) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    return group


def all_groups() -> list[GroupRef]:
    refs = [GroupRef(ROLE_PREFIX + name, name, role=role_group(name)) for name in ROLES]
    refs += [GroupRef(f"{TEAM_PREFIX}{team.pk}", team.name, team=team) for team in Team.objects.order_by("pk")]
    return refs


def group_by_id(resource_id: str) -> GroupRef:
    if resource_id.startswith(ROLE_PREFIX) and resource_id[len(ROLE_PREFIX) :] in ROLES:
        name = resource_id[len(ROLE_PREFIX) :]
        return GroupRef(resource_id, name, role=role_group(name))
    number = resource_id[len(TEAM_PREFIX) :]
    if resource_id.startswith(TEAM_PREFIX) and number.isdigit() and len(number) < 18:
        team = Team.objects.filter(pk=int(number)).first()
        if team is not None:
            return GroupRef(resource_id, team.name, team=team)
    raise not_found("Group", resource_id)


def group_external_id(ref: GroupRef) -> str:
    return (
        ScimGroupIdentity.objects.filter(resource_id=ref.resource_id).values_list("external_id", flat=True).first()
        or ""
    )


def set_group_external_id(token: ScimToken, ref: GroupRef, value: Any) -> None:
    external_id = _text(value, "externalId", 200)
    if external_id == group_external_id(ref):
        return
    ScimGroupIdentity.objects.update_or_create(resource_id=ref.resource_id, defaults={"external_id": external_id})
    _event(token, AuditAction.TEAM_PROVISIONED, {"group": ref.name, "externalId": external_id})


def _member_ids(value: Any) -> list[int]:
    """The user ids of a members value ([{"value": "12"}, ...]); each must be an account SCIM sees."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise error("members must be a list of objects with a value (a User id).")
    raw = [str(item.get("value", "")) for item in value]
    bad = [item for item in raw if not item.isdigit() or len(item) > 18]
    ids = sorted({int(item) for item in raw if item not in bad})
    found = set(users().filter(pk__in=ids).values_list("pk", flat=True))
    missing = bad + [str(pk) for pk in ids if pk not in found]
    if missing:
        raise error(f"members: no User with id {', '.join(repr(m[:20]) for m in missing[:5])}.")
    return ids


def clean_group_name(value: Any) -> str:
    name = _text(value, "displayName", 100)
    if not name:
        raise error("displayName is required.")
    return name


def _name_taken(name: str, except_team: Team | None) -> bool:
    if name.lower() in ROLES:
        return True
    qs = Team.objects.filter(name__iexact=name)
    if except_team is not None:
        qs = qs.exclude(pk=except_team.pk)
    return qs.exists()


def create_group(token: ScimToken, body: dict[str, Any]) -> GroupRef:
    """A pushed group becomes a team. One named like a role group (or an existing team) is a
    conflict: the provider links its group to ours instead."""
    name = clean_group_name(body.get("displayName"))
    member_ids = _member_ids(body.get("members"))
    with transaction.atomic():
        if _name_taken(name, None):
            raise error(f"A group named {name!r} already exists; link to it.", "uniqueness", 409)
        team = Team.objects.create(name=name)
        _event(token, AuditAction.TEAM_PROVISIONED, {"team": name, "created": True})
        ref = GroupRef(f"{TEAM_PREFIX}{team.pk}", name, team=team)
        if body.get("externalId"):
            set_group_external_id(token, ref, body.get("externalId"))
        _set_members(ref, set(member_ids))
    return ref


def rename_group(token: ScimToken, ref: GroupRef, name_value: Any) -> GroupRef:
    name = clean_group_name(name_value)
    if name == ref.name:
        return ref
    if ref.team is None:
        raise error(f"The role group {ref.name!r} cannot be renamed.", "mutability")
    if _name_taken(name, ref.team):
        raise error(f"A group named {name!r} already exists.", "uniqueness", 409)
    _event(token, AuditAction.TEAM_PROVISIONED, {"team": name, "renamed_from": ref.team.name})
    ref.team.name = name
    ref.team.save(update_fields=["name"])
    return replace(ref, name=name)


def _current_member_ids(ref: GroupRef) -> set[int]:
    return set(ref.members().values_list("pk", flat=True))


def _set_members(ref: GroupRef, wanted: set[int], current: set[int] | None = None) -> None:
    """Make the visible members exactly `wanted`; superusers' memberships are never touched. Each
    change is audited by the membership signals."""
    current = _current_member_ids(ref) if current is None else current
    add, remove = wanted - current, current - wanted
    if ref.role is not None:
        if add:
            ref.role.user_set.add(*add)
        if remove:
            ref.role.user_set.remove(*remove)
    elif ref.team is not None:
        if add:
            ref.team.members.add(*add)
        if remove:
            ref.team.members.remove(*remove)


def replace_group(token: ScimToken, ref: GroupRef, body: dict[str, Any]) -> GroupRef:
    with transaction.atomic():
        ref = rename_group(token, ref, body.get("displayName"))
        set_group_external_id(token, ref, body.get("externalId"))
        _set_members(ref, set(_member_ids(body.get("members"))))
    return ref


_MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$', re.IGNORECASE)


def patch_group(token: ScimToken, ref: GroupRef, operations: Any) -> GroupRef:
    ops = _operations(operations)
    with transaction.atomic():
        members = _current_member_ids(ref)
        start = set(members)
        for op, path, value in ops:
            pairs = [(path.strip(), value)] if path else list(_group_pairs(value))
            for attr, item in pairs:
                lowered = attr.lower()
                if lowered.startswith(GROUP_URN):
                    lowered = lowered[len(GROUP_URN) :]
                    attr = attr[len(GROUP_URN) :]
                match = _MEMBER_FILTER.match(attr)
                if lowered == "displayname":
                    if op == "remove":
                        raise error("displayName is required and cannot be removed.", "mutability")
                    ref = rename_group(token, ref, item)
                elif lowered == "members":
                    ids = set(_member_ids(item))
                    if op == "add":
                        members |= ids
                    elif op == "replace":
                        members = ids
                    else:
                        members = members - ids if item else set()
                elif match and op == "remove":
                    members.discard(_member_ids([{"value": match.group(1)}])[0])
                elif lowered == "externalid":
                    set_group_external_id(token, ref, None if op == "remove" else item)
                elif lowered == "id" and op != "remove":
                    continue  # Okta repeats the id in a replace; it cannot change it
                else:
                    raise error(f"Unsupported {op} of {attr[:60]!r} on a Group.", "invalidPath")
        if members != start:
            _set_members(ref, members, start)
    return ref


def _group_pairs(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        raise error("An operation without a path needs an object as its value.", "invalidSyntax")
    return [(str(key), item) for key, item in value.items()]


def delete_group(token: ScimToken, ref: GroupRef) -> None:
    if ref.team is None:
        raise error(f"The role group {ref.name!r} cannot be deleted; remove its members instead.", "mutability")
    with transaction.atomic():
        ref.team.members.clear()
        ScimGroupIdentity.objects.filter(resource_id=ref.resource_id).delete()
        _event(token, AuditAction.TEAM_PROVISIONED, {"team": ref.team.name, "deleted": True})
        ref.team.delete()


# --- Filters ---------------------------------------------------------------------------------------

_FILTER_TERM = re.compile(r'^\s*([A-Za-z0-9_.:$\[\]]+)\s+(eq)\s+("(?:[^"\\]|\\.)*"|true|false)\s*$', re.IGNORECASE)


def parse_filter(text: str) -> list[tuple[str, Any]]:
    """`attr eq "value"` terms joined by `and` (what Okta and Entra ID send); anything else is
    refused as invalidFilter."""
    terms = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.match(part)
        if match is None:
            raise error('Only filters of the form attribute eq "value" (joined by and) are supported.', "invalidFilter")
        attr, _, raw = match.groups()
        value: Any = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if raw.startswith('"') else raw == "true"
        terms.append((_norm(attr).removeprefix(GROUP_URN), value))
    return terms


def filter_users(qs: QuerySet[Any], terms: list[tuple[str, Any]]) -> QuerySet[Any]:
    for attr, value in terms:
        if attr == "username":
            qs = qs.filter(username__iexact=str(value))
        elif attr == "externalid":
            qs = qs.filter(scim_identity__external_id=str(value))
        elif attr == "id":
            qs = qs.filter(pk=int(value)) if str(value).isdigit() and len(str(value)) < 18 else qs.none()
        elif attr in ("emails", "emails.value") or _EMAIL_VALUE.match(attr):
            qs = qs.filter(email__iexact=str(value))
        elif attr == "active":
            qs = qs.filter(is_active=as_bool(value, "active"))
        else:
            raise error(f"Filtering on {attr[:60]!r} is not supported for Users.", "invalidFilter")
    return qs


def filter_groups(refs: list[GroupRef], terms: list[tuple[str, Any]]) -> list[GroupRef]:
    for attr, value in terms:
        if attr == "displayname":
            refs = [ref for ref in refs if ref.name.lower() == str(value).lower()]
        elif attr == "id":
            refs = [ref for ref in refs if ref.resource_id == str(value)]
        elif attr == "externalid":
            refs = [ref for ref in refs if group_external_id(ref) == str(value)]
        elif attr in ("members", "members.value"):
            wanted = str(value)
            refs = [ref for ref in refs if wanted.isdigit() and ref.members().filter(pk=int(wanted)).exists()]
        else:
            raise error(f"Filtering on {attr[:60]!r} is not supported for Groups.", "invalidFilter")
    return refs
