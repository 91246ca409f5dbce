"""Text data: corpora (embedded, file, URL), next-character windows, and tokenizers."""

from nbmodels.data.text.corpus import char_windows, load_text, text_corpus
from nbmodels.data.text.tokenizers import CharTokenizer, Tokenizer, load_tokenizer

__all__ = ["CharTokenizer", "Tokenizer", "char_windows", "load_text", "load_tokenizer", "text_corpus"]
