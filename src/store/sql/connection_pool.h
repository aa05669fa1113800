#pragma once

// ConnectionPool: the connections of one SqlStore (sql_store.h). Each store call leases one
// connection for its duration, so a call that waits on the database (a lock held by another
// session, a slow query) holds up only calls beyond the pool's size, not every caller of
// the store. Connections are opened on demand, up to the pool's size, and kept.
//
// A pool of size 1 serialises every call on one connection: the embedded SQLite store
// (one file, one writer at a time anyway).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/sql/statement.h"

namespace kiln::store::sql {

class ConnectionPool {
 public:
  using Opener = std::function<Result<std::unique_ptr<Connection>>()>;

  // A leased connection, returned to its pool when the lease ends.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // `first` is open already (the schema migrated through it); `open` opens more, up to
  // `size` in all (without `open`, the pool is `first` alone). A caller waits at most `wait` for a
  // connection when all are leased.
  ConnectionPool(std::unique_ptr<Connection> first, Opener open, std::size_t size,
                 std::chrono::milliseconds wait);

  // Unavailable when every connection stayed leased for the whole wait; when opening
  // another one fails, waits for a leased one instead, and returns the failure only when
  // none is open or none came back in the wait.
  Result<Lease> Acquire();

  std::size_t size() const { return size_; }

 private:
  void Return(std::unique_ptr<Connection> connection);
  Status Busy() const;

  const Opener open_;
  const std::size_t size_;
  const std::chrono::milliseconds wait_;
  std::string describe_;  // of the first connection, for messages

  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  std::size_t opened_ = 0;                         // guarded by mu_; idle and leased
};

}  // namespace kiln::store::sql
