#include "launch/output_capture.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace kiln::launch {
namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

Result<OutputCapture> OutputCapture::Open(const std::filesystem::path& log_path,
                                          const Clock& clock) {
  OutputCapture capture;
  KILN_ASSIGN_OR_RETURN(RankLog log, RankLog::Open(log_path, clock));
  capture.log_.emplace(std::move(log));
  KILN_ASSIGN_OR_RETURN(auto out_pipe, MakePipe());
  KILN_ASSIGN_OR_RETURN(auto err_pipe, MakePipe());
  capture.out_ = std::move(out_pipe.first);
  capture.err_ = std::move(err_pipe.first);
  capture.child_out_ = std::move(out_pipe.second);
  capture.child_err_ = std::move(err_pipe.second);
  for (int fd : {capture.out_.get(), capture.err_.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return capture;
}

void OutputCapture::ChildStarted() {
  child_out_.reset();
  child_err_.reset();
}

void OutputCapture::AddPollFds(std::vector<pollfd>& fds) const {
  if (out_) fds.push_back({out_.get(), POLLIN, 0});
  if (err_) fds.push_back({err_.get(), POLLIN, 0});
}

Status OutputCapture::DrainAvailable() {
  KILN_RETURN_IF_ERROR(DrainOne(out_, Stream::kOut));
  return DrainOne(err_, Stream::kErr);
}

Status OutputCapture::DrainOne(UniqueFd& fd, Stream stream) {
  char buffer[kReadChunk];
  while (fd) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n > 0) {
      KILN_RETURN_IF_ERROR(
          log_->Write(stream, std::string_view(buffer, static_cast<std::size_t>(n))));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Status::Ok();
    fd.reset();  // EOF or a broken pipe.
  }
  return Status::Ok();
}

void OutputCapture::Close() {
  out_.reset();
  err_.reset();
}

}  // namespace kiln::launch
