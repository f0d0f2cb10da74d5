# rtpm_library(NAME x SRCS ... DEPS ...): a static library rtpm_x, alias rtpm::x (installed
#   as realtime-pm::x when cmake/RtpmInstall.cmake lists it).
# rtpm_test(NAME x SRCS ... DEPS ... [NO_DISCOVER]): a GoogleTest binary registered with CTest
#   (each test its own CTest entry, or with NO_DISCOVER the binary as one entry).
# rtpm_benchmark(NAME x SRCS ... DEPS ...): a Google Benchmark binary.
# rtpm_fuzzer(NAME x SRCS ... DEPS ...): a libFuzzer target x_fuzz (fuzz/x_fuzz.cc) in the
#   `fuzz` preset (RTPM_FUZZ); in the other presets, with tests on, a program x_fuzz_replay
#   that runs the same entry point over files, and the CTest test fuzz_replay_x, which replays
#   the seed corpus fuzz/corpus/x and the crashers kept in fuzz/testdata/crashers/x.

set(RTPM_WARNINGS -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND RTPM_WARNINGS -Wshadow=local)
  # GCC 12 at -O3 reports std::string concatenation as overlapping memcpy
  # (-Wrestrict, GCC bug 105329): a false positive, silenced.
  list(APPEND RTPM_WARNINGS -Wno-restrict)
else()
  list(APPEND RTPM_WARNINGS -Wshadow-uncaptured-local)
endif()
if(RTPM_WERROR)
  list(APPEND RTPM_WARNINGS -Werror)
endif()
if(RTPM_SANITIZE)
  # -fno-sanitize=vptr: UBSan's dynamic-type check misfires on fmt's memory
  # buffers when spdlog (Debian's, built against the shared libfmt) grows one
  # for a long log line: "member call on address ... which does not point to
  # an object of type 'buffer'" (the vtable lives in the uninstrumented
  # libfmt.so). Every other UBSan check stays on.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(RTPM_FUZZ)
  # Every library gets libFuzzer's coverage instrumentation and the sanitizers;
  # only the fuzz targets link libFuzzer itself (rtpm_fuzzer).
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RTPM_FUZZ needs clang (the fuzz preset uses clang++-14)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_custom_target(fuzzers)
endif()

function(rtpm_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(rtpm_${A_NAME} STATIC ${A_SRCS})
  add_library(rtpm::${A_NAME} ALIAS rtpm_${A_NAME})
  # Installed, the headers are under the prefix's include/ (cmake/RtpmInstall.cmake).
  target_include_directories(rtpm_${A_NAME} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_compile_features(rtpm_${A_NAME} PUBLIC cxx_std_20)
  target_compile_options(rtpm_${A_NAME} PRIVATE ${RTPM_WARNINGS})
  target_link_libraries(rtpm_${A_NAME} PUBLIC ${A_DEPS})
endfunction()

function(rtpm_test)
  if(NOT RTPM_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "NO_DISCOVER" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${RTPM_WARNINGS})
  target_compile_definitions(${A_NAME} PRIVATE RTPM_SHARED_DIR="${RTPM_SHARED_DIR}"
                             RTPM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  if(A_NO_DISCOVER)
    # One CTest entry for the whole binary (thousands of parameterized cases).
    add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  else()
    gtest_discover_tests(${A_NAME} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

function(rtpm_benchmark)
  if(NOT RTPM_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE ${RTPM_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} benchmark::benchmark)
endfunction()

function(rtpm_fuzzer)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  if(RTPM_FUZZ)
    add_executable(${A_NAME}_fuzz ${A_SRCS})
    target_compile_options(${A_NAME}_fuzz PRIVATE ${RTPM_WARNINGS})
    target_link_libraries(${A_NAME}_fuzz PRIVATE ${A_DEPS})
    target_link_options(${A_NAME}_fuzz PRIVATE -fsanitize=fuzzer)
    add_dependencies(fuzzers ${A_NAME}_fuzz)
  elseif(RTPM_BUILD_TESTS)
    add_executable(${A_NAME}_fuzz_replay ${A_SRCS} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cc)
    target_compile_options(${A_NAME}_fuzz_replay PRIVATE ${RTPM_WARNINGS})
    target_link_libraries(${A_NAME}_fuzz_replay PRIVATE ${A_DEPS})
    add_test(NAME fuzz_replay_${A_NAME}
             COMMAND ${A_NAME}_fuzz_replay ${PROJECT_SOURCE_DIR}/fuzz/corpus/${A_NAME}
                     ${PROJECT_SOURCE_DIR}/fuzz/testdata/crashers/${A_NAME})
  endif()
endfunction()
