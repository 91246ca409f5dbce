"""`generate` and `stream` share one list of options (and its docs) but keep their own public
signatures: the same keyword names and defaults as before, bound like ordinary Python calls."""

import inspect
import re

import pytest

from nbmodels.generation import generate, stream

SHARED = dict(max_new_tokens=64, sampler="greedy", temperature=None, top_k=None, top_p=None, num_beams=None,
              seed=None, stop_tokens=(), tokenizer=None, top_n=0, use_cache=True, jit_compile=True, cancel=None)


def _keywords(function) -> dict:
    parameters = inspect.signature(function).parameters.values()
    assert [p.name for p in parameters][:2] == ["model", "prompts"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(parameters)[2:])
    return {p.name: p.default for p in list(parameters)[2:]}


def test_signatures_keep_their_keyword_names_and_defaults():
    assert _keywords(generate) == SHARED
    assert _keywords(stream) == {**SHARED, "top_n": 5, "chunk_size": "auto"}


def test_both_document_every_option():
    for function in (generate, stream):
        for name in ("model", "prompts", *SHARED):
            assert re.search(rf"^ {{8}}(\w+, )*{name}[,:]", function.__doc__, re.MULTILINE), (function, name)
        assert "{options}" not in function.__doc__
    assert "chunk_size:" in stream.__doc__


@pytest.mark.parametrize("function", [generate, stream])
def test_calls_bind_like_plain_python(function):
    with pytest.raises(TypeError, match="max_new_token"):
        function(None, [1, 2], max_new_token=3)
    with pytest.raises(TypeError, match="positional"):
        function(None, [1, 2], 3)
    with pytest.raises(ValueError, match="causal language model"):  # defaults applied, then checked
        function(None, [1, 2])
