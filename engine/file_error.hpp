#pragma once

#include <type_traits>

#include <boost/system/error_code.hpp>

namespace ferry {

/// Why a file failed as a whole, apart from what a server or the wire did (net_error and the
/// transport's own categories): these are the engine's verdicts on the file.
enum class file_error {
    size_mismatch = 1, ///< the file's length is not what the manifest says
    digest_mismatch,   ///< the file's sha256 is not what the manifest says
    changed_too_often, ///< the server's file changed again and again while being fetched
    incomplete,        ///< every request ended and bytes are still missing
    no_mirror_left,    ///< every URL of the file refused it
    /// One connection ran far below the file's others for seconds: it is replaced (never a
    /// failure of the file; it names why a request was given up).
    slow_connection,
};

const boost::system::error_category& file_category() noexcept;

inline boost::system::error_code make_error_code(file_error e) noexcept { return {static_cast<int>(e), file_category()}; }

} // namespace ferry

template <>
struct boost::system::is_error_code_enum<ferry::file_error> : std::true_type {};
