"""The compliance dashboard's figures: pure read-side functions of a period and `now`.

Every aggregate is computed by the database (filtered Counts, TruncWeek, and nearest-rank
percentiles through a window), so each function costs a fixed number of queries whatever the number
of rows; Python only arranges the few result rows (one per group). Every count comes with the link
to the escalation list that shows exactly the rows counted: the link's filters (escalations.core.filters)
and the count's condition are built side by side here, and tests follow each link.

Time zones: a period is a range of whole days in the viewer's zone, bounded exactly as the list's
`reported_at_after`/`_before` filters bound them (start 00:00 to end 23:59:59.999999, inclusive).
Weeks start Monday 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber, TruncWeek
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from escalations.core import filters
from escalations.core.permissions import MODERATOR
from escalations.core.selectors import NEXT_ACTION_ORDER, deadline_state_q, hold_q
from escalations.models import ACTIVE_STATUSES, BreachReason, Escalation, Priority, Status
from escalations.policy import DeadlineState, PolicyConfig, action_label

# Nearest-rank percentiles reported for time to report (whole percents).
MEDIAN = 50
P90 = 90
PERCENTILES = (MEDIAN, P90)
MOST_OVERDUE_LIMIT = 10
# Active escalations whose assignee was deactivated (a leaver): listed for reassignment, up to this many.
NEEDS_REASSIGNMENT_LIMIT = 50
# The dashboard lists the latest breaches of the period; the count links to every one of them.
BREACH_LIST_LIMIT = 50
CHART_WEEKS = 12
OPEN_STATES = (DeadlineState.OVERDUE, DeadlineState.DUE_SOON, DeadlineState.ON_TRACK)
# The groupings of the period's report times (period_report_times).
ALL, BY_PRIORITY, BY_ASSIGNEE, BY_WEEK = "all", "priority", "assignee", "week"


# --- Links -------------------------------------------------------------------------------------


def figure_url(**params: Any) -> str:
    """The escalation list behind a figure: test records are left out, as they are from every figure."""
    return filters.list_url(**{"is_test": "false", **params})


# --- Values ------------------------------------------------------------------------------------


def format_duration(seconds: int | float | None) -> str:
    """'26 h 5 min', '45 min', 'under 1 min'; '—' for no value. Hours are not rolled into days:
    the targets are set in hours."""
    if seconds is None:
        return "—"
    total_minutes = int(seconds) // 60
    hours, minutes = divmod(total_minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return "under 1 min"


def format_percent(part: int, whole: int) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f} %"


def _linked(text: object, url: str | None) -> SafeString:
    return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)


@dataclass(frozen=True)
class Figure:
    """A count and the list that shows exactly the rows counted (None: no filter expresses it)."""

    value: int
    url: str | None

    @property
    def link(self) -> SafeString:
        return _linked(self.value, self.url)


@dataclass(frozen=True)
class Duration:
    """A time to report in whole seconds (None when there is nothing to measure), linked to the
    reports it summarises."""

    seconds: int | None
    url: str | None = None

    @property
    def display(self) -> str:
        return format_duration(self.seconds)

    @property
    def link(self) -> SafeString:
        return _linked(self.display, self.url if self.seconds is not None else None)

    @property
    def hours(self) -> float | None:
        return None if self.seconds is None else self.seconds / 3600


@dataclass(frozen=True)
class ReportStats:
    """Reports filed by one group in a period: how many, how many at or before their target, and
    the nearest-rank median and 90th percentile of time from knowledge to report."""

    label: str
    reports: Figure
    within: Figure
    median: Duration
    p90: Duration

    @property
    def share(self) -> float | None:
        """Share within target, 0 to 1 (None without reports)."""
        return self.within.value / self.reports.value if self.reports.value else None

    @property
    def share_display(self) -> str:
        return format_percent(self.within.value, self.reports.value)

    @property
    def share_link(self) -> SafeString:
        """The share, linked to the reports within target (the numerator)."""
        return _linked(self.share_display, self.within.url if self.reports.value else None)


@dataclass(frozen=True)
class Period:
    """Whole days `start`..`end` (inclusive) in zone `tz`: the viewer's zone."""

    start: date
    end: date
    tz: tzinfo

    @classmethod
    def last_days(cls, days: int, now: datetime, tz: tzinfo) -> Period:
        """The last `days` days up to and including today (in `tz`)."""
        today = timezone.localdate(now, tz)
        return cls(start=today - timedelta(days=days - 1), end=today, tz=tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        # The same bound django-filter's DateFromToRangeFilter uses, so a link shows what we count.
        return timezone.make_aware(datetime.combine(self.start, time.min), self.tz)

    @property
    def end_at(self) -> datetime:
        """Inclusive: the last microsecond of `end` (as the list's `reported_at_before`)."""
        return timezone.make_aware(datetime.combine(self.end, time.max), self.tz)

    def reported_q(self, prefix: str = "") -> Q:
        return Q(**{f"{prefix}reported_at__range": (self.start_at, self.end_at)})

    def params(self) -> dict[str, str]:
        return {"reported_at_after": self.start.isoformat(), "reported_at_before": self.end.isoformat()}


# --- Nearest-rank percentiles in SQL -------------------------------------------------------------


@dataclass(frozen=True)
class GroupTimes:
    reports: int
    within: int
    percentiles: dict[int, int]


def _hit(rank: Any, count: Any, percent: int) -> Case:
    """1 where `rank` is the nearest rank of `percent` among `count` rows, i.e. rank = ceil(p*n/100),
    written without division as (rank - 1)*100 < p*n <= rank*100 (exact integer arithmetic on both
    SQLite and PostgreSQL)."""
    return Case(
        When(
            GreaterThanOrEqual(rank * Value(100), count * Value(percent)),
            then=Case(When(LessThan((rank - Value(1)) * Value(100), count * Value(percent)), then=Value(1)), default=0),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def report_times(
    reports: QuerySet[Escalation],
    groupings: dict[str, Expression | str | None],
    percents: Sequence[int] = PERCENTILES,
) -> dict[str, dict[Any, GroupTimes]]:
    """For each grouping (a name and what to group by: a field, an expression, or None for all
    reports as the single group None), per group of `reports`: the number of reports, how many
    within target, and the nearest-rank percentiles of report_seconds.

    One query for every grouping: per grouping, a window numbers each group's rows by report_seconds
    and counts them; only the rows at a wanted rank of some grouping come back (at most
    len(percents) per group), so no row is read in Python only to be counted.
    """
    names = list(groupings)
    annotations: dict[str, Any] = {}
    pick: Expression = Value(0)
    for g, name in enumerate(names):
        group = groupings[name]
        group_expr: Any = F(group) if isinstance(group, str) else group
        partition = [group_expr] if group_expr is not None else None
        annotations[f"_g{g}"] = group_expr if group_expr is not None else Value(None, output_field=IntegerField())
        annotations[f"_rank{g}"] = Window(
            RowNumber(), partition_by=partition, order_by=[F("report_seconds").asc(), F("pk").asc()]
        )
        annotations[f"_n{g}"] = Window(Count("pk"), partition_by=partition)
        annotations[f"_within{g}"] = Window(Count("pk", filter=Q(reported_on_time=True)), partition_by=partition)
        # One bit per grouping and percentile, so a row at several wanted ranks comes back once.
        for p, percent in enumerate(percents):
            pick = pick + _hit(F(f"_rank{g}"), F(f"_n{g}"), percent) * Value(2 ** (g * len(percents) + p))
    per_grouping = [f"{column}{g}" for g in range(len(names)) for column in ("_g", "_n", "_within")]
    rows = (
        reports.filter(report_seconds__isnull=False)
        .order_by()
        .annotate(**annotations)
        .annotate(_pick=pick)
        .filter(_pick__gt=0)
        .values_list("report_seconds", "_pick", *per_grouping)
    )
    result: dict[str, dict[Any, GroupTimes]] = {name: {} for name in names}
    for seconds, bits, *columns in rows:
        for g, name in enumerate(names):
            key, n, n_within = columns[3 * g : 3 * g + 3]
            for p, percent in enumerate(percents):
                if bits & (1 << (g * len(percents) + p)):
                    times = result[name].setdefault(key, GroupTimes(reports=n, within=n_within, percentiles={}))
                    times.percentiles[percent] = seconds
    return result


def period_report_times(period: Period) -> dict[str, dict[Any, GroupTimes]]:
    """The period's report times overall, by priority, by assignee (the unassigned as None) and by
    UTC week of the report: one query."""
    return report_times(
        period_reports(period),
        {
            ALL: None,
            BY_PRIORITY: "priority",
            BY_ASSIGNEE: "assignee_id",
            BY_WEEK: TruncWeek("reported_at", tzinfo=UTC),
        },
    )


def _stats(label: str, times: GroupTimes | None, params: dict[str, Any] | None) -> ReportStats:
    """ReportStats of one group; `params` are the list filters that select its reports (None when
    no filter expresses the group: then nothing is linked)."""
    times = times or GroupTimes(0, 0, {})
    url = figure_url(**params) if params is not None else None
    within_url = figure_url(**params, reported_on_time="true") if params is not None else None
    return ReportStats(
        label=label,
        reports=Figure(times.reports, url),
        within=Figure(times.within, within_url),
        median=Duration(times.percentiles.get(MEDIAN), url),
        p90=Duration(times.percentiles.get(P90), url),
    )


def records() -> QuerySet[Escalation]:
    """Every escalation the dashboard counts: test records (is_test) are left out."""
    return Escalation.objects.filter(is_test=False)


def period_reports(period: Period) -> QuerySet[Escalation]:
    """Escalations whose report was filed in the period (whatever their status now)."""
    return records().filter(period.reported_q())


# --- Now -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueItem:
    escalation: Escalation
    overdue_by: str

    @property
    def action(self) -> str:
        """The deadline it is overdue for, in words ("File report")."""
        return action_label(self.escalation.next_action)

    @property
    def due_at(self) -> datetime | None:
        return self.escalation.next_action_due_at or self.escalation.next_deadline_at


@dataclass(frozen=True)
class NowFigures:
    overdue: Figure
    due_soon: Figure
    on_track: Figure
    unconfirmed: Figure
    holds_ending: Figure
    holds_ended: Figure
    open_total: Figure
    open_unassigned: int
    most_overdue: list[OverdueItem]
    # Active escalations assigned to a deactivated person (counted with the rest; listed by build()).
    needs_reassignment: int = 0
    needs_reassignment_list: list[Escalation] = field(default_factory=list)

    @property
    def by_state(self) -> list[tuple[str, str, Figure]]:
        return [
            (DeadlineState.OVERDUE.value, DeadlineState.OVERDUE.label, self.overdue),
            (DeadlineState.DUE_SOON.value, DeadlineState.DUE_SOON.label, self.due_soon),
            (DeadlineState.ON_TRACK.value, DeadlineState.ON_TRACK.label, self.on_track),
        ]


# --- Counts of now: several sets of conditional counts in one aggregate query ---------------------


@dataclass(frozen=True)
class CountSet:
    """Named conditional counts of escalations. `where` only narrows the rows read: each condition
    must itself select only rows that match `where`, so that several sets can run as one query
    (count_sets) over the rows any of them may count, without repeating every `where` in every
    count (measured at a million rows: 0.8 s instead of 1.4 s)."""

    where: Q
    conditions: dict[str, Q]


def count_sets(*sets: CountSet) -> list[dict[str, int]]:
    """The counts of every set, in one aggregate query, in the order given."""
    where = sets[0].where
    for extra in sets[1:]:
        where |= extra.where
    aggregates = {
        f"s{i}_{name}": Count("pk", filter=condition)
        for i, counted in enumerate(sets)
        for name, condition in counted.conditions.items()
    }
    row = records().filter(where).order_by().aggregate(**aggregates)
    return [{name: row[f"s{i}_{name}"] for name in counted.conditions} for i, counted in enumerate(sets)]


IS_OPEN = Q(status=Status.OPEN)
# Deactivated (by an admin, or by the identity provider over SCIM): nobody will act on these.
NEEDS_REASSIGNMENT = Q(status__in=ACTIVE_STATUSES, assignee__is_active=False)


def now_counts(now: datetime) -> dict[str, int]:
    """Open escalations by deadline state, in all and unassigned; preservation not confirmed; the
    active escalations of deactivated people. "Open" is status open (not reported). Three queries,
    each over a partial index whose size follows the live work, never the table (esc_open_now,
    esc_unconfirmed_now, and the assignee index for the few deactivated people). The holds are
    counted with the period (holds_counts): the reported escalations whose hold ends within the
    next weeks grow with the table."""
    counts: dict[str, int] = (
        records()
        .filter(IS_OPEN)
        .aggregate(
            **{state.value: Count("pk", filter=deadline_state_q(state, now)) for state in OPEN_STATES},
            open_total=Count("pk"),
            open_unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        )
    )
    counts["unconfirmed"] = records().filter(status=Status.REPORTED, preservation_confirmed_at__isnull=True).count()
    # Few people are ever deactivated: their escalations are read through the assignee index.
    counts["needs_reassignment"] = records().filter(NEEDS_REASSIGNMENT).count()
    return counts


def holds_counts(now: datetime) -> dict[str, int]:
    """Reported escalations whose preservation hold ends within the "ending soon" window, and whose
    hold has ended (awaiting a lead's decision): one query over one range of esc_reported_holds.
    At a million escalations that range holds about 90,000 rows (the last weeks of a year of
    reports), so it is counted once a minute with the period, not at every visit."""
    ending, ended = hold_q("ending", now), hold_q("ended", now)
    # Ending or ended: the holds that end by the last moment "ending" counts (one range of the index).
    either = hold_q("ended", now + PolicyConfig.from_settings().preservation_ending_soon)
    counts: dict[str, int] = (
        records()
        .filter(either)
        .aggregate(holds_ending=Count("pk", filter=ending), holds_ended=Count("pk", filter=ended))
    )
    return counts


def now_figures(now: datetime, counts: dict[str, int]) -> NowFigures:
    """The figures of `counts` (of now_counts) with their links, and the most overdue: one query."""
    overdue = (
        records()
        .filter(IS_OPEN & deadline_state_q(DeadlineState.OVERDUE, now))
        .select_related("assignee")
        .order_by(*NEXT_ACTION_ORDER)[:MOST_OVERDUE_LIMIT]
    )

    def state(value: DeadlineState) -> Figure:
        return Figure(counts[value.value], figure_url(status=Status.OPEN, deadline_state=value.value))

    return NowFigures(
        overdue=state(DeadlineState.OVERDUE),
        due_soon=state(DeadlineState.DUE_SOON),
        on_track=state(DeadlineState.ON_TRACK),
        unconfirmed=Figure(counts["unconfirmed"], figure_url(status=Status.REPORTED, preservation_confirmed="false")),
        holds_ending=Figure(counts["holds_ending"], figure_url(hold="ending")),
        holds_ended=Figure(counts["holds_ended"], figure_url(hold="ended")),
        open_total=Figure(counts["open_total"], figure_url(status=Status.OPEN)),
        open_unassigned=counts["open_unassigned"],
        needs_reassignment=counts["needs_reassignment"],
        most_overdue=[
            OverdueItem(esc, format_duration((now - due).total_seconds()))
            for esc in overdue
            if (due := esc.next_action_due_at or esc.next_deadline_at) is not None
        ],
    )


# --- The period ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonFigure:
    reason: str
    label: str
    figure: Figure


@dataclass(frozen=True)
class BreachItem:
    escalation: Escalation
    late_by: str


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    overall: ReportStats
    standard: ReportStats
    urgent: ReportStats
    breaches: Figure
    breach_reasons: list[ReasonFigure]
    breach_list: list[BreachItem]

    @property
    def breach_list_is_partial(self) -> bool:
        return self.breaches.value > len(self.breach_list)

    @property
    def by_priority(self) -> list[ReportStats]:
        return [self.overall, self.standard, self.urgent]


def period_figures(period: Period, times: dict[str, dict[Any, GroupTimes]]) -> PeriodFigures:
    """Reports filed in the period, within target overall and by priority, median and p90 (from
    `times`, period_report_times), the breaches (reports after their target) by reason, and the
    latest BREACH_LIST_LIMIT of them. Two queries."""
    reports = period_reports(period)
    params = period.params()
    overall = times[ALL].get(None)
    by_priority = times[BY_PRIORITY]
    late_params = {**params, "reported_on_time": "false"}
    reason_counts = dict(
        reports.filter(reported_on_time=False)
        .order_by()
        .values_list("breach_reason")
        .annotate(n=Count("pk"))
        .values_list("breach_reason", "n")
    )
    # The latest BREACH_LIST_LIMIT, newest first: a large platform's quarter may hold thousands (the
    # count links to all of them in the list, which pages).
    breach_list = (
        reports.filter(reported_on_time=False)
        .select_related("assignee")
        .order_by("-reported_at", "-pk")[:BREACH_LIST_LIMIT]
    )
    reasons = [
        ReasonFigure(value, str(label), Figure(reason_counts[value], figure_url(**late_params, breach_reason=value)))
        for value, label in BreachReason.choices
        if reason_counts.get(value)
    ]
    return PeriodFigures(
        period=period,
        overall=_stats("All reports", overall, params),
        standard=_stats("Standard", by_priority.get(Priority.STANDARD.value), {**params, "priority": "standard"}),
        urgent=_stats("Urgent", by_priority.get(Priority.URGENT.value), {**params, "priority": "urgent"}),
        breaches=Figure(sum(reason_counts.values()), figure_url(**late_params)),
        breach_reasons=reasons,
        breach_list=[
            BreachItem(esc, format_duration((esc.reported_at - esc.report_due_at).total_seconds()))
            for esc in breach_list
            if esc.reported_at is not None
        ],
    )


@dataclass(frozen=True)
class ModeratorFigures:
    user_id: int | None
    name: str
    open_now: Figure
    stats: ReportStats


def moderator_figures(period: Period, open_unassigned: int, times: dict[Any, GroupTimes]) -> list[ModeratorFigures]:
    """Per person: open escalations assigned now, and reports filed in the period with their share
    within target and median. Everyone in the moderator group (active) is listed, and anyone else
    with open or period work assigned; a last row counts the unassigned (`open_unassigned` comes
    from now_figures, `times` the period's report times by assignee; its links use the list's
    "Nobody (unassigned)" filter). One query."""
    user_model = get_user_model()
    assigned = records().filter(Q(status=Status.OPEN) | period.reported_q(), assignee__isnull=False)
    moderators = user_model.objects.filter(groups__name=MODERATOR, is_active=True)
    people = (
        user_model.objects.filter(Q(pk__in=moderators.values("pk")) | Q(pk__in=assigned.values("assignee_id")))
        # A correlated count per person uses the (assignee, status, ...) index; a join with a
        # filtered Count read every escalation (a sequential scan of the table at a million rows).
        .annotate(
            open_now=Coalesce(
                Subquery(
                    records()
                    .filter(assignee=OuterRef("pk"), status=Status.OPEN)
                    .order_by()
                    .values("assignee")
                    .annotate(n=Count("pk"))
                    .values("n")
                ),
                0,
            )
        )
        .order_by(user_model.USERNAME_FIELD, "pk")
        .values_list("pk", user_model.USERNAME_FIELD, "open_now")
    )
    # Grouped by assignee_id, the unassigned reports form their own group (key None).
    params = period.params()
    result = [
        ModeratorFigures(
            user_id=pk,
            name=name,
            open_now=Figure(open_now, figure_url(status=Status.OPEN, assignee=pk)),
            stats=_stats(name, times.get(pk), {**params, "assignee": pk}),
        )
        for pk, name, open_now in people
    ]
    result.append(
        ModeratorFigures(
            user_id=None,
            name="Unassigned",
            # django-filter's null value: the list's "Nobody (unassigned)" choice.
            open_now=Figure(open_unassigned, figure_url(status=Status.OPEN, assignee="null")),
            stats=_stats("Unassigned", times.get(None), {**params, "assignee": "null"}),
        )
    )
    return result


# --- Weekly series (charts) ------------------------------------------------------------------------


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    moment = moment.astimezone(UTC)
    return datetime.combine(moment.date() - timedelta(days=moment.weekday()), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class WeekStats:
    week_start: datetime
    stats: ReportStats
    # How much of the week the figures cover: less than 7 days for a week the period cuts, or one not
    # over yet. A partial week's counts are not comparable with a whole week's; the charts say so.
    days_covered: float = 7.0

    @property
    def partial(self) -> bool:
        return self.days_covered < 7


def _utc_params(period: Period, start: datetime, end: datetime) -> dict[str, str] | None:
    """List filters for reports filed in [start, end) ∩ the period, if dates in the viewer's zone can
    express it (they can when that zone is at UTC at both bounds); None otherwise."""
    first = max(start.date(), period.start)
    last = min((end - timedelta(days=1)).date(), period.end)
    bounds = Period(first, last, period.tz)
    if any(b.utcoffset() != timedelta(0) for b in (bounds.start_at, bounds.end_at)):
        return None
    return bounds.params()


def covered_days(start: datetime, period: Period, now: datetime | None = None) -> float:
    """How many days of the UTC week from `start` lie in the period (and before `now`)."""
    end = period.end_at + timedelta(microseconds=1)
    if now is not None:
        end = min(end, now)
    overlap = min(start + timedelta(weeks=1), end) - max(start, period.start_at)
    return max(overlap.total_seconds(), 0) / 86400


def weekly_report_times(period: Period, times: dict[Any, GroupTimes], now: datetime | None = None) -> list[WeekStats]:
    """For each UTC week (from Monday) that overlaps the period: reports filed in the period in that
    week, within target, median and p90 (`times`: the period's report times by week). Weeks
    without reports are included, empty; a week the period (or `now`) cuts is marked partial."""
    weeks = weeks_between(period.start_at, period.end_at)
    by_week = {week_start(key): value for key, value in times.items()}
    result = []
    for start in weeks:
        days = covered_days(start, period, now)
        label = f"Week of {start:%a %d %b %Y}" + (" (partial week)" if days < 7 else "")
        stats = _stats(label, by_week.get(start), _utc_params(period, start, start + timedelta(7)))
        result.append(WeekStats(week_start=start, stats=stats, days_covered=days))
    return result


def weeks_between(first: datetime, last: datetime) -> list[datetime]:
    """Monday 00:00 UTC of every week from the one holding `first` to the one holding `last`."""
    start, stop = week_start(first), week_start(last)
    count = (stop - start).days // 7 + 1
    return [start + timedelta(weeks=i) for i in range(max(count, 0))]


@dataclass(frozen=True)
class BacklogPoint:
    at: datetime
    overdue: int
    within: int

    @property
    def total(self) -> int:
        return self.overdue + self.within


# The backlog chart's most moments: a long period shows every second (third, ...) week end.
MAX_BACKLOG_POINTS = 27


def backlog_ends(period: Period, now: datetime) -> list[datetime]:
    """The moments the backlog chart counts at, following the chosen period: its start, each week end
    (Monday 00:00 UTC) inside it, and its end (now, if the period runs to today), oldest first."""
    start = period.start_at.astimezone(UTC)
    end = max(min(period.end_at, now), period.start_at).astimezone(UTC)
    monday = week_start(start)
    if monday <= start:
        monday += timedelta(weeks=1)
    mondays = []
    while monday < end:
        mondays.append(monday)
        monday += timedelta(weeks=1)
    room = MAX_BACKLOG_POINTS - 2
    if len(mondays) > room:
        mondays = mondays[:: -(-len(mondays) // room)]
    return [start, *mondays, end] if end > start else [start]


def backlog_counts(ends: list[datetime]) -> CountSet:
    """At each week end of `ends`, escalations known and not yet reported (status not dismissed),
    split by whether their report target had passed. Status and reported_at are today's, so one
    dismissed since is left out of the past too."""
    not_dismissed = ~Q(status=Status.DISMISSED)
    conditions: dict[str, Q] = {}
    for i, at in enumerate(ends):
        waiting = Q(knowledge_at__lte=at) & (Q(reported_at__isnull=True) | Q(reported_at__gt=at)) & not_dismissed
        conditions[f"overdue_{i}"] = waiting & Q(report_due_at__lt=at)
        conditions[f"within_{i}"] = waiting & Q(report_due_at__gte=at)
    # Only rows waiting at some week end can count: known by the last one, not reported by the first.
    waiting_some_week = Q(knowledge_at__lte=ends[-1]) & (Q(reported_at__isnull=True) | Q(reported_at__gt=ends[0]))
    return CountSet(where=waiting_some_week & not_dismissed, conditions=conditions)


def backlog_series(ends: list[datetime], counts: dict[str, int]) -> list[BacklogPoint]:
    return [BacklogPoint(at, counts[f"overdue_{i}"], counts[f"within_{i}"]) for i, at in enumerate(ends)]


@dataclass(frozen=True)
class WeekCount:
    week_start: datetime
    count: int


def holds_weeks(now: datetime, weeks: int = CHART_WEEKS) -> list[datetime]:
    """This UTC week's Monday and the next `weeks` - 1."""
    first = week_start(now)
    return [first + timedelta(weeks=i) for i in range(weeks)]


def holds_ending_counts(now: datetime, weeks: list[datetime]) -> CountSet:
    """Reported escalations whose preservation hold ends after `now`, per UTC week of preserve_until."""
    ending_later = Q(status=Status.REPORTED, preserve_until__gt=now)
    return CountSet(
        where=ending_later & Q(preserve_until__lt=weeks[-1] + timedelta(weeks=1)),
        conditions={
            f"week_{i}": ending_later & Q(preserve_until__gte=start, preserve_until__lt=start + timedelta(weeks=1))
            for i, start in enumerate(weeks)
        },
    )


def holds_ending_series(weeks: list[datetime], counts: dict[str, int]) -> list[WeekCount]:
    return [WeekCount(start, counts[f"week_{i}"]) for i, start in enumerate(weeks)]


# --- Everything at once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    period: Period
    current: NowFigures
    figures: PeriodFigures
    moderators: list[ModeratorFigures]
    weekly: list[WeekStats]
    backlog: list[BacklogPoint]
    holds: list[WeekCount]
    target_hours: float = field(default=24.0)
    # When the period's figures (figures, moderators, weekly, backlog, holds, and the holds ending or
    # ended under Now) were counted; the other figures of now are counted at `now`.
    period_as_of: datetime | None = None

    def linked_figures(self) -> Iterable[Figure]:
        """Every linked count on the dashboard (for tests: each link must list exactly that many)."""
        c, f = self.current, self.figures
        yield from (c.overdue, c.due_soon, c.on_track, c.unconfirmed, c.holds_ending, c.holds_ended, c.open_total)
        for stats in f.by_priority:
            yield from (stats.reports, stats.within)
        yield f.breaches
        yield from (r.figure for r in f.breach_reasons)
        for m in self.moderators:
            yield from (m.open_now, m.stats.reports, m.stats.within)
        for w in self.weekly:
            yield from (w.stats.reports, w.stats.within)


@dataclass(frozen=True)
class PeriodSnapshot:
    """The figures that grow with the table, counted at `computed_at`: the period's report times and
    their percentiles, the breaches, the people, the weeks, the backlog, and the holds (per week, and
    ending or ended: `holds_now`)."""

    computed_at: datetime
    figures: PeriodFigures
    moderators: list[ModeratorFigures]
    weekly: list[WeekStats]
    backlog: list[BacklogPoint]
    holds: list[WeekCount]
    holds_now: dict[str, int] = field(default_factory=dict)


def needs_reassignment(limit: int = NEEDS_REASSIGNMENT_LIMIT) -> list[Escalation]:
    """Active escalations assigned to a deactivated person, what must be done first first: one query."""
    return list(records().filter(NEEDS_REASSIGNMENT).select_related("assignee").order_by(*NEXT_ACTION_ORDER)[:limit])


def count_period(period: Period, now: datetime) -> PeriodSnapshot:
    """The period's figures counted now: four queries (report times, breaches by reason, the latest
    breaches, the people), the counts of the backlog and of the holds ending per week (one more), the
    holds ending or ended (one) and the open unassigned escalations of the people's table (one)."""
    ends, weeks = backlog_ends(period, now), holds_weeks(now)
    backlog, holds = count_sets(backlog_counts(ends), holds_ending_counts(now, weeks))
    times = period_report_times(period)
    open_unassigned = records().filter(IS_OPEN, assignee__isnull=True).count()
    return PeriodSnapshot(
        computed_at=now,
        figures=period_figures(period, times),
        moderators=moderator_figures(period, open_unassigned, times[BY_ASSIGNEE]),
        weekly=weekly_report_times(period, times[BY_WEEK], now),
        backlog=backlog_series(ends, backlog),
        holds=holds_ending_series(weeks, holds),
        holds_now=holds_counts(now),
    )


def current_figures(now: datetime, holds_now: dict[str, int]) -> NowFigures:
    """The figures of now, counted at `now` (now_counts, the most overdue, and the list of those to
    reassign while there are any), with the holds ending or ended as the period's snapshot counted
    them (`holds_now`)."""
    current = now_figures(now, {**now_counts(now), **holds_now})
    if current.needs_reassignment:
        current.needs_reassignment_list.extend(needs_reassignment())
    return current


def build(period: Period, now: datetime, target_hours: float, snapshot: PeriodSnapshot | None = None) -> Dashboard:
    """All of the dashboard's figures: those of now counted at `now`, the period's from `snapshot`
    (counted now when None)."""
    snapshot = snapshot or count_period(period, now)
    return Dashboard(
        now=now,
        period=period,
        current=current_figures(now, snapshot.holds_now),
        figures=snapshot.figures,
        moderators=snapshot.moderators,
        weekly=snapshot.weekly,
        backlog=snapshot.backlog,
        holds=snapshot.holds,
        target_hours=target_hours,
        period_as_of=snapshot.computed_at,
    )
