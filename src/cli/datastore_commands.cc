// kiln datastore register | list | remove

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/datastores.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

struct RegisterFlags {
  std::string name;
  std::string path;
};

Status RunRegister(const RegisterFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_RETURN_IF_ERROR(client::RegisterDatastore(*workspace, flags.name, flags.path));
  KILN_ASSIGN_OR_RETURN(const store::Datastore datastore,
                        workspace->store().GetDatastore(flags.name));
  std::cout << datastore.name << " " << datastore.path << "\n";
  return Status::Ok();
}

Status RunList(bool json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Datastore> datastores,
                        workspace->store().ListDatastores());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::Datastore& datastore : datastores) out.push_back(store::ToJson(datastore));
    PrintJson(out);
    return Status::Ok();
  }
  Table table({"NAME", "TYPE", "PATH", "REGISTERED (UTC)"});
  for (const store::Datastore& datastore : datastores) {
    table.AddRow({datastore.name, datastore.type, datastore.path,
                  FormatTimestampShort(datastore.created_at)});
  }
  std::cout << table.Render();
  return Status::Ok();
}

Status RunRemove(const std::string& name, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  return workspace->store().RemoveDatastore(name);
}

}  // namespace

void AddDatastoreCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand(
      "datastore", "Register folders that script_params can name as {datastore:NAME}");
  group->require_subcommand(1);

  auto register_flags = std::make_shared<RegisterFlags>();
  CLI::App* add = group->add_subcommand("register", "Register a local folder as a datastore");
  add->add_option("name", register_flags->name, "Datastore name (letters, digits, '_', '-')")
      ->required();
  add->add_option("--path", register_flags->path, "The folder")->required();
  add->callback(
      [register_flags, &context] { context.Finish(RunRegister(*register_flags, context)); });

  auto list_json = std::make_shared<bool>(false);
  CLI::App* list = group->add_subcommand("list", "List datastores");
  list->add_flag("--json", *list_json, "Print JSON (docs/cli.md)");
  list->callback([list_json, &context] { context.Finish(RunList(*list_json, context)); });

  auto remove_name = std::make_shared<std::string>();
  CLI::App* remove = group->add_subcommand(
      "remove", "Forget a datastore (its folder is left alone; past runs keep their paths)");
  remove->add_option("name", *remove_name, "Datastore name")->required();
  remove->callback([remove_name, &context] { context.Finish(RunRemove(*remove_name, context)); });
}

}  // namespace kiln::cli
