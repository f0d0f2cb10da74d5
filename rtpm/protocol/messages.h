// Compatibility header: the protocol module's messages, both directions.
// New code includes client_messages.h (client -> server) or
// server_messages.h (server -> client) instead. To go once rtpm/server/room.h
// includes those (issue 11).
#pragma once

#include "rtpm/protocol/client_messages.h"
#include "rtpm/protocol/server_messages.h"
