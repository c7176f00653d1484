# ARMv7-A hard-float (Debian armhf), 32-bit, run under qemu-arm.
# Needs: gcc-arm-linux-gnueabihf, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/armhf.cmake
set(SMR_CROSS_TRIPLE arm-linux-gnueabihf)
set(SMR_CROSS_PROCESSOR armv7l)
set(SMR_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
