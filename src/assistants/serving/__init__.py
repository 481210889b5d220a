"""Serving: what sits between a front door's wire types and the inference engine (vLLM's `serving_*`).

`turn.py` is the part every chat-shaped front door shares (prompt rendering with the turn's tools,
the constrained-decoding check, collecting a whole answer); `anthropic.py` answers the Messages API
over it.
"""
