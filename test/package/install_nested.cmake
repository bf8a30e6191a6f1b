# Builds the library alone in the other variant than the top-level build (shared when that one is
# static), from the source tree in a fresh build directory, installs it into a staging prefix and
# checks the installed layout.
#   -DSOURCE_DIR -DWORK_DIR -DPREFIX -DLIBDIR -DSHARED -DGENERATOR -DCXX -DWERROR
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

package_fresh_dir("${WORK_DIR}")
package_fresh_dir("${PREFIX}")
package_run("configure" COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}" -G "${GENERATOR}"
  -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX}"
  "-DBUILD_SHARED_LIBS=${SHARED}" "-DNORIWAL_WERROR=${WERROR}" "-DCMAKE_INSTALL_LIBDIR=${LIBDIR}"
  -DNORIWAL_BUILD_TESTS=OFF -DNORIWAL_BUILD_TOOLS=OFF -DNORIWAL_BUILD_PERF=OFF -DNORIWAL_BUILD_EXAMPLES=OFF)
package_run("build" COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}" --parallel 2)
package_run("install" COMMAND "${CMAKE_COMMAND}" --install "${WORK_DIR}" --prefix "${PREFIX}")
package_check_install(PREFIX "${PREFIX}" SOURCE_DIR "${SOURCE_DIR}" LIBDIR "${LIBDIR}" SHARED "${SHARED}")
