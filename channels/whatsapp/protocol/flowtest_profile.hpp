#pragma once
// The WhatsApp channel as `charla test` sees it: inbound message objects become the
// same `msg` as in `serve` (flow_message), and replies meet the same outbound limits
// (validate). The CLI hands it to the flow test runner; the runner's own tests use it too,
// so they test what users run.
#include "flowtest/channel_profile.hpp"

namespace charla::whatsapp {

flowtest::ChannelProfile flowtest_profile();

}  // namespace charla::whatsapp
