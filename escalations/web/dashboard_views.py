"""The compliance dashboard page (leads and auditors): a period form, the figures of
escalations.compliance.dashboard, and the charts of escalations.compliance.charts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from django.views.generic import TemplateView

from escalations.compliance import access_log, annotation_counts, authority_figures, charts, dashboard
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
        data = dashboard.build(period, now, target_hours)
        # Need-to-know: the escalations its lists name (the most overdue, the latest breaches).
        shown = [item.escalation.pk for item in data.current.most_overdue]
        shown += [item.escalation.pk for item in data.figures.breach_list]
        shown += [esc.pk for esc in data.current.needs_reassignment_list]
        releases = legal_selectors.releases_awaiting_approval(self.request.user)
        shown += [esc.pk for esc in releases]
        access_log.viewed_many(self.request, shown, what="dashboard", query=self.request.GET.urlencode())
        context.update(
            form=form,
            period_invalid=form.is_bound and not form.is_valid(),
            default_days=DEFAULT_DAYS,
            data=data,
            period=period,
            now=now,
            zone_name=str(tz),
            target_hours=target_hours,
            urgent_target_hours=float(settings.URGENT_REPORT_TARGET_HOURS),
            charts=build_charts(data),
            releases_awaiting=releases,
            authority_overdue=authority_figures.overdue_by_authority(now),
            annotation_counts=annotation_counts.open_by_annotation(),
            may_approve=can(self.request.user, Action.RELEASE),
        )
        return context


def _hours(value: float) -> str:
    return f"{value:g} h"


def _week_label(moment: Any) -> str:
    return f"{moment:%d %b}"


def build_charts(data: dashboard.Dashboard) -> list[charts.Chart]:
    return [_time_chart(data), _share_chart(data), _backlog_chart(data), _holds_chart(data)]


def _weeks_span(weeks: list[Any]) -> str:
    if not weeks:
        return "no weeks"
    first, last = weeks[0], weeks[-1]
    return f"{len(weeks)} week{'s' if len(weeks) != 1 else ''} starting {first:%a %d %b %Y} to {last:%a %d %b %Y}"


def _week_categories(weekly: list[dashboard.WeekStats]) -> list[str]:
    """Axis labels; a week the period cuts (or that is not over) gets an asterisk."""
    return [_week_label(w.week_start) + ("*" if w.partial else "") for w in weekly]


def _partial_note(weekly: list[dashboard.WeekStats]) -> str:
    partial = [w for w in weekly if w.partial]
    if not partial:
        return ""
    weeks = ", ".join(f"{w.week_start:%d %b}" for w in partial)
    return (
        f" Weeks marked * ({weeks}) are only partly in the period or not over yet: "
        "their counts are not comparable with a whole week's."
    )


def _time_chart(data: dashboard.Dashboard) -> charts.Chart:
    weekly = data.weekly
    starts = [w.week_start for w in weekly]
    median = [w.stats.median for w in weekly]
    p90 = [w.stats.p90 for w in weekly]
    target = data.target_hours
    worst = max(
        (w for w in weekly if w.stats.p90.seconds is not None), key=lambda w: w.stats.p90.seconds or 0, default=None
    )
    summary = (
        f"The highest 90th percentile was {worst.stats.p90.display}, in the week of {worst.week_start:%d %b %Y}."
        if worst
        else "No reports were filed in this period."
    )
    return charts.line_chart(
        slug="time-to-report",
        title="Time to report per week: median and 90th percentile",
        desc=(
            f"Line chart of the median and 90th-percentile hours from knowledge to report, per UTC week "
            f"({_weeks_span(starts)}), for reports filed in the period, with the standard target of "
            f"{target:g} hours as a dashed line. {summary}{_partial_note(weekly)} The table beside the chart "
            "lists every value."
        ),
        categories=_week_categories(weekly),
        table_categories=[w.stats.label for w in weekly],
        series=[
            charts.Series(
                "Median",
                [d.hours for d in median],
                "series-median",
                [d.display for d in median],
                [d.url for d in median],
            ),
            charts.Series(
                "90th percentile", [d.hours for d in p90], "series-p90", [d.display for d in p90], [d.url for d in p90]
            ),
        ],
        table_extra=[
            charts.Series(
                "Reports",
                [w.stats.reports.value for w in weekly],
                "",
                [str(w.stats.reports.value) for w in weekly],
                [w.stats.reports.url for w in weekly],
            )
        ],
        x_label="Week starting (Monday, UTC)",
        y_label="Hours from knowledge to report",
        tick_format=_hours,
        rules=[(target, f"Target {target:g} h")],
    )


def _share_chart(data: dashboard.Dashboard) -> charts.Chart:
    weekly = data.weekly
    starts = [w.week_start for w in weekly]
    shares = [None if w.stats.share is None else round(100 * w.stats.share, 1) for w in weekly]
    return charts.bar_chart(
        slug="share-within-target",
        title="Share of reports within target per week",
        desc=(
            f"Bar chart of the percentage of reports filed at or before their target, per UTC week "
            f"({_weeks_span(starts)}), from 0 to 100 percent. Weeks without reports have no bar."
            f"{_partial_note(weekly)} The table beside the chart lists every value with its counts."
        ),
        categories=_week_categories(weekly),
        table_categories=[w.stats.label for w in weekly],
        series=[
            charts.Series(
                "Within target",
                shares,
                "series-share",
                [w.stats.share_display for w in weekly],
                [w.stats.within.url for w in weekly],
            )
        ],
        table_extra=[
            charts.Series(
                "Within target (reports)",
                [w.stats.within.value for w in weekly],
                "",
                [f"{w.stats.within.value} of {w.stats.reports.value}" for w in weekly],
                [w.stats.within.url for w in weekly],
            )
        ],
        x_label="Week starting (Monday, UTC)",
        y_label="Reports within target",
        tick_format=lambda v: f"{v:g} %",
        y_max=100,
        integer=True,
    )


def _backlog_chart(data: dashboard.Dashboard) -> charts.Chart:
    points = data.backlog
    peak = max(points, key=lambda p: p.total, default=None)
    summary = (
        f"The largest backlog was {peak.total} ({peak.overdue} overdue), at {peak.at:%d %b %Y}."
        if peak and peak.total
        else "There was no backlog at any of these times."
    )
    return charts.bar_chart(
        slug="backlog",
        title="Open backlog through the period, by state",
        desc=(
            f"Stacked bar chart of escalations known but not yet reported (dismissed ones left out) at "
            f"{len(points)} moments of the period: its start, each week end inside it (Monday 00:00 UTC) and its "
            f"end (now, if the period runs to today), split into past their report target and within it. "
            f"{summary} The table beside the chart lists every value."
        ),
        categories=[_week_label(p.at) for p in points],
        table_categories=[f"{p.at:%a %d %b %Y %H:%M} UTC" for p in points],
        series=[
            charts.Series("Overdue", [p.overdue for p in points], "series-overdue", [str(p.overdue) for p in points]),
            charts.Series(
                "Within target", [p.within for p in points], "series-within", [str(p.within) for p in points]
            ),
        ],
        table_extra=[charts.Series("Total", [p.total for p in points], "", [str(p.total) for p in points])],
        x_label="Moment (UTC)",
        y_label="Escalations awaiting a report",
    )


def _holds_chart(data: dashboard.Dashboard) -> charts.Chart:
    weeks = data.holds
    total = sum(w.count for w in weeks)
    return charts.bar_chart(
        slug="holds-ending",
        title="Preservation holds ending per week, next 12 weeks",
        desc=(
            f"Bar chart of reported escalations whose preservation hold ends in each UTC week "
            f"({_weeks_span([w.week_start for w in weeks])}); {total} in all. The table beside the chart "
            "lists every value."
        ),
        categories=[_week_label(w.week_start) for w in weeks],
        table_categories=[f"Week of {w.week_start:%a %d %b %Y}" for w in weeks],
        series=[charts.Series("Holds ending", [w.count for w in weeks], "series-holds", [str(w.count) for w in weeks])],
        x_label="Week starting (Monday, UTC)",
        y_label="Holds ending",
    )
