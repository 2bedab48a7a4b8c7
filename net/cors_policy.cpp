#include "net/cors_policy.hpp"

#include <boost/algorithm/string/predicate.hpp>

namespace ferry {

std::string_view find_header(const header_list& headers, std::string_view name) noexcept {
    for (const auto& [field, value] : headers)
        if (boost::algorithm::iequals(field, name))
            return value;
    return {};
}

header_list cors_policy::answer_headers() const {
    if (!enabled())
        return {};
    return {{"Access-Control-Allow-Origin", "*"}};
}

bool cors_policy::is_preflight(const http_call& call) const noexcept {
    return enabled() && call.method == "OPTIONS" && !call.header("Origin").empty() &&
           !call.header("Access-Control-Request-Method").empty();
}

http_answer cors_policy::preflight_answer(const http_call& call) const {
    http_answer answer;
    answer.status = 204;
    answer.content_type.clear();
    answer.headers = answer_headers();
    answer.headers.emplace_back("Access-Control-Allow-Methods", "POST, GET, OPTIONS");
    if (auto asked = call.header("Access-Control-Request-Headers"); !asked.empty())
        answer.headers.emplace_back("Access-Control-Allow-Headers", std::string(asked));
    answer.headers.emplace_back("Access-Control-Max-Age", std::to_string(options_.max_age.count()));
    if (boost::algorithm::iequals(call.header("Access-Control-Request-Private-Network"), "true"))
        answer.headers.emplace_back("Access-Control-Allow-Private-Network", "true");
    return answer;
}

} // namespace ferry
