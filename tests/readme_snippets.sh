#!/bin/sh
# readme_snippets.sh: build (and run) every fenced code block of a Markdown
# file, so that the README's examples cannot rot.  ctest runs it on
# README.md (readme_snippets) and on a file of broken blocks that it must
# reject (readme_snippets_selftest); see tests/CMakeLists.txt.
#
# usage: readme_snippets.sh MARKDOWN BUILD_DIR SOURCE_DIR CC CMAKE LIBSMR [SANITIZE]
#   LIBSMR: the build tree's libsmr.so; C blocks compile against the build
#   tree's headers (SOURCE_DIR/include, BUILD_DIR/include) and link it.
#   CMake and shell blocks run against the scratch prefix that ctest's
#   consumer_install fills (BUILD_DIR/stage, tests/consumer/stage.sh).
#
# The rule: a block says how it is checked by an HTML comment on the last
# non-blank line before its opening fence (invisible once rendered; it may
# be indented with the block, inside a list item):
#
#   <!-- snippet: KIND [ARGUMENT] -->
#
#   (no marker)        ```c only: a complete program; compiled with
#                      -Wall -Wextra -Werror, linked, run, must exit 0.
#                      Any other block without a marker fails the test.
#   program            the same, said explicitly.
#   wrap-main          ```c statements; placed in
#                      main(void) { smr_t smr = smr_create(...); { BLOCK }
#                      smr_barrier(smr); smr_destroy(smr); return 0; }
#                      after <smr.h>, <errno.h>, <pthread.h>, <stdio.h>,
#                      <stdlib.h> and <string.h>; compiled, run.
#   with-main FILE     ```c declarations without main(); FILE (relative to
#                      SOURCE_DIR) is included after them in the same
#                      translation unit and provides main; compiled, run.
#   cmake              ```cmake lines of a consumer's CMakeLists.txt; put
#                      after cmake_minimum_required, project(... C) and
#                      add_executable(app app.c), configured against the
#                      stage only, built; app must print OK.
#   sh                 ```sh commands (lines ending in \ joined), each run
#                      with sh -eu in a scratch directory that holds app.c,
#                      with pkg-config seeing only the stage and `cc` being
#                      the build's compiler; each must exit 0.  A command
#                      that leaves a.out has it run (it must print OK) and
#                      checked to load the stage's libsmr.so, or none if
#                      the command ends in "# static".
#   skip (REASON)      not checked; the reason is required.
#
# app.c is tests/consumer/pkgconfig/main.c (prints OK).  Errors in C blocks
# name the Markdown file and line (#line).  Every block is checked; the
# summary says how many failed, and the exit status is 1 if any did.
# shellcheck disable=SC2154,SC2034  # stage, libdir: set by smr_stage; mode: read by fail
set -u
md=$1 build=$2 src=$3 cc=$4 cmake=$5 lib=$6 san=${7:-}
# Blocks run in their own directories: make the paths absolute.
md=$(cd "$(dirname "$md")" && pwd)/$(basename "$md")
build=$(cd "$build" && pwd) src=$(cd "$src" && pwd)
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
mode=readme_snippets
name=$(basename "$md")
work=$build/readme-snippets/$(basename "$md" .md)
sanflags=
[ -n "$san" ] && sanflags="-fsanitize=$san -fno-omit-frame-pointer"
app_c=$src/tests/consumer/pkgconfig/main.c
tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout 120"

# shellcheck source=tests/consumer/stage.sh
. "$src/tests/consumer/stage.sh"

rm -rf "$work"
mkdir -p "$work" || exit 1

# ---- extract: block-N.txt and one manifest line per block ----------------
# manifest: N <TAB> fence line <TAB> language <TAB> kind <TAB> argument
# kind "-" is "no marker"; "!stale" is a marker that no fence follows.
awk -v dir="$work" '
function marker_of(s,    k) {
    sub(/^[ \t]*<!-- snippet:[ \t]*/, "", s)
    sub(/[ \t]*-->[ \t]*$/, "", s)
    k = s
    sub(/[ \t].*$/, "", k)
    mk = k
    s = substr(s, length(k) + 1)
    sub(/^[ \t]+/, "", s)
    ma = s
}
BEGIN { n = 0; inb = 0; mk = ""; ma = ""; mline = 0 }
inb {
    if ($0 ~ /^[ \t]*```[ \t]*$/) { inb = 0; close(f); next }
    print > f
    next
}
/^[ \t]*```/ {
    lang = $0
    sub(/^[ \t]*```/, "", lang)
    sub(/[ \t].*$/, "", lang)
    n++
    f = dir "/block-" n ".txt"
    printf "" > f
    printf "%d\t%d\t%s\t%s\t%s\n", n, NR, (lang == "" ? "-" : lang),
        (mk == "" ? "-" : mk), ma
    mk = ""; ma = ""; inb = 1; start = NR
    next
}
/^[ \t]*<!-- snippet:/ {
    if (mk != "")
        printf "0\t%d\t-\t!stale\t\n", mline
    marker_of($0)
    mline = NR
    next
}
/^[ \t]*$/ { next }
{
    if (mk != "")
        printf "0\t%d\t-\t!stale\t\n", mline
    mk = ""; ma = ""
}
END {
    if (inb)
        printf "0\t%d\t-\t!unclosed\t\n", start
    if (mk != "")
        printf "0\t%d\t-\t!stale\t\n", mline
}
' "$md" >"$work/manifest" || { echo "readme_snippets: cannot read $md" >&2; exit 1; }

# ---- checks, one subshell per block (stage.sh's fail ends only that) -----
compile_run() { # dir: compile dir/snippet.c against the build tree, run it
    # shellcheck disable=SC2086
    "$cc" $sanflags -O2 -g -Wall -Wextra -Werror -pthread \
        -I"$src/include" -I"$build/include" -o "$1/prog" "$1/snippet.c" \
        "$lib" -Wl,-rpath,"$(dirname "$lib")" || fail "does not compile"
    $tmo "$1/prog" || fail "compiled, but exited $? when run"
    echo "compiled (-Werror) and ran: exit 0"
}

check_c() { # dir, kind, arg, first line of the block
    d=$1 b=$d/block.txt
    case $2 in
    -|program)
        { echo "#line $(($4 + 1)) \"$name\""; cat "$b"; } >"$d/snippet.c" ;;
    wrap-main)
        {
            printf '#include <errno.h>\n#include <pthread.h>\n'
            printf '#include <stdio.h>\n#include <stdlib.h>\n'
            printf '#include <string.h>\n#include <smr.h>\n\n'
            printf 'int\nmain(void)\n{\n'
            printf '    smr_t smr = smr_create("readme", 0, 0);\n\n'
            printf '    if (smr == NULL)\n        return 99;\n    {\n'
            echo "#line $(($4 + 1)) \"$name\""
            cat "$b"
            printf '    }\n    smr_barrier(smr);\n    smr_destroy(smr);\n'
            printf '    return 0;\n}\n'
        } >"$d/snippet.c" ;;
    with-main)
        if [ -z "$3" ] || [ ! -f "$src/$3" ]; then
            fail "with-main: no file '$3'"
        fi
        { echo "#line $(($4 + 1)) \"$name\""; cat "$b";
          echo "#include \"$src/$3\""; } >"$d/snippet.c" ;;
    esac
    compile_run "$d"
}

check_cmake() { # dir
    d=$1
    smr_stage
    cp "$app_c" "$d/app.c"
    {
        echo "cmake_minimum_required(VERSION 3.16)"
        echo "project(readme_snippet LANGUAGES C)"
        echo "add_executable(app app.c)"
        cat "$d/block.txt"
    } >"$d/CMakeLists.txt"
    "$cmake" -S "$d" -B "$d/build" -DCMAKE_PREFIX_PATH="$stage" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$sanflags" \
        -DCMAKE_EXE_LINKER_FLAGS="$sanflags" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$d/configure.log" 2>&1 ||
        { cat "$d/configure.log"; fail "cmake configure failed"; }
    "$cmake" --build "$d/build" || fail "cmake build failed"
    shared=1
    sed 's/#.*//' "$d/block.txt" | grep -q 'smr::smr_static' && shared=0
    check_run "$d/build/app" "$shared"
}

check_sh() { # dir
    d=$1
    smr_stage
    cp "$app_c" "$d/app.c"
    # One command per line, continuation lines joined.
    awk '/\\$/ { sub(/\\$/, ""); acc = acc $0; next }
         { print acc $0; acc = "" }
         END { if (acc != "") print acc }' "$d/block.txt" >"$d/commands"
    k=0
    while IFS= read -r c; do
        case $c in ''|'#'*) continue ;; esac
        k=$((k + 1))
        { echo "cc() { \"\$SNIPPET_CC\" \$SNIPPET_SANFLAGS \"\$@\"; }"
          echo "$c"; } >"$d/cmd-$k.sh"
        echo "\$ $c"
        rm -f "$d/a.out"
        (cd "$d" && SNIPPET_CC=$cc SNIPPET_SANFLAGS=$sanflags $tmo sh -eu "cmd-$k.sh") ||
            fail "command $k exited $?: $c"
        if [ -f "$d/a.out" ]; then
            case $c in *'# static') shared=0 ;; *) shared=1 ;; esac
            check_run "$d/a.out" "$shared"
        fi
    done <"$d/commands"
    [ "$k" -gt 0 ] || fail "no command in the block"
}

total=0 failed=0
tab=$(printf '\t')
while IFS="$tab" read -r n line lang kind arg; do
    where="$name:$line"
    if [ "$n" = 0 ]; then
        total=$((total + 1)) failed=$((failed + 1))
        case $kind in
        '!stale') echo "FAIL $where: snippet marker not followed by a fenced block" ;;
        *) echo "FAIL $where: fenced block never closed" ;;
        esac
        continue
    fi
    total=$((total + 1))
    d=$work/$n
    mkdir -p "$d"
    mv "$work/block-$n.txt" "$d/block.txt"
    what="$lang block at $where ($kind${arg:+ $arg})"
    (
        mode="block at $where"
        case $lang:$kind in
        *:skip)
            case $arg in '('?*')') ;; *) fail "skip needs a (reason)" ;; esac
            echo "not checked" ;;
        c:-|c:program|c:wrap-main|c:with-main) check_c "$d" "$kind" "$arg" "$line" ;;
        cmake:cmake) check_cmake "$d" ;;
        sh:sh|bash:sh) check_sh "$d" ;;
        *:-) fail "no snippet marker: add <!-- snippet: KIND --> (tests/readme_snippets.sh lists them)" ;;
        *) fail "snippet kind '$kind' is unknown or does not fit a $lang block" ;;
        esac
    ) >"$d/log" 2>&1
    st=$?
    if [ "$st" -eq 0 ]; then
        echo "ok   $what: $(tail -n 1 "$d/log")"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
        sed 's/^/     | /' "$d/log" | tail -n 40
    fi
done <"$work/manifest"

# ---- what the text says about the installed files -------------------------
# Every libsmr.so.N the file names is the installed library's SONAME, and
# "nodelete" (dlclose is a no-op) is what its dynamic flags say.
fact() { # description, check (run in a subshell: fail ends only that)
    total=$((total + 1))
    if (mode="$name: $1"; smr_stage; eval "$2") >"$work/fact.log" 2>&1; then
        echo "ok   $name: $1"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $1"
        sed 's/^/     | /' "$work/fact.log"
    fi
}
soname_is() {
    if command -v readelf >/dev/null 2>&1; then
        got=$(readelf -d "$libdir/libsmr.so" |
            sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
        [ "$got" = "$1" ] || fail "the installed SONAME is $got"
    else
        [ -e "$libdir/$1" ] || fail "not installed"
    fi
}
nodelete() {
    readelf -d "$libdir/libsmr.so" | grep -q 'Flags:.*NODELETE' ||
        fail "$libdir/libsmr.so is not linked -z nodelete"
}
# shellcheck disable=SC2013  # the names hold no spaces
for so in $(grep -o 'libsmr\.so\.[0-9][0-9]*' "$md" | sort -u); do
    fact "names $so, the SONAME" "soname_is $so"
done
if grep -qi nodelete "$md" && command -v readelf >/dev/null 2>&1; then
    fact "says nodelete, as libsmr.so's FLAGS_1 do" nodelete
fi

echo "readme_snippets: $name: $failed of $total blocks failed"
[ "$total" -gt 0 ] || { echo "readme_snippets: no fenced blocks in $md"; exit 1; }
[ "$failed" -eq 0 ]
