#!/usr/bin/env bash
# Installs what `make demo` and `make test` need on a fresh machine, and nothing twice:
# Debian packages that are missing (PostgreSQL 15 server, openssl), and the pinned Python tools
# (moto server, cargo-lambda + zig, SAM CLI, cfn-lint) in the project-local .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v openssl >/dev/null || missing+=(openssl)
command -v runuser >/dev/null || missing+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  # The stack makes its own throwaway cluster; don't let the package create and start a system one.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/caretaker.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in rustfmt clippy; do
  if ! cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "cargo $tool is missing: rustup component add $tool"
    rustup component add "$tool"
  fi
done

req=tools/requirements.txt
stamp=.venv/.caretaker-requirements
if [ ! -x .venv/bin/python ] || ! cmp -s "$req" "$stamp"; then
  say "installing pinned Python tools into .venv (moto, cargo-lambda, SAM CLI, cfn-lint): a minute or two"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi

req=tools/requirements-checkov.txt
stamp=.venv-checkov/.caretaker-requirements
if [ ! -x .venv-checkov/bin/python ] || ! cmp -s "$req" "$stamp"; then
  say "installing checkov (pinned) into .venv-checkov: a minute"
  [ -x .venv-checkov/bin/python ] || python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
