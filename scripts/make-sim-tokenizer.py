"""Builds crates/simulator/assets/sim-tokenizer.json: a small byte-level BPE tokenizer in the HuggingFace `tokenizers` JSON
format, the same format as Cohere's published tokenizers (e.g. command-r.json). The simulated API serves it
at the `tokenizer_url` it advertises, and counts tokens with it, so tests can check exact counts offline.

Run: pip install tokenizers && python3 scripts/make-sim-tokenizer.py  (output is deterministic)
"""
import pathlib
import random
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

root = pathlib.Path(__file__).resolve().parent.parent
WORDS = """the a model request token tokens chat embed rerank document documents message messages user assistant
system error status rate limit key trial production support bundle response stream latency input output length maximum
context window please send this report with the error message and the request id we are looking into your failure the
quick brown fox jumps over lazy dog hello world what is how can i help you today summarize translate explain write code
function value cohere api json field parameter invalid combination malformed cancelled not found too many timeout server
gateway unavailable""".split()
rng = random.Random(7)
texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))).capitalize() + "." for _ in range(3000)]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=["<BOS_TOKEN>", "<EOS_TOKEN>", "<PAD>"])
tok.train_from_iterator(texts, trainer=trainer)
(root / "crates" / "simulator" / "assets" / "sim-tokenizer.json").write_text(tok.to_str(pretty=False), encoding="utf-8")
print("vocab", tok.get_vocab_size())
