"""Redaction events on the escalation's timeline."""

from __future__ import annotations

from typing import Any

from django import template

from escalations.core import redaction_text

register = template.Library()


@register.filter
def is_redaction(event: Any) -> bool:
    return getattr(event, "action", "") in redaction_text.ACTIONS


@register.simple_tag
def redaction_summary(event: Any) -> str:
    return redaction_text.describe(event.action, event.changes)
