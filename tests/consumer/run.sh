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

# shellcheck source=tests/consumer/stage.sh
. "$csrc/stage.sh"

if [ "$mode" = install ]; then
    rm -rf "$stage"
    "$cmake" --install "$build" --prefix "$stage"
    exit 0
fi

smr_stage
rm -rf "$out"
mkdir -p "$out"

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
