# The allocator the charla binary and the benchmarks link (CHARLA_MALLOC).
#
# Why not glibc's malloc: a message is allocated on the HTTP thread and freed on the writer
# or a worker, and nlohmann::json builds many small objects per message. Under load glibc
# spent about a third of charla's CPU in malloc/free (malloc_consolidate, unlink_chunk);
# linking jemalloc doubled durable intake and raised engine turns/s by 1.65-1.85x in the
# same run (bench/README.md, "Allocator").
#
#   jemalloc (default)  libjemalloc-dev; tune at run time with MALLOC_CONF (see docs)
#   mimalloc            libmimalloc-dev
#   system              glibc malloc
#
# Sanitizer and fuzz builds always use the system allocator: ASan and TSan replace malloc
# themselves.
set(CHARLA_MALLOC "jemalloc" CACHE STRING "Allocator linked into charla: jemalloc, mimalloc or system")
set_property(CACHE CHARLA_MALLOC PROPERTY STRINGS jemalloc mimalloc system)

add_library(charla_malloc INTERFACE)
set(CHARLA_MALLOC_USED "${CHARLA_MALLOC}")
if(CHARLA_ASAN OR CHARLA_TSAN OR CHARLA_FUZZ)
  set(CHARLA_MALLOC_USED "system")
endif()

if(CHARLA_MALLOC_USED STREQUAL "jemalloc")
  pkg_check_modules(JEMALLOC IMPORTED_TARGET jemalloc)
  if(NOT JEMALLOC_FOUND)
    message(FATAL_ERROR "CHARLA_MALLOC=jemalloc but jemalloc was not found: install libjemalloc-dev "
                        "(apt-get install libjemalloc-dev) or configure with -DCHARLA_MALLOC=system")
  endif()
  target_link_libraries(charla_malloc INTERFACE PkgConfig::JEMALLOC)
elseif(CHARLA_MALLOC_USED STREQUAL "mimalloc")
  find_package(mimalloc CONFIG)
  if(NOT mimalloc_FOUND)
    message(FATAL_ERROR "CHARLA_MALLOC=mimalloc but mimalloc was not found: install libmimalloc-dev "
                        "(apt-get install libmimalloc-dev) or configure with -DCHARLA_MALLOC=system")
  endif()
  target_link_libraries(charla_malloc INTERFACE mimalloc)
elseif(NOT CHARLA_MALLOC_USED STREQUAL "system")
  message(FATAL_ERROR "CHARLA_MALLOC must be jemalloc, mimalloc or system, not '${CHARLA_MALLOC}'")
endif()
# `charla --version` names the allocator, so a report or a benchmark says what it ran on.
target_compile_definitions(charla_malloc INTERFACE CHARLA_MALLOC_NAME="${CHARLA_MALLOC_USED}")
message(STATUS "charla allocator: ${CHARLA_MALLOC_USED}")
