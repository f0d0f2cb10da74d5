// StaticFiles: which request paths map into the folder, which folders may be served, and that
// nothing outside the folder (through symlinks) or other than a regular file is read.
#include "rtpm/server/static_files.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

namespace rtpm::server {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rtpm-static-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    fs::create_directories(base_ / "site" / "sub");
    std::ofstream(base_ / "site" / "index.html") << "index";
    std::ofstream(base_ / "site" / "sub" / "page.html") << "page";
    std::ofstream(base_ / "secret.txt") << "SECRET";
    fs::create_directories(base_ / "outside");
    std::ofstream(base_ / "outside" / "x.txt") << "OUTSIDE";
  }
  void TearDown() override { fs::remove_all(base_); }
  fs::path base_;
};

TEST(StaticFilesPaths, RelativePaths) {
  EXPECT_EQ(StaticFiles::relative_path("/"), "index.html");
  EXPECT_EQ(StaticFiles::relative_path("/app.js"), "app.js");
  EXPECT_EQ(StaticFiles::relative_path("/sub/page.html"), "sub/page.html");
  EXPECT_EQ(StaticFiles::relative_path("/sub/%70age.html"), "sub/page.html");
  EXPECT_EQ(StaticFiles::relative_path("/a%20b"), "a b");
  for (const char* bad : {"",
                          "app.js",
                          "//etc/passwd",
                          "/%2Fetc%2Fpasswd",
                          "/%2fetc",
                          "/..",
                          "/.",
                          "/a/../b",
                          "/..%2fsecret",
                          "/%2e%2e/secret",
                          "/%2e%2e%2fsecret",
                          "/%252e%252e/secret",
                          "/a%5cb",
                          "/a\\b",
                          "/a%00b",
                          "/.env",
                          "/sub/",
                          "/a//b",
                          "/%",
                          "/%zz",
                          "/a%0ab",
                          "/a%7fb"})
    EXPECT_FALSE(StaticFiles::relative_path(bad)) << bad;
}

TEST_F(StaticFilesTest, OpenRefusesFoldersHoldingProtectedPaths) {
  fs::path site = base_ / "site";
  fs::create_directories(site / "data");
  std::ofstream(site / "tokens.json") << "{}";
  auto data = StaticFiles::open(site.string(), {(site / "data").string()});
  ASSERT_FALSE(data);
  EXPECT_NE(data.error().message.find("contains"), std::string::npos) << data.error().message;
  EXPECT_FALSE(StaticFiles::open(site.string(), {(site / "tokens.json").string()}));
  EXPECT_FALSE(StaticFiles::open((site / "data").string(), {(site / "data").string()}));
  // The data folder reached through a symlinked path is the same folder.
  fs::create_symlink(site, base_ / "alias");
  EXPECT_FALSE(StaticFiles::open(site.string(), {(base_ / "alias" / "data").string()}));
  EXPECT_FALSE(StaticFiles::open((base_ / "alias").string(), {(site / "data").string()}));
  EXPECT_FALSE(StaticFiles::open("/", {}));
  EXPECT_FALSE(StaticFiles::open((base_ / "missing").string(), {}));
  EXPECT_FALSE(StaticFiles::open((site / "index.html").string(), {}));
  // Beside them, or with paths that do not exist: fine.
  auto ok = StaticFiles::open((site / "sub").string(),
                              {(site / "data").string(), (base_ / "none").string(), ""});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->root(), fs::canonical(site / "sub").string());
}

TEST_F(StaticFilesTest, ReadsOnlyRegularFilesInside) {
  fs::path site = base_ / "site";
  fs::create_symlink("index.html", site / "in-link");
  fs::create_symlink(base_ / "secret.txt", site / "out-link");
  fs::create_symlink("../outside", site / "out-dir");
  fs::create_symlink("/etc/passwd", site / "passwd");
  ASSERT_EQ(mkfifo((site / "fifo").c_str(), 0600), 0);
  auto files = StaticFiles::open(site.string(), {});
  ASSERT_TRUE(files);
  EXPECT_EQ(files->read("index.html"), "index");
  EXPECT_EQ(files->read("sub/page.html"), "page");
  EXPECT_EQ(files->read("in-link"), "index");
  for (const char* refused : {"out-link", "out-dir/x.txt", "out-dir", "passwd", "fifo", "sub",
                              "missing", "../secret.txt"})
    EXPECT_FALSE(files->read(refused)) << refused;
  // A folder reached through a symlinked path serves the same files and refuses the same.
  fs::create_symlink(site, base_ / "alias");
  auto alias = StaticFiles::open((base_ / "alias").string(), {});
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->read("index.html"), "index");
  EXPECT_FALSE(alias->read("out-link"));
}

}  // namespace
}  // namespace rtpm::server
