#include "data/datastore_ref.h"

#include <gtest/gtest.h>

namespace kiln::data {
namespace {

TEST(DatastoreRefTest, ParsesEveryForm) {
  const auto refs = FindReferences("{datastore:fm}");
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].datastore, "fm");
  EXPECT_EQ((*refs)[0].sub_path, "");
  EXPECT_EQ((*refs)[0].mode, DataMode::kMount);

  const auto sub = FindReferences("{datastore:fm/train/x:download}");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)[0].sub_path, "train/x");
  EXPECT_EQ((*sub)[0].mode, DataMode::kDownload);

  const auto mount = FindReferences("{datastore:fm:mount}");
  ASSERT_TRUE(mount.ok());
  EXPECT_EQ((*mount)[0].mode, DataMode::kMount);
}

TEST(DatastoreRefTest, FindsReferencesInsideText) {
  const auto refs = FindReferences("a={datastore:one}/x,b={datastore:two/y}");
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].begin, 2u);
  EXPECT_EQ((*refs)[0].end, 17u);
  EXPECT_EQ((*refs)[1].datastore, "two");
  EXPECT_TRUE(FindReferences("plain text {not:a ref}")->empty());
}

TEST(DatastoreRefTest, RejectsMalformedReferences) {
  EXPECT_EQ(FindReferences("{datastore:fm").status().message(),
            "'{datastore:fm' has an unclosed datastore reference; write {datastore:NAME} or "
            "{datastore:NAME/sub/path:download}");
  EXPECT_EQ(FindReferences("{datastore:fm:copy}").status().message(),
            "'{datastore:fm:copy}' asks for mode 'copy'; the modes are mount (the default) and "
            "download");
  EXPECT_EQ(FindReferences("{datastore:}").status().message(),
            "'{datastore:}' does not name a datastore; names are letters, digits, '_' and '-'");
  EXPECT_EQ(FindReferences("{datastore:fm/../../etc}").status().message(),
            "'{datastore:fm/../../etc}' points outside datastore 'fm'");
}

TEST(DatastoreRefTest, NameRules) {
  EXPECT_TRUE(IsValidDatastoreName("fashion_mnist"));
  EXPECT_TRUE(IsValidDatastoreName("fm-2"));
  EXPECT_FALSE(IsValidDatastoreName("_hidden"));
  EXPECT_FALSE(IsValidDatastoreName("a b"));
  EXPECT_FALSE(IsValidDatastoreName(std::string(65, 'a')));
}

}  // namespace
}  // namespace kiln::data
