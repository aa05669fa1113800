#pragma once

// ReplyFile: a file as a response body, read from disk as the client takes it (a chunk at
// a time, at the pace of the socket), so a download of any size holds one chunk of memory.
// Range requests are answered by cpp-httplib from the same reader. Internal to server/.

#include <httplib.h>

#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace kiln::server {

// Bytes handed to the socket per read of the file.
inline constexpr std::size_t kFileChunkBytes = 256 * 1024;

// Opens `file` now (NotFound when it is missing, InvalidArgument when it is not a regular
// file, other open errors as errno Statuses) and sets the response to stream its bytes, its
// Content-Length the size it has now. A file that shrinks while it is sent ends the
// connection early, so the client sees a short body as an error, never a silently short file.
Status ReplyFile(httplib::Response& response, const std::filesystem::path& file,
                 std::string_view content_type = "application/octet-stream");

}  // namespace kiln::server
