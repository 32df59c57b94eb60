#!/usr/bin/env bash
# Ollama (and optionally blossom-edge) on an Android phone, inside Termux.
#
#   curl -fsSL https://raw.githubusercontent.com/blossom-edge/blossom-edge/main/scripts/termux.sh | bash
#   curl -fsSL .../termux.sh | bash -s -- --gpu --boot
#
# Run `bash termux.sh --help` for every option. Safe to run again: a second run with
# the same options changes nothing and says so.
set -Eeuo pipefail

# The Ollama release --from-source builds unless --version says otherwise.
OLLAMA_PINNED_VERSION="v0.12.11"
OLLAMA_GIT_URL="https://github.com/ollama/ollama.git"
# Termux splits the Vulkan backend (lib/ollama/libggml-vulkan.so) into its own package.
VULKAN_BACKEND_PKG="ollama-backend-vulkan"
# Build tools for --from-source; libandroid-spawn provides posix_spawn for older API levels.
SOURCE_BUILD_PKGS=(golang cmake ninja clang git make libandroid-spawn)
# What llama-cpp-python, sentencepiece and psutil need to compile on the phone; numpy
# comes prebuilt from Termux so pip does not have to build it.
TOOLKIT_PKGS=(python python-pip python-numpy clang cmake ninja make binutils)
TOOLKIT_SPEC="${BLOSSOM_EDGE_PIP_SPEC:-blossom-edge}"
API_URL="http://127.0.0.1:11434"
MODEL_HINT="azure99/blossom"
# Free space (MB) each path needs before it starts; models need more on top.
NEED_MB_PKG=600
NEED_MB_SOURCE=3000
NEED_MB_TOOLKIT=1500
BOOT_MARKER="# written by blossom-edge termux.sh; removed by: termux.sh --uninstall"

PROG="termux.sh"

usage() {
    cat <<EOF
Usage: bash $PROG [options]

Installs Ollama in Termux, starts the server in the background and tells you what to run next.

Install (default: Termux's prebuilt 'ollama' package):
  --gpu                 also install $VULKAN_BACKEND_PKG so models can offload to the phone's GPU
  --from-source         build Ollama from its release tag instead of installing the package
  --version vX.Y.Z      release tag to build with --from-source (default $OLLAMA_PINNED_VERSION)
  --jobs N              build parallelism (default 2; phones run out of memory with more)
  --upgrade             move an existing install to the newest package / the requested tag
  --with-toolkit        also install blossom-edge (python, compilers, pip) for 'blossom-edge bench'
  --boot                start the server after every reboot (needs the Termux:Boot app)

Other actions:
  --status              show what is installed and whether the server answers (exit 3 if not)
  --stop                stop the server this script started
  --uninstall           remove what this script installed, and nothing else
  -h, --help            this text

Environment: BLOSSOM_OLLAMA_WAIT (seconds to wait for the server, default 60),
BLOSSOM_EDGE_PIP_SPEC (what pip installs for --with-toolkit, default blossom-edge).
EOF
}

say() { printf '%s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# Unexpected failures still get one line that says where and what to do.
on_error() {
    local code=$1 line=$2 cmd=$3
    printf "%s: error: '%s' failed (exit %s) at line %s; run again with 'bash -x' to see why, and report it if it persists\n" \
        "$PROG" "$cmd" "$code" "$line" >&2
    exit "$code"
}

# ---------------------------------------------------------------------------------------------
# Pure helpers (the tests source the script and call these directly)

# Normalise a release tag to vX.Y.Z[-rcN]; fail on anything else so a typo never reaches git.
normalize_tag() {
    local tag=${1#v}
    [[ $tag =~ ^[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?$ ]] || return 1
    printf 'v%s\n' "$tag"
}

# Which of Ollama's build procedures a release tag needs, following its docs/development.md:
#   generate  up to 0.3.x: `go generate ./...` builds llama.cpp, then `go build .`
#   make      0.4.0 to 0.5.7: `make` builds the runners, then `go build .`
#   cmake     0.5.8 and later: CMake builds the ggml libraries (recent tags fetch llama.cpp
#             while configuring), then `go build .`
ollama_build_era() {
    local tag
    tag=$(normalize_tag "$1") || return 1
    local major minor patch rest
    IFS=. read -r major minor rest <<<"${tag#v}"
    patch=${rest%%-*}
    if ((major == 0 && minor <= 3)); then
        echo generate
    elif ((major == 0 && (minor == 4 || (minor == 5 && patch <= 7)))); then
        echo make
    else
        echo cmake
    fi
}

# version_ge A B: true when dotted version A >= B (suffixes such as rc1 are ignored).
version_ge() {
    local -a a b
    IFS=. read -r -a a <<<"${1%%[!0-9.]*}"
    IFS=. read -r -a b <<<"${2%%[!0-9.]*}"
    local i x y
    for ((i = 0; i < 3; i++)); do
        x=${a[i]:-0}
        y=${b[i]:-0}
        ((10#$x > 10#$y)) && return 0
        ((10#$x < 10#$y)) && return 1
    done
    return 0
}

# The Go version a checkout's go.mod demands (the `go` directive), e.g. 1.24.0.
gomod_go_version() {
    [[ -f $1 ]] || return 0
    sed -n 's/^go[[:space:]]\{1,\}\([0-9][0-9.]*\).*/\1/p' "$1" | head -n 1
}

# "go version go1.24.1 android/arm64" -> 1.24.1
go_toolchain_version() {
    { go version 2>/dev/null || true; } | sed -n 's/.*go\([0-9][0-9.]*\).*/\1/p' | head -n 1
}

# The version an ollama binary reports ("ollama version is 0.12.11"), empty if it cannot run.
ollama_binary_version() {
    [[ -x $1 ]] || return 0
    { "$1" --version 2>/dev/null || true; } | sed -n 's/.*version is \([^[:space:]]*\).*/\1/p' | head -n 1
}

# ---------------------------------------------------------------------------------------------
# Paths and state

# check_termux has made sure PREFIX is set.
set_paths() {
    # shellcheck disable=SC2153
    STATE_DIR="$PREFIX/var/lib/blossom-edge/termux"
    OLLAMA_BIN="$PREFIX/bin/ollama"
    OLLAMA_LIB_DIR="$PREFIX/lib/ollama"
    RUN_DIR="$HOME/.ollama"
    PID_FILE="$RUN_DIR/serve.pid"
    LOG_FILE="$RUN_DIR/serve.log"
    CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/blossom-edge"
    BOOT_SCRIPT="$HOME/.termux/boot/blossom-edge-ollama"
}

state_get() {
    local f="$STATE_DIR/$1"
    if [[ -f $f ]]; then cat "$f"; fi
}

state_set() {
    mkdir -p "$STATE_DIR"
    printf '%s\n' "$2" >"$STATE_DIR/$1.tmp"
    mv "$STATE_DIR/$1.tmp" "$STATE_DIR/$1"
}

state_add_lines() {
    local name=$1
    shift
    (($#)) || return 0
    mkdir -p "$STATE_DIR"
    printf '%s\n' "$@" >>"$STATE_DIR/$name"
}

# ---------------------------------------------------------------------------------------------
# Environment checks

check_termux() {
    local prefix=${PREFIX:-}
    if [[ $prefix != */com.termux/* ]]; then
        die "this script is for Termux on Android (\$PREFIX is '${prefix:-unset}', expected a path under com.termux); on Linux or macOS install Ollama from https://ollama.com/download"
    fi
    if [[ -z ${TERMUX_VERSION:-} ]] && ! command -v pkg >/dev/null 2>&1; then
        die "\$PREFIX looks like Termux but neither TERMUX_VERSION nor the pkg command exists; run this inside the Termux app"
    fi
    local arch
    arch=$(uname -m)
    case $arch in
        aarch64 | x86_64) ;;
        *) die "Termux's Ollama supports only 64-bit phones (aarch64, x86_64); this device is $arch (32-bit arm and i686 are excluded)" ;;
    esac
    if [[ ${TERMUX_APK_RELEASE:-} == GOOGLE_PLAYSTORE ]] || { [[ ${TERMUX_VERSION:-} =~ ^0\.([0-9]+) ]] && ((BASH_REMATCH[1] < 118)); }; then
        warn "this Termux build (${TERMUX_VERSION:-unknown}, ${TERMUX_APK_RELEASE:-unknown source}) is outdated or the Play Store build; packages may fail to install. Install Termux from F-Droid or GitHub (https://github.com/termux/termux-app/releases)"
    fi
}

# check_space DIR MB WHAT: stop before a long install that would run out of storage midway.
check_space() {
    local dir=$1 need_mb=$2 what=$3 avail_kb
    mkdir -p "$dir"
    avail_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
    if [[ ! $avail_kb =~ ^[0-9]+$ ]]; then
        warn "could not read free storage for $dir; continuing"
        return 0
    fi
    if ((avail_kb / 1024 < need_mb)); then
        die "only $((avail_kb / 1024)) MB free in $dir but $what needs about $need_mb MB; free some storage and run again"
    fi
    say "    storage: $((avail_kb / 1024)) MB free in $dir (need about $need_mb MB for $what)"
}

android_sdk() {
    local sdk=""
    if command -v getprop >/dev/null 2>&1; then
        sdk=$(getprop ro.build.version.sdk 2>/dev/null || true)
    fi
    [[ $sdk =~ ^[0-9]+$ ]] && echo "$sdk"
    return 0
}

# ---------------------------------------------------------------------------------------------
# Packages: only packages that were missing are installed, and only those are recorded, so
# --uninstall never removes something the user had before.

pkg_installed() {
    dpkg -s "$1" >/dev/null 2>&1
}

install_packages() {
    local what=$1
    shift
    local -a missing=()
    local p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "    $what: already installed ($*)"
        return 0
    fi
    step "Installing $what from Termux's repository: ${missing[*]}"
    if ! pkg install -y "${missing[@]}" </dev/null; then
        die "pkg install ${missing[*]} failed; run 'pkg update', check your network / mirror ('termux-change-repo'), then run this script again"
    fi
    state_add_lines packages "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# Install paths

install_from_package() {
    local method
    method=$(state_get method)
    if [[ $method == source ]]; then
        ((UPGRADE)) || die "Ollama $(state_get version) was built from source by this script; run again with --upgrade to switch to Termux's package"
        step "Removing the source-built Ollama before switching to Termux's package"
        remove_recorded_files
    elif [[ -z $method && -x $OLLAMA_BIN ]] && ! pkg_installed ollama; then
        die "$OLLAMA_BIN exists but did not come from Termux's package or this script; move it away and run again"
    fi

    local -a want=(ollama)
    if ((GPU)); then want+=("$VULKAN_BACKEND_PKG"); fi
    local before
    before=$(ollama_binary_version "$OLLAMA_BIN")

    check_space "$PREFIX" "$NEED_MB_PKG" "the ollama package"
    install_packages "Ollama" "${want[@]}"
    state_set method pkg

    if ((UPGRADE)) && [[ -n $before ]]; then
        step "Upgrading ${want[*]} to the newest version in Termux's repository"
        apt update </dev/null || die "apt update failed; check your network / mirror ('termux-change-repo') and run again"
        apt install --only-upgrade -y "${want[@]}" </dev/null ||
            die "apt install --only-upgrade ${want[*]} failed; run 'pkg upgrade' by hand and read its message"
    fi

    local after
    after=$(ollama_binary_version "$OLLAMA_BIN")
    [[ -n $after ]] || die "$OLLAMA_BIN does not run after installing the package; run 'pkg reinstall ollama'"
    state_set version "$after"
    if [[ $before == "$after" ]]; then
        say "    Ollama $after from Termux's package is installed; nothing to change"
    elif [[ -n $before ]]; then
        say "    Ollama upgraded: $before -> $after"
        CHANGED_BINARY=1
    else
        say "    Ollama $after installed from Termux's package"
        CHANGED_BINARY=1
    fi
}

# run_build LOG DESCRIPTION CMD...: show the build live, keep a log, and explain a failure.
run_build() {
    local log=$1 what=$2
    shift 2
    step "$what: $*"
    local rc=0
    "$@" 2>&1 </dev/null | tee -a "$log" || rc=$?
    if ((rc != 0)); then
        die "$what failed (exit $rc; full log: $log); if the phone ran out of memory, run again with --jobs 1"
    fi
}

install_from_source() {
    local tag=$1 era
    era=$(ollama_build_era "$tag") || die "'$tag' is not a release tag like $OLLAMA_PINNED_VERSION"

    local method installed
    method=$(state_get method)
    installed=$(state_get version)
    if [[ $method == source && v${installed#v} == "$tag" && $(ollama_binary_version "$OLLAMA_BIN") == "${tag#v}" ]]; then
        say "    Ollama $tag built from source is installed; nothing to change"
        return 0
    fi
    if [[ $method == source && -n $installed ]] && ((!UPGRADE)); then
        die "Ollama $installed built from source is installed; run again with --upgrade to move to $tag"
    fi
    if [[ $method == pkg ]] && ((!UPGRADE)); then
        die "Ollama is installed from Termux's package; run again with --upgrade to replace it with a build of $tag"
    fi
    if pkg_installed ollama && ! state_get packages | grep -qx ollama; then
        die "Termux's ollama package is installed but not by this script; remove it with 'pkg uninstall ollama' and run again"
    fi
    if [[ -z $method && -e $OLLAMA_BIN ]]; then
        die "$OLLAMA_BIN exists but was not installed by this script; move it away and run again"
    fi

    local src="$CACHE_DIR/ollama-src/$tag"
    local log="$CACHE_DIR/build-$tag.log"
    check_space "$CACHE_DIR" "$NEED_MB_SOURCE" "building Ollama from source"
    install_packages "build tools" "${SOURCE_BUILD_PKGS[@]}"

    if [[ -d $src/.git ]] && [[ $(git -C "$src" describe --tags --exact-match 2>/dev/null) == "$tag" ]]; then
        say "    reusing the checkout of $tag in $src"
    else
        rm -rf "$src"
        mkdir -p "$(dirname "$src")"
        step "Cloning Ollama $tag into $src"
        git clone --depth 1 --branch "$tag" --recurse-submodules --shallow-submodules "$OLLAMA_GIT_URL" "$src" </dev/null ||
            die "git clone of Ollama $tag failed; check the tag exists (https://github.com/ollama/ollama/tags) and your network"
    fi

    local need have
    need=$(gomod_go_version "$src/go.mod")
    have=$(go_toolchain_version)
    [[ -n $need ]] || die "$src/go.mod names no Go version; delete $src and run again"
    [[ -n $have ]] || die "'go version' did not answer; run 'pkg install golang' and run again"
    if ! version_ge "$have" "$need"; then
        die "Ollama $tag needs Go $need (its go.mod) but Termux has Go $have; run 'pkg upgrade golang', or pick an older --version"
    fi
    say "    Go $have satisfies go.mod's $need; build procedure: $era (${JOBS} parallel jobs)"

    : >"$log"
    local ldflags="-w -s -X=github.com/ollama/ollama/version.Version=${tag#v} -X=github.com/ollama/ollama/server.mode=release"
    (
        cd "$src"
        # A toolchain download would hide an old Go; the check above already decided.
        export GOTOOLCHAIN=local CGO_ENABLED=1 CMAKE_BUILD_PARALLEL_LEVEL=$JOBS GOFLAGS="-p=$JOBS"
        case $era in
            generate) run_build "$log" "Generating llama.cpp (go generate)" go generate ./... ;;
            make) run_build "$log" "Building the runners (make)" make -j "$JOBS" ;;
            cmake)
                rm -rf build
                run_build "$log" "Configuring the native libraries (CMake)" cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
                run_build "$log" "Building the native libraries (CMake)" cmake --build build --parallel "$JOBS"
                ;;
        esac
        run_build "$log" "Building the ollama binary (go build)" go build -trimpath -ldflags="$ldflags" -o ollama .
    ) || exit $?

    [[ -x $src/ollama ]] || die "the build finished but produced no $src/ollama; see $log"
    if [[ $method == source ]]; then
        remove_recorded_files
    elif [[ $method == pkg ]]; then
        step "Removing Termux's ollama package installed earlier by this script"
        remove_recorded_packages ollama "$VULKAN_BACKEND_PKG"
    fi

    step "Installing into $PREFIX/bin and $OLLAMA_LIB_DIR"
    install -D -m 700 "$src/ollama" "$OLLAMA_BIN"
    local -a files=("$OLLAMA_BIN")
    if [[ $era == cmake && -d $src/build/lib/ollama ]]; then
        mkdir -p "$OLLAMA_LIB_DIR"
        local f
        for f in "$src"/build/lib/ollama/*; do
            [[ -f $f ]] || continue
            install -m 600 "$f" "$OLLAMA_LIB_DIR/"
            files+=("$OLLAMA_LIB_DIR/$(basename "$f")")
        done
    fi
    rm -f "$STATE_DIR/files"
    state_add_lines files "${files[@]}"
    state_set method source
    state_set version "$tag"
    state_set gpu 0
    say "    Ollama $tag built and installed (${#files[@]} files)"
    CHANGED_BINARY=1
}

install_toolkit() {
    check_space "$HOME" "$NEED_MB_TOOLKIT" "the blossom-edge toolkit"
    install_packages "toolkit build dependencies" "${TOOLKIT_PKGS[@]}"
    if command -v blossom-edge >/dev/null 2>&1 && ((!UPGRADE)); then
        say "    blossom-edge is installed ($(blossom-edge --version 2>/dev/null || echo 'unknown version')); nothing to change"
        return 0
    fi
    local -a args=(install)
    if ((UPGRADE)); then args+=(--upgrade); fi
    step "Installing blossom-edge with pip (compiles llama-cpp-python; takes a while)"
    CMAKE_BUILD_PARALLEL_LEVEL=$JOBS MAKEFLAGS="-j$JOBS" pip "${args[@]}" "$TOOLKIT_SPEC" </dev/null ||
        die "pip install $TOOLKIT_SPEC failed; read pip's message above (out of memory: run again with --jobs 1)"
    [[ -n $(state_get toolkit) ]] || state_set toolkit "$TOOLKIT_SPEC"
    TOOLKIT_READY=1
}

# ---------------------------------------------------------------------------------------------
# Service

server_version() {
    { curl -fsS --max-time 3 "$API_URL/api/version" 2>/dev/null || true; } | sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

server_answers() {
    curl -fsS --max-time 3 -o /dev/null "$API_URL/api/version" 2>/dev/null
}

# The pid from our pid file, if that process is still an ollama server.
our_server_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(cat "$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q ollama; then
        return 1
    fi
    echo "$pid"
}

log_tail() {
    [[ -f $LOG_FILE ]] && tail -n 15 "$LOG_FILE" | sed 's/^/    | /' >&2
    return 0
}

serve_env() {
    if [[ $(state_get gpu) == 1 ]]; then
        echo "OLLAMA_VULKAN=1"
    fi
}

start_server() {
    if server_answers; then
        say "    a server already answers on $API_URL (version $(server_version)); reusing it, not starting another"
        return 0
    fi
    step "Starting 'ollama serve' in the background (log: $LOG_FILE)"
    mkdir -p "$RUN_DIR"
    if command -v termux-wake-lock >/dev/null 2>&1; then
        termux-wake-lock || warn "termux-wake-lock failed; Android may suspend the server when the screen is off"
    fi
    local -a envs
    mapfile -t envs < <(serve_env)
    printf '\n--- %s: started by %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$PROG" >>"$LOG_FILE"
    env "${envs[@]}" nohup "$OLLAMA_BIN" serve >>"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PID_FILE"

    local wait_s=${BLOSSOM_OLLAMA_WAIT:-60} ticks=0
    while ! server_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            say "$PROG: 'ollama serve' exited before answering; last lines of $LOG_FILE:" >&2
            log_tail
            die "the Ollama server did not start (log: $LOG_FILE); another process may hold port 11434, or the binary is broken ('ollama --version')"
        fi
        if ((ticks >= 2 * wait_s)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            say "$PROG: no answer from $API_URL after ${wait_s}s; last lines of $LOG_FILE:" >&2
            log_tail
            die "the Ollama server did not answer within ${wait_s}s and was stopped; read $LOG_FILE, or give it longer with BLOSSOM_OLLAMA_WAIT=180"
        fi
        sleep 0.5
        ticks=$((ticks + 1))
    done
    say "    server answers on $API_URL (version $(server_version), pid $pid)"
}

stop_server() {
    local pid
    if ! pid=$(our_server_pid); then
        rm -f "$PID_FILE"
        if server_answers; then
            die "a server answers on $API_URL but this script did not start it (no live pid in $PID_FILE); stop it where it was started"
        fi
        say "    no Ollama server is running"
        return 0
    fi
    step "Stopping the Ollama server (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    if command -v termux-wake-unlock >/dev/null 2>&1; then
        termux-wake-unlock || true
    fi
    say "    stopped"
}

restart_if_ours() {
    local pid
    if pid=$(our_server_pid); then
        step "Restarting the server (pid $pid) so it runs the new binary"
        stop_server
    elif server_answers; then
        warn "a server not started by this script answers on $API_URL; restart it yourself to use the new binary"
    fi
}

boot_script_text() {
    local env_prefix
    env_prefix=$(serve_env)
    cat <<EOF
#!$PREFIX/bin/sh
$BOOT_MARKER
# Termux:Boot runs every executable file in ~/.termux/boot/ after the phone starts.
termux-wake-lock
if ! curl -fsS --max-time 3 -o /dev/null $API_URL/api/version 2>/dev/null; then
    mkdir -p "$RUN_DIR"
    ${env_prefix:+$env_prefix }nohup "$OLLAMA_BIN" serve >>"$LOG_FILE" 2>&1 </dev/null &
    echo \$! >"$PID_FILE"
fi
EOF
}

install_boot() {
    local text
    text=$(boot_script_text)
    if [[ -f $BOOT_SCRIPT && $(cat "$BOOT_SCRIPT") == "$text" ]]; then
        say "    boot script $BOOT_SCRIPT is up to date; nothing to change"
    else
        if [[ -f $BOOT_SCRIPT ]] && ! grep -qF "$BOOT_MARKER" "$BOOT_SCRIPT"; then
            die "$BOOT_SCRIPT exists and was not written by this script; move it away and run again"
        fi
        step "Writing the Termux:Boot script $BOOT_SCRIPT"
        mkdir -p "$(dirname "$BOOT_SCRIPT")"
        printf '%s\n' "$text" >"$BOOT_SCRIPT"
        chmod 700 "$BOOT_SCRIPT"
        state_set boot "$BOOT_SCRIPT"
    fi
    say "    install the Termux:Boot app from the same place as Termux (F-Droid or GitHub) and open it once, or the script never runs"
}

explain_phantom_killer() {
    local sdk
    sdk=$(android_sdk)
    [[ -n $sdk ]] && ((sdk < 31)) && return 0
    cat <<EOF

Android 12 and later kill background processes of apps ("phantom process killer", signal 9),
which stops 'ollama serve' without warning. To turn it off:
  - Android 14+: Settings > Developer options > "Disable child process restrictions".
  - Android 12/13: from a computer with adb:
      adb shell "settings put global settings_enable_monitor_phantom_procs false"
      adb shell device_config put activity_manager max_phantom_processes 2147483647
    (some Android 12 builds also need: adb shell device_config set_sync_disabled_for_tests persistent)
EOF
}

# ---------------------------------------------------------------------------------------------
# Uninstall

remove_recorded_files() {
    local f
    while IFS= read -r f; do
        [[ -n $f ]] || continue
        rm -f "$f"
        say "    removed $f"
    done < <(state_get files)
    rmdir "$OLLAMA_LIB_DIR" 2>/dev/null || true
    rm -f "$STATE_DIR/files"
}

# A package is removed only when apt would remove nothing but packages this script installed;
# otherwise something the user added since depends on it and it stays.
remove_recorded_packages() {
    local -a ours keep=() remove=()
    mapfile -t ours < <(state_get packages)
    ((${#ours[@]})) || return 0
    local -a only=("$@")
    local p other extra
    for p in "${ours[@]}"; do
        [[ -n $p ]] || continue
        if ((${#only[@]})) && [[ " ${only[*]} " != *" $p "* ]]; then
            keep+=("$p")
            continue
        fi
        pkg_installed "$p" || continue
        extra=""
        while read -r other; do
            [[ " ${ours[*]} " == *" $other "* ]] || extra+=" $other"
        done < <(apt-get -s remove "$p" 2>/dev/null </dev/null | sed -n 's/^Remv \([^ ]*\).*/\1/p')
        if [[ -n $extra ]]; then
            say "    keeping $p: removing it would also remove${extra}"
            keep+=("$p")
        else
            remove+=("$p")
        fi
    done
    if ((${#remove[@]})); then
        step "Removing packages this script installed: ${remove[*]}"
        pkg uninstall -y "${remove[@]}" </dev/null || die "pkg uninstall ${remove[*]} failed; run it by hand and read its message"
    fi
    rm -f "$STATE_DIR/packages"
    state_add_lines packages "${keep[@]}"
}

uninstall() {
    if [[ ! -d $STATE_DIR ]]; then
        say "Nothing to uninstall: no record of an installation by this script in $STATE_DIR"
        return 0
    fi
    step "Uninstalling what $PROG installed"
    if our_server_pid >/dev/null; then
        stop_server
    fi
    rm -f "$PID_FILE" "$LOG_FILE"
    local boot toolkit
    boot=$(state_get boot)
    if [[ -n $boot && -f $boot ]] && grep -qF "$BOOT_MARKER" "$boot"; then
        rm -f "$boot"
        say "    removed $boot"
    fi
    toolkit=$(state_get toolkit)
    if [[ -n $toolkit ]] && command -v pip >/dev/null 2>&1; then
        step "Removing blossom-edge (pip uninstall; its Python dependencies stay)"
        pip uninstall -y blossom-edge </dev/null || warn "pip uninstall blossom-edge failed; remove it by hand"
    fi
    remove_recorded_files
    remove_recorded_packages
    rm -rf "$CACHE_DIR/ollama-src" "$CACHE_DIR"/build-*.log
    rm -rf "$STATE_DIR"
    rmdir "$PREFIX/var/lib/blossom-edge" 2>/dev/null || true
    say "Done. Downloaded models are kept in $RUN_DIR/models (delete that directory to free the space)."
}

# ---------------------------------------------------------------------------------------------
# Status

status() {
    local method version pid rc=0
    method=$(state_get method)
    version=$(state_get version)
    if [[ -n $method ]]; then
        say "installed:   Ollama ${version:-?} ($([[ $method == pkg ]] && echo "Termux package" || echo "built from source")) at $OLLAMA_BIN"
    elif [[ -x $OLLAMA_BIN ]]; then
        say "installed:   Ollama $(ollama_binary_version "$OLLAMA_BIN") at $OLLAMA_BIN (not by this script)"
    else
        say "installed:   no"
    fi
    if server_answers; then
        if pid=$(our_server_pid); then
            say "server:      answers on $API_URL (version $(server_version), pid $pid, log $LOG_FILE)"
        else
            say "server:      answers on $API_URL (version $(server_version), not started by this script)"
        fi
    else
        say "server:      not answering on $API_URL"
        rc=3
    fi
    if [[ -f $BOOT_SCRIPT ]]; then
        say "boot:        $BOOT_SCRIPT"
    else
        say "boot:        no (add --boot to start the server after a reboot)"
    fi
    if [[ -n $(state_get toolkit) ]]; then say "toolkit:     blossom-edge"; fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------

next_steps() {
    cat <<EOF

Next steps:
  ollama run $MODEL_HINT --nowordwrap      # Chinese text wraps badly without --nowordwrap
EOF
    if ((TOOLKIT_READY)); then
        say "  blossom-edge bench                          # measure tokens/s on this phone"
    fi
    say "  bash $PROG --status | --stop | --uninstall"
}

main() {
    GPU=0 FROM_SOURCE=0 UPGRADE=0 BOOT=0 TOOLKIT=0 JOBS=${BLOSSOM_BUILD_JOBS:-2}
    CHANGED_BINARY=0 TOOLKIT_READY=0
    local action=install version="" version_given=0
    while (($#)); do
        case $1 in
            --gpu) GPU=1 ;;
            --from-source) FROM_SOURCE=1 ;;
            --version)
                (($# >= 2)) || die "--version needs a release tag, e.g. --version $OLLAMA_PINNED_VERSION"
                version=$2 version_given=1
                shift
                ;;
            --version=*) version=${1#*=} version_given=1 ;;
            --jobs)
                (($# >= 2)) || die "--jobs needs a number"
                JOBS=$2
                shift
                ;;
            --jobs=*) JOBS=${1#*=} ;;
            --upgrade) UPGRADE=1 ;;
            --boot) BOOT=1 ;;
            --with-toolkit) TOOLKIT=1 ;;
            --status | --stop | --uninstall)
                [[ $action == install ]] || die "choose one of --status, --stop, --uninstall"
                action=${1#--}
                ;;
            -h | --help)
                usage
                return 0
                ;;
            *) die "unknown option '$1'; see 'bash $PROG --help'" ;;
        esac
        shift
    done
    [[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$JOBS'"
    if ((version_given && !FROM_SOURCE)); then
        die "--version needs --from-source: Termux's repository carries one Ollama version (use --upgrade to get its newest)"
    fi
    if ((GPU && FROM_SOURCE)); then
        die "--gpu uses Termux's prebuilt $VULKAN_BACKEND_PKG package; drop --from-source (building the Vulkan backend from source is not supported here)"
    fi
    local tag=""
    if ((FROM_SOURCE)); then
        tag=$(normalize_tag "${version:-$OLLAMA_PINNED_VERSION}") ||
            die "'$version' is not a release tag like $OLLAMA_PINNED_VERSION"
    fi

    step "Checking this is Termux on a 64-bit phone"
    check_termux
    set_paths

    case $action in
        status)
            status
            return
            ;;
        stop)
            stop_server
            return
            ;;
        uninstall)
            uninstall
            return
            ;;
    esac

    if ((FROM_SOURCE)); then
        install_from_source "$tag"
    else
        if ((GPU)) || [[ -z $(state_get gpu) ]]; then state_set gpu "$GPU"; fi
        install_from_package
    fi
    if ((TOOLKIT)); then install_toolkit; fi
    if ((CHANGED_BINARY)); then restart_if_ours; fi
    start_server
    if ((BOOT)); then install_boot; fi
    explain_phantom_killer
    next_steps
}

trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

# Sourcing the script (as the tests do) defines the functions without running anything.
if ! (return 0 2>/dev/null); then
    main "$@"
fi
