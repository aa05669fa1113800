#include "client/torch_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "client/pickle_scan.h"
#include "common/test_dir.h"

namespace kiln::client {
namespace {

using namespace std::string_literals;

// What pickle.dumps(..., protocol=2) writes for an OrderedDict of one tensor, as torch.save
// does in data.pkl (the storage behind a persistent id).
const std::string kStateDictPickle =
    "\x80\x02"
    "ccollections\nOrderedDict\nq\x00)Rq\x01"
    "X\x06\x00\x00\x00weightq\x02"
    "ctorch._utils\n_rebuild_tensor_v2\nq\x03"
    "((X\x07\x00\x00\x00storageq\x04"
    "ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x00"
    "0q\x06"
    "X\x03\x00\x00\x00"
    "cpuq\x07K\x04tq\x08QK\x00K\x02K\x02\x86q\tK\x02K\x01\x86q\n\x89"
    "ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0es}q\x0fX\t\x00\x00\x00_metadataq\x10"
    "h\x0b)Rq\x11X\x00\x00\x00\x00q\x12}q\x13X\x07\x00\x00\x00versionq\x14K\x01sssb."s;

// torch.save(model) of a user's class: the pickle names it.
const std::string kModulePickle =
    "\x80\x02"
    "c__main__\nNet\nq\x00)\x81q\x01}q\x02X\x08\x00\x00\x00trainingq\x03\x88sb."s;

// Protocol 4 names globals through STACK_GLOBAL, with the strings memoized.
const std::string kProtocol4Dict =
    "\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00"
    "\x8c\x0b"
    "collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94"
    "\x8c\x01w\x94K\x01s."s;
const std::string kProtocol4Module =
    "\x80\x04\x8c\x08__main__\x94\x8c\x03Net\x94\x93\x94)\x81\x94."s;

TEST(WalkPickleTest, FindsTheGlobalsAndTheOutermostDict) {
  std::size_t pos = 0;
  const Result<PickleFacts> facts = WalkPickle(kStateDictPickle, &pos);
  ASSERT_TRUE(facts.ok()) << facts.status().message();
  EXPECT_EQ(pos, kStateDictPickle.size());
  EXPECT_TRUE(facts->top_is_dict);
  EXPECT_EQ(facts->globals,
            (std::vector<std::string>{"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                      "torch.FloatStorage", "collections.OrderedDict"}));
  EXPECT_TRUE(IsStateDict(*facts));

  pos = 0;
  const PickleFacts module = WalkPickle(kModulePickle, &pos).value();
  EXPECT_FALSE(module.top_is_dict);
  EXPECT_EQ(module.globals, std::vector<std::string>{"__main__.Net"});
  EXPECT_FALSE(IsStateDict(module));
}

TEST(WalkPickleTest, ResolvesStackGlobalsThroughTheMemo) {
  std::size_t pos = 0;
  const PickleFacts dict = WalkPickle(kProtocol4Dict, &pos).value();
  EXPECT_EQ(dict.globals, std::vector<std::string>{"collections.OrderedDict"});
  EXPECT_TRUE(IsStateDict(dict));
  pos = 0;
  const PickleFacts module = WalkPickle(kProtocol4Module, &pos).value();
  EXPECT_EQ(module.globals, std::vector<std::string>{"__main__.Net"});
  EXPECT_FALSE(IsStateDict(module));
}

TEST(WalkPickleTest, APlainDictOfNumbersIsAStateDictAndAListIsNot) {
  std::size_t pos = 0;
  EXPECT_TRUE(IsStateDict(WalkPickle("\x80\x02}q\x00X\x01\x00\x00\x00"
                                     "aK\x01s."s,
                                     &pos)
                              .value()));
  pos = 0;
  EXPECT_FALSE(IsStateDict(WalkPickle("\x80\x02]q\x00K\x01a."s, &pos).value()));
}

TEST(WalkPickleTest, RefusesTruncatedAndUnknownPickles) {
  std::size_t pos = 0;
  EXPECT_EQ(WalkPickle(kStateDictPickle.substr(0, 40), &pos).status().code(),
            StatusCode::kInvalidArgument);
  pos = 0;
  const Status unknown = WalkPickle("\x80\x02\xff."s, &pos).status();
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(), "unknown pickle opcode 0xff at byte 2");
}

void PutLe(std::string& out, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// A zip of stored entries, as PyTorch's writer makes (no compression).
std::string Zip(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out, directory;
  for (const auto& [name, bytes] : files) {
    const std::size_t offset = out.size();
    PutLe(out, 0x04034b50, 4);
    PutLe(out, 20, 2);  // version
    PutLe(out, 0, 2);   // flags
    PutLe(out, 0, 2);   // stored
    PutLe(out, 0, 4);   // time, date
    PutLe(out, 0, 4);   // crc (unchecked here)
    PutLe(out, bytes.size(), 4);
    PutLe(out, bytes.size(), 4);
    PutLe(out, name.size(), 2);
    PutLe(out, 0, 2);
    out += name + bytes;
    PutLe(directory, 0x02014b50, 4);
    PutLe(directory, 20, 2);
    PutLe(directory, 20, 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 4);
    PutLe(directory, 0, 4);
    PutLe(directory, bytes.size(), 4);
    PutLe(directory, bytes.size(), 4);
    PutLe(directory, name.size(), 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 2);
    PutLe(directory, 0, 4);
    PutLe(directory, offset, 4);
    directory += name;
  }
  const std::size_t directory_offset = out.size();
  out += directory;
  PutLe(out, 0x06054b50, 4);
  PutLe(out, 0, 4);
  PutLe(out, files.size(), 2);
  PutLe(out, files.size(), 2);
  PutLe(out, directory.size(), 4);
  PutLe(out, directory_offset, 4);
  PutLe(out, 0, 2);
  return out;
}

class InspectTorchFileTest : public ::testing::Test {
 protected:
  std::filesystem::path Write(const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  TestDir dir_;
};

TEST_F(InspectTorchFileTest, TellsTorchScriptStateDictsAndPicklesApart) {
  const auto kind = [&](const std::string& name, const std::string& bytes) {
    return InspectTorchFile(Write(name, bytes)).value();
  };
  EXPECT_EQ(kind("script.pt", Zip({{"script/data.pkl", kModulePickle},
                                   {"script/constants.pkl", "\x80\x02)."},
                                   {"script/code/__torch__.py", "class Net: ..."}})),
            TorchFileKind::kTorchScript);
  EXPECT_EQ(kind("weights.pt", Zip({{"weights/data.pkl", kStateDictPickle},
                                    {"weights/data/0", std::string(16, '\0')},
                                    {"weights/version", "3\n"}})),
            TorchFileKind::kStateDict);
  EXPECT_EQ(kind("whole.pth", Zip({{"archive/data.pkl", kModulePickle}})), TorchFileKind::kPickle);
  EXPECT_EQ(kind("other.zip", Zip({{"readme.txt", "hello"}})), TorchFileKind::kNotTorch);
  EXPECT_EQ(kind("notes.pt", "not a torch file"), TorchFileKind::kNotTorch);
  EXPECT_EQ(kind("empty.pt", ""), TorchFileKind::kNotTorch);
  EXPECT_EQ(kind("broken.pt", Zip({{"w/data.pkl", kStateDictPickle}}).substr(0, 50)),
            TorchFileKind::kNotTorch)
      << "no central directory: not read as torch's";
  // The legacy stream: magic, protocol version, system info, then the object.
  const std::string legacy = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s +
                             "\x80\x02M\xe9\x03."s + "\x80\x02}q\x00."s + kStateDictPickle;
  EXPECT_EQ(kind("legacy.pt", legacy), TorchFileKind::kStateDict);
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kStateDict), "state_dict");
  EXPECT_FALSE(InspectTorchFile(dir_.path() / "missing.pt").ok());
}

}  // namespace
}  // namespace kiln::client
