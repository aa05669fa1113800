// kiln tag | untag | edit | archive | restore: what describes a run, changed at any time.

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/run_edit.h"
#include "client/run_id.h"
#include "common/files.h"
#include "common/strings.h"

namespace kiln::cli {
namespace {

// Applies `edit` to each run named, in order, and prints one line for each; stops at the
// first that fails.
Status EditEach(const std::vector<std::string>& runs, const store::RunEdit& edit,
                CliContext& context, const std::function<std::string(const store::Run&)>& line) {
  KILN_RETURN_IF_ERROR(client::CheckRunEdit(edit));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  for (const std::string& given : runs) {
    KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), given));
    KILN_ASSIGN_OR_RETURN(const store::Run run, client::EditRun(*workspace, id, edit));
    std::cout << line(run) << "\n";
  }
  return Status::Ok();
}

std::string TagsLine(const store::Run& run) {
  std::vector<std::string> tags;
  for (const auto& [key, value] : run.tags) tags.push_back(key + "=" + value);
  return fmt::format("{} tags: {}", run.id, tags.empty() ? "(none)" : JoinStrings(tags, " "));
}

struct TagFlags {
  std::string run;
  std::vector<std::string> tags;
};

Status RunTag(const TagFlags& flags, CliContext& context) {
  store::RunEdit edit;
  for (const std::string& tag : flags.tags) {
    const std::size_t equals = tag.find('=');
    if (equals == std::string::npos) {
      return InvalidArgumentError(
          fmt::format("'{}' is not KEY=VALUE (a tag with no value: KEY=)", tag));
    }
    edit.set_tags[tag.substr(0, equals)] = tag.substr(equals + 1);
  }
  return EditEach({flags.run}, edit, context, TagsLine);
}

struct UntagFlags {
  std::string run;
  std::vector<std::string> keys;
};

Status RunUntag(const UntagFlags& flags, CliContext& context) {
  store::RunEdit edit;
  edit.remove_tags = flags.keys;
  return EditEach({flags.run}, edit, context, TagsLine);
}

struct EditFlags {
  std::string run;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string description_file;
};

Status RunEdit(const EditFlags& flags, CliContext& context) {
  store::RunEdit edit;
  edit.display_name = flags.name;
  edit.description = flags.description;
  if (!flags.description_file.empty()) {
    if (flags.description) {
      return InvalidArgumentError("give --description or --description-file, not both");
    }
    Result<std::string> text =
        flags.description_file == "-"
            ? Result<std::string>(std::string(std::istreambuf_iterator<char>(std::cin), {}))
            : ReadFileToString(flags.description_file);
    if (!text.ok()) return text.status().WithPrefix("--description-file");
    edit.description = std::move(text).value();
  }
  if (!edit.display_name && !edit.description) {
    return InvalidArgumentError("kiln edit needs --name, --description or --description-file");
  }
  return EditEach({flags.run}, edit, context, [](const store::Run& run) {
    return fmt::format("{} name: {}", run.id,
                       run.display_name.empty() ? "(none)" : run.display_name);
  });
}

Status RunArchive(const std::vector<std::string>& runs, bool archived, CliContext& context) {
  store::RunEdit edit;
  edit.archived = archived;
  return EditEach(runs, edit, context, [archived](const store::Run& run) {
    return fmt::format("{} {}", run.id, archived ? "archived" : "restored");
  });
}

}  // namespace

void AddRunEditCommands(CLI::App& app, CliContext& context) {
  auto tag_flags = std::make_shared<TagFlags>();
  CLI::App* tag = app.add_subcommand("tag", "Set tags on a run, at any time: KEY=VALUE ...");
  tag->add_option("run", tag_flags->run, "Run id (or its last part)")->required();
  tag->add_option("tags", tag_flags->tags, "KEY=VALUE, as many as needed")->required();
  tag->callback([tag_flags, &context] { context.Finish(RunTag(*tag_flags, context)); });

  auto untag_flags = std::make_shared<UntagFlags>();
  CLI::App* untag = app.add_subcommand("untag", "Remove tags from a run: KEY ...");
  untag->add_option("run", untag_flags->run, "Run id (or its last part)")->required();
  untag->add_option("keys", untag_flags->keys, "Tag keys")->required();
  untag->callback([untag_flags, &context] { context.Finish(RunUntag(*untag_flags, context)); });

  auto edit_flags = std::make_shared<EditFlags>();
  CLI::App* edit = app.add_subcommand("edit", "Set a run's display name or description");
  edit->add_option("run", edit_flags->run, "Run id (or its last part)")->required();
  edit->add_option("--name", edit_flags->name, "The display name (\"\" clears it)");
  edit->add_option("--description", edit_flags->description,
                   "The description: free text, lines allowed (\"\" clears it)");
  edit->add_option("--description-file", edit_flags->description_file,
                   "Read the description from a file (- for standard input)");
  edit->callback([edit_flags, &context] { context.Finish(RunEdit(*edit_flags, context)); });

  auto archive_runs = std::make_shared<std::vector<std::string>>();
  CLI::App* archive = app.add_subcommand(
      "archive", "Archive ended runs: hidden from listings (kiln runs --archived shows them)");
  archive->add_option("runs", *archive_runs, "Run ids (or their last parts)")->required();
  archive->callback(
      [archive_runs, &context] { context.Finish(RunArchive(*archive_runs, true, context)); });

  auto restore_runs = std::make_shared<std::vector<std::string>>();
  CLI::App* restore =
      app.add_subcommand("restore", "Restore archived runs: listed again with the others");
  restore->add_option("runs", *restore_runs, "Run ids (or their last parts)")->required();
  restore->callback(
      [restore_runs, &context] { context.Finish(RunArchive(*restore_runs, false, context)); });
}

}  // namespace kiln::cli
