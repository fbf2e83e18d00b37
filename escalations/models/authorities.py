"""The authority register: what an escalation owes each authority besides NCMEC (the NCA, police in
Canada, the Canadian Centre, the AFP, others an admin configured), each as one obligation that goes
Due -> Filed -> Acknowledged, and the triage answers that decide which authorities apply.

The authorities themselves are the destinations (escalations.models.legal.Destination: name,
reference format and hint, targets, preservation rule); their code is Rule.authority, so the rules
owed to each hang off it. A filing is the destination report (its time and the authority's reference),
so preservation holds keep reading what they always read; the obligation adds the state, the deadline
(stored for the index), the rule that set it and the acknowledgement."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation
from escalations.models.legal import Destination, DestinationReport
from escalations.models.rules import Rule


class ObligationState(models.TextChoices):
    DUE = "due", "Due"
    FILED = "filed", "Filed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"


class AuthorityObligation(models.Model):
    """One escalation's duty to one authority."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="authority_obligations")
    authority = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="+")
    # The filing: its time and the authority's reference live on the destination report.
    report = models.OneToOneField(DestinationReport, on_delete=models.PROTECT, related_name="obligation")
    state = models.CharField(max_length=16, choices=ObligationState.choices, default=ObligationState.DUE)
    # Derived by policy.authorities from the rule in force at knowledge; empty when none owed a date.
    due_at = models.DateTimeField(null=True, blank=True)
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # When the sweep next looks at it (due soon, then overdue; empty once filed or reminded of both):
    # the reminders' own column, so a sweep reads only what came due (as Escalation.next_reminder_at).
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    # Whether it counts on the dashboard: its escalation is open or reported and not a test record
    # (the services keep it so when the status changes), so the figure reads this table alone.
    live = models.BooleanField(default=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["authority__name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["escalation", "authority"], name="authority_obligation_once"),
        ]
        indexes = [
            # The dashboard's "overdue by authority" and the sweep read only unfiled, dated rows.
            models.Index(
                fields=["due_at", "authority"],
                name="obligation_due_by_authority",
                condition=models.Q(state="due", due_at__isnull=False, live=True),
            ),
            models.Index(
                fields=["next_reminder_at"],
                name="obligation_next_reminder",
                condition=models.Q(next_reminder_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.escalation} owes {self.authority}: {self.get_state_display()}"


class AuthorityTriage(models.Model):
    """The answers that decide which authorities apply; empty means not answered yet."""

    escalation = models.OneToOneField(
        Escalation, on_delete=models.PROTECT, primary_key=True, related_name="authority_triage"
    )
    uk_linked = models.BooleanField("UK-linked?", null=True, blank=True)
    canada_connection = models.BooleanField("Connection to Canada?", null=True, blank=True)
    australian_end_users = models.BooleanField("Australian end-users?", null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Triage of {self.escalation}"
