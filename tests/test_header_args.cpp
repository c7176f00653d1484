// test_header_args.c compiled as C++ (-std=c++17 with the project's C++
// compiler, -std=c++20 with clang++): the same unused-argument checks,
// plus a lambda call and an explicit-bool class as `ex` (C++ only).
#include "test_header_args.c"
