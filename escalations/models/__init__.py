"""Django reads the app's models from here; each concern lives in its own module beside this one:
escalation: the escalation record, its choices and its key.
audit: the audit trail.
people: people's profiles and teams.
reminders: reminders, deliveries and notifications.
saved_views: saved list filters.
service_tokens: API tokens and idempotency.
scim: SCIM provisioning tokens and the accounts an identity provider manages.
access_log: the access log.
legal: law-enforcement requests, extensions, evidence items and destinations.
audit_chain: the chains' heads, integrity checks and redaction requests."""

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
from escalations.models.people import (
    Team,
    UserProfile,
    time_zone_choices,
)
from escalations.models.reminders import (
    Channel,
    Delivery,
    DeliveryAttempt,
    Notification,
    Reminder,
    SweepHeartbeat,
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
    "KEY_PREFIX",
    "PRESERVATION_KINDS",
    "REDACTION_KEY_PREFIX",
    "AccessKind",
    "AccessLog",
    "AppendOnlyQuerySet",
    "AuditAction",
    "AuditBreakAcknowledgement",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditVerification",
    "BreachReason",
    "ChainHead",
    "ChainLog",
    "Channel",
    "Delivery",
    "DeliveryAttempt",
    "Destination",
    "DestinationReport",
    "Escalation",
    "EvidenceItem",
    "HashAlgorithm",
    "IdempotencyRecord",
    "IncidentType",
    "LegalRequest",
    "LegalRequestKind",
    "LegalRequestStatus",
    "Notification",
    "PreservationExtension",
    "PreservationRuleKind",
    "Priority",
    "RedactionRequest",
    "Reminder",
    "SavedView",
    "ScimGroupIdentity",
    "ScimIdentity",
    "ScimToken",
    "ServiceToken",
    "Status",
    "SweepHeartbeat",
    "Team",
    "TokenScope",
    "UserProfile",
    "format_key",
    "time_zone_choices",
]
