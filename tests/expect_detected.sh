#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# tests/expect_detected.sh PROGRAM [ARGS...]: run a deliberately broken
# Criterion build (test_list_broken: no grace period) and pass only if
# every test it ran failed or crashed, i.e. the detector saw the bug it
# exists to catch.  Passing tests, or no tests run, fail (ctest then fails).
set -u
out=$("$@" --color=never 2>&1)
rc=$?
printf '%s\n' "$out" | tail -n 15
syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
tested=$(printf '%s\n' "$syn" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
passing=$(printf '%s\n' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
if [ -z "$tested" ] || [ "$tested" -eq 0 ]; then
    echo "expect_detected: no test ran (exit status $rc)"
    exit 1
fi
if [ "$rc" -eq 0 ] || [ "${passing:-1}" -ne 0 ]; then
    echo "expect_detected: $passing of $tested broken runs passed: the" \
        "detector did not see reuse without a grace period"
    exit 1
fi
echo "expect_detected: all $tested broken runs detected (exit status $rc)"
exit 0
