# Shared part of the cross toolchain files in this folder (included by each
# <arch>.cmake after it sets SMR_CROSS_TRIPLE, SMR_CROSS_PROCESSOR and
# SMR_CROSS_QEMU).  Debian's cross gcc (gcc-<triple>) builds; qemu-user runs
# what was built (ctest, try_run) with the cross sysroot /usr/<triple> as its
# -L prefix, so dynamically linked programs find their loader and libc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${SMR_CROSS_PROCESSOR})

set(CMAKE_C_COMPILER ${SMR_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SMR_CROSS_TRIPLE}-g++)
set(CMAKE_AR ${SMR_CROSS_TRIPLE}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${SMR_CROSS_TRIPLE}-ranlib CACHE FILEPATH "")
set(CMAKE_OBJDUMP ${SMR_CROSS_TRIPLE}-objdump CACHE FILEPATH "")

set(SMR_CROSS_SYSROOT /usr/${SMR_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH ${SMR_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# LD_LIBRARY_PATH=/lib (which -L maps to ${SMR_CROSS_SYSROOT}/lib): the
# guest's ld.so otherwise reads the HOST's /etc/ld.so.cache, whose i386
# entries (/lib32/libc.so.6 from libc6-i386) it accepts for i686 and loads
# with the cross sysroot's ld.so; the mismatched pair hangs in
# pthread_create.  The sysroot's own libraries must come first.
set(CMAKE_CROSSCOMPILING_EMULATOR ${SMR_CROSS_QEMU} -L ${SMR_CROSS_SYSROOT}
    -E LD_LIBRARY_PATH=/lib)
