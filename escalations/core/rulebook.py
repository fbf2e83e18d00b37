"""The rules as the policy reads them: rule rows turned into policy.RuleData, the configuration an
escalation is judged by (the settings plus one version of each rule: the version the escalation was
judged by where it has one, else the latest), and the links that record that judgement."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from escalations import policy
from escalations.models import Escalation, EscalationRule, Rule
from escalations.policy import rules as rule_policy


def rule_data(rule: Rule) -> rule_policy.RuleData:
    return rule_policy.RuleData(
        id=rule.pk,
        code=rule.code,
        version=rule.version,
        regime=rule.regime,
        authority=rule.authority,
        obligation=rule.obligation,
        title=rule.title,
        clock_start=rule.clock_start,
        limit=rule.limit,
        citation=rule.citation,
        link_text=rule.link_text,
        status=rule.status,
        certainty=rule.certainty,
        amount=rule.amount,
        second_amount=rule.second_amount,
        unit=rule.unit,
        effective_from=rule.effective_from,
        effective_to=rule.effective_to,
        window_start=rule.window_start,
        window_end=rule.window_end,
        time_zone=rule.time_zone,
        applies_to=rule.applies_to,
    )


def every_version() -> list[rule_policy.RuleData]:
    """Every version of every rule. One query (the table holds tens of rows)."""
    return [rule_data(rule) for rule in Rule.objects.all()]


def current_rules() -> tuple[rule_policy.RuleData, ...]:
    """The latest version of each rule. One query."""
    return rule_policy.latest_versions(every_version())


def links_of(escalation: Escalation) -> list[EscalationRule]:
    """The rule versions the escalation was judged by. One query; none for an escalation not saved yet."""
    if escalation.pk is None:
        return []
    return list(EscalationRule.objects.filter(escalation=escalation))


def config_for(
    escalation: Escalation, *, repin: bool = False, links: list[EscalationRule] | None = None
) -> policy.PolicyConfig:
    """The settings plus the rules this escalation is judged by: the versions it was judged by (kept
    when a rule changes later), the latest of any other. `repin=True` ignores the versions it was
    judged by (a lead's re-evaluation). Two queries (one when `links` are given)."""
    if links is None:
        links = links_of(escalation)
    pins = [] if repin else [link.rule_id for link in links]
    return replace(policy.PolicyConfig.from_settings(), rules=rule_policy.latest_versions(every_version(), pins))


def config_now() -> policy.PolicyConfig:
    """The settings plus the latest version of each rule (no escalation's pins). One query."""
    return replace(policy.PolicyConfig.from_settings(), rules=current_rules())


def judged_by(escalation: Escalation, cfg: policy.PolicyConfig) -> dict[int, str]:
    return rule_policy.judged_by(cfg.rules, escalation.knowledge_at, escalation.reported_at, escalation.ncmec_opened_at)


def record_judgement(
    escalation: Escalation, cfg: policy.PolicyConfig, now: datetime, links: list[EscalationRule]
) -> dict[str, list[str]]:
    """Make the escalation's rule links (`links`, as loaded before the change) say exactly which rule
    versions decided its deadlines under `cfg`. Returns {"rule:<deadline>": [before, after]} naming
    the versions that changed, for the audit event. No query when nothing changed."""
    wanted = judged_by(escalation, cfg)
    existing = {link.rule_id: link for link in links}
    stale = [rule_id for rule_id in existing if rule_id not in wanted]
    if stale:
        EscalationRule.objects.filter(escalation=escalation, rule_id__in=stale).delete()
    new = [
        EscalationRule(escalation=escalation, rule_id=rule_id, deadline=deadline, judged_at=now)
        for rule_id, deadline in wanted.items()
        if rule_id not in existing
    ]
    if new:
        EscalationRule.objects.bulk_create(new)
    if not stale and not new:
        return {}
    names = {r.id: f"{r.code} v{r.version}" for r in cfg.rules}
    names.update(
        {r.pk: f"{r.code} v{r.version}" for r in Rule.objects.filter(pk__in=[i for i in stale if i not in names])}
    )
    changes: dict[str, list[str]] = {}
    for rule_id in stale:
        deadline = existing[rule_id].deadline
        changes.setdefault(f"rule:{deadline}", ["", ""])[0] = names.get(rule_id, str(rule_id))
    for link in new:
        changes.setdefault(f"rule:{link.deadline}", ["", ""])[1] = names.get(link.rule_id, str(link.rule_id))
    return changes
