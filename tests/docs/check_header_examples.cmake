# header_examples_in_sync: every code example in a public header's comment
# (the run of `//   `-indented lines after a `// Example:` line; blank `//`
# lines inside it allowed) must appear, line for line after trimming each
# line, as consecutive lines of header_examples_test.cc, which compiles and
# runs it. Fails naming the header and line of each example that drifted.
#   cmake -DSOURCE_DIR=<repo> -P check_header_examples.cmake
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repo root> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
set(test_file ${SOURCE_DIR}/tests/docs/header_examples_test.cc)

# A file's lines as a list. `;`, `[` and `]` would split or glue list elements,
# so they are swapped for placeholders (consistently on both sides).
function(read_lines path out)
  file(READ ${path} text)
  string(REPLACE ";" "<SEMI>" text "${text}")
  string(REPLACE "[" "<LBR>" text "${text}")
  string(REPLACE "]" "<RBR>" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

read_lines(${test_file} test_lines)
set(test_text "\n")
foreach(line IN LISTS test_lines)
  string(STRIP "${line}" line)
  string(APPEND test_text "${line}\n")
endforeach()

file(GLOB headers
     ${SOURCE_DIR}/engine/include/brook/*.h
     ${SOURCE_DIR}/engine/include/brook/testing/*.h
     ${SOURCE_DIR}/operators/include/brook/operators/*.h
     ${SOURCE_DIR}/connectors/include/brook/connectors/*.h
     ${SOURCE_DIR}/web/include/brook/web/*.h)

set(checked 0)
set(failures "")
foreach(header IN LISTS headers)
  file(RELATIVE_PATH rel ${SOURCE_DIR} ${header})
  read_lines(${header} lines)
  set(n 0)
  set(in_example FALSE)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(in_example)
      if(line MATCHES "^[ \t]*//   ")
        # (not REGEX REPLACE: CMake applies `^` again after each match)
        string(FIND "${line}" "//" slashes)
        math(EXPR slashes "${slashes} + 2")
        string(SUBSTRING "${line}" ${slashes} -1 code)
        string(STRIP "${code}" code)
        string(APPEND example "${blanks}${code}\n")
        set(blanks "")
        continue()
      elseif(line MATCHES "^[ \t]*//[ \t]*$")
        string(APPEND blanks "\n")  # kept only if code follows
        continue()
      endif()
      set(in_example FALSE)
      math(EXPR checked "${checked} + 1")
      if(example STREQUAL "")
        string(APPEND failures
               "${rel}:${start}: `// Example:` is not followed by `//   ` code lines\n")
      else()
        string(FIND "${test_text}" "\n${example}" pos)
        if(pos EQUAL -1)
          string(APPEND failures "${rel}:${start}: example not found verbatim in "
                                 "tests/docs/header_examples_test.cc:\n${example}")
        endif()
      endif()
    endif()
    if(line MATCHES "^[ \t]*// Example:[ \t]*$")
      set(in_example TRUE)
      math(EXPR start "${n} + 1")
      set(example "")
      set(blanks "")
    endif()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "no `// Example:` in the public headers under ${SOURCE_DIR}")
endif()
if(NOT failures STREQUAL "")
  string(REPLACE "<SEMI>" ";" failures "${failures}")
  string(REPLACE "<LBR>" "[" failures "${failures}")
  string(REPLACE "<RBR>" "]" failures "${failures}")
  message("${failures}")  # as is (FATAL_ERROR would reflow the code)
  message(FATAL_ERROR "header examples out of sync with tests/docs/header_examples_test.cc "
                      "(each example's lines, trimmed, must appear there consecutively): "
                      "see above")
endif()
message(STATUS "${checked} header examples in sync with tests/docs/header_examples_test.cc")
