#include "launch/store_access.h"

#include "common/subprocess.h"

namespace kiln::launch {

std::vector<std::string> StoreAccessVariables(const StoreAccess& access) {
  std::vector<std::string> variables;
  if (!access.url.empty()) variables.push_back(std::string(kStoreUrlVariable) + "=" + access.url);
  if (!access.token.empty()) {
    variables.push_back(std::string(kStoreTokenVariable) + "=" + access.token);
  }
  return variables;
}

StoreAccess StoreAccessOf(const RunPlan& plan, const std::vector<std::string>& env) {
  StoreAccess access;
  access.url = std::string(FindVariable(env, kStoreUrlVariable).value_or(""));
  if (access.url.empty()) access.url = plan.store_url;
  access.token = std::string(FindVariable(env, kStoreTokenVariable).value_or(""));
  access.ca_file = plan.store_ca_file;
  return access;
}

bool IsStoreAccessVariable(std::string_view name) {
  return name == kStoreUrlVariable || name == kStoreTokenVariable;
}

}  // namespace kiln::launch
