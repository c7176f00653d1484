# cmake -DOBJDUMP=<objdump> -DOBJECTS=<a.o;b.o;...> -P check_readside.cmake
#
# The read side must never leave the inline fast path for an atomics
# helper: no libatomic (__atomic_*), no legacy __sync_*, no AArch64
# outline-atomics helper (__aarch64_*), no ARM kernel user helper
# (__kernel_*).  Checked on the object files, whose relocations name every
# callee (including MIPS's GOT calls, which the linked library hides).
cmake_minimum_required(VERSION 3.25)

set(SMR_READSIDE smr_enter smr_exit smr_lazy_enter smr_lazy_exit)
set(SMR_FORBIDDEN "^(__atomic_|__sync_|__aarch64_|__kernel_)")

set(found "")
set(bad 0)
foreach(obj ${OBJECTS})
  foreach(fn ${SMR_READSIDE})
    # 64-bit POWER ELFv1 names the code of fn ".fn" (fn is the descriptor).
    foreach(sym ${fn} .${fn})
      execute_process(COMMAND ${OBJDUMP} -dr --disassemble=${sym} ${obj}
        OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${OBJDUMP} failed on ${obj}: ${err}")
      endif()
      string(REGEX MATCH "\n([0-9a-f]+) <[.]?${fn}>:" hdr "${out}")
      if(hdr)
        break()
      endif()
    endforeach()
    if(NOT hdr)
      continue()
    endif()
    list(APPEND found ${fn})
    math(EXPR start "0x${CMAKE_MATCH_1}")
    # Relocations inside the function only: objdump may print earlier
    # ones (other functions') before the first instruction.
    string(REPLACE ";" "," out "${out}")
    string(REGEX MATCHALL "\n[ \t]+[0-9a-f]+: R_[A-Za-z0-9_]+[ \t]+[^\n]*" relocs
      "${out}")
    set(calls "")
    foreach(r ${relocs})
      string(REGEX MATCH "([0-9a-f]+): R_[A-Za-z0-9_]+[ \t]+([^ \t+@-]+)" _ "${r}")
      math(EXPR off "0x${CMAKE_MATCH_1}")
      set(callee "${CMAKE_MATCH_2}")
      if(off GREATER_EQUAL start AND callee MATCHES "${SMR_FORBIDDEN}")
        list(APPEND calls ${callee})
      endif()
    endforeach()
    if(calls)
      list(REMOVE_DUPLICATES calls)
      message("FAIL ${fn} (${obj}) calls ${calls}")
      math(EXPR bad "${bad} + 1")
    else()
      message("ok   ${fn}: no atomics helper call")
    endif()
  endforeach()
endforeach()
foreach(fn ${SMR_READSIDE})
  if(NOT fn IN_LIST found)
    message("FAIL ${fn}: exported twin not found in the library objects")
    math(EXPR bad "${bad} + 1")
  endif()
endforeach()
if(bad GREATER 0)
  message(FATAL_ERROR "${bad} read-side function(s) call an atomics helper")
endif()
