#!/usr/bin/env bash
# The alert rules parse (promtool check rules) and fire when, and only when, they should (promtool
# test rules: deploy/prometheus/alerts.test.yml). Prints "promtool: ok". promtool comes with Debian's
# package prometheus; .ci/run installs it when missing.
set -euo pipefail
cd "$(dirname "$0")/../prometheus"
promtool --version 2>&1 | head -n 1
promtool check rules alerts.yml
promtool test rules alerts.test.yml
# The example scrape configuration, with its token file where it says.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp prometheus.yml alerts.yml "$scratch/"
echo example-token >"$scratch/escalations-metrics-token"
sed -i "s|/etc/prometheus/escalations-metrics-token|$scratch/escalations-metrics-token|" "$scratch/prometheus.yml"
promtool check config "$scratch/prometheus.yml"
echo "promtool: ok"
