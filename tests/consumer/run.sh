#!/bin/sh
# Consumers of the installed libsmr, run by ctest (tests/CMakeLists.txt).
# usage: run.sh MODE BUILD_DIR SOURCE_DIR CC CMAKE [SANITIZE]
#   install           cmake --install BUILD_DIR --prefix BUILD_DIR/stage
#   pkgconfig         cc main.c $(pkg-config --cflags --libs libsmr), run
#   pkgconfig_two_tu  the same with two files that include <smr.h>
#   static            two files + libsmr.a (pkg-config --cflags only)
#   cmake             find_package(smr) + smr::smr, build, run
#   cmake_static      find_package(smr) + smr::smr_static, two files, run
set -eu
mode=$1 build=$2 src=$3 cc=$4 cmake=$5 san=${6:-}
stage=$build/stage
csrc=$src/tests/consumer
out=$build/consumer-$mode
sanflags=
[ -n "$san" ] && sanflags="-fsanitize=$san -fno-omit-frame-pointer"

fail() { echo "FAIL ($mode): $*" >&2; exit 1; }

if [ "$mode" = install ]; then
    rm -rf "$stage"
    "$cmake" --install "$build" --prefix "$stage"
    exit 0
fi

# GNUInstallDirs may pick lib, lib64 or lib/<multiarch>: find the .pc file.
pc=$(find "$stage" -name libsmr.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no libsmr.pc under $stage"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
[ -f "$libdir/libsmr.a" ] || fail "no libsmr.a in $libdir"
ls "$libdir"/libsmr.so.* >/dev/null 2>&1 || fail "no libsmr.so.N in $libdir"
rm -rf "$out"
mkdir -p "$out"

# Nothing from the source or build tree may leak in: only the stage.
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_LIBDIR=$pcdir
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

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

case $mode in
pkgconfig)
    cflags=$(pkg-config --cflags libsmr)
    case $cflags in *"$stage"*) ;; *) fail "cflags '$cflags' not in stage";; esac
    # shellcheck disable=SC2046,SC2086
    "$cc" $sanflags -o "$out/app" "$csrc/pkgconfig/main.c" \
        $(pkg-config --cflags --libs libsmr)
    check_run "$out/app" 1
    ;;
pkgconfig_two_tu)
    # shellcheck disable=SC2046,SC2086
    "$cc" $sanflags -DTWO_TU -o "$out/app" "$csrc/pkgconfig/main.c" \
        "$csrc/pkgconfig/other.c" $(pkg-config --cflags --libs libsmr)
    check_run "$out/app" 1
    ;;
static)
    # shellcheck disable=SC2046,SC2086
    "$cc" $sanflags -DTWO_TU -o "$out/app" "$csrc/pkgconfig/main.c" \
        "$csrc/pkgconfig/other.c" $(pkg-config --cflags libsmr) \
        "$libdir/libsmr.a" $(pkg-config --static --libs-only-l libsmr |
            sed 's/-lsmr//') -pthread
    check_run "$out/app" 0
    ;;
cmake|cmake_static)
    target=app
    [ "$mode" = cmake_static ] && target=app_static
    "$cmake" -S "$csrc/cmake" -B "$out" -DCMAKE_PREFIX_PATH="$stage" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$sanflags" \
        -DCMAKE_EXE_LINKER_FLAGS="$sanflags" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "$cmake" --build "$out" --target "$target"
    if [ "$mode" = cmake ]; then check_run "$out/app" 1
    else check_run "$out/app_static" 0; fi
    ;;
*)
    fail "unknown mode"
    ;;
esac
