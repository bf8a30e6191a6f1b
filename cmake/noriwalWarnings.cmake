# Warning and sanitizer flags, applied per target with noriwal_set_warnings(target).
function(noriwal_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(NORIWAL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(NORIWAL_SANITIZE)
  string(REPLACE ";" "," _noriwal_san "${NORIWAL_SANITIZE}")
  add_compile_options(-fsanitize=${_noriwal_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  if("thread" IN_LIST NORIWAL_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's handler upcalls use std::atomic_thread_fence, which GCC 12 warns TSan does not
    # model (-Wtsan); the scheduler's mutex, which TSan does see, orders the same accesses.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=${_noriwal_san})
  # GCC's maybe-uninitialized analysis gives false positives on sanitizer-instrumented code
  # (seen in Boost.Asio's use_future under ASan at -O1); the ci build keeps the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()
