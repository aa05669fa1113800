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
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  std::unique_lock lock(mu_);
  const auto available = [&] { return !idle_.empty() || opened_ < size_; };
  const auto idle = [&] { return !idle_.empty(); };
  if (!returned_.wait_until(lock, deadline, available)) return Busy();
  if (idle_.empty()) {
    // Opened outside the lock: a connection can take seconds to open.
    ++opened_;
    lock.unlock();
    Result<std::unique_ptr<Connection>> connection = open_();
    lock.lock();
    if (connection.ok()) return Lease(*this, std::move(*connection));
    --opened_;
    // The server refused one more connection (its max_connections, say): the open ones
    // come back soon, so wait for one of them; the refusal stands when none is open.
    if (opened_ == 0) return connection.status();
    if (!returned_.wait_until(lock, deadline, idle)) return connection.status();
  }
  std::unique_ptr<Connection> connection = std::move(idle_.back());
  idle_.pop_back();
  return Lease(*this, std::move(connection));
}

Status ConnectionPool::Busy() const {
  return UnavailableError(fmt::format(
      "every connection to {} ({}) stayed busy for {} s: slow queries or locks held by other "
      "sessions; try again{}",
      describe_, size_, wait_.count() / 1000, open_ ? ", or raise KILN_PG_POOL_SIZE" : ""));
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(connection));
  }
  returned_.notify_one();
}

}  // namespace kiln::store::sql
