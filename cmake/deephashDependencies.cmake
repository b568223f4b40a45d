# The dependencies of deephash::deephash, found the same way when building deephash and when an
# outside project calls find_package(deephash). Defines Eigen3::Eigen, xsimd, Threads::Threads
# and deephash::stb.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(xsimd 8)
# Debian's xsimd 8.1 package names an `xtl` target it does not need for integer batches and
# does not define; an empty stand-in keeps the link line clean when xtl is not installed.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_dependency(Threads)
find_dependency(stb)
