"""A reminder as a Slack message: Block Kit blocks (a header, and per reminder a section with the key,
the deadline and the time left, and Open and Acknowledge link buttons), keeping the plain `text`
that Slack shows in notifications and that clients without blocks read. Posted to a Slack incoming
webhook (https://hooks.slack.com/services/...), which answers 200 "ok".

Block Kit's limits are kept: a header's text at most 150 characters, a section's at most 3,000, a
button's label 75 and its URL 3,000, at most 50 blocks (a digest shows its first MAX_ITEMS reminders
and says how many more there are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from escalations import policy
from escalations.reminders.channels import Item, Message, moment_in

MAX_ITEMS = 15


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(message: Message, now: datetime) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message.subject, 150), "emoji": False}}
    ]
    if message.test:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.text}})
    elif message.test_note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": message.test_note}]})
    for index, item in enumerate(message.items[:MAX_ITEMS]):
        blocks.extend(_item_blocks(index, item, message, now))
    hidden = len(message.items) - MAX_ITEMS
    if hidden > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {hidden} more reminders."}]})
    return {"text": _cut(message.text, 3000), "blocks": blocks}


def _item_blocks(index: int, item: Item, message: Message, now: datetime) -> list[dict[str, Any]]:
    left = policy.humanize_delta(policy.time_left(item.deadline_at, now))
    marks = " ".join(f"*{mark}*" for mark in item.marks.split())
    text = (
        f"{marks + ' ' if marks else ''}*{item.key}*: {item.kind_label}\n"
        f"Deadline: {moment_in(item.deadline_at, message.zone)}\nTime left: {left}"
    )
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": f"Open {item.key}"[:75]},
            "url": item.url,
            "action_id": f"open-{index}",
        }
    ]
    ack = item.ack_url("slack")
    if ack is not None:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": ack,
                "action_id": f"acknowledge-{index}",
                "style": "primary",
            }
        )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}},
        {"type": "actions", "elements": buttons},
    ]
