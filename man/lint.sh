#!/bin/sh
# man/lint.sh MANDOC PAGE... : `mandoc -Tlint PAGE...` at every level (STYLE
# included) must print nothing, except for what the machine's own manual
# database says about the system pages we cite.
#
# mandoc checks an .Xr to a page outside this tree against the machine's
# base manual (/usr/share/man) and its mandoc.db: "referenced manual not
# found" where the page is not installed, "outdated mandoc.db lacks NAME(S)
# entry" where it is but nobody ran makewhatis (stock Debian uses man-db and
# has no mandoc.db).  Neither says anything about our pages, and neither is
# set up by our scripts, so those two messages are dropped for the system
# pages listed in SMR_MAN_SYSTEM_XR (man/CMakeLists.txt), and only for them:
# a misspelt or new system reference still fails until it is listed.
# Cross references between our own pages resolve as NAME.SECTION in the
# current directory (the links at the top of the tree), so they are checked
# on every machine.
#
# Environment: SMR_MAN_SYSTEM_XR="fork(2) free(3) ..."
set -u
mandoc=$1
shift
out=$("$mandoc" -Tlint "$@" 2>&1)
rc=$?
left=$(printf '%s\n' "$out" | while IFS= read -r line; do
    [ -n "$line" ] || continue
    keep=1
    for xr in ${SMR_MAN_SYSTEM_XR:-}; do
        name=${xr%(*}
        sec=${xr#*(}
        sec=${sec%)}
        case $line in
        "mandoc: outdated mandoc.db lacks $name($sec) entry, run makewhatis "*)
            keep=0 ;;
        *": STYLE: referenced manual not found: Xr $name $sec")
            keep=0 ;;
        esac
    done
    [ $keep -eq 1 ] && printf '%s\n' "$line"
done)
if [ -n "$left" ]; then
    printf '%s\n' "$left"
    exit 1
fi
# mandoc exits 0 with nothing printed, or 1 with only STYLE messages (the
# dropped ones); anything worse printed something above.
[ $rc -le 1 ] || { echo "man/lint.sh: mandoc exited $rc" >&2; exit 1; }
exit 0
