#pragma once

// Who may call each endpoint of the REST API: one table, kRouteRules, with a row for every
// route the server registers (docs/server.md, "Tokens and roles").
//
// The server looks a request up in the table before any route runs (api_server.cc):
//   1. No row matches the method and path: 404, whatever routes exist. A route added without
//      a row is unreachable, never open.
//   2. A kPublic row needs no token. Every other row needs a valid one (auth.h): 401.
//   3. A run token passes only inside its own run, /v1/runs/<its id>[/...]: its launcher's
//      reports and reads. Elsewhere 403.
//   4. A user token passes a row whose need its role covers (viewer < member < admin), and
//      never a kRunToken row: 403, with a message naming what the endpoint needs.
// Checks that depend on the body (a user token may only request CancelRequested) are the
// route's own.

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/auth.h"

namespace kiln::server {

enum class Need {
  kPublic,    // no token: the health check and the web UI's files (its data needs one)
  kViewer,    // reads
  kMember,    // submits, cancels, registers models
  kAdmin,     // tokens, compute targets, datastores
  kRunToken,  // a run's own launcher only: metric ingest
};

struct RouteRule {
  std::string_view method;   // GET, POST, PUT or DELETE (HEAD is looked up as GET)
  std::string_view pattern;  // the path pattern exactly as the route registers it (a regex)
  Need need;
};

// The paths of the web UI's pages besides /: each is served the UI's page, which routes
// it itself (ui_routes.cc).
inline constexpr std::string_view kUiPagePattern =
    R"(/(runs|sweeps|compare|models|compute|login)(/[^?#]*)?)";

// Every route of the server, in no particular order.
std::span<const RouteRule> RouteRules();

// The row for a request, nullptr when none matches. Patterns match the whole path.
const RouteRule* FindRouteRule(std::string_view method, const std::string& path);

// Step 3 and 4 for a caller that authenticated. PermissionDenied naming the role or token
// the endpoint needs.
Status CheckAccess(const RouteRule& rule, const Caller& caller, std::string_view method,
                   const std::string& path);

// "the member role", "the run's own token", ...: what a rule needs, for messages.
std::string_view NeedName(Need need);

// A path the rule's pattern matches, with `run_id` (or `name`) for each name segment:
// "/v1/runs/<run_id>/logs/0". For tests that walk the table.
std::string SamplePath(const RouteRule& rule, std::string_view run_id);

}  // namespace kiln::server
