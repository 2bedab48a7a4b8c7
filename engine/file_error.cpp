#include "engine/file_error.hpp"

#include <string>

namespace ferry {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "ferry.file"; }
    std::string message(int value) const override {
        switch (static_cast<file_error>(value)) {
        case file_error::size_mismatch: return "size mismatch";
        case file_error::digest_mismatch: return "sha256 mismatch";
        case file_error::changed_too_often: return "the file kept changing on the server";
        case file_error::incomplete: return "the download ended with bytes missing";
        case file_error::no_mirror_left: return "no URL of the file can serve it";
        case file_error::slow_connection: return "the connection went far slower than the file's others";
        }
        return "file error " + std::to_string(value);
    }
};

} // namespace

const boost::system::error_category& file_category() noexcept {
    static const category instance;
    return instance;
}

} // namespace ferry
