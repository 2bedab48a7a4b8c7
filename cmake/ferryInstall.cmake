# `cmake --install BUILD --prefix P`: the engine as a library.
#
#   P/include/ferry/{engine,net,memory,perf,...}/*.hpp   the public headers and what they include
#   P/lib/libferry_*.a                                   the engine and the libraries beneath it
#   P/lib/cmake/ferry/                                   find_package(ferry CONFIG): ferry::engine
#   P/bin/ferry                                          the CLI
#
# Headers keep their in-tree paths under include/ferry, so `#include "engine/engine.hpp"` reads
# the same inside the project and in a program using the installed package, and folder names as
# generic as net/ or queue/ stay out of P/include itself.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FERRY_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)

# The headers a program using the engine includes itself; those they include in turn (with
# quotes, from the project) are installed with them, found when installing.
set(FERRY_PUBLIC_HEADERS
  engine/engine.hpp
  engine/events.hpp
  engine/manifest.hpp
  engine/hub_source.hpp
  engine/stats_json.hpp)

# In-tree users and projects that vendor ferry with add_subdirectory spell it as installed users do.
add_library(ferry::engine ALIAS ferry_engine)

set(ferry_exported_targets ferry_boost ferry_options ferry_net ferry_memory ferry_queue ferry_perf ferry_engine)
set_target_properties(ferry_boost PROPERTIES EXPORT_NAME boost_impl)
set_target_properties(ferry_options PROPERTIES EXPORT_NAME options)
foreach(target net memory queue perf engine)
  set_target_properties(ferry_${target} PROPERTIES EXPORT_NAME ${target})
endforeach()

# A sanitized build's libraries need the sanitizer's runtime wherever they are linked.
if(FERRY_SANITIZE)
  target_link_options(ferry_options INTERFACE $<INSTALL_INTERFACE:-fsanitize=${FERRY_SANITIZE}>)
endif()

install(TARGETS ${ferry_exported_targets} EXPORT ferryTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS ferry RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(CODE "
  set(FERRY_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(FERRY_PUBLIC_HEADERS \"${FERRY_PUBLIC_HEADERS}\")
  set(FERRY_HEADER_DESTINATION \"${CMAKE_INSTALL_INCLUDEDIR}/ferry\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/ferryInstallHeaders.cmake\")")

install(EXPORT ferryTargets
  NAMESPACE ferry::
  DESTINATION ${FERRY_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ferryConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ferryConfig.cmake
  INSTALL_DESTINATION ${FERRY_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ferryConfig.cmake ${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake
  DESTINATION ${FERRY_INSTALL_CMAKEDIR})
