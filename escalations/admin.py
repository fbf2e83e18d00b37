"""The admin manages people, groups and teams. Escalations and audit events are read-only here: every change
to an escalation goes through escalations.core.services (validation, audit event), and nobody deletes one.
Membership changes made here are audited by escalations.accounts.security_events; sign-in locks are lifted
through escalations.accounts.lockout, which audits each unlock."""

from typing import Any

import axes.admin  # registers axes' admin first, so that ours replaces its AccessAttempt page
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from escalations.accounts import scim_admin  # noqa: F401 - registers the SCIM tokens page
from escalations.accounts.lockout import unlock_account
from escalations.core.people import User
from escalations.core.permissions import is_admin
from escalations.models import (
    AuditEvent,
    Delivery,
    DeliveryAttempt,
    Escalation,
    EventDelivery,
    EventDeliveryAttempt,
    EventEndpoint,
    EventType,
    Reminder,
    Rule,
    SweepHeartbeat,
    Team,
    UserProfile,
)
from escalations.reminders import event_endpoints


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


# --- The outbound event stream: admins only; every change goes through reminders.event_endpoints ---


SHOWN_ONCE_NOTICE = (
    "Signing secret of {name}: {secret} — set it in the receiver now; it is not shown again "
    "(a new one can be made at any time)."
)


class EventEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label="Event types", choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = EventEndpoint
        fields = ["name", "url", "event_types", "active"]
        help_texts = {
            "url": "An https address (plain http only to this machine where WEBHOOK_ALLOW_HTTP_LOOPBACK is on). "
            "A new URL gets a new signing secret, shown once."
        }

    def clean(self) -> Any:
        super().clean()
        cleaned = self.cleaned_data
        try:
            name, url, types = event_endpoints.clean_endpoint(
                name=cleaned.get("name", ""), url=cleaned.get("url", ""), event_types=cleaned.get("event_types") or []
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            cleaned.update(name=name, url=url, event_types=types)
        return cleaned


def acting_admin(request: HttpRequest) -> User:
    """The admin acting on these pages (the services check again)."""
    if not is_admin(request.user):
        raise PermissionDenied(event_endpoints.ADMINS_ONLY)
    return request.user


class AdminsOnly:
    """Only the people who run the tracker (staff or superuser) see or change these pages."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)


@admin.register(EventEndpoint)
class EventEndpointAdmin(AdminsOnly, admin.ModelAdmin):
    form = EventEndpointForm
    list_display = ("name", "active", "url_host", "types", "updated_at")
    readonly_fields = ("created_at", "created_by", "updated_at")
    actions = ["make_new_secret"]

    @admin.display(description="Receiver")
    def url_host(self, obj: EventEndpoint) -> str:
        from escalations.reminders.webhook_profile import describe_url

        return describe_url(obj.url)

    @admin.display(description="Event types")
    def types(self, obj: EventEndpoint) -> str:
        return ", ".join(obj.event_types or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its deliveries are the log; make it inactive instead

    def save_model(self, request: HttpRequest, obj: EventEndpoint, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            endpoint, secret = event_endpoints.change_endpoint(
                actor=acting_admin(request),
                endpoint_id=obj.pk,
                name=data["name"],
                url=data["url"],
                event_types=data["event_types"],
                active=data["active"],
            )
        else:
            endpoint, secret = event_endpoints.add_endpoint(
                actor=acting_admin(request),
                name=data["name"],
                url=data["url"],
                event_types=data["event_types"],
                active=data["active"],
            )
        obj.pk = endpoint.pk
        obj.refresh_from_db()
        if secret:
            self.message_user(request, SHOWN_ONCE_NOTICE.format(name=endpoint.name, secret=secret), messages.WARNING)

    @admin.action(description="Make a new signing secret (shown once)")
    def make_new_secret(self, request: HttpRequest, queryset: QuerySet[EventEndpoint]) -> None:
        for endpoint in queryset:
            secret = event_endpoints.replace_secret(actor=acting_admin(request), endpoint_id=endpoint.pk)
            self.message_user(request, SHOWN_ONCE_NOTICE.format(name=endpoint.name, secret=secret), messages.WARNING)


class EventDeliveryAttemptInline(admin.TabularInline):
    model = EventDeliveryAttempt
    fields = ("at", "ok", "status_code", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)


@admin.register(EventDelivery)
class EventDeliveryAdmin(AdminsOnly, ReadOnlyAdmin):
    """The delivery log: each event to each endpoint, its attempts (status code, error) inline."""

    list_display = (
        "created_at", "event_type", "escalation_key", "endpoint", "state", "attempts", "last_status", "last_error",
    )  # fmt: skip
    list_filter = ("endpoint", "event__type")
    list_select_related = ("event", "endpoint")
    readonly_fields = (
        "event", "endpoint", "created_at", "next_attempt_at", "attempts", "sent_at", "failed_at", "last_status",
        "last_error", "claimed_until",
    )  # fmt: skip
    exclude = ("claim_token",)
    inlines = [EventDeliveryAttemptInline]
    actions = ["deliver_again"]
    show_full_result_count = False

    @admin.display(description="Event")
    def event_type(self, obj: EventDelivery) -> str:
        return obj.event.type

    @admin.display(description="Escalation")
    def escalation_key(self, obj: EventDelivery) -> str:
        from escalations.models import format_key

        return format_key(obj.event.escalation_id)

    @admin.display(description="State")
    def state(self, obj: EventDelivery) -> str:
        if obj.sent_at:
            return "delivered"
        if obj.failed_at:
            return "given up"
        return "retrying" if obj.attempts else "pending"

    @admin.action(description="Send again at the next sweep")
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[EventDelivery]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = event_endpoints.deliver_again(actor=acting_admin(request), delivery_ids=ids)
        self.message_user(request, f"{count} event deliveries will go out at the next sweep.", messages.SUCCESS)

    def get_actions(self, request: HttpRequest) -> Any:
        # ReadOnlyAdmin refuses change permission, which would hide the action: admins keep it.
        actions = super().get_actions(request)
        return actions if is_admin(request.user) else {}
