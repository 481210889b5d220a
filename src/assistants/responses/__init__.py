"""The Responses API's own pieces: items <-> prompt messages, the response.* event sequence, decoding
and storing one response. Everything else (prompt rendering, batcher, store, worker) is shared."""
