// stb_image's decoders compiled into the image fuzz target itself: Debian's libstb.so is built
// without coverage or sanitizer instrumentation, so fuzzing through it would be blind inside the
// decoders. These definitions (from the same stb_image.h the library uses) take precedence over
// the shared library's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
