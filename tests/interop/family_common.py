"""Reference models of the supported families, shared by make_family_models.py and the family modules
in families/. A Case is one small randomly initialised model: its transformers config, and how much
held-out text its perplexity is computed on. Ids are the bytes of examples/heldout.txt (vocab 256), so
no tokenizer is involved."""
import dataclasses
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELDOUT = os.path.join(REPO, "examples", "heldout.txt")
DATA = os.path.join(REPO, "tests", "data", "families")
PROMPT_OFFSET = 4096  # the prompt is taken from here in the held-out bytes, apart from the eval windows


@dataclasses.dataclass
class Case:
    name: str                 # folder under tests/data/families
    config: object            # a transformers PretrainedConfig instance (vocab_size 256)
    eval_seqlen: int = 64     # longer than any sliding window of the config
    eval_windows: int = 4
    prompt_len: int = 48
    seed: int = 0
    noise: float = 0.1        # std of the seeded noise added to every 1-D parameter (norms, biases)


def heldout_bytes(n, offset=0):
    with open(HELDOUT, "rb") as f:
        data = f.read()
    assert len(data) >= offset + n, f"{HELDOUT} holds {len(data)} bytes, need {offset + n}"
    return list(data[offset:offset + n])
