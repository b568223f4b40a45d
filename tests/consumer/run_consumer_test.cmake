# Installs deephash from BUILD_DIR into a scratch prefix, then configures, builds and runs the
# consumer project against it with find_package(deephash).
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "installing deephash failed")
endif()
# The compiler that built deephash, without optimisation: the test is whether the package is
# found, compiles and links, and the programs give the right answers; optimising them would only
# lengthen the test (a minute at -O3, most of it compiling the whole library's header).
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -DCMAKE_PREFIX_PATH=${prefix}
                        -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE= RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer with find_package(deephash) failed")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --parallel 2 RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" "${WORK_DIR}/index.dhx" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer ran but gave wrong results")
endif()
if(EXISTS "${WORK_DIR}/build/consumer_mpi")  # built where deephash::mpi was installed
  execute_process(COMMAND "${MPIEXEC}" --allow-run-as-root --oversubscribe -np 2 "${WORK_DIR}/build/consumer_mpi"
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "the MPI consumer ran but gave wrong results")
  endif()
  message(STATUS "find_package(deephash COMPONENTS mpi) consumer: built and ran at 2 ranks")
elseif(MPIEXEC)
  message(FATAL_ERROR "deephash::mpi was built but find_package(deephash COMPONENTS mpi) did not find it")
endif()
message(STATUS "find_package(deephash) consumer: configured, built and ran")
