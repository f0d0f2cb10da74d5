// The client side of the collab protocol (rebase.h, prosemirror-collab's
// receiveTransaction): every `rebase` vector of ../shared/conformance, produced
// by the JavaScript library and checked by the conformance runner.
#include "rtpm/collab/rebase.h"

#include <gtest/gtest.h>

#include "rtpm/conformance/expect.h"

namespace rtpm::collab {
namespace {

TEST(RebaseConformance, MatchesJavaScript) { conformance::expect_kind_passes("rebase", 220); }

}  // namespace
}  // namespace rtpm::collab
