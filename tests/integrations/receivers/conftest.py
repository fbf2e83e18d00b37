"""Local receivers for Slack, Microsoft Teams and PagerDuty that check each request against what the
service documents, and answer as the service does: 2xx for a request it would take, 400 naming what
is wrong otherwise. The checks are written from the services' documentation:

- PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event"): `routing_key` (32
  characters), `event_action` one of trigger, acknowledge, resolve; `dedup_key` at most 255
  characters, required for acknowledge and resolve; a trigger's `payload` needs `summary` (1 to 1,024
  characters), `source` and `severity` (critical, error, warning, info); `timestamp` ISO 8601;
  `links` items {href, text}; no other top-level keys. Answers 202 {"status": "success",
  "dedup_key": ...}, or 400 {"status": "invalid event", "errors": [...]}.
- Teams Workflows webhook ("Post to a channel when a webhook request is received"): a message
  envelope {"type": "message", "attachments": [...]}, each attachment with contentType
  "application/vnd.microsoft.card.adaptive" and an Adaptive Card as `content` (type AdaptiveCard,
  version at most 1.5, which Teams renders; elements of the schema's types, TextBlock with text,
  FactSet facts {title, value}, Action.OpenUrl with title and an http(s) url). Answers 202.
- Slack incoming webhook with Block Kit (api.slack.com/reference/block-kit): a non-empty `text`
  (the notification's fallback), at most 50 blocks; header: plain_text at most 150 characters;
  section: text object (mrkdwn or plain_text) at most 3,000; actions: at most 25 elements, buttons
  with plain_text at most 75, url at most 3,000, action_id at most 255 and unique in the message,
  style primary or danger; context: at most 10 text elements. Answers 200 "ok", or 400
  "invalid_blocks".

The counts (accepted, refused) go to the run's `integration_counter` (tests/integrations/conftest.py,
which prints CI's `integrations:` line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.message import Message as HeaderMessage
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integrations.conftest import local_receiver

# --- the services' documented shapes ---------------------------------------------------------------

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}


def pagerduty_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["the event must be a JSON object"]
    errors = [f"unknown field {key!r}" for key in event if key not in PD_TOP]
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("routing_key must be a 32-character string")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append(f"event_action must be one of {sorted(PD_ACTIONS)}")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 1 <= len(dedup) <= 255):
        errors.append("dedup_key must be 1 to 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"dedup_key is required to {action}")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "payload is required for trigger"]
        errors += [f"unknown payload field {k!r}" for k in payload if k not in PD_PAYLOAD]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
            errors.append("payload.summary must be 1 to 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("payload.source is required")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append(f"payload.severity must be one of {sorted(PD_SEVERITIES)}")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(payload["timestamp"])
            except (TypeError, ValueError):
                errors.append("payload.timestamp must be ISO 8601")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("payload.custom_details must be an object")
    for link in event.get("links", []):
        if not isinstance(link, dict) or not _http_url(link.get("href")):
            errors.append("links[].href must be a URL")
    return errors


def _http_url(value: Any) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https") and bool(urlsplit(value).netloc)


CARD_ELEMENTS = {"TextBlock", "FactSet", "Container", "ActionSet", "ColumnSet", "Column", "RichTextBlock"}
CARD_ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}


def _card_element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in CARD_ELEMENTS:
        return [f"{where}: unknown element type {element.get('type') if isinstance(element, dict) else element!r}"]
    kind = element["type"]
    errors: list[str] = []
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        errors.append(f"{where}: TextBlock needs text")
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not facts:
            errors.append(f"{where}: FactSet needs facts")
        else:
            for fact in facts:
                if not (
                    isinstance(fact, dict) and isinstance(fact.get("title"), str) and isinstance(fact.get("value"), str)
                ):
                    errors.append(f"{where}: each fact needs title and value strings")
    if kind == "Container":
        for i, child in enumerate(element.get("items", [])):
            errors += _card_element_errors(child, f"{where}.items[{i}]")
    if kind == "ActionSet":
        errors += _card_actions_errors(element.get("actions"), f"{where}.actions")
    return errors


def _card_actions_errors(actions: Any, where: str) -> list[str]:
    if not isinstance(actions, list):
        return [f"{where} must be a list"]
    errors = []
    for i, action in enumerate(actions):
        if not isinstance(action, dict) or action.get("type") not in CARD_ACTIONS:
            errors.append(f"{where}[{i}]: unknown action")
        elif action["type"] == "Action.OpenUrl" and not _http_url(action.get("url")):
            errors.append(f"{where}[{i}]: Action.OpenUrl needs an http(s) url")
        elif not isinstance(action.get("title"), str):
            errors.append(f"{where}[{i}]: an action needs a title")
    return errors


def teams_errors(message: Any) -> list[str]:
    if not isinstance(message, dict) or message.get("type") != "message":
        return ['the body must be {"type": "message", "attachments": [...]}']
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments must hold at least one card"]
    errors = []
    for n, attachment in enumerate(attachments):
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            errors.append(f"attachments[{n}].contentType must be application/vnd.microsoft.card.adaptive")
            continue
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            errors.append(f"attachments[{n}].content must be an AdaptiveCard")
            continue
        try:
            major, minor = (int(p) for p in str(card.get("version")).split("."))
        except ValueError:
            errors.append("the card needs a version")
        else:
            if (major, minor) > (1, 5) or major < 1:
                errors.append(f"card version {card.get('version')} is beyond what Teams renders (1.5)")
        body = card.get("body")
        if not isinstance(body, list) or not body:
            errors.append("the card needs a body")
        else:
            for i, element in enumerate(body):
                errors += _card_element_errors(element, f"body[{i}]")
        if "actions" in card:
            errors += _card_actions_errors(card["actions"], "actions")
    return errors


def _text_object_errors(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    kinds = {"plain_text"} if plain_only else {"plain_text", "mrkdwn"}
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"{where}: a text object of type {sorted(kinds)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        return [f"{where}: text of 1 to {limit} characters"]
    return []


def slack_errors(message: Any) -> list[str]:
    if not isinstance(message, dict):
        return ["the body must be a JSON object"]
    errors = []
    if not isinstance(message.get("text"), str) or not message["text"]:
        errors.append("text is required (the notification's fallback)")
    blocks = message.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return [*errors, "blocks: a list of at most 50"]
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"blocks[{i}]"
        if kind == "header":
            errors += _text_object_errors(block.get("text"), where, 150, plain_only=True)
        elif kind == "section":
            errors += _text_object_errors(block.get("text"), where, 3000)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(f"{where}: 1 to 10 elements")
            else:
                for element in elements:
                    errors += _text_object_errors(element, where, 3000)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                errors.append(f"{where}: 1 to 25 elements")
                continue
            for button in elements:
                if button.get("type") != "button":
                    errors.append(f"{where}: only buttons are expected here")
                    continue
                errors += _text_object_errors(button.get("text"), where, 75, plain_only=True)
                url = button.get("url")
                if url is not None and (not _http_url(url) or len(url) > 3000):
                    errors.append(f"{where}: a button's url is an http(s) URL of at most 3000 characters")
                action_id = button.get("action_id", "")
                if not isinstance(action_id, str) or len(action_id) > 255 or action_id in action_ids:
                    errors.append(f"{where}: action_id at most 255 characters and unique in the message")
                action_ids.add(action_id)
                if button.get("style") not in (None, "primary", "danger"):
                    errors.append(f"{where}: style is primary or danger")
        elif kind != "divider":
            errors.append(f"{where}: unexpected block type {kind!r}")
    return errors


# --- the receivers -----------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "pagerduty": pagerduty_errors,
    "teams": teams_errors,
    "slack": slack_errors,
}


class ServiceReceiver:
    """A receiver for one service: every request is kept, checked and answered as the service
    would; `fail_next` makes the next answers 500 (an outage), counted as refused."""

    def __init__(self, service: str, counter: Any) -> None:
        self.service = service
        self.counter = counter
        self.url = ""
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[tuple[dict[str, Any] | None, list[str]]] = []
        self.fail_next = 0

    def answer(self, path: str, headers: HeaderMessage, body: bytes) -> tuple[int, bytes]:
        if self.fail_next:
            self.fail_next -= 1
            self.refused.append((None, ["outage"]))
            self.counter.refused(self.service)
            return 500, b'{"status": "unavailable"}'
        try:
            data = json.loads(body)
        except ValueError:
            data, errors = None, ["not JSON"]
        else:
            errors = CHECKS[self.service](data)
        if headers.get("Content-Type") != "application/json":
            errors.append("Content-Type must be application/json")
        if errors:
            self.refused.append((data, errors))
            self.counter.refused(self.service)
            return 400, json.dumps({"status": "invalid event", "errors": errors}).encode()
        self.accepted.append(data)
        self.counter.accepted(self.service)
        if self.service == "pagerduty":
            reply = {"status": "success", "message": "Event processed", "dedup_key": data.get("dedup_key", "")}
            return 202, json.dumps(reply).encode()
        if self.service == "slack":
            return 200, b"ok"
        return 202, b""


@contextmanager
def _serve(answer: Callable[[str, HeaderMessage, bytes], tuple[int, bytes]]) -> Iterator[str]:
    with local_receiver(answer) as state:
        yield state.url


def _receiver(service: str, counter: Any) -> Iterator[ServiceReceiver]:
    receiver = ServiceReceiver(service, counter)
    with _serve(receiver.answer) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def pagerduty(integration_counter: Any, settings: Any) -> Iterator[ServiceReceiver]:
    for receiver in _receiver("pagerduty", integration_counter):
        settings.PAGERDUTY_EVENTS_URL = receiver.url + "/v2/enqueue"
        yield receiver


@pytest.fixture
def teams_hook(integration_counter: Any) -> Iterator[ServiceReceiver]:
    yield from _receiver("teams", integration_counter)


@pytest.fixture
def slack_hook(integration_counter: Any) -> Iterator[ServiceReceiver]:
    yield from _receiver("slack", integration_counter)
