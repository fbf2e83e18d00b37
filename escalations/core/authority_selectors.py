"""The authority register as an escalation's page shows it: each authority it owes, the state, the
deadline with the rule and citation that set it, the reference, what the filing owes after it (the
NCA's phone call, Canada's 21 days), and the triage answers. Two queries whatever it owes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalations.core import authority_register
from escalations.models import AuthorityObligation, Escalation, ObligationState
from escalations.policy import DeadlineState, PolicyConfig
from escalations.policy import authorities as authority_policy
from escalations.policy.rules import RuleData


@dataclass(frozen=True)
class RegisterRow:
    obligation: AuthorityObligation
    due: authority_policy.ObligationDue
    state: DeadlineState
    # Owed after the filing: the rule asking for a phone call, and how long to keep the data.
    phone_call: RuleData | None
    keep_until: tuple[datetime, RuleData] | None


@dataclass(frozen=True)
class TriageAnswer:
    field: str
    question: str
    answer: bool | None
    authorities: tuple[str, ...]


@dataclass(frozen=True)
class Register:
    rows: list[RegisterRow]
    triage: list[TriageAnswer]
    # Where the UK applies, the NCA's guidance not to refer again what NCMEC already has.
    no_duplicates: str
    # Authorities with a filing not yet acknowledged (the acknowledge form offers these).
    awaiting_acknowledgement: list[AuthorityObligation]


def register(escalation: Escalation, now: datetime, cfg: PolicyConfig) -> Register:
    """`cfg` carries the rules the escalation is judged by (rule_selectors.escalation_rules)."""
    obligations = list(
        AuthorityObligation.objects.filter(escalation=escalation)
        .select_related("authority", "report", "rule", "acknowledged_by")
        .order_by("authority__name", "pk")
    )
    rows = []
    for obligation in obligations:
        due = authority_register.obligation_due(obligation, escalation, cfg)
        filed_at = obligation.report.reported_at if obligation.state != ObligationState.DUE else None
        rows.append(
            RegisterRow(
                obligation=obligation,
                due=due,
                state=authority_policy.obligation_state(due, filed_at, now),
                phone_call=(
                    authority_policy.phone_call_owed(
                        cfg.rules, obligation.authority.code, escalation.priority, filed_at
                    )
                    if filed_at
                    else None
                ),
                keep_until=(
                    authority_policy.keep_after_filing(cfg.rules, obligation.authority.code, filed_at)
                    if filed_at
                    else None
                ),
            )
        )
    triage = authority_register.triage_of(escalation)
    answers = [
        TriageAnswer(
            field=field,
            question=question,
            answer=getattr(triage, field),
            authorities=authority_policy.TRIAGE_AUTHORITIES[field],
        )
        for field, question in authority_policy.TRIAGE_QUESTIONS.items()
    ]
    uk = triage.uk_linked or any(
        o.authority.code in authority_policy.TRIAGE_AUTHORITIES["uk_linked"] for o in obligations
    )
    return Register(
        rows=rows,
        triage=answers,
        no_duplicates=authority_policy.NCA_NO_DUPLICATES if uk else "",
        awaiting_acknowledgement=[o for o in obligations if o.state == ObligationState.FILED],
    )
