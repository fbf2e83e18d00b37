"""The admin manages people, groups and teams. Escalations and audit events are read-only here: every change
to an escalation goes through escalations.core.services (validation, audit event), and nobody deletes one.
Membership changes made here are audited by escalations.accounts.security_events; sign-in locks are lifted
through escalations.accounts.lockout, which audits each unlock."""

from typing import Any

import axes.admin  # registers axes' admin first, so that ours replaces its AccessAttempt page
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from escalations.accounts.lockout import unlock_account
from escalations.models import (
    AuditEvent,
    Delivery,
    DeliveryAttempt,
    Escalation,
    Reminder,
    Rule,
    SweepHeartbeat,
    Team,
    UserProfile,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("key", "status", "priority", "incident_type", "knowledge_at", "reported_at", "assignee")
    list_filter = ("status", "priority", "incident_type")
    list_select_related = ("assignee",)
    search_fields = ("=cybertipline_report_id", "=platform_reference")
    show_full_result_count = False


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    """Read-only: a change to a rule is a new version, made at /rules/<code>/new-version/ (audited)."""

    list_display = ("code", "version", "regime", "obligation", "status", "certainty", "effective_from", "effective_to")
    list_filter = ("regime", "status", "certainty")
    search_fields = ("code", "citation")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "escalation", "action", "actor")
    list_filter = ("action",)
    list_select_related = ("actor",)
    show_full_result_count = False


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "time_zone")
    # The webhook is its owner's to change, on their profile, where it is vetted and audited; its
    # secret is theirs alone.
    exclude = ("webhook_secret",)
    readonly_fields = ("webhook_url",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("escalation", "kind", "due_at", "sent_at", "cancelled_at")
    list_filter = ("kind",)
    show_full_result_count = False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("reminder", "recipient", "channel", "attempts", "sent_at", "last_error")
    list_filter = ("channel",)
    list_select_related = ("reminder", "recipient")
    show_full_result_count = False


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "escalation", "ok", "error")
    show_full_result_count = False


@admin.register(SweepHeartbeat)
class SweepHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "last_started_at", "last_finished_at")


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(axes.admin.AccessAttemptAdmin):
    """axes' page of failed sign-ins, where deleting rows lifts a lock: every deletion goes through
    lockout.unlock_account (an audit event per username), and "Lift the lock" says what it does."""

    actions = ["lift_locks", *axes.admin.AccessAttemptAdmin.actions]

    @admin.action(description="Lift the sign-in lock of the selected usernames")
    def lift_locks(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        names = sorted({name for name in queryset.values_list("username", flat=True) if name is not None})
        for name in names:
            unlock_account(actor=request.user, username=name)
        self.message_user(request, f"Sign-in unlocked for {', '.join(names) or 'nobody'}.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        unlock_account(actor=request.user, username=obj.username or "")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        for name in sorted({name or "" for name in queryset.values_list("username", flat=True)}):
            unlock_account(actor=request.user, username=name)
