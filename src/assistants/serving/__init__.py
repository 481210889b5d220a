"""Serving: what sits between a front door's wire types and the inference engine (vLLM's `serving_*`).

`sampling.py` turns request fields into engine parameters (the one place their defaults apply);
`chat.py` answers chat and text completions, plain or streamed; `anthropic.py` answers Anthropic's
Messages API over the same chat turn (prompt rendering, tools plan, collecting).
"""
