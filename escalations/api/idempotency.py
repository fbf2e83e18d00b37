"""Idempotency-Key on creates: a repeated request gets the first answer; the same key with another
body is a conflict (409). Only successful answers are kept, so a client may fix a refused request
and send it again under the same key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.models import IdempotencyRecord, ServiceToken

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _owner(request: Request) -> str:
    if isinstance(request.auth, ServiceToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def run_once(request: Request, create: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return create()
    if len(key) > MAX_KEY_LENGTH:
        return Response({HEADER: [f"At most {MAX_KEY_LENGTH} characters."]}, status=status.HTTP_400_BAD_REQUEST)
    owner, digest = _owner(request), _hash(request.data)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=digest)
    except IntegrityError:
        first = IdempotencyRecord.objects.get(owner=owner, key=key)
        if first.request_hash != digest:
            return Response(
                {"detail": f"This {HEADER} was used with a different request body; use a new key."},
                status=status.HTTP_409_CONFLICT,
            )
        if first.status_code is None:
            return Response(
                {"detail": f"A request with this {HEADER} is still being processed; retry shortly."},
                status=status.HTTP_409_CONFLICT,
            )
        replay = Response(first.response_body, status=first.status_code)
        replay["Idempotent-Replayed"] = "true"
        return replay
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
