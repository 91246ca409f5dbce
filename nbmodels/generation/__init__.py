"""Text generation: one compiled sampling loop over a key/value cache, with streaming.

- `generate(model, prompts, ...)` returns a `Generation` (ids, texts, probabilities).
- `stream(model, prompts, ...)` yields each `Token` (with its probability and top-N
  alternatives) as chunks of the compiled loop finish; cancellable.
- Samplers: `Greedy`, `Temperature`, `TopK`, `TopP`, `Beam`, by name or as objects.

`GPT.generate` and `GPT.stream` call these with the model's own tokenizer.
"""

from nbmodels.generation.loop import loop_for
from nbmodels.generation.samplers import SAMPLERS, Beam, Greedy, Sampler, Temperature, TopK, TopP, get_sampler
from nbmodels.generation.session import Generation, Token, TokenStream, generate, stream

__all__ = [
    "Beam",
    "Generation",
    "Greedy",
    "SAMPLERS",
    "Sampler",
    "Temperature",
    "Token",
    "TokenStream",
    "TopK",
    "TopP",
    "generate",
    "get_sampler",
    "loop_for",
    "stream",
]
