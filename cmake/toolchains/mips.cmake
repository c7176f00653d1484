# MIPS32r2 big-endian: no 64-bit atomics, 32-bit sequences, libatomic; run under qemu-mips.
# Needs: gcc-mips-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mips.cmake
set(SMR_CROSS_TRIPLE mips-linux-gnu)
set(SMR_CROSS_PROCESSOR mips)
set(SMR_CROSS_QEMU qemu-mips)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
