# ARMv8-A, 64-bit (arm64), run under qemu-aarch64.
# Needs: gcc-aarch64-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64.cmake
set(SMR_CROSS_TRIPLE aarch64-linux-gnu)
set(SMR_CROSS_PROCESSOR aarch64)
set(SMR_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
