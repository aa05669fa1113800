#include "collective/op_handle.h"

namespace kiln::collective {

bool OpHandle::Poll() const {
  std::lock_guard lock(mutex_);
  return done_;
}

Status OpHandle::Wait() const {
  std::unique_lock lock(mutex_);
  done_changed_.wait(lock, [&] { return done_; });
  return status_;
}

void OpHandle::Complete(Status status) {
  {
    std::lock_guard lock(mutex_);
    status_ = std::move(status);
    done_ = true;
  }
  done_changed_.notify_all();
}

}  // namespace kiln::collective
