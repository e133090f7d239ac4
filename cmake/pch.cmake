# Precompiled headers (CHARLA_PCH, off by default): the standard library, nlohmann/json and
# Asio/Beast are parsed once per build instead of once per source file, and Catch2 once
# for all the tests. Two PCHs are built (one for the engine, one for tests) and every
# other C++ target reuses one of them (REUSE_FROM), so adding a library or a test
# directory needs no edit here: charla_apply_pch() walks every target once the tree is
# configured. Only the contents of the headers below are precompiled; a source file that
# does not include them still compiles as before (a PCH only saves parsing).
#
# Why one shared PCH and not one per target: a PCH of Asio+Beast+json costs several
# seconds to build, and there are ~30 C++ targets (libraries, plugins, tests, fuzzers).
# Reusing needs the same compile flags, which every target here has (flags are set
# globally in the top-level CMakeLists.txt); GCC falls back to the plain headers if a
# PCH does not match, so a mismatch costs time, never correctness.
#
# ccache caches PCH users only with these sloppiness settings (ccache manual,
# "Precompiled headers"); they are passed through the launcher so a developer's own
# ccache.conf needs no change.

set(CHARLA_PCH_HEADERS
  <algorithm> <array> <atomic> <chrono> <condition_variable> <cstdint> <deque>
  <filesystem> <functional> <map> <memory> <mutex> <optional> <set> <string>
  <string_view> <thread> <unordered_map> <vector>
  <nlohmann/json.hpp>
  <boost/asio/io_context.hpp> <boost/asio/post.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/strand.hpp> <boost/asio/ip/tcp.hpp>
  <boost/beast/core.hpp> <boost/beast/http.hpp>)

function(charla_pch_setup)
  set(_dir ${CMAKE_BINARY_DIR}/pch)
  file(WRITE ${_dir}/pch_engine.cpp "// the engine PCH's own translation unit (cmake/pch.cmake)\n")
  add_library(charla_pch_engine OBJECT ${_dir}/pch_engine.cpp)
  target_link_libraries(charla_pch_engine PRIVATE Boost::boost nlohmann_json::nlohmann_json)
  target_precompile_headers(charla_pch_engine PRIVATE ${CHARLA_PCH_HEADERS})
  if(TARGET Catch2::Catch2)
    file(WRITE ${_dir}/pch_tests.cpp "// the tests PCH's own translation unit (cmake/pch.cmake)\n")
    add_library(charla_pch_tests OBJECT ${_dir}/pch_tests.cpp)
    target_link_libraries(charla_pch_tests PRIVATE Boost::boost nlohmann_json::nlohmann_json Catch2::Catch2)
      target_precompile_headers(charla_pch_tests PRIVATE ${CHARLA_PCH_HEADERS} <catch2/catch.hpp>)
  endif()
endfunction()

# Every C++ target below `dir` (recursively) reuses a PCH: the tests' one if it links
# charla_test_main, else the engine's. C sources (the vendored Lua code) and
# catch_main.cpp (it must define CATCH_CONFIG_MAIN before catch.hpp) are left out.
function(charla_apply_pch dir)
  get_property(_targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_targets})
    get_target_property(_type ${_t} TYPE)
    if(NOT _type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|EXECUTABLE|SHARED_LIBRARY)$"
       OR _t MATCHES "^charla_pch_" OR _t STREQUAL "charla_test_main")
      continue()
    endif()
    get_target_property(_srcs ${_t} SOURCES)
    set(_has_cxx OFF)
    foreach(_s ${_srcs})
      if(_s MATCHES "\\.c$")
        set_source_files_properties(${_s} DIRECTORY ${dir} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      elseif(_s MATCHES "\\.cpp$")
        set(_has_cxx ON)
      endif()
    endforeach()
    if(NOT _has_cxx)
      continue()
    endif()
    get_target_property(_libs ${_t} LINK_LIBRARIES)
    if(TARGET charla_pch_tests AND "charla_test_main" IN_LIST _libs)
      target_precompile_headers(${_t} REUSE_FROM charla_pch_tests)
    else()
      target_precompile_headers(${_t} REUSE_FROM charla_pch_engine)
    endif()
  endforeach()
  get_property(_subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(_d ${_subdirs})
    charla_apply_pch(${_d})
  endforeach()
endfunction()
