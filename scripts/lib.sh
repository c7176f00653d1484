# shellcheck shell=bash
# Shared by scripts/test and scripts/demo (sourced, not run).

# The Debian packages a full build (library, tests, benchmarks) needs.
# (The man lint needs mandoc only: what the machine's manual database says
# about the system pages we cite is not checked, see man/lint.sh.)
SMR_DEB_PACKAGES=(cmake gcc g++ make pkg-config libcriterion-dev libhwloc-dev
                  liburcu-dev libck-dev libjemalloc-dev libmimalloc-dev mandoc)

smr_log() { printf '==> %s\n' "$*"; }

# Install whatever of SMR_DEB_PACKAGES is missing: as root with apt-get
# (one `apt-get update`, then a non-interactive install); otherwise print
# the command to run and fail.
smr_ensure_packages() {
    local missing=() p st
    if ! command -v dpkg-query >/dev/null 2>&1; then
        smr_log "not a Debian system: not checking packages (need: ${SMR_DEB_PACKAGES[*]})"
        return 0
    fi
    for p in "${SMR_DEB_PACKAGES[@]}"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        if [ "$st" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing Debian packages: ${missing[*]}" >&2
        echo "install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    smr_log "installing missing packages: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# smr_quiet LOG cmd...: run cmd with its output in LOG; show LOG on failure.
smr_quiet() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: failed: $*" >&2
        return 1
    fi
}

smr_jobs() { nproc 2>/dev/null || echo 2; }

# smr_configure DIR [cmake args...]: configure (or reconfigure) a build tree.
smr_configure() {
    local dir=$1
    shift
    cmake -S "$SMR_ROOT" -B "$SMR_ROOT/$dir" "$@"
}

# smr_build DIR [targets...]
smr_build() {
    local dir=$1
    shift
    local targets=()
    local t
    for t in "$@"; do targets+=(--target "$t"); done
    cmake --build "$SMR_ROOT/$dir" -j "$(smr_jobs)" "${targets[@]}"
}

# The release build's options, shared so scripts/test and scripts/demo use
# the same cache (no reconfigure ping-pong).
# shellcheck disable=SC2034  # used by the scripts that source this
SMR_RELEASE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DSMR_BUILD_TESTS=ON -DSMR_BUILD_BENCH=ON
                  -DSMR_BUILD_EXAMPLES=ON)

# smr_build_demo BUILD_DIR: install BUILD_DIR into BUILD_DIR/demo-stage and
# compile demo/smr_demo.c against that install the way a user would
# (pkg-config libsmr).  Prints the demo binary's path.
smr_build_demo() {
    local b="$SMR_ROOT/$1" stage pc pcdir flags libdir
    stage="$b/demo-stage"
    rm -rf "$stage"
    # Callers run this in `x=$(...) || ...` contexts, where set -e is off:
    # every step checks its own status.
    cmake --install "$b" --prefix "$stage" >/dev/null || return 1
    pc=$(find "$stage" -name libsmr.pc -print -quit)
    [ -n "$pc" ] || { echo "no libsmr.pc under $stage" >&2; return 1; }
    pcdir=$(dirname "$pc")
    flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs libsmr) || return 1
    libdir=$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir libsmr) || return 1
    # shellcheck disable=SC2086
    ${CC:-cc} -O2 -g -Wall -Wextra -o "$b/smr_demo" "$SMR_ROOT/demo/smr_demo.c" \
        $flags -Wl,-rpath,"$libdir" >&2 || return 1
    echo "$b/smr_demo"
}
