#include "server/file_reply.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "common/unique_fd.h"

namespace kiln::server {

namespace {
// One download's open file and its read buffer, shared by the provider's calls.
struct FileSource {
  UniqueFd fd;
  std::string buffer;
};
}  // namespace

Status ReplyFile(httplib::Response& response, const std::filesystem::path& file,
                 std::string_view content_type) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return NotFoundError(fmt::format("{} does not exist", file.string()));
    return ErrnoError(fmt::format("cannot open {}", file.string()), errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return ErrnoError(fmt::format("cannot stat {}", file.string()), errno);
  }
  if (!S_ISREG(info.st_mode)) {
    return InvalidArgumentError(fmt::format("{} is not a regular file", file.string()));
  }
  auto source = std::make_shared<FileSource>();
  source->fd = std::move(fd);
  response.set_content_provider(
      static_cast<std::size_t>(info.st_size), std::string(content_type),
      [source](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        if (source->buffer.empty()) source->buffer.resize(kFileChunkBytes);
        const std::size_t want = std::min(length, source->buffer.size());
        ssize_t n = 0;
        do {
          n = ::pread(source->fd.get(), source->buffer.data(), want, static_cast<off_t>(offset));
        } while (n < 0 && errno == EINTR);
        // A read error or a file cut short: false ends the connection before Content-Length.
        if (n <= 0) return false;
        return sink.write(source->buffer.data(), static_cast<std::size_t>(n));
      });
  return Status::Ok();
}

}  // namespace kiln::server
