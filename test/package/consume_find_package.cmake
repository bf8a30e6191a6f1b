# Builds test_package/ against an installed noriwal with find_package(noriwal CONFIG REQUIRED),
# runs it, and checks that the program uses the library of the expected kind from that prefix.
#   -DSOURCE_DIR -DWORK_DIR -DPREFIX -DSHARED -DVERSION -DGENERATOR -DCXX
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

package_fresh_dir("${WORK_DIR}")
# check_imported_target.cmake runs inside the consumer's configure step and inspects the
# imported noriwal::noriwal (its kind, its link interface, where it was found).
package_run("configure" COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/test_package" -B "${WORK_DIR}"
  -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX}"
  "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror" "-Dnoriwal_ROOT=${PREFIX}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  "-DCMAKE_PROJECT_INCLUDE=${CMAKE_CURRENT_LIST_DIR}/check_imported_target.cmake"
  "-DNORIWAL_EXPECTED_PREFIX=${PREFIX}" "-DNORIWAL_EXPECTED_SHARED=${SHARED}")
package_run("build" COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}" --parallel 2)
package_run("run" COMMAND "${WORK_DIR}/test_package" OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT out MATCHES "^noriwal ${VERSION} ")
  message(FATAL_ERROR "test_package did not report version ${VERSION}: ${out}")
endif()
package_check_links("${WORK_DIR}/test_package" "${PREFIX}" "${SHARED}")
