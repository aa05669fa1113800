#include "store/sql/connection_pool.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::store::sql {

ConnectionPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Return(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::unique_ptr<Connection> first, Opener open, std::size_t size,
                               std::chrono::milliseconds wait)
    : open_(std::move(open)), size_(open_ ? std::max<std::size_t>(size, 1) : 1), wait_(wait) {
  describe_ = first->Describe();
  idle_.push_back(std::move(first));
  opened_ = 1;
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  std::unique_lock lock(mu_);
  const auto available = [&] { return !idle_.empty() || opened_ < size_; };
  if (!returned_.wait_for(lock, wait_, available)) {
    return UnavailableError(fmt::format(
        "every connection to {} ({}) stayed busy for {} s: slow queries or locks held by other "
        "sessions; try again{}",
        describe_, size_, wait_.count() / 1000, open_ ? ", or raise KILN_PG_POOL_SIZE" : ""));
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(connection));
  }
  // Opened outside the lock: a connection can take seconds to open.
  ++opened_;
  lock.unlock();
  Result<std::unique_ptr<Connection>> connection = open_();
  if (!connection.ok()) {
    lock.lock();
    --opened_;
    returned_.notify_one();
    return connection.status();
  }
  return Lease(*this, std::move(*connection));
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(connection));
  }
  returned_.notify_one();
}

}  // namespace kiln::store::sql
