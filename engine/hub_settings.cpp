#include "engine/hub_settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace ferry {

namespace {

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return text;
}

/// The variable's value, or nullopt when unset or empty.
std::optional<std::string> non_empty(const environment_lookup& env, const char* name) {
    auto value = env(name);
    if (!value || value->empty())
        return std::nullopt;
    return value;
}

bool is_name_char(char c) noexcept {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

/// A token as huggingface_hub cleans it: CR and LF dropped, then trimmed; empty = none.
std::optional<std::string> clean_token(std::string_view raw) {
    std::string kept;
    for (char c : raw)
        if (c != '\r' && c != '\n')
            kept += c;
    auto token = trim(kept);
    if (token.empty())
        return std::nullopt;
    return std::string(token);
}

std::chrono::seconds seconds_or(const environment_lookup& env, const char* name, std::chrono::seconds fallback) {
    auto value = non_empty(env, name);
    if (!value)
        return fallback;
    auto text = trim(*value);
    double seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc{} || end != text.data() + text.size() || !(seconds >= 1 && seconds <= 1e9))
        return fallback;
    return std::chrono::seconds(static_cast<long long>(seconds));
}

} // namespace

bool is_truthy(std::string_view value) noexcept {
    auto text = trim(value);
    auto equals = [&](std::string_view word) {
        if (text.size() != word.size())
            return false;
        for (std::size_t i = 0; i < word.size(); ++i)
            if (std::toupper(static_cast<unsigned char>(text[i])) != word[i])
                return false;
        return true;
    };
    return equals("1") || equals("ON") || equals("YES") || equals("TRUE");
}

std::string expand_path(std::string_view path, const environment_lookup& env) {
    std::string out;
    if (path.starts_with('~') && (path.size() == 1 || path[1] == '/')) {
        if (auto home = non_empty(env, "HOME")) {
            out = *home;
            path.remove_prefix(1);
        }
    }
    while (!path.empty()) {
        auto dollar = path.find('$');
        out.append(path.substr(0, dollar));
        if (dollar == std::string_view::npos)
            break;
        path.remove_prefix(dollar);
        std::string_view name, written;
        if (path.size() > 1 && path[1] == '{') {
            auto close = path.find('}');
            if (close != std::string_view::npos) {
                name = path.substr(2, close - 2);
                written = path.substr(0, close + 1);
            }
        } else {
            std::size_t end = 1;
            while (end < path.size() && is_name_char(path[end]))
                ++end;
            name = path.substr(1, end - 1);
            written = path.substr(0, end);
        }
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
            out += '$';
            path.remove_prefix(1);
            continue;
        }
        if (auto value = env(std::string(name).c_str()))
            out += *value;
        else
            out.append(written);
        path.remove_prefix(written.size());
    }
    return out;
}

hub_settings hub_settings_from(const environment_lookup& env) {
    hub_settings settings;
    if (auto endpoint = non_empty(env, "HF_ENDPOINT")) {
        while (!endpoint->empty() && endpoint->back() == '/')
            endpoint->pop_back();
        if (!endpoint->empty())
            settings.endpoint = *endpoint;
    }

    if (auto home = non_empty(env, "HF_HOME"))
        settings.home = expand_path(*home, env);
    else if (auto xdg = non_empty(env, "XDG_CACHE_HOME"))
        settings.home = std::filesystem::path(expand_path(*xdg, env)) / "huggingface";
    else
        settings.home = std::filesystem::path(expand_path("~/.cache", env)) / "huggingface";

    if (auto cache = non_empty(env, "HF_HUB_CACHE"))
        settings.cache = expand_path(*cache, env);
    else if (auto legacy = non_empty(env, "HUGGINGFACE_HUB_CACHE"))
        settings.cache = expand_path(*legacy, env);
    else
        settings.cache = settings.home / "hub";

    if (auto token = non_empty(env, "HF_TOKEN"); token && clean_token(*token))
        settings.token = clean_token(*token);
    else if (auto legacy = non_empty(env, "HUGGING_FACE_HUB_TOKEN"); legacy && clean_token(*legacy))
        settings.token = clean_token(*legacy);
    else {
        auto token_path = non_empty(env, "HF_TOKEN_PATH");
        std::filesystem::path file = token_path ? std::filesystem::path(expand_path(*token_path, env))
                                                : settings.home / "token";
        std::ifstream in(file, std::ios::binary);
        if (in)
            settings.token = clean_token(std::string(std::istreambuf_iterator<char>(in), {}));
    }

    settings.offline = is_truthy(env("HF_HUB_OFFLINE").value_or(""));
    settings.implicit_token = !is_truthy(env("HF_HUB_DISABLE_IMPLICIT_TOKEN").value_or(""));
    settings.user_agent_origin = env("HF_HUB_USER_AGENT_ORIGIN").value_or("");
    settings.etag_timeout = seconds_or(env, "HF_HUB_ETAG_TIMEOUT", settings.etag_timeout);
    settings.download_timeout = seconds_or(env, "HF_HUB_DOWNLOAD_TIMEOUT", settings.download_timeout);
    return settings;
}

} // namespace ferry
