#!/bin/sh
# Consumers of the installed libsmr, run by ctest (tests/CMakeLists.txt).
# usage: run.sh MODE BUILD_DIR SOURCE_DIR CC CMAKE [SANITIZE [CXX]]
#   install           cmake --install BUILD_DIR --prefix BUILD_DIR/stage
#   pkgconfig         cc main.c $(pkg-config --cflags --libs libsmr), run
#   pkgconfig_two_tu  the same with two files that include <smr.h>
#   static            two files + libsmr.a (pkg-config --cflags only)
#   cmake             find_package(smr) + smr::smr, build, run
#   cmake_static      find_package(smr) + smr::smr_static, two files, run
#   version           find_package(smr X.Y[.Z]) accepts and refuses what the
#                     README's "Versions and compatibility" says
#   pkgconfig_cxx     c++ -std=c++17 main.cpp (<smr.hpp>) $(pkg-config ...), run
#   cmake_cxx         the same C++ program through find_package(smr), run
#   other_config      abi/main.c built with the headers of the other
#                     SMR_DEBUG setting (config.h flipped) against the
#                     installed libsmr.so, run: one SONAME, one ABI
set -eu
mode=$1 build=$2 src=$3 cc=$4 cmake=$5 san=${6:-} cxx=${7:-c++}
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
pkgconfig_cxx)
    [ -f "$stage/include/smr.hpp" ] || fail "smr.hpp not installed"
    # shellcheck disable=SC2046,SC2086
    "$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror $sanflags \
        -o "$out/app" "$csrc/cxx/main.cpp" $(pkg-config --cflags --libs libsmr)
    check_run "$out/app" 1
    ;;
cmake_cxx)
    "$cmake" -S "$csrc/cmake-cxx" -B "$out" -DCMAKE_PREFIX_PATH="$stage" \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$sanflags" \
        -DCMAKE_EXE_LINKER_FLAGS="$sanflags" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "$cmake" --build "$out" --target app
    check_run "$out/app" 1
    ;;
other_config)
    # An application built against the other install: the same headers
    # but for <smr/config.h>.  A copy of the whole include tree, since
    # smr.h finds "smr/config.h" beside itself first.
    inc=$(pkg-config --variable=includedir libsmr)
    [ -f "$inc/smr/config.h" ] || fail "no smr/config.h under $inc"
    mkdir -p "$out/include"
    cp -R "$inc/." "$out/include/"
    cfg=$out/include/smr/config.h
    if grep -q '^#define SMR_CONFIG_DEBUG 1' "$cfg"; then
        sed -i 's/^#define SMR_CONFIG_DEBUG 1/#define SMR_CONFIG_DEBUG 0/' "$cfg"
    else
        sed -i 's/^#define SMR_CONFIG_DEBUG 0/#define SMR_CONFIG_DEBUG 1/' "$cfg"
    fi
    grep -q '^#define SMR_CONFIG_DEBUG' "$cfg" || fail "no SMR_CONFIG_DEBUG in $cfg"
    # shellcheck disable=SC2046,SC2086
    "$cc" $sanflags -o "$out/app" "$csrc/abi/main.c" -I"$out/include" \
        -pthread $(pkg-config --libs libsmr)
    check_run "$out/app" 1
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
version)
    # The rule (README "Versions and compatibility"): for 0.y.z only 0.y
    # at or below z; from 1.0, any x.y' <= x.y.z.  Derived from the
    # installed version, so it holds for every release.
    vfile=$(find "$stage" -name smrConfigVersion.cmake | head -n 1)
    [ -n "$vfile" ] || fail "no smrConfigVersion.cmake under $stage"
    v=$(sed -n 's/^set(PACKAGE_VERSION "\([0-9.]*\)")$/\1/p' "$vfile")
    [ -n "$v" ] || fail "no PACKAGE_VERSION in $vfile"
    IFS=. read -r x y z <<EOV
$v
EOV
    yes="$x.$y $x.$y.$z"
    [ "$z" -gt 0 ] && yes="$yes $x.$y.0"
    no="$x.$((y + 1)) $x.$y.$((z + 1)) $((x + 1)).0"
    if [ "$x" -eq 0 ]; then
        [ "$y" -gt 0 ] && no="$no 0.$((y - 1)) 0.0"
    else
        [ "$y" -gt 0 ] && yes="$yes $x.$((y - 1)) $x.0"
        [ "$x" -gt 1 ] && no="$no $((x - 1)).$y"
    fi
    {
        echo "cmake_minimum_required(VERSION 3.16)"
        echo "project(smr_version_check LANGUAGES C)"
        for want in $yes $no; do
            echo "unset(smr_FOUND)"
            echo "find_package(smr $want QUIET CONFIG PATHS \"$stage\" NO_DEFAULT_PATH)"
            echo "message(STATUS \"smr $want: found=\${smr_FOUND}\")"
        done
    } >"$out/CMakeLists.txt"
    log=$("$cmake" -S "$out" -B "$out/build" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF) || fail "configure failed"
    for want in $yes; do
        echo "$log" | grep -q "smr $want: found=1\$" ||
            fail "find_package(smr $want) refused installed $v"
    done
    for want in $no; do
        echo "$log" | grep -q "smr $want: found=0\$" ||
            fail "find_package(smr $want) accepted installed $v"
    done
    echo "$mode: $v accepts $yes; refuses $no"
    ;;
*)
    fail "unknown mode"
    ;;
esac
