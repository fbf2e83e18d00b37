"""The in-app inbox (bell, notifications page, mark as read), the channel settings with their "send a
test notification" buttons and the webhook's new-secret button, and /healthz for the watchdog."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import ListView

from escalations.accounts import request_context
from escalations.core import audit_verify
from escalations.core.people import AuthenticatedHttpRequest
from escalations.models import Channel, Notification, UserProfile
from escalations.reminders import channel_test_limit, watchdog, webhook_profile
from escalations.reminders import channels as notify


class NotificationListView(ListView):
    """Anyone signed in sees their own notifications, and only theirs."""

    request: AuthenticatedHttpRequest

    template_name = "notifications/list.html"
    context_object_name = "notifications"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Notification]:
        user = self.request.user
        return Notification.objects.filter(user=user).select_related("escalation")


@require_GET
@never_cache
def unread_count(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The bell's count for the person signed in, for static/js/live.js: one query, theirs only."""
    return JsonResponse({"unread": Notification.objects.filter(user=request.user, read_at__isnull=True).count()})


@require_POST
def mark_read(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    notification = get_object_or_404(Notification, pk=pk, user=user)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return HttpResponseRedirect(reverse("notifications"))


@require_POST
def open_notification(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Mark it read and go to what it is about: opening a reminder is reading it."""
    user = request.user
    notification = get_object_or_404(Notification, pk=pk, user=user)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    if notification.escalation_id:
        return HttpResponseRedirect(reverse("escalations:detail", args=[notification.escalation_id]))
    return HttpResponseRedirect(reverse("notifications"))


@require_POST
def mark_all_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    count = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    request_context.forget(user.pk)  # the bell's count, cached in production (update() sends no signal)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
    return HttpResponseRedirect(reverse("notifications"))


@require_POST
def send_test(request: AuthenticatedHttpRequest, channel: str) -> HttpResponse:
    """Send a test message through one channel to the signed-in person and say what happened."""
    if channel not in Channel.values:
        messages.error(request, "Unknown channel.")
        return HttpResponseRedirect(reverse("profile"))
    user = request.user
    retry_at = channel_test_limit.count_test_send(user.pk, channel, timezone.now())
    if retry_at is not None:
        messages.error(request, channel_test_limit.limit_message(retry_at))
        return HttpResponseRedirect(reverse("profile"))
    UserProfile.objects.get_or_create(user=user)
    label = Channel(channel).label
    try:
        notify.send(channel, user, notify.test_message())
    except notify.DeliveryError as exc:
        messages.error(request, f"{label} test failed: {exc}.")
    else:
        messages.success(request, f"{label} test sent. Check that it arrived.")
    return HttpResponseRedirect(reverse("profile"))


@require_POST
def replace_webhook_secret(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The profile's "Make a new signing secret" button."""
    try:
        webhook_profile.replace_webhook_secret(actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.warning(request, webhook_profile.SECRET_REPLACED_NOTICE)
    return HttpResponseRedirect(reverse("profile"))


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the last sweep time and the audit trail's last integrity check; 503 when the sweep is
    stale, the last check found the trail broken, or the database is unreachable."""
    try:
        last = watchdog.last_sweep()
        stale = watchdog.is_stale(last)
        audit = audit_verify.latest()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    broken = audit.ok is False
    body = {
        "status": "stale" if stale else "broken" if broken else "ok",
        "last_sweep": last.isoformat() if last else None,
        # "ok", "broken" or "unverified" (no check yet); the first broken link is for the leads'
        # banner and `manage.py verifyaudit`, not for an unauthenticated probe.
        "audit": audit.label,
        "audit_checked_at": audit.checked_at.isoformat() if audit.checked_at else None,
    }
    return JsonResponse(body, status=503 if stale or broken else 200)
