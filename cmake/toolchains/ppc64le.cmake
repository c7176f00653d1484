# POWER8+ little-endian (ELFv2), run under qemu-ppc64le.
# Needs: gcc-powerpc64le-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/ppc64le.cmake
set(SMR_CROSS_TRIPLE powerpc64le-linux-gnu)
set(SMR_CROSS_PROCESSOR ppc64le)
set(SMR_CROSS_QEMU qemu-ppc64le)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
