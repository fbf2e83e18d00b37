"""Validate compose.yaml against the Compose Specification's JSON schema (deploy/compose/README.md
names the schema's source), then what the schema cannot know: every env_file it names exists as a
committed example, the examples hold placeholders and no secret, and the app's services run the
entrypoint's roles. Prints "compose: valid" and exits 0, or the problems and exits 1."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

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
    if (ROOT / "deploy" / "compose" / "escalations.env").exists():
        tracked = (ROOT / ".gitignore").read_text() if (ROOT / ".gitignore").exists() else ""
        if "deploy/compose/*.env" not in tracked:
            found.append("deploy/compose/escalations.env exists and .gitignore does not keep it out")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"compose.yaml: {problem}")
    print("compose: valid" if not found else f"compose: INVALID ({len(found)} problems)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
