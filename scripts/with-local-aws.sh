#!/usr/bin/env bash
# Runs a command against a fresh local AWS (moto server + the template's stack), e.g.
#   scripts/with-local-aws.sh cargo test --workspace -- --include-ignored
# The command sees AWS_ENDPOINT_URL, dummy credentials and one variable per stack output (IDEMPOTENCY_TABLE,
# BILLING_EVENTS_TOPIC_ARN, ENTITLEMENT_QUEUE_URL, ...). The server is stopped when this script exits, whatever
# the outcome (failure, Ctrl-C, SIGTERM). Exits with the command's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

scripts/bootstrap-venv.sh

repo_root="$PWD"
mkdir -p .local
env_file="$(mktemp "$repo_root/.local/aws-env.XXXXXX")"
child=""
cleanup() {
  "$repo_root/.venv/bin/python" "$repo_root/scripts/local_aws.py" stop --env-file "$env_file" || true
  rm -f "$env_file"
}
on_signal() {
  local sig=$1 code=$2
  trap - INT TERM
  if [[ -n "$child" ]]; then
    kill "-$sig" "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

.venv/bin/python scripts/local_aws.py start --env-file "$env_file"

# Nothing may point the command at a real account: no profile, no session token, no config files.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^AWS_ENDPOINT_URL_' || true)
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
# shellcheck disable=SC1090
source "$env_file"

# In the background (stdin kept) so that a signal to this script is handled at once and forwarded.
set +e
"$@" <&0 &
child=$!
wait "$child"
status=$?
set -e
exit "$status"
