#include "adapters/files/atomic_file.h"

#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "test_dir.h"

namespace dl::adapters::files {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFileTest, WritesThenReplacesAndLeavesNoTemporaryFile) {
  TestDir dir;
  fs::path file = dir.path() / "summary.json";
  ASSERT_TRUE(AtomicWriteFile(file, "first").has_value());
  EXPECT_EQ(ReadFile(file).value(), "first");
  ASSERT_TRUE(AtomicWriteFile(file, "second, longer").has_value());
  EXPECT_EQ(ReadFile(file).value(), "second, longer");
  ASSERT_TRUE(AtomicWriteFile(file, "").has_value());
  EXPECT_EQ(ReadFile(file).value(), "");
  EXPECT_EQ(TestDir::Names(dir.path()), (std::set<std::string>{"summary.json"}));
}

TEST(AtomicFileTest, CreatesMissingParentDirectories) {
  TestDir dir;
  fs::path file = dir.path() / "activities" / "2024" / "cycling" / "summary.json";
  ASSERT_TRUE(AtomicWriteFile(file, "{}").has_value());
  EXPECT_EQ(ReadFile(file).value(), "{}");
}

TEST(AtomicFileTest, HonoursTheModeWhateverTheUmask) {
  TestDir dir;
  mode_t old_umask = ::umask(077);
  auto public_file = AtomicWriteFile(dir.path() / "public.json", "x");
  auto secret_file = AtomicWriteFile(dir.path() / "token.json", "secret", kSecretFileMode);
  ::umask(old_umask);
  ASSERT_TRUE(public_file.has_value());
  ASSERT_TRUE(secret_file.has_value());
  EXPECT_EQ(ModeOf(dir.path() / "public.json"), 0644u);
  EXPECT_EQ(ModeOf(dir.path() / "token.json"), 0600u);

  // Replacing a world-readable file with a secret one tightens it.
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "public.json", "now secret", kSecretFileMode).has_value());
  EXPECT_EQ(ModeOf(dir.path() / "public.json"), 0600u);
}

TEST(AtomicFileTest, ReadOnlyDirectoryFailsClearlyAndKeepsTheOldFile) {
  TestDir dir;
  fs::path ro = dir.path() / "ro";
  fs::path file = ro / "distances.json";
  ASSERT_TRUE(AtomicWriteFile(file, "old").has_value());
  fs::permissions(ro, static_cast<fs::perms>(0555));
  // Root ignores permission bits, so the write runs in a child process that
  // first drops to an unprivileged user when the test runs as root.
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
          std::fprintf(stderr, "cannot drop privileges");
          std::_Exit(3);
        }
        auto s = AtomicWriteFile(file, "new");
        std::fprintf(stderr, "%s", s ? "written" : s.error().message.c_str());
        std::_Exit(s ? 0 : (s.error().code == ErrorCode::kIo ? 1 : 2));
      },
      ::testing::ExitedWithCode(1), "cannot create a temporary file for .*distances.json: Permission denied");
  fs::permissions(ro, static_cast<fs::perms>(0755));
  EXPECT_EQ(ReadFile(file).value(), "old");
  EXPECT_EQ(TestDir::Names(ro), (std::set<std::string>{"distances.json"}));
}

TEST(AtomicFileTest, FailedRenameRemovesTheTemporaryFile) {
  TestDir dir;
  fs::path target = dir.path() / "taken";
  fs::create_directories(target / "child");  // a non-empty directory cannot be renamed over
  auto s = AtomicWriteFile(target, "content");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("cannot write " + target.string() + ": "), std::string::npos) << s.error().message;
  EXPECT_EQ(TestDir::Names(dir.path()), (std::set<std::string>{"taken"}));
}

TEST(AtomicFileTest, ParentThatIsAFileIsAnError) {
  TestDir dir;
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "plain", "x").has_value());
  auto s = AtomicWriteFile(dir.path() / "plain" / "sub" / "file.json", "y");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("cannot create directory"), std::string::npos) << s.error().message;
  EXPECT_EQ(ReadFile(dir.path() / "plain").value(), "x");
}

TEST(AtomicFileTest, ErrorsNeverContainTheContent) {
  TestDir dir;
  fs::create_directories(dir.path() / "taken" / "child");
  auto s = AtomicWriteFile(dir.path() / "taken", "refresh-token-3f9a", kSecretFileMode);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message.find("refresh-token-3f9a"), std::string::npos);
}

TEST(AtomicFileTest, ReadFileOfAMissingFileIsNotFound) {
  TestDir dir;
  auto r = ReadFile(dir.path() / "nope.json");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("nope.json does not exist"), std::string::npos);
}

// Readers racing two writers see one whole version or the other, never a
// truncated or mixed file.
TEST(AtomicFileTest, ConcurrentReadersNeverSeeAPartialFile) {
  TestDir dir;
  fs::path file = dir.path() / "race.json";
  const std::string a(64 * 1024, 'a');
  const std::string b(96 * 1024, 'b');
  ASSERT_TRUE(AtomicWriteFile(file, a).has_value());
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  auto writer = [&](const std::string& content) {
    for (int i = 0; i < 25; ++i) {
      if (!AtomicWriteFile(file, content)) failures++;
    }
  };
  std::thread wa(writer, std::cref(a));
  std::thread wb(writer, std::cref(b));
  int reads = 0, bad_reads = 0;
  std::thread reader([&] {
    while (!done.load()) {
      auto r = ReadFile(file);
      ++reads;
      if (!r || (*r != a && *r != b)) ++bad_reads;
    }
  });
  wa.join();
  wb.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(bad_reads, 0);
  EXPECT_EQ(TestDir::Names(dir.path()), (std::set<std::string>{"race.json"}));
}

TEST(AtomicFileTest, GroupWritesEveryFileWithItsModeAndNoTemporaryFile) {
  TestDir dir;
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "2024" / "distances.json", "old").has_value());
  std::vector<FileContent> files{{dir.path() / "2024" / "cycling" / "summary.json", "a"},
                                 {dir.path() / "2024" / "cycling" / "distances.json", "b"},
                                 {dir.path() / "2024" / "distances.json", "c"},
                                 {dir.path() / "2024" / "token.json", "d", kSecretFileMode}};
  ASSERT_TRUE(AtomicWriteFiles(files).has_value());
  for (const auto& f : files) {
    EXPECT_EQ(ReadFile(f.path).value(), f.content) << f.path;
    EXPECT_EQ(ModeOf(f.path), static_cast<unsigned>(f.mode)) << f.path;
  }
  EXPECT_EQ(TestDir::Names(dir.path() / "2024"),
            (std::set<std::string>{"cycling", "distances.json", "token.json"}));
  EXPECT_EQ(TestDir::Names(dir.path() / "2024" / "cycling"), (std::set<std::string>{"summary.json", "distances.json"}));
}

// A member that cannot even be created stops the group before any rename:
// every file keeps its old content and no temporary file is left.
TEST(AtomicFileTest, GroupThatCannotCreateAMemberReplacesNothing) {
  TestDir dir;
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "first.json", "old").has_value());
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "plain", "x").has_value());
  std::vector<FileContent> files{{dir.path() / "first.json", "new"}, {dir.path() / "plain" / "second.json", "y"}};
  auto s = AtomicWriteFiles(files);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("cannot create directory"), std::string::npos) << s.error().message;
  EXPECT_EQ(ReadFile(dir.path() / "first.json").value(), "old");
  EXPECT_EQ(TestDir::Names(dir.path()), (std::set<std::string>{"first.json", "plain"}));
}

// A rename that fails names its file; the members renamed before it stay
// replaced, the rest keep their old content, and no temporary file is left.
TEST(AtomicFileTest, GroupRenameFailureStopsThereAndCleansUp) {
  TestDir dir;
  fs::path taken = dir.path() / "taken";
  fs::create_directories(taken / "child");  // a non-empty directory cannot be renamed over
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "c.json", "old c").has_value());
  std::vector<FileContent> files{{dir.path() / "a.json", "new a"}, {taken, "t"}, {dir.path() / "c.json", "new c"}};
  auto s = AtomicWriteFiles(files);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("cannot write " + taken.string() + ": "), std::string::npos) << s.error().message;
  EXPECT_EQ(ReadFile(dir.path() / "a.json").value(), "new a");
  EXPECT_EQ(ReadFile(dir.path() / "c.json").value(), "old c");
  EXPECT_EQ(TestDir::Names(dir.path()), (std::set<std::string>{"a.json", "c.json", "taken"}));
}

}  // namespace
}  // namespace dl::adapters::files
