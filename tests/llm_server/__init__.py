"""Tests of the OpenAI-compatible client against a real llama.cpp server (``make test-llm``)."""
