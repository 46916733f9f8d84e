#include "test_support.hpp"

#include <vector>

#include "stampede/protocol/frame.hpp"

namespace stampede::broker::testing {

std::shared_ptr<const message> make_message(std::string id, std::size_t body_bytes,
                                            std::string_view destination) {
    const std::string body(body_bytes, 'b');
    const protocol::header headers[] = {{"destination", destination}, {"x-test", "1"}};
    const protocol::frame_view send{protocol::command::send, headers, body};
    return message::from_send(send, destination, std::move(id));
}

}  // namespace stampede::broker::testing
