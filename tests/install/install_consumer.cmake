# Run by the install_consumer test with cmake -P:
#   1. cmake --install <build> --prefix <scratch>/prefix
#   2. configure tests/install/consumer against that prefix only, build it
#   3. run it (it executes a small keyed job and checks its output)
# Fails (FATAL_ERROR) at the first step that does.
foreach(var BROOK_BUILD_DIR BROOK_SOURCE_DIR CONSUMER_SOURCE_DIR SCRATCH_DIR GENERATOR
            CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "install_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${SCRATCH_DIR}/prefix)
set(consumer_build ${SCRATCH_DIR}/build)
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

set(configure_args
  -S ${CONSUMER_SOURCE_DIR} -B ${consumer_build} -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(MAKE_PROGRAM)
  list(APPEND configure_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
if(BUILD_TYPE)
  list(APPEND configure_args -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
if(SANITIZE)
  # brook's libraries were compiled with these; the program must link their runtime.
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -fno-omit-frame-pointer"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()
run_step("configure consumer" ${CMAKE_COMMAND} ${configure_args})

# find_package must have found the scratch install, not some other brook.
file(STRINGS ${consumer_build}/CMakeCache.txt brook_dir_line REGEX "^brook_DIR:")
string(REGEX REPLACE "^brook_DIR:[A-Z]+=" "" brook_dir "${brook_dir_line}")
string(FIND "${brook_dir}" "${prefix}/" pos)
if(NOT pos EQUAL 0)
  message(FATAL_ERROR "install_consumer: found brook at '${brook_dir}', not under ${prefix}")
endif()

run_step("build consumer" ${CMAKE_COMMAND} --build ${consumer_build})
run_step("run consumer" ${consumer_build}/brook_consumer)
message(STATUS "install_consumer: OK (brook_DIR=${brook_dir})")
