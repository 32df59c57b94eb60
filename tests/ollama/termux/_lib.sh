# shellcheck shell=bash
# Shared by the fake Termux commands in bin/: every call is appended to $STUB_STATE/calls.log
# so tests can assert what the script ran, and package state lives in $STUB_STATE/installed.
set -euo pipefail
: "${STUB_STATE:?tests must set STUB_STATE}"
STUB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

record() {
    printf '%s\n' "$*" >>"$STUB_STATE/calls.log"
}

is_installed() {
    grep -qx "$1" "$STUB_STATE/installed" 2>/dev/null
}

# write_fake_ollama PATH VERSION: an executable that behaves like ollama at VERSION.
write_fake_ollama() {
    mkdir -p "$(dirname "$1")"
    printf '#!/usr/bin/env bash\nexport FAKE_OLLAMA_VERSION=%s\nexec bash %q "$@"\n' "$2" "$STUB_ROOT/fake_ollama.sh" >"$1"
    chmod 700 "$1"
}

# fail_step NAME: exit 1 when the test asked this build step to fail.
fail_step() {
    if [[ ${STUB_FAIL_STEP:-} == "$1" ]]; then
        echo "$1: simulated failure (STUB_FAIL_STEP)" >&2
        exit 1
    fi
}
