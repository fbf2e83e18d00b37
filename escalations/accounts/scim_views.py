"""SCIM 2.0 (RFC 7643, 7644) at /scim/v2/, for Okta and Entra ID: Users and Groups (what they mean
here: escalations.accounts.scim_provisioning), and the discovery endpoints (ServiceProviderConfig,
ResourceTypes, Schemas, whose documents come from django-scim2's copies of the RFC schemas, cut to
the attributes we keep).

Every request needs `Authorization: Bearer <SCIM token>` (escalations.accounts.scim_tokens); without
a live one the answer is 401 in SCIM's error format, and the refusal is a security event. These views
have no session and no cookie, so CSRF does not apply (csrf_exempt, only here); every other
middleware runs as for any page (security headers included). A body that is not a JSON object, a
filter or an attribute we do not support, and a value we refuse are answered 400 with a scimType
and a detail that names the attribute, never a 500."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django_scim import constants
from django_scim.exceptions import SCIMException
from django_scim.schemas import ALL as LIBRARY_SCHEMAS

from escalations.accounts import scim_provisioning as prov
from escalations.accounts import scim_tokens
from escalations.compliance.access_log import client_ip
from escalations.core.people import User
from escalations.core.write_frame import acting_via
from escalations.models import ScimToken

SCIM_CONTENT_TYPE = constants.SCIM_CONTENT_TYPE
BASE_PATH = "/scim/v2"
DEFAULT_COUNT = 100
MAX_COUNT = 200
# A SCIM body is a few kilobytes; a bigger one is not a provider's.
MAX_BODY_BYTES = 1_000_000


# --- Discovery documents ---------------------------------------------------------------------------

_USER_ATTRIBUTES: dict[str, tuple[str, ...] | None] = {
    "userName": None,
    "name": ("givenName", "familyName"),
    "displayName": None,
    "active": None,
    "emails": ("value", "type", "primary"),
    "groups": ("value", "$ref", "display", "type"),
}
_GROUP_ATTRIBUTES: dict[str, tuple[str, ...] | None] = {"displayName": None, "members": ("value", "$ref", "type")}
# What we compute rather than keep: a provider's value for these is ignored.
_READ_ONLY = {("displayName", "User")}


def _cut(schema_id: str, kind: str, keep: dict[str, tuple[str, ...] | None]) -> dict[str, Any]:
    source = next(s for s in LIBRARY_SCHEMAS if s["id"] == schema_id)
    schema = copy.deepcopy(source)
    attributes = []
    for attribute in schema["attributes"]:
        if attribute["name"] not in keep:
            continue
        subs = keep[attribute["name"]]
        if subs is not None:
            attribute["subAttributes"] = [s for s in attribute.get("subAttributes", []) if s["name"] in subs]
            for sub in attribute["subAttributes"]:
                if (f"{attribute['name']}.{sub['name']}", kind) in _READ_ONLY:
                    sub["mutability"] = "readOnly"
        if (attribute["name"], kind) in _READ_ONLY:
            attribute["mutability"] = "readOnly"
        if attribute["name"] in ("userName", "displayName") and kind == attribute_owner(attribute["name"]):
            attribute["required"] = True
        if attribute["name"] == "userName":
            attribute["uniqueness"] = "server"
        if attribute["name"] == "members":
            # Members are people only (no nested groups).
            for sub in attribute["subAttributes"]:
                if sub["name"] == "$ref":
                    sub["referenceTypes"] = ["User"]
                if sub["name"] == "type":
                    sub["canonicalValues"] = ["User"]
        attributes.append(attribute)
    schema["attributes"] = attributes
    return schema


def attribute_owner(name: str) -> str:
    return "User" if name == "userName" else "Group"


def _schemas(request: HttpRequest) -> list[dict[str, Any]]:
    result = []
    for schema in (
        _cut(constants.SchemaURI.USER, "User", _USER_ATTRIBUTES),
        _cut(constants.SchemaURI.GROUP, "Group", _GROUP_ATTRIBUTES),
    ):
        schema["schemas"] = ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        schema["meta"] = {"resourceType": "Schema", "location": _url(request, f"/Schemas/{schema['id']}")}
        result.append(schema)
    return result


def _resource_types(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [constants.SchemaURI.RESOURCE_TYPE],
            "id": name,
            "name": name,
            "endpoint": f"/{name}s",
            "description": description,
            "schema": schema,
            "meta": {"resourceType": "ResourceType", "location": _url(request, f"/ResourceTypes/{name}")},
        }
        for name, description, schema in (
            ("User", "A person's account", constants.SchemaURI.USER),
            ("Group", "A role group (moderator, lead, auditor) or a team", constants.SchemaURI.GROUP),
        )
    ]


def _service_provider_config(request: HttpRequest) -> dict[str, Any]:
    return {
        "schemas": [constants.SchemaURI.SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://github.com/",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token an admin creates (admin, or manage.py createscimtoken).",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": _url(request, "/ServiceProviderConfig")},
    }


# --- Resources -------------------------------------------------------------------------------------


def _url(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(BASE_PATH + path)


def user_resource(request: HttpRequest, user: User) -> dict[str, Any]:
    fields = prov.fields_of(user)
    identity = prov.identity_of(user)
    full_name = f"{user.first_name} {user.last_name}".strip()
    groups = [
        {"value": prov.ROLE_PREFIX + g.name, "display": g.name, "$ref": _url(request, f"/Groups/role-{g.name}"),
         "type": "direct"}
        for g in user.groups.all() if g.name in prov.ROLES
    ] + [
        {"value": f"{prov.TEAM_PREFIX}{t.pk}", "display": t.name, "$ref": _url(request, f"/Groups/team-{t.pk}"),
         "type": "direct"}
        for t in user.teams.all()
    ]  # fmt: skip
    name = {
        key: value for key, value in (("givenName", fields.given_name), ("familyName", fields.family_name)) if value
    }
    doc: dict[str, Any] = {
        "schemas": [constants.SchemaURI.USER],
        "id": str(user.pk),
        "userName": fields.user_name,
        "displayName": full_name or user.username,
        "active": fields.active,
        "emails": [
            {"value": value, **({"type": kind} if kind else {}), "primary": primary}
            for value, kind, primary in fields.emails
        ],
        "groups": groups,
        "meta": {
            "resourceType": "User",
            "created": user.date_joined.isoformat(),
            "lastModified": (identity.updated_at if identity else user.date_joined).isoformat(),
            "location": _url(request, f"/Users/{user.pk}"),
        },
    }
    if name:
        doc["name"] = name
    if fields.external_id:
        doc["externalId"] = fields.external_id
    return doc


def group_resource(request: HttpRequest, ref: prov.GroupRef) -> dict[str, Any]:
    members = [
        {"value": str(pk), "$ref": _url(request, f"/Users/{pk}"), "type": "User"}
        for pk in ref.members().values_list("pk", flat=True)
    ]
    doc = {
        "schemas": [constants.SchemaURI.GROUP],
        "id": ref.resource_id,
        "displayName": ref.name,
        "members": members,
        "meta": {"resourceType": "Group", "location": _url(request, f"/Groups/{ref.resource_id}")},
    }
    external_id = prov.group_external_id(ref)
    if external_id:
        doc["externalId"] = external_id
    return doc


# --- Responses -------------------------------------------------------------------------------------


def scim_response(doc: Any, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(doc), content_type=SCIM_CONTENT_TYPE, status=status)
    if location:
        response["Location"] = location
    return response


def error_response(exc: SCIMException) -> HttpResponse:
    doc = exc.to_dict()
    doc["status"] = str(exc.status)  # RFC 7644 3.12 writes it as a string
    response = scim_response(doc, status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def _project(doc: dict[str, Any], request: HttpRequest, search: dict[str, Any] | None = None) -> dict[str, Any]:
    """`attributes` / `excludedAttributes` (query or search body): top-level names, or a parent's
    sub-attribute as "name.givenName"; id and schemas are always returned."""
    source = search or {}
    attributes = source.get("attributes") or request.GET.get("attributes")
    excluded = source.get("excludedAttributes") or request.GET.get("excludedAttributes")

    def names(value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
        result = []
        for item in items:
            name = str(item).strip()
            for urn in (constants.SchemaURI.USER, constants.SchemaURI.GROUP):
                if name.lower().startswith(urn.lower() + ":"):
                    name = name[len(urn) + 1 :]
            if name:
                result.append(name)
        return result

    lower = {key.lower(): key for key in doc}
    if attributes:
        kept: dict[str, Any] = {"schemas": doc["schemas"], "id": doc["id"]}
        for name in names(attributes):
            top, _, sub = name.partition(".")
            key = lower.get(top.lower())
            if key is None:
                continue
            if sub and isinstance(doc[key], dict):
                subs = {k.lower(): k for k in doc[key]}
                if sub.lower() in subs:
                    kept.setdefault(key, {})[subs[sub.lower()]] = doc[key][subs[sub.lower()]]
            else:
                kept[key] = doc[key]
        return kept
    if excluded:
        result = dict(doc)
        for name in names(excluded):
            top, _, sub = name.partition(".")
            key = lower.get(top.lower())
            if key is None or key in ("id", "schemas"):
                continue
            if sub and isinstance(result.get(key), dict):
                result[key] = {k: v for k, v in result[key].items() if k.lower() != sub.lower()}
            else:
                result.pop(key, None)
        return result
    return doc


def _page(request: HttpRequest, search: dict[str, Any] | None = None) -> tuple[int, int]:
    source = search if search is not None else request.GET

    def number(name: str, default: int) -> int:
        raw = source.get(name, default)
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise prov.error(f"{name} must be a whole number, not {str(raw)[:20]!r}.") from None

    start = max(number("startIndex", 1), 1)
    count = min(max(number("count", DEFAULT_COUNT), 0), MAX_COUNT)
    return start, count


def list_response(request: HttpRequest, docs: list[dict[str, Any]], total: int, start: int) -> HttpResponse:
    return scim_response(
        {
            "schemas": [constants.SchemaURI.LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": len(docs),
            "startIndex": start,
            "Resources": docs,
        }
    )


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise prov.error("The body is too large for a SCIM request.", "tooMany", 413)
    try:
        body = json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise prov.error(f"The body is not valid JSON ({exc.__class__.__name__}).", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise prov.error("The body must be a JSON object.", "invalidSyntax")
    return body


# --- Views -----------------------------------------------------------------------------------------


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class ScimView(View):
    """Authenticates the bearer token, runs the handler under `via = scim:<token>`, and answers every
    refusal in SCIM's error format."""

    http_method_names = ["get", "post", "put", "patch", "delete"]
    token: ScimToken

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        authorization = request.headers.get("Authorization", "")
        token = scim_tokens.authenticate(authorization)
        if token is None:
            scim_tokens.record_refused(authorization=authorization, path=request.path, ip=client_ip(request))
            return error_response(SCIMException("A valid SCIM bearer token is required.", status=401))
        self.token = token
        handler: Callable[..., HttpResponse] | None = getattr(self, request.method.lower(), None)  # type: ignore[union-attr]
        if request.method.lower() not in self.http_method_names or handler is None:  # type: ignore[union-attr]
            return error_response(SCIMException(f"{request.method} is not allowed here.", status=405))
        try:
            with acting_via(f"scim:{token.name}"):
                return handler(request, *args, **kwargs)
        except SCIMException as exc:
            return error_response(exc)
        except IntegrityError:
            # Two requests raced for one name: the loser is told, as for any clash.
            return error_response(prov.error("That value is already taken.", "uniqueness", 409))


class NotImplementedView(ScimView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise SCIMException("Not supported by this service provider.", status=501)

    post = put = patch = delete = get


class NotFoundView(ScimView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise SCIMException(f"No SCIM endpoint at {request.path[:100]}.", status=404)

    post = put = patch = delete = get


class ServiceProviderConfigView(ScimView):
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return scim_response(_service_provider_config(request))


class ResourceTypesView(ScimView):
    http_method_names = ["get"]

    def get(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        types = _resource_types(request)
        if resource_id is None:
            return list_response(request, types, len(types), 1)
        found = next((t for t in types if t["id"] == resource_id), None)
        if found is None:
            raise prov.not_found("ResourceType", resource_id)
        return scim_response(found)


class SchemasView(ScimView):
    http_method_names = ["get"]

    def get(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        schemas = _schemas(request)
        if resource_id is None:
            return list_response(request, schemas, len(schemas), 1)
        found = next((s for s in schemas if s["id"] == resource_id), None)
        if found is None:
            raise prov.not_found("Schema", resource_id)
        return scim_response(found)


class UsersView(ScimView):
    def get(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        if resource_id is not None:
            return scim_response(_project(user_resource(request, prov.user_by_id(resource_id)), request))
        return self.listing(request, request.GET.get("filter"), None)

    def listing(self, request: HttpRequest, filter_text: Any, search: dict[str, Any] | None) -> HttpResponse:
        start, count = _page(request, search)
        qs = prov.users()
        if filter_text:
            if not isinstance(filter_text, str):
                raise prov.error("filter must be a string.", "invalidFilter")
            qs = prov.filter_users(qs, prov.parse_filter(filter_text))
        qs = qs.order_by("pk")
        total = qs.count()
        page = qs.prefetch_related("groups", "teams")[start - 1 : start - 1 + count] if count else []
        docs = [_project(user_resource(request, user), request, search) for user in page]
        return list_response(request, docs, total, start)

    def post(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        if resource_id == ".search":
            return self.search(request)
        if resource_id is not None:
            raise SCIMException("POST a new User to /Users.", status=405)
        fields = prov.user_fields_from_resource(_body(request))
        user = prov.provision_user(self.token, fields)
        doc = user_resource(request, user)
        return scim_response(doc, 201, doc["meta"]["location"])

    def search(self, request: HttpRequest) -> HttpResponse:
        body = _body(request)
        return self.listing(request, body.get("filter"), body)

    def put(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        user = prov.user_by_id(resource_id or "")
        fields = prov.user_fields_from_resource(_body(request), prov.fields_of(user))
        user = prov.update_user(self.token, user, fields)
        return scim_response(user_resource(request, user))

    def patch(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        user = prov.user_by_id(resource_id or "")
        body = _body(request)
        fields = prov.patch_user_fields(prov.fields_of(user), body.get("Operations"))
        user = prov.update_user(self.token, user, fields)
        return scim_response(user_resource(request, prov.user_by_id(str(user.pk))))

    def delete(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        prov.delete_user(self.token, prov.user_by_id(resource_id or ""))
        return HttpResponse(status=204)


class GroupsView(ScimView):
    def get(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        if resource_id is not None:
            return scim_response(_project(group_resource(request, prov.group_by_id(resource_id)), request))
        return self.listing(request, request.GET.get("filter"), None)

    def listing(self, request: HttpRequest, filter_text: Any, search: dict[str, Any] | None) -> HttpResponse:
        start, count = _page(request, search)
        refs = prov.all_groups()
        if filter_text:
            if not isinstance(filter_text, str):
                raise prov.error("filter must be a string.", "invalidFilter")
            refs = prov.filter_groups(refs, prov.parse_filter(filter_text))
        page = refs[start - 1 : start - 1 + count]
        docs = [_project(group_resource(request, ref), request, search) for ref in page]
        return list_response(request, docs, len(refs), start)

    def post(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        if resource_id == ".search":
            body = _body(request)
            return self.listing(request, body.get("filter"), body)
        if resource_id is not None:
            raise SCIMException("POST a new Group to /Groups.", status=405)
        ref = prov.create_group(self.token, _body(request))
        doc = group_resource(request, ref)
        return scim_response(doc, 201, doc["meta"]["location"])

    def put(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        ref = prov.replace_group(self.token, prov.group_by_id(resource_id or ""), _body(request))
        return scim_response(group_resource(request, ref))

    def patch(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        body = _body(request)
        ref = prov.patch_group(self.token, prov.group_by_id(resource_id or ""), body.get("Operations"))
        return scim_response(group_resource(request, ref))

    def delete(self, request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
        prov.delete_group(self.token, prov.group_by_id(resource_id or ""))
        return HttpResponse(status=204)
