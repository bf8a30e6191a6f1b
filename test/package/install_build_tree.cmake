# Installs the library of the build tree ctest runs in (the top-level build) into a staging
# prefix, as `cmake --install` would for a user, and checks the installed layout.
#   -DBINARY_DIR -DCONFIG -DPREFIX -DSOURCE_DIR -DLIBDIR -DSHARED -DTOOLS
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

string(REPLACE "|" ";" TOOLS "${TOOLS}")
package_fresh_dir("${PREFIX}")
package_run("install" COMMAND "${CMAKE_COMMAND}" --install "${BINARY_DIR}" --config "${CONFIG}" --prefix "${PREFIX}")
package_check_install(PREFIX "${PREFIX}" SOURCE_DIR "${SOURCE_DIR}" LIBDIR "${LIBDIR}" SHARED "${SHARED}" TOOLS ${TOOLS})
