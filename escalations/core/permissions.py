"""Who may do what. Roles are Django groups (created by migration 0003); a user with none sees nothing.

Views check these before rendering; services check them again before writing, so no other entry
point (the API, a management command, a future view) can skip them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol, TypeGuard, cast

from django.core.exceptions import PermissionDenied

from escalations.core.people import RequestUser, User

MODERATOR = "moderator"
LEAD = "lead"
AUDITOR = "auditor"
ROLES = (MODERATOR, LEAD, AUDITOR)


class Action(enum.StrEnum):
    VIEW = "view"
    CREATE = "create"
    EDIT = "edit"
    RECORD_REPORT = "record_report"
    CONFIRM_PRESERVATION = "confirm_preservation"
    ASSIGN = "assign"
    DISMISS = "dismiss"
    CLOSE = "close"
    REOPEN = "reopen"
    AMEND_BREACH = "amend_breach"
    VIEW_DASHBOARD = "view_dashboard"
    EXPORT = "export"
    MANAGE_TOKENS = "manage_tokens"
    MANAGE_LEGAL = "manage_legal"
    VIEW_LEGAL = "view_legal"
    EXTEND_PRESERVATION = "extend_preservation"
    RELEASE = "release"
    REQUEST_REDACTION = "request_redaction"
    TAKE = "take"
    CORRECT_REPORT = "correct_report"
    CONFIRM_KNOWLEDGE = "confirm_knowledge"
    ACKNOWLEDGE = "acknowledge"
    MANAGE_TEAM_CHANNELS = "manage_team_channels"
    VIEW_RULES = "view_rules"
    PREVIEW_RULES = "preview_rules"
    REEVALUATE_RULES = "reevaluate_rules"


ALLOWED_ROLES: dict[Action, frozenset[str]] = {
    Action.VIEW: frozenset(ROLES),
    Action.CREATE: frozenset({MODERATOR, LEAD}),
    Action.EDIT: frozenset({MODERATOR, LEAD}),
    Action.RECORD_REPORT: frozenset({MODERATOR, LEAD}),
    Action.CONFIRM_PRESERVATION: frozenset({MODERATOR, LEAD}),
    Action.ASSIGN: frozenset({LEAD}),
    Action.DISMISS: frozenset({LEAD}),
    Action.CLOSE: frozenset({LEAD}),
    Action.REOPEN: frozenset({LEAD}),
    Action.AMEND_BREACH: frozenset({LEAD}),
    Action.VIEW_DASHBOARD: frozenset({LEAD, AUDITOR}),
    Action.EXPORT: frozenset({LEAD, AUDITOR}),
    Action.MANAGE_TOKENS: frozenset({LEAD}),
    Action.MANAGE_LEGAL: frozenset({LEAD}),
    Action.VIEW_LEGAL: frozenset({LEAD, AUDITOR}),
    Action.EXTEND_PRESERVATION: frozenset({LEAD}),
    Action.RELEASE: frozenset({LEAD}),
    Action.REQUEST_REDACTION: frozenset({LEAD}),
    Action.TAKE: frozenset({MODERATOR, LEAD}),
    # Who records a report corrects it (a reason is required and audited).
    Action.CORRECT_REPORT: frozenset({MODERATOR, LEAD}),
    # An escalation made from Coop's report: whoever works it says when knowledge was obtained.
    Action.CONFIRM_KNOWLEDGE: frozenset({MODERATOR, LEAD}),
    # Whoever may act on an escalation may say they are on it (its escalation steps stop).
    Action.ACKNOWLEDGE: frozenset({MODERATOR, LEAD}),
    # A team's Slack, Teams and PagerDuty channels: leads (and admins, in the admin site).
    Action.MANAGE_TEAM_CHANNELS: frozenset({LEAD}),
    # The rules are read by everyone who works with them; what a pending rule would change, and
    # judging an escalation again under the current rules, are a lead's (changing a rule: admins).
    Action.VIEW_RULES: frozenset(ROLES),
    Action.PREVIEW_RULES: frozenset({LEAD}),
    Action.REEVALUATE_RULES: frozenset({LEAD}),
}

DENIED_MESSAGES = {
    Action.VIEW: "You have no role in the escalation tracker yet. Ask a lead to add you to a group.",
    Action.CREATE: "Moderators and leads log escalations; auditors read them.",
    Action.EDIT: "Moderators and leads edit escalations; auditors read them.",
    Action.RECORD_REPORT: "Moderators and leads record reports; auditors read them.",
    Action.CONFIRM_PRESERVATION: "Moderators and leads confirm preservation; auditors read them.",
    Action.ASSIGN: "Only a lead can assign escalations.",
    Action.DISMISS: "Only a lead can dismiss an escalation.",
    Action.CLOSE: "Only a lead can close an escalation.",
    Action.REOPEN: "Only a lead can reopen an escalation.",
    Action.AMEND_BREACH: "Only a lead can amend a breach reason.",
    Action.VIEW_DASHBOARD: "The dashboard is for leads and auditors.",
    Action.EXPORT: "Exports are for leads and auditors.",
    Action.MANAGE_TOKENS: "Only a lead can manage service tokens.",
    Action.MANAGE_LEGAL: "Only a lead can record or change law-enforcement requests.",
    Action.VIEW_LEGAL: "Law-enforcement requests are for leads and auditors.",
    Action.EXTEND_PRESERVATION: "Only a lead can extend preservation.",
    Action.RELEASE: "Only a lead can request or approve the release of preserved evidence.",
    Action.REQUEST_REDACTION: "Only a lead can ask for a value to be redacted; an admin approves.",
    Action.TAKE: "Moderators and leads take escalations; auditors read them.",
    Action.CORRECT_REPORT: "Moderators and leads correct a recorded report; auditors read them.",
    Action.CONFIRM_KNOWLEDGE: "Moderators and leads confirm when knowledge was obtained; auditors read it.",
    Action.ACKNOWLEDGE: "Moderators and leads acknowledge reminders; auditors read them.",
    Action.MANAGE_TEAM_CHANNELS: "Only a lead can change a team's notification channels.",
    Action.VIEW_RULES: "You have no role in the escalation tracker yet. Ask a lead to add you to a group.",
    Action.PREVIEW_RULES: "Only a lead can see what a pending rule would change.",
    Action.REEVALUATE_RULES: "Only a lead can re-evaluate an escalation under the current rules.",
}


class _RolesCached(Protocol):
    """A user object carrying its roles for the rest of the request: an attribute Django's user does
    not declare, set here on the object itself so it goes when the request's user does."""

    _escalation_roles: frozenset[str]


def roles_of(user: RequestUser | None) -> frozenset[str]:
    """The user's roles, read once per request and cached on the user object."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_escalation_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        cast(_RolesCached, user)._escalation_roles = cached
    return cached


def remember_roles(user: RequestUser, names: Iterable[str]) -> None:
    """Cache the user's roles for this request from group names read elsewhere (request_context
    reads them with the rest of what every page needs, in one query)."""
    if user.is_active:
        cast(_RolesCached, user)._escalation_roles = frozenset(name for name in names if name in ROLES)


def can(user: RequestUser | None, action: Action) -> bool:
    return bool(roles_of(user) & ALLOWED_ROLES[action])


def require(user: RequestUser | None, action: Action) -> None:
    """Raise PermissionDenied (a 403 page in views) when the user's roles do not allow `action`."""
    if not can(user, action):
        raise PermissionDenied(DENIED_MESSAGES.get(action, "Your role does not allow this action."))


def is_lead(user: RequestUser | None) -> bool:
    return LEAD in roles_of(user)


def is_admin(user: RequestUser | None) -> TypeGuard[User]:
    """Someone who runs the tracker (Django's staff or superuser flag), whatever their role; signed in,
    so a `User` when true."""
    return bool(user is not None and user.is_authenticated and user.is_active and (user.is_superuser or user.is_staff))


def require_admin(user: RequestUser | None, message: str = "Only an admin may do this.") -> None:
    if not is_admin(user):
        raise PermissionDenied(message)
