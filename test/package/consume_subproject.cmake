# Builds test/package/subproject, a parent project that takes noriwal with FetchContent from the
# source tree (no network), runs its program, installs the parent and checks that only the
# parent's own program was installed.
#   -DSOURCE_DIR -DWORK_DIR -DVERSION -DGENERATOR -DCXX
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

package_fresh_dir("${WORK_DIR}")
set(build "${WORK_DIR}/build")
set(prefix "${WORK_DIR}/install")
package_run("configure" COMMAND "${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/subproject" -B "${build}"
  -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX}"
  "-DNORIWAL_SOURCE_DIR=${SOURCE_DIR}"
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
package_run("build" COMMAND "${CMAKE_COMMAND}" --build "${build}" --parallel 2)
package_run("run" COMMAND "${build}/consumer" OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT out MATCHES "^noriwal ${VERSION} ")
  message(FATAL_ERROR "consumer did not report version ${VERSION}: ${out}")
endif()
package_run("install" COMMAND "${CMAKE_COMMAND}" --install "${build}" --prefix "${prefix}")
file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
if(NOT installed STREQUAL "bin/consumer")
  message(FATAL_ERROR "installing the parent project installed more than its program: ${installed}")
endif()
