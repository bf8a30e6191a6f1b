// The property every input must keep in the raft transport's frame decoder, shared by the
// mutation loop of raft_message_codec_test and the libFuzzer target fuzz_raft_frame_decoder:
// - the decoder never holds more than one frame (max_frame_size + the length prefix);
// - every message it yields re-encodes to exactly the bytes of its frame (decoding is strict, so
//   the encoding is canonical: a frame that decodes was written by encode_message);
// - once it refuses a frame it stays failed;
// - a handshake it accepts re-encodes to exactly the bytes it consumed.
// Buffers of decoded messages are freed, so that ASan reports any leak.
#pragma once

#include "message_codec.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace noriwal::test {

struct frame_check {
    std::string failed;  // empty when the property held
    std::size_t decoded = 0;
    bool refused = false;
};

// Feeds `input` in pieces whose sizes cycle through `splits` (1 + each value; whole when empty).
inline frame_check check_frame_decoder(std::span<const std::byte> input, std::size_t max_frame,
                                       std::span<const std::uint8_t> splits) {
    namespace nr = noriwal::raft;
    frame_check c;
    nr::frame_decoder d(max_frame);
    std::size_t at = 0, frame_start = 0, piece_no = 0;
    while (at < input.size() && !c.refused) {
        const std::size_t want = splits.empty() ? input.size() : 1 + splits[piece_no++ % splits.size()];
        std::span<const std::byte> piece = input.subspan(at, std::min(want, input.size() - at));
        at += piece.size();
        while (true) {
            raft_message m{};
            const nr::decode_result r = d.feed(piece, m);
            if (d.buffered() > max_frame + nr::frame_length_size)
                c.failed = "decoder holds more than one frame";
            if (r.status == nr::decode_status::need_more) {
                if (r.consumed != piece.size()) c.failed = "need_more without consuming every byte";
                break;
            }
            if (r.status != nr::decode_status::message) {
                c.refused = true;
                raft_message again{};
                if (d.feed(piece, again).status != r.status) c.failed = "a failed decoder recovered";
                break;
            }
            ++c.decoded;
            const std::size_t frame_end = at - piece.size() + r.consumed;
            std::vector<std::byte> re;
            nr::encode_message(m, re);
            nr::free_message(m);
            if (re.size() != frame_end - frame_start ||
                !std::equal(re.begin(), re.end(), input.begin() + static_cast<std::ptrdiff_t>(frame_start)))
                c.failed = "a decoded message does not re-encode to its frame";
            frame_start = frame_end;
            piece = piece.subspan(r.consumed);
            if (piece.empty()) break;
        }
        if (!c.failed.empty()) return c;
    }
    nr::handshake h;
    const nr::decode_result r = nr::decode_handshake(input, h);
    if (r.status == nr::decode_status::message) {
        std::vector<std::byte> re;
        nr::encode_handshake(h.id, h.address, re);
        if (re.size() != r.consumed || !std::equal(re.begin(), re.end(), input.begin()))
            c.failed = "an accepted handshake does not re-encode to its bytes";
    }
    return c;
}

}  // namespace noriwal::test
