// kiln server [--store URL] [--listen HOST:PORT] [--tls-cert F --tls-key F]
// kiln server token create --name NAME [--role viewer|member|admin] | list [--all] [--json]
//                  | revoke ID

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/stop_signals.h"
#include "common/subprocess.h"
#include "common/tunables.h"
#include "server/api_server.h"
#include "server/auth.h"
#include "store/open_store.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

struct ServeFlags {
  std::string store;
  std::string listen = "127.0.0.1:8470";
  std::string home;
  std::string tls_cert;
  std::string tls_key;
  std::string advertise_url;
  int threads = 128;
  int max_body_mb = 512;
};

// The server's store: --store, else KILN_STORE, else the embedded one under KILN_HOME.
std::string StoreUrl(const std::string& flag) {
  if (!flag.empty()) return flag;
  const std::string chosen = ReadTunable(kKilnStore);
  return chosen.empty() || chosen == kKilnStore.default_value ? store::DefaultStoreUrl() : chosen;
}

Status RunServe(const ServeFlags& flags) {
  KILN_ASSIGN_OR_RETURN(const auto listen, ParseListen(flags.listen));
  if (flags.max_body_mb < 1 || flags.threads < 2) {
    return InvalidArgumentError("--max-body-mb must be >= 1 and --threads >= 2");
  }
  server::ServerOptions options;
  options.host = listen.first;
  options.port = listen.second;
  options.store_url = flags.store;  // empty: KILN_STORE, else <home>/kiln.db
  options.home = flags.home;
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  options.advertise_url = flags.advertise_url;
  options.threads = flags.threads;
  options.max_body_bytes = static_cast<std::size_t>(flags.max_body_mb) << 20;
  return ServeApi(options, [](const server::ApiServer& server) -> Status {
    std::cout << "kiln server listening on " << server.url() << std::endl;
    return Status::Ok();
  });
}

Result<std::unique_ptr<store::Store>> OpenServerStore(const std::string& flag) {
  return store::OpenStore(StoreUrl(flag));
}

Status RunTokenCreate(const std::string& store_flag, const std::string& name,
                      const std::string& role_name) {
  const std::optional<store::TokenRole> role = store::ParseTokenRole(role_name);
  if (!role) {
    return InvalidArgumentError(
        fmt::format("--role: '{}' is not a role; use viewer, member or admin", role_name));
  }
  KILN_ASSIGN_OR_RETURN(auto store, OpenServerStore(store_flag));
  KILN_ASSIGN_OR_RETURN(const server::MintedToken token, server::MintToken(*store, name, *role));
  PrintNote(fmt::format("token {} ('{}', {}) created; it is shown once, keep it secret:",
                        token.record.id, token.record.name, store::TokenRoleName(*role)));
  std::cout << token.secret << "\n";
  return Status::Ok();
}

Status RunTokenList(const std::string& store_flag, bool all, bool json) {
  KILN_ASSIGN_OR_RETURN(auto store, OpenServerStore(store_flag));
  KILN_ASSIGN_OR_RETURN(const std::vector<store::ApiToken> tokens, store->ListApiTokens(all));
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::ApiToken& token : tokens) out.push_back(store::ToJson(token));
    PrintJson(out);
    return Status::Ok();
  }
  Table table({"ID", "NAME", "ROLE", "CREATED (UTC)", "REVOKED (UTC)"});
  for (const store::ApiToken& token : tokens) {
    // A run token's powers come from its run, not a role.
    table.AddRow({token.id, token.name,
                  token.run_id ? "run" : std::string(store::TokenRoleName(token.role)),
                  FormatTimestampShort(token.created_at),
                  token.revoked_at ? FormatTimestampShort(*token.revoked_at) : "-"});
  }
  std::cout << table.Render();
  return Status::Ok();
}

Status RunTokenRevoke(const std::string& store_flag, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(auto store, OpenServerStore(store_flag));
  KILN_RETURN_IF_ERROR(store->RevokeApiToken(id));
  std::cout << id << " revoked\n";
  return Status::Ok();
}

}  // namespace

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    const char* begin = listen.data() + colon + 1;
    const char* end = listen.data() + listen.size();
    const auto [stop, error] = std::from_chars(begin, end, port);
    if (error != std::errc() || stop != end) port = -1;
  }
  if (port < 0 || port > 65535) {
    return InvalidArgumentError(fmt::format(
        "--listen: expected HOST:PORT (e.g. 127.0.0.1:8470, or PORT 0 for any free one), got '{}'",
        listen));
  }
  return std::make_pair(listen.substr(0, colon), port);
}

Status ServeApi(server::ServerOptions options,
                const std::function<Status(const server::ApiServer&)>& announce) {
  // stdout carries what `announce` prints; the log goes to stderr.
  std::shared_ptr<spdlog::logger> log = spdlog::get("kiln-server");
  spdlog::set_default_logger(log ? log : spdlog::stderr_logger_mt("kiln-server"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  const StopSignals stop_signals;  // before the server starts any thread
  options.kiln_program = CurrentExecutable();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<server::ApiServer> server,
                        server::ApiServer::Create(options));
  KILN_RETURN_IF_ERROR(announce(*server));
  spdlog::info("serving {}", server->url());
  const Status served = stop_signals.ServeUntilStopped(
      [&] { return server->Serve(); },
      [&](int signal) {
        spdlog::info("received signal {}: finishing the requests in flight, then stopping", signal);
        server->Stop();
      });
  spdlog::info("stopped");
  return served;
}

std::string ServerStoreUrl(const std::string& flag) { return StoreUrl(flag); }

void AddServerCommands(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* server = app.add_subcommand(
      "server", "Serve the REST API for a team (docs/server.md); 'server token' manages tokens");
  server->add_option("--store", flags->store,
                     "The store: sqlite:///path/kiln.db or postgresql://... (default: KILN_STORE)");
  server->add_option("--listen", flags->listen, "HOST:PORT to listen on (PORT 0: any free one)")
      ->capture_default_str();
  server->add_option("--home", flags->home,
                     "Folder of snapshots and run directories (default: KILN_HOME)");
  server->add_option("--tls-cert", flags->tls_cert, "Serve https with this PEM certificate");
  server->add_option("--tls-key", flags->tls_key, "The certificate's PEM private key");
  server->add_option("--advertise-url", flags->advertise_url,
                     "The URL launchers report to (default: the listen address; 0.0.0.0 as "
                     "127.0.0.1)");
  server->add_option("--threads", flags->threads, "Requests served at once")->capture_default_str();
  server->add_option("--max-body-mb", flags->max_body_mb, "Largest request body accepted, in MiB")
      ->capture_default_str();
  server->require_subcommand(0, 1);
  server->callback([server, flags, &context] {
    if (!server->get_subcommands().empty()) return;
    context.Finish(RunServe(*flags));
  });

  CLI::App* token = server->add_subcommand("token", "API tokens of the server's store");
  token->require_subcommand(1);
  auto store_flag = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>(store::TokenRoleName(store::kDefaultTokenRole));
  CLI::App* create = token->add_subcommand("create", "Make a token; its secret is printed once");
  create->add_option("--name", *name, "Who or what the token is for (unique)")->required();
  create
      ->add_option("--role", *role,
                   "viewer: reads; member: also submits and cancels runs; admin: also manages "
                   "tokens, compute targets and datastores")
      ->capture_default_str();
  create->add_option("--store", *store_flag, "The server's store (default: KILN_STORE)");
  create->callback([store_flag, name, role, &context] {
    context.Finish(RunTokenCreate(*store_flag, *name, *role));
  });

  auto all = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::App* list = token->add_subcommand("list", "The tokens (without their secrets)");
  list->add_option("--store", *store_flag, "The server's store (default: KILN_STORE)");
  list->add_flag("--all", *all, "Include the per-run tokens of launchers");
  list->add_flag("--json", *json, "Print JSON");
  list->callback([store_flag, all, json, &context] {
    context.Finish(RunTokenList(*store_flag, *all, *json));
  });

  auto id = std::make_shared<std::string>();
  CLI::App* revoke = token->add_subcommand("revoke", "Make a token invalid at once");
  revoke->add_option("id", *id, "The token's id (tok_...)")->required();
  revoke->add_option("--store", *store_flag, "The server's store (default: KILN_STORE)");
  revoke->callback(
      [store_flag, id, &context] { context.Finish(RunTokenRevoke(*store_flag, *id)); });
}

}  // namespace kiln::cli
