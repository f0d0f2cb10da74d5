# What `cmake --install` puts under the prefix (GNUInstallDirs folders):
#   bin/realtime-pm
#   lib/librtpm_<module>.a                    the libraries below, static
#   include/rtpm/<module>/*.h                 their public headers (no internal/, no tests)
#   lib/cmake/realtime-pm/                    find_package(realtime-pm): targets
#                                             realtime-pm::<module>, version file
#   lib/pkgconfig/realtime-pm.pc              pkg-config --cflags --libs realtime-pm
#
# Static libraries: the API is C++ templates and inline code with no stable
# ABI yet (0.x), so a shared library would break its users at every release
# without a SONAME policy; static archives link only what a program uses and
# leave a self-contained binary. Their dependencies (Boost 1.81 headers,
# OpenSSL, SQLite3, spdlog, Threads, hiredis) are found again by the package config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The libraries of the installed package, in dependency order (dependencies
# last, as the linker wants them for pkg-config). rtpm/testing and rtpm/conformance
# (test tools of this project) are not installed.
set(RTPM_INSTALLED_LIBRARIES client server auth room store presence collab protocol transform model json base)
# The public headers of rtpm/server (the rest are the server's parts).
set(RTPM_SERVER_PUBLIC_HEADERS server.h options.h)

foreach(lib IN LISTS RTPM_INSTALLED_LIBRARIES)
  # realtime-pm::<lib> is the installed target's name; the alias gives it in
  # this tree too, so examples/ links the same names either way.
  set_target_properties(rtpm_${lib} PROPERTIES EXPORT_NAME ${lib})
  add_library(realtime-pm::${lib} ALIAS rtpm_${lib})
  if(lib STREQUAL "server")
    list(TRANSFORM RTPM_SERVER_PUBLIC_HEADERS PREPEND ${PROJECT_SOURCE_DIR}/rtpm/server/
         OUTPUT_VARIABLE headers)
  else()
    file(GLOB headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/rtpm/${lib}/*.h)
    list(FILTER headers EXCLUDE REGEX "_test[^/]*\\.h$")
  endif()
  install(FILES ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rtpm/${lib})
  list(APPEND RTPM_PUBLIC_HEADERS ${headers})
  list(APPEND RTPM_INSTALLED_TARGETS rtpm_${lib})
  string(APPEND RTPM_PC_LIBS " -lrtpm_${lib}")
endforeach()

# The internal/ headers that public ones include (e.g. model/fragment.h holds
# an internal/child_list.h by value) are installed too, and only those: they
# are not API, but the public headers do not compile without them.
set(pending ${RTPM_PUBLIC_HEADERS})
set(internal_headers)
while(pending)
  list(POP_FRONT pending header)
  file(STRINGS ${header} includes REGEX "^#include \"rtpm/[a-z_]+/internal/[a-z_]+\\.h\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(NOT included IN_LIST internal_headers)
      list(APPEND internal_headers ${included})
      list(APPEND pending ${PROJECT_SOURCE_DIR}/${included})
    endif()
  endforeach()
endwhile()
foreach(included IN LISTS internal_headers)
  get_filename_component(folder ${included} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/${included} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${folder})
endforeach()

install(TARGETS realtime-pm RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${RTPM_INSTALLED_TARGETS}
        EXPORT realtime-pm-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(RTPM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/realtime-pm)
install(EXPORT realtime-pm-targets NAMESPACE realtime-pm:: DESTINATION ${RTPM_CMAKE_DIR})
configure_package_config_file(cmake/realtime-pm-config.cmake.in
  ${PROJECT_BINARY_DIR}/realtime-pm-config.cmake INSTALL_DESTINATION ${RTPM_CMAKE_DIR})
# Semantic versioning: a release is compatible with those of its major
# version; while that is 0, a minor release may break the API, so only the
# same 0.minor matches.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(compatibility SameMinorVersion)
else()
  set(compatibility SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/realtime-pm-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${compatibility})
install(FILES ${PROJECT_BINARY_DIR}/realtime-pm-config.cmake
              ${PROJECT_BINARY_DIR}/realtime-pm-config-version.cmake
        DESTINATION ${RTPM_CMAKE_DIR})

# realtime-pm.pc, relocatable: paths relative to the .pc file's own folder, so
# `cmake --install --prefix DIR` works for any DIR.
set(pc_dir ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH RTPM_PC_PREFIX ${pc_dir} ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" RTPM_PC_PREFIX "${RTPM_PC_PREFIX}")
file(RELATIVE_PATH RTPM_PC_LIBDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_LIBDIR})
file(RELATIVE_PATH RTPM_PC_INCLUDEDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_INCLUDEDIR})
string(STRIP "${RTPM_PC_LIBS}" RTPM_PC_LIBS)
configure_file(cmake/realtime-pm.pc.in ${PROJECT_BINARY_DIR}/realtime-pm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/realtime-pm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
