"""Reads about the rules: the rules page (every version, how many active escalations each governs),
the rules an escalation was judged by (and whether a newer version exists), and what a pending rule
would change if it came into force. Bounded queries: none per row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db.models import Count

from escalations import policy
from escalations.core import rulebook
from escalations.models import ACTIVE_STATUSES, DestinationReport, Escalation, EscalationRule, Rule, Status
from escalations.models.rules import Limit, Obligation, RuleStatus
from escalations.policy import rules as rule_policy

DEADLINE_WORDS = {
    rule_policy.JUDGED_REPORT: "Report target",
    rule_policy.JUDGED_REPORT_LIMIT: "Legal limit on the report",
    rule_policy.JUDGED_PRESERVATION_END: "Preservation ends",
    rule_policy.JUDGED_NCMEC_DELETION: "NCMEC deletes an unfinished report",
}

# Which of policy's deadline kinds each judged deadline explains on the escalation's page.
DEADLINE_KINDS = {
    rule_policy.JUDGED_REPORT: policy.DeadlineKind.REPORT,
    rule_policy.JUDGED_REPORT_LIMIT: policy.DeadlineKind.REPORT,
    rule_policy.JUDGED_PRESERVATION_END: policy.DeadlineKind.PRESERVATION_END,
}


@dataclass(frozen=True)
class JudgedRule:
    deadline: str
    rule: Rule
    latest: Rule
    judged_at: datetime

    @property
    def deadline_words(self) -> str:
        return DEADLINE_WORDS.get(self.deadline, self.deadline)

    @property
    def outdated(self) -> bool:
        return self.latest.version > self.rule.version


@dataclass(frozen=True)
class EscalationRules:
    cfg: policy.PolicyConfig
    judged: list[JudgedRule]

    @property
    def outdated(self) -> list[JudgedRule]:
        return [j for j in self.judged if j.outdated]

    def for_kind(self, kind: str) -> list[JudgedRule]:
        return [j for j in self.judged if DEADLINE_KINDS.get(j.deadline) == kind]


def _latest_by_code(rows: Iterable[Rule]) -> dict[str, Rule]:
    latest: dict[str, Rule] = {}
    for rule in rows:
        if rule.code not in latest or rule.version > latest[rule.code].version:
            latest[rule.code] = rule
    return latest


def escalation_rules(escalation: Escalation) -> EscalationRules:
    """The configuration the escalation is judged by (its pinned rule versions, the latest of the
    others) and each rule version that decided one of its deadlines. Two queries."""
    every = list(Rule.objects.all())
    links = list(EscalationRule.objects.filter(escalation=escalation).order_by("pk"))
    by_id = {rule.pk: rule for rule in every}
    latest = _latest_by_code(every)
    judged = [
        JudgedRule(link.deadline, by_id[link.rule_id], latest[by_id[link.rule_id].code], link.judged_at)
        for link in links
        if link.rule_id in by_id
    ]
    data = [rulebook.rule_data(rule) for rule in every]
    cfg = replace(
        policy.PolicyConfig.from_settings(),
        rules=rule_policy.latest_versions(data, [link.rule_id for link in links]),
    )
    return EscalationRules(cfg=cfg, judged=judged)


@dataclass
class RuleRow:
    rule: Rule
    governs: int
    superseded_by: int | None


@dataclass
class RulesPage:
    in_force: list[RuleRow] = field(default_factory=list)
    pending: list[RuleRow] = field(default_factory=list)
    past: list[RuleRow] = field(default_factory=list)


def rules_page(now: datetime) -> RulesPage:
    """Every version of every rule, sorted into in force (latest versions applying now), pending and
    past (lapsed, ended, or superseded by a newer version), each with how many active escalations it
    governs (judged them). Two queries."""
    every = list(Rule.objects.select_related("created_by").order_by("regime", "code", "-version"))
    counts = dict(
        EscalationRule.objects.filter(escalation__status__in=ACTIVE_STATUSES)
        .values_list("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    latest = _latest_by_code(every)
    page = RulesPage()
    for rule in every:
        newest = latest[rule.code]
        row = RuleRow(rule, counts.get(rule.pk, 0), newest.version if newest.pk != rule.pk else None)
        if row.superseded_by is not None:
            page.past.append(row)
        elif rule.status == RuleStatus.PENDING:
            page.pending.append(row)
        elif rulebook.rule_data(rule).in_force_at(now) or (rule.effective_from and rule.effective_from > now):
            page.in_force.append(row)
        else:
            page.past.append(row)
    return page


@dataclass(frozen=True)
class Move:
    key: str
    pk: int
    what: str
    before: datetime
    after: datetime

    @property
    def by(self) -> timedelta:
        return self.after - self.before

    @property
    def by_words(self) -> str:
        return f"{span_words(abs(self.by))} {'later' if self.by > timedelta(0) else 'earlier'}"


def span_words(span: timedelta) -> str:
    """'335 d 2 h', '3 h 5 min', '45 s': a move's size, short enough for a table cell."""
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


@dataclass
class Preview:
    """What a pending rule would change for active escalations if it were in force from `effective_from`."""

    rule: Rule
    effective_from: datetime | None
    examined: int = 0
    moves: list[Move] = field(default_factory=list)
    explanation: str = ""

    @property
    def moved(self) -> int:
        return len(self.moves)

    @property
    def largest(self) -> timedelta | None:
        return max((abs(m.by) for m in self.moves), default=None)

    @property
    def smallest(self) -> timedelta | None:
        return min((abs(m.by) for m in self.moves), default=None)

    @property
    def range_words(self) -> str:
        if self.smallest is None or self.largest is None:
            return ""
        low, high = span_words(self.smallest), span_words(self.largest)
        return low if low == high else f"{low} to {high}"


# The preview lists this many moved deadlines by name (the count covers them all).
PREVIEW_LISTED = 50


def preview(rule: Rule, effective_from: datetime | None = None) -> Preview:
    """How many deadlines of active escalations would move, and by how much, if `rule` came into force
    (from `effective_from`, or for every clock). One query whatever the number of escalations:
    the candidates' columns are read in one pass. Report limits move report targets of open
    escalations; preservation minimums move preserve_until of reported ones (to NCMEC, or to the
    rule's authority); caps and targets move no deadline (a cap is shown as a conflict)."""
    data = rule_policy.as_if_in_force(rulebook.rule_data(rule), effective_from)
    result = Preview(rule=rule, effective_from=effective_from)
    if rule.obligation == Obligation.REPORT and rule.limit == Limit.DEADLINE and rule.authority == "ncmec":
        rows = Escalation.objects.filter(status=Status.OPEN).values_list("pk", "knowledge_at", "report_due_at")
        for pk, knowledge_at, due in rows.iterator(chunk_size=2000):
            result.examined += 1
            if not data.in_force_at(knowledge_at):
                continue
            until = data.until(knowledge_at)
            if until is not None and until < due:
                result.moves.append(Move(Escalation(pk=pk).key, pk, "report target", due, until))
        result.explanation = "Report targets of open escalations move earlier where the limit ends before them."
    elif rule.obligation == Obligation.PRESERVE and rule.limit == Limit.MINIMUM:
        pairs: list[tuple[int, datetime | None, datetime | None]]
        if rule.authority == "ncmec":
            pairs = list(
                Escalation.objects.filter(status=Status.REPORTED, reported_at__isnull=False).values_list(
                    "pk", "reported_at", "preserve_until"
                )
            )
        else:
            pairs = list(
                DestinationReport.objects.filter(
                    destination__code=rule.authority,
                    reported_at__isnull=False,
                    escalation__status=Status.REPORTED,
                )
                .order_by("escalation_id")
                .values_list("escalation_id", "reported_at", "escalation__preserve_until")
            )
        for pk, reported_at, until_now in pairs:
            result.examined += 1
            if until_now is None or reported_at is None or not data.in_force_at(reported_at):
                continue
            until = data.until(reported_at)
            if until is not None and until > until_now:
                result.moves.append(Move(Escalation(pk=pk).key, pk, "preservation end", until_now, until))
        result.explanation = (
            "Preservation ends of reported escalations move later where the new minimum ends after them."
        )
    else:
        result.explanation = (
            "This rule sets no deadline the tracker computes (a cap is shown beside the deadlines as a "
            "conflict; a target is the platform's own); no deadline would move."
        )
    result.moves.sort(key=lambda m: abs(m.by), reverse=True)
    return result
