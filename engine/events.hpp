#pragma once

#include <cstdint>
#include <string>

#include <boost/system/error_code.hpp>

namespace ferry {

/// What happened to a file, delivered to the engine's subscriber on the engine's strand.
struct event {
    enum class kind { started, progress, retried, verified, failed, completed, skipped, cancelled };
    kind what = kind::progress;
    std::string model;          ///< model id
    std::string file;           ///< file path within the model
    std::uint64_t bytes = 0;    ///< bytes on disk so far
    std::uint64_t total = 0;    ///< file size (0 while unknown)
    std::string message;        ///< why it failed or was retried
    boost::system::error_code error; ///< why it failed (failed events)
};

const char* to_string(event::kind k) noexcept;

} // namespace ferry
