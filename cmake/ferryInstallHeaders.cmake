# Runs at install time (from ferryInstall.cmake): installs FERRY_PUBLIC_HEADERS and every project
# header they include, transitively, under FERRY_HEADER_DESTINATION. Found now rather than listed,
# so that a header gaining an include never leaves the installed copy unable to compile.
cmake_policy(PUSH)
cmake_policy(VERSION 3.25) # install scripts start with no policies set

if(IS_ABSOLUTE "${FERRY_HEADER_DESTINATION}")
  set(destination "$ENV{DESTDIR}${FERRY_HEADER_DESTINATION}")
else()
  set(destination "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${FERRY_HEADER_DESTINATION}")
endif()

set(pending ${FERRY_PUBLIC_HEADERS})
set(found "")
while(pending)
  list(POP_FRONT pending header)
  if(header IN_LIST found)
    continue()
  endif()
  if(NOT EXISTS "${FERRY_SOURCE_DIR}/${header}")
    message(FATAL_ERROR "ferry: ${header}, included by a public header, is not in ${FERRY_SOURCE_DIR}")
  endif()
  list(APPEND found ${header})
  file(STRINGS "${FERRY_SOURCE_DIR}/${header}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" included "${line}")
    list(APPEND pending ${included})
  endforeach()
endwhile()

list(SORT found)
foreach(header IN LISTS found)
  get_filename_component(folder "${header}" DIRECTORY)
  file(INSTALL "${FERRY_SOURCE_DIR}/${header}" DESTINATION "${destination}/${folder}")
endforeach()

cmake_policy(POP)
