"""A reminder as a Microsoft Teams message, posted to a Teams Workflows webhook (the "Post to a
channel when a webhook request is received" template; the old Office 365 connectors are retired).
Workflows expects a message envelope whose attachment is an Adaptive Card:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
      "contentUrl": null, "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}

The card shows per reminder the key, what is due, the deadline and the time left, with an Open
button (Action.OpenUrl) and an Acknowledge button (the signed link). Version 1.4: what Teams renders
in channels. A Workflows webhook answers 202 Accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from escalations import policy
from escalations.reminders.channels import Item, Message, moment_in

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
MAX_ITEMS = 15


def payload(message: Message, now: datetime) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    if message.test:
        body.append({"type": "TextBlock", "text": message.text, "wrap": True})
    elif message.test_note:
        body.append({"type": "TextBlock", "text": message.test_note, "wrap": True, "color": "Warning"})
    for item in message.items[:MAX_ITEMS]:
        body.append(_item_container(item, message, now))
    hidden = len(message.items) - MAX_ITEMS
    if hidden > 0:
        body.append({"type": "TextBlock", "text": f"…and {hidden} more reminders.", "wrap": True})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        # Plain text for screen readers and notifications.
        "fallbackText": message.text[:3000],
    }
    if len(message.items) == 1:
        card["actions"] = _actions(message.items[0])
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _actions(item: Item) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = [{"type": "Action.OpenUrl", "title": f"Open {item.key}", "url": item.url}]
    ack = item.ack_url("teams")
    if ack is not None:
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack})
    return actions


def _item_container(item: Item, message: Message, now: datetime) -> dict[str, Any]:
    left = policy.humanize_delta(policy.time_left(item.deadline_at, now))
    items: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{item.marks}{item.key}: {item.kind_label}",
            "weight": "Bolder",
            "wrap": True,
            "color": "Attention" if item.urgent else "Default",
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": "Escalation", "value": item.key},
                {"title": "Deadline", "value": moment_in(item.deadline_at, message.zone)},
                {"title": "Time left", "value": left},
            ],
        },
    ]
    if len(message.items) > 1:
        items.append({"type": "ActionSet", "actions": _actions(item)})
    return {"type": "Container", "separator": True, "items": items}
