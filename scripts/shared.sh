# Sourced (not run) by the scripts that share these steps: scripts/test-ts.sh and scripts/build-web.sh (Node),
# scripts/e2e.sh and scripts/schema.sh (a Python tool in .venv, `make dev` in the background). Each function takes
# the caller's label for its messages. Run from the repository's root.

# Node 18 or later with npm: when missing, Debian's `nodejs` and `npm` packages are installed if this runs as root,
# else it stops and says what to install.
need_node() {
  local label=$1
  node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null &&
      node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
  }
  if ! node_ok; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "$label: installing Node from Debian's packages (apt-get install nodejs npm)..." >&2
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
    fi
    if ! node_ok; then
      echo "$label: FAILED — Node 18 or later with npm is needed (found: $(node --version 2>/dev/null || echo none))." >&2
      echo "  Debian/Ubuntu: sudo apt-get install nodejs npm   (or run make as root to have it installed)" >&2
      exit 1
    fi
  fi
}

# .venv (scripts/bootstrap-venv.sh), then FILE's packages into it when FILE changed since their last install.
venv_requirements() {
  local label=$1 file=$2 wanted stamp
  scripts/bootstrap-venv.sh
  wanted=$(sha256sum "$file" | cut -d' ' -f1)
  stamp=.venv/.$(basename "$file" .txt).sha256
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    echo "$label: installing $file into .venv..." >&2
    .venv/bin/pip install -q --disable-pip-version-check -r "$file"
    echo "$wanted" > "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}

# `make dev` (scripts/dev.sh) in the background, in its own process group, its output in LOG; returns once it has
# written .local/dev-ready (or fails, with the end of LOG, if it exits first or is not ready in 5 minutes). Extra
# environment (STRIPE_CHAOS, DEV_INVOKE_PORT, APP_ORIGIN) passes through. Sets dev_pid; stop_dev stops it all.
dev_pid=""
start_dev() {
  local label=$1 log=$2
  rm -f .local/dev-ready
  setsid scripts/dev.sh >"$log" 2>&1 &
  dev_pid=$!
  for _ in $(seq 600); do
    [[ -f .local/dev-ready ]] && return 0
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      echo "$label: make dev exited before it was ready; the end of $log:" >&2
      tail -30 "$log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$label: make dev was not ready after 5 minutes; see $log" >&2
  return 1
}

stop_dev() {
  [[ -n "$dev_pid" ]] || return 0
  kill -TERM -- "-$dev_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$dev_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$dev_pid" 2>/dev/null || true
  .venv/bin/python scripts/local_aws.py stop --env-file .local/dev-aws.env >/dev/null 2>&1 || true
  dev_pid=""
}
