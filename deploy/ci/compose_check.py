"""Validate compose.yaml against the Compose Specification's JSON schema (deploy/compose/README.md
names the schema's source), then what the schema cannot know: every env_file it names exists as a
committed example, the examples hold placeholders and no secret, the app's services run the
entrypoint's roles, and the database has production's two roles (the app's own, made by the
PostgreSQL container's init script, which `migrate` grants its rights). Prints "compose: valid" and
exits 0, or the problems and exits 1."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "deploy" / "compose" / "compose-spec.schema.json"
ROLES = {"web", "worker", "beat", "migrate"}
# A value that looks like a real secret: long, random-looking, and not a placeholder.
SECRETISH = re.compile(r"^(?!.*change-me)[A-Za-z0-9+/_=-]{24,}$")


def problems() -> list[str]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    schema = json.loads(SCHEMA.read_text())
    found = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    ]
    services = compose.get("services", {})
    commands = {tuple(service.get("command", [])) for service in services.values() if "build" in service}
    if {command[0] for command in commands if command} != ROLES:
        found.append(f"the app's services run {sorted(commands)}, not one each of {sorted(ROLES)}")
    for name, service in services.items():
        for env_file in service.get("env_file", []):
            path = env_file if isinstance(env_file, str) else env_file["path"]
            example = ROOT / f"{path}.example"
            if not example.exists():
                found.append(f"{name}: {path} has no committed {example.name}")
                continue
            for line in example.read_text().splitlines():
                key, _, value = line.partition("=")
                if line.startswith("#") or not value:
                    continue
                if SECRETISH.match(value.strip()) and ("KEY" in key or "PASSWORD" in key or "TOKEN" in key):
                    found.append(f"{example.name}: {key} looks like a real secret")
    found += _two_roles(services)
    if (ROOT / "deploy" / "compose" / "escalations.env").exists():
        tracked = (ROOT / ".gitignore").read_text() if (ROOT / ".gitignore").exists() else ""
        if "deploy/compose/*.env" not in tracked:
            found.append("deploy/compose/escalations.env exists and .gitignore does not keep it out")
    return found


def _example(name: str) -> dict[str, str]:
    values = {}
    for line in (ROOT / "deploy" / "compose" / f"{name}.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if value and not line.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _two_roles(services: dict[str, Any]) -> list[str]:
    """What the schema cannot know about the database's roles: the app connects as a role of its own,
    which the PostgreSQL container makes on its first start, and `migrate` (which grants that role its
    rights, as DATABASE_MIGRATE_URL's owner) is given both URLs unchanged."""
    found = []
    app_env, db_env = _example("escalations.env"), _example("postgres.env")
    app_user = urlsplit(app_env.get("DATABASE_URL", "")).username
    owner_user = urlsplit(app_env.get("DATABASE_MIGRATE_URL", "")).username
    if not app_user or app_user == owner_user:
        found.append("escalations.env.example: DATABASE_URL must name the app's own role, not the owner's")
    if owner_user != db_env.get("POSTGRES_USER"):
        found.append("escalations.env.example: DATABASE_MIGRATE_URL must name POSTGRES_USER, the owner")
    if app_user != db_env.get("APP_DB_USER"):
        found.append("postgres.env.example: APP_DB_USER must be DATABASE_URL's role (the init script makes it)")
    mounts = [str(v) for v in services.get("postgres", {}).get("volumes", [])]
    init = [m.split(":")[0] for m in mounts if ":/docker-entrypoint-initdb.d" in m]
    scripts = [p for d in init for p in (ROOT / d).glob("*.sh")] if init else []
    if not any("APP_DB_USER" in p.read_text() and "CREATE ROLE" in p.read_text() for p in scripts):
        found.append("the postgres service mounts no init script that creates APP_DB_USER's role")
    migrate = services.get("migrate", {})
    if migrate.get("command") != ["migrate"] or "environment" in migrate:
        found.append("the migrate service must run the entrypoint's migrate with the shared environment unchanged")
    entrypoint = (ROOT / "deploy" / "container" / "entrypoint.sh").read_text()
    if re.search(r'DATABASE_URL="\$DATABASE_MIGRATE_URL"', entrypoint) and '-z "${DATABASE_URL:-}"' not in entrypoint:
        found.append("entrypoint.sh migrate replaces DATABASE_URL by the owner's: the app's role would get no rights")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"compose.yaml: {problem}")
    print("compose: valid" if not found else f"compose: INVALID ({len(found)} problems)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
