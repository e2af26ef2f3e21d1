# The GPU attention check (test/native/check_attention.cu), for test/native/CMakeLists.txt to include
# when the CUDA backend is built:   include(${CMAKE_CURRENT_SOURCE_DIR}/attention.cmake)
# Run: build/.../check_attention [--quick | --no-bench]   (scripts/gpu-attn-check.sh builds it without CMake)
if(MYPT_HAVE_CUDA)
  add_executable(check_attention ${CMAKE_CURRENT_LIST_DIR}/check_attention.cu)
  set_target_properties(check_attention PROPERTIES CUDA_STANDARD 17)
  target_compile_options(check_attention PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -O3>)
  target_link_libraries(check_attention PRIVATE mypt_cuda mypt_cpu mypt_engine)
  # with the engine's CPU op present, the check also compares it with the double-precision reference
  if(EXISTS ${PROJECT_SOURCE_DIR}/binding/cpu/ops.cc)
    target_compile_definitions(check_attention PRIVATE MYPT_WITH_CPU_OPS=1)
  endif()
endif()
