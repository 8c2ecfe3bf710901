# The gridrun C++ SDK for CMake: find_package(gridrun) gives
#
#   gridrun::sdk          an imported target: the header (gridrun/gridrun.h),
#                         C++17, threads and libprotobuf;
#   gridrun_generate_cpp(TARGET <target> PROTOS <file.proto>...)
#                         adds the C++ of your messages to <target>, generated
#                         at build time by protoc, with the generated headers
#                         on its include path.
#
# The messages' C++ is generated when your project builds, never shipped:
# generated code must come from the protoc of the libprotobuf it links.
# Installed by make install; relocatable (paths are found from this file's
# own location). See docs/sdk.md.

include(CMakeFindDependencyMacro)
# Protobuf's own CMake package first: from protobuf 22 on it carries the
# abseil libraries libprotobuf needs. Distributions that ship protobuf 3.x
# with pkg-config files only (Debian 12) are found by CMake's FindProtobuf.
find_package(Protobuf CONFIG QUIET)
if(NOT Protobuf_FOUND)
  find_dependency(Protobuf)
endif()
find_dependency(Threads)

get_filename_component(_gridrun_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET gridrun::sdk)
  add_library(gridrun::sdk INTERFACE IMPORTED)
  set_target_properties(gridrun::sdk PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_gridrun_prefix}/include"
    INTERFACE_COMPILE_FEATURES cxx_std_17
    INTERFACE_LINK_LIBRARIES "protobuf::libprotobuf;Threads::Threads")
endif()
unset(_gridrun_prefix)

# gridrun_generate_cpp compiles each .proto with its own directory as the
# import path, into a directory of the target's own, so that two targets
# may generate the same file.
function(gridrun_generate_cpp)
  cmake_parse_arguments(_arg "" "TARGET" "PROTOS" ${ARGN})
  if(NOT _arg_TARGET OR NOT _arg_PROTOS OR _arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "usage: gridrun_generate_cpp(TARGET <target> PROTOS <file.proto>...)")
  endif()
  if(TARGET protobuf::protoc)
    set(_protoc "$<TARGET_FILE:protobuf::protoc>")
  elseif(Protobuf_PROTOC_EXECUTABLE)
    set(_protoc "${Protobuf_PROTOC_EXECUTABLE}")
  else()
    message(FATAL_ERROR "gridrun_generate_cpp: no protoc found with libprotobuf (Debian: apt-get install protobuf-compiler)")
  endif()
  set(_out "${CMAKE_CURRENT_BINARY_DIR}/gridrun_generated/${_arg_TARGET}")
  file(MAKE_DIRECTORY "${_out}")
  foreach(_proto IN LISTS _arg_PROTOS)
    get_filename_component(_abs "${_proto}" ABSOLUTE)
    get_filename_component(_dir "${_abs}" DIRECTORY)
    get_filename_component(_name "${_abs}" NAME_WE)
    add_custom_command(
      OUTPUT "${_out}/${_name}.pb.cc" "${_out}/${_name}.pb.h"
      COMMAND "${_protoc}" -I "${_dir}" --cpp_out "${_out}" "${_abs}"
      DEPENDS "${_abs}"
      COMMENT "Generating the C++ of ${_proto}"
      VERBATIM)
    target_sources(${_arg_TARGET} PRIVATE "${_out}/${_name}.pb.cc" "${_out}/${_name}.pb.h")
  endforeach()
  target_include_directories(${_arg_TARGET} PRIVATE "${_out}")
endfunction()
