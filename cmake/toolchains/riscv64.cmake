# RV64GC (RVWMO memory model), run under qemu-riscv64.
# Needs: gcc-riscv64-linux-gnu, qemu-user.  Use: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/riscv64.cmake
set(SMR_CROSS_TRIPLE riscv64-linux-gnu)
set(SMR_CROSS_PROCESSOR riscv64)
set(SMR_CROSS_QEMU qemu-riscv64)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
