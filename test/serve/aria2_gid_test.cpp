#include "tools/serve/aria2_gid.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace ferry::serve;

TEST_CASE("GIDs are 16 lowercase hex digits, none handed out while in use") {
    aria2_gid_registry r(42);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto gid = r.reserve();
        CHECK(aria2_gid_registry::well_formed(gid));
        CHECK(seen.insert(gid).second);
        std::string found;
        CHECK(r.find(gid, found) == gid_lookup::not_found); // reserved, not yet in use
        r.add(gid);
        CHECK(r.find(gid, found) == gid_lookup::found);
    }
    CHECK(r.size() == 1000);
    // The same seed again: every GID it draws is in use, so reserve() draws on past them.
    aria2_gid_registry again(42);
    for (const auto& gid : seen)
        again.add(gid);
    CHECK_FALSE(seen.contains(again.reserve()));
    CHECK_FALSE(aria2_gid_registry::well_formed("ABCDEF0123456789"));
    CHECK_FALSE(aria2_gid_registry::well_formed("abc"));
}

TEST_CASE("a GID is found by itself or by a unique prefix, as aria2 does") {
    aria2_gid_registry r;
    r.add("abcd000000000001");
    r.add("abcd000000000002");
    r.add("ff00000000000000");
    std::string gid;
    CHECK(r.find("abcd000000000001", gid) == gid_lookup::found);
    CHECK(gid == "abcd000000000001");
    CHECK(r.find("ff", gid) == gid_lookup::found);
    CHECK(gid == "ff00000000000000");
    CHECK(r.find("FF0", gid) == gid_lookup::found); // hex digits in either case
    CHECK(r.find("abcd", gid) == gid_lookup::ambiguous);
    CHECK(r.find("abcd000000000002", gid) == gid_lookup::found);
    CHECK(r.find("0", gid) == gid_lookup::not_found);
    CHECK(r.find("xyz", gid) == gid_lookup::malformed);
    CHECK(r.find("", gid) == gid_lookup::malformed);
    CHECK(r.find("abcd0000000000011", gid) == gid_lookup::malformed);

    CHECK(r.erase("abcd000000000002"));
    CHECK_FALSE(r.erase("abcd000000000002"));
    CHECK(r.find("abcd", gid) == gid_lookup::found);
    CHECK(gid == "abcd000000000001");
    CHECK(r.size() == 2);
}
