// SPDX-License-Identifier: BSD-2-Clause
//
// <smr_ht.h> from C++ (-std=c++11 -pedantic -Werror): the same program as
// the strict C11 check, every call and macro of the table, as C++.
#include "test_ht_header.c"
