// kiln ui [--listen 127.0.0.1:8471] [--store URL] [--home DIR]
//
// Kiln Studio for one person over the embedded store: a Kiln server on a loopback address
// with a member token made for this session, printed once and revoked when the command
// stops (or, if it was killed, by the next kiln ui on the machine). A workspace that uses a server
// (KILN_SERVER) already has the UI there: the command says where, and starts nothing.

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/tunables.h"
#include "compute/local/local_target.h"
#include "server/auth.h"
#include "store/open_store.h"

namespace kiln::cli {
namespace {

constexpr std::string_view kDefaultListen = "127.0.0.1:8471";
constexpr std::string_view kSessionTokenPrefix = "kiln-ui:";
// Requests served at once; each open Logs tab holds one for its stream.
constexpr int kUiThreads = 32;

struct UiFlags {
  std::string listen = std::string(kDefaultListen);
  std::string store;
  std::string home;
};

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.starts_with("127.");
}

// The store kiln ui serves: --store, else KILN_STORE, else the embedded one of --home (or
// KILN_HOME), chosen here once and handed to the server, so the token it makes is one the
// server knows.
std::string UiStoreUrl(const UiFlags& flags) {
  if (!flags.store.empty()) return flags.store;
  const std::string chosen = ReadTunable(kKilnStore);
  if (!chosen.empty() && chosen != kKilnStore.default_value) return chosen;
  if (!flags.home.empty()) return "sqlite://" + (AbsolutePath(flags.home) / "kiln.db").string();
  return ServerStoreUrl("");
}

// "kiln-ui:<host>:<pid>:<time>": which session a token was made for.
std::string SessionTokenName() {
  return fmt::format("{}{}:{}:{}", kSessionTokenPrefix, compute::LocalHostName(), ::getpid(),
                     FormatTimestamp(SystemClock().Now()));
}

// Revokes the tokens of earlier kiln ui sessions on this machine whose process is gone (one
// that was killed could not revoke its own).
void RevokeTokensOfDeadSessions(store::Store& store) {
  const Result<std::vector<store::ApiToken>> tokens = store.ListApiTokens(false);
  if (!tokens.ok()) return;
  const std::string mine = fmt::format("{}{}:", kSessionTokenPrefix, compute::LocalHostName());
  for (const store::ApiToken& token : *tokens) {
    if (!token.name.starts_with(mine) || token.revoked_at) continue;
    const std::optional<std::int64_t> pid =
        ParseInt64(token.name.substr(mine.size(), token.name.find(':', mine.size()) - mine.size()));
    if (pid && ::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH) {
      store.RevokeApiToken(token.id).IgnoreError();
    }
  }
}

Status RunUi(const UiFlags& flags, const CliContext& context) {
  const std::string server_url = context.server.empty() ? ReadTunable(kKilnServer) : context.server;
  if (!server_url.empty()) {
    std::cout << fmt::format(
        "This workspace uses the Kiln server at {0}: Kiln Studio is at {0}/ (sign in with "
        "your KILN_TOKEN)\n",
        server_url);
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(const auto listen, ParseListen(flags.listen));
  if (!IsLoopback(listen.first)) {
    return InvalidArgumentError(fmt::format(
        "--listen: kiln ui listens on this machine only (127.0.0.1, ::1), not '{}'; for a team, "
        "run kiln server with tokens (docs/server.md)",
        listen.first));
  }
  server::ServerOptions options;
  options.host = listen.first;
  options.port = listen.second;
  options.store_url = UiStoreUrl(flags);
  options.home = flags.home;
  options.threads = kUiThreads;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::OpenStore(options.store_url));
  RevokeTokensOfDeadSessions(*store);
  KILN_ASSIGN_OR_RETURN(const server::MintedToken token,
                        server::MintToken(*store, SessionTokenName(), store::TokenRole::kMember));

  // The default port taken (a second kiln ui): any free one rather than a refusal.
  bool moved = false;
  const auto announce = [&](const server::ApiServer& server) -> Status {
    std::cout << fmt::format("Kiln Studio: {}/{}\n", server.url(),
                             moved ? fmt::format(" ({} is taken)", kDefaultListen) : "")
              << "Sign in with this token; it works until kiln ui stops:\n"
              << token.secret << std::endl;
    return Status::Ok();
  };
  Status served = ServeApi(options, announce);
  if (flags.listen == kDefaultListen && served.code() == StatusCode::kUnavailable) {
    options.port = 0;
    moved = true;
    served = ServeApi(options, announce);
  }
  const Status revoked = store->RevokeApiToken(token.record.id);
  if (!revoked.ok()) {
    PrintNote(
        fmt::format("could not revoke the session's token {}: {}; revoke it with kiln "
                    "server token revoke {}",
                    token.record.id, revoked.message(), token.record.id));
  }
  return served;
}

}  // namespace

void AddUiCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<UiFlags>();
  CLI::App* ui = app.add_subcommand(
      "ui", "Open Kiln Studio, the web UI, over this machine's runs (docs/ui.md)");
  ui->add_option("--listen", flags->listen, "A loopback HOST:PORT (PORT 0: any free one)")
      ->capture_default_str();
  ui->add_option("--store", flags->store, "The store (default: KILN_STORE, else KILN_HOME's)");
  ui->add_option("--home", flags->home,
                 "Folder of snapshots and run directories (default: KILN_HOME)");
  ui->callback([flags, &context] { context.Finish(RunUi(*flags, context)); });
}

}  // namespace kiln::cli
