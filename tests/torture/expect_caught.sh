#!/bin/sh
# expect_caught.sh [--cpus N] PATTERN PROGRAM [ARGS...]
#
# For the deliberately broken library variants: passes (exit 0) only if
# PROGRAM exits with status 1 AND prints a line matching PATTERN (grep -E),
# that is, only if the program itself detected the bug.  A crash, a signal,
# a timeout, a setup error (status 2) or a clean PASS is "not caught" and
# fails the test.  --cpus N: skip (exit 77) on hosts with fewer than N
# CPUs, where the race cannot happen at all.
set -u
cpus=1
if [ "${1:-}" = "--cpus" ]; then
    cpus=$2
    shift 2
fi
if [ $# -lt 2 ]; then
    echo "usage: expect_caught.sh [--cpus N] PATTERN PROGRAM [ARGS...]" >&2
    exit 2
fi
pattern=$1
shift
have=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo 1)
if [ "$have" -lt "$cpus" ]; then
    echo "expect_caught: SKIP: $have CPU(s), the race needs $cpus"
    exit 77
fi
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
    echo "expect_caught: caught: exit status 1 and /$pattern/"
    exit 0
fi
echo "expect_caught: NOT caught: exit status $rc; wanted 1 and /$pattern/"
exit 1
