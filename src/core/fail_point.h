#pragma once
// A test hook for the rank-failure tests (tests/dist/rank_fails.py): on rank
// STRUPRUNE_TEST_FAIL_RANK, fail_point throws RuntimeFailure when its point equals
// STRUPRUNE_TEST_FAIL_AT ("pass1:1": after layer 1's statistics are summed in pass 1; the points
// are listed in docs/reliability.md). With the variables unset it does nothing.
namespace sp {

void fail_point(int rank, const char* kind, int index = -1);

}  // namespace sp
