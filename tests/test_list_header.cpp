// SPDX-License-Identifier: BSD-2-Clause
//
// <smr_list.h> from C++ (-std=c++11 -pedantic -Werror): the same program
// as the strict C11 check, every list macro, compiled as C++.
#include "test_list_header.c"
