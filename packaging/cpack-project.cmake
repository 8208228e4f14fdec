# Read by cpack for each package it makes (CPACK_PROJECT_CONFIG_FILE): a second build of the
# same tree with a higher Debian revision, for the upgrade test, without reconfiguring:
#   TENEX_PACKAGE_RELEASE=2 cpack -G DEB -B DIR
if(DEFINED ENV{TENEX_PACKAGE_RELEASE} AND NOT "$ENV{TENEX_PACKAGE_RELEASE}" STREQUAL "")
    set(CPACK_DEBIAN_PACKAGE_RELEASE "$ENV{TENEX_PACKAGE_RELEASE}")
endif()
