# Compiles test_package/test_package.cpp with one compiler command line made of
# `pkg-config --cflags --libs noriwal` (with --static for the static library), runs it, and
# checks that the program uses the library of the expected kind from the staging prefix.
#   -DSOURCE_DIR -DWORK_DIR -DPREFIX -DLIBDIR -DSHARED -DVERSION -DCXX -DPKG_CONFIG
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

package_fresh_dir("${WORK_DIR}")
# Only the staging prefix, ahead of the system's .pc files (which liblz4 and libzstd come from).
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")

package_run("modversion" COMMAND "${PKG_CONFIG}" --modversion noriwal OUTPUT_VARIABLE modversion)
string(STRIP "${modversion}" modversion)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config says noriwal ${modversion}, the project is ${VERSION}")
endif()

if(SHARED)
  set(static "")
else()
  set(static --static)
endif()
package_run("flags" COMMAND "${PKG_CONFIG}" ${static} --cflags --libs noriwal OUTPUT_VARIABLE flags)
string(STRIP "${flags}" flags)
message(STATUS "pkg-config ${static} --cflags --libs noriwal: ${flags}")
# lz4 and zstd are private to libnoriwal: only a static link names them.
if(SHARED AND flags MATCHES "-l(lz4|zstd)")
  message(FATAL_ERROR "shared link line names private dependencies: ${flags}")
elseif(NOT SHARED AND NOT (flags MATCHES "-llz4" AND flags MATCHES "-lzstd"))
  message(FATAL_ERROR "static link line lacks -llz4 / -lzstd: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")

set(exe "${WORK_DIR}/consumer")
set(rpath "")
if(SHARED)
  package_run("libdir" COMMAND "${PKG_CONFIG}" --variable=libdir noriwal OUTPUT_VARIABLE libdir)
  string(STRIP "${libdir}" libdir)
  set(rpath "-Wl,-rpath,${libdir}")
endif()
package_run("compile" COMMAND "${CXX}" -std=c++20 -Wall -Wextra -Wpedantic -Werror
  "-DNORIWAL_PACKAGE_VERSION=\"${modversion}\"" "${SOURCE_DIR}/test_package/test_package.cpp"
  ${flags} ${rpath} -o "${exe}")
package_run("run" COMMAND "${exe}" OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT out MATCHES "^noriwal ${VERSION} ")
  message(FATAL_ERROR "consumer did not report version ${VERSION}: ${out}")
endif()
package_check_links("${exe}" "${PREFIX}" "${SHARED}")
