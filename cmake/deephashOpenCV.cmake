# OpenCV's dnn module, for the programs of this repository only (never a dependency of the
# library): the oracle test of our Caffe importer, the CPU speed anchor in the benchmarks, and the
# example of a frontend run by another inference library. Defines the target
# deephash_opencv_dnn when found.
#
# Debian's per-module packages (libopencv-dnn-dev and friends) install headers and libraries but
# no OpenCVConfig.cmake, which only the libopencv-dev metapackage ships, so without the package
# config the two libraries are looked up directly (unless -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON
# asks for no OpenCV at all).
find_package(OpenCV QUIET COMPONENTS core dnn)
if(OpenCV_FOUND)
  set(_opencv_libs ${OpenCV_LIBS})
  set(_opencv_includes ${OpenCV_INCLUDE_DIRS})
elseif(NOT CMAKE_DISABLE_FIND_PACKAGE_OpenCV)
  find_path(DEEPHASH_OPENCV_INCLUDE_DIR opencv2/dnn.hpp PATH_SUFFIXES opencv4)
  find_library(DEEPHASH_OPENCV_CORE_LIBRARY opencv_core)
  find_library(DEEPHASH_OPENCV_DNN_LIBRARY opencv_dnn)
  if(DEEPHASH_OPENCV_INCLUDE_DIR AND DEEPHASH_OPENCV_CORE_LIBRARY AND DEEPHASH_OPENCV_DNN_LIBRARY)
    set(_opencv_libs ${DEEPHASH_OPENCV_DNN_LIBRARY} ${DEEPHASH_OPENCV_CORE_LIBRARY})
    set(_opencv_includes ${DEEPHASH_OPENCV_INCLUDE_DIR})
  endif()
endif()
if(_opencv_libs AND NOT TARGET deephash_opencv_dnn)
  add_library(deephash_opencv_dnn INTERFACE)
  target_include_directories(deephash_opencv_dnn SYSTEM INTERFACE ${_opencv_includes})
  target_link_libraries(deephash_opencv_dnn INTERFACE ${_opencv_libs})
  target_compile_definitions(deephash_opencv_dnn INTERFACE DEEPHASH_HAVE_OPENCV_DNN=1)
  message(STATUS "OpenCV core + dnn found: Caffe oracle test, CPU anchor benchmark and OpenCV frontend example")
else()
  message(STATUS "OpenCV core + dnn not found (apt install libopencv-dnn-dev): their test, benchmark and example are skipped")
endif()
