# 64-bit POWER big-endian (ELFv1), run under qemu-ppc64.
# Needs: gcc-powerpc64-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/ppc64.cmake
set(SMR_CROSS_TRIPLE powerpc64-linux-gnu)
set(SMR_CROSS_PROCESSOR ppc64)
set(SMR_CROSS_QEMU qemu-ppc64)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
