# 32-bit x86 (i686, SSE2 not assumed), run under qemu-i386.
# Needs: gcc-i686-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686.cmake
set(SMR_CROSS_TRIPLE i686-linux-gnu)
set(SMR_CROSS_PROCESSOR i686)
set(SMR_CROSS_QEMU qemu-i386)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
