"""Security events that happen outside any view of ours, written to the audit trail as they happen
(services.record_account_event): sign-ins, failed sign-ins (a wrong password, a wrong code), lockouts,
changes of group and team membership wherever they are made (the admin, a shell, code), and
two-factor devices added or removed other than through the two-factor pages (which audit their own).

A failed sign-in names the username as typed, never who it belongs to: the event reads the same
whether or not such a person exists, and no user is created or looked up for it. Anyone can type
anything there, so a typed username is kept by the lockout tables' rule (recorded_username: cut to
a username's length, and file content written as text replaced by a marker), in every event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalations.accounts import acting_person, password_sign_in
from escalations.accounts.lockout_username import recorded_username
from escalations.compliance.access_log import client_ip
from escalations.core import services
from escalations.core.people import User
from escalations.models import AuditAction, Team, UserProfile

WRONG_CODE_SENDER = "escalations.web.two_factor_views.code"  # two_factor_views sends wrong codes with it

# Set on the request by the identity provider's callback before it signs the person in: what the
# SIGNED_IN_PROVIDER event records (provider, amr, whether it counts as a second factor).
PROVIDER_SIGN_IN_ATTR = "provider_sign_in"

_devices_audited_by_view: ContextVar[bool] = ContextVar("devices_audited_by_view", default=False)
_groups_audited_by_caller: ContextVar[bool] = ContextVar("groups_audited_by_caller", default=False)


def _ip(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


@receiver(user_logged_in, dispatch_uid="escalations.security_events.signed_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    provider = getattr(request, PROVIDER_SIGN_IN_ATTR, None)
    if isinstance(provider, dict):
        services.record_account_event(
            actor=user, action=AuditAction.SIGNED_IN_PROVIDER, changes={"ip": _ip(request), **provider}
        )
        return
    services.record_account_event(actor=user, action=AuditAction.SIGNED_IN, changes={"ip": _ip(request)})


@receiver(user_login_failed, dispatch_uid="escalations.security_events.sign_in_failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    typed = recorded_username(credentials.get("username"))
    step = "code" if sender == WRONG_CODE_SENDER else "password"
    # Someone signed in who gets a code or their password wrong (the code step, the password asked
    # again) is the actor; a wrong password at sign-in names no one, so that the event reads the same
    # whether or not the username exists.
    actor = getattr(request, "user", None)
    changes = {
        "username": typed,
        "step": step,
        # A path is typed too (by whoever made the request); ours are short and plain.
        "path": recorded_username(request.path) if request is not None else "",
        "ip": _ip(request),
    }
    if password_sign_in.was_refused(request):
        changes["reason"] = password_sign_in.REFUSED_REASON
    services.record_account_event(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=AuditAction.SIGN_IN_FAILED,
        changes=changes,
    )


def _locked_out(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    # django-axes sends this for the failure that locks, and again for every try while locked; only
    # the first has the count set on the request (axes' handler clears it on each request).
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    services.record_account_event(
        actor=None,
        action=AuditAction.LOCKED_OUT,
        changes={"username": recorded_username(username), "failures": failures, "ip": ip_address},
    )


def connect_lockout_signal() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="escalations.security_events.locked_out")


# --- membership -------------------------------------------------------------------------------------------


def _names(model: type, pks: set[Any], field: str) -> list[str]:
    return sorted(str(name) for name in model.objects.filter(pk__in=pks).values_list(field, flat=True))  # type: ignore[attr-defined]


@contextmanager
def groups_audited_by_caller() -> Iterator[None]:
    """Around a change of someone's groups whose caller writes the event itself, saying more than the
    signal can (roles set from the identity provider's claim): the membership signal stays quiet."""
    token = _groups_audited_by_caller.set(True)
    try:
        yield
    finally:
        _groups_audited_by_caller.reset(token)


def _record_groups(user_pk: Any, added: set[Any], removed: set[Any]) -> None:
    if _groups_audited_by_caller.get():
        return
    user = get_user_model().objects.filter(pk=user_pk).values_list("username", flat=True).first()
    services.record_account_event(
        actor=acting_person.current(),
        action=AuditAction.GROUPS_CHANGED,
        changes={"user": user, "added": _names(Group, added, "name"), "removed": _names(Group, removed, "name")},
    )


def _record_team(team_pk: Any, added: set[Any], removed: set[Any]) -> None:
    team = Team.objects.filter(pk=team_pk).values_list("name", flat=True).first()
    users = get_user_model()
    services.record_account_event(
        actor=acting_person.current(),
        action=AuditAction.TEAM_MEMBERS_CHANGED,
        changes={
            "team": team,
            "added": _names(users, added, "username"),
            "removed": _names(users, removed, "username"),
        },
    )


def _membership_changed(
    *, owner_model: type, attr: str, record: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None
) -> None:
    """m2m_changed of one relation, from either side. Clears are read in pre_clear (post_clear has no
    pk_set); adds and removes in post_add / post_remove, where pk_set holds only what changed."""
    if action == "pre_clear":
        if reverse:
            # other.owner_set.clear(): every owner that had `instance` loses it.
            owners = owner_model.objects.filter(**{f"{attr}__pk": instance.pk}).values_list("pk", flat=True)  # type: ignore[attr-defined]
            for owner_pk in owners:
                record(owner_pk, set(), {instance.pk})
        else:
            gone = set(getattr(instance, attr).values_list("pk", flat=True))
            if gone:
                record(instance.pk, set(), gone)
        return
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    pairs = {instance.pk: set(pk_set)} if not reverse else {owner_pk: {instance.pk} for owner_pk in pk_set}
    for owner_pk, others in pairs.items():
        if action == "post_add":
            record(owner_pk, others, set())
        else:
            record(owner_pk, set(), others)


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="escalations.security_events.groups")
def _groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    _membership_changed(
        owner_model=get_user_model(), attr="groups", record=_record_groups,
        instance=instance, action=action, reverse=reverse, pk_set=pk_set,
    )  # fmt: skip


@receiver(m2m_changed, sender=Team.members.through, dispatch_uid="escalations.security_events.team_members")
def _team_members_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    _membership_changed(
        owner_model=Team, attr="members", record=_record_team,
        instance=instance, action=action, reverse=reverse, pk_set=pk_set,
    )  # fmt: skip


# --- two-factor devices changed elsewhere -------------------------------------------------------------------


@contextmanager
def devices_audited_by_view() -> Iterator[None]:
    """Around a two-factor page's change of the person's own devices: the page writes the event that
    says what was done (enabled, disabled), so the device signals below stay quiet."""
    token = _devices_audited_by_view.set(True)
    try:
        yield
    finally:
        _devices_audited_by_view.reset(token)


def _device_event(action: str, device: Any) -> None:
    if _devices_audited_by_view.get():
        return
    owner = get_user_model().objects.filter(pk=device.user_id).values_list("username", flat=True).first()
    services.record_account_event(
        actor=acting_person.current(),
        action=action,
        changes={"user": owner, "device": type(device).__name__, "name": recorded_username(device.name)},
    )


def _device_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # Only a new device: every verification saves the device too (its counters), which is no change.
    if created and not kwargs.get("raw"):
        _device_event(AuditAction.TWO_FACTOR_DEVICE_ADDED, instance)


def _device_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _device_event(AuditAction.TWO_FACTOR_DEVICE_REMOVED, instance)


for _model in (TOTPDevice, StaticDevice):
    post_save.connect(_device_saved, sender=_model, dispatch_uid=f"escalations.security_events.added.{_model.__name__}")
    post_delete.connect(
        _device_deleted, sender=_model, dispatch_uid=f"escalations.security_events.removed.{_model.__name__}"
    )


# --- break-glass accounts -------------------------------------------------------------------------------------


@receiver(pre_save, sender=UserProfile, dispatch_uid="escalations.security_events.break_glass")
def _break_glass_changed(sender: Any, instance: UserProfile, **kwargs: Any) -> None:
    # Who may still use a password with PASSWORD_SIGN_IN off is a security fact: every change is audited.
    if kwargs.get("raw"):
        return
    before = (
        UserProfile.objects.filter(pk=instance.pk).values_list("break_glass", flat=True).first()
        if instance.pk
        else None
    )
    if bool(before) == instance.break_glass:
        return
    owner = get_user_model().objects.filter(pk=instance.user_id).values_list("username", flat=True).first()
    services.record_account_event(
        actor=acting_person.current(),
        action=AuditAction.BREAK_GLASS_CHANGED,
        changes={"user": owner, "break_glass": [bool(before), instance.break_glass]},
    )
