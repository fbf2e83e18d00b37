#!/usr/bin/env bash
# systemd-analyze verify on the units of deploy/systemd, installed into a scratch root as docs/deploy.md
# installs them (units in /etc/systemd/system, the app in /opt/escalations, the environment in
# /etc/escalations), with the host's own system units beside them. Any warning fails: verify reports
# an unknown key or a bad value as a warning and still exits 0. Prints "systemd-analyze: ok".
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/etc/escalations" "$root/opt/escalations/deploy/container" \
  "$root/usr/lib/systemd" "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp deploy/systemd/*.service deploy/systemd/*.target "$root/etc/systemd/system/"
cp deploy/systemd/escalations.env.example "$root/etc/escalations/escalations.env"
cp deploy/container/entrypoint.sh "$root/opt/escalations/deploy/container/"
cp /bin/kill "$root/bin/"
units=()
for unit in deploy/systemd/*.service deploy/systemd/*.target; do
  units+=("$root/etc/systemd/system/$(basename "$unit")")
done
systemd-analyze --version | head -n 1
rc=0
output="$(systemd-analyze verify --root="$root" --man=no "${units[@]}" 2>&1)" || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$output" ]; then
  echo "$output"
  echo "systemd-analyze: FAILED (exit $rc)"
  exit 1
fi
echo "verified: ${units[*]##*/}"
echo "systemd-analyze: ok"
