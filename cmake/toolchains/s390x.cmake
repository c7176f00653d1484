# IBM z/Architecture, big-endian, 64-bit, run under qemu-s390x.
# Needs: gcc-s390x-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/s390x.cmake
set(SMR_CROSS_TRIPLE s390x-linux-gnu)
set(SMR_CROSS_PROCESSOR s390x)
set(SMR_CROSS_QEMU qemu-s390x)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
