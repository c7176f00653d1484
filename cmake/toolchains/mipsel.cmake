# MIPS32r2 little-endian: no 64-bit atomics, 32-bit sequences, libatomic; run under qemu-mipsel.
# Needs: gcc-mipsel-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mipsel.cmake
set(SMR_CROSS_TRIPLE mipsel-linux-gnu)
set(SMR_CROSS_PROCESSOR mipsel)
set(SMR_CROSS_QEMU qemu-mipsel)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
