# shellcheck shell=sh
# The scratch prefix that ctest's consumer_install fills, shared (sourced)
# by tests/consumer/run.sh and tests/readme_snippets.sh, so that every
# consumer of an installed libsmr is built and checked one way.
# Needs $build (the build tree) and $mode (a name for messages).
# shellcheck disable=SC2154  # build and mode: set by the sourcing script
# smr_stage: sets stage, pcdir, libdir, and points pkg-config at the stage
# only.  check_run BINARY SHARED: runs a consumer that must print OK, and
# checks it loads libsmr.so from the stage (SHARED=1) or none (0).

fail() { echo "FAIL ($mode): $*" >&2; exit 1; }

smr_stage() {
    stage=$build/stage
    # GNUInstallDirs may pick lib, lib64 or lib/<multiarch>: find the .pc file.
    pc=$(find "$stage" -name libsmr.pc -path '*/pkgconfig/*' | head -n 1)
    [ -n "$pc" ] || fail "no libsmr.pc under $stage"
    pcdir=$(dirname "$pc")
    libdir=$(dirname "$pcdir")
    [ -f "$libdir/libsmr.a" ] || fail "no libsmr.a in $libdir"
    ls "$libdir"/libsmr.so.* >/dev/null 2>&1 || fail "no libsmr.so.N in $libdir"
    # Nothing from the source or build tree may leak in: only the stage.
    PKG_CONFIG_PATH=$pcdir
    PKG_CONFIG_LIBDIR=$pcdir
    export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
}

check_run() { # binary, expect libsmr.so from the stage (1) or none (0)
    if [ "$2" = 1 ]; then
        LD_LIBRARY_PATH=$libdir ldd "$1" | grep -q "$libdir/libsmr.so" ||
            fail "$1 does not load libsmr.so from $libdir"
    else
        ! ldd "$1" | grep -q libsmr.so || fail "$1 (static) loads libsmr.so"
    fi
    res=$(LD_LIBRARY_PATH=$libdir "$1") || fail "$1 exited $?"
    [ "$res" = OK ] || fail "$1 printed '$res'"
    echo "$mode: OK"
}
