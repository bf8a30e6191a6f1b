# noriwal_check_version(<version.hpp> <version>)
#
# The library version lives in two places: project(VERSION) for CMake, Conan and pkg-config, and
# the NORIWAL_VERSION_* macros for code. Configuring fails when they disagree, so that a release
# can never ship headers that name another version than its package.
#
# Also runs as a script (the package tests check that a mismatch is refused):
#   cmake -DHEADER=path/to/version.hpp -DVERSION=1.2.3 -P noriwalVersionCheck.cmake
function(noriwal_check_version header version)
  if(NOT EXISTS "${header}")
    message(FATAL_ERROR "noriwal version check: ${header} does not exist")
  endif()
  # Editing the header reruns the configure step, and so this check.
  if(NOT CMAKE_SCRIPT_MODE_FILE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
  endif()
  file(STRINGS "${header}" lines REGEX "^#define NORIWAL_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
  foreach(part MAJOR MINOR PATCH)
    set(${part} "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^#define NORIWAL_VERSION_${part} +([0-9]+)")
        set(${part} "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(${part} STREQUAL "")
      message(FATAL_ERROR "noriwal version check: ${header} has no numeric NORIWAL_VERSION_${part}")
    endif()
  endforeach()
  set(string "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^#define NORIWAL_VERSION_STRING +\"([^\"]*)\"")
      set(string "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(from_numbers "${MAJOR}.${MINOR}.${PATCH}")
  if(NOT from_numbers STREQUAL version OR NOT string STREQUAL version)
    message(FATAL_ERROR
      "noriwal version mismatch: ${header} says ${from_numbers} (NORIWAL_VERSION_STRING \"${string}\") "
      "but CMakeLists.txt project(VERSION) says ${version}. Change both together (and CHANGELOG.md).")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  noriwal_check_version("${HEADER}" "${VERSION}")
endif()
