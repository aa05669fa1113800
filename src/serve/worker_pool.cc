#include "serve/worker_pool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "serve/worker_protocol.h"

namespace kiln::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// How often the supervisor looks at its workers when nothing wakes it.
constexpr std::chrono::milliseconds kTick{100};
// How long a worker that closed its socket or was killed gets to be reaped.
constexpr std::chrono::seconds kReapWait{5};
// The first frame is a few dozen bytes.
constexpr std::size_t kMaxStartFrame = 1u << 20;
constexpr std::chrono::seconds kStartFrameWait{5};

// {"type", "message", ...} -> "TYPE: message".
std::string Described(const std::string& payload) {
  const json error = json::parse(payload, nullptr, false);
  if (!error.is_object()) return payload;
  const std::string type = error.value("type", "");
  const std::string message = error.value("message", "");
  return type.empty() ? message : message.empty() ? type : fmt::format("{}: {}", type, message);
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolOptions options) : options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i + 1;
    slots_.push_back(std::move(slot));
  }
}

WorkerPool::~WorkerPool() { Stop(); }

Status WorkerPool::Start() {
  supervisor_ = std::thread([this] { Supervise(); });
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return std::all_of(slots_.begin(), slots_.end(),
                       [](const auto& s) { return s->state == SlotState::kIdle; }) ||
           std::any_of(slots_.begin(), slots_.end(),
                       [](const auto& s) { return s->state == SlotState::kFailed; });
  });
  const bool failed = std::any_of(slots_.begin(), slots_.end(),
                                  [](const auto& s) { return s->state == SlotState::kFailed; });
  starting_ = false;
  if (!failed) return Status::Ok();
  const std::string why = last_failure_;
  lock.unlock();
  Stop();
  return InvalidArgumentError(why);
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

void WorkerPool::StartLocked(Slot& slot) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return InitFailedLocked(slot, ErrnoError("socketpair", errno).message());
  }
  UniqueFd ours(ends[0]), theirs(ends[1]);
  ::fcntl(ours.get(), F_SETFL, ::fcntl(ours.get(), F_GETFL) | O_NONBLOCK);
  SpawnOptions spawn;
  spawn.argv = options_.argv;
  std::vector<std::string> env = options_.env;
  env.push_back(fmt::format("KILN_WORKER_FD={}", theirs.get()));
  env.push_back(fmt::format("KILN_WORKER_INDEX={}", slot.index));
  spawn.env = std::move(env);
  spawn.cwd = options_.cwd;
  spawn.stdout_fd = options_.log_fd;
  spawn.stderr_fd = options_.log_fd;
  spawn.keep_fds = {theirs.get()};
  spawn.new_process_group = true;
  spawn.kill_with_parent = true;
  Result<Subprocess> started = RealSpawner().Spawn(spawn);
  if (!started.ok()) {
    return InitFailedLocked(slot, fmt::format("cannot start {}: {}", options_.argv.front(),
                                              started.status().message()));
  }
  if (slot.ever_started) ++slot.restarts;
  slot.ever_started = true;
  slot.process.emplace(std::move(started).value());
  slot.channel = std::move(ours);
  slot.state = SlotState::kStarting;
  slot.init_deadline = Clock::now() + options_.init_timeout;
}

void WorkerPool::InitFailedLocked(Slot& slot, const std::string& why) {
  slot.channel.reset();
  slot.process.reset();
  ++slot.init_failures;
  const std::string message = fmt::format("worker {}: {}", slot.index, why);
  slot.last_exit = why;
  if (starting_ || slot.init_failures >= options_.max_init_failures) {
    slot.state = SlotState::kFailed;
    last_failure_ = starting_ ? message
                              : fmt::format(
                                    "{} (it failed {} times in a row; it is not started "
                                    "again)",
                                    message, slot.init_failures);
    spdlog::error("{}", last_failure_);
    changed_.notify_all();
    return;
  }
  const auto backoff = std::min<std::chrono::milliseconds>(
      options_.first_backoff * (1 << std::min(slot.init_failures - 1, 16)), options_.max_backoff);
  slot.state = SlotState::kDown;
  slot.restart_at = Clock::now() + backoff;
  spdlog::warn("{}; starting it again in {} ms", message, backoff.count());
}

std::string WorkerPool::Reap(Subprocess& process, bool kill) {
  const pid_t pid = process.pid();
  if (kill) ::kill(-pid, SIGKILL);
  Result<ExitStatus> exit = process.WaitFor(kReapWait);
  if (!exit.ok()) {
    ::kill(-pid, SIGKILL);
    exit = process.Wait();
  }
  // Whatever the script started in its group goes with it.
  ::kill(-pid, SIGKILL);
  return exit.ok() ? exit->Describe() : exit.status().message();
}

void WorkerPool::FinishStart(Slot& slot) {
  Result<Frame> frame =
      ReadFrame(slot.channel.get(), Clock::now() + kStartFrameWait, kMaxStartFrame);
  std::string failure;
  if (frame.ok() && frame->kind == FrameKind::kReady) {
    const json ready = json::parse(frame->payload, nullptr, false);
    const int protocol = ready.is_object() ? ready.value("protocol", 0) : 0;
    if (protocol == kWorkerProtocolVersion) {
      std::lock_guard lock(mutex_);
      slot.state = SlotState::kIdle;
      slot.init_failures = 0;
      spdlog::info("worker {} (pid {}) is ready", slot.index, slot.process->pid());
      changed_.notify_all();
      return;
    }
    failure = fmt::format("the worker speaks protocol {}, this kiln {}: {}", protocol,
                          kWorkerProtocolVersion, frame->payload);
  } else if (frame.ok() && frame->kind == FrameKind::kInitFailed) {
    failure = Described(frame->payload);
  } else if (frame.ok()) {
    failure =
        fmt::format("the worker sent '{}' before it was ready", static_cast<char>(frame->kind));
  }
  // A worker that closed its socket is exiting: it is waited for, not killed.
  const std::string exit = Reap(*slot.process, /*kill=*/frame.ok());
  if (failure.empty()) failure = fmt::format("it {} before init() returned", exit);
  std::lock_guard lock(mutex_);
  InitFailedLocked(slot, failure);  // drops the process and the socket
}

void WorkerPool::Supervise() {
  while (true) {
    std::vector<Slot*> starting;
    {
      std::unique_lock lock(mutex_);
      if (stopping_) break;
      const auto now = Clock::now();
      for (auto& owned : slots_) {
        Slot& slot = *owned;
        if (slot.state == SlotState::kDown && now >= slot.restart_at) StartLocked(slot);
        if (slot.state == SlotState::kIdle) {
          const Result<std::optional<ExitStatus>> exit = slot.process->TryWait();
          if (exit.ok() && !exit->has_value()) continue;
          slot.last_exit = fmt::format("{} while idle", exit.ok() ? (*exit)->Describe() : "ended");
          spdlog::warn("worker {} {}; starting it again", slot.index, slot.last_exit);
          ::kill(-slot.process->pid(), SIGKILL);
          slot.process.reset();
          slot.channel.reset();
          slot.state = SlotState::kDown;
          slot.restart_at = now;
        }
        if (slot.state == SlotState::kStarting) {
          if (now < slot.init_deadline) {
            starting.push_back(&slot);
            continue;
          }
          Reap(*slot.process, /*kill=*/true);
          InitFailedLocked(slot, fmt::format("init() did not finish within {} s",
                                             options_.init_timeout.count() / 1000));
        }
      }
    }
    // Only this thread touches a starting slot, so its socket is read without the lock.
    std::vector<pollfd> fds;
    for (Slot* slot : starting) fds.push_back({slot->channel.get(), POLLIN, 0});
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(kTick.count()));
    for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents != 0) FinishStart(*starting[i]);
    }
  }
  ShutDownWorkers();
}

void WorkerPool::ShutDownWorkers() {
  std::vector<Slot*> running;
  {
    std::lock_guard lock(mutex_);
    for (auto& slot : slots_) {
      if (!slot->process) continue;
      slot->channel.reset();  // the host script's read ends: it exits
      running.push_back(slot.get());
    }
  }
  const auto deadline = Clock::now() + options_.stop_grace;
  for (Slot* slot : running) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const Result<ExitStatus> exit =
        slot->process->WaitFor(std::max(left, std::chrono::milliseconds(0)));
    if (!exit.ok()) {
      ::kill(-slot->process->pid(), SIGKILL);
      (void)slot->process->Wait();
    }
    ::kill(-slot->process->pid(), SIGKILL);
    std::lock_guard lock(mutex_);
    slot->process.reset();
    slot->state = SlotState::kDown;
  }
}

WorkerPool::Slot* WorkerPool::TakeIdleLocked() {
  for (auto& slot : slots_) {
    if (slot->state == SlotState::kIdle) {
      slot->state = SlotState::kBusy;
      return slot.get();
    }
  }
  return nullptr;
}

std::string WorkerPool::NoWorkerLocked() const {
  const bool all_failed = std::all_of(slots_.begin(), slots_.end(),
                                      [](const auto& s) { return s->state == SlotState::kFailed; });
  if (all_failed) return fmt::format("no worker can score: {}", last_failure_);
  return "";
}

Result<std::string> WorkerPool::Score(std::string_view body) {
  const auto deadline = Clock::now() + options_.request_timeout;
  while (true) {
    Slot* slot = nullptr;
    {
      std::unique_lock lock(mutex_);
      if (waiting_ >= options_.max_waiting) {
        return ResourceExhaustedError(
            fmt::format("{} requests are waiting for a worker already; try again", waiting_));
      }
      ++waiting_;
      while (!stopping_) {
        slot = TakeIdleLocked();
        if (slot != nullptr) break;
        if (const std::string none = NoWorkerLocked(); !none.empty()) {
          --waiting_;
          return UnavailableError(none);
        }
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
      }
      --waiting_;
      if (slot == nullptr) {
        return UnavailableError(
            fmt::format("no worker was free to score within {} s (kiln serve --workers, "
                        "--request-timeout-s)",
                        options_.request_timeout.count() / 1000));
      }
    }
    const pid_t pid = slot->process->pid();
    // run() gets the whole timeout from when its worker takes the request: time spent
    // waiting for a free worker is not held against it (or the worker would be killed).
    const auto scoring_deadline = Clock::now() + options_.request_timeout;
    const Status sent =
        WriteFrame(slot->channel.get(), FrameKind::kRequest, body, scoring_deadline);
    Result<Frame> reply =
        sent.ok() ? ReadFrame(slot->channel.get(), scoring_deadline, options_.max_reply_bytes)
                  : sent;
    if (reply.ok() && (reply->kind == FrameKind::kAnswer || reply->kind == FrameKind::kError)) {
      {
        std::lock_guard lock(mutex_);
        slot->state = SlotState::kIdle;
      }
      changed_.notify_one();
      if (reply->kind == FrameKind::kAnswer) return std::move(reply->payload);
      const json error = json::parse(reply->payload, nullptr, false);
      const int status = error.is_object() ? error.value("status", 500) : 500;
      if (status == 400) return InvalidArgumentError(error.value("message", reply->payload));
      return InternalError(fmt::format("run() raised {}", Described(reply->payload)));
    }
    // The worker is gone, stuck, or spoke out of turn: it is replaced.
    const bool timed_out = !reply.ok() && reply.status().code() == StatusCode::kDeadlineExceeded;
    const bool never_delivered = !sent.ok() && sent.code() == StatusCode::kUnavailable;
    const std::string exit =
        Reap(*slot->process,
             /*kill=*/timed_out || reply.ok() || reply.status().code() == StatusCode::kDataLoss);
    {
      std::lock_guard lock(mutex_);
      slot->process.reset();
      slot->channel.reset();
      slot->last_exit = fmt::format("{} while scoring", exit);
      slot->state = SlotState::kDown;
      slot->restart_at = Clock::now();
    }
    spdlog::warn("worker {} (pid {}) {}; starting it again", slot->index, pid, slot->last_exit);
    // A request the worker never received is given to another one.
    if (never_delivered && Clock::now() < deadline) continue;
    if (timed_out) {
      return DeadlineExceededError(fmt::format(
          "run() did not answer within {} s (kiln serve --request-timeout-s); worker {} was "
          "stopped and is started again",
          options_.request_timeout.count() / 1000, slot->index));
    }
    if (reply.ok() || reply.status().code() == StatusCode::kDataLoss) {
      return InternalError(fmt::format(
          "worker {} (pid {}) broke the protocol ({}); it is started again", slot->index, pid,
          reply.ok() ? "an unexpected frame" : reply.status().message()));
    }
    return InternalError(fmt::format(
        "worker {} (pid {}) died while scoring this request: it {}; it is started again",
        slot->index, pid, exit));
  }
}

PoolHealth WorkerPool::Health() const {
  std::lock_guard lock(mutex_);
  PoolHealth health;
  for (const auto& slot : slots_) {
    WorkerState state;
    state.index = slot->index;
    state.pid = slot->process ? slot->process->pid() : 0;
    state.restarts = slot->restarts;
    state.last_exit = slot->last_exit;
    switch (slot->state) {
      case SlotState::kDown:
        state.state = "restarting";
        break;
      case SlotState::kStarting:
        state.state = slot->restarts > 0 ? "restarting" : "starting";
        break;
      case SlotState::kIdle:
        state.state = "ready";
        ++health.ready;
        break;
      case SlotState::kBusy:
        state.state = "busy";
        ++health.ready;
        break;
      case SlotState::kFailed:
        state.state = "failed";
        ++health.failed;
        break;
    }
    health.workers.push_back(state);
  }
  health.last_failure = last_failure_;
  return health;
}

}  // namespace kiln::serve
