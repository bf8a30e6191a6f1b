# Install rules: headers, the library (static or shared, as BUILD_SHARED_LIBS says), the CMake
# package (noriwalConfig.cmake exporting noriwal::noriwal), noriwal.pc for pkg-config, and the
# tools when they were built. Included last by the root CMakeLists.txt, so that the tool targets
# exist when this runs. doc/packaging.md describes the installed layout.
include(CMakePackageConfigHelpers)

set(NORIWAL_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/noriwal"
    CACHE STRING "Where noriwalConfig.cmake is installed, relative to the prefix")
mark_as_advanced(NORIWAL_INSTALL_CMAKEDIR)

get_target_property(_noriwal_type noriwal TYPE)
if(_noriwal_type STREQUAL "STATIC_LIBRARY")
  set(NORIWAL_STATIC ON)
else()
  set(NORIWAL_STATIC OFF)
endif()

# Headers: the whole tree, impl/ and detail/ included (public templates include them).
install(DIRECTORY "${noriwal_SOURCE_DIR}/include/noriwal" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT noriwal_development)

install(TARGETS noriwal EXPORT noriwalTargets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT noriwal_runtime
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT noriwal_runtime
          NAMELINK_COMPONENT noriwal_development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT noriwal_development)

install(EXPORT noriwalTargets NAMESPACE noriwal:: DESTINATION "${NORIWAL_INSTALL_CMAKEDIR}"
        COMPONENT noriwal_development)

# While the major version is 0, a minor release may break the API (semantic versioning), so a
# consumer asking for 0.1 accepts 0.1.x only; from 1.0 on, any 1.y satisfies a request for 1.x.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_noriwal_compatibility SameMinorVersion)
else()
  set(_noriwal_compatibility SameMajorVersion)
endif()
configure_package_config_file("${noriwal_SOURCE_DIR}/cmake/noriwalConfig.cmake.in"
  "${noriwal_BINARY_DIR}/noriwalConfig.cmake" INSTALL_DESTINATION "${NORIWAL_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${noriwal_BINARY_DIR}/noriwalConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY ${_noriwal_compatibility})
# Our find modules go along: a static libnoriwal needs lz4::lz4 and zstd::libzstd at the
# consumer's link step, and neither liblz4 nor libzstd ships a CMake package on every system.
install(FILES "${noriwal_BINARY_DIR}/noriwalConfig.cmake" "${noriwal_BINARY_DIR}/noriwalConfigVersion.cmake"
              "${noriwal_SOURCE_DIR}/cmake/Findlz4.cmake" "${noriwal_SOURCE_DIR}/cmake/Findzstd.cmake"
        DESTINATION "${NORIWAL_INSTALL_CMAKEDIR}" COMPONENT noriwal_development)

# pkg-config. The file finds its prefix from its own location (${pcfiledir}), so that an install
# moved elsewhere, or made with `cmake --install --prefix`, stays usable.
set(_noriwal_pcdir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
foreach(dir INCLUDEDIR LIBDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(NORIWAL_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(NORIWAL_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${_noriwal_pcdir}")
  set(NORIWAL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _noriwal_up "/root/${_noriwal_pcdir}" "/root")
  string(REGEX REPLACE "/$" "" _noriwal_up "${_noriwal_up}")
  set(NORIWAL_PC_PREFIX "\${pcfiledir}/${_noriwal_up}")
endif()
# Boost is header-only for our consumers: only its include directory, when the compiler does
# not search it already.
set(NORIWAL_PC_CFLAGS "")
get_target_property(_noriwal_boost_includes Boost::headers INTERFACE_INCLUDE_DIRECTORIES)
if(NOT _noriwal_boost_includes)
  set(_noriwal_boost_includes "")
endif()
foreach(dir IN LISTS _noriwal_boost_includes)
  if(dir AND NOT dir MATCHES "\\$<" AND NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND NORIWAL_PC_CFLAGS " -I${dir}")
  endif()
endforeach()
get_target_property(_noriwal_definitions noriwal INTERFACE_COMPILE_DEFINITIONS)
if(NOT _noriwal_definitions)
  set(_noriwal_definitions "")
endif()
foreach(def IN LISTS _noriwal_definitions)
  if(def MATCHES "\\$<")
    message(FATAL_ERROR "noriwal.pc cannot express the generator expression ${def}; write it out")
  endif()
  string(APPEND NORIWAL_PC_CFLAGS " -D${def}")
endforeach()
# Asio's headers use threads; Threads::Threads is what CMake found for this (may be empty).
set(NORIWAL_PC_LIBS "")
if(CMAKE_THREAD_LIBS_INIT)
  set(NORIWAL_PC_LIBS " ${CMAKE_THREAD_LIBS_INIT}")
endif()
configure_file("${noriwal_SOURCE_DIR}/cmake/noriwal.pc.in" "${noriwal_BINARY_DIR}/noriwal.pc" @ONLY)
install(FILES "${noriwal_BINARY_DIR}/noriwal.pc" DESTINATION "${_noriwal_pcdir}"
        COMPONENT noriwal_development)

# Tools, when this configuration builds them (tools/ and perf/ were added before this file).
# With a shared libnoriwal in a private prefix, the installed tools find it next to themselves.
file(RELATIVE_PATH _noriwal_bin_to_lib "/root/${CMAKE_INSTALL_BINDIR}" "/root/${CMAKE_INSTALL_LIBDIR}")
foreach(tool wal-inspect wal-bench noriwal-kvd)
  if(TARGET ${tool})
    if(NOT NORIWAL_STATIC AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" AND NOT APPLE AND NOT WIN32)
      set_property(TARGET ${tool} APPEND PROPERTY INSTALL_RPATH "$ORIGIN/${_noriwal_bin_to_lib}")
    endif()
    install(TARGETS ${tool} RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT noriwal_tools)
  endif()
endforeach()

# noriwal-kvd links noriwal::raft; when that is a shared library, it goes along so that the
# installed server runs. (noriwal::raft is not exported to CMake consumers yet: its link to
# libraft's pkg-config target would need the package config to find libraft too.)
if(TARGET noriwal-kvd AND TARGET noriwal_raft)
  get_target_property(_noriwal_raft_type noriwal_raft TYPE)
  if(_noriwal_raft_type STREQUAL "SHARED_LIBRARY")
    install(TARGETS noriwal_raft LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT noriwal_tools)
  endif()
endif()
