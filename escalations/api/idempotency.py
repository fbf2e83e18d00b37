"""Idempotency-Key on creates: a repeated request gets the first answer; the same key with another
body is a conflict (409). Only successful answers are kept, so a client may fix a refused request
and send it again under the same key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.core import validation
from escalations.models import IdempotencyRecord, ServiceToken

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
# A create takes well under a second; a claim this old belongs to a request that died.
PENDING_TIMEOUT = timedelta(minutes=5)


def _owner(request: Request) -> str:
    if isinstance(request.auth, ServiceToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"


def request_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _abandoned(record: IdempotencyRecord) -> bool:
    """A claim whose request never finished (its process died between claim and answer) must not
    hold the key forever: "retry shortly" would then never come true. Past PENDING_TIMEOUT, one
    retry takes it over (the conditional delete lets only one of several do so)."""
    cutoff = timezone.now() - PENDING_TIMEOUT
    if record.created_at > cutoff:
        return False
    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True, created_at__lte=cutoff).delete()
    return True


def run_once(request: Request, create: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return create()
    if len(key) > MAX_KEY_LENGTH:
        return Response({HEADER: [f"At most {MAX_KEY_LENGTH} characters."]}, status=status.HTTP_400_BAD_REQUEST)
    try:
        validation.refuse_file_content(key, HEADER, advice="Use a short ID of your own for the request.")
    except ValidationError as exc:
        return Response({HEADER: exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    owner, digest = _owner(request), request_hash(request.data)
    record = None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=digest)
            break
        except IntegrityError:
            first = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if first is None:
                continue  # its request was refused and let the key go a moment ago: take it
            if first.request_hash != digest:
                return Response(
                    {"detail": f"This {HEADER} was used with a different request body; use a new key."},
                    status=status.HTTP_409_CONFLICT,
                )
            if first.status_code is None and _abandoned(first):
                continue
            if first.status_code is None:
                break
            replay = Response(first.response_body, status=first.status_code)
            replay["Idempotent-Replayed"] = "true"
            return replay
    if record is None:
        return Response(
            {"detail": f"A request with this {HEADER} is still being processed; retry shortly."},
            status=status.HTTP_409_CONFLICT,
        )
    try:
        response = create()
    except Exception:
        record.delete()
        raise
    if 200 <= response.status_code < 300:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code, response_body=json.loads(json.dumps(response.data, default=str))
        )
    else:
        record.delete()
    return response
