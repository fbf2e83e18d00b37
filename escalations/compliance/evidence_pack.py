"""Evidence packs: everything an auditor or a court asks of one escalation (the record, each deadline
with its rule and citation and whether it was met, the audit trail with its chain digests, the access
log), or of a period (every escalation of the compliance report, with its deadlines and the head of
its audit chain), as plain data for core.pack_signing to sign.

Times are ISO 8601 UTC with seconds; people are usernames; choices are their labels beside their
values. Nothing a person typed is interpreted: it is copied as stored (it was checked for file
content when it was written)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from escalations import policy
from escalations.core import authority_selectors, ncmec_report, rule_selectors
from escalations.core.people import User
from escalations.models import AccessLog, AuditEvent, ChainHead, ChainLog, Escalation, ObligationState, Rule
from escalations.models.audit_chain import AuditVerification
from escalations.models.legal import EvidenceItem
from escalations.policy import authorities as authority_policy
from escalations.policy.rules import RuleData

PACK_VERSION = 1


def _at(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _name(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def _record(esc: Escalation) -> dict[str, Any]:
    return {
        "key": esc.key,
        "id": esc.pk,
        "is_test": esc.is_test,
        "status": esc.status,
        "status_label": esc.get_status_display(),
        "status_reason": esc.status_reason,
        "priority": esc.priority,
        "urgent_reason": esc.urgent_reason,
        "incident_type": esc.incident_type,
        "incident_type_label": esc.get_incident_type_display(),
        "platform_reference": esc.platform_reference,
        "account_reference": esc.account_reference,
        "knowledge_at": _at(esc.knowledge_at),
        "reported_at": _at(esc.reported_at),
        "cybertipline_report_id": esc.cybertipline_report_id,
        "reported_on_time": esc.reported_on_time,
        "breach_reason": esc.breach_reason,
        "breach_note": esc.breach_note,
        "preservation_location": esc.preservation_location,
        "preservation_confirmed_at": _at(esc.preservation_confirmed_at),
        "preservation_confirmed_by": _name(esc.preservation_confirmed_by),
        "preserve_until": _at(esc.preserve_until),
        "release_requested_at": _at(esc.release_requested_at),
        "released_at": _at(esc.released_at),
        "ncmec_opened_at": _at(esc.ncmec_opened_at),
        "ncmec_last_change_at": _at(esc.ncmec_last_change_at),
        "ncmec_submission_state": esc.ncmec_submission_state,
        "ncmec_annotations": ncmec_report.codes(esc.ncmec_annotations),
        "prior_report_id": esc.prior_report_id,
        "notes": esc.notes,
        "assignee": _name(esc.assignee),
        "created_by": _name(esc.created_by),
        "created_at": _at(esc.created_at),
        "version": esc.version,
    }


def _outcome(deadline: policy.Deadline, now: datetime) -> str:
    """Whether it was met, in the words of the compliance report (its state from policy)."""
    state = deadline.state(now)
    if state == policy.DeadlineState.NOT_APPLICABLE:
        return "not applicable"
    if state == policy.DeadlineState.MET:
        return "met late" if deadline.met_late else "met"
    return "missed" if state == policy.DeadlineState.OVERDUE else "not yet due"


def _judged_entry(judged: rule_selectors.JudgedRule) -> dict[str, Any]:
    return {
        **_rule_fields(judged.rule),
        "judged_at": _at(judged.judged_at),
        "judged_for": judged.deadline_words,
        "newer_version": judged.latest.version if judged.outdated else None,
    }


def deadline_entries(
    esc: Escalation, now: datetime, cfg: policy.PolicyConfig, judged: rule_selectors.EscalationRules | None = None
) -> list[dict[str, Any]]:
    """Each deadline with what it rests on: the basis in words, and (`judged`) the dated rule versions
    the escalation was judged by for it, as its page shows them."""
    entries = []
    for deadline in policy.deadlines(esc, cfg):
        basis = policy.basis_of(deadline.kind)
        entry: dict[str, Any] = {
            "kind": str(deadline.kind),
            "label": deadline.label,
            "due_at": _at(deadline.due_at),
            "met_at": _at(deadline.met_at),
            "outcome": _outcome(deadline, now),
            "rule": basis.rule,
            "citation": basis.citation,
            "platform_target": basis.platform_target,
        }
        if judged is not None:
            entry["judged_by"] = [_judged_entry(j) for j in judged.for_kind(deadline.kind)]
        entries.append(entry)
    return entries


def _rule_entry(rule: RuleData | None) -> dict[str, Any] | None:
    return None if rule is None else _rule_fields(rule)


def _rule_fields(rule: RuleData | Rule) -> dict[str, Any]:
    """A rule version as the pack names it (a stored version or the data policy judged by)."""
    return {
        "code": rule.code,
        "version": rule.version,
        "title": rule.title,
        "citation": rule.citation,
        "source": rule.link_text,
        "certainty": rule.certainty,
    }


def authority_entries(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> list[dict[str, Any]]:
    """What the escalation owes each authority besides NCMEC (the register on its page): the state,
    the deadline with its rule, the filing and its acknowledgement, and what the filing owes after."""
    entries = []
    for row in authority_selectors.register(esc, now, cfg).rows:
        obligation, report = row.obligation, row.obligation.report
        filed = obligation.state != ObligationState.DUE
        entries.append(
            {
                "authority": obligation.authority.code,
                "name": obligation.authority.name,
                "state": obligation.state,
                "due_at": _at(row.due.due_at),
                "outcome": _authority_outcome(
                    row.state, authority_policy.filed_late(row.due, report.reported_at if filed else None)
                ),
                "rule": _rule_entry(row.due.rule),
                "reference": report.report_id if filed else "",
                "filed_at": _at(report.reported_at) if filed else None,
                "acknowledged_at": _at(obligation.acknowledged_at),
                "acknowledged_by": _name(obligation.acknowledged_by),
                "phone_call_owed": _rule_entry(row.phone_call),
                "keep_until": _at(row.keep_until[0]) if row.keep_until else None,
            }
        )
    return entries


def _authority_outcome(state: policy.DeadlineState, late: bool) -> str:
    """In the words of the deadlines above (state and lateness from policy.authorities)."""
    if state == policy.DeadlineState.NOT_APPLICABLE:
        return "no dated deadline"
    if state == policy.DeadlineState.MET:
        return "met late" if late else "met"
    return "missed" if state == policy.DeadlineState.OVERDUE else "not yet due"


def _audit_entries(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    return [
        {
            "seq": event.seq,
            "at": _at(event.at),
            "actor": _name(event.actor),
            "action": event.action,
            "action_label": event.get_action_display(),
            "changes": event.changes,
            "reason": event.reason,
            "via": event.via,
            "version": event.version,
            "payload_digest": event.payload_digest,
            "chain_digest": event.chain_digest,
        }
        for event in events
    ]


def _access_entries(rows: Iterable[AccessLog]) -> list[dict[str, Any]]:
    return [
        {
            "seq": row.seq,
            "at": _at(row.at),
            "reader": _name(row.user),
            "kind": row.kind,
            "what": row.what,
            "query": row.query,
            "ip_address": row.ip_address,
            "via": row.via,
            "payload_digest": row.payload_digest,
            "chain_digest": row.chain_digest,
        }
        for row in rows
    ]


def _evidence_entries(items: Iterable[EvidenceItem]) -> list[dict[str, Any]]:
    return [
        {
            "reference": item.reference,
            "hash_algorithm": item.hash_algorithm,
            "digest": item.digest,
            "size_bytes": item.size_bytes,
            "is_context": item.is_context,
            "preserved_by": _name(item.preserved_by),
            "preserved_at": _at(item.preserved_at),
        }
        for item in items
    ]


def _heads(log: str, chains: list[int]) -> dict[int, dict[str, Any]]:
    return {
        head.chain: {"seq": head.seq, "digest": head.digest}
        for head in ChainHead.objects.filter(log=log, chain__in=chains)
    }


def _last_verification() -> dict[str, Any] | None:
    last = AuditVerification.objects.order_by("-finished_at", "-pk").first()
    if last is None:
        return None
    return {
        "finished_at": _at(last.finished_at),
        "ok": last.ok,
        "events_verified": last.events_verified,
        "access_verified": last.access_verified,
        "broken": last.broken,
        "heads_digest": last.heads_digest,
    }


def _header(kind: str, now: datetime, generated_by: User) -> dict[str, Any]:
    return {
        "kind": kind,
        "version": PACK_VERSION,
        "generated_at": _at(now),
        "generated_by": generated_by.get_username(),
        "site": settings.SITE_URL,
        "last_audit_verification": _last_verification(),
    }


def escalation_pack(esc: Escalation, *, now: datetime, generated_by: User) -> dict[str, Any]:
    """One escalation's pack, its deadlines computed by the rule versions it was judged by (as on its
    page). Seven queries whatever its length: the authorities it owes and its triage in two, the
    trail, the access log and the
    evidence items each in one, the chain heads in one, the last verification in one; the rule
    versions it was judged by in two."""
    judged = rule_selectors.escalation_rules(esc)
    events = AuditEvent.objects.filter(escalation=esc).select_related("actor").order_by("seq", "pk")
    reads = AccessLog.objects.filter(escalation=esc).select_related("user").order_by("seq", "pk")
    items = EvidenceItem.objects.filter(escalation=esc).select_related("preserved_by").order_by("preserved_at", "pk")
    audit_head = _heads(ChainLog.AUDIT, [esc.pk]).get(esc.pk)
    access_head = _heads(ChainLog.ACCESS, [esc.pk]).get(esc.pk)
    return {
        **_header("escalation", now, generated_by),
        "escalation": _record(esc),
        "deadlines": deadline_entries(esc, now, judged.cfg, judged),
        "rules_judged_by": [_judged_entry(j) for j in judged.judged],
        "authorities": authority_entries(esc, now, judged.cfg),
        "evidence_items": _evidence_entries(items),
        "audit_trail": {"chain_head": audit_head, "events": _audit_entries(events)},
        "access_log": {"chain_head": access_head, "rows": _access_entries(reads)},
    }


def period_pack(
    queryset: QuerySet[Escalation], *, start: str, end: str, include_test: bool, now: datetime, generated_by: User
) -> dict[str, Any]:
    """The compliance report's escalations, each with its deadlines (by the rules in force, with their
    basis; each escalation's own pack names the rule versions it was judged by) and outcome and the
    head of its audit chain (seq and digest): the pack proves which trail each escalation had when it was made, and each
    escalation's own pack gives that trail whole."""
    cfg = policy.PolicyConfig.from_settings()
    rows = list(queryset.select_related("assignee", "created_by", "preservation_confirmed_by").order_by("pk"))
    heads = _heads(ChainLog.AUDIT, [esc.pk for esc in rows])
    escalations = []
    counts = {"met": 0, "met late": 0, "missed": 0, "not yet due": 0, "not applicable": 0}
    for esc in rows:
        deadlines = deadline_entries(esc, now, cfg)
        for entry in deadlines:
            counts[entry["outcome"]] += 1
        escalations.append({**_record(esc), "deadlines": deadlines, "audit_chain_head": heads.get(esc.pk)})
    return {
        **_header("period", now, generated_by),
        "period": {"start": start, "end": end, "include_test": include_test},
        "summary": {"escalations": len(rows), "deadlines": counts},
        "escalations": escalations,
    }
