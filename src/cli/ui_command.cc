// kiln ui [--listen 127.0.0.1:8471] [--store URL] [--home DIR]
//
// Kiln Studio for one person over the embedded store: a Kiln server on a loopback address
// with a member token made for this session, printed once and revoked when the command
// stops. A workspace that uses a server (KILN_SERVER) already has the UI there: the command
// says where, and starts nothing.

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/time.h"
#include "common/tunables.h"
#include "server/auth.h"
#include "store/open_store.h"

namespace kiln::cli {
namespace {

constexpr std::string_view kDefaultListen = "127.0.0.1:8471";

struct UiFlags {
  std::string listen = std::string(kDefaultListen);
  std::string store;
  std::string home;
};

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" ||
         host.starts_with("127.");
}

// The token's name says whose session it was: the account, else the uid.
std::string UserName() {
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_name != nullptr) {
    return entry->pw_name;
  }
  return fmt::format("uid{}", ::getuid());
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
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                        store::OpenStore(ServerStoreUrl(flags.store)));
  const std::string name =
      fmt::format("kiln-ui:{}:{}", UserName(), FormatTimestamp(SystemClock().Now()));
  KILN_ASSIGN_OR_RETURN(const server::MintedToken token,
                        server::MintToken(*store, name, store::TokenRole::kMember));

  server::ServerOptions options;
  options.host = listen.first;
  options.port = listen.second;
  options.store_url = flags.store;
  options.home = flags.home;
  options.threads = 16;
  // The default port taken (a second kiln ui): any free one rather than a refusal.
  const bool default_port = flags.listen == kDefaultListen;
  Status served = ServeApi(options, [&](const server::ApiServer& server) -> Status {
    std::cout << fmt::format("Kiln Studio: {}/\n", server.url())
              << "Sign in with this token; it works until kiln ui stops:\n"
              << token.secret << std::endl;
    return Status::Ok();
  });
  if (default_port && served.code() == StatusCode::kUnavailable) {
    options.port = 0;
    served = ServeApi(options, [&](const server::ApiServer& server) -> Status {
      std::cout << fmt::format("Kiln Studio: {}/ ({} is taken)\n", server.url(), kDefaultListen)
                << "Sign in with this token; it works until kiln ui stops:\n"
                << token.secret << std::endl;
      return Status::Ok();
    });
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
