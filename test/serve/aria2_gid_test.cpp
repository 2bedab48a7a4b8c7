#include "tools/serve/aria2_gid.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>

using namespace ferry::serve;

TEST_CASE("GIDs are 16 lowercase hex digits, none handed out while in use") {
    std::mt19937_64 random(42);
    std::map<std::string, int> in_use;
    auto taken = [&](const std::string& gid) { return in_use.contains(gid); };
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto gid = fresh_gid(random, taken);
        CHECK(well_formed_gid(gid));
        CHECK(seen.insert(gid).second);
        CHECK(find_gid(in_use, gid).first == gid_lookup::not_found); // drawn, not yet in use
        in_use.emplace(gid, i);
        auto [lookup, it] = find_gid(in_use, gid);
        REQUIRE(lookup == gid_lookup::found);
        CHECK(it->second == i);
    }
    // The same seed again: every GID it draws is in use, so it draws on past them.
    std::mt19937_64 again(42);
    CHECK_FALSE(seen.contains(fresh_gid(again, taken)));
    CHECK_FALSE(well_formed_gid("ABCDEF0123456789"));
    CHECK_FALSE(well_formed_gid("abc"));
}

TEST_CASE("a GID is found by itself or by a unique prefix, as aria2 does") {
    std::map<std::string, int> in_use{{"abcd000000000001", 1}, {"abcd000000000002", 2}, {"ff00000000000000", 3}};
    auto found = [&](std::string_view text) {
        auto [lookup, it] = find_gid(in_use, text);
        return lookup == gid_lookup::found ? it->first : std::string(lookup == gid_lookup::ambiguous ? "ambiguous"
                                                                    : lookup == gid_lookup::malformed ? "malformed"
                                                                                                      : "not found");
    };
    CHECK(found("abcd000000000001") == "abcd000000000001");
    CHECK(found("ff") == "ff00000000000000");
    CHECK(found("FF0") == "ff00000000000000"); // hex digits in either case
    CHECK(found("abcd") == "ambiguous");
    CHECK(found("abcd000000000002") == "abcd000000000002");
    CHECK(found("0") == "not found");
    CHECK(found("xyz") == "malformed");
    CHECK(found("") == "malformed");
    CHECK(found("abcd0000000000011") == "malformed");

    in_use.erase("abcd000000000002");
    CHECK(found("abcd") == "abcd000000000001");
}
