// doctest's main, with three rules for the cases that need data or a tool that may be absent (the
// "optional" test suite, see tests/support.hpp): a run that names no test case or suite leaves
// them out, as each runs alone as its own ctest entry; a run that names some fails when none
// matches, so that such an entry cannot pass by running nothing after a case is renamed; and a
// run that names none but runs no case (every case of a file is optional, or a --source-file
// filter matches nothing) exits with 77, which ctest reports as skipped, not as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

namespace {

unsigned g_cases_run = 0;

// Records how many test cases passed the filters; reports nothing.
struct CaseCounter : doctest::IReporter {
  explicit CaseCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override { g_cases_run = s.numTestCasesPassingFilters; }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("deephash-case-counter", 1, CaseCounter);

// Whether the command line selects test cases or suites (--test-case=, -tc=, --test-suite=, -ts=).
bool selects_cases(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* option : {"test-case=", "tc=", "test-suite=", "ts="})
      if (std::strstr(argv[i], option) != nullptr) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context;
  const bool selected = selects_cases(argc, argv);
  if (!selected) context.addFilter("test-suite-exclude", "optional");
  context.applyCommandLine(argc, argv);
  const int status = context.run();
  if (context.shouldExit()) return status;
  if (g_cases_run == 0 && status == 0) {
    if (selected) {
      std::fprintf(stderr, "no test case matches the filters given\n");
      return 1;
    }
    std::printf("skipped: no test case ran (the filters leave none but optional cases, each a ctest entry of its own)\n");
    return 77;
  }
  return status;
}
