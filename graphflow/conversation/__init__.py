"""The conversation contract: what the stages and the agent layer agree on, below both.

The chat history a language model answers from (:mod:`.chat`), what a model is given and
streams (:mod:`.model`), what the agent is saying and what of it was heard
(:mod:`.playout`, :mod:`.heard`), how a language-model stage hands a turn to whoever
runs the conversation (:mod:`.replies`), and the events a conversation reports
(:mod:`.events`). Stages in ``nodes/`` and
the agent layer in ``graphflow/agent/`` both import it; it imports only the engine.
"""
