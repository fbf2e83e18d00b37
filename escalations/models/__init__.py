"""Django reads the app's models from here; each concern lives in its own module beside this one:
escalation: the escalation record, its choices and its key.
audit: the audit trail.
people: people's profiles and teams.
identity: people's identities at the company's identity provider.
reminders: reminders, deliveries and notifications.
saved_views: saved list filters.
service_tokens: API tokens and idempotency.
scim: SCIM provisioning tokens and the accounts an identity provider manages.
access_log: the access log.
legal: law-enforcement requests, extensions, evidence items and destinations.
event_stream: outbound events, their endpoints, deliveries and attempts.
audit_chain: the chains' heads, integrity checks and redaction requests.
coop: Coop's verification keys and the report IDs it sent (its preservation endpoint).
rules: the law as dated, cited, versioned rule rows, and the versions each escalation was judged by.
authorities: the authority register (each escalation's obligations to each authority) and its triage.
ncmec_report: NCMEC's report annotations (one row each, for the filters) and submission states."""

from escalations.models.access_log import (
    AccessKind,
    AccessLog,
    AppendOnlyQuerySet,
)
from escalations.models.audit import (
    AuditAction,
    AuditEvent,
    AuditEventQuerySet,
)
from escalations.models.audit_chain import (
    REDACTION_KEY_PREFIX,
    AuditBreakAcknowledgement,
    AuditVerification,
    ChainHead,
    ChainLog,
    RedactionRequest,
)
from escalations.models.authorities import (
    AuthorityObligation,
    AuthorityTriage,
    ObligationState,
)
from escalations.models.coop import (
    CoopPublicKey,
    CoopReceipt,
)
from escalations.models.escalation import (
    ACTIVE_STATUSES,
    KEY_PREFIX,
    BreachReason,
    Escalation,
    IncidentType,
    Priority,
    Status,
    format_key,
)
from escalations.models.event_stream import (
    Event,
    EventDelivery,
    EventDeliveryAttempt,
    EventEndpoint,
    EventType,
)
from escalations.models.identity import ProviderIdentity
from escalations.models.legal import (
    PRESERVATION_KINDS,
    Destination,
    DestinationReport,
    EvidenceItem,
    HashAlgorithm,
    LegalRequest,
    LegalRequestKind,
    LegalRequestStatus,
    PreservationExtension,
    PreservationRuleKind,
)
from escalations.models.ncmec_report import (
    NCMEC_ELEMENTS,
    EscalationAnnotation,
    ReportAnnotation,
    SubmissionState,
)
from escalations.models.people import (
    Team,
    UserProfile,
    time_zone_choices,
)
from escalations.models.reminders import (
    ENDPOINT_CHANNELS,
    Acknowledgement,
    Channel,
    ChannelEndpoint,
    Delivery,
    DeliveryAction,
    DeliveryAttempt,
    Notification,
    PagerDutyIncident,
    Reminder,
    SweepHeartbeat,
)
from escalations.models.rules import (
    Certainty,
    ClockStart,
    EscalationRule,
    Limit,
    Obligation,
    Regime,
    Rule,
    RuleStatus,
    Unit,
)
from escalations.models.saved_views import (
    SavedView,
)
from escalations.models.scim import (
    ScimGroupIdentity,
    ScimIdentity,
    ScimToken,
)
from escalations.models.service_tokens import (
    IdempotencyRecord,
    ServiceToken,
    TokenScope,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ENDPOINT_CHANNELS",
    "KEY_PREFIX",
    "NCMEC_ELEMENTS",
    "PRESERVATION_KINDS",
    "REDACTION_KEY_PREFIX",
    "AccessKind",
    "AccessLog",
    "Acknowledgement",
    "AppendOnlyQuerySet",
    "AuditAction",
    "AuditBreakAcknowledgement",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditVerification",
    "AuthorityObligation",
    "AuthorityTriage",
    "BreachReason",
    "Certainty",
    "ChainHead",
    "ChainLog",
    "Channel",
    "ChannelEndpoint",
    "ClockStart",
    "CoopPublicKey",
    "CoopReceipt",
    "Delivery",
    "DeliveryAction",
    "DeliveryAttempt",
    "Destination",
    "DestinationReport",
    "Escalation",
    "EscalationAnnotation",
    "EscalationRule",
    "Event",
    "EventDelivery",
    "EventDeliveryAttempt",
    "EventEndpoint",
    "EventType",
    "EvidenceItem",
    "HashAlgorithm",
    "IdempotencyRecord",
    "IncidentType",
    "LegalRequest",
    "LegalRequestKind",
    "LegalRequestStatus",
    "Limit",
    "Notification",
    "Obligation",
    "ObligationState",
    "PagerDutyIncident",
    "PreservationExtension",
    "PreservationRuleKind",
    "Priority",
    "ProviderIdentity",
    "RedactionRequest",
    "Regime",
    "Reminder",
    "ReportAnnotation",
    "Rule",
    "RuleStatus",
    "SavedView",
    "ScimGroupIdentity",
    "ScimIdentity",
    "ScimToken",
    "ServiceToken",
    "Status",
    "SubmissionState",
    "SweepHeartbeat",
    "Team",
    "TokenScope",
    "Unit",
    "UserProfile",
    "format_key",
    "time_zone_choices",
]
