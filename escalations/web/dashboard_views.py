"""The compliance dashboard page (leads and auditors): a period form, the figures of now
(escalations.compliance.dashboard, counted at every visit) and the period's part, figures and charts
(escalations.compliance.dashboard_period, counted once a minute for every lead)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.generic import TemplateView

from escalations.compliance import access_log, annotation_counts, authority_figures, dashboard, dashboard_period
from escalations.compliance.dashboard_charts import build_charts
from escalations.core.permissions import Action, can
from escalations.legal import selectors as legal_selectors
from escalations.web.base import RoleRequiredMixin
from escalations.web.period_forms import DEFAULT_DAYS, DashboardPeriodForm


class DashboardView(RoleRequiredMixin, TemplateView):
    action = Action.VIEW_DASHBOARD
    template_name = "compliance/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        tz = timezone.get_current_timezone()
        params = {k: v for k, v in self.request.GET.items() if k in ("period", "start", "end")}
        form = DashboardPeriodForm(
            params or None, today=timezone.localdate(now, tz), initial={"period": str(DEFAULT_DAYS)}
        )
        if form.is_bound and form.is_valid():
            period = form.chosen_period(now, tz)
        else:
            period = dashboard.Period.last_days(DEFAULT_DAYS, now, tz)
        target_hours = float(settings.REPORT_TARGET_HOURS)
        part = dashboard_period.part(period, now)
        current = dashboard.current_figures(now, part.holds_now)
        # Need-to-know: the escalations its lists name (the most overdue, the latest breaches).
        shown = [item.escalation.pk for item in current.most_overdue]
        shown += part.shown_ids
        shown += [esc.pk for esc in current.needs_reassignment_list]
        releases = legal_selectors.releases_awaiting_approval(self.request.user)
        shown += [esc.pk for esc in releases]
        access_log.viewed_many(self.request, shown, what="dashboard", query=self.request.GET.urlencode())
        context.update(
            form=form,
            period_invalid=form.is_bound and not form.is_valid(),
            default_days=DEFAULT_DAYS,
            current=current,
            period_part=part,
            # The figures and charts as objects, unpickled only when read (a test, an include that
            # needs them): the page shows the part's HTML.
            data=SimpleLazyObject(lambda: _dashboard(period, now, part, current, target_hours)),
            charts=SimpleLazyObject(lambda: build_charts(part.figures(), target_hours)),
            period=period,
            now=now,
            zone_name=str(tz),
            target_hours=target_hours,
            urgent_target_hours=float(settings.URGENT_REPORT_TARGET_HOURS),
            releases_awaiting=releases,
            authority_overdue=authority_figures.overdue_by_authority(now),
            annotation_counts=annotation_counts.open_by_annotation(),
            may_approve=can(self.request.user, Action.RELEASE),
        )
        return context


def _dashboard(
    period: dashboard.Period,
    now: datetime,
    part: dashboard_period.PeriodPart,
    current: dashboard.NowFigures,
    target_hours: float,
) -> dashboard.Dashboard:
    snapshot = part.figures()
    return dashboard.Dashboard(
        now=now,
        period=period,
        current=current,
        figures=snapshot.figures,
        moderators=snapshot.moderators,
        weekly=snapshot.weekly,
        backlog=snapshot.backlog,
        holds=snapshot.holds,
        target_hours=target_hours,
        period_as_of=snapshot.computed_at,
    )
