#include "tools/serve/aria2_gid.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace ferry::serve;

TEST_CASE("GIDs are 16 lowercase hex digits, unique, mapped both ways") {
    aria2_gid_registry r(42);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto gid = r.issue("model-" + std::to_string(i));
        CHECK(aria2_gid_registry::well_formed(gid));
        CHECK(seen.insert(gid).second);
        CHECK(r.model_of(gid) == "model-" + std::to_string(i));
        CHECK(r.gid_of("model-" + std::to_string(i)) == gid);
    }
    CHECK(r.size() == 1000);
    CHECK_FALSE(aria2_gid_registry::well_formed("ABCDEF0123456789"));
    CHECK_FALSE(aria2_gid_registry::well_formed("abc"));
}

TEST_CASE("a GID is found by itself or by a unique prefix, as aria2 does") {
    aria2_gid_registry r;
    r.bind("abcd000000000001", "m1");
    r.bind("abcd000000000002", "m2");
    r.bind("ff00000000000000", "m3");
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
    CHECK_FALSE(r.gid_of("m2"));
    CHECK(r.in_issue_order() == std::vector<std::string>{"abcd000000000001", "ff00000000000000"});
}
