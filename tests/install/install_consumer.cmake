# Run by the install_consumer test with cmake -P:
#   1. cmake --install <build> --prefix <scratch>/prefix
#   2. check that the installed package hides brook's private dependencies:
#      no public header includes Boost, fmt, Cap'n Proto, zlib, simdjson or
#      libcsv, and no exported target names one of their CMake targets
#   3. for each folder of CONSUMERS_DIR (a CMake project whose executable is
#      brook_consumer): configure it against that prefix only, build it, run
#      it (it checks its own output)
# Fails (FATAL_ERROR) at the first step that does.
foreach(var BROOK_BUILD_DIR BROOK_SOURCE_DIR CONSUMERS_DIR SCRATCH_DIR GENERATOR
            CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "install_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${SCRATCH_DIR}/prefix)
file(REMOVE_RECURSE ${SCRATCH_DIR})
file(MAKE_DIRECTORY ${SCRATCH_DIR})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

run_step("install" ${CMAKE_COMMAND} --install ${BROOK_BUILD_DIR} --prefix ${prefix})

# The installed package must not point back into the source or build tree:
# a consumer on another machine has neither.
file(GLOB_RECURSE config_files ${prefix}/*.cmake)
if(NOT config_files)
  message(FATAL_ERROR "install_consumer: no CMake package files under ${prefix}")
endif()
foreach(f ${config_files})
  file(READ ${f} text)
  string(REPLACE "${prefix}/" "" text "${text}")  # The scratch prefix lies in the build tree.
  foreach(tree ${BROOK_SOURCE_DIR} ${BROOK_BUILD_DIR})
    string(FIND "${text}" "${tree}/" pos)
    if(NOT pos EQUAL -1)
      message(FATAL_ERROR "install_consumer: ${f} refers to ${tree}")
    endif()
  endforeach()
endforeach()

# A consumer needs brook's headers and Abseil's only (brook's libraries are
# shared and link the rest privately): no installed file may match `regex`.
function(expect_no_private_dependency what regex)
  foreach(f ${ARGN})
    file(STRINGS ${f} leaks REGEX "${regex}")
    if(leaks)
      message(FATAL_ERROR "install_consumer: ${f} ${what} a private dependency: ${leaks}")
    endif()
  endforeach()
endfunction()
file(GLOB_RECURSE headers ${prefix}/include/brook/*.h)
expect_no_private_dependency("includes"
  "^[ \t]*#[ \t]*include[ \t]*[<\"](boost|fmt|capnp|kj|zlib|simdjson|csv)[/.]" ${headers})
# (IMPORTED_LINK_DEPENDENT_LIBRARIES may name them: it only tells the linker
# where a shared library's own dependencies are, and CMake skips a name the
# consumer has not defined.)
expect_no_private_dependency("names in its usage requirements"
  "INTERFACE_[A-Z_]+.*(Boost|fmt|CapnProto|ZLIB|simdjson)::" ${config_files})

set(common_args
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(MAKE_PROGRAM)
  list(APPEND common_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(CXX_LAUNCHER)
  list(APPEND common_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
if(BUILD_TYPE)
  list(APPEND common_args -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
if(SANITIZE)
  # brook's libraries were compiled with these; the program must link their runtime.
  list(APPEND common_args "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -fno-omit-frame-pointer"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()

file(GLOB consumers LIST_DIRECTORIES true ${CONSUMERS_DIR}/*)
set(built "")
foreach(source ${consumers})
  if(NOT EXISTS ${source}/CMakeLists.txt)
    continue()
  endif()
  get_filename_component(name ${source} NAME)
  set(consumer_build ${SCRATCH_DIR}/build-${name})
  run_step("configure consumer ${name}" ${CMAKE_COMMAND} -S ${source} -B ${consumer_build}
           -G ${GENERATOR} ${common_args})

  # find_package must have found the scratch install, not some other brook.
  file(STRINGS ${consumer_build}/CMakeCache.txt brook_dir_line REGEX "^brook_DIR:")
  string(REGEX REPLACE "^brook_DIR:[A-Z]+=" "" brook_dir "${brook_dir_line}")
  string(FIND "${brook_dir}" "${prefix}/" pos)
  if(NOT pos EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${name} found brook at '${brook_dir}', not under ${prefix}")
  endif()

  run_step("build consumer ${name}" ${CMAKE_COMMAND} --build ${consumer_build})
  run_step("run consumer ${name}" ${consumer_build}/brook_consumer)
  list(APPEND built ${name})
endforeach()
if(NOT built)
  message(FATAL_ERROR "install_consumer: no consumer project under ${CONSUMERS_DIR}")
endif()
message(STATUS "install_consumer: OK (${built}; brook_DIR=${brook_dir})")
