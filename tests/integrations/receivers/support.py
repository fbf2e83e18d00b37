"""What the receiver tests share: a team with channels, and reading what a receiver got."""

from __future__ import annotations

from typing import Any

from escalations.models import ChannelEndpoint, Team
from escalations.reminders import channel_endpoints

ROUTING_KEY = "R0ut1ngKeyOfTheNightShift0000001"  # 32 letters and digits, as PagerDuty's are


def team_with(member: Any, *, by: Any, **targets: str) -> Team:
    """A team holding `member`, with a channel per keyword (slack=URL, teams=URL, pagerduty=key)."""
    team = Team.objects.create(name="Night shift")
    team.members.add(member)
    for kind, target in targets.items():
        channel_endpoints.add_endpoint(actor=by, kind=kind, target=target, team=team)
    return team


def own_channel(person: Any, kind: str, target: str) -> ChannelEndpoint:
    return channel_endpoints.add_endpoint(actor=person, kind=kind, target=target)
