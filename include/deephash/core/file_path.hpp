#pragma once
// Paths checked before they are opened. On Linux a directory opens for reading without error
// (ifstream, fopen, open): read whole it reports a size near 2^63 (std::bad_alloc), read as a
// stream it ends at once or fails with EISDIR. Every reader of a file therefore asks first,
// so that the error names the path and says what it is.

#include <sys/stat.h>

#include <string>

#include "deephash/core/error.hpp"

namespace deephash {

// Throws when `path` names a directory (`what`: the file the caller expects, for the message).
// A path that does not exist, or cannot be examined, is left to the open that follows, whose
// error says so.
inline void require_not_directory(const std::string& path, const std::string& what = "a file") {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(path, "is a directory, where " + what + " was expected");
}

}  // namespace deephash
