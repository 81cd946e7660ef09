"""One module per model family; each exposes cases() -> list[family_common.Case]."""
